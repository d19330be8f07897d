"""Failure reports: plain text, a self-contained HTML page, and PNG plots.

- :func:`failure_report`: the text report (root causes with the first error and its
  context, the dependents they blocked, failure classes, fingerprints, recurring errors,
  flaky builds, counts, root causes per run). Server, database and install-tree data hold
  the latest state of each build, so for them the report says that recurring errors and
  flaky builds are not available instead of counting 0; ``history=`` (save-local runs)
  adds a per-run history part. ``spackmon failures`` prints it; ``spackmon demo`` prints
  and saves it.
- :func:`write_plots`: PNG files of the dependency graph, the package x compiler failure
  matrix, phase outcomes and error classes, drawn by :mod:`spackmon_analysis.plots` (the
  report draws nothing of its own); a view that fails is named in a warning and in its
  place in the report, and the rest of the report is still written. Only
  ``matplotlib.figure.Figure`` is used (no pyplot): safe without a display.
- :func:`write_html_report`: one HTML file with inline CSS and the plots embedded as
  base64 ``data:`` URIs: no external resource, it can be mailed or archived as is.

All three take a :class:`~spackmon_analysis.frames.MonitorData`.
"""

from __future__ import annotations

import base64
import copy
import html
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import plots
from .errors import ConfigError
from .failures import (
    BLOCKED,
    ROOT_CAUSE,
    _check_data,
    class_summary,
    dag_notes,
    describe_error_line,
    error_fingerprints,
    failure_rates,
    failures,
    first_errors,
    flaky,
    label,
    outcomes,
)
from .history import (
    OUTCOME_MARKS,
    HistorySummary,
    busiest_keys,
    history_summary,
    latest_attempt_of,
    one_attempt_table,
)
from .palette import OUTCOME_COLORS
from .safetext import printable
from .spackfacts import short_hash

if TYPE_CHECKING:
    from .frames import MonitorData

__all__ = [
    "failure_report",
    "write_html_report",
    "write_plots",
    "report_counts",
    "runs_table",
    "failing_runs",
    "PLOTS",
    "HISTORY_PLOTS",
    "plot_stems",
]

#: Plots written by :func:`write_plots`: (file stem, title, ``plots`` function name). The
#: dependency graph's caption in the HTML report is built from the data (:func:`_caption`).
PLOTS: tuple[tuple[str, str, str], ...] = (
    ("dependency-graph", "Dependency graph", "plot_dependency_graph"),
    ("failure-matrix", "Root-cause failures by package and compiler", "plot_failure_matrix"),
    ("phase-outcomes", "Phase outcomes", "plot_phase_outcomes"),
    (
        "error-classes",
        "First error of each failed phase, by failure class",
        "plot_error_classes",
    ),
)

#: The plots of a build history, drawn after :data:`PLOTS` when some build key has two
#: attempts or more that ran (:func:`plot_stems`): the failure rate per day by package,
#: and the timeline of the build key with the most attempts
#: (:func:`~spackmon_analysis.history.busiest_keys`).
HISTORY_PLOTS: tuple[tuple[str, str, str], ...] = (
    ("failure-trends", "Failure rate per day by package", "plot_failure_trends"),
    ("timeline", "History of the build key with the most attempts", "plot_timeline"),
)

_CONTEXT_INDENT = "    | "

#: How the report draws the dependency graph: a big graph is cut to the builds, then to
#: the failures and what they touch (``plots.plot_dependency_graph`` says so in its title).
GRAPH_OPTIONS: dict[str, Any] = {"only_built": True, "focus": "failures", "max_nodes": 30}


# ---------------------------------------------------------------------------------
# shared pieces
# ---------------------------------------------------------------------------------

_NOT_AVAILABLE = (
    "not available from {kind} (it keeps the latest state of each build); "
    "analyse the save-local runs for history"
)
_SOURCE_KINDS = {
    "server": "server data",
    "database": "server data",
    "install": "install-tree data",
}


@dataclass
class _Parts:
    counts: dict[str, int]
    found: pd.DataFrame
    classes: pd.DataFrame
    fingerprints: pd.DataFrame
    flaky: pd.DataFrame
    by_compiler: pd.DataFrame
    has_runs: bool
    kind: str
    per_run: pd.DataFrame
    server_builds: set[str]
    server: bool
    spack_versions: dict[str, str]
    history: HistorySummary
    latest: dict[str, str]


def report_counts(data: MonitorData, found: pd.DataFrame | None = None) -> dict[str, int]:
    """``runs``, ``builds``, ``succeeded``, ``failed`` (root causes), ``never_built``
    (blocked dependents) and ``unknown``, as the reports print them."""
    _check_data(data, "report_counts")
    builds = data.builds
    found = failures(data) if found is None else found
    outcome = outcomes(data)
    runs = builds["run"].dropna().nunique() if "run" in builds.columns else 0
    return {
        "runs": int(runs),
        "builds": len(builds),
        "succeeded": int((outcome == "succeeded").sum()),
        "failed": int((found["role"] == ROOT_CAUSE).sum()),
        "never_built": int((found["role"] == BLOCKED).sum()),
        "unknown": int((outcome == "unknown").sum()),
    }


def _data_kind(data: MonitorData) -> str:
    """``"server data"``, ``"install-tree data"``, ... for builds that carry no run."""
    builds = data.builds
    sources = set(builds["source"].dropna().astype(str)) if "source" in builds.columns else set()
    kinds = {_SOURCE_KINDS.get(s, f"{s} data") for s in sources}
    return kinds.pop() if len(kinds) == 1 else "data without runs"


