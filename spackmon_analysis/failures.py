"""Build-failure analysis over a :class:`~spackmon_analysis.frames.MonitorData`.

Spack (0.17, PROTOCOL section 6) records a failure in two ways: the package whose own
phase failed gets an ``ERROR`` phase (and, in 0.17.1, no status file at all); every
dependent that therefore never started gets status ``FAILED`` and no phases. The first
is a **root cause**, the second is **blocked**. :func:`failures` separates them and links
them through the dependency DAG of each run; the other functions summarise builds,
phases and error events:

- :func:`failures`: one row per root cause or blocked build, with the first error,
  its context, the failure class and fingerprint, and who blocked whom.
- :func:`failure_rates`: builds / failed / blocked / succeeded per package, version,
  compiler, OS, target, tag or any list of build columns.
- :func:`failure_matrix`: root-cause failures (or builds, or a rate) as a
  package x compiler table.
- :func:`phase_times`: time per package and phase.
- :func:`error_fingerprints`: the most frequent error fingerprints, new vs recurring
  (by default one per failed phase, its first error: :func:`first_errors`).
- :func:`flaky`: the same spec in the same environment failed once and built once.
- :func:`class_summary`: failure classes of the root causes, and how many stay
  unclassified.

Everything works on the frames alone (``builds``, ``phases``, ``events``,
``dependencies``), so it gives the same answers for save-local, install-tree, server
and database data. Builds are grouped by ``run``; builds without a run (server,
install and database data) form one group.

Bad arguments (a column that is not in ``builds``, an unknown choice, ``data`` that is
not a :class:`~spackmon_analysis.frames.MonitorData`) raise
:class:`~spackmon_analysis.errors.ConfigError` naming the argument and the valid choices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from .errors import ConfigError
from .logs import UNCLASSIFIED, Rules, load_rules
from .logs import fingerprint as _fingerprint
from .records import NO_DAG_NOTE
from .spackfacts import (
    build_outcome,
    failed_phases,
    first_error_events,
    first_errors_per_failed_phase,
    last_line_clue,
    sort_phase_names,
    splice_links,
    writes_phase_logs,
)

if TYPE_CHECKING:
    from .frames import MonitorData

__all__ = [
    "ROOT_CAUSE",
    "BLOCKED",
    "FAILURE_COLUMNS",
    "FLAKY_ENVIRONMENT",
    "failures",
    "failure_rates",
    "failure_matrix",
    "phase_times",
    "error_fingerprints",
    "flaky",
    "class_summary",
    "first_errors",
    "first_error_per_build",
    "error_log_position",
    "describe_error_line",
    "describe_error_at",
    "EVENT_CHOICES",
    "outcomes",
    "label",
    "rate_groups",
    "NO_TAG",
]

ROOT_CAUSE = "root cause"
BLOCKED = "blocked"

#: Columns of :func:`failures`, in order: what a reader looks at first (the package, its role
#: and its first error; for a blocked build, what blocked it) leads, so a plain ``repr`` shows it.
FAILURE_COLUMNS = [
    "spec_name",
    "role",
    "first_error",
    "blocked_by",
    "failed_phase",
    "compiler",
    "spec_version",
    "status",
    "error_class",
    "run",
    "run_time",
    "dag_hash",
    "error_line_no",
    "error_log",
    "error_build_log_line",
    "error_context",
    "fingerprint",
    "blocked_direct",
    "blocked_transitive",
    "full_hash",
    "build",
]

#: Build columns that must match for two builds of one ``full_hash`` to count as the
#: same build environment in :func:`flaky` (``hostname`` and ``kernel_version`` may
#: differ between nights on equivalent machines).
FLAKY_ENVIRONMENT = ("host_os", "platform", "host_target", "spack_version")

_NO_RUN = "<no run>"
_TEXT_COLUMNS = [
    "run",
    "spec_name",
    "spec_version",
    "compiler",
    "dag_hash",
    "full_hash",
    "status",
    "failed_phase",
    "first_error",
    "error_log",
    "error_context",
    "error_class",
    "fingerprint",
]

#: Spack's combined build log (stage directory; ``.spack/`` of a prefix, gzipped from 0.20).
BUILD_LOG = "spack-build-out.txt"


# ---------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------


_FRAMES = ("builds", "phases", "events", "dependencies")


def _check_data(data: Any, where: str) -> None:
    """ConfigError unless ``data`` looks like a :class:`MonitorData` (the five frames)."""
    missing = [name for name in _FRAMES if not isinstance(getattr(data, name, None), pd.DataFrame)]
    if missing:
        raise ConfigError(
            f"{where}: data must be a MonitorData (from load_save_local, load, "
            f"MonitorData.from_client, ...), got {type(data).__name__}"
            + ("" if data is None else f" without the frame(s) {', '.join(missing)}")
        )


def _check_columns(data: _Frames, where: str, argument: str, given: Sequence[str]) -> None:
    """ConfigError naming ``argument`` when a name in ``given`` is not a builds column."""
    columns = list(data.builds.columns)
    bad = [c for c in given if c not in columns]
    if bad:
        shown = bad[0] if len(bad) == 1 else bad
        raise ConfigError(
            f"{where}: {argument}={shown!r} is not a builds column; "
            f"choose from: {', '.join(map(str, columns))}"
        )


def _check_choice(where: str, argument: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ConfigError(
            f"{where}: {argument}={value!r} is not valid; choose from: "
            + ", ".join(repr(c) for c in choices)
        )


def _rules(data: MonitorData) -> Rules:
    rules = getattr(data, "rules", None)
    return rules if isinstance(rules, Rules) else load_rules(rules)


def _value(v: Any) -> Any:
    """A plain Python value: None for pandas/NumPy missing values."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):  # lists, tuples
        return v
    return v.item() if hasattr(v, "item") else v


