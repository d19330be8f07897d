""":func:`load`: which loader a path needs; a folder holding save-local runs and install
prefixes / stage directories at any depth is loaded as one, and a build both saw is counted
once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..spackfacts import short_hash
from .assemble import FrameSet, concat_frames, fill_dag_hashes
from .installs import (
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


def _walk_folder(root: Path) -> tuple[list[Path], list[Path]]:
    """``(save-local runs, install prefixes and stage directories)`` anywhere under
    ``root``, each sorted, in one walk. The walk does not descend into prefixes or stage
    directories; inside a run it looks only for those (as
    :func:`~spackmon_analysis.loaders.installs.find_install_prefixes` does), not for nested runs."""
    runs: list[Path] = []
    builds: list[Path] = []
    for dirpath, dirnames, _files in os.walk(root):  # top-down, depth first
        here = Path(dirpath)
        in_run = bool(runs) and here.is_relative_to(runs[-1])
        if not in_run and is_save_local_run(here):
            runs.append(here)
        if is_build_directory(here):
            builds.append(here)
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if d != ".spack")
    return sorted(runs), sorted(builds)


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

    mine, theirs = logs(a), logs(b)
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
    drop: set[str] = set()
    notes: list[tuple[str, str]] = []
    # each build's phase rows, grouped once (a mask per build made the merge quadratic)
    rows_of = phase_build.groupby(phase_build, sort=False).indices

    def phases_of(build: Any) -> pandas.DataFrame:
        return phases.iloc[rows_of.get(str(build), [])]

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
    keep_e = ~data.events["build"].astype(object).isin(drop)
    builds = builds[keep_b].reset_index(drop=True)
    phases = phases[keep_p].reset_index(drop=True)
    return FrameSet(
        specs=data.specs,
        dependencies=data.dependencies,
        builds=builds,
        phases=phases,
        events=data.events[keep_e].reset_index(drop=True),
        source=data.source,
        rules=data.rules,
        problems=data.problems,
        notes=data.notes + notes,
    )


def _load_folder(target: Path, runs: list[Path], builds: list[Path], **kwargs: Any) -> FrameSet:
    """Every save-local run and every install prefix / stage directory under ``target``
    as one object; see :func:`load`."""
    parts = [save_local_frames(run, **kwargs) for run in runs]
    if builds:
        parts.append(prefixes_frames(target, builds, **kwargs))
    data = concat_frames(parts)
    data.source = str(target)
    sources = [*runs, *builds]
    for child in sorted(target.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        if not any(s == child or child in s.parents for s in sources):
            data.notes.append(
                (
                    str(child),
                    "holds no save-local run, install prefix or stage directory; not loaded",
                )
            )
    paths = {build_directory_hash(b): str(b) for b in builds}
    return _merge_directories_into_runs(data, paths)


def load(path: str | os.PathLike[str], *more: str | os.PathLike[str], **kwargs: Any) -> FrameSet:
    """Load ``path`` with the right loader (as a frame set; the public
    :func:`spackmon_analysis.frames.load` returns it as ``MonitorData``): a save-local run or
    directory of runs (:func:`~.savelocal.save_local_frames`), a JUnit report or a folder of
    them (:func:`~.reports.junit_frames`), a CDash report directory
    (:func:`~.reports.cdash_frames`), an install tree, prefix or stage
    directory (:func:`~.installs.install_tree_frames`), or a folder holding both kinds, at any
    depth: then
    every run and every prefix/stage directory is loaded into one object, the folders
    next to them that hold neither are named in ``notes``, and a build seen by both a
    run and a directory (same DAG hash, same phase logs: the same attempt) is counted
    once, as the run's build (a note says so). Keyword arguments go to the loaders.

    Several paths: each is loaded as above, except spec files (``.json``, ``.yaml``), which
    only give the DAG; the DAG of the spec files and install trees then finds the packages
    the reports leave out (:func:`~.reports.with_dag_frames`).

    Raises:
        ConfigError: ``path`` is neither (the message names the path); its
            ``path`` attribute holds it.
    """
    if more:
        return _load_several([path, *more], **kwargs)
    target = Path(path).expanduser()
    if not target.exists():
        exc = ConfigError(f"{target}: no such file or directory")
        exc.path = str(target)  # type: ignore[attr-defined]
        raise exc
    kind = is_report(target)
    if kind == "junit":
        return junit_frames(target, **kwargs)
    if kind == "cdash":
        return cdash_frames(target, **kwargs)
    if target.is_dir():
        if is_save_local_run(target):
            return save_local_frames(target, **kwargs)
        runs, builds = _walk_folder(target)
        found = bool(builds)
        if runs and (found or any(run.parent != target for run in runs)):
            return _load_folder(target, runs, builds, **kwargs)
        if runs:
            return save_local_frames(target, **kwargs)
        if found or (target / ".spack").is_dir() or target.name == ".spack":
            return install_tree_frames(target, **kwargs)
        if any(is_junit_file(child) for child in target.iterdir()):
            return junit_frames(target, **kwargs)
    exc = ConfigError(
        f"{target}: neither a --monitor-save-local directory (build-*.json, "
        "spec-*-config.json), a JUnit or CDash report, nor an install tree, prefix or "
        "spack-stage directory"
    )
    exc.path = str(target)  # type: ignore[attr-defined]
    raise exc


_SPEC_SUFFIXES = (".json", ".yaml", ".yml", ".gz", ".sig")


def _load_several(paths: list[Any], **kwargs: Any) -> FrameSet:
    """:func:`load` of several paths: see there."""
    parts: list[FrameSet] = []
    dags: list[Path] = []
    for path in paths:
        target = Path(path).expanduser()
        is_spec = target.suffix.lower() in _SPEC_SUFFIXES and not is_junit_file(target)
        if target.is_file() and is_spec:
            dags.append(target)
        else:
            parts.append(load(target, **kwargs))
    data = concat_frames(parts) if parts else FrameSet()
    data.source = " + ".join(str(Path(p).expanduser()) for p in paths)
    return with_dag_frames(data, *dags)
