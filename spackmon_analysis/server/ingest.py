"""What the ms1 write endpoints do to the database, one function per endpoint.

Each function takes an open SQLAlchemy ``Connection`` inside the request's single transaction and
either returns the response ``data`` or raises :class:`RequestError` (status + message); the app
rolls the transaction back on any error, so a rejected request changes nothing.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import Connection, Insert, and_, bindparam, case, delete, or_, select, true, update

from ..errors import SpecFormatError
from .tables import (
    architectures,
    attributes,
    build_attempts,
    build_environments,
    build_events,
    build_phases,
    builds,
    compilers,
    dependencies,
    environment_variables,
    install_files,
    run_prepared,
    run_prepared_many,
    specs,
    targets,
    utcnow,
)
from .validate import MAX_JSON_DEPTH, RequestError, check_lengths, decode_json

__all__ = [
    "RequestError",
    "MAX_JSON_DEPTH",
    "BUILD_STATUSES",
    "PHASE_STATUSES",
    "new_spec",
    "new_build",
    "update_build",
    "update_phase",
    "analyze_build",
    "Attempt",
    "parse_run_time",
    "open_first_attempt",
    "attempt_for_builds_new",
    "attempt_for_write",
    "record_attempt_status",
]

#: Statuses a build may be set to (PROTOCOL section 2).
BUILD_STATUSES = ("CANCELLED", "SUCCESS", "NOTRUN", "FAILED")
#: Statuses a phase may carry (Spack sends SUCCESS or ERROR).
PHASE_STATUSES = ("SUCCESS", "ERROR", "FAILED", "CANCELLED", "NOTRUN", "RUNNING")

ENV_FIELDS = ("host_os", "platform", "host_target", "hostname", "kernel_version")


# Statements of the hot path, built once (building a statement costs more than running it).
# The writes of a build lock its row first (FOR UPDATE OF builds on PostgreSQL; SQLite takes one
# writer at a time anyway): two workers or servers writing the same build take turns, as one
# process's serialised writes do, so a tag merge or an analysis never works on rows another
# transaction is replacing (no lost tags, no install files of two analyses mixed).
_SEL_BUILD = (
    select(
        builds.c.id,
        builds.c.owner_id,
        specs.c.full_hash,
        specs.c.name,
        builds.c.reopened_at,
        build_attempts.c.id,
        build_attempts.c.status,
    )
    .join(specs, specs.c.id == builds.c.spec_id)
    .outerjoin(
        build_attempts,
        and_(build_attempts.c.build_id == builds.c.id, build_attempts.c.latest == true()),
    )
    .where(builds.c.id == bindparam("b_id"))
    .with_for_update(of=builds)
)
_SEL_PHASE = select(build_phases.c.id).where(
    build_phases.c.attempt_id == bindparam("b_attempt"), build_phases.c.name == bindparam("b_name")
)
_INS_FIRST_ATTEMPT = (
    build_attempts.insert()
    .values(
        build_id=bindparam("b_id"),
        number=1,
        status="NOTRUN",
        latest=True,
        run_time=bindparam("b_run", type_=build_attempts.c.run_time.type),
        started_at=bindparam("b_started", type_=build_attempts.c.started_at.type),
        created_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
    .returning(build_attempts.c.id)
)
_TOUCH_ATTEMPT = (
    update(build_attempts)
    .where(build_attempts.c.id == bindparam("b_attempt"))
    .values(updated_at=bindparam("b_now"))
)
_UPD_PHASE = (
    update(build_phases)
    .where(build_phases.c.id == bindparam("b_pid"))
    .values(
        status=bindparam("b_status"), output=bindparam("b_output"), updated_at=bindparam("b_now")
    )
)
_DEL_EVENTS = delete(build_events).where(build_events.c.phase_id == bindparam("b_pid"))
_UPD_STATUS = (
    update(builds)
    .where(builds.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), updated_at=bindparam("b_now"))
)
_UPD_ATTEMPT_STATUS = (
    update(build_attempts)
    .where(build_attempts.c.id == bindparam("b_attempt"))
    .values(status=bindparam("b_status"), updated_at=bindparam("b_now"))
)
#: The columns of an event row (``logs.stored_event`` plus the build and phase ids).
_EVENT_COLUMNS = tuple(c.name for c in build_events.columns if c.name != "id")
_INS_EVENT = build_events.insert().values(
    {name: bindparam(name, type_=build_events.c[name].type) for name in _EVENT_COLUMNS}
)
#: The columns of a spec row ``import_graph`` writes, one row per node (bound as ``b_<name>``).
_SPEC_COLUMNS = (
    "name",
    "version",
    "full_hash",
    "hash",
    "build_hash",
    "dag_hash",
    "package_hash",
    "spack_version",
    "namespace",
    "compiler_name",
    "compiler_version",
    "platform",
    "os",
    "target",
    "parameters",
    "external",
    "external_path",
    "is_root",
    "created_at",
    "compiler_id",
    "architecture_id",
)
_INS_SPEC = (
    specs.insert()
    .values({name: bindparam("b_" + name, type_=specs.c[name].type) for name in _SPEC_COLUMNS})
    .returning(specs.c.id)
)
_INS_EDGE = dependencies.insert().values(
    {
        name: bindparam(name, type_=dependencies.c[name].type)
        for name in ("spec_id", "dependency_id", "deptypes", "virtuals")
    }
)
# The attempt rule's statements (every phase and status write of a replay runs
# _SEL_RUN_ATTEMPT; built once like the rest of the hot path).
_SEL_RUN_ATTEMPT = select(build_attempts.c.id, build_attempts.c.latest).where(
    build_attempts.c.build_id == bindparam("b_id"),
    build_attempts.c.run_time == bindparam("b_run", type_=build_attempts.c.run_time.type),
)
_LOCK_BUILD = select(builds.c.reopened_at).where(builds.c.id == bindparam("b_id")).with_for_update()
_INS_ATTEMPT = (
    build_attempts.insert()
    .values(
        build_id=bindparam("b_id"),
        number=0,
        status=bindparam("b_status"),
        latest=False,
        run_time=bindparam("b_run", type_=build_attempts.c.run_time.type),
        started_at=bindparam("b_started", type_=build_attempts.c.started_at.type),
        created_at=bindparam("b_now", type_=build_attempts.c.created_at.type),
        updated_at=bindparam("b_now", type_=build_attempts.c.updated_at.type),
    )
    .returning(build_attempts.c.id)
)
_SEL_ATTEMPTS = (
    select(
        build_attempts.c.id,
        build_attempts.c.number,
        build_attempts.c.latest,
        build_attempts.c.status,
    )
    .where(build_attempts.c.build_id == bindparam("b_id"))
    .order_by(build_attempts.c.started_at, build_attempts.c.id)
)
_UPD_ATTEMPT_PLACE = (
    update(build_attempts)
    .where(build_attempts.c.id == bindparam("b_attempt"))
    .values(
        number=bindparam("b_number", type_=build_attempts.c.number.type),
        latest=bindparam("b_latest", type_=build_attempts.c.latest.type),
    )
)
_UPD_BUILD_STATUS = (
    update(builds)
    .where(builds.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status", type_=builds.c.status.type))
)
_UPD_REOPENED = (
    update(builds)
    .where(builds.c.id == bindparam("b_id"))
    .values(reopened_at=bindparam("b_when", type_=builds.c.reopened_at.type))
)
_SEL_LATEST_ATTEMPT = select(build_attempts.c.id).where(
    build_attempts.c.build_id == bindparam("b_id"), build_attempts.c.latest == true()
)
_SEL_ANY_PHASE = (
    select(build_phases.c.id).where(build_phases.c.attempt_id == bindparam("b_attempt")).limit(1)
)
_SEL_PHASE_STATE = select(build_phases.c.status, build_phases.c.output).where(
    build_phases.c.attempt_id == bindparam("b_attempt"), build_phases.c.name == bindparam("b_name")
)
_SEL_ATTEMPT_NUMBER = select(build_attempts.c.number).where(
    build_attempts.c.id == bindparam("b_attempt")
)
_HASH_COLS = (specs.c.full_hash, specs.c.hash, specs.c.dag_hash, specs.c.build_hash)
_SEL_SPEC = (
    select(specs.c.id, specs.c.name, specs.c.full_hash)
    .where(
        specs.c.spack_version == bindparam("b_version"),
        or_(*(c == bindparam("b_hash") for c in _HASH_COLS)),
    )
    .order_by(
        case((specs.c.full_hash == bindparam("b_hash"), 0), else_=1),
        specs.c.is_root.desc(),
        specs.c.id,
    )
    .limit(1)
)
_SEL_ENV = select(build_environments.c.id).where(
    *(build_environments.c[f] == bindparam("b_" + f) for f in ENV_FIELDS)
)
_SEL_BUILD_BY = (
    select(builds.c.id, builds.c.tags, builds.c.owner_id)
    .where(
        builds.c.spec_id == bindparam("b_spec"),
        builds.c.build_environment_id == bindparam("b_env"),
    )
    .with_for_update()
)


_INS_PHASE = (
    build_phases.insert()
    .values(
        build_id=bindparam("b_id"),
        attempt_id=bindparam("b_attempt"),
        name=bindparam("b_name"),
        status=bindparam("b_status"),
        output=bindparam("b_output"),
        created_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
    .returning(build_phases.c.id)
)


_INS_ENV = (
    build_environments.insert()
    .values(**{f: bindparam("b_" + f) for f in ENV_FIELDS})
    .returning(build_environments.c.id)
)
_INS_BUILD = (
    builds.insert()
    .values(
        spec_id=bindparam("b_spec"),
        build_environment_id=bindparam("b_env"),
        owner_id=bindparam("b_owner"),
        status="NOTRUN",
        tags=bindparam("b_tags", type_=builds.c.tags.type),
        spack_version=bindparam("b_version"),
        created_at=bindparam("b_now"),
        updated_at=bindparam("b_now"),
    )
    .returning(builds.c.id)
)


class _SpecRow(NamedTuple):
    id: int
    name: str
    full_hash: str


class _BuildRow(NamedTuple):
    id: int
    owner_id: int
    full_hash: str
    name: str
    reopened_at: datetime | None
    attempt_id: int | None
    attempt_status: str | None


# ---------------------------------------------------------------------------------------------
# field helpers


def _require_dict(body: Any, what: str = "request body") -> dict:
    if not isinstance(body, dict):
        raise RequestError(400, f"The {what} must be a JSON object, got {type(body).__name__}.")
    return body


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: Range of a 64-bit signed integer: every integer the database stores (SQLite INTEGER, BIGINT).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Range of a 32-bit signed integer (PostgreSQL INTEGER: row ids and line numbers).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _build_id(body: dict, missing_message: str) -> int:
    value = body.get("build_id")
    if value is None or value == "":
        raise RequestError(400, missing_message)
    if isinstance(value, bool):
        raise RequestError(400, f"build_id must be an integer, got {value!r}.")
    if isinstance(value, str):
        text = value.strip()
        # ASCII digits only (str.isdigit also accepts e.g. superscripts, which int() refuses)
        if not text or not text.isascii() or not text.isdigit():
            raise RequestError(400, f"build_id must be an integer, got {_short(value)}.")
        if len(text.lstrip("0")) > 19:
            raise RequestError(
                400, f"build_id must be an integer within 64 bits, got {_short(value)}."
            )
        value = int(text)
    if not isinstance(value, int):
        raise RequestError(400, f"build_id must be an integer, got {_short(value)}.")
    if not INT64_MIN <= value <= INT64_MAX:
        raise RequestError(400, f"build_id must be an integer within 64 bits, got {_short(value)}.")
    return value


def _get_build(conn: Connection, build_id: int, caller_id: int) -> Any:
    if not INT32_MIN <= build_id <= INT32_MAX and conn.dialect.name == "postgresql":
        # PostgreSQL row ids are 32-bit: no such build (SQLite answers the same after its lookup)
        raise RequestError(404, f"Build {build_id} does not exist.")
    rows = run_prepared(conn, _SEL_BUILD, {"b_id": build_id})
    row = _BuildRow(*rows[0]) if rows else None
    if row is None:
        raise RequestError(404, f"Build {build_id} does not exist.")
    if row.owner_id != caller_id:
        raise RequestError(403, f"You do not own build {build_id}; only its creator may update it.")
    return row


def _build_summary(row: Any) -> dict:
    return {"build_id": row.id, "spec_full_hash": row.full_hash, "spec_name": row.name}


# ---------------------------------------------------------------------------------------------
# specs


def _load_graph(doc: Any) -> Any:
    from ..spec import load_spec  # the one spec reader of the project

    try:
        return load_spec(doc)
    except SpecFormatError as exc:
        raise RequestError(400, f"Invalid spec: {exc}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise RequestError(400, f"Invalid spec: {exc}") from None


def _get_or_create(
    conn: Connection, table: Any, key: dict, extra: dict | None = None, memo: dict | None = None
) -> int:
    if memo is not None:
        mkey = (table.name, tuple(sorted(key.items())))
        if mkey in memo:
            return memo[mkey]
        memo[mkey] = value = _get_or_create(conn, table, key, extra)
        return value
    where = [table.c[k] == v for k, v in key.items()]
    found = conn.execute(select(table.c.id).where(*where)).scalar()
    if found is not None:
        return found
    return _insert(conn, table.insert().values(**key, **(extra or {})))


def _insert(conn: Connection, statement: Insert) -> int:
    """Run the single-row INSERT ``statement`` -> the new row's id."""
    key = conn.execute(statement).inserted_primary_key
    if key is None:  # only for a multi-row or primary-key-less INSERT, which we never run
        raise RuntimeError(f"INSERT into {statement.table} returned no primary key")
    return int(key[0])


