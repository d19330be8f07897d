"""A monitor server's database read directly (:meth:`MonitorData.from_database`): the same
frames as the data API's rows give, read column-wise with SQLAlchemy Core."""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..logs import LogEvent, fingerprint
from ..records import BUILD_STATUS_CATEGORIES, OUTCOMES, PHASE_STATUS_CATEGORIES, SOURCES
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
from ..spackfacts import (
    build_outcome,
    first_last_stamp_texts,
    order_phases,
    parse_stamps,
    phase_rank,
    stamp_micros,
)
from .assemble import Assembler, FrameSet, object_column
from .server import add_server_spec, empty_to_none


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
    return FrameSet(**frames, source=label)


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


def _category(values: Any, fixed: tuple[str, ...] | None = None) -> Any:
    """``values`` (object array of str, None for missing) as the contract's categorical:
    categories ``fixed`` then the other values present, sorted (as ``_to_category``)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values, sort=True)
    present = [str(u) for u in uniques]
    if fixed is None:
        categories = present
    else:
        categories = list(fixed) + [v for v in present if v not in fixed]
        where = {c: i for i, c in enumerate(categories)}
        mapping = np.array([where[v] for v in present], dtype=np.int64)
        codes = np.where(codes >= 0, mapping[codes] if len(mapping) else -1, -1)
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype="str"))
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _json_values(values: list[Any]) -> list[Any]:
    """Raw JSON column values (text, or already decoded by the driver) decoded; repeated
    texts are decoded once."""
    cache: dict[str, Any] = {}
    out = []
    for value in values:
        if isinstance(value, str):
            decoded = cache.get(value)
            if decoded is None:
                decoded = cache[value] = json.loads(value)
            out.append(decoded)
        else:
            out.append(value)
    return out


def _db_times(values: list[Any]) -> Any:
    """Raw ``DateTime`` column values (SQLite: text; other drivers: ``datetime``, naive
    taken as UTC) as ``datetime64[ns, UTC]``."""
    import pandas as pd

    series = pd.Series(values, dtype=object)
    return pd.to_datetime(series, utc=True, format="ISO8601").dt.as_unit("ns").array


def _arrow_strings() -> bool:
    import pandas as pd

    return pd.StringDtype().storage == "pyarrow"


def _utc_ns(us: Any, known: Any) -> Any:
    """Microseconds since the epoch (int64) as ``datetime64[ns, UTC]`` (NaT where not known)."""
    import numpy as np
    import pandas as pd

    ns = (us * 1000).view("datetime64[ns]")
    ns[~known] = np.datetime64("NaT")
    return pd.Series(ns, dtype="datetime64[ns]").dt.tz_localize("UTC").array


def _read_database(engine: Any, *, keep_output: bool) -> dict[str, Any]:
    """The five frames of a server database, read column-wise with SQLAlchemy Core.

    Same frames as :func:`~spackmon_analysis.loaders.server.rows_frames` on the data API rows of that database, without
    building a dict per row: phases are read page by page into column arrays, their
    first/last log stamps found without scanning the whole log and parsed vectorised.
    """
    import numpy as np
    import pandas as pd
    from sqlalchemy import func, select

    asm = Assembler(keep_output=keep_output, rules=None, parse_events=False)

    # specs and dependencies (small): the same tuples as _from_rows
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
    ).order_by(specs.c.id)
    for rows in _db_pages(engine, spec_stmt, specs.c.id):
        for row in rows:
            add_server_spec(asm, *row[1:])
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
    joined_types: dict[str, str] = {}
    for rows in _db_pages(engine, dep_stmt, dependencies.c.id):
        for _id, p_hash, c_hash, p_name, c_name, deptypes in rows:
            if (p_hash, c_hash) not in asm.edges:
                key = deptypes if isinstance(deptypes, str) else None
                text = joined_types.get(key) if key is not None else None
                if text is None:
                    decoded = json.loads(deptypes) if key is not None else deptypes
                    text = ",".join(sorted(str(d) for d in decoded or []))
                    if key is not None:
                        joined_types[key] = text
                asm.edges[(p_hash, c_hash)] = (p_hash, c_hash, p_name, c_name, text)

    # builds, in id order
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
    b_cols: list[list[Any]] = [[] for _ in range(14)]
    for rows in _db_pages(engine, build_stmt, builds.c.id):
        for column, values in zip(b_cols, zip(*rows, strict=True), strict=True):
            column.extend(values)
    (b_id, b_hash, b_name, b_version, b_status, b_host_os, b_platform, b_host_target,
     b_hostname, b_kernel, b_spack, b_owner, b_tags, b_created) = b_cols  # fmt: skip
    del b_cols
    nb = len(b_id)
    build_ids = np.array(b_id, dtype=np.int64)
    build_keys = np.array([str(i) for i in b_id], dtype=object)

    # phases, page by page into columns
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
    p_id: list[Any] = []
    p_build: list[Any] = []
    p_name: list[Any] = []
    p_status: list[Any] = []
    p_size: list[Any] = []
    p_output: list[Any] = []
    p_start: list[Any] = []
    p_start_ok: list[Any] = []
    p_finish: list[Any] = []
    p_finish_ok: list[Any] = []
    p_two: list[Any] = []
    arrow = _arrow_strings()
    for rows in _db_pages(engine, phase_stmt, build_phases.c.id):
        columns = list(zip(*rows, strict=True))
        del rows
        p_id.append(np.array(columns[0], dtype=np.int64))
        p_build.append(np.array(columns[1], dtype=np.int64))
        p_name.extend(columns[2])
        p_status.extend(columns[3])
        p_size.append(np.array(columns[4], dtype=np.int64))
        if not keep_output:
            continue
        outputs = columns[5]
        p_output.append(_string_chunk(outputs, arrow))
        spans = [first_last_stamp_texts(o) for o in outputs]
        firsts, lasts, twos = zip(*spans, strict=True) if spans else ((), (), ())
        start, start_ok = parse_stamps(list(firsts))
        finish, finish_ok = parse_stamps(list(lasts))
        two = np.array(twos, dtype=bool)
        # a stamp that is not a valid time: the exact (slow) path decides
        for i in np.flatnonzero(
            np.array([f is not None for f in firsts], dtype=bool) & ~(start_ok & finish_ok)
        ):
            start[i], start_ok[i], finish[i], finish_ok[i], two[i] = stamp_micros(outputs[i])
        p_start.append(start)
        p_start_ok.append(start_ok)
        p_finish.append(finish)
        p_finish_ok.append(finish_ok)
        p_two.append(two)

    def joined(parts: list[Any], dtype: Any) -> Any:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    ids = joined(p_id, np.int64)
    phase_builds = joined(p_build, np.int64)
    sizes = joined(p_size, np.int64)
    n = len(ids)
    names = np.empty(n, dtype=object)
    names[:] = p_name
    statuses = np.empty(n, dtype=object)
    statuses[:] = p_status
    del p_name, p_status
    if keep_output:
        start, start_ok = joined(p_start, np.int64), joined(p_start_ok, bool)
        finish, finish_ok = joined(p_finish, np.int64), joined(p_finish_ok, bool)
        two = joined(p_two, bool)
    else:
        start = finish = np.zeros(n, dtype=np.int64)
        start_ok = finish_ok = two = np.zeros(n, dtype=bool)
    durations = np.where(start_ok & finish_ok & two, (finish - start) / 1e6, np.nan)

    # phases of known builds, each build's phases in the save-local reader's order
    pos = np.searchsorted(build_ids, phase_builds)
    pos[pos >= nb] = 0
    valid = (build_ids[pos] == phase_builds) if nb else np.zeros(n, dtype=bool)
    timed = start_ok
    name_codes, name_uniques = pd.factorize(names, sort=True)
    ranks = np.array([phase_rank(str(u)) for u in name_uniques], dtype=np.int64)
    key1 = np.where(timed, start, ranks[name_codes] if n else 0)
    key2 = np.where(timed, 0, name_codes)
    untimed_in = np.bincount(pos[valid & ~timed], minlength=nb)
    timed_in = np.bincount(pos[valid & timed], minlength=nb)
    mixed = np.flatnonzero((untimed_in > 0) & (timed_in > 0))
    if len(mixed):
        mixed_set = set(mixed.tolist())
        members: dict[int, list[int]] = {}
        for i in np.flatnonzero(valid & np.isin(pos, mixed)).tolist():
            members.setdefault(int(pos[i]), []).append(i)
        for b in mixed_set:
            items = [(str(names[i]), start[i] if timed[i] else None, i) for i in members[b]]
            ordered = order_phases(items, name=lambda t: t[0], started=lambda t: t[1])
            for place, (_, _, i) in enumerate(ordered):
                key1[i], key2[i] = place, 0
    keep = np.flatnonzero(valid)
    perm = keep[np.lexsort((ids[keep], key2[keep], key1[keep], pos[keep]))]
    del key1, key2
    owner_pos = pos[perm]
    m = len(perm)
    first_of_group = np.ones(m, dtype=bool)
    first_of_group[1:] = owner_pos[1:] != owner_pos[:-1]
    index = np.arange(m, dtype=np.int64)
    order = index - np.maximum.accumulate(np.where(first_of_group, index, 0))

    if keep_output:
        output_column = _string_column(p_output, perm, n, arrow)
        del p_output
    else:
        output_column = pd.array([None] * m, dtype="string")
    phase_durations = durations[perm]
    phase_status = statuses[perm]
    phases = pd.DataFrame(
        {
            "build": pd.array(build_keys[owner_pos], dtype="string"),
            "phase_id": pd.array(ids[perm], dtype="Int64"),
            "name": _category(names[perm]),
            "order": pd.array(order, dtype="Int64"),
            "status": _category(phase_status, PHASE_STATUS_CATEGORIES),
            "output_size": pd.array(sizes[perm], dtype="Int64"),
            "duration": phase_durations,
            "started_at": _utc_ns(start[perm], start_ok[perm]),
            "finished_at": _utc_ns(finish[perm], finish_ok[perm]),
            "output": output_column,
        }
    )
    del output_column

    # builds: duration = sum of known phase durations, outcome from statuses
    known = ~np.isnan(phase_durations)
    total = np.bincount(owner_pos[known], weights=phase_durations[known], minlength=nb)
    counted = np.bincount(owner_pos[known], minlength=nb)
    errored = np.bincount(owner_pos[phase_status == "ERROR"], minlength=nb) > 0
    compilers = {k: row[3] for k, row in asm.specs.items()}
    full_hashes = [asm.resolve(h) for h in b_hash]
    outcomes = [
        build_outcome(status, ("ERROR",) if err else ())
        for err, status in zip(errored.tolist(), b_status, strict=True)
    ]
    created = _db_times(b_created)
    tag_tuples: dict[int, tuple[str, ...]] = {}
    tags = object_column(
        [
            tag_tuples.get(id(v)) or tag_tuples.setdefault(id(v), tuple(str(t) for t in v or ()))
            for v in _json_values(b_tags)
        ]
    )

    def text(values: list[Any]) -> Any:
        return pd.array(values, dtype="string")

    builds_frame = pd.DataFrame(
        {
            "build": pd.array(build_keys, dtype="string"),
            "build_id": pd.array(build_ids, dtype="Int64"),
            "run": _category(np.full(nb, None, dtype=object)),
            "run_time": created,
            "full_hash": text(full_hashes),
            "spec_name": text(b_name),
            "spec_version": text([empty_to_none(v) for v in b_version]),
            "compiler": _category(object_column([compilers.get(h) for h in full_hashes])),
            "status": _category(object_column(b_status), BUILD_STATUS_CATEGORIES),
            "outcome": _category(object_column(outcomes), OUTCOMES),
            "host_os": _category(object_column(b_host_os)),
            "platform": _category(object_column(b_platform)),
            "host_target": _category(object_column(b_host_target)),
            "hostname": _category(object_column(b_hostname)),
            "kernel_version": _category(object_column(b_kernel)),
            "spack_version": _category(object_column(b_spack)),
            "tags": tags,
            "owner": text(b_owner),
            "created_at": created,
            "duration": np.where(counted > 0, total, np.nan),
            "source": _category(np.full(nb, "database", dtype=object), SOURCES),
        }
    )

    # events: the stored builderrors/buildwarnings, per phase in frame order, by line
    events_of: dict[int, list[LogEvent]] = {}
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
                pre, post, classes = _json_values([row[7], row[8], row[10]])
                events_of.setdefault(row[1], []).append(
                    LogEvent(
                        kind=row[2],
                        text=row[3],
                        line_no=row[4],
                        source_file=row[5],
                        source_line_no=row[6],
                        pre_context=list(pre or []),
                        post_context=list(post or []),
                        repeat_count=row[9] or 1,
                        classes=tuple(classes or ()),
                        fingerprint=fingerprint(row[3]),
                    )
                )
    if events_of:
        event_phases = list(events_of)
        where = pd.Index(ids[perm]).get_indexer(event_phases)
        for place, phase_id in sorted(
            (int(w), p) for w, p in zip(where, event_phases, strict=True) if w >= 0
        ):
            for event in sorted(events_of[phase_id], key=lambda e: e.line_no or 0):
                asm.events.append(event)
                asm.event_build.append(build_keys[owner_pos[place]])
                asm.event_phase.append(names[perm[place]])

    frames = asm.frames()
    frames["builds"] = builds_frame
    frames["phases"] = phases
    return frames


def _string_chunk(values: Any, arrow: bool) -> Any:
    """One page of log texts, as an Arrow array when the ``string`` dtype is Arrow-backed
    (so the page's Python strings can be dropped at once), else as a list."""
    if not arrow:
        return list(values)
    import pyarrow as pa

    return pa.array(values, type=pa.large_string())


def _string_column(chunks: list[Any], perm: Any, n: int, arrow: bool) -> Any:
    """The ``output`` column: the pages' texts taken in frame order ``perm``."""
    import numpy as np
    import pandas as pd

    if not arrow:
        values = np.empty(n, dtype=object)
        values[:] = [v for chunk in chunks for v in chunk]
        return pd.array(values[perm], dtype="string")
    import pyarrow as pa

    column = pa.chunked_array(chunks, type=pa.large_string())
    if len(perm) != n or not np.array_equal(perm, np.arange(n)):
        column = column.take(pa.array(perm))
    return pd.arrays.ArrowStringArray(column)
