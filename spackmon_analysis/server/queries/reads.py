"""The data API's reads of a database: a bounded page, keyset streams, one row, a phase's output in
pieces, and :func:`read_rows` (the same dicts without HTTP).

:func:`read_page` (one bounded page), :func:`iter_rows` (keyset chunks, for ``/all/``),
:func:`read_one` and :func:`stream_phase` serve the HTTP routes of
:mod:`spackmon_analysis.server.routes.data`; memory stays near :data:`MAX_PAGE_BYTES` (and
:data:`OUTPUT_PIECE` for one phase's log) whatever the table holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.sql import Select

from ...errors import ConfigError
from ..tables import Store, build_phases
from .filters import _bool, _projector, apply_filters, check_fields
from .routes import PHASE_ROUTES, ROUTES, phase_query

#: Byte budget of one data API page's results (a page ends early, with a ``next`` link, once the
#: next row would pass it; a single row larger than this is still sent, alone) and of one
#: keyset chunk held in memory while ``/all/`` or :func:`read_rows` streams a table.
MAX_PAGE_BYTES = 8 * 1024 * 1024


def _weight(row: Any) -> int:
    """A cheap upper estimate of a row's size in memory and in JSON (its text and bytes)."""
    return 16 * len(row) + sum(len(v) for v in row if isinstance(v, str | bytes))


def _fetch_size(route_name: str, with_output: bool) -> int:
    """Rows fetched from the database at a time: few when rows may carry a whole build log."""
    return 1 if route_name in PHASE_ROUTES and with_output else 200


def _route_query(route_name: str, filters: dict[str, Any] | None, with_output: bool) -> Select:
    route = ROUTES[route_name]
    base = phase_query(route, with_output) if route_name in PHASE_ROUTES else route.query()
    return apply_filters(route, base, dict(filters or {}))


def iter_rows(
    engine: Engine,
    route_name: str,
    filters: dict[str, Any] | None = None,
    *,
    chunk: int = 2000,
    with_output: bool = True,
    max_bytes: int = MAX_PAGE_BYTES,
    fields: tuple[str, ...] | None = None,
) -> Iterator[dict]:
    """Every row of ``route_name`` matching ``filters``, by id, in keyset-paged chunks (only
    ``fields``, checked by :func:`check_fields`; None: every field).

    Each chunk (at most ``chunk`` rows, and no more rows once their text passes ``max_bytes``)
    is read in its own short transaction, so neither a huge table nor a table of huge build logs
    sits in memory, and no long read transaction blocks writers.
    """
    shape = _projector(ROUTES[route_name], fields)
    for r in _keyset_rows(engine, route_name, filters, chunk, with_output, max_bytes):
        yield shape(r)


def _keyset_rows(
    engine: Engine,
    route_name: str,
    filters: dict[str, Any] | None,
    chunk: int,
    with_output: bool,
    max_bytes: int,
) -> Iterator[Any]:
    route = ROUTES[route_name]
    base = _route_query(route_name, filters, with_output)
    fetch = _fetch_size(route_name, with_output)
    last = None
    while True:
        rows: list[Any] = []
        size = 0
        ended = True
        query = base if last is None else base.where(route.id_col > last)
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=fetch).execute(
                query.limit(chunk)
            )
            try:
                for r in result:
                    rows.append(r)
                    size += _weight(r)
                    if size >= max_bytes and len(rows) < chunk:
                        ended = False
                        break
            finally:
                result.close()
        yield from rows
        if not rows or (ended and len(rows) < chunk):
            return
        last = rows[-1].id
        rows = []


def read_page(
    engine: Engine,
    route_name: str,
    filters: dict[str, Any],
    *,
    limit: int,
    offset: int,
    with_output: bool,
    max_bytes: int = MAX_PAGE_BYTES,
    encode: Callable[[Any], bytes],
    fields: tuple[str, ...] | None = None,
) -> tuple[int, list[bytes]]:
    """``(count, encoded rows)`` of one data API page: at most ``limit`` rows from ``offset``,
    ending before the row that would take the encoded results past ``max_bytes`` (the first row
    is always included). Rows are fetched a few at a time, so memory stays near ``max_bytes``.
    ``fields``: only these fields of each row (:func:`check_fields`; None: every field).
    """
    shape = _projector(ROUTES[route_name], fields)
    query = _route_query(route_name, filters, with_output)
    out: list[bytes] = []
    total = 0
    with engine.connect() as conn:
        count: int = conn.execute(
            select(func.count()).select_from(query.order_by(None).subquery())
        ).scalar_one()
        result = conn.execution_options(
            stream_results=True, yield_per=_fetch_size(route_name, with_output)
        ).execute(query.limit(limit).offset(offset))
        try:
            for r in result:
                data = encode(shape(r))
                if out and total + len(data) + 1 > max_bytes:
                    break
                out.append(data)
                total += len(data) + 1
        finally:
            result.close()
    return count, out