def _text(v: Any) -> str | None:
    v = _value(v)
    return None if v is None else str(v)


class _Frames(Protocol):
    """What the outcome table reads: a :class:`MonitorData`, or :class:`_BuildsOnly`."""

    @property
    def builds(self) -> pd.DataFrame: ...

    @property
    def phases(self) -> pd.DataFrame: ...


def outcomes(data: MonitorData) -> pd.Series:
    """Each build's outcome (index ``build``): the ``outcome`` column of the contract.

    Where that column is missing or ``<NA>`` (frames built by hand), the outcome is
    derived by the one rule, :func:`~spackmon_analysis.spackfacts.build_outcome`
    (``failed`` when one of the build's phases is ``ERROR`` or a failure marker's tags say
    it failed itself, ``succeeded`` for status ``SUCCESS``, ``never built`` for
    ``FAILED``/``CANCELLED`` otherwise, else ``unknown``).
    """
    return _outcomes_of(data)


def _outcomes_of(data: _Frames) -> pd.Series:
    """:func:`outcomes` of anything with the frames (a builds frame alone: :class:`_BuildsOnly`)."""
    _check_data(data, "outcomes")
    builds = data.builds
    keys = builds["build"].astype(object).values
    given = (
        builds["outcome"].astype(object).values
        if "outcome" in builds.columns
        else [None] * len(builds)
    )
    phases = data.phases
    errored = set(phases.loc[phases["status"].astype(object) == "ERROR", "build"].astype(object))
    tags = (
        builds["tags"].astype(object).values if "tags" in builds.columns else [None] * len(builds)
    )
    result = [
        str(known)
        if _value(known) is not None
        else build_outcome(
            status, ["ERROR"] if build in errored else [], tag if _value(tag) is not None else ()
        )
        for build, status, known, tag in zip(
            keys, builds["status"].astype(object), given, tags, strict=True
        )
    ]
    return pd.Series(result, index=keys, dtype=object)


def _run_keys(builds: pd.DataFrame) -> pd.Series:
    """The group of each build: its run, or one shared group for builds without a run."""
    if "run" not in builds.columns:
        return pd.Series(_NO_RUN, index=builds.index, dtype=object)
    return builds["run"].astype(object).where(builds["run"].notna(), _NO_RUN)


def _dependency_map(data: MonitorData) -> dict[str, set[str]]:
    """parent full_hash -> set of direct child (dependency) full_hashes; a spliced spec's
    build spec counts as one of its dependencies (``spackfacts.splice_links``: the
    rewiring needs that build, so its failure blocks the spliced spec)."""
    deps = data.dependencies
    children: dict[str, set[str]] = {}
    for spliced, built_as in splice_links(getattr(data, "specs", None)):
        children.setdefault(spliced, set()).add(built_as)
    if len(deps):
        for parent, child in zip(
            deps["parent_hash"].astype(object), deps["child_hash"].astype(object), strict=True
        ):
            if parent is None or child is None or parent is pd.NA or child is pd.NA:
                continue
            children.setdefault(str(parent), set()).add(str(child))
    return children


def _reachable(start: str, children: dict[str, set[str]]) -> set[str]:
    """Every full_hash ``start`` depends on, directly or not (``start`` excluded)."""
    seen: set[str] = set()
    stack = list(children.get(start, ()))
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(children.get(node, ()))
    seen.discard(start)
    return seen


def _first_error(
    build: str,
    failed_phase: str | None,
    first: pd.Series | None,
    build_errors: pd.DataFrame | None,
    output: str | None,
    rules: Rules,
) -> dict[str, Any]:
    """The first error of a root cause: ``first`` is its row of
    :func:`~spackmon_analysis.spackfacts.first_error_events` (the one rule of every view);
    without error events, the last non-blank line of the failed phase
    (:func:`~spackmon_analysis.spackfacts.last_line_clue`). ``error_class``: the class of
    highest precedence among the errors of the failed phase (of the build when that phase
    has none)."""
    if first is not None and build_errors is not None:
        in_phase = build_errors[build_errors["phase"].astype(object) == failed_phase]
        found: set[str] = set()
        for classes in (in_phase if len(in_phase) else build_errors)["classes"]:
            found.update(_value(classes) or ())
        found.discard(UNCLASSIFIED)
        pre = list(_value(first.get("pre_context")) or [])
        post = list(_value(first.get("post_context")) or [])
        text = str(first["text"])
        return {
            "_error_phase": _text(first.get("phase")),
            "first_error": text,
            "error_line_no": _value(first.get("line_no")),
            "error_context": "\n".join([*map(str, pre), text, *map(str, post)]),
            "error_class": rules.summary(found) or UNCLASSIFIED,
            "fingerprint": _text(first.get("fingerprint")),
        }
    clue = last_line_clue(output)
    if clue is None:
        return {
            "_error_phase": None,
            "first_error": None,
            "error_line_no": None,
            "error_context": None,
            "error_class": UNCLASSIFIED,
            "fingerprint": None,
        }
    text, line_no, context = clue
    return {
        "_error_phase": failed_phase,
        "first_error": text,
        "error_line_no": line_no,
        "error_context": context,
        "error_class": rules.summary(rules.classify(text)) or UNCLASSIFIED,
        "fingerprint": _fingerprint(text),
    }


