"""JUnit and CDash reports as frame sets, and the packages they leave out.

:func:`junit_frames` and :func:`cdash_frames` turn the :class:`~spackmon_analysis.records.
ReportRun` records of :mod:`.junit` / :mod:`.cdash` into the five frames (one ``run`` per
report, named after the file or directory); ``frames.load_junit``/``load_cdash`` return them
as ``MonitorData``. A report lists only what Spack attempted: a package that never built
because a dependency failed is missing from it. :func:`with_dag_frames` (behind
``MonitorData.with_dag`` and the ``dag=`` argument of both loaders) adds them from a
dependency DAG, as builds with status ``FAILED`` and no phase in the report's run, exactly
the shape a monitor server records for them, so ``failures`` lists them as ``blocked`` by
their root cause. Without a DAG, a report with a failure says so in ``notes`` (and
``failures`` repeats it).
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ReportError
from ..logs import parse_log
from ..records import NO_DAG_NOTE, ReportRun
from ..spackfacts import build_outcome, short_hash, splice_links
from ..spec import SpecGraph, load_spec
from ..spec.graph import _no_gc
from .assemble import (
    Assembler,
    FrameSet,
    PhaseColumns,
    category_array,
    concat_frames,
    frame_or_empty,
    object_column,
    phase_dict,
    resolve_rules,
    utc,
    utc_from_micros,
)
from .cdash import NAME_FROM_BUILDNAME, NAME_FROM_BUILDNAME_NOTE, is_cdash_dir, read_cdash
from .environment import environment_frames, is_environment
from .installs import install_tree_frames
from .junit import is_junit_file, read_junit, read_junit_columns

__all__ = ["junit_frames", "cdash_frames", "with_dag_frames", "report_runs", "is_report"]

#: The group of the builds (source ``install``) that have no run, in :func:`with_dag_frames`.
INSTALL_GROUP = "\0install"
#: Words of the "no DAG" note of a failed install-tree build (how a later DAG finds it).
INSTALL_FAILURE = "failed in an install tree, stage directory or failure marker"

DagSource = Any  # a path (spec file, spack.lock, environment, install tree), a SpecGraph, a MonitorData or FrameSet


def _phase_dict(p: Any, events: list[Any] | None) -> dict[str, Any]:
    """:func:`~spackmon_analysis.loaders.assemble.phase_dict`, with the phase's events when
    they are already parsed (``None``: left for the assembler to parse from the output)."""
    out = phase_dict(p)
    if events is not None:
        out["events"] = events
    return out


def _quiet_phases(phases: list[Any], rules: Any) -> list[list[Any] | None]:
    """``[]`` for each phase that has no event, ``None`` for the others (to be parsed on
    their own), for phases cut in order out of one log (a JUnit ``<system-out>``).

    One :func:`~spackmon_analysis.logs.parse_log` of the whole log finds the lines with an
    event; a phase holding none has none (events are found line by line), so only the
    phases with one are parsed again, on their own, which gives exactly their per-phase
    events (line numbers, context within the phase, repeats and caps per phase). When the
    whole-log parse merged repeats or hit its cap, every phase is parsed on its own.
    """
    if len(phases) < 2 or any(p.first_line is None or not p.output for p in phases):
        return [None] * len(phases)
    events = parse_log("".join(p.output for p in phases), rules=rules, classify=False)
    if not events:
        return [[] for _ in phases]
    if events.dropped or any(e.repeat_count > 1 for e in events):
        return [None] * len(phases)
    lines = sorted(e.line_no for e in events)
    hints: list[list[Any] | None] = []
    start = 1
    for phase in phases:
        end = start + phase.output.count("\n") + (0 if phase.output.endswith("\n") else 1)
        hit = bisect.bisect_left(lines, start) < bisect.bisect_left(lines, end)
        hints.append(None if hit else [])
        start = end if phase.output.endswith("\n") else end - 1
    return hints


def _frames(runs: list[ReportRun], *, keep_output: bool, rules: Any, source: str) -> FrameSet:
    """The frames of ``runs``. The runs' phase records are consumed (``run.phases`` is
    emptied and each build's records dropped once its rows are made), so a report near the
    size cap does not keep every phase twice, as records and as rows."""
    asm = Assembler(keep_output=keep_output, rules=rules)
    notes: list[tuple[str, str]] = []
    extra: dict[str, tuple[Any, ...]] = {}
    for run in runs:
        notes.extend(run.notes)
        by_build: dict[str, list[Any]] = {}
        for phase in run.phases:
            by_build.setdefault(phase.build_key, []).append(phase)
        run.phases = []
        built = set(by_build)
        for record in run.builds:
            # the same package in two reports of a folder: the later one's key names its run
            key = record.key if record.key not in extra else f"{run.name}/{record.key}"
            env = record.environment()
            env["spack_version"] = record.spack_version or run.spack_version
            phases = sorted(by_build.pop(record.key, []), key=lambda p: p.order or 0)
            asm.add_build(
                key=key,
                build_id=None,
                run=run.name,
                run_time=run.started_at,
                full_hash=record.full_hash or None,
                dag_hash=record.full_hash or None,
                spec_name=record.spec_name,
                spec_version=record.spec_version,
                status=record.status,
                env=env,
                tags=record.tags,
                owner=None,
                created_at=record.created_at or run.started_at,
                source=run.format,
                phases=[
                    _phase_dict(p, run.events.get((record.key, p.name), hint))
                    for p, hint in zip(phases, _quiet_phases(phases, rules), strict=True)
                ],
                compiler=record.compiler,
            )
            extra[key] = (
                record.duration,
                record.message,
                record.traceback,
                run.spack_commit,
                run.build_roots.get(record.key),
            )
        note = _no_dag_note(run, built)
        if note is not None:
            notes.append(note)
    frames = asm.frames()
    builds = frames["builds"]
    keys = list(builds["build"])
    given = [extra.get(k, (None,) * 5) for k in keys]
    durations = [g[0] for g in given]
    builds["duration"] = [
        d if d is not None else old for d, old in zip(durations, builds["duration"], strict=True)
    ]
    builds["message"] = [g[1] for g in given]
    builds["traceback"] = [g[2] for g in given]
    builds["spack_commit"] = [g[3] for g in given]
    builds["root"] = [g[4] for g in given]
    return FrameSet(
        **frames, source=source, rules=rules, problems=list(asm.problems), notes=notes + asm.notes
    )


def _no_dag_note(run: ReportRun, built: set[str]) -> tuple[str, str] | None:
    return _no_dag_note_for(
        run,
        sorted(
            {b.spec_name or b.key for b in run.builds if b.status == "FAILED" and b.key in built}
        ),
    )


def _no_dag_note_for(run: ReportRun, failed: list[str]) -> tuple[str, str] | None:
    """The note that a run's failed packages (``failed``, their names) block packages the
    report leaves out, which only a DAG can list; None when none failed."""
    if not failed:
        return None
    return (
        run.path,
        f"{NO_DAG_NOTE}: the packages that never built because {', '.join(failed)} "
        "failed are not in the report and cannot be listed; give a spec file, "
        "install tree or environment (dag=... or data.with_dag(...); spackmon: "
        "--dag PATH)",
    )


def _junit_frames(files: list[Path], *, keep_output: bool, rules: Any, source: str) -> FrameSet:
    """JUnit report files (a folder's, in order) -> the frames, column-wise: each testcase's
    build is a row of plain values and its phases and events go into one
    :class:`~.assemble.PhaseColumns` as the file is read
    (:func:`~.junit.read_junit_columns`), and every column is made once in the contract's
    dtype. The same frames as :func:`_frames` over :func:`~.junit.read_junit`'s records
    (the file stems must differ, as in a folder; a build key an earlier report took gets
    ``<run>/`` in front)."""
    import numpy as np
    import pandas as pd

    from ..records import BUILD_STATUS_CATEGORIES, OUTCOMES, SOURCES

    columns = PhaseColumns(keep_output=keep_output, rules=rules)
    notes: list[tuple[str, str]] = []
    taken: set[str] = set()
    keys: list[str] = []
    rows: list[tuple[Any, ...]] = []
    #: per build: its run's index in ``runs`` and its suite's index in ``suites``
    run_of: list[int] = []
    suite_of: list[int] = []
    runs: list[ReportRun] = []
    suites: list[tuple[Any, ...]] = []
    for file in files:
        start = len(columns.spans)
        run, read = read_junit_columns(file, columns, taken)
        notes.extend(run.notes)
        kept = [row for row in read.rows if row is not None]
        hashes = [row[0] for row in kept]
        if taken.isdisjoint(hashes):
            run_keys = hashes
        else:
            run_keys = [h if h not in taken else f"{run.name}/{h}" for h in hashes]
        built = {key for key, a, _b in columns.spans[start:]}
        failed = sorted(
            {row[1] or row[0] for row, key in zip(kept, run_keys, strict=True)
             if row[2] == "FAILED" and key in built}
        )  # fmt: skip
        note = _no_dag_note_for(run, failed)
        if note is not None:
            notes.append(note)
        taken.update(run_keys)
        run_of.extend([len(runs)] * len(kept))
        suite_of.extend([len(suites) + row[7] for row in kept])
        runs.append(run)
        suites.extend(read.suites)
        keys.extend(run_keys)
        rows.extend(kept)
    n = len(rows)
    (hashes, names, statuses, tags, seconds, messages, tracebacks, _suite, roots) = (
        list(column) for column in zip(*rows, strict=True)
    ) if n else ([] for _ in range(9))  # fmt: skip
    # a failed build is failed (not never built) when it has a phase, its last one ERROR
    has_phases = {key for key, a, b in columns.spans if b > a}
    outcome_of: dict[tuple[str, bool], str] = {}
    outcomes = []
    for key, status in zip(keys, statuses, strict=True):
        errored = status == "FAILED" and key in has_phases
        outcome = outcome_of.get((status, errored))
        if outcome is None:
            outcome = outcome_of[status, errored] = build_outcome(
                status, ("ERROR",) if errored else ()
            )
        outcomes.append(outcome)
    # a testcase without a time lasted the sum of its phases' known durations
    untimed = [i for i, s in enumerate(seconds) if s is None]
    if untimed:
        spans = {key: (a, b) for key, a, b in columns.spans}
        durations = columns.durations()
        for i in untimed:
            span = spans.get(keys[i])
            known = [float(d) for d in (durations[span[0] : span[1]] if span else ()) if d == d]
            seconds[i] = sum(known) if known else float("nan")
    run_index = np.array(run_of, dtype=np.int64)
    suite_index = np.array(suite_of, dtype=np.int64)

    def per(values: list[Any], index: Any) -> Any:
        """One value per run or suite -> one per build (an object array)."""
        table = np.empty(len(values), dtype=object)
        table[:] = values
        return table[index] if len(index) else np.empty(0, dtype=object)

    def micros(values: list[Any]) -> tuple[Any, Any]:
        """Times (one per run or suite) as microseconds and whether each is known."""
        us = [_micros(v) for v in values]
        known = np.array([u is not None for u in us], dtype=bool)
        return np.array([u or 0 for u in us], dtype=np.int64), known

    # a build's time: its run's; created: its suite's timestamp, else its run's
    run_us, run_known = micros([r.started_at for r in runs])
    suite_us, suite_known = micros([s[4] for s in suites])
    run_time_us, run_time_known = run_us[run_index], run_known[run_index]
    stamped = np.array([s[4] is not None for s in suites], dtype=bool)[suite_index]
    created_us = np.where(stamped, suite_us[suite_index], run_time_us)
    created_known = np.where(stamped, suite_known[suite_index], run_time_known)
    none = object_column([None] * n)
    no_category = category_array(none)
    no_string = pd.array(none, dtype="string")
    hash_array = pd.array(hashes, dtype="string")
    builds = pd.DataFrame(
        {
            "build": pd.array(keys, dtype="string"),
            "build_id": pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, bool)),
            "run": category_array(per([r.name for r in runs], run_index)),
            "run_time": utc_from_micros(run_time_us, run_time_known),
            "full_hash": hash_array,
            "dag_hash": hash_array.copy(),
            "spec_name": pd.array(names, dtype="string"),
            "spec_version": no_string,
            "compiler": category_array(per([s[3] for s in suites], suite_index)),
            "status": category_array(object_column(statuses), BUILD_STATUS_CATEGORIES),
            "outcome": category_array(object_column(outcomes), OUTCOMES),
            "host_os": category_array(per([s[1] for s in suites], suite_index)),
            "platform": category_array(per([s[0] for s in suites], suite_index)),
            "host_target": category_array(per([s[2] for s in suites], suite_index)),
            "hostname": no_category,
            "kernel_version": no_category.copy(),
            "spack_version": no_category.copy(),
            "tags": object_column(tags),
            "owner": no_string.copy(),
            "created_at": utc_from_micros(created_us, created_known),
            "duration": np.array(seconds, dtype=np.float64),
            "source": category_array(np.full(n, "junit", dtype=object), SOURCES),
            # the report's own columns, made as pandas infers them from lists (as before)
            "message": messages,
            "traceback": tracebacks,
            "spack_commit": list(per([r.spack_commit for r in runs], run_index)),
            "root": roots,
        }
    )
    capped = [(f"{key}/{name}", message) for key, name, message in columns.capped]
    return FrameSet(
        specs=None,
        dependencies=None,
        builds=builds,
        phases=columns.frame(),
        events=columns.events_frame(),
        source=source,
        rules=rules,
        notes=notes + capped,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _micros(value: Any) -> int | None:
    """A time (``datetime``, naive taken as UTC) as microseconds since the epoch; None for
    none, or outside the ``datetime64[ns]`` years."""
    if not isinstance(value, datetime):
        return None
    value = utc(value)
    if not 1678 <= value.astimezone(timezone.utc).year <= 2261:
        return None
    return (value - _EPOCH) // timedelta(microseconds=1)


def _junit_files(target: Path) -> list[Path]:
    if not target.is_dir():  # a file, or a FIFO/device that read_junit refuses
        return [target]
    files = _report_paths(target, is_junit_file)
    if not files:
        raise ReportError(
            "no JUnit report (*.xml with <testsuites>) in the folder", filename=str(target)
        )
    return files


def _report_paths(path: Path, suffix_ok: Any) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file() and suffix_ok(p))


def report_runs(path: str | os.PathLike[str], fmt: str, *, rules: Any = None) -> list[ReportRun]:
    """The :class:`ReportRun` records of a JUnit file or folder of them (``fmt="junit"``)
    or of a CDash directory or folder of them (``"cdash"``)."""
    target = Path(path).expanduser()
    if not target.exists():
        raise ReportError("no such file or directory", filename=str(target))
    if fmt == "junit":
        return [read_junit(f) for f in _junit_files(target)]
    if is_cdash_dir(target):
        return [read_cdash(target, rules=rules)]
    if target.is_dir():
        dirs = sorted(d for d in target.iterdir() if is_cdash_dir(d))
        if dirs:
            return [read_cdash(d, rules=rules) for d in dirs]
    return [read_cdash(target, rules=rules)]  # raises the right ReportError


def is_report(path: Path) -> str | None:
    """``"junit"`` for a JUnit file or a folder holding JUnit files (and nothing else that
    :func:`~.detect.load` reads), ``"cdash"`` for a CDash report directory, else None."""
    if path.is_file():
        return "junit" if is_junit_file(path) else None
    if is_cdash_dir(path):
        return "cdash"
    return None


def _report_frames(
    path: Any, fmt: str, dag: Any, keep_output: bool, rules: Any, strict: bool
) -> FrameSet:
    del strict  # a malformed report always raises: nothing in it can be skipped safely
    active = resolve_rules(rules)
    target = Path(path).expanduser()
    if not target.exists():
        raise ReportError("no such file or directory", filename=str(target))
    files = _junit_files(target) if fmt == "junit" else []
    if files and len({f.stem for f in files}) == len(files):
        with _no_gc():  # tens of thousands of young containers: no collector pass over them
            data = _junit_frames(files, keep_output=keep_output, rules=active, source=str(target))
    else:  # CDash, or JUnit files of one stem (a.xml, a.XML: keys are told apart by stem)
        runs = report_runs(path, fmt, rules=active)
        data = _frames(runs, keep_output=keep_output, rules=active, source=str(target))
    if dag is not None:
        sources = dag if isinstance(dag, list | tuple) else [dag]
        data = with_dag_frames(data, *sources)
    return data


def junit_frames(
    path: str | os.PathLike[str],
    *,
    dag: DagSource | list[DagSource] | None = None,
    keep_output: bool = True,
    rules: Any = None,
    strict: bool = True,
) -> FrameSet:
    """A JUnit report file (or a folder of them) as a frame set: see ``frames.load_junit``."""
    return _report_frames(path, "junit", dag, keep_output, rules, strict)


def cdash_frames(
    path: str | os.PathLike[str],
    *,
    dag: DagSource | list[DagSource] | None = None,
    keep_output: bool = True,
    rules: Any = None,
    strict: bool = True,
) -> FrameSet:
    """A CDash report directory (or a folder of them) as a frame set: see
    ``frames.load_cdash``."""
    return _report_frames(path, "cdash", dag, keep_output, rules, strict)


# ---------------------------------------------------------------------------------
# the DAG: packages a report leaves out


def _dag_data(source: DagSource) -> FrameSet:
    if hasattr(source, "specs") and hasattr(source, "dependencies"):  # MonitorData, FrameSet
        return FrameSet(
            specs=source.specs, dependencies=source.dependencies, source=str(source.source)
        )
    graph = None
    if isinstance(source, SpecGraph) or (hasattr(source, "nodes") and hasattr(source, "edges")):
        graph = source
    elif isinstance(source, str | os.PathLike):
        target = Path(source).expanduser()
        if not target.exists():
            raise ConfigError(f"{target}: no such file or directory (a DAG source)")
        if is_environment(target):  # a spack.lock or an environment directory
            env = environment_frames(target)
            return FrameSet(specs=env.specs, dependencies=env.dependencies, source=env.source)
        if target.is_dir():
            tree = install_tree_frames(target, keep_output=False)
            return FrameSet(specs=tree.specs, dependencies=tree.dependencies, source=str(target))
        graph = load_spec(target)
    else:
        raise ConfigError(
            "a DAG source is a spec file, spack.lock, environment or install tree path, a SpecGraph or a MonitorData, "
            f"not {type(source).__name__}"
        )
    asm = Assembler(keep_output=False, rules=None)
    asm.add_graph(graph)
    frames = asm.frames()
    return FrameSet(
        specs=frames["specs"],
        dependencies=frames["dependencies"],
        source=str(getattr(graph, "source", "")),
    )


def _text(value: Any) -> str | None:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return str(value)


def with_dag_frames(data: Any, *sources: DagSource) -> FrameSet:
    """``data`` (a ``MonitorData`` or frame set) with the DAG of ``sources`` (spec files,
    install trees, environments: paths, :class:`~spackmon_analysis.spec.SpecGraph`,
    ``MonitorData`` or frame sets; none: the specs and dependencies ``data`` already holds)
    and the packages its reports leave out.

    For each report run (``builds.source`` ``junit`` or ``cdash``): builds named only by
    package (CDash) get the hash of the DAG's only non-external node of that name; a
    skipped build gets the tag ``external`` or ``installed``; and every non-external node
    of the DAG that depends, directly or not, on a build of the run that failed, and has
    no build in the run, becomes a build of the run with status ``FAILED``, no phases and
    the tag ``blocked`` (key: its DAG hash), which :func:`~spackmon_analysis.failures.
    failures` lists as ``blocked`` by the root cause. The run's "no DAG" note is replaced
    by a note naming what was added, or by one naming the failed builds the DAG does not
    hold.

    The builds of install trees, stage directories and failure markers (``source``
    ``install``) are treated the same way, as one group (those of one ``run`` as that run):
    the blocked builds added have no run, and a node with a build anywhere in ``data`` is
    never added (report runs are resolved first). A failed one the DAG does not hold gets
    the "no DAG" note (:data:`INSTALL_FAILURE` in its words), which a later DAG replaces.
    """
    import pandas as pd

    tree_where = str(getattr(data, "source", "") or "install tree")
    parts = [data] + [_dag_data(s) for s in sources]
    merged = concat_frames(parts)
    merged.source = data.source
    specs = frame_or_empty("specs", merged.specs)
    deps = frame_or_empty("dependencies", merged.dependencies)
    by_dag: dict[str, str] = {}
    external: set[str] = set()
    by_name: dict[str, list[str]] = {}
    info: dict[str, tuple[str | None, str | None, str | None]] = {}
    for key, dag, name, version, ext, compiler in zip(
        specs["full_hash"].astype(object),
        specs["dag_hash"].astype(object),
        specs["name"].astype(object),
        specs["version"].astype(object),
        specs["external"],
        specs["compiler"].astype(object),
        strict=True,
    ):
        key = str(key)
        by_dag[key] = key
        if _text(dag):
            by_dag.setdefault(str(dag), key)
        if bool(ext):
            external.add(key)
        elif _text(name):
            by_name.setdefault(str(name), []).append(key)
        info[key] = (_text(name), _text(version), _text(compiler))
    parents: dict[str, set[str]] = {}
    for parent, child in zip(
        deps["parent_hash"].astype(object), deps["child_hash"].astype(object), strict=True
    ):
        if _text(parent) and _text(child):
            parents.setdefault(str(child), set()).add(str(parent))
    for spliced, built_as in splice_links(specs):  # a failed build spec blocks the rewiring
        parents.setdefault(built_as, set()).add(spliced)

    builds = frame_or_empty("builds", merged.builds).copy()
    # the report columns (added for the lookups; kept only when a report's builds are here)
    added_columns = [
        c for c in ("message", "traceback", "spack_commit", "root") if c not in builds.columns
    ]
    for column in added_columns:
        builds[column] = None
    source = builds["source"].astype(object)
    # report runs, and the builds of install trees, stage directories and the install
    # database's failure markers (source ``install``: one group per run, those without a
    # run one group, as ``failures`` groups them)
    is_report = source.isin(["junit", "cdash", "install"])
    group_of = pd.Series(
        [(str(r) if _text(r) is not None else INSTALL_GROUP) for r in builds["run"].astype(object)],
        index=builds.index,
        dtype=object,
    )
    notes = list(merged.notes)
    new_rows: list[dict[str, Any]] = []
    resolved_notes: list[tuple[str, str]] = []
    full = builds["full_hash"].astype(object).tolist()
    dags = builds["dag_hash"].astype(object).tolist()
    tags = list(builds["tags"])
    names = builds["spec_name"].astype(object).tolist()
    versions = builds["spec_version"].astype(object).tolist()
    compilers = builds["compiler"].astype(object).tolist()
    guessed_names = _check_buildname_guesses(builds, merged, names, tags, by_name, info, deps)
    notes = [n for n in notes if not _settled_guess_note(n, guessed_names)]
    notes += guessed_names["notes"]
    for i in range(len(builds)):
        if not is_report.iloc[i]:
            continue
        key = by_dag.get(_text(full[i]) or "") if _text(full[i]) else None
        if key is None and not _text(full[i]) and _text(names[i]):
            candidates = by_name.get(str(names[i]), [])
            if len(candidates) == 1:
                key = candidates[0]
            elif len(candidates) > 1:
                notes.append(
                    (
                        str(builds["build"].iloc[i]),
                        f"{names[i]}: {len(candidates)} nodes of that name in the DAG; its hash stays unknown",
                    )
                )
        if key is None:
            continue
        full[i] = key
        name, version, compiler = info.get(key, (None, None, None))
        dag_hash = specs.loc[specs["full_hash"] == key, "dag_hash"]
        dags[i] = _text(dag_hash.iloc[0]) if len(dag_hash) and _text(dag_hash.iloc[0]) else key
        if not _text(versions[i]) and version:
            versions[i] = version
        # a report that names no compiler (1.x JUnit has no compiler property, CDash none)
        # takes the node's own from the DAG (in 1.x specs: its c/cxx/fortran build edge)
        if not _text(compilers[i]) and compiler:
            compilers[i] = compiler
        if "skipped" in tuple(tags[i] or ()) and not ({"external", "installed"} & set(tags[i])):
            tags[i] = (*tuple(tags[i]), "external" if key in external else "installed")
    builds["spec_name"] = pd.array(names, dtype=builds["spec_name"].dtype)
    builds["full_hash"] = pd.array(full, dtype="string")
    builds["dag_hash"] = pd.array(dags, dtype="string")
    builds["spec_version"] = pd.array(versions, dtype="string")
    builds["compiler"] = pd.array(compilers, dtype=builds["compiler"].dtype)
    builds["tags"] = pd.Series(tags, index=builds.index, dtype=object)

    outcome = builds["outcome"].astype(object)
    taken = set(builds["build"].astype(object))
    cleared: set[str] = set()
    # every hash any build has (a package built anywhere in ``data`` is not blocked in an
    # install tree: a report's build and a stage directory may be the same attempt)
    everywhere = {str(h) for h in builds["full_hash"].astype(object) if _text(h)}
    report_groups = builds[is_report].groupby(group_of[is_report], sort=False)
    # report runs first: a stage directory's failure a report also holds adds nothing twice
    ordered = sorted(report_groups, key=lambda item: item[0] == INSTALL_GROUP)
    for run, group in ordered:
        in_tree = run == INSTALL_GROUP
        run_hashes = {h for h in group["full_hash"].astype(object) if _text(h)}
        if in_tree:
            run_hashes |= everywhere | {str(row["full_hash"]) for row in new_rows}
        failed = group[outcome[group.index] == "failed"]
        if not len(failed):
            continue
        failed_keys = {
            str(h) for h in failed["full_hash"].astype(object) if _text(h) and str(h) in info
        }
        missing = sorted(
            str(n)
            for n, h in zip(failed["spec_name"], failed["full_hash"].astype(object), strict=True)
            if not (_text(h) and str(h) in info)
        )
        first = failed.iloc[0] if in_tree else group.iloc[0]
        roots = sorted({str(r) for r in group["root"] if _text(r)})
        added = []
        if failed_keys:
            for node in _dependents(failed_keys, parents):
                if node in run_hashes or node in external or node not in info:
                    continue
                name, version, compiler = info[node]
                key = node if node not in taken else f"{run}/{node}"
                taken.add(key)
                dag_hash = specs.loc[specs["full_hash"] == node, "dag_hash"]
                new_rows.append(
                    {
                        "build": key,
                        "run": None if in_tree else run,
                        "run_time": first["run_time"],
                        "full_hash": node,
                        "dag_hash": _text(dag_hash.iloc[0])
                        if len(dag_hash) and _text(dag_hash.iloc[0])
                        else node,
                        "spec_name": name,
                        "spec_version": version,
                        "compiler": compiler,
                        "status": "FAILED",
                        "outcome": "never built",
                        "host_os": first["host_os"],
                        "platform": first["platform"],
                        "host_target": first["host_target"],
                        "hostname": first["hostname"],
                        "kernel_version": first["kernel_version"],
                        "spack_version": first["spack_version"],
                        "tags": ("blocked",),
                        "root": roots[0] if len(roots) == 1 else None,
                        "source": first["source"],
                        "created_at": None,
                    }
                )
                added.append(f"{name} /{short_hash(dag_hash.iloc[0] if len(dag_hash) else node)}")
        cleared.add(str(run))
        where = tree_where if in_tree else str(run)
        if added:
            resolved_notes.append(
                (
                    where,
                    f"{'no build in the install trees' if in_tree else 'not in the report'}, "
                    f"never built (blocked; from the DAG): {', '.join(sorted(added))}",
                )
            )
        elif failed_keys:
            resolved_notes.append(
                (
                    where,
                    "the DAG holds no package that depends on the failed build(s): none blocked",
                )
            )
        if missing and in_tree:
            resolved_notes.append(
                (
                    where,
                    f"{NO_DAG_NOTE} for {', '.join(missing)} ({INSTALL_FAILURE}): the packages "
                    "that never built because of it cannot be listed, as no DAG given holds it; "
                    "give a spec file, install tree or environment that does (dag=... or "
                    "data.with_dag(...); spackmon: --dag PATH)",
                )
            )
        elif missing:
            resolved_notes.append(
                (
                    str(run),
                    f"{NO_DAG_NOTE} for {', '.join(missing)}: the DAG given does not hold it, so its dependents cannot be listed",
                )
            )
    if new_rows:
        builds = pd.concat([builds, pd.DataFrame(new_rows)], ignore_index=True)
    if added_columns and not builds["source"].astype(object).isin(["junit", "cdash"]).any():
        builds = builds.drop(columns=added_columns)
    runs_of = {str(r): str(r) for r in cleared}
    # a run looked at again with this DAG: its earlier "no DAG" notes (none given, or one
    # that did not hold a failed build) are replaced by what this DAG found
    stale = (NO_DAG_NOTE + ":", NO_DAG_NOTE + " for ")
    notes = [
        n
        for n in notes
        if not (
            n[1].startswith(stale)
            and (
                _run_of_path(n[0]) in runs_of
                or (INSTALL_GROUP in runs_of and INSTALL_FAILURE in n[1])
            )
        )
    ]
    return replace(
        merged, specs=specs, dependencies=deps, builds=builds, notes=notes + resolved_notes
    )


_LOG_HEADER = re.compile(r"\b(?:build|configure|install) output for ([a-z0-9][a-z0-9.+_-]*):")


def _check_buildname_guesses(
    builds: Any,
    merged: FrameSet,
    names: list[Any],
    tags: list[Any],
    by_name: dict[str, list[str]],
    info: dict[str, tuple[str | None, str | None, str | None]],
    deps: Any,
) -> dict[str, Any]:
    """Check each CDash single-package build named after BuildName (tag
    :data:`~.cdash.NAME_FROM_BUILDNAME`, no hash) against the DAG, in place in ``names`` and
    ``tags``; returns ``{"settled": {(run, guess)}, "notes": [...]}``.

    BuildName is the install command's root; the package built is one of the non-external
    nodes of the root's DAG (the root or a dependency). The DAG's answer: the one of them
    Spack's log header (``build output for <pkg>:``) names in the report's ``<Error>`` or
    ``<Warning>`` contexts; else the only one whose name appears in them as a word; else the
    root when it is the only non-external node. No answer (or no DAG holding the root): the
    guess stays, and its note with it, plus a note saying why."""
    import pandas as pd

    settled: set[tuple[str, str]] = set()
    notes: list[tuple[str, str]] = []
    keys = builds["build"].astype(object).tolist()
    runs = builds["run"].astype(object).tolist()
    roots = builds["root"].astype(object).tolist()
    wanted = [
        i
        for i in range(len(builds))
        if NAME_FROM_BUILDNAME in tuple(tags[i] or ()) and not _text(builds["full_hash"].iloc[i])
    ]
    if not wanted or not info:
        return {"settled": settled, "notes": notes}
    children: dict[str, set[str]] = {}
    for parent, child in zip(
        deps["parent_hash"].astype(object), deps["child_hash"].astype(object), strict=True
    ):
        if _text(parent) and _text(child):
            children.setdefault(str(parent), set()).add(str(child))
    non_external = {key for keys_ in by_name.values() for key in keys_}
    events = merged.events if merged.events is not None else pd.DataFrame()
    for i in wanted:
        guess, run = str(names[i]), str(runs[i])
        root = _text(roots[i]) or guess
        where = run
        root_nodes = by_name.get(root, [])
        if not root_nodes:
            notes.append(
                (
                    where,
                    f"{guess}: the DAG holds no {root} (BuildName's root); the name stays a guess",
                )
            )
            continue
        closure = set(root_nodes)
        todo = list(root_nodes)
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in closure:
                    closure.add(child)
                    todo.append(child)
        candidates = sorted({str(info[k][0]) for k in closure & non_external if info[k][0]})
        text = ""
        if len(events):
            mine = events[events["build"].astype(object) == keys[i]]
            parts = [
                mine[c].astype(object) for c in ("text", "pre_context", "post_context") if c in mine
            ]
            text = "\n".join(str(v) for part in parts for v in part if _text(v))
        headers = {m for m in _LOG_HEADER.findall(text) if m in candidates}
        words = {
            name
            for name in candidates
            if re.search(rf"(?<![a-z0-9-]){re.escape(name)}(?![a-z0-9-])", text)
        }
        answer, why = None, ""
        if len(headers) == 1:
            answer, why = headers.pop(), "Spack's log header in the report's error/warning context"
        elif len(words) == 1:
            answer, why = (
                words.pop(),
                "the only package of the root's DAG the report's errors/warnings name",
            )
        elif candidates == [guess]:
            answer, why = guess, "the only package of the root's DAG Spack builds"
        if answer is None:
            notes.append(
                (
                    where,
                    f"{guess}: the DAG does not settle which of {', '.join(candidates)} this "
                    "single-package report built; the name stays BuildName's guess",
                )
            )
            continue
        names[i] = answer
        tags[i] = tuple(t for t in tuple(tags[i] or ()) if t != NAME_FROM_BUILDNAME)
        settled.add((run, guess))
        notes.append(
            (
                where,
                f"{answer}: the package this single-package report built, by the DAG ({why})"
                + (
                    "; BuildName's guess confirmed"
                    if answer == guess
                    else f"; BuildName named {guess}, the install command's root"
                ),
            )
        )
    return {"settled": settled, "notes": notes}


def _settled_guess_note(note: tuple[str, str], checked: dict[str, Any]) -> bool:
    """Whether ``note`` is the BuildName note of a guess the DAG settled."""
    where, message = note
    if not str(message).startswith(NAME_FROM_BUILDNAME_NOTE):
        return False
    run = Path(str(where)).parent.name
    return any(
        run == r and str(message).startswith(f"{NAME_FROM_BUILDNAME_NOTE} {g!r}")
        for r, g in checked["settled"]
    )


def _run_of_path(path: str) -> str:
    """The run name a report path gives (the file's stem, the directory's name)."""
    p = Path(path)
    return p.stem if p.suffix.lower() == ".xml" else p.name


def _dependents(start: set[str], parents: dict[str, set[str]]) -> list[str]:
    """Every node that depends on one of ``start``, directly or not (``start`` excluded),
    in a stable order."""
    seen: set[str] = set()
    order: list[str] = []
    stack = sorted(start)
    while stack:
        node = stack.pop()
        for parent in sorted(parents.get(node, ())):
            if parent not in seen and parent not in start:
                seen.add(parent)
                order.append(parent)
                stack.append(parent)
    return order
