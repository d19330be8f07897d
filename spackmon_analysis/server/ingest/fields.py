"""What every write of a build shares: its body's fields, and the build it names.

``_require_dict`` (a body must be an object), ``_build_id`` (the ``build_id`` field, any form a
client sends), ``_get_build`` (the build row, locked, with its latest attempt; 404/403),
``_build_summary`` (the ``build`` part of an answer); the integer ranges the database stores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, select, true

from ..tables import build_attempts, builds, run_prepared, specs
from ..validate import RequestError

__all__ = ["INT64_MIN", "INT64_MAX", "INT32_MIN", "INT32_MAX"]


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


class _BuildRow(NamedTuple):
    id: int
    owner_id: int
    full_hash: str
    name: str
    reopened_at: datetime | None
    attempt_id: int | None
    attempt_status: str | None


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