def error_log_position(
    phases: pd.DataFrame, phase: str | None, line_no: Any, spack_version: Any = None
) -> tuple[str | None, int | None]:
    """``(phase log file, line in the combined log)`` of an error at ``line_no`` of the
    output of ``phase``; ``phases`` are the build's rows of ``data.phases``.

    Spack writes each phase's output to ``spack-build-<NN>-<phase>-out.txt`` (``NN`` is
    the 1-based position of the phase; Spack 0.17 and later) and, when the build ends or
    fails, concatenates them into ``spack-build-out.txt``: the file whose line numbers
    Spack prints on the console (``>> 8    broken.c:4:3: error: ...``). The combined line
    is the line in the phase plus the lines of every earlier phase; for a phase cut out of
    a combined log (its ``build_log_first_line`` is known) it is counted from where the
    phase starts in that file, so text before the first phase marker counts too. It is
    ``None`` when an earlier phase or its output is missing (``keep_output=False``). The file is ``None`` unless the release is known to write
    per-phase logs (0.17+; 0.16 wrote only the combined log, and a stage directory does
    not record its release), or for a phase without ``order``.
    """
    line = _value(line_no)
    if phase is None or not len(phases):
        return None, None
    mine = phases[phases["name"].astype(object) == phase]
    if not len(mine):
        return None, None
    order = _value(mine["order"].iloc[0]) if "order" in mine.columns else None
    if order is None:
        return None, None
    order = int(order)
    log = (
        f"spack-build-{order + 1:02d}-{phase}-out.txt"
        if writes_phase_logs(_text(spack_version))
        else None
    )
    if line is None:
        return log, None
    start = (
        _value(mine["build_log_first_line"].iloc[0])
        if "build_log_first_line" in mine.columns
        else None
    )
    if start is not None:  # cut out of the combined log: counts any text before it too
        return log, int(start) - 1 + int(line)
    earlier = phases[pd.to_numeric(phases["order"], errors="coerce") < order]
    known = sorted(int(o) for o in earlier["order"].dropna())
    if known != list(range(order)) or "output" not in earlier.columns:
        return log, None
    outputs = [_value(o) for o in earlier["output"]]
    if any(not isinstance(o, str) for o in outputs):
        return log, None
    return log, int(line) + sum(len(o.splitlines()) for o in outputs)


def describe_error_line(
    log: str | None, line_no: Any, build_log_line: Any, phase: str | None = None
) -> str:
    """Where an error is, naming the file its line number counts in: ``line 26 of
    spack-build-out.txt, Spack's ">> 26"; line 10 of spack-build-03-build-out.txt`` (the
    combined log first, when known: the number Spack printed on the console), else
    ``line 10 of the build phase's output``; empty when no line is known. The inputs are
    :func:`error_log_position`'s results and the event's ``line_no``."""
    parts = []
    combined = _value(build_log_line)
    if combined is not None:
        n = int(combined)
        parts.append(f'line {n} of {BUILD_LOG}, Spack\'s ">> {n}"')
    line = _value(line_no)
    if line is not None:
        if isinstance(log, str) and log:
            parts.append(f"line {int(line)} of {log}")
        elif not parts:
            parts.append(f"line {int(line)} of the {phase or '?'} phase's output")
    return "; ".join(parts)


def describe_error_at(phases: pd.DataFrame, event: Any, spack_version: Any = None) -> str:
    """Where one error event is (a row of ``data.events`` or of
    :func:`first_error_per_build`), in the one wording of every view: its build's
    ``phases`` rows through :func:`error_log_position`, worded by
    :func:`describe_error_line`; empty when no line is known."""
    phase = _text(event.get("phase"))
    line_no = event.get("line_no")
    log, combined = error_log_position(phases, phase, line_no, spack_version)
    return describe_error_line(log, line_no, combined, phase)


class FailureTable(pd.DataFrame):
    """What :func:`failures` returns: a plain :class:`pandas.DataFrame` except for its
    plain-text repr. When the display is too narrow for every column, pandas would show
    the first and the last columns (``spec_name ... build``); this repr shows instead the
    leading columns that fit (package, role, first error, ``blocked_by`` ...) and names
    the columns left out. With ``display.max_columns`` set to None (every column asked
    for) it is pandas' repr. Frames derived from it (selections, copies, sorts) are plain
    DataFrames; HTML (notebooks) is pandas' own.
    """

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def __repr__(self) -> str:
        import shutil

        width = pd.get_option("display.width") or 80
        max_columns = pd.get_option("display.max_columns")
        if max_columns is None:  # every column asked for: pandas wraps them
            return pd.DataFrame.__repr__(self) + self._notes_text()
        if max_columns == 0:  # pandas' "fit the terminal"
            width = shutil.get_terminal_size((width, 24)).columns
        options = {
            "max_rows": pd.get_option("display.max_rows"),
            "min_rows": pd.get_option("display.min_rows"),
            "max_colwidth": pd.get_option("display.max_colwidth"),
        }
        columns = list(self.columns)
        if max_columns:
            limit = int(max_columns)
        else:
            limit = len(columns)

        def fits(cols: list[Any]) -> bool:
            text = pd.DataFrame(self).to_string(columns=cols, **options)
            return max(len(line) for line in text.splitlines()) <= width

        if not len(self) or (len(columns) <= limit and fits(columns)):
            return pd.DataFrame.__repr__(self) + self._notes_text()
        shown = columns[:1]
        for column in columns[1:limit]:
            if not fits([*shown, column]):
                break
            shown.append(column)
        text = pd.DataFrame(self).to_string(columns=shown, **options)
        rest = [str(c) for c in columns[len(shown) :]]
        return (
            f"{text}\n\n[{len(self)} rows x {len(columns)} columns; not shown: "
            + ", ".join(rest)
            + "]"
            + self._notes_text()
        )

    def _notes_text(self) -> str:
        """The data's notes that change how to read the table (a report loaded without a
        DAG: its blocked packages are missing), one line each."""
        notes = self.attrs.get("notes") or []
        return "".join(f"\nnote: {where}: {message}" for where, message in notes)