#: Hash keys that identify a node (``package_hash`` is the recipe's hash, shared by many specs).
_IDENTITY_KEYS = ("full_hash", "hash", "build_hash", "dag_hash")


def _node_hashes(node: Any) -> set[str]:
    """Every identity hash ``node`` carries (plus its graph key)."""
    hashes_of = dict(getattr(node, "hashes", {}) or {})
    found = {hashes_of[k] for k in _IDENTITY_KEYS if hashes_of.get(k)}
    found.add(node.key)
    return found


def _row_has_full_hash(row: Any) -> bool:
    """True when the stored row's ``full_hash`` came from a ``full_hash`` key of its document.

    A node written without one (a Spack 0.18+ ``spec.json``) is stored under its DAG hash, so
    its ``full_hash`` column then repeats its ``hash`` column.
    """
    return row.hash is None or row.full_hash != row.hash


def _match_stored(node: Any, rows: list[Any]) -> int | None:
    """The id of the stored spec ``node`` is, among ``rows`` of the same name, or None.

    Same spec = same ``full_hash``; else any identity hash the node carries equals any hash the
    stored spec carries (a Spack 0.18 installed ``spec.json`` carries only the DAG ``hash`` of a
    spec its monitor upload stored under a legacy ``full_hash``). Exception: when both sides carry
    a ``full_hash`` and the two differ, they are different specs even if another hash agrees
    (Spack 0.17's ``hash`` left out build dependencies and the recipe, so it can be shared).
    """
    mine = _node_hashes(node)
    explicit_full = (getattr(node, "hashes", {}) or {}).get("full_hash")
    for row in rows:
        if row.full_hash == node.full_hash:
            return row.id
    for row in rows:
        theirs = {row.full_hash, row.hash, row.build_hash, row.dag_hash} - {None}
        if not mine & theirs:
            continue
        if explicit_full and _row_has_full_hash(row) and row.full_hash != explicit_full:
            continue
        return row.id
    return None


