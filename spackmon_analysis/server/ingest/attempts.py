"""Which attempt of a build a write belongs to: the one place of that rule (docs/server.md,
"Attempts").

Every write path (the ms1 endpoints, a batch of them) calls :func:`open_first_attempt` /
:func:`attempt_for_builds_new` for ``builds/new`` and :func:`attempt_for_write` for a phase or
status, then :func:`record_attempt_status` for a status.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, select, true, update

from ..tables import build_attempts, build_phases, builds, run_prepared
from ..validate import RequestError
from .fields import _short

__all__ = [
    "Attempt",
    "parse_run_time",
    "open_first_attempt",
    "attempt_for_builds_new",
    "attempt_for_write",
    "record_attempt_status",
]

# Statements of the hot path, built once (fields.py says why and how a build's row is locked).
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
# (a phase write touches its attempt's updated_at: phases.update_phase)
_TOUCH_ATTEMPT = (
    update(build_attempts)
    .where(build_attempts.c.id == bindparam("b_attempt"))
    .values(updated_at=bindparam("b_now"))
)
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