def _empty_failures() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in FAILURE_COLUMNS})
    frame["error_line_no"] = frame["error_line_no"].astype("Int64")
    frame["error_build_log_line"] = frame["error_build_log_line"].astype("Int64")
    return frame


# ---------------------------------------------------------------------------------
# failures
# ---------------------------------------------------------------------------------


def failures(data: MonitorData) -> pd.DataFrame:
    """One row per failed or blocked build, root causes first within each run.

    ``role`` is ``"root cause"`` for a build one of whose own phases is ``ERROR`` (or,
    without a log, whose failure marker says it failed itself: outcome ``failed``) and
    ``"blocked"`` for a dependent that never built (status ``FAILED``/``CANCELLED``, no
    ``ERROR`` phase: outcome ``never built``). Columns (:data:`FAILURE_COLUMNS`):

    - ``build``, ``run``, ``run_time``, ``spec_name``, ``spec_version``, ``compiler``,
      ``dag_hash`` (the hash Spack shows: prefix and stage names, ``spack find -l``),
      ``full_hash``, ``status``: from ``builds``;
    - ``failed_phase``: the first ``ERROR`` phase (root causes);
    - ``error_log`` / ``error_build_log_line``: the phase log file ``error_line_no``
      counts in (``spack-build-02-build-out.txt``) and the error's line in the combined
      ``spack-build-out.txt``, the number Spack printed as ``>> N`` on the console
      (:func:`error_log_position`; ``None`` where unknown);
    - ``first_error``, ``error_line_no``, ``error_context`` (pre-context, the line and
      post-context joined by newlines), ``fingerprint``: the first error event of the
      failed phase (else of the build; else the last non-blank line of the failed
      phase's output);
    - ``error_class``: the failure class of highest precedence among the build's error
      events (``"unclassified"`` when none matched);
    - ``blocked_direct`` / ``blocked_transitive`` (root causes): sorted package names
      of blocked builds in the same run that depend on it directly / directly or
      through other packages (``blocked_transitive`` includes ``blocked_direct``);
    - ``blocked_by`` (blocked rows): sorted names of the root causes of the same run
      it depends on, directly or not.

    Lists are empty (not missing) where they do not apply. Dependencies come from
    ``data.dependencies``; runs are the ``run`` column (builds without a run form one
    group). JUnit and CDash reports leave out the packages a failure blocked: they are
    rows here only when a DAG was given (:meth:`MonitorData.with_dag`); otherwise the
    table's ``attrs["notes"]`` (printed under its repr) says which report lacked one.
    """
    _check_data(data, "failures")
    table = _failures(data)
    table.attrs["notes"] = dag_notes(data)
    return table


def dag_notes(data: MonitorData) -> list[tuple[str, str]]:
    """The notes of ``data`` saying a report was loaded without the DAG that finds the
    packages it blocked (``(input, message)``; empty when every report had one)."""
    return [(str(w), str(m)) for w, m in data.notes if str(m).startswith(NO_DAG_NOTE)]


def _failures(data: MonitorData) -> FailureTable:
    builds = data.builds
    if not len(builds):
        return FailureTable(_empty_failures())
    rules = _rules(data)
    outcome = outcomes(data)
    builds = builds.assign(
        _outcome=builds["build"].astype(object).map(outcome).fillna("unknown"),
        _group=_run_keys(builds),
    )
    involved = builds[builds["_outcome"].isin(["failed", "never built"])]
    if not len(involved):
        return FailureTable(_empty_failures())

    phases = data.phases
    involved_keys = set(involved["build"].astype(object))
    mine = phases[phases["build"].astype(object).isin(involved_keys)]
    phases_of = {str(b): g for b, g in mine.groupby(mine["build"].astype(object), sort=False)}
    failed_name = failed_phases(mine)
    failed_phase: dict[str, tuple[str | None, str | None]] = {}
    for b, name in failed_name.items():
        group = phases_of[str(b)]
        row = group[group["name"].astype(object) == name].iloc[0]
        failed_phase[str(b)] = (_text(name), _text(row["output"]) if "output" in row else None)

    events = data.events
    wanted = events[events["build"].astype(object).isin(involved_keys)] if len(events) else events
    errors = wanted[wanted["kind"].astype(object) == "error"] if len(wanted) else wanted
    errors_by_build = {
        str(b): g for b, g in errors.groupby(errors["build"].astype(object), sort=False)
    }
    firsts = first_error_events(errors, mine) if len(errors) else None

    children = _dependency_map(data)
    rows: list[dict[str, Any]] = []
    for _group, run_builds in involved.groupby("_group", sort=False):
        causes = run_builds[run_builds["_outcome"] == "failed"]
        blocked = run_builds[run_builds["_outcome"] == "never built"]
        deps_of = {
            str(b): _reachable(str(h), children) if _value(h) is not None else set()
            for b, h in zip(
                blocked["build"].astype(object), blocked["full_hash"].astype(object), strict=True
            )
        }
        direct_of = {
            str(b): children.get(str(h), set()) if _value(h) is not None else set()
            for b, h in zip(
                blocked["build"].astype(object), blocked["full_hash"].astype(object), strict=True
            )
        }
        blocked_names = {
            str(b): _text(n) or "?"
            for b, n in zip(
                blocked["build"].astype(object), blocked["spec_name"].astype(object), strict=True
            )
        }
        cause_hash = {
            str(b): _text(h)
            for b, h in zip(
                causes["build"].astype(object), causes["full_hash"].astype(object), strict=True
            )
        }
        for _, row in causes.iterrows():
            b = str(row["build"])
            h = cause_hash[b]
            phase, output = failed_phase.get(b, (None, None))
            rec = _base_row(row, ROOT_CAUSE)
            rec["failed_phase"] = phase
            first = firsts.loc[b] if firsts is not None and b in firsts.index else None
            rec.update(_first_error(b, phase, first, errors_by_build.get(b), output, rules))
            rec["error_log"], rec["error_build_log_line"] = error_log_position(
                phases_of.get(b, phases.iloc[0:0]),
                rec.pop("_error_phase"),
                rec["error_line_no"],
                row.get("spack_version"),
            )
            if _text(row.get("source")) == "cdash":
                # CDash's steps are not Spack's phases and it keeps no build log: its line
                # numbers count in the step's log only, so no file or >> N is claimed
                rec["error_log"], rec["error_build_log_line"] = None, None
            rec["blocked_direct"] = sorted(
                {blocked_names[x] for x, d in direct_of.items() if h is not None and h in d}
            )
            rec["blocked_transitive"] = sorted(
                {blocked_names[x] for x, d in deps_of.items() if h is not None and h in d}
            )
            rec["blocked_by"] = []
            rows.append(rec)
        for _, row in blocked.iterrows():
            b = str(row["build"])
            rec = _base_row(row, BLOCKED)
            rec.update(
                failed_phase=None,
                first_error=None,
                error_line_no=None,
                error_log=None,
                error_build_log_line=None,
                error_context=None,
                error_class=None,
                fingerprint=None,
                blocked_direct=[],
                blocked_transitive=[],
            )
            rec["blocked_by"] = sorted(
                {
                    _text(c["spec_name"]) or "?"
                    for _, c in causes.iterrows()
                    if cause_hash[str(c["build"])] in deps_of[b]
                }
            )
            rows.append(rec)

    frame = pd.DataFrame.from_records(rows, columns=FAILURE_COLUMNS)
    frame["_role_rank"] = (frame["role"] != ROOT_CAUSE).astype(int)
    sort = ["run_time", "run", "_role_rank", "spec_name", "build"]
    frame = frame.sort_values(sort, kind="stable", na_position="last")
    frame = frame.drop(columns="_role_rank").reset_index(drop=True)
    for column in _TEXT_COLUMNS:  # missing text is None, never NaN
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["error_line_no"] = frame["error_line_no"].astype("Int64")
    frame["error_build_log_line"] = frame["error_build_log_line"].astype("Int64")
    if "run_time" in builds.columns:
        frame["run_time"] = pd.to_datetime(frame["run_time"], utc=True)
    return FailureTable(frame)