#: Fields of a stored spec compared with a document's node of the same hash when both carry them.
_COMPARED = (
    "version",
    "namespace",
    "compiler_name",
    "compiler_version",
    "platform",
    "os",
    "target",
    "external_path",
)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _stored_summary(conn: Connection, spec_id: int) -> dict:
    """What is stored for one spec, in the ``specs/new`` answer's shape."""
    row = conn.execute(
        select(specs.c.full_hash, specs.c.name, specs.c.version, specs.c.spack_version).where(
            specs.c.id == spec_id
        )
    ).one()
    child = specs.alias("child")
    deps = conn.execute(
        select(child.c.name, child.c.full_hash)
        .join(dependencies, dependencies.c.dependency_id == child.c.id)
        .where(dependencies.c.spec_id == spec_id)
        .order_by(dependencies.c.id)
    ).all()
    return {
        "full_hash": row.full_hash,
        "name": row.name,
        "version": row.version,
        "spack_version": row.spack_version,
        "specs": {d.name: d.full_hash for d in deps},
    }


def _node_conflicts(node: Any, row: Any, sent_deps: dict, stored_deps: dict) -> dict:
    """The fields where ``node`` (a document's) and ``row`` (stored, same spec) disagree.

    Only fields both carry are compared (a Spack 0.18 installed ``spec.json`` carries only the
    DAG ``hash`` of a spec its monitor upload stored with a ``full_hash`` too: no conflict).
    ``sent_deps``/``stored_deps`` map dependency names to stored spec ids (None: a spec not
    stored). A dependency both list must be the same stored spec; one only one side lists is a
    conflict only when both carry a ``full_hash`` (which covers every dependency).
    """
    found: dict[str, dict] = {}
    hashes_of = dict(getattr(node, "hashes", {}) or {})
    sent_full = hashes_of.get("full_hash")
    stored_full = row.full_hash if _row_has_full_hash(row) else None
    pairs = [("full_hash", sent_full, stored_full)]
    pairs += [
        (k, hashes_of.get(k), row._mapping[k]) for k in ("hash", "build_hash", "package_hash")
    ]
    values = {
        "version": str(node.version or ""),
        "namespace": node.namespace,
        "compiler_name": node.compiler_name,
        "compiler_version": node.compiler_version,
        "platform": node.platform,
        "os": node.os,
        "target": node.target,
        "external_path": getattr(node, "external_path", None),
    }
    pairs += [(k, values[k], row._mapping[k]) for k in _COMPARED]
    for key, sent, stored in pairs:
        if sent not in (None, "") and stored not in (None, "") and str(sent) != str(stored):
            found[key] = {"sent": sent, "stored": stored}
    stored_params = row.parameters
    if isinstance(stored_params, str):
        stored_params = json.loads(stored_params)
    sent_params = dict(node.parameters or {})
    for key in sorted(set(sent_params) & set(stored_params or {})):
        if _canon(sent_params[key]) != _canon(stored_params[key]):
            found[f"parameters.{key}"] = {"sent": sent_params[key], "stored": stored_params[key]}
    both_full = sent_full is not None and stored_full is not None
    for name in sorted(set(sent_deps) | set(stored_deps)):
        if name in sent_deps and name in stored_deps:
            if sent_deps[name] != stored_deps[name]:
                found[f"dependencies.{name}"] = {"sent": "another spec", "stored": "stored one"}
        elif both_full:
            side = "sent" if name in sent_deps else "stored"
            found[f"dependencies.{name}"] = {"sent": side == "sent", "stored": side == "stored"}
    return found


