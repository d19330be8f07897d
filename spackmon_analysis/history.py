"""Questions only a build history answers: is this error new, is this build flaky or broken,
did a phase get slower, what does a failure cost, and is it the machine or the package?

Everything here reads the history frames of a :class:`~spackmon_analysis.frames.MonitorData`
(``attempts``, ``attempt_phases``, ``attempt_events``): every attempt of every build, from any
source. Save-local runs give one attempt per build per run (several runs of the same spec are
several attempts, dated by the run); an install tree, a JUnit or CDash report one attempt per
package; a server that keeps every attempt all of them. See ``docs/analysis.md``, "Build
history", for the rules written out.

Two groupings are used:

* the **build key** (:data:`BUILD_KEY`): package, version, variants, compiler, target and OS,
  the same build of a package whatever its dependencies were. New / recurring / fixed errors,
  slower phases and failure costs are per build key.
* the **same inputs** (:data:`SAME_INPUTS`): the spec hash (every input, dependencies
  included) and the build environment. An outcome that changes with the same inputs is flaky;
  flakiness is scored per same inputs.

Only attempts that ran are compared (outcome ``succeeded`` or ``failed``, or an attempt with
phases): a dependent that never built says nothing about its own errors or times. Attempts
are ordered by ``started_at``, then attempt ``number``, then key, so the history of a set of
runs does not depend on the order they were loaded or replayed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ConfigError
from .logs import UNCLASSIFIED, Rules, load_rules

if TYPE_CHECKING:
    from .frames import MonitorData

__all__ = [
    "trend_groups",
    "BUILD_KEY",
    "SAME_INPUTS",
    "attempt_table",
    "timeline",
    "busiest_keys",
    "error_history",
    "flaky_builds",
    "outcome_changes",
    "slow_phases",
    "failure_trends",
    "failure_cost",
    "failure_groups",
]

#: The columns of :func:`attempt_table` that name a build key (package, version, variants,
#: compiler, target, OS): the "same build" whose history is compared.
BUILD_KEY = ("spec_name", "spec_version", "variants", "compiler", "target", "os")
#: The columns that say two attempts had the same inputs: the spec hash and the build
#: environment (:data:`spackmon_analysis.failures.FLAKY_ENVIRONMENT`).
SAME_INPUTS = ("full_hash", "host_os", "platform", "host_target", "spack_version")

_RAN = ("succeeded", "failed")
_BUILD_COLUMNS = (
    "run",
    "full_hash",
    "dag_hash",
    "spec_name",
    "spec_version",
    "compiler",
    "host_os",
    "platform",
    "host_target",
    "spack_version",
    "tags",
    "source",
)
_MISSING = "<NA>"


# ---------------------------------------------------------------------------------
# the attempts, with their build key


def _check(data: Any, where: str) -> None:
    from .frames import MonitorData

    if not isinstance(data, MonitorData):
        raise ConfigError(
            f"{where}: data must be a MonitorData (from load, load_save_local, "
            f"MonitorData.from_client...), not {type(data).__name__}"
        )


def _text(value: Any) -> str:
    return _MISSING if value is None or value is pd.NA or value != value else str(value)


#: Inside :func:`one_attempt_table`: ``id(data)`` -> (data, its attempt table).
_TABLES: ContextVar[dict[int, tuple[Any, pd.DataFrame]] | None] = ContextVar(
    "_attempt_tables", default=None
)


@contextmanager
def one_attempt_table() -> Iterator[None]:
    """Inside this block :func:`attempt_table` works out the table of a ``MonitorData`` once
    and hands out shallow copies of it (the history questions each start from it: a report or
    the explorer asks a dozen of them of the same data). Leave the data unchanged inside."""
    token = _TABLES.set({}) if _TABLES.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _TABLES.reset(token)


def attempt_table(data: MonitorData) -> pd.DataFrame:
    """One row per attempt, with its build's columns and its build key.

    Columns: ``attempt``, ``build``, ``number``, ``started_at``, ``finished_at``, ``status``,
    ``outcome``, ``duration``, ``latest`` (from ``data.attempts``), the build's ``run``,
    ``full_hash``, ``dag_hash``, ``spec_name``, ``spec_version``, ``compiler``, ``host_os``,
    ``platform``, ``host_target``, ``spack_version``, ``tags``, ``source``, the spec's
    ``variants`` (``specs.variants_text``), ``target`` and ``os`` (the host's when the spec is not in the data),
    ``key`` (the build key as one label, ``name@version variants %compiler arch=os-target``),
    ``ran`` (outcome succeeded/failed, or phases recorded) and ``seq`` (1-based position in
    its build key's history). Rows are in history order (time, number, attempt).
    """
    memo = _TABLES.get()
    if memo is None:
        return _attempt_table(data)
    seen = memo.get(id(data))
    if seen is None or seen[0] is not data:
        seen = memo[id(data)] = (data, _attempt_table(data))
    return seen[1].copy(deep=False)


def _attempt_table(data: MonitorData) -> pd.DataFrame:
    _check(data, "attempt_table")
    attempts = data.attempts
    builds = data.builds.set_index("build")
    table = attempts.copy()
    idx = attempts["build"].astype(object)
    for column in _BUILD_COLUMNS:
        values = builds[column].reindex(idx)
        table[column] = values.to_numpy(dtype=object) if column == "tags" else values.array
    specs = data.specs.drop_duplicates("full_hash").set_index("full_hash")
    by_hash = table["full_hash"].astype(object)
    table["variants"] = specs["variants_text"].reindex(by_hash).array
    target = specs["target"].astype(object).reindex(by_hash).to_numpy()
    os_name = specs["os"].astype(object).reindex(by_hash).to_numpy()
    host_target = table["host_target"].astype(object).to_numpy()
    host_os = table["host_os"].astype(object).to_numpy()
    table["target"] = np.where(pd.isna(target), host_target, target)
    table["os"] = np.where(pd.isna(os_name), host_os, os_name)
    with_phases = set(data.attempt_phases["attempt"].astype(object))
    outcome = table["outcome"].astype(object)
    table["ran"] = outcome.isin(_RAN).to_numpy() | table["attempt"].isin(with_phases).to_numpy()
    parts = [table[c].astype(object).map(_text) for c in BUILD_KEY]
    name, version, variants, compiler, target_s, os_s = parts
    table["key"] = (
        name
        + "@"
        + version
        + variants.map(lambda v: "" if v in ("", _MISSING) else " " + v)
        + " %"
        + compiler
        + " arch="
        + os_s
        + "-"
        + target_s
    )
    table = table.sort_values(
        ["started_at", "number", "attempt"], kind="stable", na_position="first"
    ).reset_index(drop=True)
    table["seq"] = table.groupby("key", sort=False).cumcount() + 1
    return table


def _first_errors(data: MonitorData) -> pd.DataFrame:
    """Per attempt, the error every view calls its first error (the one rule,
    :func:`spackmon_analysis.spackfacts.first_error_events`), indexed by attempt."""
    from .spackfacts import first_error_events

    events = data.attempt_events.rename(columns={"attempt": "build"})
    phases = data.attempt_phases.rename(columns={"attempt": "build"})
    return first_error_events(events, phases)


def _summary_classes(data: MonitorData, rules: Rules) -> pd.Series:
    """Per attempt with errors, its summary class: the class of highest precedence among
    the error events of its first failed phase (else of the whole attempt). An event's
    ``primary_class`` is its own class of highest precedence, so the summary over them is
    the summary over every class the events carry."""
    events = data.attempt_events
    errors = events[events["kind"].astype(object) == "error"]
    if not len(errors):
        return pd.Series(dtype=object)
    phases = data.attempt_phases
    errored = phases[phases["status"].astype(object) == "ERROR"].sort_values("order")
    first = errored.drop_duplicates("attempt")
    failed = pd.Series(
        first["name"].astype(object).to_numpy(), index=first["attempt"].astype(object).to_numpy()
    )
    attempt = errors["attempt"].astype(object)
    rank = {name: i for i, name in enumerate(rules.precedence)}
    unmatched = len(rank)
    ranked = pd.DataFrame(
        {
            "attempt": attempt.to_numpy(),
            "other_phase": failed.reindex(attempt).to_numpy()
            != errors["phase"].astype(object).to_numpy(),
            "rank": errors["primary_class"].astype(object).map(rank).fillna(unmatched).to_numpy(),
        }
    )
    best = ranked.sort_values(["attempt", "other_phase", "rank"], kind="stable").drop_duplicates(
        "attempt"
    )
    names = [*rules.precedence, UNCLASSIFIED]
    return pd.Series(
        [names[int(r)] for r in best["rank"]], index=best["attempt"].to_numpy(), dtype=object
    )


# ---------------------------------------------------------------------------------
# new, recurring and fixed errors

ERROR_HISTORY_COLUMNS = [
    "key",
    "seq",
    "attempt",
    "status",
    "fingerprint",
    "text",
    "primary_class",
    "phase",
    "started_at",
    "outcome",
    "previous_attempt",
    "first_seen",
    "times_seen",
    "run",
    "build",
    *BUILD_KEY,
]


def error_history(data: MonitorData, kind: str = "error") -> pd.DataFrame:
    """New, recurring and fixed errors of every build key, attempt by attempt.

    Like CDash against the previous build of the same site, name and type: an error of an
    attempt is **new** when the previous attempt of the same build key (package, version,
    variants, compiler, target, OS) that ran had no error with the same fingerprint
    (:func:`spackmon_analysis.logs.fingerprint`: paths, hashes and numbers normalised),
    **recurring** when it had; an error of the previous attempt that the attempt no longer
    has is **fixed** (one row, on the attempt where it disappeared). Every error event counts,
    not only the first: the make lines after a compiler error recur with it and disappear
    with it. The first attempt of a key has only new errors. ``kind="warning"`` does the same
    for warnings.

    Columns :data:`ERROR_HISTORY_COLUMNS`: ``key``, ``seq`` (the attempt's position in the
    key's history), ``attempt``, ``status`` (new/recurring/fixed), ``fingerprint``, ``text``
    (an example line; for a fixed error, from the attempt that had it), ``primary_class``,
    ``phase``, ``started_at``, ``outcome``, ``previous_attempt``, ``first_seen`` (when the
    key first had this fingerprint), ``times_seen`` (attempts of the key that had it, this
    one included; for fixed rows, up to the previous one), ``run``, ``build`` and the build
    key columns. Rows in history order, new before recurring before fixed within an attempt.
    """
    _check(data, "error_history")
    if kind not in ("error", "warning"):
        raise ConfigError(f"error_history: kind={kind!r}; choose 'error' or 'warning'")
    table = attempt_table(data)
    table = table[table["ran"]]
    events = data.attempt_events
    events = events[(events["kind"].astype(object) == kind) & events["fingerprint"].notna()]
    found: dict[str, dict[str, tuple[str, Any, Any]]] = {}
    for attempt, fp, text, cls, phase in zip(
        events["attempt"].astype(object),
        events["fingerprint"].astype(object),
        events["text"].astype(object),
        events["primary_class"].astype(object),
        events["phase"].astype(object),
        strict=True,
    ):
        found.setdefault(attempt, {}).setdefault(fp, (text, cls, phase))
    rows: list[tuple] = []
    previous: dict[str, tuple[str, dict[str, tuple[str, Any, Any]]]] = {}
    seen: dict[tuple[str, str], list[Any]] = {}  # (key, fingerprint) -> [first time, count]
    columns = ["key", "seq", "attempt", "started_at", "outcome", "run", "build", *BUILD_KEY]
    empty: dict[str, tuple[str, Any, Any]] = {}
    for row in zip(*(table[c].astype(object) for c in columns), strict=True):
        key, attempt = row[0], row[2]
        current = found.get(attempt, empty)
        before_attempt, before = previous.get(key, (None, empty))
        previous[key] = (attempt, current)
        if not current and not before:
            continue
        common = (row[1], attempt)
        rest = (row[3], row[4], before_attempt)
        tail = row[5:]
        new_rows: list[tuple] = []
        recurring_rows: list[tuple] = []
        for fp, (text, cls, phase) in current.items():
            record = seen.setdefault((key, fp), [row[3], 0])
            record[1] += 1
            status = "recurring" if fp in before else "new"
            target = recurring_rows if status == "recurring" else new_rows
            target.append(
                (key, *common, status, fp, text, cls, phase, *rest, record[0], record[1], *tail)
            )
        fixed_rows = []
        for fp, (text, cls, phase) in before.items():
            if fp not in current:
                first, count = seen[(key, fp)]
                fixed_rows.append(
                    (key, *common, "fixed", fp, text, cls, phase, *rest, first, count, *tail)
                )
        rows += new_rows + recurring_rows + fixed_rows
    frame = pd.DataFrame(rows, columns=ERROR_HISTORY_COLUMNS)
    frame["seq"] = frame["seq"].astype("Int64")
    frame["times_seen"] = frame["times_seen"].astype("Int64")
    for column in ("started_at", "first_seen"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


# ---------------------------------------------------------------------------------
# flaky builds and changes that stayed

FLAKY_COLUMNS = [
    "spec_name",
    "spec_version",
    "compiler",
    "attempts",
    "failed",
    "succeeded",
    "transitions",
    "flip_rate",
    "passed_on_retry",
    "flaky",
    "last_outcome",
    "first_seen",
    "last_seen",
    "evidence",
    "key",
]


def _same_input_groups(
    data: MonitorData, same: Sequence[str], where: str
) -> tuple[pd.DataFrame, list[str]]:
    table = attempt_table(data)
    same = [same] if isinstance(same, str) else list(same)
    unknown = [c for c in same if c not in table.columns]
    if unknown or not same:
        raise ConfigError(
            f"{where}: same={unknown or same!r} must name attempt_table columns; "
            f"choose from: {', '.join(table.columns)}"
        )
    table = table[table["outcome"].astype(object).isin(_RAN)].copy()
    for column in same:
        table[column] = table[column].astype(object).map(_text)
    return table, same


def flaky_builds(
    data: MonitorData,
    *,
    window: int = 20,
    threshold: float = 0.1,
    min_attempts: int = 3,
    same: Sequence[str] = SAME_INPUTS,
    all_scores: bool = False,
) -> pd.DataFrame:
    """Builds whose outcome flips with the same inputs: flaky.

    Attempts are grouped by ``same`` (:data:`SAME_INPUTS`: the spec hash and the build
    environment), only attempts that ran count (succeeded or failed), and the last ``window``
    of each group are scored, as Buildkite scores a test: ``transitions`` (outcome changes
    between consecutive attempts), ``flip_rate`` = transitions / (attempts - 1), and
    ``passed_on_retry`` (a failure directly followed by a success). A group is **flaky** when
    it has at least ``min_attempts`` attempts, at least two transitions (it went back and
    forth: one change that stayed is :func:`outcome_changes`, "broken since"), and a
    flip rate of at least ``threshold``.

    Columns :data:`FLAKY_COLUMNS` plus the ``same`` columns: ``evidence`` is the scored
    attempts as ``(attempt, started_at, outcome)`` tuples, oldest first; ``key`` the build key
    label. Only flaky groups unless ``all_scores=True``; highest flip rate first.
    """
    _check(data, "flaky_builds")
    if not isinstance(window, int) or window < 2:
        raise ConfigError(f"flaky_builds: window={window!r} must be an integer of at least 2")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"flaky_builds: threshold={threshold!r} must be between 0 and 1")
    table, same = _same_input_groups(data, same, "flaky_builds")
    rows = []
    for values, group in table.groupby(same, sort=True):
        group = group.tail(window)
        outcomes = list(group["outcome"].astype(object))
        n = len(outcomes)
        flips = sum(a != b for a, b in zip(outcomes, outcomes[1:], strict=False))
        retry = sum(
            a == "failed" and b == "succeeded" for a, b in zip(outcomes, outcomes[1:], strict=False)
        )
        rate = flips / (n - 1) if n > 1 else 0.0
        is_flaky = n >= min_attempts and flips >= 2 and rate >= threshold
        if not (is_flaky or all_scores):
            continue
        first = group.iloc[0]
        rows.append(
            {
                "spec_name": first["spec_name"],
                "spec_version": first["spec_version"],
                "compiler": _text(first["compiler"]),
                **dict(zip(same, values if isinstance(values, tuple) else (values,), strict=True)),
                "attempts": n,
                "failed": outcomes.count("failed"),
                "succeeded": outcomes.count("succeeded"),
                "transitions": flips,
                "flip_rate": rate,
                "passed_on_retry": retry,
                "flaky": is_flaky,
                "last_outcome": outcomes[-1],
                "first_seen": group["started_at"].iloc[0],
                "last_seen": group["started_at"].iloc[-1],
                "evidence": list(
                    zip(
                        group["attempt"].astype(object),
                        group["started_at"],
                        outcomes,
                        strict=True,
                    )
                ),
                "key": first["key"],
            }
        )
    columns = FLAKY_COLUMNS[:3] + [c for c in same if c not in FLAKY_COLUMNS] + FLAKY_COLUMNS[3:]
    frame = pd.DataFrame(rows, columns=columns)
    if len(frame):
        frame = frame.sort_values(
            ["flaky", "flip_rate", "spec_name"], ascending=[False, False, True], kind="stable"
        ).reset_index(drop=True)
    return frame


def outcome_changes(
    data: MonitorData,
    *,
    window: int = 20,
    min_stay: int = 3,
    same: Sequence[str] = SAME_INPUTS,
) -> pd.DataFrame:
    """Changes that stayed: "broken since attempt X" and "fixed since attempt X".

    Per group of ``same`` inputs (as :func:`flaky_builds`; pass :data:`BUILD_KEY` to follow a
    package across dependency changes), over its last ``window`` attempts that ran: exactly
    one outcome change, and the new outcome held for at least ``min_stay`` attempts. A group
    that changed more than once in the window is flaky, not changed. Columns:
    ``change`` (``broken``: succeeded -> failed, ``fixed``: failed -> succeeded), ``since``
    (the first attempt with the new outcome), ``since_time``, ``attempts_since``,
    ``attempts_before``, ``last_good`` (broken: the last succeeded attempt; fixed: None),
    the ``same`` columns, ``spec_name``, ``spec_version``, ``compiler``, ``key``.
    """
    _check(data, "outcome_changes")
    if not isinstance(min_stay, int) or min_stay < 1:
        raise ConfigError(f"outcome_changes: min_stay={min_stay!r} must be a positive integer")
    table, same = _same_input_groups(data, same, "outcome_changes")
    rows = []
    for values, group in table.groupby(same, sort=True):
        group = group.tail(window)
        outcomes = list(group["outcome"].astype(object))
        changes = [i for i in range(1, len(outcomes)) if outcomes[i] != outcomes[i - 1]]
        if len(changes) != 1 or len(outcomes) - changes[0] < min_stay:
            continue
        at = changes[0]
        first = group.iloc[0]
        broken = outcomes[at] == "failed"
        rows.append(
            {
                "change": "broken" if broken else "fixed",
                "since": group["attempt"].iloc[at],
                "since_time": group["started_at"].iloc[at],
                "attempts_since": len(outcomes) - at,
                "attempts_before": at,
                "last_good": group["attempt"].iloc[at - 1] if broken else None,
                **dict(zip(same, values if isinstance(values, tuple) else (values,), strict=True)),
                "spec_name": first["spec_name"],
                "spec_version": first["spec_version"],
                "compiler": _text(first["compiler"]),
                "key": first["key"],
            }
        )
    columns = [
        "change",
        "since",
        "since_time",
        "attempts_since",
        "attempts_before",
        "last_good",
        *same,
        *[c for c in ("spec_name", "spec_version", "compiler") if c not in same],
        "key",
    ]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------
# slower phases

SLOW_PHASE_COLUMNS = [
    "key",
    "phase",
    "attempt",
    "seq",
    "started_at",
    "seconds",
    "mean",
    "deviation",
    "limit",
    "flags_in_a_row",
    "alarm",
    "spec_name",
    "spec_version",
    "compiler",
    "run",
    "build",
]


def slow_phases(
    data: MonitorData,
    *,
    weight: float = 0.3,
    multiplier: float = 4.0,
    min_deviation: float = 1.0,
    alarm_after: int = 3,
    warmup: int = 5,
) -> pd.DataFrame:
    """Phases that got slower: CDash's test-timing check per build key and phase.

    For each build key and phase, over the attempts that ran the phase to success with a
    known duration, in history order: an exponentially weighted mean and deviation (weight
    ``weight``: ``dev = sqrt((1 - w) dev^2 + w (t - mean)^2)`` against the mean before the
    update, then ``mean = (1 - w) mean + w t``), starting from the first time and a deviation
    of zero, is the baseline. An attempt is **flagged** when its time exceeds ``mean + multiplier x
    max(dev, min_deviation)`` seconds; ``alarm_after`` flags in a row raise an **alarm**.
    The defaults are CDash's (0.3, 4, 1 s, 3).

    Two choices CDash leaves open are made so a lasting slowdown is caught: a flagged time
    does not enter the baseline (else one slow attempt lifts the mean and deviation so far
    that the next is not flagged, and three in a row never happen); after an alarm the
    baseline restarts from the flagged times (the new speed becomes normal, and is flagged
    no more; its deviation keeps the old one's share of the mean unless the flagged times
    spread more). The first ``warmup`` attempts of a key and phase only train the baseline (with
    a deviation starting at zero, the second attempt of a long phase would otherwise be
    flagged for ordinary noise). Failed phases are left out: their time stops at the error.

    Returns one row per flagged attempt (:data:`SLOW_PHASE_COLUMNS`): the baseline it was
    compared with (``mean``, ``deviation``, ``limit``), ``flags_in_a_row`` and ``alarm``
    (True on the attempt that completes ``alarm_after`` flags in a row, and on later flags
    of the same streak), in history order.
    """
    _check(data, "slow_phases")
    if not 0.0 < float(weight) <= 1.0:
        raise ConfigError(f"slow_phases: weight={weight!r} must be in (0, 1]")
    if float(multiplier) <= 0 or float(min_deviation) < 0:
        raise ConfigError(
            f"slow_phases: multiplier={multiplier!r} must be positive and "
            f"min_deviation={min_deviation!r} not negative"
        )
    if not isinstance(alarm_after, int) or alarm_after < 1:
        raise ConfigError(f"slow_phases: alarm_after={alarm_after!r} must be a positive integer")
    if not isinstance(warmup, int) or warmup < 1:
        raise ConfigError(f"slow_phases: warmup={warmup!r} must be a positive integer")
    table = attempt_table(data)
    table = table[table["ran"]]
    phases = data.attempt_phases
    phases = phases[(phases["status"].astype(object) == "SUCCESS") & phases["duration"].notna()]
    position = pd.Series(np.arange(len(table)), index=table["attempt"].astype(object).to_numpy())
    pos = position.reindex(phases["attempt"].astype(object)).to_numpy()
    keep = ~np.isnan(pos)
    pos = pos[keep].astype(np.int64)
    names = phases["name"].astype(object).to_numpy()[keep]
    seconds = phases["duration"].to_numpy(dtype="float64")[keep]
    keys = table["key"].to_numpy(dtype=object)[pos]
    order = np.lexsort((pos, names.astype(str), keys.astype(str)))
    w, m, floor = float(weight), float(multiplier), float(min_deviation)
    flagged: list[tuple[int, str, float, float, float, float, int, bool]] = []
    last: tuple[Any, Any] | None = None
    mean = dev = 0.0
    trained = streak = 0
    held: list[float] = []
    for i in order:
        group = (keys[i], names[i])
        t = float(seconds[i])
        if group != last:
            last, mean, dev, trained, streak, held = group, t, 0.0, 1, 0, []
            continue
        if trained >= warmup:
            limit = mean + m * max(dev, floor)
            if t > limit:
                streak += 1
                held.append(t)
                flagged.append(
                    (int(pos[i]), names[i], t, mean, dev, limit, streak, streak >= alarm_after)
                )
                if streak >= alarm_after:  # the new speed becomes the baseline
                    new_mean = sum(held) / len(held)
                    spread = math.sqrt(sum((h - new_mean) ** 2 for h in held) / len(held))
                    # the relative noise stays what it was (three times say little about it)
                    dev = max(spread, dev * new_mean / mean if mean > 0 else spread)
                    mean = new_mean
                    streak, held = 0, []
                continue
            streak, held = 0, []
        dev = math.sqrt((1 - w) * dev * dev + w * (t - mean) ** 2)
        mean = (1 - w) * mean + w * t
        trained += 1
    if flagged:
        at = [f[0] for f in flagged]
        rows = table.iloc[at]
        frame = pd.DataFrame(
            {
                "key": rows["key"].to_numpy(),
                "phase": [f[1] for f in flagged],
                "attempt": rows["attempt"].astype(object).to_numpy(),
                "seq": rows["seq"].to_numpy(),
                "started_at": rows["started_at"].to_numpy(),
                "seconds": [f[2] for f in flagged],
                "mean": [f[3] for f in flagged],
                "deviation": [f[4] for f in flagged],
                "limit": [f[5] for f in flagged],
                "flags_in_a_row": [f[6] for f in flagged],
                "alarm": [f[7] for f in flagged],
                "spec_name": rows["spec_name"].astype(object).to_numpy(),
                "spec_version": rows["spec_version"].astype(object).to_numpy(),
                "compiler": rows["compiler"].astype(object).to_numpy(),
                "run": rows["run"].astype(object).to_numpy(),
                "build": rows["build"].astype(object).to_numpy(),
            }
        )
        frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
        frame["_pos"] = at
        frame = frame.sort_values(["_pos", "phase"], kind="stable").drop(columns="_pos")
        return frame.reset_index(drop=True)
    return pd.DataFrame({c: pd.Series(dtype=object) for c in SLOW_PHASE_COLUMNS})


# ---------------------------------------------------------------------------------
# failure trends

_FREQS = {"D": "D", "day": "D", "W": "W", "week": "W"}


def failure_trends(
    data: MonitorData, freq: str = "D", by: str | None = "spec_name"
) -> pd.DataFrame:
    """Failure rate per day or week, overall or by a column (``spec_name``, ``compiler``,
    ``tags``, ``host_os``, ...), over every attempt.

    ``freq``: ``"D"``/``"day"`` or ``"W"``/``"week"`` (weeks start on Monday, UTC). ``tags``
    counts an attempt under each of its tags. Columns: ``period`` (the day or week start,
    UTC), the ``by`` column, ``attempts``, ``failed`` (root causes), ``blocked`` (never
    built), ``succeeded``, ``failure_rate`` = failed / attempts; by period, then most failed.
    Attempts without a time are left out (``attrs["undated"]`` counts them).
    """
    _check(data, "failure_trends")
    if freq not in _FREQS:
        raise ConfigError(f"failure_trends: freq={freq!r}; choose from: {', '.join(_FREQS)}")
    table = attempt_table(data)
    if by is not None and by not in table.columns:
        raise ConfigError(
            f"failure_trends: by={by!r} is not an attempt_table column; choose from: "
            f"{', '.join(table.columns)}"
        )
    undated = int(table["started_at"].isna().sum())
    table = table[table["started_at"].notna()].copy()
    times = table["started_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    if _FREQS[freq] == "D":
        period = times.dt.floor("D")
    else:
        period = (times - pd.to_timedelta(times.dt.day_of_week, unit="D")).dt.floor("D")
    table["period"] = period.dt.tz_localize("UTC")
    outcome = table["outcome"].astype(object)
    table["attempts"] = 1
    table["failed"] = (outcome == "failed").astype(int)
    table["blocked"] = (outcome == "never built").astype(int)
    table["succeeded"] = (outcome == "succeeded").astype(int)
    if by == "tags":
        table = table.explode("tags")
    frame = trend_groups(table, [] if by is None else [by])
    frame.attrs["undated"] = undated
    frame.attrs["freq"] = _FREQS[freq]
    frame.attrs["by"] = by
    return frame


def trend_groups(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The last step of :func:`failure_trends`: rows with ``period``, the ``by`` columns and
    the counts ``attempts``, ``failed``, ``blocked``, ``succeeded`` (one row per attempt, or
    counts already summed per group, as the database summary gives them; tags already one per
    row) summed per period and group (a missing value is the group ``<NA>``),
    ``failure_rate`` added; by period, then most failed."""
    table = table.assign(**{c: table[c].astype(object).map(_text) for c in by})
    groups = ["period", *by]
    columns = [*groups, "attempts", "failed", "blocked", "succeeded", "failure_rate"]
    if not len(table):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    frame = (
        table.groupby(groups, sort=True)[["attempts", "failed", "blocked", "succeeded"]]
        .sum()
        .reset_index()
    )
    frame["failure_rate"] = frame["failed"] / frame["attempts"]
    return frame.sort_values(
        ["period", "failed", *by], ascending=[True, False, *[True] * len(by)]
    ).reset_index(drop=True)


# ---------------------------------------------------------------------------------
# the cost of a failure


def _blocked_by_cause(
    data: MonitorData, table: pd.DataFrame
) -> dict[str, list[tuple[str, Any, Any]]]:
    """Failed attempt -> the never-built attempts of its run (attempts without a run: one
    group, as :func:`~spackmon_analysis.failures.failures` groups builds) that depend on
    it, directly or not: ``(spec_name, spec_version, compiler)`` each."""
    from .failures import _dependency_map, _reachable

    children = _dependency_map(data)
    reach: dict[str, set[str]] = {}
    out: dict[str, list[tuple[str, Any, Any]]] = {}
    outcome = table["outcome"].astype(object)
    involved = table[outcome.isin(("failed", "never built"))]
    group = involved["run"].astype(object).map(_text)
    for _, part in involved.groupby(group, sort=False):
        kinds = part["outcome"].astype(object)
        causes: dict[str, list[str]] = {}
        for attempt, full_hash in zip(
            part["attempt"][kinds == "failed"].astype(object),
            part["full_hash"][kinds == "failed"].astype(object),
            strict=True,
        ):
            out[attempt] = []
            if isinstance(full_hash, str):
                causes.setdefault(full_hash, []).append(attempt)
        if not causes:
            continue
        blocked = part[kinds == "never built"]
        for full_hash, name, version, compiler in zip(
            blocked["full_hash"].astype(object),
            blocked["spec_name"].astype(object),
            blocked["spec_version"].astype(object),
            blocked["compiler"].astype(object),
            strict=True,
        ):
            if not isinstance(full_hash, str):
                continue
            if full_hash not in reach:
                reach[full_hash] = _reachable(full_hash, children)
            for cause in reach[full_hash].intersection(causes):
                for attempt in causes[cause]:
                    out[attempt].append((name, version, compiler))
    return out


FAILURE_COST_COLUMNS = [
    "spec_name",
    "spec_version",
    "compiler",
    "fingerprint",
    "first_error",
    "error_class",
    "attempts_failed",
    "first_seen",
    "last_seen",
    "blocked",
    "blocked_builds",
    "blocked_seconds",
    "no_history",
    "key",
]


def failure_cost(data: MonitorData) -> pd.DataFrame:
    """What each root cause cost: the dependents it blocked, the build time they would have
    taken, and how many attempts it failed.

    A root cause is a build key with its first error's fingerprint (the same failure seen
    again is the same root cause). ``attempts_failed`` counts the failed attempts of the
    history with that key and first error; ``blocked`` lists the packages it blocked
    (the never-built dependents of the same run that depend on it, directly or not, the rule
    of :func:`~spackmon_analysis.failures.failures`), ``blocked_builds``
    counts them over every occurrence, and ``blocked_seconds`` adds, for each, the median
    duration of that package's succeeded attempts in the history (same name, version and
    compiler; else same name); ``no_history`` names blocked packages with no succeeded
    attempt to take a time from (they add nothing to ``blocked_seconds``). Most costly first.
    """
    _check(data, "failure_cost")
    table = attempt_table(data)
    first = _first_errors(data)
    classes = _summary_classes(data, data.rules or load_rules())
    failed = table[table["outcome"].astype(object) == "failed"].copy()
    attempts = failed["attempt"].astype(object)
    failed["fingerprint"] = first["fingerprint"].reindex(attempts).to_numpy(dtype=object)
    failed["first_error"] = first["text"].reindex(attempts).to_numpy(dtype=object)
    failed["error_class"] = classes.reindex(attempts).fillna(UNCLASSIFIED).to_numpy(dtype=object)
    failed["fingerprint"] = failed["fingerprint"].map(lambda v: v if isinstance(v, str) else "")

    good = table[table["outcome"].astype(object) == "succeeded"]
    exact = good.groupby(
        [
            good["spec_name"].astype(object),
            good["spec_version"].astype(object),
            good["compiler"].astype(object).map(_text),
        ],
        sort=False,
    )["duration"].median()
    by_name = good.groupby(good["spec_name"].astype(object), sort=False)["duration"].median()

    def median_of(name: str, version: Any, compiler: Any) -> float | None:
        value = exact.get((name, version, _text(compiler)))
        if value is None or value != value:
            value = by_name.get(name)
        return None if value is None or value != value else float(value)

    blocked_of = _blocked_by_cause(data, table)
    rows = []
    for (key, fp), group in failed.groupby(["key", "fingerprint"], sort=False):
        names: set[str] = set()
        missing: set[str] = set()
        n_blocked = 0
        seconds = 0.0
        for attempt in group["attempt"].astype(object):
            for name, version, compiler in blocked_of.get(attempt, []):
                names.add(name)
                n_blocked += 1
                value = median_of(name, version, compiler)
                if value is None:
                    missing.add(name)
                else:
                    seconds += value
        last = group.iloc[-1]
        rows.append(
            {
                "spec_name": last["spec_name"],
                "spec_version": last["spec_version"],
                "compiler": _text(last["compiler"]),
                "fingerprint": fp or None,
                "first_error": last["first_error"],
                "error_class": last["error_class"],
                "attempts_failed": len(group),
                "first_seen": group["started_at"].iloc[0],
                "last_seen": last["started_at"],
                "blocked": sorted(names),
                "blocked_builds": n_blocked,
                "blocked_seconds": seconds,
                "no_history": sorted(missing),
                "key": key,
            }
        )
    frame = pd.DataFrame(rows, columns=FAILURE_COST_COLUMNS)
    if len(frame):
        frame = frame.sort_values(
            ["blocked_seconds", "blocked_builds", "attempts_failed", "spec_name"],
            ascending=[False, False, False, True],
            kind="stable",
        ).reset_index(drop=True)
    return frame


# ---------------------------------------------------------------------------------
# infrastructure or package?

FAILURE_GROUP_COLUMNS = [
    "group",
    "error_class",
    "attempts",
    "share",
    "group_share",
    "packages",
    "description",
]


def failure_groups(data: MonitorData, rules: Rules | None = None) -> pd.DataFrame:
    """Failed attempts by failure class, grouped into **infrastructure** (fetch/network,
    disk full, out of memory or killed, timeout, lock contention, permission) and
    **package** failures (compiler, linker, configure, missing dependency, tests...), as the
    rules file's ``group`` key says (rules stay data: ``data/failure_classes.yaml``).

    Each failed attempt counts once, under its summary class (the class of highest
    precedence among the errors of its failed phase, as :func:`~spackmon_analysis.failures.
    failures` reports it); attempts with errors no class matched, or no error event, are
    the group ``unclassified``. Columns: ``group``, ``error_class``, ``attempts``, ``share``
    (of every failed attempt), ``group_share`` (of the group's), ``packages`` (sorted names),
    ``description``; infrastructure first, then package, then unclassified, most attempts
    first. ``attrs["groups"]`` holds the attempts per group.
    """
    _check(data, "failure_groups")
    active = rules or data.rules or load_rules()
    table = attempt_table(data)
    failed = table[table["outcome"].astype(object) == "failed"]
    classes = _summary_classes(data, active)
    cls = classes.reindex(failed["attempt"].astype(object)).fillna(UNCLASSIFIED).to_numpy()
    frame = pd.DataFrame(
        {
            "error_class": cls,
            "group": [active.group(c) for c in cls],
            "spec_name": failed["spec_name"].astype(object).to_numpy(),
        }
    )
    order = {"infrastructure": 0, "package": 1, UNCLASSIFIED: 2}
    total = len(frame)
    rows = []
    for (group, name), part in frame.groupby(["group", "error_class"], sort=False):
        rows.append(
            {
                "group": group,
                "error_class": name,
                "attempts": len(part),
                "share": len(part) / total,
                "group_share": len(part) / int((frame["group"] == group).sum()),
                "packages": sorted({str(p) for p in part["spec_name"].dropna()}),
                "description": (
                    active.classes[name].description
                    if name in active.classes
                    else "errors no class matched, or no error event"
                ),
            }
        )
    out = pd.DataFrame(rows, columns=FAILURE_GROUP_COLUMNS)
    if len(out):
        out["_g"] = out["group"].map(order)
        out = out.sort_values(["_g", "attempts", "error_class"], ascending=[True, False, True])
        out = out.drop(columns="_g").reset_index(drop=True)
    out.attrs["groups"] = {g: int((frame["group"] == g).sum()) for g in order}
    return out


# ---------------------------------------------------------------------------------
# a timeline per build key (for the views)


def timeline(data: MonitorData, key: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Attempt outcomes and phase times per build key: one row per attempt that ran, in
    history order, with ``key``, ``seq``, ``attempt``, ``started_at``, ``outcome``,
    ``duration``, ``new_errors`` and ``fixed_errors`` (counts from :func:`error_history`),
    then one column per phase name (seconds; NaN when the phase did not run or its time is
    unknown). ``key`` restricts to one build key label (or several). Only keys with more
    than one attempt have a history; the frame holds every key, ``attrs["keys"]`` the
    labels with two or more attempts.
    """
    _check(data, "timeline")
    table = attempt_table(data)
    table = table[table["ran"]]
    if key is not None:
        wanted = {key} if isinstance(key, str) else set(key)
        table = table[table["key"].isin(wanted)]
    errors = error_history(data)
    counts = errors.groupby(["attempt", "status"]).size().unstack(fill_value=0)
    attempts = table["attempt"].astype(object)
    out = pd.DataFrame(
        {
            "key": table["key"].to_numpy(),
            "seq": table["seq"].to_numpy(),
            "attempt": attempts.to_numpy(),
            "started_at": table["started_at"].to_numpy(),
            "outcome": table["outcome"].astype(object).to_numpy(),
            "duration": table["duration"].to_numpy(),
        }
    )
    out["started_at"] = pd.to_datetime(out["started_at"], utc=True)
    for status in ("new", "fixed"):
        values = counts[status] if status in counts.columns else pd.Series(dtype=int)
        out[f"{status}_errors"] = values.reindex(attempts).fillna(0).astype(int).to_numpy()
    phases = data.attempt_phases
    phases = phases[phases["attempt"].isin(set(attempts))]
    if len(phases):
        from .spackfacts import CANONICAL_PHASES

        wide = phases.pivot_table(
            index="attempt", columns="name", values="duration", aggfunc="first", observed=True
        )
        rank = {p: i for i, p in enumerate(CANONICAL_PHASES)}
        names = sorted(wide.columns.astype(str), key=lambda p: (rank.get(p, len(rank)), p))
        for name in names:
            out[name] = wide[name].reindex(attempts).to_numpy(dtype="float64")
    sizes = out.groupby("key").size()
    out.attrs["keys"] = sorted(sizes[sizes > 1].index)
    return out


def busiest_keys(data: MonitorData, top: int | None = None) -> list[str]:
    """The build keys with a history (two attempts or more that ran), the one most worth a
    timeline first: the most attempts, then the most failed attempts, then the most outcome
    changes between consecutive attempts, then the label; ``top`` keeps the first ones.
    This is the key :func:`~spackmon_analysis.plots.plot_timeline` draws when given none,
    and the one the written plots show."""
    _check(data, "busiest_keys")
    table = attempt_table(data)
    ran = table[table["ran"]]
    if not len(ran):
        return []
    outcome = ran["outcome"].astype(object)
    frame = pd.DataFrame(
        {
            "key": ran["key"].to_numpy(),
            "failed": (outcome == "failed").to_numpy(),
            "changed": (outcome != outcome.groupby(ran["key"]).shift()).to_numpy()
            & ran["seq"].gt(1).to_numpy(),
        }
    )
    per_key = frame.groupby("key", sort=False).agg(
        attempts=("key", "size"), failed=("failed", "sum"), changed=("changed", "sum")
    )
    per_key = per_key[per_key["attempts"] > 1].reset_index()
    per_key = per_key.sort_values(
        ["attempts", "failed", "changed", "key"],
        ascending=[False, False, False, True],
        kind="stable",
    )
    keys = [str(k) for k in per_key["key"]]
    return keys if top is None else keys[: max(0, int(top))]


# ---------------------------------------------------------------------------------
# what the reports show


@dataclass
class HistorySummary:
    """What the reports and the explorer show of a history (:func:`history_summary`)."""

    #: build key label -> its attempts that ran, oldest first, as ``(seq, attempt, outcome)``
    timelines: dict[str, list[tuple[int, str, str]]]
    #: ``error_history(data)`` rows
    errors: pd.DataFrame
    flaky: pd.DataFrame
    changes: pd.DataFrame
    slow: pd.DataFrame
    cost: pd.DataFrame
    groups: pd.DataFrame
    #: (attempt, fingerprint) -> "new" / "recurring", and the first time the key had it
    #: (build keys with two attempts or more only)
    marks: dict[tuple[str, str], tuple[str, Any]]

    @property
    def keys_with_history(self) -> list[str]:
        """Build keys with two attempts or more that ran."""
        return [k for k, v in self.timelines.items() if len(v) > 1]


#: How a timeline writes each outcome: succeeded, failed (root cause), never built, unknown.
OUTCOME_MARKS = {"succeeded": "+", "failed": "x", "never built": "-", "unknown": "?"}


def history_summary(data: MonitorData) -> HistorySummary:
    """Every history answer a report shows, computed once: each build key's timeline, the
    error history and its new/recurring marks, flaky builds, changes that stayed, slow-phase
    alarms, failure costs and failure groups."""
    _check(data, "history_summary")
    with one_attempt_table():
        return _history_summary(data)


def _history_summary(data: MonitorData) -> HistorySummary:
    table = attempt_table(data)
    ran = table[table["ran"]]
    timelines: dict[str, list[tuple[int, str, str]]] = {}
    for key, seq, attempt, outcome in zip(
        ran["key"], ran["seq"], ran["attempt"].astype(object), ran["outcome"].astype(object),
        strict=True,
    ):  # fmt: skip
        timelines.setdefault(key, []).append((int(seq), str(attempt), str(outcome)))
    errors = error_history(data)
    with_history = {k for k, v in timelines.items() if len(v) > 1}
    marks = {  # only where there is a history to compare with
        (str(a), str(f)): (s, first)
        for k, a, f, s, first in zip(
            errors["key"],
            errors["attempt"],
            errors["fingerprint"],
            errors["status"],
            errors["first_seen"],
            strict=True,
        )
        if s != "fixed" and k in with_history
    }
    slow = slow_phases(data)
    return HistorySummary(
        timelines=timelines,
        errors=errors,
        flaky=flaky_builds(data),
        changes=outcome_changes(data),
        slow=slow[slow["alarm"]] if len(slow) else slow,
        cost=failure_cost(data),
        groups=failure_groups(data),
        marks=marks,
    )


def latest_attempt_of(data: MonitorData) -> dict[str, str]:
    """Build key -> the attempt its build row shows (``latest``)."""
    attempts = data.attempts
    latest = attempts[attempts["latest"]]
    return dict(zip(latest["build"].astype(object), latest["attempt"].astype(object), strict=True))