def _base_row(row: pd.Series, role: str) -> dict[str, Any]:
    return {
        "role": role,
        "build": str(row["build"]),
        "run": _text(row.get("run")),
        "run_time": _value(row.get("run_time")),
        "spec_name": _text(row.get("spec_name")),
        "spec_version": _text(row.get("spec_version")),
        "compiler": _text(row.get("compiler")),
        "dag_hash": _text(row.get("dag_hash")),
        "full_hash": _text(row.get("full_hash")),
        "status": _text(row.get("status")),
    }


def label(row: Any) -> str:
    """``name@version%compiler`` for a builds or failures row."""
    name = _text(row.get("spec_name")) or "?"
    version = _text(row.get("spec_version"))
    compiler = _text(row.get("compiler"))
    text = f"{name}@{version}" if version else name
    return f"{text}%{compiler}" if compiler else text


# ---------------------------------------------------------------------------------
# rates and matrices
# ---------------------------------------------------------------------------------

_COUNT_COLUMNS = ["builds", "failed", "blocked", "succeeded", "unknown"]


def _by_columns(by: str | Sequence[str], where: str) -> list[str]:
    if isinstance(by, str):
        columns = [by]
    elif isinstance(by, Iterable):
        columns = list(by)
    else:
        raise ConfigError(f"{where}: by={by!r} must be a builds column name or a list of them")
    if not columns:
        raise ConfigError(f"{where}: by=[] names no column; give at least one builds column")
    # a version alone means nothing across packages
    if "spec_version" in columns and "spec_name" not in columns:
        columns.insert(columns.index("spec_version"), "spec_name")
    return columns


def _outcome_table(data: _Frames) -> pd.DataFrame:
    builds = data.builds.copy()
    builds["_outcome"] = builds["build"].astype(object).map(_outcomes_of(data)).fillna("unknown")
    for name, value in (
        ("failed", "failed"),
        ("blocked", "never built"),
        ("succeeded", "succeeded"),
        ("unknown", "unknown"),
    ):
        builds[name] = (builds["_outcome"] == value).astype(int)
    builds["builds"] = 1
    return builds


class _BuildsOnly:
    """A builds frame on its own, read as MonitorData with no phases, events or dependencies
    (each build's outcome is then its ``outcome`` column, else its status alone)."""

    def __init__(self, builds: pd.DataFrame) -> None:
        self.builds = builds
        self.phases = pd.DataFrame(
            {"build": pd.Series(dtype=object), "status": pd.Series(dtype=object)}
        )
        self.events = pd.DataFrame()
        self.dependencies = pd.DataFrame()


def failure_rates(
    data: MonitorData | pd.DataFrame, by: str | Sequence[str] = "spec_name"
) -> pd.DataFrame:
    """Build outcomes per group, most failing first.

    ``data`` is a :class:`MonitorData`, or a builds frame alone (``data.builds`` or a slice of
    it, as ``df.spack.rates`` passes), whose ``outcome`` column then decides each build.

    ``by`` is a build column (``spec_name``, ``spec_version``, ``compiler``,
    ``host_os``, ``host_target``, ``tags``, ...) or a list of them; ``spec_version``
    is always grouped together with ``spec_name``; ``tags`` counts a build once under
    each of its tags. Columns: the group columns, ``builds``, ``failed`` (root
    causes), ``blocked`` (never built), ``succeeded``, ``unknown`` and
    ``failure_rate`` = failed / builds.
    """
    frames: _Frames = _BuildsOnly(data) if isinstance(data, pd.DataFrame) else data
    _check_data(frames, "failure_rates")
    columns = _by_columns(by, "failure_rates")
    _check_columns(frames, "failure_rates", "by", columns)
    table = _outcome_table(frames)
    if "tags" in columns:
        table = table.assign(
            tags=table["tags"].map(lambda t: tuple(_value(t) or ()) or (NO_TAG,))
        ).explode("tags")
    return rate_groups(table, columns)