def _check_conflicts(
    conn: Connection, graph: Any, matched: dict[str, int], spack_version: str
) -> None:
    """Refuse (409) a document whose nodes disagree with the stored specs they resolve to."""
    ids = sorted(set(matched.values()))
    rows: dict[int, Any] = {}
    stored_deps: dict[int, dict[str, int]] = {}
    child = specs.alias("child")
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows.update((r.id, r) for r in conn.execute(select(specs).where(specs.c.id.in_(chunk))))
        for r in conn.execute(
            select(dependencies.c.spec_id, dependencies.c.dependency_id, child.c.name)
            .join(child, child.c.id == dependencies.c.dependency_id)
            .where(dependencies.c.spec_id.in_(chunk))
        ):
            stored_deps.setdefault(r.spec_id, {})[r.name] = r.dependency_id
    sent_deps: dict[str, dict[str, int | None]] = {}
    for e in graph.edges:
        if e.parent in matched:
            sent_deps.setdefault(e.parent, {})[graph.nodes[e.child].name] = matched.get(e.child)
    conflicts = []
    for key, spec_id in matched.items():
        node = graph.nodes[key]
        fields = _node_conflicts(
            node, rows[spec_id], sent_deps.get(key, {}), stored_deps.get(spec_id, {})
        )
        if fields:
            conflicts.append((node, spec_id, fields))
    if not conflicts:
        return
    parts = [
        f"{node.name} {rows[spec_id].full_hash} ({', '.join(fields)})"
        for node, spec_id, fields in conflicts[:5]
    ]
    more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
    raise RequestError(
        409,
        f"The spec document disagrees with what is stored for the same hash under Spack "
        f"{spack_version}: {'; '.join(parts)}{more}. Nothing was stored; data.conflicts shows "
        "what is stored.",
        data={
            "conflicts": [
                {**_stored_summary(conn, spec_id), "fields": fields}
                for _node, spec_id, fields in conflicts[:20]
            ]
        },
    )


def import_graph(conn: Connection, graph: Any, spack_version: str) -> tuple[int, bool, dict]:
    """Store every node and edge of ``graph`` (deduplicating nodes already stored).

    A node is already stored when a spec of the same name and Spack version carries any of its
    hashes (see :func:`_match_stored`): documents of one spec that carry different hash keys
    (a monitor upload with ``full_hash``, an installed ``spec.json`` with only ``hash``) resolve
    to one row. Returns ``(root spec id, root created?, {key: spec id})``.
    """
    now = utcnow()
    nodes = list(graph.nodes.values())
    hashes = list({h for n in nodes for h in _node_hashes(n)})
    stored: dict[str, list[Any]] = {}
    seen_ids: set[int] = set()
    cols = (specs.c.full_hash, specs.c.hash, specs.c.build_hash, specs.c.dag_hash)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        for r in conn.execute(
            select(
                specs.c.id,
                specs.c.name,
                specs.c.full_hash,
                specs.c.hash,
                specs.c.build_hash,
                specs.c.dag_hash,
            )
            .where(specs.c.spack_version == spack_version, or_(*(c.in_(chunk) for c in cols)))
            .order_by(specs.c.id)
        ):
            if r.id not in seen_ids:
                seen_ids.add(r.id)
                stored.setdefault(r.name, []).append(r)
    existing: dict[tuple[str, str], int] = {}
    for node in nodes:
        match = _match_stored(node, stored.get(node.name, []))
        if match is not None:
            existing[(node.name, node.full_hash)] = match
    matched = {
        n.key: existing[(n.name, n.full_hash)] for n in nodes if (n.name, n.full_hash) in existing
    }
    if matched:  # a document must agree with what is stored for the specs it names (409)
        _check_conflicts(conn, graph, matched, spack_version)
    roots = set(graph.roots)
    ids: dict[str, int] = {}
    memo: dict = {}
    created_keys: set[str] = set()
    for node in nodes:
        ident = (node.name, node.full_hash)
        if ident in existing:
            ids[node.key] = existing[ident]
            continue
        hashes_of = dict(getattr(node, "hashes", {}) or {})
        values = dict(
            name=node.name,
            version=str(node.version or ""),
            full_hash=node.full_hash,
            hash=hashes_of.get("hash"),
            build_hash=hashes_of.get("build_hash"),
            dag_hash=node.dag_hash,
            package_hash=hashes_of.get("package_hash"),
            spack_version=spack_version,
            namespace=node.namespace,
            compiler_name=node.compiler_name,
            compiler_version=node.compiler_version,
            platform=node.platform,
            os=node.os,
            target=node.target,
            parameters=dict(node.parameters or {}),
            external=bool(node.external),
            external_path=getattr(node, "external_path", None),
            is_root=node.key in roots,
            created_at=now,
        )
        check_lengths(specs, values, f"spec node {node.name[:60]!r}")
        compiler_id = None
        if node.compiler_name:
            compiler_id = _get_or_create(
                conn,
                compilers,
                {"name": node.compiler_name, "version": node.compiler_version or ""},
                memo=memo,
            )
        arch_id = None
        if node.platform or node.os or node.target:
            target_id = _get_or_create(
                conn,
                targets,
                {"name": node.target or "", "vendor": "", "generation": 0},
                {"features": [], "parents": []},
                memo=memo,
            )
            arch_id = _get_or_create(
                conn,
                architectures,
                {"platform": node.platform or "", "os": node.os or "", "target_id": target_id},
                memo=memo,
            )
        values.update(compiler_id=compiler_id, architecture_id=arch_id)
        new_id = run_prepared(conn, _INS_SPEC, {"b_" + k: v for k, v in values.items()})[0][0]
        existing[ident] = new_id
        ids[node.key] = new_id
        created_keys.add(node.key)
    root_ids = [ids[k] for k in graph.roots if k not in created_keys]
    if root_ids:
        conn.execute(update(specs).where(specs.c.id.in_(root_ids)).values(is_root=True))
    # edges
    parent_ids = list({ids[e.parent] for e in graph.edges})
    have: set[tuple[int, int]] = set()
    for start in range(0, len(parent_ids), 500):
        parents = parent_ids[start : start + 500]
        have.update(
            (r.spec_id, r.dependency_id)
            for r in conn.execute(
                select(dependencies.c.spec_id, dependencies.c.dependency_id).where(
                    dependencies.c.spec_id.in_(parents)
                )
            )
        )
    new_edges = []
    for e in graph.edges:
        if e.parent in matched:  # a stored spec keeps the edges it was stored with
            continue
        pair = (ids[e.parent], ids[e.child])
        if pair in have:
            continue
        have.add(pair)
        new_edges.append(
            {
                "spec_id": pair[0],
                "dependency_id": pair[1],
                "deptypes": list(e.deptypes or ()),
                "virtuals": list(e.virtuals or ()),
            }
        )
    run_prepared_many(conn, _INS_EDGE, new_edges)
    root_key = graph.roots[0] if graph.roots else next(iter(graph.nodes))
    return ids[root_key], root_key in created_keys, ids


