"""``POST builds/new`` (get or create the build of a spec in a build environment, its tags) and
``POST builds/update`` (a build's status); which attempt each goes to is :mod:`.attempts`'s."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, case, or_, select, update

from ...records import BUILD_STATUSES, ENVIRONMENT_FIELDS
from ..tables import build_environments, builds, run_prepared, specs, utcnow
from ..validate import RequestError, check_lengths
from .attempts import (
    Attempt,
    _attempt_answer,
    attempt_for_builds_new,
    attempt_for_write,
    open_first_attempt,
    parse_run_time,
    record_attempt_status,
)
from .fields import _build_id, _build_summary, _get_build, _require_dict
from .specdocs import _load_graph, import_graph

# BUILD_STATUSES (the statuses a build may be set to, PROTOCOL section 2) and the build
# environment's fields are records.py's, shared with the client and the loaders
__all__ = ["BUILD_STATUSES", "new_build", "update_build", "resolve_spec"]

# Statements of the hot path, built once (fields.py says why and how a build's row is locked).
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
    *(build_environments.c[f] == bindparam("b_" + f) for f in ENVIRONMENT_FIELDS)
)
_SEL_BUILD_BY = (
    select(builds.c.id, builds.c.tags, builds.c.owner_id)
    .where(
        builds.c.spec_id == bindparam("b_spec"),
        builds.c.build_environment_id == bindparam("b_env"),
    )
    .with_for_update()
)
_INS_ENV = (
    build_environments.insert()
    .values(**{f: bindparam("b_" + f) for f in ENVIRONMENT_FIELDS})
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
    fields = (*ENVIRONMENT_FIELDS, "spack_version", "full_hash")
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
        build_environments,
        {f: body[f].strip() for f in ENVIRONMENT_FIELDS},
        "The build environment",
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
    env_key = {f: body[f].strip() for f in ENVIRONMENT_FIELDS}
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
