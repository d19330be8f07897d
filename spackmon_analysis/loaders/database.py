"""A monitor server's database read directly (:meth:`MonitorData.from_database`): the same
frames as the data API's rows give, read column-wise with SQLAlchemy Core.

Every table is read by one select, in one read transaction (a consistent snapshot: builds,
phases and events cannot disagree), streamed in chunks (``fetchmany``; a PostgreSQL
server-side cursor, SQLite's stepping cursor), so no table is ever held whole as driver rows.
The filters (:class:`~spackmon_analysis.server.queries.BuildFilter`) and the column choice are
part of the selects: rows and columns not asked for are never read.
"""

from __future__ import annotations

import gc
import itertools
import operator
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import ENVIRONMENT_FIELDS
from ..server.queries import BuildFilter
from ..server.tables import (
    Store,
    build_attempts,
    build_environments,
    build_events,
    build_phases,
    builds,
    cursor_statement,
    dependencies,
    redact_url,
    specs,
    users,
)
from .assemble import FrameSet
from .server import (
    COLUMN_CHOICES,
    KEY_COLUMNS,
    AttemptColumns,
    BuildSelection,
    ServerColumns,
    blank_unwanted,
    check_columns,
)

__all__ = [
    "database_frames",
    "database_engine",
    "selection_filter",
    "COLUMN_CHOICES",
    "KEY_COLUMNS",
]


def database_frames(
    url: Any,
    *,
    keep_output: bool = True,
    selection: BuildSelection | None = None,
    columns: Iterable[str] | None = None,
) -> FrameSet:
    """The five frames of the monitor database at ``url`` (SQLite or PostgreSQL URL, a path to
    a SQLite file, or an SQLAlchemy ``Engine``), labelled with the URL without its password
    (see :meth:`~spackmon_analysis.frames.MonitorData.from_database`): only the builds that
    ``selection`` matches (and what belongs to them), only the ``columns`` named (besides
    :data:`KEY_COLUMNS`; None: every column)."""
    wanted = check_columns(columns, keep_output)
    build_filter = selection_filter(selection)
    with database_engine(url) as (engine, label):
        # the reader allocates a few million small objects and no cycles: the cyclic
        # collector would re-walk them over and over (about 40% of the time)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            frames = _read_database(
                engine,
                keep_output=keep_output,
                build_filter=build_filter or BuildFilter(),
                wanted=wanted,
            )
        finally:
            if gc_was_enabled:
                gc.enable()
    frames.source = label
    return frames


@contextmanager
def database_engine(url: Any) -> Iterator[tuple[Any, str]]:
    """``(engine, label)`` for a monitor database: ``url`` a SQLite or PostgreSQL URL, a path to
    a SQLite file (which must exist), or an SQLAlchemy ``Engine`` (used as it is); ``label``
    the URL without its password. An engine opened here is disposed afterwards."""
    if not isinstance(url, str | os.PathLike):
        yield url, str(getattr(url, "url", "database"))  # an Engine's URL hides its password
        return
    text = os.fspath(url)
    if "://" not in text:  # a plain path to a SQLite file
        if not Path(text).expanduser().is_file():
            raise ConfigError(f"{text}: no such database file")
        text = f"sqlite:///{Path(text).expanduser()}"
    store = Store.open(text, create=False)
    try:
        yield store.read, redact_url(text)
    finally:
        store.dispose()


def selection_filter(selection: BuildSelection | None) -> BuildFilter:
    """The server's :class:`~spackmon_analysis.server.queries.BuildFilter` (its ``WHERE``
    clauses) for a checked :class:`~spackmon_analysis.loaders.server.BuildSelection`."""
    selection = selection or BuildSelection()
    return BuildFilter(
        since=selection.since,
        until=selection.until,
        spec_names=selection.packages,
        tags=selection.tags,
        statuses=selection.status,
    )