def runs_table(data: MonitorData, found: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run, in time order: ``run``, ``run_time``, ``spack_version`` (the
    release(s) that ran it, comma-joined; None when unknown), ``builds``, ``succeeded``,
    ``failed`` (root causes), ``never_built``, ``root_causes`` and ``blocked``
    (``name@version%compiler`` lists). Empty when no build carries a run."""
    _check_data(data, "runs_table")
    columns = ["run", "run_time", "spack_version", "builds", "succeeded", "failed", "never_built"]
    columns += ["root_causes", "blocked"]
    builds = data.builds
    if "run" not in builds.columns or not builds["run"].notna().any():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    found = failures(data) if found is None else found
    outcome = builds["build"].astype(object).map(outcomes(data))
    rows = []
    with_run = builds.assign(_outcome=outcome.values)[builds["run"].notna()]
    order = with_run.groupby(with_run["run"].astype(object), sort=False)["run_time"].min()
    for run in order.sort_values(kind="stable").index:
        mine = with_run[with_run["run"].astype(object) == run]
        rows_found = found[found["run"] == run]
        causes = rows_found[rows_found["role"] == ROOT_CAUSE]
        blocked = rows_found[rows_found["role"] == BLOCKED]
        versions = (
            sorted(set(mine["spack_version"].dropna().astype(str)))
            if "spack_version" in mine.columns
            else []
        )
        rows.append(
            {
                "run": str(run),
                "run_time": order[run],
                "spack_version": ", ".join(versions) or None,
                "builds": len(mine),
                "succeeded": int((mine["_outcome"] == "succeeded").sum()),
                "failed": len(causes),
                "never_built": len(blocked),
                "root_causes": [label(r) for _, r in causes.iterrows()],
                "blocked": [label(r) for _, r in blocked.iterrows()],
            }
        )
    return pd.DataFrame.from_records(rows, columns=columns)


def _parts(data: MonitorData) -> _Parts:
    found = failures(data)
    builds = data.builds
    has_runs = "run" in builds.columns and bool(builds["run"].notna().any())
    return _Parts(
        counts=report_counts(data, found),
        found=found,
        classes=class_summary(data, found),
        fingerprints=error_fingerprints(data),
        flaky=flaky(data),
        by_compiler=failure_rates(data, by="compiler") if len(builds) else pd.DataFrame(),
        has_runs=has_runs or not len(builds),
        kind=_data_kind(data),
        per_run=runs_table(data, found),
        server_builds=_server_builds(data),
        server=_server_data(data),
        spack_versions=_spack_versions(data),
        history=history_summary(data),
        latest=latest_attempt_of(data),
    )


def _row_where(row: Any, p: _Parts) -> str:
    return _where(row, str(row["build"]) in p.server_builds)


def _spec(group: list[Any]) -> str:
    """``name@version%compiler /dag7``: the package and the DAG hash Spack shows for it
    (``spack find -l``, prefix and stage directory names); every distinct hash of a group
    of rows (the same failure of differently concretized specs shows each)."""
    dags = list(dict.fromkeys(d for d in (short_hash(r.get("dag_hash")) for r in group) if d))
    text = label(group[0])
    return f"{text} {' '.join('/' + d for d in dags)}" if dags else text


def _counts_line(counts: dict[str, int]) -> str:
    runs = f"{counts['runs']} runs, " if counts["runs"] else ""
    text = (
        f"{runs}{counts['builds']} builds: {counts['succeeded']} succeeded, "
        f"{counts['failed']} failed (root causes), {counts['never_built']} never built "
        "(blocked by a failed dependency)"
    )
    if counts["unknown"]:
        text += f", {counts['unknown']} unknown"
    return text


def _when(row: Any) -> str | None:
    value = row.get("run_time")
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S UTC")


#: Sources whose build time is when the server received the build, not when it ran.
_SERVER_SOURCES = frozenset({"server", "database"})


def _server_time(when: Any, server: bool) -> Any:
    """A time as the report prints it: ``reported <time> (server time)`` for a time the
    server stamped when it received the data (a replay happens long after the build)."""
    return f"reported {when} (server time)" if server and isinstance(when, str) else when


def _where(row: Any, server: bool = False) -> str:
    """``run <name>``, or for data without runs ``build <key>, <time>``; for server and
    database data ``build <key>, reported <time> (server time)``."""
    run = row.get("run")
    if isinstance(run, str) and run:
        return f"run {run}"
    when = _when(row)
    return f"build {row['build']}" + (f", {_server_time(when, server)}" if when else "")


def _server_builds(data: MonitorData) -> set[str]:
    """Keys of the builds whose time is the server's (source ``server``/``database``)."""
    b = data.builds
    if not len(b) or "source" not in b.columns:
        return set()
    mask = b["source"].astype(object).isin(_SERVER_SOURCES)
    return set(b.loc[mask, "build"].astype(str))


def _server_data(data: MonitorData) -> bool:
    """Every build comes from a server (client or database): times are the server's."""
    b = data.builds
    if not len(b) or "source" not in b.columns:
        return False
    return bool(b["source"].astype(object).isin(_SERVER_SOURCES).all())


def _problems(data: MonitorData) -> list[tuple[str, str]]:
    """``(input, message)`` of what the loader skipped (``data.problems``)."""
    return [(str(a), str(b)) for a, b in (getattr(data, "problems", None) or [])]


def _names(values: Any) -> str:
    items = list(values) if isinstance(values, list | tuple) else []
    return ", ".join(items) if items else "none"


def _spack_versions(data: MonitorData) -> dict[str, str]:
    """Build key -> the Spack release that ran it (builds without one are absent)."""
    b = data.builds
    if not len(b) or "spack_version" not in b.columns:
        return {}
    known = b.dropna(subset=["spack_version"])
    return dict(zip(known["build"].astype(str), known["spack_version"].astype(str), strict=True))


def _with_version(where: str, build: Any, p: _Parts) -> str:
    """``run <name> (Spack 0.17.1)``: where a build ran and with which Spack release."""
    version = p.spack_versions.get(str(build))
    return f"{where} (Spack {version})" if version else where


def _error_at(row: Any) -> str:
    """`` (line 26 of spack-build-out.txt, Spack's ">> 26"; line 10 of ...)``: where the
    first error is, naming the file its line number counts in
    (:func:`~spackmon_analysis.failures.describe_error_line`)."""
    text = describe_error_line(
        row.get("error_log"),
        row.get("error_line_no"),
        row.get("error_build_log_line"),
        row.get("failed_phase"),
    )
    return f" ({text})" if text else ""


def _group_rows(frame: pd.DataFrame, key: Callable[[Any], tuple[Any, ...]]) -> list[list[Any]]:
    """Rows of ``frame`` grouped by ``key(row)``, groups in the order of their first row."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for _, row in frame.iterrows():
        groups.setdefault(key(row), []).append(row)
    return list(groups.values())


def _cause_key(row: Any) -> tuple[Any, ...]:
    """A recurring failure: the same package, phase and first error (by fingerprint)."""
    return (label(row), row["failed_phase"], row["fingerprint"] or row["first_error"])


def _blocked_key(row: Any) -> tuple[Any, ...]:
    return (label(row), tuple(row["blocked_by"] or ()))


def _occurrences(rows: list[Any], p: _Parts) -> str:
    """``run A (Spack 0.17.1), run B (Spack 0.17.1)``: where each occurrence was."""
    return ", ".join(_with_version(_row_where(r, p), r["build"], p) for r in rows)


def _percent(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.1%}"


def _scope(data: MonitorData, p: _Parts, history: bool) -> str:
    if not len(data.builds):  # an empty server or folder: neither files' runs nor a state
        return "No builds in this data." + (
            " The per-run history follows below." if history else ""
        )
    if p.has_runs:
        return "Per-run data: every build of every run, as the files recorded it."
    text = (
        f"Current state from {p.kind}: the latest state of each build (one build per spec "
        "and build environment; a rebuild in a later run replaces the earlier record)."
    )
    return text + (" The per-run history follows below." if history else "")


def _unavailable(p: _Parts, history: bool) -> str:
    text = _NOT_AVAILABLE.format(kind=p.kind)
    if history:  # the save-local runs are analysed below
        text = text.replace("analyse the save-local runs for history", "")
        text = text.rstrip("; ") + "; see the per-run history below, from the save-local files"
    return text


def _history_title(history: MonitorData) -> str:
    source = getattr(history, "source", None)
    where = f": {source}" if isinstance(source, str) and source else ""
    return f"Per-run history (from the save-local files{where})"


# ---------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------


def _groups_title(title: str, total: int, groups: int) -> str:
    """``Root causes (3)``, or ``Root causes (3, 2 distinct)`` when some recur."""
    return f"{title} ({total})" if groups == total else f"{title} ({total}, {groups} distinct)"


def _heading(title: str) -> list[str]:
    return ["", title, "-" * len(title)]


def _rows_section(
    title: str, table: pd.DataFrame, empty: str, line: Callable[[Any], str]
) -> list[str]:
    """A section: the heading ``title``, then ``line(row)`` per row of ``table``, or the one
    line ``empty`` when it has no rows."""
    lines = _heading(title)
    if not len(table):
        lines.append(empty)
    lines += [line(row) for _, row in table.iterrows()]
    return lines


def _fingerprint_lines(p: _Parts) -> list[str]:
    lines = _heading(f"Error fingerprints ({len(p.fingerprints)})")
    lines.append("  (the first error of each failed phase, by normalised text)")
    if not len(p.fingerprints):
        lines.append("None.")
    for _, row in p.fingerprints.iterrows():
        seen = (
            f"{row['runs']} run(s), first {row['first_seen']}, last {row['last_seen']}"
            if p.has_runs
            else f"{row['builds']} build(s), last {_server_time(row['last_seen'], p.server)}"
        )
        lines.append(
            f"  {row['count']:>3}x {_names(row['packages'])} "
            f"[{row['primary_class'] or 'unclassified'}]: {row['fingerprint']}  ({seen})"
        )
    return lines


def _recurring_lines(p: _Parts, history: bool) -> list[str]:
    if not p.has_runs:
        return [*_heading("Errors seen in more than one run"), _unavailable(p, history)]
    recurring = p.fingerprints[p.fingerprints["status"] == "recurring"]
    lines = _heading(f"Errors seen in more than one run ({len(recurring)})")
    if not len(recurring):
        lines.append("None.")
    for _, row in recurring.iterrows():
        lines.append(
            f"  {row['runs']} runs, {_names(row['packages'])}: {row['fingerprint']}"
            f"  (first {row['first_seen']}, last {row['last_seen']})"
        )
    return lines


def _flaky_lines(p: _Parts, history: bool) -> list[str]:
    if not p.has_runs:
        return [*_heading("Flaky builds"), _unavailable(p, history)]
    lines = _heading(f"Flaky builds ({len(p.flaky)})")
    if not len(p.flaky):
        lines.append("None: no spec failed in one run and built in another.")
    for _, row in p.flaky.iterrows():
        target = row.get("host_target")
        on = f" on {target}" if isinstance(target, str) else ""
        lines.append(
            f"* {label(row)}{on}: failed in {_names(row['failed_runs'])}"
            f" ({row['error_class'] or 'unclassified'}), "
            f"succeeded in {_names(row['succeeded_runs'])}"
        )
        if isinstance(row["first_error"], str):
            lines.append(f"  error: {row['first_error']}")
    return lines


def _mark(row: Any, p: _Parts) -> str:
    """`` [new]`` / `` [recurring since <time>]`` for a root cause's first error, from the
    error history of its build key (nothing when the history has no say)."""
    attempt = p.latest.get(str(row["build"]), str(row["build"]))
    found = p.history.marks.get((attempt, str(row["fingerprint"])))
    if found is None:
        return ""
    status, first = found
    if status == "new":
        return " [new]"
    return f" [recurring since {_stamp(first)}]"


def _stamp(when: Any) -> str:
    try:
        return pd.Timestamp(when).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return "?"


_HISTORY_KEYS_SHOWN = 20


def _timeline_text(attempts: list[tuple[int, str, str]]) -> str:
    return " ".join(OUTCOME_MARKS.get(o, "?") for _, _, o in attempts)


def _history_keys(p: _Parts) -> list[str]:
    """Build keys with history, those whose latest attempt failed first, then by name."""
    keys = p.history.keys_with_history
    timelines = p.history.timelines
    return sorted(keys, key=lambda k: (timelines[k][-1][2] != "failed", k))


def _build_history_lines(p: _Parts) -> list[str]:
    h = p.history
    keys = _history_keys(p)
    lines = _heading(f"Build history ({len(keys)} build keys with more than one attempt)")
    if not keys:
        lines.append(
            "No build key (package, version, variants, compiler, target, OS) has more than "
            "one attempt in this data."
        )
        return lines
    lines.append("  (attempts oldest first: + succeeded, x failed; new/fixed errors per attempt)")
    changed = h.errors[h.errors["status"] != "recurring"]
    for key in keys[:_HISTORY_KEYS_SHOWN]:
        lines.append(f"* {key}: {_timeline_text(h.timelines[key])}")
        mine = changed[changed["key"] == key]
        for _, row in mine.iterrows():
            lines.append(f"    attempt {row['seq']}: {row['status']}: {row['fingerprint']}")
    if len(keys) > _HISTORY_KEYS_SHOWN:
        lines.append(f"  ... and {len(keys) - _HISTORY_KEYS_SHOWN} more build keys")
    lines += _rows_section(
        f"Flaky with the same inputs ({len(h.flaky)})",
        h.flaky,
        "None: no spec's outcome went back and forth with the same inputs.",
        lambda row: (
            f"* {row['key']}: flip rate {row['flip_rate']:.2f} over {row['attempts']} attempts "
            f"({row['failed']} failed, passed on retry {row['passed_on_retry']}x), "
            f"last {row['last_outcome']}"
        ),
    )
    lines += _rows_section(
        f"Changes that stayed ({len(h.changes)})",
        h.changes,
        "None.",
        lambda row: (
            f"* {row['key']}: {row['change']} since {_stamp(row['since_time'])} "
            f"({row['attempts_since']} attempts since, {row['attempts_before']} before)"
        ),
    )
    lines += _rows_section(
        f"Slower phases ({len(h.slow)} alarms)",
        h.slow,
        "None.",
        lambda row: (
            f"* {row['key']} {row['phase']}: attempt {row['seq']} took {row['seconds']:.1f} s, "
            f"usual {row['mean']:.1f} s (limit {row['limit']:.1f} s)"
        ),
    )

    def cost_line(row: Any) -> str:
        unknown = f"; no time known for {_names(row['no_history'])}" if row["no_history"] else ""
        return (
            f"* {row['key']}: failed {row['attempts_failed']} attempt(s), blocked "
            f"{row['blocked_builds']} build(s) ({_names(row['blocked'])}), "
            f"{row['blocked_seconds']:.0f} s of their build time{unknown}"
        )

    lines += _rows_section("Cost of the root causes", h.cost, "No root causes.", cost_line)
    groups = h.groups.attrs.get("groups", {})
    lines += _heading("Infrastructure or package?")
    lines.append(
        "  failed attempts: "
        + ", ".join(f"{name} {groups.get(name, 0)}" for name in ("infrastructure", "package"))
        + f", unclassified {groups.get('unclassified', 0)}"
    )
    for _, row in h.groups.iterrows():
        lines.append(
            f"  {row['group']:<15} {row['error_class']:<24} {row['attempts']:>4}"
            f"  {_names(row['packages'])}"
        )
    return lines


def _per_run_lines(p: _Parts) -> list[str]:
    lines = _heading(f"Root causes per run ({len(p.per_run)} runs)")
    for _, row in p.per_run.iterrows():
        version = f" (Spack {row['spack_version']})" if row["spack_version"] else ""
        lines.append(
            f"  {row['run']}{version}: {row['builds']} builds, {row['succeeded']} succeeded, "
            f"{row['failed']} failed, {row['never_built']} never built"
        )
        if row["root_causes"]:
            lines.append(f"      root causes: {_names(row['root_causes'])}")
        if row["blocked"]:
            lines.append(f"      blocked: {_names(row['blocked'])}")
    return lines


def _history_text(history: MonitorData) -> list[str]:
    p = _parts(history)
    title = _history_title(history)
    lines = ["", "", title, "=" * len(title), _counts_line(p.counts)]
    if not p.has_runs:
        lines.append(_unavailable(p, False))
        return lines
    lines += _per_run_lines(p)
    lines += _recurring_lines(p, False)
    lines += _flaky_lines(p, False)
    return lines


def failure_report(
    data: MonitorData, *, context: bool = True, history: MonitorData | None = None
) -> str:
    """The failure report as plain text.

    Sections: what the data is (per-run data, or the latest state of each build for
    server, database and install-tree data); counts; root causes
    (``package@version%compiler``, run, failed phase, failure class, the first error
    with its context lines unless ``context=False``, the dependents it blocked);
    blocked dependents and what blocked them; failure classes of the root causes;
    error fingerprints (first error of each failed phase); errors seen in more than
    one run; flaky builds; root-cause failure rate per compiler; root causes per run.
    Data without runs (a server keeps one build per spec and environment) cannot show
    recurring errors or flaky builds: those sections say so instead of "0".

    ``history``: save-local data (runs) of the same builds, e.g. the runs that were
    replayed to the server; it adds a "Per-run history" part (counts, root causes per
    run, recurring errors, flaky builds) labelled as coming from the files.
    """
    _check_data(data, "failure_report")
    if history is not None:
        _check_data(history, "failure_report (history)")
    with one_attempt_table():
        return _text(data, _parts(data), context=context, history=history)


def _text(data: MonitorData, p: _Parts, *, context: bool, history: MonitorData | None) -> str:
    """The text of :func:`failure_report` from the report's tables ``p`` of ``data``."""
    source = getattr(data, "source", None)
    title = "Build failure report" + (f" ({source})" if isinstance(source, str) and source else "")
    lines = [title, "=" * len(title), _scope(data, p, history is not None)]
    lines.append(_counts_line(p.counts))
    problems = _problems(data)
    if problems:
        lines += _heading(f"Skipped inputs ({len(problems)})")
        lines.append("These could not be read and are left out of this report:")
        lines += [f"  {name}: {message}" for name, message in problems]

    causes = p.found[p.found["role"] == ROOT_CAUSE]
    blocked = p.found[p.found["role"] == BLOCKED]
    cause_groups = _group_rows(causes, _cause_key)
    lines += _heading(_groups_title("Root causes", len(causes), len(cause_groups)))
    if not len(causes):
        lines.append("No build failed in one of its own phases.")
    for group in cause_groups:
        row = group[0]
        if len(group) == 1:
            lines.append(f"* {_spec(group)}")
            lines.append(
                f"  {_occurrences(group, p)}; failed phase: {row['failed_phase'] or '?'}; "
                f"class: {row['error_class'] or 'unclassified'}"
            )
        else:
            kind = "runs" if p.has_runs else "builds"
            lines.append(f"* {_spec(group)}: the same failure in {len(group)} {kind}")
            lines.append(f"  {kind}: {_occurrences(group, p)}")
            lines.append(
                f"  failed phase: {row['failed_phase'] or '?'}; "
                f"class: {row['error_class'] or 'unclassified'}"
            )
        if isinstance(row["first_error"], str):
            seen = f" in {_row_where(row, p)}" if len(group) > 1 else ""
            lines.append(
                f"  first error{seen}{_error_at(row)}{_mark(row, p)}: {row['first_error']}"
            )
            if context and isinstance(row["error_context"], str):
                lines.append("  context:")
                lines += [_CONTEXT_INDENT + ln for ln in row["error_context"].splitlines()]
        else:
            lines.append("  first error: (no error line found in the log)")
        direct = sorted({n for r in group for n in (r["blocked_direct"] or [])})
        transitive = sorted({n for r in group for n in (r["blocked_transitive"] or [])})
        text = f"  blocked: {_names(transitive)}"
        indirect = [n for n in transitive if n not in direct]
        if indirect:
            text += f" (directly: {_names(direct)})"
        lines.append(text)

    blocked_groups = _group_rows(blocked, _blocked_key)
    lines += _heading(
        _groups_title("Blocked dependents, never built", len(blocked), len(blocked_groups))
    )
    missing_dag = dag_notes(data)
    for where, message in missing_dag:
        lines.append(f"  {where}: {message}")
    if not len(blocked) and not missing_dag:
        lines.append("None.")
    for group in blocked_groups:
        row = group[0]
        by = f"blocked by {_names(row['blocked_by'])}"
        if len(group) == 1:
            lines.append(f"* {_spec(group)}  {_occurrences(group, p)}; {by}")
        else:
            kind = "runs" if p.has_runs else "builds"
            lines.append(
                f"* {_spec(group)}  {by}, in {len(group)} {kind}: {_occurrences(group, p)}"
            )

    lines += _heading("Failure classes of the root causes")
    shown = p.classes[p.classes["builds"] > 0]
    if not len(shown):
        lines.append("No root causes.")
    for _, row in shown.iterrows():
        lines.append(
            f"  {row['class']:<24} {row['builds']:>4} ({_percent(row['share'])})"
            f"  {row['description']}"
        )
    if p.classes.attrs.get("root_causes"):
        rate = p.classes.attrs["unclassified_rate"]
        lines.append(f"  unclassified root causes: {_percent(rate)}")

    lines += _fingerprint_lines(p)
    lines += _recurring_lines(p, history is not None)
    lines += _flaky_lines(p, history is not None)
    lines += _build_history_lines(p)

    lines += _heading("Root-cause failure rate by compiler")
    if not len(p.by_compiler):
        lines.append("No builds.")
    for _, row in p.by_compiler.iterrows():
        lines.append(
            f"  {row['compiler']:<20} {row['failed']:>3} failed / {row['builds']:>3} builds"
            f" ({_percent(row['failure_rate'])}), {row['blocked']} blocked"
        )
    if len(p.per_run):
        lines += _per_run_lines(p)
    if history is not None:
        lines += _history_text(history)
    # names and log lines come from builds: no raw control characters (safetext)
    return printable("\n".join(lines)) + "\n"


# ---------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------


def _figure(size: tuple[float, float]) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=100, layout="constrained")