#: The group of a build without tags in ``failure_rates(by="tags")``.
NO_TAG = "<no tag>"


def rate_groups(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The last step of :func:`failure_rates`: rows with the group ``columns`` and the counts
    ``builds``, ``failed``, ``blocked``, ``succeeded``, ``unknown`` (one row per build, or
    counts already summed per group, as the database summary gives them; tags already one per
    row) summed per group (a missing value is the group ``<NA>``), ``failure_rate`` added,
    most failing first."""
    table = table.assign(
        **{c: table[c].astype(object).where(table[c].notna(), "<NA>") for c in columns}
    )
    if not len(table):
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        for c in _COUNT_COLUMNS:
            empty[c] = pd.Series(dtype="int64")
        empty["failure_rate"] = pd.Series(dtype="float64")
        return empty
    grouped = table.groupby(columns, sort=True, dropna=False)[_COUNT_COLUMNS].sum()
    grouped = grouped.reset_index()
    grouped["failure_rate"] = grouped["failed"] / grouped["builds"]
    grouped = grouped.sort_values(
        ["failure_rate", "failed", "blocked", *columns],
        ascending=[False, False, False, *([True] * len(columns))],
        kind="stable",
    )
    return grouped.reset_index(drop=True)


def failure_matrix(
    data: MonitorData,
    rows: str = "spec_name",
    cols: str = "compiler",
    *,
    value: str = "failed",
) -> pd.DataFrame:
    """A ``rows`` x ``cols`` table of builds (package x compiler by default).

    ``value``: ``"failed"`` (root-cause failures, the default), ``"blocked"``,
    ``"builds"``, ``"succeeded"`` or ``"rate"`` (failed / builds, NaN where there was
    no build). Only row and column values that have builds appear; counts are int.
    """
    _check_data(data, "failure_matrix")
    _check_choice(
        "failure_matrix", "value", value, ("failed", "blocked", "builds", "succeeded", "rate")
    )
    _check_columns(data, "failure_matrix", "rows", [rows])
    _check_columns(data, "failure_matrix", "cols", [cols])
    table = _outcome_table(data)
    for column in (rows, cols):
        table[column] = table[column].astype(object).where(table[column].notna(), "<NA>")
    if not len(table):
        return pd.DataFrame(dtype="int64")
    sums = table.groupby([rows, cols])[["failed", "blocked", "builds", "succeeded"]].sum()
    if value == "rate":
        matrix = (sums["failed"] / sums["builds"]).unstack(cols)
    else:
        matrix = sums[value].unstack(cols, fill_value=0).astype("int64")
    matrix = matrix.sort_index(axis=0).sort_index(axis=1)
    matrix.index.name = rows
    matrix.columns.name = cols
    return matrix


# ---------------------------------------------------------------------------------
# phase times
# ---------------------------------------------------------------------------------


def phase_times(data: MonitorData, by: str | None = "spec_name") -> pd.DataFrame:
    """Phase durations per package (``by``) and phase name.

    Columns: ``by`` (when given), ``phase``, ``count`` (phases with a known duration),
    ``total``, ``share`` (of the ``by`` group's total, or of the overall total when
    ``by`` is None), ``min``, ``median``, ``max`` (seconds). Sorted by package, then
    by Spack's phase order (:func:`~spackmon_analysis.spackfacts.sort_phase_names`).
    """
    _check_data(data, "phase_times")
    if by is not None:
        _check_columns(data, "phase_times", "by", [by])
    phases = data.phases[["build", "name", "order", "duration"]].copy()
    phases = phases[phases["duration"].notna()]
    keys = ["phase"] if by is None else [by, "phase"]
    columns = [*keys, "count", "total", "share", "min", "median", "max"]
    if not len(phases):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    phases["phase"] = phases["name"].astype(object)
    phases["duration"] = phases["duration"].astype(float)
    phases["order"] = pd.to_numeric(phases["order"], errors="coerce")
    if by is not None:
        lookup = data.builds.set_index(data.builds["build"].astype(object))[by].astype(object)
        phases[by] = phases["build"].astype(object).map(lookup)
        phases[by] = phases[by].where(phases[by].notna(), "<NA>")
    grouped = phases.groupby(keys, sort=False)
    out = grouped["duration"].agg(["count", "sum", "min", "median", "max"]).reset_index()
    out = out.rename(columns={"sum": "total"})
    out["_order"] = grouped["order"].median().values
    if by is None:
        out["share"] = out["total"] / out["total"].sum()
    else:
        out["share"] = out["total"] / out.groupby(by)["total"].transform("sum")
    out["share"] = out["share"].fillna(0.0)
    # phases in Spack's order (spackfacts.sort_phase_names), within each group
    rank: dict[Any, int] = {}
    groups = out.groupby(keys[:-1], sort=False) if by is not None else [(None, out)]
    for _, group in groups:
        medians = dict(zip(group["phase"], group["_order"], strict=True))
        place = {name: i for i, name in enumerate(sort_phase_names(group["phase"], medians))}
        rank.update({i: place[p] for i, p in zip(group.index, group["phase"], strict=True)})
    out["_order"] = pd.Series(rank)
    out = out.sort_values([*keys[:-1], "_order", "phase"], kind="stable")
    return out[columns].reset_index(drop=True)


# ---------------------------------------------------------------------------------
# fingerprints, flaky builds, classes
# ---------------------------------------------------------------------------------


#: ``events=`` choices of :func:`error_fingerprints` and :func:`class_summary`.
EVENT_CHOICES = ("first", "all")


def first_errors(data: MonitorData) -> pd.DataFrame:
    """The first error event of each failed phase (rows of ``data.events``).

    For every ``ERROR`` phase, its error event with the lowest line number: the error
    :func:`failures` reports. A root cause whose failed phase has no error event but
    whose other phases do contributes the first error of the build instead, the one
    :func:`first_error_per_build` names. The make/ninja lines that merely repeat the
    failure further up the recursion (``make[2]: *** ... Error 1``, ``all-recursive``)
    are never chosen while the phase has another error, so each failure counts once
    (:func:`~spackmon_analysis.spackfacts.first_errors_per_failed_phase`).
    """
    _check_data(data, "first_errors")
    return first_errors_per_failed_phase(data.events, data.phases)


def first_error_per_build(data: MonitorData) -> pd.DataFrame:
    """The error event each view shows as a build's "first error", indexed by build key.

    The rule is :func:`~spackmon_analysis.spackfacts.first_error_events`: the error with
    the lowest line number in the build's first ``ERROR`` phase (by phase ``order``); for
    a build whose failed phase has no error event, or that has no failed phase, its
    earliest error by phase order, then line; make/ninja lines that repeat an earlier
    error of their phase are passed over. Builds without error events are absent.
    :func:`failures`, ``MonitorData.build(key)``, the explorer and the reports use it, so
    every view names the same error.
    """
    _check_data(data, "first_error_per_build")
    return first_error_events(data.events, data.phases)


def _select_events(data: MonitorData, kind: str | None, events: str) -> pd.DataFrame:
    """Events of ``kind`` (None: all); errors limited to :func:`first_errors` for "first"."""
    frame = data.events
    if events == "all" or kind == "warning":
        return frame if kind is None else frame[frame["kind"].astype(object) == kind]
    firsts = first_errors(data)
    if kind == "error":
        return firsts
    warnings = frame[frame["kind"].astype(object) != "error"]
    return pd.concat([firsts, warnings]).sort_index(kind="stable")


def _events_with_builds(data: MonitorData, kind: str | None, which: str) -> pd.DataFrame:
    events = _select_events(data, kind, which)
    builds = data.builds
    extra = builds[["build", "spec_name", "run", "run_time"]].copy()
    extra["build"] = extra["build"].astype(object)
    extra["run"] = extra["run"].astype(object)
    events = events.assign(build=events["build"].astype(object)).merge(
        extra, on="build", how="left"
    )
    # builds without a run (server/install data) count as their own occasion
    events["occasion"] = events["run"].where(events["run"].notna(), events["build"])
    # what first_seen/last_seen show: the run, else the build's time (never a bare key)
    shown = events["run_time"].map(_when) if "run_time" in events else events["build"]
    events["seen"] = events["run"].where(events["run"].notna(), shown)
    return events


def _when(value: Any) -> str | None:
    value = _value(value)
    if value is None:
        return None
    try:
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError):
        return str(value)


def error_fingerprints(
    data: MonitorData, *, kind: str | None = "error", events: str = "first"
) -> pd.DataFrame:
    """The most frequent event fingerprints (errors by default; ``kind=None``: all).

    ``events="first"`` (the default) counts one error per failed phase: its first error
    event, the one :func:`failures` reports (:func:`first_errors`), so the make lines
    that only echo a compiler error up the recursion do not count as failures of their
    own. ``events="all"`` counts every error event. Warnings (``kind="warning"`` or
    ``None``) are always all counted.

    Columns: ``fingerprint``, ``count`` (events, repeats within a log counted once),
    ``builds``, ``runs`` (distinct runs; a build without a run counts as one),
    ``packages`` (sorted names), ``first_seen`` / ``last_seen`` (run, by run time;
    for a build without a run, its time), ``status`` (``"new"``: seen in exactly one
    run; ``"recurring"``: in more), ``primary_class`` (the most common), ``example``
    (the text of its latest event).
    """
    _check_data(data, "error_fingerprints")
    _check_choice("error_fingerprints", "kind", kind, ("error", "warning", None))
    _check_choice("error_fingerprints", "events", events, EVENT_CHOICES)
    columns = [
        "fingerprint",
        "count",
        "builds",
        "runs",
        "packages",
        "first_seen",
        "last_seen",
        "status",
        "primary_class",
        "example",
    ]
    found = _events_with_builds(data, kind, events)
    found = found[found["fingerprint"].notna() & (found["fingerprint"].astype(str) != "")]
    if not len(found):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    found = found.sort_values(["run_time", "occasion"], kind="stable", na_position="first")
    rows = []
    for fp, group in found.groupby(found["fingerprint"].astype(str), sort=False):
        occasions = list(dict.fromkeys(group["occasion"].astype(object)))
        seen = list(group["seen"].astype(object))
        classes = group["primary_class"].dropna().astype(str)
        rows.append(
            {
                "fingerprint": fp,
                "count": len(group),
                "builds": group["build"].nunique(),
                "runs": len(occasions),
                "packages": sorted({str(n) for n in group["spec_name"].dropna()}),
                "first_seen": _text(seen[0]),
                "last_seen": _text(seen[-1]),
                "status": "new" if len(occasions) == 1 else "recurring",
                "primary_class": classes.mode().iloc[0] if len(classes) else None,
                "example": str(group["text"].iloc[-1]),
            }
        )
    out = pd.DataFrame.from_records(rows, columns=columns)
    out = out.sort_values(["count", "runs", "fingerprint"], ascending=[False, False, True])
    return out.reset_index(drop=True)


def flaky(data: MonitorData, environment: Iterable[str] = FLAKY_ENVIRONMENT) -> pd.DataFrame:
    """Specs that failed (a root cause) in one run and succeeded in another.

    Builds are compared by ``full_hash`` plus the ``environment`` columns
    (:data:`FLAKY_ENVIRONMENT` by default). Columns: ``spec_name``, ``spec_version``,
    ``compiler``, ``full_hash``, the environment columns, ``builds``, ``failed``,
    ``succeeded``, ``failed_runs``, ``succeeded_runs`` (lists of runs, or build keys
    for builds without a run), ``error_class`` and ``first_error`` of the latest
    failure.
    """
    _check_data(data, "flaky")
    if isinstance(environment, str):
        environment = [environment]
    elif not isinstance(environment, Iterable):
        raise ConfigError(f"flaky: environment={environment!r} must be a list of builds columns")
    environment = list(environment)
    if tuple(environment) == FLAKY_ENVIRONMENT:  # the default: use what the frame has
        env = [c for c in environment if c in data.builds.columns]
    else:
        _check_columns(data, "flaky", "environment", environment)
        env = environment
    keys = ["full_hash", *dict.fromkeys(c for c in env if c != "full_hash")]
    columns = [
        "spec_name",
        "spec_version",
        "compiler",
        *keys,
        "builds",
        "failed",
        "succeeded",
        "failed_runs",
        "succeeded_runs",
        "error_class",
        "first_error",
    ]
    table = _outcome_table(data)
    if not len(table):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    table["occasion"] = table["run"].astype(object).where(table["run"].notna(), table["build"])
    for key in keys:
        table[key] = table[key].astype(object).where(table[key].notna(), "<NA>")
    sort = ["run_time", "occasion"] if "run_time" in table.columns else ["occasion"]
    table = table.sort_values(sort, kind="stable", na_position="first")
    found = None
    rows = []
    for _, group in table.groupby(keys, sort=True):
        if not (group["failed"].any() and group["succeeded"].any()):
            continue
        if found is None:
            found = failures(data).set_index("build")
        failed = group[group["failed"] == 1]
        last = str(failed["build"].iloc[-1])
        info = found.loc[last] if last in found.index else {}
        first = group.iloc[0]
        rows.append(
            {
                "spec_name": _text(first["spec_name"]),
                "spec_version": _text(first["spec_version"]),
                "compiler": _text(first.get("compiler")),
                **{k: first[k] for k in keys},
                "builds": len(group),
                "failed": int(group["failed"].sum()),
                "succeeded": int(group["succeeded"].sum()),
                "failed_runs": [str(x) for x in failed["occasion"]],
                "succeeded_runs": [str(x) for x in group.loc[group["succeeded"] == 1, "occasion"]],
                "error_class": _text(info.get("error_class")) if len(info) else None,
                "first_error": _text(info.get("first_error")) if len(info) else None,
            }
        )
    return pd.DataFrame.from_records(rows, columns=columns)


def class_summary(
    data: MonitorData, found: pd.DataFrame | None = None, *, events: str = "first"
) -> pd.DataFrame:
    """Failure classes of the root causes.

    One row per class that is the summary class of at least one root cause, plus
    ``unclassified`` (always present). Columns: ``class``, ``builds`` (root causes
    with this summary class), ``share`` (of all root causes), ``events`` (error events
    whose classes include it; for ``unclassified``: error events with no class; with
    ``events="first"``, the default, only the first error of each failed phase counts,
    see :func:`first_errors`; ``events="all"``: every error event), ``description``
    (from the rules file). ``frame.attrs`` holds
    ``root_causes``, ``unclassified_rate`` (share of root causes left unclassified)
    and ``unclassified_event_rate`` (share of error events with no class). Pass
    ``found`` (a :func:`failures` frame) to avoid recomputing it.
    """
    _check_data(data, "class_summary")
    _check_choice("class_summary", "events", events, EVENT_CHOICES)
    rules = _rules(data)
    found = failures(data) if found is None else found
    causes = found[found["role"] == ROOT_CAUSE]
    counts = causes["error_class"].fillna(UNCLASSIFIED).value_counts()
    errors = _select_events(data, "error", events)
    event_counts: dict[str, int] = {}
    unclassified_events = 0
    for classes in errors["classes"]:
        classes = tuple(_value(classes) or ())
        if not classes:
            unclassified_events += 1
        for name in classes:
            event_counts[name] = event_counts.get(name, 0) + 1
    order = [c for c in rules.precedence if counts.get(c, 0)]
    order += sorted(c for c in counts.index if c not in order and c != UNCLASSIFIED)
    order.append(UNCLASSIFIED)
    total = len(causes)
    rows = []
    for name in order:
        n = int(counts.get(name, 0))
        rows.append(
            {
                "class": name,
                "builds": n,
                "share": n / total if total else 0.0,
                "events": unclassified_events
                if name == UNCLASSIFIED
                else event_counts.get(name, 0),
                "description": rules.classes[name].description
                if name in rules.classes
                else ("errors no class matched" if name == UNCLASSIFIED else ""),
            }
        )
    out = pd.DataFrame.from_records(
        rows, columns=["class", "builds", "share", "events", "description"]
    )
    out.attrs["root_causes"] = total
    out.attrs["unclassified_rate"] = int(counts.get(UNCLASSIFIED, 0)) / total if total else 0.0
    out.attrs["unclassified_event_rate"] = unclassified_events / len(errors) if len(errors) else 0.0
    return out