@dataclass(frozen=True)
class _IdSpan(BuildFilter):
    """The builds whose ids are ``low`` to ``high``: a filter's matching builds when they are
    every id of the span (checked by the reader, in the same snapshot), so the server's
    rules of what belongs to builds (``spec_ids``: their specs and every spec those depend
    on; ``build_ids``) apply to them through the primary key instead of the filter's
    conditions over the whole ``builds`` table."""

    low: int = 0
    high: int = -1

    def conditions(self) -> list[Any]:
        return [builds.c.id.between(self.low, self.high)]


#: Rows fetched from the database at a time (and phases with their logs: the first chunk
#: ``_CHUNK_WITH_LOGS`` rows, the next ones as many as hold about ``_CHUNK_TEXT`` characters
#: of log, at least ``_CHUNK_MIN`` rows, so a chunk of long logs stays small).
_CHUNK = 20_000
_CHUNK_WITH_LOGS = 2_000
_CHUNK_TEXT = 8_000_000
_CHUNK_MIN = 100
_cursor_names = itertools.count()


def _stream(
    conn: Any, stmt: Any, rows: int, *, text_size: Callable[[list[Any]], int] | None = None
) -> Iterator[list[Any]]:
    """The rows of ``stmt`` in chunks of at most ``rows``, as the DBAPI's plain tuples: raw
    column values (no SQLAlchemy result processing, so JSON may be text or decoded and times
    text or ``datetime`` depending on the driver). On PostgreSQL a named (server-side) cursor
    keeps the result in the server; SQLite's cursor steps through it.

    ``text_size``: the characters of text a chunk carries (the phases' logs); the next chunk
    then asks for as many rows as make about :data:`_CHUNK_TEXT` characters (between
    :data:`_CHUNK_MIN` and :data:`_CHUNK` rows): few round trips for short logs, a bounded
    chunk for long ones. The size follows the chunk before: long logs right after many short
    ones come in one chunk of up to :data:`_CHUNK` rows, whose text is then held twice for a
    moment (as Python strings and in the frame being built). Decided and left: the logs are
    kept anyway, so the peak stays within about twice their size."""
    dialect = conn.dialect
    sql, params = cursor_statement(stmt, dialect)
    raw = conn.connection.dbapi_connection
    if dialect.name == "postgresql":
        cursor = raw.cursor(name=f"spackmon_read_{os.getpid()}_{next(_cursor_names)}")
    else:
        cursor = raw.cursor()
    try:
        cursor.execute(sql, params)
        while True:
            chunk = cursor.fetchmany(rows)
            if not chunk:
                return
            if text_size is not None:
                per_row = max(text_size(chunk) / len(chunk), 1.0)
                rows = int(min(max(_CHUNK_TEXT / per_row, _CHUNK_MIN), _CHUNK))
            yield chunk
    finally:
        cursor.close()


def _log_characters(rows: list[Any]) -> int:
    """The characters of log text a chunk of phase rows carries (their stored lengths)."""
    return sum(map(_fifth, rows))


_fifth = operator.itemgetter(4)


def _read_database(
    engine: Any, *, keep_output: bool, build_filter: BuildFilter, wanted: set[str] | None
) -> FrameSet:
    """The five frames of a server database: its tables streamed with SQLAlchemy Core selects
    into :class:`~spackmon_analysis.loaders.server.ServerColumns` (no dict per row), the one
    assembly of server rows into frames, which
    :func:`~spackmon_analysis.loaders.server.rows_frames` uses for the data API's rows."""
    with engine.connect() as conn:
        postgresql = conn.dialect.name == "postgresql"
        if postgresql:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if postgresql:
                # plain reads: PostgreSQL's JIT compiles each of them (a recursive query over
                # the specs is estimated at millions of rows) for 0.1-0.5 s and gains nothing;
                # the sorts of a week's builds and edges fit in 64 MB instead of spilling to
                # disk (the default is 4 MB); both for this read transaction only
                conn.exec_driver_sql("SET LOCAL jit = off")
                conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
            frames = _read_tables(
                conn, keep_output=keep_output, build_filter=build_filter, wanted=wanted
            )
    if wanted is not None:
        blank_unwanted(frames, wanted)
    return frames


