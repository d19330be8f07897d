"""``POST builds/phases/update``: a phase of a build's attempt upserted with its output, and the
errors and warnings of that output (``logs.parse_log``) stored as its event rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from ..tables import (
    build_events,
    build_phases,
    run_prepared,
    run_prepared_many,
    utcnow,
)
from ..validate import RequestError, check_lengths
from .attempts import _TOUCH_ATTEMPT, attempt_for_write, parse_run_time
from .fields import INT32_MAX, _build_id, _get_build, _require_dict

__all__ = ["PHASE_STATUSES", "update_phase"]

#: Statuses a phase may carry (Spack sends SUCCESS or ERROR).
PHASE_STATUSES = ("SUCCESS", "ERROR", "FAILED", "CANCELLED", "NOTRUN", "RUNNING")


# Statements of the hot path, built once (fields.py says why and how a build's row is locked).
_SEL_PHASE = select(build_phases.c.id).where(
    build_phases.c.attempt_id == bindparam("b_attempt"), build_phases.c.name == bindparam("b_name")
)
_UPD_PHASE = (
    update(build_phases)
    .where(build_phases.c.id == bindparam("b_pid"))
    .values(
        status=bindparam("b_status"), output=bindparam("b_output"), updated_at=bindparam("b_now")
    )
)
_DEL_EVENTS = delete(build_events).where(build_events.c.phase_id == bindparam("b_pid"))
#: The columns of an event row (``logs.stored_event`` plus the build and phase ids).
_EVENT_COLUMNS = tuple(c.name for c in build_events.columns if c.name != "id")
_INS_EVENT = build_events.insert().values(
    {name: bindparam(name, type_=build_events.c[name].type) for name in _EVENT_COLUMNS}
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


def _line_no(value: int | None) -> int | None:
    """A source line number the database can hold (a log may say ``a.c:99999999999999999999:``)."""
    if value is None or not 0 <= value <= INT32_MAX:
        return None
    return value


def _event_rows(text: str, build_id: int, phase_id: int) -> list[dict]:
    """The event rows of a phase output: at most ``logs.DEFAULT_MAX_EVENTS`` distinct events of
    each kind, then, per capped kind, one row of that kind saying how many lines were left out
    (text ``"[spackmon] N more ... not stored ..."``, ``repeat_count`` N, no line number)."""
    from ...logs import parse_log, stored_event

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
