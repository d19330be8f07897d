"""A monitor server's database read directly (:meth:`MonitorData.from_database`): the same
frames as the data API's rows give, read column-wise with SQLAlchemy Core."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..server.tables import (
    Store,
    build_environments,
    build_events,
    build_phases,
    builds,
    dependencies,
    redact_url,
    specs,
    users,
)
from .assemble import FrameSet
from .server import ServerColumns


def database_frames(url: Any, *, keep_output: bool = True) -> FrameSet:
    """The five frames of the monitor database at ``url`` (SQLite or PostgreSQL URL, a path to
    a SQLite file, or an SQLAlchemy ``Engine``), labelled with the URL without its password
    (see :meth:`~spackmon_analysis.frames.MonitorData.from_database`)."""
    store = None
    if isinstance(url, str | os.PathLike):
        text = os.fspath(url)
        if "://" not in text:  # a plain path to a SQLite file
            if not Path(text).expanduser().is_file():
                raise ConfigError(f"{text}: no such database file")
            text = f"sqlite:///{Path(text).expanduser()}"
        store = Store.open(text, create=False)
        engine = store.read
        label = redact_url(text)
    else:
        engine = url
        label = str(getattr(engine, "url", "database"))  # an Engine's URL hides its password
    # the reader allocates a few million small objects and no cycles: the cyclic
    # collector would re-walk them over and over (about 40% of the time)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        frames = _read_database(engine, keep_output=keep_output)
    finally:
        if gc_was_enabled:
            gc.enable()
        if store is not None:
            store.dispose()
    frames.source = label
    return frames


#: Rows per keyset page (each page is read in its own short transaction).
_DB_PAGE = 20_000


def _db_pages(engine: Any, stmt: Any, id_col: Any) -> Iterable[list[Any]]:
    """The rows of ``stmt`` (ordered by ``id_col``, selected first) in keyset pages, as the
    DBAPI's plain tuples: raw column values (no SQLAlchemy result processing, so JSON
    may be text or decoded and times text or ``datetime`` depending on the driver)."""
    last = None
    while True:
        query = (stmt if last is None else stmt.where(id_col > int(last))).limit(_DB_PAGE)
        sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(sql)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        if rows:
            yield rows
        if len(rows) < _DB_PAGE:
            return
        last = rows[-1][0]


def _read_database(engine: Any, *, keep_output: bool) -> FrameSet:
    """The five frames of a server database: its tables read page by page with SQLAlchemy
    Core into :class:`~spackmon_analysis.loaders.server.ServerColumns` (no dict per row),
    the one assembly of server rows into frames, which
    :func:`~spackmon_analysis.loaders.server.rows_frames` uses for the data API's rows."""
    from sqlalchemy import func, select

    cols = ServerColumns(keep_output=keep_output)
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
        specs.c.parameters,
    ).order_by(specs.c.id)
    for rows in _db_pages(engine, spec_stmt, specs.c.id):
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
            dependencies.c.deptypes,
        )
        .join(parent, parent.c.id == dependencies.c.spec_id)
        .join(child, child.c.id == dependencies.c.dependency_id)
        .order_by(dependencies.c.id)
    )
    for rows in _db_pages(engine, dep_stmt, dependencies.c.id):
        for row in rows:
            cols.add_edge(*row[1:])

    build_stmt = (
        select(
            builds.c.id,
            specs.c.full_hash,
            specs.c.name,
            specs.c.version,
            builds.c.status,
            build_environments.c.host_os,
            build_environments.c.platform,
            build_environments.c.host_target,
            build_environments.c.hostname,
            build_environments.c.kernel_version,
            builds.c.spack_version,
            users.c.username,
            builds.c.tags,
            builds.c.created_at,
        )
        .join(specs, specs.c.id == builds.c.spec_id)
        .join(build_environments, build_environments.c.id == builds.c.build_environment_id)
        .join(users, users.c.id == builds.c.owner_id)
        .order_by(builds.c.id)
    )
    for rows in _db_pages(engine, build_stmt, builds.c.id):
        cols.add_builds(rows)

    phase_cols = [
        build_phases.c.id,
        build_phases.c.build_id,
        build_phases.c.name,
        build_phases.c.status,
        func.coalesce(func.length(build_phases.c.output), 0),
    ]
    if keep_output:
        phase_cols.append(build_phases.c.output)
    phase_stmt = select(*phase_cols).order_by(build_phases.c.id)
    for rows in _db_pages(engine, phase_stmt, build_phases.c.id):
        columns = list(zip(*rows, strict=True))
        del rows
        outputs = list(columns[5]) if keep_output else None
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
                build_events.c.pre_context,
                build_events.c.post_context,
                build_events.c.repeat_count,
                build_events.c.classes,
            )
            .where(build_events.c.kind == kind)
            .order_by(build_events.c.id)
        )
        for rows in _db_pages(engine, event_stmt, build_events.c.id):
            for row in rows:
                cols.add_event(*row[1:])
    return cols.frames(source="database", label="")