def _size(stem: str, data: Any) -> tuple[float, float]:
    builds = data.builds
    if stem == "failure-matrix":
        rows = builds["spec_name"].nunique() if len(builds) else 1
        cols = builds["compiler"].nunique() if len(builds) else 1
        return (max(6.0, 1.6 * cols + 4.0), max(3.5, 0.38 * rows + 2.0))
    if stem == "dependency-graph":
        return (12.0, 8.0)
    if stem == "phase-outcomes":
        return (8.0, 4.5)
    return (8.0, 4.0)


def _note(ax: Any, title: str, message: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def _first_errors_only(data: MonitorData) -> MonitorData:
    """A shallow copy of ``data`` whose error events are the first error of each failed
    phase (:func:`~spackmon_analysis.failures.first_errors`), warnings kept, so the
    error-class plot counts each failure once, like the report's tables."""
    events = data.events
    warnings_only = events[events["kind"].astype(object) != "error"]
    trimmed = copy.copy(data)
    trimmed.events = pd.concat([first_errors(data), warnings_only]).sort_index(kind="stable")
    return trimmed


def failing_runs(data: MonitorData) -> list[str]:
    """The runs with at least one root-cause failure, in time order (the runs the
    report's dependency graph draws together)."""
    builds = data.builds
    if "run" not in builds.columns or not builds["run"].notna().any():
        return []
    outcome = builds["build"].astype(object).map(outcomes(data))
    failed = builds[(outcome == "failed").to_numpy() & builds["run"].notna().to_numpy()]
    order = failed.groupby(failed["run"].astype(object), sort=False)["run_time"].min()
    return [str(r) for r in order.sort_values(kind="stable").index]


def _graph_options(data: MonitorData) -> dict[str, Any]:
    """:data:`GRAPH_OPTIONS`, plus every run with a failure when the data has runs (not
    only the latest one)."""
    failing = failing_runs(data)
    return {**GRAPH_OPTIONS, "run": failing} if failing else dict(GRAPH_OPTIONS)


def _caption(stem: str, title: str, data: MonitorData) -> str:
    """The caption of a plot; the dependency graph's says what it shows: every run with a
    failure, else the latest run (named), or the current state on the server / in the
    install tree."""
    if stem == "timeline":
        keys = busiest_keys(data, top=1)
        return f"History of {keys[0]}, the build key with the most attempts" if keys else title
    if stem != "dependency-graph":
        return title
    builds = data.builds
    runs = builds.dropna(subset=["run"]) if "run" in builds.columns else builds.iloc[0:0]
    if len(runs):
        names = runs["run"].astype(object).unique()
        failing = failing_runs(data)
        if len(names) == 1:
            return f"{title} of the run {names[0]}"
        if len(failing) > 1:
            return f"{title} of the {len(failing)} runs with failures: {', '.join(failing)}"
        if failing:
            return f"{title} of the run with failures {failing[0]}"
        last = runs.sort_values(["run_time", "run"], kind="stable")["run"].iloc[-1]
        return f"{title} of the latest run {last} (no run has failures)"
    kind = _data_kind(data) if len(builds) else ""
    if kind == "server data":
        return f"{title}: current state on the server"
    if kind == "install-tree data":
        return f"{title}: current state of the install tree"
    return f"{title}: every spec and build in the data" if len(builds) else title


def _plots_of(data: MonitorData) -> tuple[tuple[str, str, str], ...]:
    """:data:`PLOTS`, then :data:`HISTORY_PLOTS` when ``data`` has a build history."""
    has_history = hasattr(data, "attempts") and bool(busiest_keys(data, top=1))
    return PLOTS + HISTORY_PLOTS if has_history else PLOTS


def plot_stems(data: MonitorData) -> list[str]:
    """The file stems :func:`write_plots` writes for ``data`` (and the figures of the HTML
    report): every one of :data:`PLOTS`, and those of :data:`HISTORY_PLOTS` when a build key
    has two attempts or more that ran."""
    _check_data(data, "plot_stems")
    return [stem for stem, _title, _function in _plots_of(data)]


def _render(original: MonitorData) -> list[tuple[str, str, bytes]]:
    """``(file stem, caption, PNG bytes)`` of every plot in :data:`PLOTS` (and
    :data:`HISTORY_PLOTS` for data with a history), drawn by
    :mod:`spackmon_analysis.plots` (the report has no drawings of its own). A view that
    fails does not stop the report: a ``RuntimeWarning`` names it, and its place holds a
    picture and a caption saying it was not drawn and why."""
    rendered = []
    for stem, title, function in _plots_of(original):
        data = _first_errors_only(original) if stem == "error-classes" else original
        graph = stem == "dependency-graph"
        options = _graph_options(data) if graph else {}
        plot = getattr(plots, function)
        caption = _caption(stem, title, original)
        try:
            # the graph's figure is sized to its drawing (legible at any size)
            size = plots.dependency_graph_size(data, **options) if graph else _size(stem, data)
            png = _png(_drawer(plot, data, options), size)
        except Exception as exc:  # a view must not stop the report
            why = f"plots.{function} failed ({type(exc).__name__}: {exc})"
            warnings.warn(f"{why}; the report says so in its place", RuntimeWarning, stacklevel=2)
            png = _png(partial(_note, title=title, message=f"not drawn: {why}"), (8.0, 2.0))
            caption = f"{caption}: not drawn, {why}"
        rendered.append((stem, caption, png))
    return rendered


def _drawer(plot: Callable[..., Any], data: Any, options: dict[str, Any]) -> Callable[[Any], Any]:
    """``plot`` drawing ``data`` with ``options`` on the axes it is given."""
    return lambda ax: plot(data, ax=ax, **options)


def _png(draw: Callable[[Any], Any], size: tuple[float, float]) -> bytes:
    """The PNG of what ``draw`` draws on a new axes of ``size`` inches, at 100 dpi.

    The figure is drawn once on an Agg canvas: its constrained layout runs inside that draw.
    ``savefig`` first draws the whole figure without rendering to lay it out, then draws it
    again; the bytes are the same (``test_report.py`` compares them), for about 0.88x the
    CPU time of a report's plots. ``savefig.*`` settings of matplotlib do not apply.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.image import imsave

    fig = _figure(size)
    ax = fig.add_subplot()
    returned = draw(ax)
    target = getattr(returned, "figure", None) or fig
    target.set_dpi(100)
    canvas = FigureCanvasAgg(target)
    canvas.draw()
    buffer = io.BytesIO()
    imsave(buffer, canvas.buffer_rgba(), format="png", origin="upper", dpi=100)
    if target is not fig:  # the view made its own figure: do not leak it
        try:
            import matplotlib.pyplot as plt

            plt.close(target)
        except Exception:  # pragma: no cover - pyplot unavailable
            pass
    return buffer.getvalue()


def write_plots(data: MonitorData, out: str | Path) -> list[Path]:
    """Write the report's PNG plots into ``out`` (created); returns their paths.

    Files: ``dependency-graph.png``, ``failure-matrix.png``, ``phase-outcomes.png``,
    ``error-classes.png`` (the first error of each failed phase per failure class); when a
    build key has two attempts or more that ran (a history: several save-local runs, a
    server keeping attempts), also ``failure-trends.png`` (failure rate per day by package)
    and ``timeline.png`` (the attempts and phase times of the build key with the most
    attempts). :func:`plot_stems` names them for given data.
    """
    _check_data(data, "write_plots")
    with one_attempt_table():
        return _write_pngs(_render(data), Path(out))


def _write_pngs(rendered: list[tuple[str, str, bytes]], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, _title, png in rendered:
        path = out / f"{stem}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------

#: The report's style sheet; outcome colours from the palette (:mod:`~spackmon_analysis.palette`).
_CSS = (
    """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 72em; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; border-bottom: 2px solid @failed@; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
pre { background: #f8f8f8; border-left: 3px solid @failed@; padding: .5em .8em;
      overflow-x: auto; font-size: .85em; }
.counts span { display: inline-block; margin-right: 1.2em; font-weight: 600; }
.ok { color: @succeeded@; } .bad { color: @failed@; } .blocked { color: @never built@; }
.cause { margin-bottom: 1.5em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
code { font-size: .95em; }
""".replace("@succeeded@", OUTCOME_COLORS["succeeded"])
    .replace("@failed@", OUTCOME_COLORS["failed"])
    .replace("@never built@", OUTCOME_COLORS["never built"])
)


def _cell(column: str, v: Any) -> str:
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v))
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if column in _PERCENT_COLUMNS:
        return _percent(v)
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


_PERCENT_COLUMNS = ("share", "failure_rate")


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td>{esc(_cell(c, row.get(c)))}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _counts_html(c: dict[str, int]) -> str:
    return (
        '<p class="counts">'
        + (f"<span>{c['runs']} runs</span>" if c["runs"] else "")
        + f"<span>{c['builds']} builds</span>"
        + f'<span class="ok">{c["succeeded"]} succeeded</span>'
        + f'<span class="bad">{c["failed"]} failed (root causes)</span>'
        + f'<span class="blocked">{c["never_built"]} never built (blocked)</span>'
        + (f"<span>{c['unknown']} unknown</span>" if c["unknown"] else "")
        + "</p>"
    )


def _recurring_html(p: _Parts, history: bool) -> list[str]:
    esc = html.escape
    if not p.has_runs:
        return [
            "<h2>Errors seen in more than one run</h2>",
            f"<p>{esc(_unavailable(p, history))}</p>",
        ]
    recurring = p.fingerprints[p.fingerprints["status"] == "recurring"]
    out = [f"<h2>Errors seen in more than one run ({len(recurring)})</h2>"]
    if len(recurring):
        out.append(
            _table(recurring, ["fingerprint", "runs", "packages", "first_seen", "last_seen"])
        )
    else:
        out.append("<p>None.</p>")
    return out


def _flaky_html(p: _Parts, history: bool) -> list[str]:
    esc = html.escape
    if not p.has_runs:
        return ["<h2>Flaky builds</h2>", f"<p>{esc(_unavailable(p, history))}</p>"]
    out = [f"<h2>Flaky builds ({len(p.flaky)})</h2>"]
    if len(p.flaky):
        table = p.flaky.assign(package=[label(r) for _, r in p.flaky.iterrows()])
        columns = ["package", "failed_runs", "succeeded_runs", "error_class", "first_error"]
        out.append(_table(table, columns))
    else:
        out.append("<p>None: no spec failed in one run and built in another.</p>")
    return out


def _build_history_html(p: _Parts) -> list[str]:
    esc = html.escape
    h = p.history
    keys = _history_keys(p)
    out = [f"<h2>Build history ({len(keys)} build keys with more than one attempt)</h2>"]
    if not keys:
        out.append(
            "<p>No build key (package, version, variants, compiler, target, OS) has more "
            "than one attempt in this data.</p>"
        )
        return out
    changed = h.errors[h.errors["status"] != "recurring"]
    rows = []
    for key in keys[:_HISTORY_KEYS_SHOWN]:
        mine = changed[changed["key"] == key]
        rows.append(
            {
                "build key": key,
                "attempts (+ succeeded, x failed)": _timeline_text(h.timelines[key]),
                "new / fixed errors": [
                    f"attempt {r['seq']} {r['status']}: {r['fingerprint']}"
                    for _, r in mine.iterrows()
                ],
            }
        )
    frame = pd.DataFrame(rows)
    out.append(_table(frame, list(frame.columns)))
    if len(keys) > _HISTORY_KEYS_SHOWN:
        out.append(f"<p>... and {len(keys) - _HISTORY_KEYS_SHOWN} more build keys.</p>")
    out.append(f"<h3>Flaky with the same inputs ({len(h.flaky)})</h3>")
    if len(h.flaky):
        columns = ["key", "attempts", "failed", "flip_rate", "passed_on_retry", "last_outcome"]
        out.append(_table(h.flaky, columns))
    else:
        out.append("<p>None.</p>")
    out.append(f"<h3>Changes that stayed ({len(h.changes)})</h3>")
    if len(h.changes):
        columns = ["key", "change", "since_time", "attempts_since", "attempts_before"]
        out.append(_table(h.changes, columns))
    else:
        out.append("<p>None.</p>")
    out.append(f"<h3>Slower phases ({len(h.slow)} alarms)</h3>")
    if len(h.slow):
        out.append(_table(h.slow, ["key", "phase", "seq", "seconds", "mean", "limit"]))
    else:
        out.append("<p>None.</p>")
    out.append("<h3>Cost of the root causes</h3>")
    if len(h.cost):
        columns = ["key", "attempts_failed", "blocked", "blocked_builds", "blocked_seconds"]
        out.append(_table(h.cost, [*columns, "no_history"]))
    else:
        out.append("<p>No root causes.</p>")
    out.append("<h3>Infrastructure or package?</h3>")
    if len(h.groups):
        out.append(_table(h.groups, ["group", "error_class", "attempts", "share", "packages"]))
    else:
        out.append(f"<p>{esc('No failed attempt.')}</p>")
    return out


def _per_run_html(p: _Parts) -> list[str]:
    columns = ["run", "spack_version", "builds", "succeeded", "failed", "never_built"]
    columns += ["root_causes", "blocked"]
    return [
        f"<h2>Root causes per run ({len(p.per_run)} runs)</h2>",
        _table(p.per_run, columns),
    ]


def write_html_report(
    data: MonitorData, path: str | Path, *, history: MonitorData | None = None
) -> Path:
    """Write the failure report as one self-contained HTML file; returns its path.

    The page holds the same sections as :func:`failure_report` (``history`` adds the
    same "Per-run history" part) in tables, and the plots of :func:`write_plots`
    embedded as ``data:image/png;base64`` images. CSS is inline and nothing is loaded
    from elsewhere.
    """
    _check_data(data, "write_html_report")
    if history is not None:
        _check_data(history, "write_html_report (history)")
    with one_attempt_table():
        page = _html(data, _parts(data), _render(data), history)
    return _write_html(Path(path), page)


def _write_html(path: Path, page: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _html(
    data: MonitorData,
    p: _Parts,
    rendered: list[tuple[str, str, bytes]],
    history: MonitorData | None,
) -> str:
    """The page of :func:`write_html_report` from the report's tables ``p`` of ``data`` and
    its plots ``rendered`` (:func:`_render`)."""
    esc = html.escape
    has_history = history is not None
    source = getattr(data, "source", None)
    title = "Build failure report" + (f" ({source})" if isinstance(source, str) and source else "")
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="scope">{esc(_scope(data, p, has_history))}</p>',
        _counts_html(p.counts),
    ]
    problems = _problems(data)
    if problems:
        out.append(f"<h2>Skipped inputs ({len(problems)})</h2>")
        out.append("<p>These could not be read and are left out of this report:</p>")
        frame = pd.DataFrame(problems, columns=["input", "problem"])
        out.append(_table(frame, ["input", "problem"]))
    causes = p.found[p.found["role"] == ROOT_CAUSE]
    blocked = p.found[p.found["role"] == BLOCKED]
    cause_groups = _group_rows(causes, _cause_key)
    out.append(f"<h2>{esc(_groups_title('Root causes', len(causes), len(cause_groups)))}</h2>")
    if not len(causes):
        out.append("<p>No build failed in one of its own phases.</p>")
    kind = "runs" if p.has_runs else "builds"
    for group in cause_groups:
        row = group[0]
        blocked_names = sorted({n for r in group for n in (r["blocked_transitive"] or [])})
        out.append('<div class="cause">')
        out.append(f"<h3><code>{esc(_spec(group))}</code></h3>")
        where = _occurrences(group, p)
        if len(group) > 1:
            where = f"the same failure in {len(group)} {kind}: {where}"
        out.append(
            f"<p>{esc(where)}; failed phase <b>{esc(str(row['failed_phase'] or '?'))}</b>;"
            f" class <b>{esc(str(row['error_class'] or 'unclassified'))}</b>;"
            f" blocked: {esc(_names(blocked_names))}</p>"
        )
        if isinstance(row["first_error"], str):
            seen = f" in {_row_where(row, p)}" if len(group) > 1 else ""
            out.append(
                f"<p>First error{esc(seen + _error_at(row))}{esc(_mark(row, p))}: "
                f"<code>{esc(row['first_error'])}</code></p>"
            )
        else:
            out.append("<p>First error: (no error line found in the log)</p>")
        if isinstance(row["error_context"], str):
            out.append(f"<pre>{esc(row['error_context'])}</pre>")
        out.append("</div>")

    blocked_groups = _group_rows(blocked, _blocked_key)
    title = _groups_title("Blocked dependents, never built", len(blocked), len(blocked_groups))
    out.append(f"<h2>{esc(title)}</h2>")
    if len(blocked):
        firsts = [g[0] for g in blocked_groups]
        table = pd.DataFrame(
            {
                "package": [_spec(g) for g in blocked_groups],
                "where": [_occurrences(g, p) for g in blocked_groups],
                "blocked_by": [r["blocked_by"] for r in firsts],
                "outcome": "never built",
            }
        )
        out.append(_table(table, ["package", "where", "blocked_by", "outcome"]))
    else:
        out.append("<p>None.</p>")

    out.append("<h2>Failure classes of the root causes</h2>")
    shown = p.classes[p.classes["builds"] > 0]
    if len(shown):
        out.append(_table(shown, ["class", "builds", "share", "events", "description"]))
        rate = p.classes.attrs.get("unclassified_rate", 0.0)
        out.append(f"<p>Unclassified root causes: {_percent(rate)}</p>")
    else:
        out.append("<p>No root causes.</p>")

    out.append(f"<h2>Error fingerprints ({len(p.fingerprints)})</h2>")
    out.append("<p>The first error of each failed phase, by normalised text.</p>")
    if len(p.fingerprints):
        columns = ["fingerprint", "count", "packages", "primary_class"]
        columns += ["runs", "first_seen", "last_seen"] if p.has_runs else ["builds", "last_seen"]
        frame = p.fingerprints
        if p.server and not p.has_runs:  # the time the server received the data
            reported = "last reported (server time)"
            frame = frame.assign(**{reported: frame["last_seen"]})
            columns[-1] = reported
        out.append(_table(frame, columns))
    else:
        out.append("<p>None.</p>")
    out += _recurring_html(p, has_history)
    out += _flaky_html(p, has_history)
    out += _build_history_html(p)

    out.append("<h2>Root-cause failure rate by compiler</h2>")
    if len(p.by_compiler):
        out.append(
            _table(
                p.by_compiler,
                ["compiler", "builds", "failed", "blocked", "succeeded", "failure_rate"],
            )
        )
    else:
        out.append("<p>No builds.</p>")
    if len(p.per_run):
        out += _per_run_html(p)

    out.append("<h2>Plots</h2>" if p.has_runs else f"<h2>Plots ({esc(p.kind)})</h2>")
    for stem, caption, png in rendered:
        encoded = base64.b64encode(png).decode("ascii")
        out.append(
            f'<figure id="{esc(stem)}"><img alt="{esc(caption)}" '
            f'src="data:image/png;base64,{encoded}"><figcaption>{esc(caption)}</figcaption>'
            "</figure>"
        )
    if history is not None:
        h = _parts(history)
        out.append(f'<h1 id="history">{esc(_history_title(history))}</h1>')
        out.append(_counts_html(h.counts))
        if h.has_runs:
            out += _per_run_html(h)
            out += _recurring_html(h, False)
            out += _flaky_html(h, False)
        else:
            out.append(f"<p>{esc(_unavailable(h, False))}</p>")

    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(
    data: MonitorData,
    out: str | Path,
    *,
    history: MonitorData | None = None,
    text: str | None = None,
) -> list[Path]:
    """Write the whole report into the folder ``out`` (created): ``report.txt``
    (:func:`failure_report`), ``report.html`` (:func:`write_html_report`) and the PNG files
    of :func:`write_plots`, the same files those three write, with the report's tables worked
    out and each plot drawn once for all of them. Returns the paths, in that order.

    ``history``: as for :func:`failure_report`. ``text``: the text to write as
    ``report.txt`` instead of ``failure_report(data, history=history)`` (``spackmon demo``
    adds a section to it). ``spackmon report`` writes this folder.
    """
    _check_data(data, "write_report")
    if history is not None:
        _check_data(history, "write_report (history)")
    with one_attempt_table():
        p = _parts(data)
        if text is None:
            text = _text(data, p, context=True, history=history)
        rendered = _render(data)
        page = _html(data, p, rendered, history)
    out = Path(out)
    # the folder is made only now, when everything to write is worked out
    where = out
    try:
        out.mkdir(parents=True, exist_ok=True)
        where = out / "report.txt"
        where.write_text(text, encoding="utf-8")
        where = out / "report.html"
        _write_html(where, page)
        where = out
        pngs = _write_pngs(rendered, out)
    except OSError as exc:
        # the file at fault (a PNG's own name, not only the folder)
        where = Path(exc.filename) if exc.filename else where
        raise ConfigError(f"{where}: cannot write the report ({exc.strerror or exc})") from exc
    return [out / "report.txt", out / "report.html", *pngs]