def _spack_version(body: dict) -> str:
    version = body.get("spack_version")
    if not isinstance(version, str) or not version.strip():
        raise RequestError(400, "A spack_version string is required")
    version = version.strip()
    check_lengths(specs, {"spack_version": version}, "The request")
    return version


def new_spec(conn: Connection, body: Any) -> tuple[int, dict]:
    """``POST specs/new``: returns (status 201|200, data)."""
    body = _require_dict(body)
    spack_version = _spack_version(body)
    if "spec" not in body or body["spec"] in (None, "", {}, []):
        raise RequestError(400, "A spec is required: the body needs a 'spec' object.")
    graph = _load_graph(body["spec"])
    root_id, created, _ = import_graph(conn, graph, spack_version)
    # the answer shows what is stored (for an existing spec: the first upload's values)
    data = {"spec": _stored_summary(conn, root_id), "created": created}
    return (201 if created else 200), data


# ---------------------------------------------------------------------------------------------
# builds


def resolve_spec(conn: Connection, full_hash: str, spack_version: str) -> Any:
    """The stored spec carrying ``full_hash`` under any hash key, for ``spack_version``."""
    rows = run_prepared(conn, _SEL_SPEC, {"b_version": spack_version, "b_hash": full_hash})
    return _SpecRow(*rows[0]) if rows else None


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        raise RequestError(
            400, f"tags must be a comma-separated string, got {type(value).__name__}."
        )
    return list(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))


def _merge_tags(conn: Connection, build_id: int, stored: Any, tags: list[str]) -> None:
    """Add the ``tags`` an existing build does not carry yet (stored ones keep their order)."""
    if isinstance(stored, (str, bytes)):
        stored = json.loads(stored)
    have = list(stored or [])
    merged = have + [t for t in dict.fromkeys(tags) if t not in have]
    if merged != have:
        conn.execute(
            update(builds).where(builds.c.id == build_id).values(tags=merged, updated_at=utcnow())
        )


def new_build(conn: Connection, body: Any, caller_id: int) -> tuple[int, dict]:
    """``POST builds/new``: get or create the build of a spec in a build environment.

    ``tags`` sent for an existing build are added to its tags (as the reference server does)
    when the caller owns the build; another user's tags leave it as it is, as a status update
    from them would.
    """
    body = _require_dict(body)
    fields = (*ENV_FIELDS, "spack_version", "full_hash")
    if any(not isinstance(body.get(f), str) or not body.get(f).strip() for f in fields):
        bad = [f for f in fields if not isinstance(body.get(f), str) or not body.get(f).strip()]
        raise RequestError(
            400,
            f"Missing required build environment data. (missing or not a string: {', '.join(bad)})",
        )
    tags = _tags(body.get("tags"))
    run_time = parse_run_time(body)
    spack_version = body["spack_version"].strip()
    full_hash = body["full_hash"].strip()
    check_lengths(
        build_environments, {f: body[f].strip() for f in ENV_FIELDS}, "The build environment"
    )
    check_lengths(builds, {"spack_version": spack_version}, "The build")
    if body.get("spec") not in (None, "", {}):
        import_graph(conn, _load_graph(body["spec"]), spack_version)
    spec = resolve_spec(conn, full_hash, spack_version)
    if spec is None:
        raise RequestError(
            400,
            f"The spec with full hash {full_hash} and spack version {spack_version} does not exist.",
        )
    env_key = {f: body[f].strip() for f in ENV_FIELDS}
    env_params = {"b_" + k: v for k, v in env_key.items()}
    found = run_prepared(conn, _SEL_ENV, env_params)
    env_created = not found
    if env_created:
        env_id = run_prepared(conn, _INS_ENV, env_params)[0][0]
        build_id = None
    else:
        env_id = found[0][0]
        found = run_prepared(conn, _SEL_BUILD_BY, {"b_spec": spec.id, "b_env": env_id})
        build_id = found[0][0] if found else None
        if found and tags and found[0][2] == caller_id:
            _merge_tags(conn, found[0][0], found[0][1], tags)
    build_created = build_id is None
    now = utcnow()
    attempt: Attempt | None
    if build_created:
        params = {
            "b_spec": spec.id,
            "b_env": env_id,
            "b_owner": caller_id,
            "b_tags": tags,
            "b_version": spack_version,
            "b_now": now,
        }
        build_id = run_prepared(conn, _INS_BUILD, params)[0][0]
        attempt = open_first_attempt(conn, build_id, run_time, now)
    elif found[0][2] == caller_id:  # another user's request changes nothing of the build
        attempt = attempt_for_builds_new(conn, int(found[0][0]), run_time, now)
    else:
        attempt = None
    data: dict[str, Any] = {
        "build_created": build_created,
        "build_environment_created": env_created,
        "build": {"build_id": build_id, "spec_full_hash": spec.full_hash, "spec_name": spec.name},
    }
    if run_time is not None and attempt is not None:  # only a replay sends run_time
        data["attempt"] = _attempt_answer(conn, attempt)
    return (201 if build_created else 200), data


