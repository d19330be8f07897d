"""``SpackMonitorClient``: talk to any server that speaks the Spack Monitor ``ms1`` protocol.

The same names as the Spack Monitor API tutorial's client, plus save-local replay and
lazy, paginated pulls of the data API into pandas::

    from spackmon_analysis import SpackMonitorClient

    client = SpackMonitorClient()                 # SPACKMON_HOST or http://127.0.0.1, prefix ms1
    client.service_info()                         # public
    client.upload_specfile("specs/singularity-3.6.4.json", "0.16.0")   # needs credentials
    summary = client.upload_local_save("~/.spack/reports/monitor/")   # replay save-local runs
    failed = client.builds(status="FAILED").to_frame()

The package, one concern per module:

- :mod:`.transport`: one pooled ``requests.Session``, timeouts and the total deadline of
  an exchange, retries; :mod:`.wire` under it: the client's ``HTTPAdapter``, the deadline
  watchdog, the cap on an answer's size;
- :mod:`.auth`: one ``ms1`` request: redirects (a 302 moves the base URL), the
  docker-style token flow (PROTOCOL section 3), typed errors for the answers;
- :mod:`.endpoints`: :class:`SpackMonitorClient` and its ``ms1`` endpoints;
- :mod:`.specfiles`: a spec file, document text or parsed document to the document an
  upload sends (through ``spec.decode_spec_document``);
- :mod:`.pulls`: :class:`PaginatedPull` over the data API and its columns;
- :mod:`.replay` and :mod:`.summary`: the save-local replay and its
  :class:`ReplaySummary`;
- :mod:`.progress`: progress bars (Jupyter or a terminal only).

Every failure is a typed :class:`~spackmon_analysis.errors.MonitorError` carrying the
method, URL, status code and the server's message; no raw ``requests`` exception and
no ``KeyError`` on a response escapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:  # what mypy and readers see; at run time each name is imported on first use
    from .auth import parse_www_authenticate
    from .defaults import PULL_ROUTES as PULL_ROUTES
    from .defaults import SERVE_URL as SERVE_URL
    from .endpoints import CLI_HINTS as CLI_HINTS
    from .endpoints import CREDENTIALS_HINT as CREDENTIALS_HINT
    from .endpoints import DEFAULT_HOST as DEFAULT_HOST
    from .endpoints import DEFAULT_PREFIX as DEFAULT_PREFIX
    from .endpoints import LIBRARY_HINTS as LIBRARY_HINTS
    from .endpoints import SpackMonitorClient
    from .progress import interactive as interactive
    from .pulls import MAX_PAGES as MAX_PAGES
    from .pulls import ROUTE_COLUMNS, PaginatedPull
    from .specfiles import read_spec_document
    from .summary import BuildChange, ReplaySummary

# The names below are the package's public API; the other names of ``_EXPORTS`` are also
# importable from here (the CLI and older code use them) without being in ``__all__``.
__all__ = [
    "SpackMonitorClient",
    "ReplaySummary",
    "BuildChange",
    "PaginatedPull",
    "parse_www_authenticate",
    "read_spec_document",
    "ROUTE_COLUMNS",
]

#: name -> the module of this package that defines it, imported on first use (PEP 562): the
#: ``spackmon`` parser reads :mod:`.defaults` without importing ``requests``.
_EXPORTS = {
    "parse_www_authenticate": "auth",
    "PULL_ROUTES": "defaults",
    "SERVE_URL": "defaults",
    "CLI_HINTS": "endpoints",
    "CREDENTIALS_HINT": "endpoints",
    "DEFAULT_HOST": "endpoints",
    "DEFAULT_PREFIX": "endpoints",
    "LIBRARY_HINTS": "endpoints",
    "SpackMonitorClient": "endpoints",
    "interactive": "progress",
    "MAX_PAGES": "pulls",
    "ROUTE_COLUMNS": "pulls",
    "PaginatedPull": "pulls",
    "read_spec_document": "specfiles",
    "BuildChange": "summary",
    "ReplaySummary": "summary",
}


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