def read_one(engine: Engine, route_name: str, row_id: int) -> dict | None:
    """The full row ``row_id`` of ``route_name`` (phases with their output), or None."""
    route = ROUTES[route_name]
    with engine.connect() as conn:
        r = conn.execute(route.query().where(route.id_col == row_id)).first()
    return None if r is None else route.row(r)


#: Characters of a phase output read from the database and sent at a time by
#: ``GET /api/buildphases/<id>/`` (so a 100 MiB log is never held whole).
OUTPUT_PIECE = 1 << 20


def stream_phase(
    engine: Engine, row_id: int, encode: Callable[[Any], bytes], route_name: str = "buildphases"
) -> Iterator[bytes] | None:
    """The JSON of phase ``row_id`` with its output, as pieces of bytes, or None (no such row).

    The output is read with ``substr`` in pieces of :data:`OUTPUT_PIECE` characters, each in
    its own short transaction, and encoded piece by piece: memory stays near one piece however
    long the log is. (A phase rewritten while it is being sent may mix its old and new text.)
    """
    route = ROUTES[route_name]
    with engine.connect() as conn:
        r = conn.execute(
            phase_query(route, False)
            .add_columns(build_phases.c.output.is_(None).label("output_is_null"))
            .where(build_phases.c.id == row_id)
        ).first()
    if r is None:
        return None
    row = route.row(r)
    head = {k: row[k] for k in ("id", "build", "attempt", "name", "status")}
    tail = {k: v for k, v in row.items() if k not in head}
    piece = OUTPUT_PIECE

    def pieces() -> Iterator[bytes]:
        yield encode(head)[:-1] + b',"output":'
        if r.output_is_null:
            yield b"null"
        else:
            yield b'"'
            start = 1
            while start <= row["output_size"]:
                with engine.connect() as conn:
                    text = conn.execute(
                        select(func.substr(build_phases.c.output, start, piece)).where(
                            build_phases.c.id == row_id
                        )
                    ).scalar()
                if not text:
                    break
                yield encode(text)[1:-1]
                start += piece
            yield b'"'
        yield b"," + encode(tail)[1:]

    return pieces()


def read_rows(db_url_or_engine: str | Engine, route: str, **filters: Any) -> Iterator[dict]:
    """Yield the data API rows of ``route`` (e.g. ``"builds"``) straight from a database.

    ``db_url_or_engine`` is a database URL or an SQLAlchemy ``Engine``; ``filters`` are the
    route's query filters (``status="FAILED"``, ``build=3`` ...). The dicts are exactly those of
    ``GET /api/<route>/``. Pass ``output=False`` for ``buildphases`` to leave out log text,
    ``fields=`` (a list, or comma-separated text) for only those fields of each row, as the
    data API's ``fields=`` (``output`` read only when named).
    Raises :class:`ConfigError` for an unknown route/filter/field or unusable database and
    :class:`SchemaVersionError` for a database of another schema version.
    """
    if route not in ROUTES:
        raise ConfigError(f"unknown data API route {route!r} (routes: {', '.join(ROUTES)})")
    with_output = True
    if "output" in filters:
        out = filters.pop("output")
        with_output = _bool(out) if isinstance(out, str) else bool(out)
    try:
        fields = check_fields(route, filters.pop("fields", None))
        apply_filters(ROUTES[route], ROUTES[route].query(), dict(filters))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if fields is not None and route in PHASE_ROUTES:
        with_output = with_output and "output" in fields
    if isinstance(db_url_or_engine, str):
        store = Store.open(db_url_or_engine, create=False)
        engine = store.read
    else:
        store = None
        engine = db_url_or_engine
    try:
        yield from iter_rows(engine, route, filters, with_output=with_output, fields=fields)
    finally:
        if store is not None:
            store.dispose()