def update_build(conn: Connection, body: Any, caller_id: int) -> dict:
    """``POST builds/update``: set one build's status (and nothing else)."""
    body = _require_dict(body)
    build_id = _build_id(body, "Missing required build id.")
    status = body.get("status")
    if not isinstance(status, str) or status not in BUILD_STATUSES:
        raise RequestError(400, "Invalid status. Choices are " + ",".join(BUILD_STATUSES))
    run_time = parse_run_time(body)
    row = _get_build(conn, build_id, caller_id)
    now = utcnow()
    attempt = attempt_for_write(conn, row, run_time, now, status=status)
    record_attempt_status(conn, build_id, attempt, status, now)
    return {"build": _build_summary(row)}


def _line_no(value: int | None) -> int | None:
    """A source line number the database can hold (a log may say ``a.c:99999999999999999999:``)."""
    if value is None or not 0 <= value <= INT32_MAX:
        return None
    return value


def _event_rows(text: str, build_id: int, phase_id: int) -> list[dict]:
    """The event rows of a phase output: at most ``logs.DEFAULT_MAX_EVENTS`` distinct events of
    each kind, then, per capped kind, one row of that kind saying how many lines were left out
    (text ``"[spackmon] N more ... not stored ..."``, ``repeat_count`` N, no line number)."""
    from ..logs import parse_log, stored_event

    events = parse_log(text)
    rows = []
    for ev in events:  # the record's stored fields (logs.stored_event), placed in the build
        row = stored_event(ev)
        row.update(build_id=build_id, phase_id=phase_id)
        row["source_line_no"] = _line_no(ev.source_line_no)
        rows.append(row)
    for kind, n in sorted(events.dropped.items()):
        rows.append(
            {
                "kind": kind,
                "build_id": build_id,
                "phase_id": phase_id,
                "text": (
                    f"[spackmon] {n} more {kind} line(s) of this phase were not stored: at most "
                    f"{events.max_events} distinct {kind}s are kept per phase"
                ),
                "line_no": None,
                "source_file": None,
                "source_line_no": None,
                "pre_context": [],
                "post_context": [],
                "repeat_count": n,
                "classes": [],
            }
        )
    return rows


def update_phase(conn: Connection, body: Any, caller_id: int) -> dict:
    """``POST builds/phases/update``: upsert a phase and re-derive its errors and warnings."""
    body = _require_dict(body)
    build_id = _build_id(body, "Missing required build_id.")
    name, status = body.get("phase_name"), body.get("status")
    if not name or not status:
        raise RequestError(400, "phase_name, and status are required.")
    if not isinstance(name, str):
        raise RequestError(400, f"phase_name must be a string, got {type(name).__name__}.")
    if not isinstance(status, str) or status not in PHASE_STATUSES:
        raise RequestError(
            400, f"Invalid phase status {status!r}. Choices are {','.join(PHASE_STATUSES)}"
        )
    check_lengths(build_phases, {"name": name}, "The phase")
    output = body.get("output")
    if output is not None and not isinstance(output, str):
        raise RequestError(400, f"output must be a string or null, got {type(output).__name__}.")
    run_time = parse_run_time(body)
    row = _get_build(conn, build_id, caller_id)
    now = utcnow()
    attempt = attempt_for_write(conn, row, run_time, now, phase=(name, status, output))
    found = run_prepared(conn, _SEL_PHASE, {"b_attempt": attempt.id, "b_name": name})
    phase_id = found[0][0] if found else None
    run_prepared(conn, _TOUCH_ATTEMPT, {"b_attempt": attempt.id, "b_now": now})
    if phase_id is None:
        phase_id = run_prepared(
            conn,
            _INS_PHASE,
            {
                "b_id": build_id,
                "b_attempt": attempt.id,
                "b_name": name,
                "b_status": status,
                "b_output": output,
                "b_now": now,
            },
        )[0][0]
    else:
        run_prepared(
            conn,
            _UPD_PHASE,
            {"b_pid": phase_id, "b_status": status, "b_output": output, "b_now": now},
        )
        run_prepared(conn, _DEL_EVENTS, {"b_pid": phase_id})
    if output:
        run_prepared_many(conn, _INS_EVENT, _event_rows(output, build_id, phase_id))
    return {"build_phase": {"id": phase_id, "status": status, "name": name}}


# ---------------------------------------------------------------------------------------------
# attempts: the one place that decides which attempt of a build a write belongs to
# (docs/server.md, "Attempts"); every write path (the ms1 endpoints, a batch of them) calls
# attempt_for_builds_new / open_first_attempt for builds/new and attempt_for_write for a phase
# or status, then record_attempt_status for a status.


class Attempt(NamedTuple):
    """An attempt a write goes to: its row id, whether it is its build's latest, whether this
    write created it."""

    id: int
    latest: bool
    created: bool = False


#: Statuses after which an attempt has done something (with any phase): "activity".
_IDLE_STATUS = "NOTRUN"


def parse_run_time(body: dict) -> datetime | None:
    """The optional ``run_time`` of a write body (a replay sends the date of the save-local run
    the write comes from): an ISO 8601 time, UTC when it names no offset, as naive UTC; None
    when absent. A value that is not such a time is a 400 naming the field."""
    value = body.get("run_time")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise RequestError(
            400,
            f"run_time must be an ISO 8601 time such as 2026-11-28T06:00:00Z, got {_short(value)}.",
        )
    text = value.strip()
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise RequestError(
            400,
            f"run_time must be an ISO 8601 time such as 2026-11-28T06:00:00Z, got {_short(value)}.",
        ) from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


