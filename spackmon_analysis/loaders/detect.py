""":func:`load`: which loader a path needs; a folder holding save-local runs, install
prefixes / stage directories (and the inputs of any source added with :func:`register`) at
any depth is loaded as one, and a build both a run and a directory saw is counted once.

A new source: write ``loaders/<source>.py`` returning
:class:`~spackmon_analysis.loaders.assemble.FrameSet` s, then describe it with a
:class:`Source` (what one input looks like, how to load those found) and add it to
:data:`SOURCES` here (or call :func:`register`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..spackfacts import short_hash
from .assemble import FrameSet, concat_frames, fill_dag_hashes
from .database_index import database_frames, is_install_database
from .environment import LOCKFILE_NAME, environment_frames
from .installs import (
    _NEW_INSTALLER_LOG,
    build_directory_hash,
    install_tree_frames,
    is_build_directory,
    prefixes_frames,
)
from .junit import is_junit_file
from .reports import cdash_frames, is_report, junit_frames, with_dag_frames
from .savelocal import is_save_local_run, save_local_frames

if TYPE_CHECKING:  # pragma: no cover
    import pandas


@dataclass(frozen=True)
class Source:
    """One kind of input :func:`load` finds in a folder.

    ``matches(path)``: ``path`` (a directory, or a file when ``files``) is one input of
    this kind. ``load(root, paths, **kwargs)``: the frame sets of all the inputs found under
    ``root`` (keyword arguments are :func:`load`'s). ``holds_others``: the walk goes on inside
    a match looking for the other kinds (a save-local run may hold stage directories), else it
    stops there. ``describe``: how the "neither ... nor ..." error names the kind.
    """

    name: str
    matches: Callable[[Path], bool]
    load: Callable[..., list[FrameSet]]
    describe: str
    holds_others: bool = False
    files: bool = False


def _runs(root: Path, paths: list[Path], **kwargs: Any) -> list[FrameSet]:
    return [save_local_frames(run, **kwargs) for run in paths]


def _build_directories(root: Path, paths: list[Path], **kwargs: Any) -> list[FrameSet]:
    return [prefixes_frames(root, paths, **kwargs)]


SAVE_LOCAL = Source(
    "save-local run",
    is_save_local_run,
    _runs,
    "a --monitor-save-local directory (build-*.json, spec-*-config.json)",
    holds_others=True,
)
INSTALLS = Source(
    "install prefix or stage directory",
    is_build_directory,
    _build_directories,
    "an install tree, prefix or spack-stage directory",
)

JUNIT = Source(
    "JUnit report",
    is_junit_file,
    lambda root, paths, **kwargs: [junit_frames(path, **kwargs) for path in paths],
    "a JUnit report (spack install --log-format junit)",
    files=True,
)
CDASH = Source(
    "CDash report directory",
    lambda path: is_report(path) == "cdash",
    lambda root, paths, **kwargs: [cdash_frames(path, **kwargs) for path in paths],
    "a CDash report directory (spack install --log-format cdash)",
)

ENVIRONMENT = Source(
    "Spack environment",
    lambda path: path.name == LOCKFILE_NAME and path.is_file(),
    lambda root, paths, **kwargs: [environment_frames(path) for path in paths],
    "a Spack environment (spack.lock)",
    files=True,
)

DATABASE = Source(
    "install database",
    is_install_database,
    lambda root, paths, **kwargs: [database_frames(path) for path in paths],
    "an install database (.spack-db with index.json or failures/)",
)

#: The suffixes of a spec file (``spack spec --json|--yaml``, ``spec.json``, buildcache
#: ``.spec.json``, clearsigned ``.sig``, gzipped ``.gz``).
SPEC_SUFFIXES = (".json", ".yaml", ".yml", ".gz", ".sig")
#: Files with a spec suffix Spack writes that are not spec files.
NOT_SPEC_FILES = frozenset(
    {
        "spack.yaml",
        "spack.lock",
        "index.json",
        "install_times.json",
        "install_manifest.json",
        "install_environment.json",
        "repo.yaml",
    }
)


def is_spec_file(path: Path) -> bool:
    """Whether ``path`` looks like a spec file by its name (a spec suffix, not a file Spack
    writes for something else); its content decides when it is read (:func:`spec_files_frames`)."""
    name = path.name.lower()
    return (
        path.suffix.lower() in SPEC_SUFFIXES
        and name not in NOT_SPEC_FILES
        and path.is_file()
        and not is_junit_file(path)
    )


def spec_files_frames(paths: list[Path], root: Path | None = None) -> FrameSet:
    """The specs and dependencies of the spec files ``paths`` (no builds: a spec file
    records no build); a file that is not a readable spec file is named in ``notes`` and
    left out (read under the :mod:`~spackmon_analysis.localfiles` rule when ``root`` is
    given: no symbolic link out of it)."""
    from .. import localfiles
    from ..errors import SpackmonError
    from ..spec import load_spec
    from .assemble import Assembler

    asm = Assembler(keep_output=False, rules=None)
    notes: list[tuple[str, str]] = []
    for path in paths:
        try:
            content = localfiles.read_local(path, root)  # the size (and symlink) rule
            graph = load_spec(content, name=str(path))
        except (SpackmonError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            notes.append((str(path), f"not a spec file ({reason}); not loaded"))
            continue
        asm.add_graph(graph)
    return asm.result(str(root) if root is not None else "spec files", notes=notes)


SPECFILES = Source(
    "spec file",
    is_spec_file,
    lambda root, paths, **kwargs: [spec_files_frames(paths, root)],
    "a spec file (.json, .yaml: spack spec --json, spec.json)",
    files=True,
)

#: The kinds of input :func:`load` looks for, in the order their frame sets are joined.
#: A new source: a module in ``loaders/`` returning frame sets, and one entry here (or a
#: :func:`register` call).
SOURCES: list[Source] = [SAVE_LOCAL, INSTALLS, JUNIT, CDASH, ENVIRONMENT, DATABASE, SPECFILES]


def register(source: Source) -> None:
    """Make :func:`load` find ``source`` (replacing a source of the same name)."""
    SOURCES[:] = [s for s in SOURCES if s.name != source.name] + [source]


def _walk_folder(root: Path, skipped: list[tuple[str, str]] | None = None) -> dict[str, list[Path]]:
    """Every input of every source anywhere under ``root`` (source name -> sorted paths), in
    one walk. The walk does not descend into a match of a source that holds no others
    (prefixes, stage directories) nor into ``.spack`` folders nor an environment's
    ``.spack-env`` (its views); inside a match of one that
    does (a run) it looks only for the other kinds (as
    :func:`~spackmon_analysis.loaders.installs.find_install_prefixes` does), not for nested
    matches of the same kind. Symbolic links to folders are not followed (no loop, no way
    out); a file input (a report, a ``spack.lock``) that is a symbolic link out of ``root``
    is not read (the :mod:`~spackmon_analysis.localfiles` rule) and is added to
    ``skipped`` as ``(path, reason)``."""
    real_root = root.resolve()
    found: dict[str, list[Path]] = {s.name: [] for s in SOURCES}
    folders = [s for s in SOURCES if not s.files]
    files = [s for s in SOURCES if s.files]
    runs = found[SAVE_LOCAL.name] if SAVE_LOCAL.name in found else []
    for dirpath, dirnames, filenames in os.walk(root):  # top-down, depth first
        here = Path(dirpath)
        stop = False
        for source in folders:
            seen = found[source.name]
            if source.holds_others and seen and here.is_relative_to(seen[-1]):
                continue
            if source.matches(here):
                seen.append(here)
                stop = stop or not source.holds_others
        # a save-local run's own spec files (spec-*-config.json) are the run's
        in_run = bool(runs) and here.is_relative_to(runs[-1])
        for name in sorted(filenames) if files else ():
            path = here / name
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                if skipped is not None and any(src.matches(path) for src in files):
                    skipped.append(
                        (
                            str(path),
                            f"a symbolic link to {path.resolve()}, outside {root}; not read",
                        )
                    )
                continue
            for source in files:
                if source is SPECFILES and in_run:
                    continue
                if source.matches(path):
                    found[source.name].append(path)
                    break
        if stop:
            dirnames[:] = []
            continue
        # .spack: a prefix's metadata; .spack-env: an environment's views and repos
        dirnames[:] = sorted(d for d in dirnames if d not in (".spack", ".spack-env"))
    return {name: sorted(paths) for name, paths in found.items()}


def _not_loaded(root: Path, found: dict[str, list[Path]]) -> list[tuple[str, str]]:
    """What a load of the folder ``root`` leaves out, each named once: the topmost folders
    holding no input of any source, the files that are none (outside save-local runs,
    whose files are the run's, and environment directories, whose ``spack.yaml`` goes with
    its ``spack.lock``), and symbolic links to folders (never followed)."""
    inputs = [path for paths in found.values() for path in paths]
    used: set[Path] = set()
    for path in inputs:
        used.add(path)
        used.update(path.parents)
    owners = [  # folders whose files belong to their input
        *found.get(SAVE_LOCAL.name, []),
        *(lock.parent for lock in found.get(ENVIRONMENT.name, [])),
    ]
    matched = set(inputs)
    # Spack 1.1's experimental installer keeps a stage's log beside it in the stage root
    # (``<stage directory name>-<random>.log``): the stage directory's loader reads it
    stage_names = {path.name for path in found.get(INSTALLS.name, [])}
    kinds = ", ".join(source.name for source in SOURCES)
    files = ", ".join(source.name for source in SOURCES if source.files)
    notes: list[tuple[str, str]] = []
    todo = [root]
    while todo:
        here = todo.pop()
        if here in matched and here != root:
            continue  # an input: its loader reads (and names) what is inside
        owned = any(here.is_relative_to(o) for o in owners)
        try:
            children = sorted(here.iterdir())
        except OSError as exc:
            notes.append((str(here), f"cannot be listed ({exc.strerror}); not loaded"))
            continue
        for child in reversed(children):
            if child in matched:
                continue
            if child.is_symlink() and child.is_dir():
                notes.append((str(child), "a symbolic link to a folder; not followed"))
            elif child.is_dir():
                if child.name in (".spack", ".spack-env") or owned:
                    continue  # a prefix's metadata, an environment's views; a run's own
                if child in used:
                    todo.append(child)
                else:
                    notes.append((str(child), f"holds no {kinds}; not loaded"))
            elif not owned:
                log = _NEW_INSTALLER_LOG.match(child.name)
                if log and log.group("stage") in stage_names:
                    continue
                notes.append((str(child), f"not a {files.replace(', ', ' nor a ')}; not loaded"))
    return sorted(notes)


def find_inputs(root: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """Every input of every source anywhere under the folder ``root``: source name (a
    :class:`Source`'s ``name``) -> sorted paths, by the one walk :func:`load` makes (no
    symbolic link to a folder followed; a report or ``spack.lock`` linked out of ``root``
    left out). The client's upload reads the spec documents of the sources found."""
    return _walk_folder(Path(root).expanduser())


def _same_attempt(a: pandas.DataFrame, b: pandas.DataFrame) -> bool:
    """Whether two builds' phases (rows of ``phases``) are the same attempt: at least one
    phase has a non-empty log on both sides, and every such phase has the same log (the
    text when both kept it, else its size). An empty log on one side says nothing (Spack
    0.17's save-local client writes some phases with an empty ``output``)."""
    import pandas as pd

    def logs(frame: pandas.DataFrame) -> dict[str, Any]:
        out = {}
        for name, text, size in zip(
            frame["name"], frame["output"], frame["output_size"], strict=True
        ):
            if not pd.isna(size) and int(size) > 0:
                out[str(name)] = (str(text).rstrip() if not pd.isna(text) else None, size)
        return out

    return _logs_agree(logs(a), logs(b))


def _logs_agree(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether two builds' phase logs (phase name -> (text or None, size)) are the same
    attempt's: at least one phase in both, and each such phase with the same text (stripped)
    or, where either text is unknown, the same size."""
    shared = set(mine) & set(theirs)
    if not shared:
        return False
    for name in shared:
        (t1, s1), (t2, s2) = mine[name], theirs[name]
        if t1 is not None and t2 is not None:
            if t1 != t2:
                return False
        elif int(s1) != int(s2):
            return False
    return True


def _merge_directories_into_runs(data: FrameSet, paths: dict[str | None, str]) -> FrameSet:
    """Drop each install-tree build that is the same build as a save-local one.

    The merge key is the DAG hash plus the attempt: an install prefix or stage directory
    and a save-local build are one build when they have the same DAG hash and the logs of
    their shared phases are identical (the prefix or stage keeps the logs of exactly the
    attempt the run recorded). The save-local build stays as it is (it has the run, tags and
    local id; its durations keep their one basis, the log stamps); each merge is a note."""
    import pandas as pd

    builds, phases = data.builds, data.phases
    if builds is None or phases is None:
        return data
    fill_dag_hashes(builds, data.specs)  # a save-local build's DAG hash is its spec's
    source = builds["source"].astype(object)
    runs = builds[source == "save-local"]
    dirs = builds[source == "install"]
    if not len(runs) or not len(dirs):
        return data
    by_dag: dict[str, list[Any]] = {}
    for _, row in runs.sort_values("run_time", ascending=False, na_position="last").iterrows():
        if not pd.isna(row["dag_hash"]):
            by_dag.setdefault(str(row["dag_hash"]), []).append(row)
    phase_build = phases["build"].astype(object)
    all_phases = phases  # the frame the closure reads (``phases`` is filtered below)
    drop: set[str] = set()
    notes: list[tuple[str, str]] = []
    # each build's phase rows, grouped once (a mask per build made the merge quadratic)
    rows_of = phase_build.groupby(phase_build, sort=False).indices

    def phases_of(build: Any) -> pandas.DataFrame:
        return all_phases.iloc[rows_of.get(str(build), [])]

    for _, row in dirs.iterrows():
        candidates = by_dag.get(str(row["dag_hash"]), [])
        if not candidates:
            continue
        key = str(row["build"])
        mine = phases_of(key)
        for other in candidates:
            if not _same_attempt(mine, phases_of(other["build"])):
                continue
            drop.add(key)
            notes.append(
                (
                    paths.get(key, key),
                    f"{row['spec_name']} /{short_hash(row['dag_hash'])}: the same build as "
                    f"save-local run "
                    f"{other['run']} build {other['build']} (same DAG hash, same phase logs); "
                    "counted once, as the run's build",
                )
            )
            break
    if not drop:
        return data
    keep_b = ~builds["build"].astype(object).isin(drop)
    keep_p = ~phase_build.isin(drop)
    events = data.events
    if events is not None:  # None: no events at all
        events = events[~events["build"].astype(object).isin(drop)].reset_index(drop=True)
    builds = builds[keep_b].reset_index(drop=True)
    phases = phases[keep_p].reset_index(drop=True)
    return replace(data, builds=builds, phases=phases, events=events, notes=data.notes + notes)


_DB_TAGS = ("install-db", "failure-marker")


def _merge_database_builds(data: FrameSet) -> FrameSet:
    """Drop each build the install database gave (an installed record, a failure marker)
    when another source has a build of the same DAG hash (a prefix, a stage directory, a
    run: they keep phases and logs); that build takes the record's ``explicit``. A note names
    each merge."""
    import pandas as pd

    builds = data.builds
    if builds is None or not len(builds) or "explicit" not in builds.columns:
        return data
    from_db = builds["tags"].map(lambda tags: any(t in _DB_TAGS for t in (tags or ())))
    others = builds[~from_db]
    # the record describes an install: a prefix (or stage directory) of that hash is its
    # build before a report's row of it (an "already installed" testcase, say)
    by_dag: dict[str, Any] = {}
    for i, d, source in zip(
        others.index, others["dag_hash"].astype(object), others["source"].astype(object),
        strict=True,
    ):  # fmt: skip
        if not pd.isna(d) and (str(d) not in by_dag or source == "install"):
            by_dag[str(d)] = i
    drop = []
    explicit = builds["explicit"].astype(object).copy()
    notes = []
    for i, row in builds[from_db].iterrows():
        j = by_dag.get(str(row["dag_hash"]))
        if j is None:
            continue
        drop.append(i)
        if not pd.isna(row["explicit"]):
            explicit[j] = bool(row["explicit"])
        notes.append(
            (
                str(row["build"]),
                f"{row['spec_name']} /{short_hash(row['dag_hash'])}: the install database's "
                f"record and build {builds.loc[j, 'build']} ({builds.loc[j, 'source']}) are "
                "one build; counted once, with its phases",
            )
        )
    if not drop:
        return data
    kept = builds.assign(explicit=pd.array(explicit.tolist(), dtype="boolean")).drop(index=drop)
    return replace(data, builds=kept.reset_index(drop=True), notes=data.notes + notes)


_REPORT_SOURCES = ("junit", "cdash")
#: Seconds of slack around a CDash report's start and end (whole epoch seconds) within
#: which an install directory's build times must fall for the two to be one attempt.
CDASH_TIME_SLACK = 2.0
#: Build columns only an install directory gives; a merged report build takes them.
_DIRECTORY_COLUMNS = ("configure_args", "build_env", "archived_files")
#: Build columns a merged report build fills from the directory where the report is silent.
_FILL_COLUMNS = (
    "full_hash",
    "dag_hash",
    "spec_version",
    "compiler",
    "host_os",
    "platform",
    "host_target",
    "hostname",
    "kernel_version",
    "spack_version",
    "created_at",
    "duration",
    "explicit",
)


def _missing(value: Any) -> bool:
    import pandas as pd

    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or dict: a value
        return False


def _strip_message(text: str, message: Any) -> str:
    """A report log without the failure message Spack's reporter appends to it (compared
    word by word: an XML parser turns the newlines of the ``message`` attribute into
    spaces, while the copy in ``<system-out>`` keeps them)."""
    import re

    text = text.rstrip()
    words = [] if _missing(message) else str(message).split()
    if words:
        tail = re.search(r"\s+".join(map(re.escape, words)) + r"\Z", text)
        if tail:
            text = text[: tail.start()].rstrip()
    return text


def _report_logs_agree(
    report: pandas.Series, report_phases: pandas.DataFrame, directory: pandas.DataFrame
) -> bool:
    """Whether a JUnit build's ``<system-out>`` phases are the logs a directory kept: every
    phase both sides kept (non-empty) has the same text (sizes when the text was not kept),
    the report's last phase of a failed build compared without the failure message Spack
    appends to the log it reports. No shared phase: not shown to be the same attempt."""

    def logs(frame: pandas.DataFrame, message: Any = None) -> dict[str, tuple[Any, Any]]:
        out: dict[str, tuple[Any, Any]] = {}
        ordered = frame.sort_values("order", na_position="last") if len(frame) else frame
        last = len(ordered) - 1
        for i, (name, text, size) in enumerate(
            zip(ordered["name"], ordered["output"], ordered["output_size"], strict=True)
        ):
            if _missing(size) or int(size) <= 0:
                continue
            if message is not None and i == last:
                if _missing(text):
                    continue  # its size includes the appended message: says nothing
                text = _strip_message(str(text), message)
            out[str(name)] = (None if _missing(text) else str(text).rstrip(), int(size))
        return out

    failed = str(report["status"]) == "FAILED"
    mine = logs(report_phases, report.get("message") if failed else None)
    return _logs_agree(mine, logs(directory))


def _span(row: pandas.Series, phases: pandas.DataFrame) -> tuple[Any, Any]:
    """(first start, last end) of a build: its phases' times, else its ``created_at``."""
    import pandas as pd

    starts = pd.to_datetime(phases["started_at"], utc=True, errors="coerce").dropna()
    ends = pd.to_datetime(phases["finished_at"], utc=True, errors="coerce").dropna()
    value: Any = row.get("created_at")
    created = None
    if not _missing(value):
        stamp = pd.Timestamp(value)
        created = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    first = starts.min() if len(starts) else created
    last = ends.max() if len(ends) else first
    return first, last


def _within_report_run(
    report: pandas.Series, report_phases: pandas.DataFrame, row: pandas.Series, phases: Any
) -> bool:
    """Whether a directory's build ran inside a CDash report's run: its first and last
    times fall within the report's start and end (:data:`CDASH_TIME_SLACK` either side)."""
    import pandas as pd

    win_start, win_end = _span(report, report_phases)
    start, end = _span(row, phases)
    if win_start is None or start is None:
        return False
    slack = pd.Timedelta(seconds=CDASH_TIME_SLACK)
    return bool(win_start - slack <= start and end <= win_end + slack)


def _richness(phases: pandas.DataFrame) -> tuple[int, int, int]:
    """How much a build's phases hold: phases with a log, log bytes, phases with a time."""
    sizes = phases["output_size"].astype("Float64").fillna(0)
    return (
        int((sizes > 0).sum()),
        int(sizes.sum()),
        int(phases["duration"].notna().sum()),
    )


def _merge_directories_into_reports(data: FrameSet, paths: dict[str | None, str]) -> FrameSet:
    """Fold each install prefix or stage directory that holds the same attempt as a JUnit
    or CDash report's build into that build (one row).

    Same attempt: the same DAG hash (a CDash build without one: the only directory build
    of its package and version), and for JUnit the same logs (:func:`_report_logs_agree`:
    the report's ``<system-out>`` is the build log Spack read from the stage or prefix),
    for CDash (which keeps no build log) the directory's build times inside the report's
    run. The merged build keeps the report's row (run, status, outcome, message,
    traceback, tags, duration) with the directory's ``configure_args``, ``build_env`` and
    ``archived_files`` and whatever else the report left empty; its phases, logs and events
    are those of the richer side (more phases with a log, then more log bytes, then more
    phase times; the directory on a tie). A note names each merge, and each pair of the
    same hash that is not the same attempt."""
    import pandas as pd

    builds, phases = data.builds, data.phases
    if builds is None or phases is None or not len(builds):
        return data
    source = builds["source"].astype(object)
    reports = builds[source.isin(_REPORT_SOURCES)]
    dirs = builds[source == "install"]
    if not len(reports) or not len(dirs):
        return data
    phase_build = phases["build"].astype(object)
    rows_of = phase_build.groupby(phase_build, sort=False).indices

    def phases_of(build: Any) -> pandas.DataFrame:
        return phases.iloc[rows_of.get(str(build), [])]

    by_dag: dict[str, list[Any]] = {}
    by_name: dict[tuple[str, str], list[Any]] = {}
    for j, row in dirs.iterrows():
        if not _missing(row["dag_hash"]):
            by_dag.setdefault(str(row["dag_hash"]), []).append(j)
        by_name.setdefault((str(row["spec_name"]), str(row["spec_version"])), []).append(j)
    builds = builds.copy()
    dtypes = {c: builds[c].dtype for c in (*_DIRECTORY_COLUMNS, "explicit") if c in builds}
    for column in (*_DIRECTORY_COLUMNS, *_FILL_COLUMNS):
        if column in builds.columns:
            builds[column] = builds[column].astype(object)
    notes: list[tuple[str, str]] = []
    drop: set[Any] = set()
    renames: dict[str, str] = {}  # directory build key -> report build key (its phases kept)
    cleared: set[str] = set()  # report builds whose own phases give way to the directory's
    for i, report in reports.iterrows():
        known = not _missing(report["dag_hash"])
        if known:
            candidates = by_dag.get(str(report["dag_hash"]), [])
        else:
            same = [
                j
                for (name, version), js in by_name.items()
                if name == str(report["spec_name"])
                and (_missing(report["spec_version"]) or version == str(report["spec_version"]))
                for j in js
            ]
            candidates = same if len(same) == 1 else []
        mine = phases_of(report["build"])
        for j in candidates:
            if j in drop:
                continue
            row = dirs.loc[j]
            theirs = phases_of(row["build"])
            if str(report["source"]) == "junit":
                same_attempt = _report_logs_agree(report, mine, theirs)
                why = "same DAG hash, same build log"
            else:
                same_attempt = _within_report_run(report, mine, row, theirs)
                why = (
                    "same DAG hash, built during the report's run"
                    if known
                    else ("the only directory of that package, built during the report's run")
                )
            where = paths.get(str(row["build"]), str(row["build"]))
            label = f"{report['spec_name']} /{short_hash(row['dag_hash'])}"
            if not same_attempt:
                if known:
                    notes.append(
                        (
                            where,
                            f"{label}: same DAG hash as {report['source']} report build "
                            f"{report['build']} (run {report['run']}) but not the same attempt "
                            f"({'the logs differ' if str(report['source']) == 'junit' else 'built outside the run'}); "
                            "kept as two builds",
                        )
                    )
                continue
            drop.add(j)
            for column in _DIRECTORY_COLUMNS:
                if column in builds.columns and not _missing(row.get(column)):
                    builds.at[i, column] = row[column]
            for column in _FILL_COLUMNS:
                if column in builds.columns and _missing(builds.at[i, column]):
                    if not _missing(row.get(column)):
                        builds.at[i, column] = row[column]
            richer = _richness(theirs) >= _richness(mine)
            if richer:
                renames[str(row["build"])] = str(report["build"])
                cleared.add(str(report["build"]))
            notes.append(
                (
                    where,
                    f"{label}: the same build as {report['source']} report build "
                    f"{report['build']} (run {report['run']}; {why}); counted once, with the "
                    f"report's status, the directory's build files and the "
                    f"{'directory' if richer else 'report'}'s phases",
                )
            )
            break
    if not drop:
        return replace(data, notes=data.notes + notes) if notes else data
    gone = {str(dirs.loc[j, "build"]) for j in drop} - set(renames)

    def regroup(frame: pandas.DataFrame | None) -> pandas.DataFrame | None:
        if frame is None:
            return None
        keys = frame["build"].astype(object)
        keep = ~(keys.isin(gone) | keys.isin(cleared))
        out = frame[keep].reset_index(drop=True)
        out["build"] = out["build"].astype(object).map(lambda k: renames.get(k, k))
        return out

    builds = builds.drop(index=list(drop)).reset_index(drop=True)
    if "created_at" in builds.columns:
        builds["created_at"] = pd.to_datetime(builds["created_at"], utc=True, errors="coerce")
    for column, dtype in dtypes.items():  # the columns outside the contract keep their dtype
        if str(dtype) != "object":
            builds[column] = builds[column].astype(dtype)
    return replace(
        data,
        builds=builds,
        phases=regroup(data.phases),
        events=regroup(data.events),
        notes=data.notes + notes,
    )


def _load_folder(target: Path, found: dict[str, list[Path]], **kwargs: Any) -> FrameSet:
    """Every input of every source under ``target`` as one frame set; see :func:`load`."""
    parts = []
    for source in SOURCES:
        if found.get(source.name):
            parts += source.load(target, found[source.name], **kwargs)
    data = concat_frames(parts)
    data.source = str(target)
    paths = {build_directory_hash(b): str(b) for b in found.get(INSTALLS.name, [])}
    merged = _merge_database_builds(_merge_directories_into_runs(data, paths))
    if found.get(JUNIT.name) or found.get(CDASH.name):
        # the install trees and environments next to the reports give their DAG (the
        # packages they blocked); then a report's build and the directory of the same
        # attempt are one build
        # (a failure marker's dependent matches the blocked build the DAG then adds)
        return _merge_database_builds(
            _merge_directories_into_reports(with_dag_frames(merged), paths)
        )
    # the DAG of the prefixes' spec.json, environments and failure markers finds the packages
    # a failed stage directory or marker blocked (or a note says none could be found)
    return with_dag_frames(merged)


def load(path: str | os.PathLike[str], *more: str | os.PathLike[str], **kwargs: Any) -> FrameSet:
    """Load ``path`` with the right loader (as a frame set; the public
    :func:`spackmon_analysis.frames.load` returns it as ``MonitorData``): a save-local run or
    directory of runs (:func:`~.savelocal.save_local_frames`), a JUnit report or a folder of
    them (:func:`~.reports.junit_frames`), a CDash report directory
    (:func:`~.reports.cdash_frames`), an install tree, prefix or stage directory
    (:func:`~.installs.install_tree_frames`), a ``spack.lock`` or environment directory
    (:func:`~.environment.environment_frames`: its DAG, which finds the packages reports in
    the same folder leave out), an input of a :func:`register`-ed source, or a
    folder holding several kinds at any depth: then every input is loaded into one frame
    set, the folders next to them that hold none are named in ``notes``, and a build seen by
    both a run and a directory (same DAG hash, same phase logs: the same attempt) is counted
    once, as the run's build (a note says so). Keyword arguments go to the loaders.

    Several paths: each is loaded as above, except spec files (``.json``, ``.yaml``), which
    only give the DAG; the DAG of the spec files and install trees then finds the packages
    the reports leave out (:func:`~.reports.with_dag_frames`).

    Raises:
        ConfigError: ``path`` is none of these (the message names the path); its
            ``path`` attribute holds it.
    """
    if more:
        return _load_several([path, *more], **kwargs)
    target = Path(path).expanduser()
    if not target.exists():
        exc = ConfigError(f"{target}: no such file or directory")
        exc.path = str(target)
        raise exc
    kind = is_report(target)
    if kind == "junit":
        return junit_frames(target, **kwargs)
    if kind == "cdash":
        return cdash_frames(target, **kwargs)
    if is_install_database(target) or (
        target.name == "index.json" and target.parent.name == ".spack-db"
    ):
        return with_dag_frames(database_frames(target))
    if target.is_file():
        for source in SOURCES:
            if source.files and source.matches(target):
                return concat_frames(source.load(target.parent, [target], **kwargs))
    elif is_save_local_run(target):
        return save_local_frames(target, **kwargs)
    else:
        skipped: list[tuple[str, str]] = []
        found = _walk_folder(target, skipped)
        data = _load_walked(target, found, bool(skipped), **kwargs)
        if data is not None:
            named = {str(where) for where, _ in data.notes}
            data.notes.extend(skipped)
            # never silently: every file or folder the walk left out (once)
            data.notes.extend(n for n in _not_loaded(target, found) if n[0] not in named)
            return data
    exc = ConfigError(f"{target}: neither " + " nor ".join(s.describe for s in SOURCES))
    exc.path = str(target)
    raise exc


def _load_walked(
    target: Path, found: dict[str, list[Path]], skipped: bool, **kwargs: Any
) -> FrameSet | None:
    """:func:`load` of a folder from what :func:`_walk_folder` found (None: nothing);
    ``skipped``: the walk left out a file, so the folder is not re-listed by a loader."""
    kinds = {name for name, paths in found.items() if paths}
    runs = found.get(SAVE_LOCAL.name, [])
    if kinds == {SAVE_LOCAL.name} and all(run.parent == target for run in runs):
        return save_local_frames(target, **kwargs)
    spack = (target / ".spack").is_dir() or target.name == ".spack"
    if kinds == {INSTALLS.name} or (not kinds and spack):
        return with_dag_frames(install_tree_frames(target, **kwargs))
    if kinds == {ENVIRONMENT.name} and found[ENVIRONMENT.name] == [target / LOCKFILE_NAME]:
        return environment_frames(target)  # an environment directory
    reports = found.get(JUNIT.name, [])
    at_top = all(report.parent == target for report in reports)
    if kinds == {JUNIT.name} and at_top and not skipped:
        return junit_frames(target, **kwargs)
    if kinds:
        return _load_folder(target, found, **kwargs)
    return None


def _load_several(paths: list[Any], **kwargs: Any) -> FrameSet:
    """:func:`load` of several paths: see there."""
    parts: list[FrameSet] = []
    dags: list[Path] = []
    for path in paths:
        target = Path(path).expanduser()
        is_spec = target.suffix.lower() in SPEC_SUFFIXES and not is_junit_file(target)
        if target.is_file() and is_spec:
            dags.append(target)
        else:
            parts.append(load(target, **kwargs))
    data = concat_frames(parts) if parts else FrameSet()
    data.source = " + ".join(str(Path(p).expanduser()) for p in paths)
    # an install database given beside its tree's stage directories or a report: its
    # records and failure markers are the same builds as theirs (same DAG hash)
    return _merge_database_builds(_merge_directories_into_reports(with_dag_frames(data, *dags), {}))
