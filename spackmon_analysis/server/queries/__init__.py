"""The data API's reads: one select, one row shaper and the filters per ``/api/<route>/``.

Callers import these names from here; each lives in one module:

- :mod:`.routes`: :data:`ROUTES` (each route's select, id column, row shaper and filters),
  :data:`PHASE_ROUTES`;
- :mod:`.rows`: the selects and row shapers themselves (what a row holds);
- :mod:`.filters`: :class:`BuildFilter` and :data:`BUILD_FILTERS` (the one rule of the build
  filters), :func:`apply_filters`, :func:`build_filter_names`, the data API's ``fields=``
  (:data:`ROUTE_FIELDS`, :func:`check_fields`);
- :mod:`.reads`: :func:`read_page` (one bounded page), :func:`iter_rows` (keyset chunks, for
  ``/all/``), :func:`read_one` and :func:`stream_phase` (one row, a phase's output in pieces),
  which serve the HTTP routes of :mod:`..routes.data`, and :func:`read_rows`, which yields
  exactly the same dicts straight from a database, without HTTP.
"""

from __future__ import annotations

from .filters import (
    BUILD_FILTERS,
    ROUTE_FIELDS,
    BuildFilter,
    apply_filters,
    build_filter_names,
    check_fields,
)
from .reads import (
    MAX_PAGE_BYTES,
    OUTPUT_PIECE,
    iter_rows,
    read_one,
    read_page,
    read_rows,
    stream_phase,
)
from .routes import PHASE_ROUTES, ROUTES, Route

__all__ = [
    "BUILD_FILTERS",
    "BuildFilter",
    "ROUTES",
    "PHASE_ROUTES",
    "Route",
    "MAX_PAGE_BYTES",
    "OUTPUT_PIECE",
    "ROUTE_FIELDS",
    "apply_filters",
    "build_filter_names",
    "check_fields",
    "iter_rows",
    "read_one",
    "read_page",
    "read_rows",
    "stream_phase",
]