def _settle(conn: Connection, build_id: int) -> dict[int, tuple[int, bool]]:
    """Number the attempts of ``build_id`` by ``started_at`` (then id), mark the last one latest
    and show its status on the build row -> attempt id -> (number, latest)."""
    rows = run_prepared(conn, _SEL_ATTEMPTS, {"b_id": build_id})
    placed: dict[int, tuple[int, bool]] = {}
    for number, (attempt_id, stored_number, stored_latest, _status) in enumerate(rows, start=1):
        latest = number == len(rows)
        placed[attempt_id] = (number, latest)
        if (stored_number, bool(stored_latest)) != (number, latest):
            run_prepared(
                conn,
                _UPD_ATTEMPT_PLACE,
                {"b_attempt": attempt_id, "b_number": number, "b_latest": latest},
            )
    if rows:
        run_prepared(conn, _UPD_BUILD_STATUS, {"b_id": build_id, "b_status": rows[-1][3]})
    return placed


def _as_datetime(value: datetime | str) -> datetime:
    """A time read raw from the database (SQLite's driver gives the stored text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _lock_build(conn: Connection, build_id: int) -> Any:
    """Lock the build's row until the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite's
    writes are serialised already), so that two servers writing to one build number and
    open its attempts one after the other -> the build's ``reopened_at`` as it is now (as the
    driver gives it: SQLite's stored text, see :func:`_as_datetime`)."""
    rows = run_prepared(conn, _LOCK_BUILD, {"b_id": build_id})
    return rows[0][0] if rows else None


def _new_attempt(
    conn: Connection,
    build_id: int,
    started: datetime | str,
    run_time: datetime | None,
    now: datetime,
) -> Attempt:
    started = _as_datetime(started)
    _lock_build(conn, build_id)
    params = {
        "b_id": build_id,
        "b_status": _IDLE_STATUS,
        "b_run": run_time,
        "b_started": started,
        "b_now": now,
    }
    attempt_id = run_prepared(conn, _INS_ATTEMPT, params)[0][0]
    return Attempt(attempt_id, _settle(conn, build_id)[attempt_id][1], True)


def open_first_attempt(
    conn: Connection, build_id: int, run_time: datetime | None, now: datetime
) -> Attempt:
    """The first attempt of a build ``builds/new`` just created: started now, or at the run's
    date when a replay sent one (number 1, latest; the build's status is NOTRUN already)."""
    params = {"b_id": build_id, "b_run": run_time, "b_started": run_time or now, "b_now": now}
    return Attempt(run_prepared(conn, _INS_FIRST_ATTEMPT, params)[0][0], True, True)


def _run_attempt(conn: Connection, build_id: int, run_time: datetime, now: datetime) -> Attempt:
    """The attempt of the save-local run dated ``run_time`` (created, dated by the run, when the
    build has none yet: the same run replayed again finds its own attempt)."""
    params = {"b_id": build_id, "b_run": run_time}
    found = run_prepared(conn, _SEL_RUN_ATTEMPT, params)
    if not found:  # looked for again under the build's lock (another server may be adding it)
        _lock_build(conn, build_id)
        found = run_prepared(conn, _SEL_RUN_ATTEMPT, params)
    if found:
        return Attempt(found[0][0], bool(found[0][1]))
    return _new_attempt(conn, build_id, run_time, run_time, now)


def attempt_for_builds_new(
    conn: Connection, build_id: int, run_time: datetime | None, now: datetime
) -> Attempt | None:
    """``builds/new`` of an existing build: with a ``run_time`` (a replay), the attempt of that
    run; else the build is marked *reopened* (a new try of the package may be starting) and
    None is returned: the next phase or status decides (:func:`attempt_for_write`)."""
    if run_time is not None:
        return _run_attempt(conn, build_id, run_time, now)
    run_prepared(conn, _UPD_REOPENED, {"b_id": build_id, "b_when": now})
    return None


def _has_activity(conn: Connection, attempt_id: int, status: str | None) -> bool:
    if status not in (None, _IDLE_STATUS):
        return True
    return bool(run_prepared(conn, _SEL_ANY_PHASE, {"b_attempt": attempt_id}))


def _is_repeat(
    conn: Connection,
    attempt_id: int,
    attempt_status: str | None,
    phase: tuple[str, str, str | None] | None,
    status: str | None,
) -> bool:
    """Whether a write repeats what the attempt already holds: the same phase with the same
    status and output, or the same status (a replay of the same files, a retried request)."""
    if phase is not None:
        name, phase_status, output = phase
        stored = run_prepared(conn, _SEL_PHASE_STATE, {"b_attempt": attempt_id, "b_name": name})
        return bool(stored) and tuple(stored[0]) == (phase_status, output)
    return status is not None and status == attempt_status


def attempt_for_write(
    conn: Connection,
    row: Any,
    run_time: datetime | None,
    now: datetime,
    *,
    phase: tuple[str, str, str | None] | None = None,
    status: str | None = None,
) -> Attempt:
    """The attempt a phase (``phase`` = name, status, output) or status write of the build
    ``row`` (from :func:`_get_build`) belongs to -- the rule of docs/server.md, "Attempts":

    * with a ``run_time`` (a replay): the attempt of that run, created if needed;
    * else the build's latest attempt, except after a ``builds/new`` (the build is reopened):
      then, when the latest attempt has done something (a phase, or a status other than
      NOTRUN) and this write does not repeat what it holds, a new attempt opens, dated by that
      ``builds/new``. Either way the reopening is used up by this write.
    """
    if run_time is not None:
        return _run_attempt(conn, row.id, run_time, now)
    if row.attempt_id is None:  # no attempt at all (not made by this server): the first
        return _new_attempt(conn, row.id, row.reopened_at or now, None, now)
    if row.reopened_at is None:
        return Attempt(row.attempt_id, True)
    reopened = _lock_build(conn, row.id)
    if reopened is None:  # another write used the reopening up meanwhile
        latest = run_prepared(conn, _SEL_LATEST_ATTEMPT, {"b_id": row.id})
        if len(latest) != 1:
            raise RuntimeError(f"build {row.id} has {len(latest)} latest attempts")
        return Attempt(latest[0][0], True)
    run_prepared(conn, _UPD_REOPENED, {"b_id": row.id, "b_when": None})
    if _has_activity(conn, row.attempt_id, row.attempt_status) and not _is_repeat(
        conn, row.attempt_id, row.attempt_status, phase, status
    ):
        return _new_attempt(conn, row.id, reopened, None, now)
    return Attempt(row.attempt_id, True)