def _read_tables(
    conn: Any, *, keep_output: bool, build_filter: BuildFilter, wanted: set[str] | None
) -> FrameSet:
    from sqlalchemy import Text, cast, func, null, select

    def text(column: Any) -> Any:
        """A JSON column as its stored text: decoded once per distinct value by the
        assembly, not once per row by the driver (psycopg decodes ``json`` columns)."""
        return cast(column, Text)

    def need(*names: str) -> bool:
        return wanted is None or any(n in wanted for n in names)

    cols = ServerColumns(keep_output=keep_output and need("output"))
    every = build_filter.everything
    # a column not asked for is a NULL in the select (and its join left out)
    env = need(*ENVIRONMENT_FIELDS)
    build_stmt = select(
        builds.c.id,
        specs.c.full_hash,
        specs.c.name if need("spec_name") else null(),
        specs.c.version if need("spec_version") else null(),
        builds.c.status if need("status", "outcome") else null(),
        *(
            getattr(build_environments.c, name) if need(name) else null()
            for name in ENVIRONMENT_FIELDS
        ),
        builds.c.spack_version if need("spack_version") else null(),
        users.c.username if need("owner") else null(),
        text(builds.c.tags) if need("tags", "outcome") else null(),  # outcome: markers
        builds.c.created_at if need("created_at", "run_time") else null(),
    ).join(specs, specs.c.id == builds.c.spec_id)
    if env:
        build_stmt = build_stmt.join(
            build_environments, build_environments.c.id == builds.c.build_environment_id
        )
    if need("owner"):
        build_stmt = build_stmt.join(users, users.c.id == builds.c.owner_id)
    build_stmt = build_stmt.where(*build_filter.conditions()).order_by(builds.c.id)
    low = high = None
    count = 0
    for rows in _stream(conn, build_stmt, _CHUNK):
        low = rows[0][0] if low is None else low
        high = rows[-1][0]
        count += len(rows)
        cols.add_builds(rows)
    if not every and low is None:  # no build matched: nothing belongs to one
        return cols.frames(source="database", label="")
    # the builds are read first: when the matching builds are every id of the span they
    # cover (a time window: ids grow with time), the span alone names them, and the reads
    # below find their specs, attempts, phases and events through the id indexes instead of
    # evaluating the filter over the whole builds table again, once per read
    scope = build_filter
    if not every and low is not None and high is not None and count == high - low + 1:
        scope = _IdSpan(low=low, high=high)

    spec_stmt = select(
        specs.c.id,
        specs.c.full_hash,
        specs.c.name,
        specs.c.version,
        specs.c.compiler_name,
        specs.c.compiler_version,
        specs.c.platform,
        specs.c.os,
        specs.c.target,
        specs.c.namespace,
        specs.c.external,
        specs.c.hash,
        specs.c.build_hash,
        specs.c.dag_hash,
        text(specs.c.parameters),
        specs.c.build_spec,
    ).order_by(specs.c.id)
    if not every:
        spec_stmt = spec_stmt.where(specs.c.id.in_(scope.spec_ids()))
    for rows in _stream(conn, spec_stmt, _CHUNK):
        for row in rows:
            cols.add_spec(*row[1:])
    parent, child = specs.alias("parent"), specs.alias("child")
    dep_stmt = (
        select(
            dependencies.c.id,
            parent.c.full_hash,
            child.c.full_hash,
            parent.c.name,
            child.c.name,
            text(dependencies.c.deptypes),
        )
        .join(parent, parent.c.id == dependencies.c.spec_id)
        .join(child, child.c.id == dependencies.c.dependency_id)
        .order_by(dependencies.c.id)
    )
    if not every:
        dep_stmt = dep_stmt.where(dependencies.c.spec_id.in_(scope.spec_ids()))
    for rows in _stream(conn, dep_stmt, _CHUNK):
        for row in rows:
            cols.add_edge(*row[1:])

    def of_builds(column: Any) -> Any:
        """The rows of the matching builds: the ids the builds read spans (so an index on
        the build id finds them, a week of builds being a narrow span) and, unless the
        span holds nothing else, in the filter."""
        span = column.between(low, high)
        return span if isinstance(scope, _IdSpan) else span & column.in_(scope.build_ids())

    phase_cols = [
        build_phases.c.id,
        build_phases.c.build_id,
        build_phases.c.name,
        build_phases.c.status,
        func.coalesce(func.length(build_phases.c.output), 0),
    ]
    if keep_output:  # the logs: kept, or read for their timestamps only
        phase_cols.append(build_phases.c.output)
    # every attempt of the builds: the latest one's phases and events fill the five frames
    # (what the build row shows), all of them the history frames
    history = AttemptColumns()
    attempt_stmt = select(
        build_attempts.c.id,
        build_attempts.c.build_id,
        build_attempts.c.number,
        build_attempts.c.status,
        build_attempts.c.latest,
        build_attempts.c.started_at,
    ).order_by(build_attempts.c.id)
    if not every:
        attempt_stmt = attempt_stmt.where(of_builds(build_attempts.c.build_id))
    for rows in _stream(conn, attempt_stmt, _CHUNK):
        history.add_attempts(rows)
    phase_cols.append(build_phases.c.attempt_id)
    # in build order, so the frame's order (by build, then by time) is the read order and the
    # kept log texts need no reordering copy: PostgreSQL reads the build-id index with an
    # incremental sort (a plain scan may start mid-table, synchronised with another scan);
    # SQLite's id order is its row order
    phase_stmt = select(*phase_cols).order_by(
        *(
            (build_phases.c.build_id, build_phases.c.id)
            if conn.dialect.name == "postgresql"
            else (build_phases.c.id,)
        )
    )
    if not every:
        phase_stmt = phase_stmt.where(of_builds(build_phases.c.build_id))
    sized = _log_characters if keep_output else None
    for rows in _stream(
        conn, phase_stmt, _CHUNK_WITH_LOGS if keep_output else _CHUNK, text_size=sized
    ):
        columns: list[Any] = list(zip(*rows, strict=True))
        del rows
        if not columns:
            continue
        outputs = list(columns[5]) if keep_output else None
        # the latest attempts' phases fill the five frames (their history rows are made from
        # them); only the earlier attempts' phases are the history's own
        earlier = history.is_earlier(columns[-1])
        if earlier.any():
            old, mine = earlier.tolist(), (~earlier).tolist()
            history.add_phases(
                *(list(itertools.compress(columns[c], old)) for c in (0, -1, 2, 3, 4)),
                outputs=list(itertools.compress(outputs, old)) if outputs is not None else None,
            )
            columns = [list(itertools.compress(column, mine)) for column in columns]
            outputs = list(itertools.compress(outputs, mine)) if outputs is not None else None
        cols.add_phases(columns[0], columns[1], columns[2], columns[3], columns[4], outputs=outputs)
        del columns, outputs

    for kind in ("error", "warning"):
        event_stmt = (
            select(
                build_events.c.id,
                build_events.c.phase_id,
                build_events.c.kind,
                build_events.c.text,
                build_events.c.line_no,
                build_events.c.source_file,
                build_events.c.source_line_no,
                text(build_events.c.pre_context),
                text(build_events.c.post_context),
                build_events.c.repeat_count,
                text(build_events.c.classes),
                build_phases.c.attempt_id,
            )
            .join(build_phases, build_phases.c.id == build_events.c.phase_id)
            .where(build_events.c.kind == kind)
            .order_by(build_events.c.id)
        )
        if not every:
            event_stmt = event_stmt.where(of_builds(build_events.c.build_id))
        for rows in _stream(conn, event_stmt, _CHUNK):
            earlier = history.is_earlier([row[-1] for row in rows]).tolist()
            for row, early in zip(rows, earlier, strict=True):
                (history.cols if early else cols).add_event(*row[1:-1])
    frames = cols.frames(source="database", label="")
    frames.attempts = history.frames(frames, cols)
    return frames