def record_attempt_status(
    conn: Connection, build_id: int, attempt: Attempt, status: str, now: datetime
) -> None:
    """Set ``attempt``'s status; the build row shows it when the attempt is its latest."""
    run_prepared(
        conn, _UPD_ATTEMPT_STATUS, {"b_attempt": attempt.id, "b_status": status, "b_now": now}
    )
    if attempt.latest:
        run_prepared(conn, _UPD_STATUS, {"b_id": build_id, "b_status": status, "b_now": now})


def _attempt_answer(conn: Connection, attempt: Attempt) -> dict:
    number = run_prepared(conn, _SEL_ATTEMPT_NUMBER, {"b_attempt": attempt.id})[0][0]
    return {
        "id": attempt.id,
        "number": number,
        "created": attempt.created,
        "latest": attempt.latest,
    }


# ---------------------------------------------------------------------------------------------
# analyze


def _install_prefix(paths: list[str]) -> str | None:
    for p in paths:
        marker = p.find("/.spack/")
        if marker > 0:
            return p[:marker]
    if not paths:
        return None
    try:
        common = os.path.commonpath(paths)
    except ValueError:
        return None
    if len(paths) == 1:
        common = os.path.dirname(common)
    return common or None


def _relative(path: str, prefix: str | None) -> str:
    if prefix and (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
        rel = path[len(prefix) :].lstrip("/")
        return rel or "."
    return path


def _as_int(value: Any, what: str) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        return None
    if not INT64_MIN <= value <= INT64_MAX:
        raise RequestError(400, f"{what} must be an integer within 64 bits, got {_short(value)}.")
    return value


def analyze_build(conn: Connection, body: Any, caller_id: int) -> dict:
    """``POST analyze/builds``: config args, environment variables, install files, analyzer results.

    Each metadata key that is sent replaces what the build had for that key.
    """
    body = _require_dict(body)
    build_id = _build_id(body, "Missing required build id.")
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise RequestError(400, "metadata is required and must be a JSON object.")
    row = _get_build(conn, build_id, caller_id)
    prefix: str | None = None
    if "install_files" in metadata:
        files = metadata["install_files"]
        if not isinstance(files, dict):
            raise RequestError(400, "metadata.install_files must be an object {path: {...}}.")
        prefix = _install_prefix(list(files))
        conn.execute(delete(install_files).where(install_files.c.build_id == build_id))
        rows = []
        for path, info in files.items():
            where = f"metadata.install_files[{_short(path)}]"
            if not isinstance(info, dict):
                raise RequestError(400, f"{where} must be an object.")
            extra = {
                k: v
                for k, v in info.items()
                if k not in ("type", "mode", "owner", "group", "hash", "size", "time")
            }
            ftype = info.get("type")
            file_row = {
                "build_id": build_id,
                "path": _relative(path, prefix),
                "prefix": prefix,
                "ftype": None if ftype is None else str(ftype),
                "mode": _as_int(info.get("mode"), f"{where}.mode"),
                "owner": _as_int(info.get("owner"), f"{where}.owner"),
                "group": _as_int(info.get("group"), f"{where}.group"),
                "hash": info.get("hash") if isinstance(info.get("hash"), str) else None,
                "size": _as_int(info.get("size"), f"{where}.size"),
                "time": None if info.get("time") is None else str(info.get("time")),
                "extra": extra,
            }
            check_lengths(install_files, file_row, where)
            rows.append(file_row)
        if rows:
            conn.execute(install_files.insert(), rows)
    else:
        prefix = conn.execute(
            select(install_files.c.prefix).where(install_files.c.build_id == build_id).limit(1)
        ).scalar()
    if "config_args" in metadata:
        args = metadata["config_args"]
        if args is not None and not isinstance(args, str):
            raise RequestError(400, "metadata.config_args must be a string.")
        conn.execute(update(builds).where(builds.c.id == build_id).values(config_args=args))
    if "environment_variables" in metadata:
        env = metadata["environment_variables"]
        if not isinstance(env, dict):
            raise RequestError(
                400, "metadata.environment_variables must be an object {NAME: value}."
            )
        conn.execute(
            delete(environment_variables).where(environment_variables.c.build_id == build_id)
        )
        rows = [
            {"build_id": build_id, "name": str(k), "value": "" if v is None else str(v)}
            for k, v in env.items()
        ]
        if rows:
            conn.execute(environment_variables.insert(), rows)
    for analyzer, results in metadata.items():
        if analyzer in ("install_files", "config_args", "environment_variables"):
            continue
        if not isinstance(results, list):
            raise RequestError(400, f"metadata.{analyzer} must be a list of results.")
        check_lengths(attributes, {"analyzer": analyzer}, "metadata")
        conn.execute(
            delete(attributes).where(
                attributes.c.build_id == build_id, attributes.c.analyzer == analyzer
            )
        )
        rows = []
        for i, item in enumerate(results):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise RequestError(
                    400, f"metadata.{analyzer}[{i}] must be an object with a 'name' string."
                )
            value, json_value, binary = (
                item.get("value"),
                item.get("json_value"),
                item.get("binary_value"),
            )
            if isinstance(json_value, str):
                where = f"metadata.{analyzer}[{i}].json_value"
                json_value = decode_json(json_value, what=where, field=where)
            ifile = item.get("install_file")
            rows.append(
                {
                    "build_id": build_id,
                    "analyzer": analyzer,
                    "name": item["name"],
                    "install_file": _relative(ifile, prefix) if isinstance(ifile, str) else None,
                    "value": None
                    if value is None
                    else (value if isinstance(value, str) else str(value)),
                    "json_value": json_value,
                    "binary_value": binary.encode("latin-1", "replace")
                    if isinstance(binary, str)
                    else None,
                }
            )
        if rows:
            conn.execute(attributes.insert(), rows)
    return {"build": _build_summary(row)}
