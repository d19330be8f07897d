"""Read ``spack install --monitor --monitor-save-local`` directories into records.

Spack 0.17-0.18 writes, with no server, one directory per run under
``~/.spack/reports/monitor/<%Y-%m-%d-%H-%M-%S-epoch>/`` holding the request bodies
the live monitor client would have POSTed (PROTOCOL section 6):

=====================================  ==============================================
``spec-<name>-<version>-config.json``  ``{"spec": ..., "spack_version": ...}``
``build-metadata-<id>.json``           the ``builds/new`` body (environment, full_hash, tags)
``build-<id>-phase-<phase>.json``      ``{"build_id", "status", "output", "phase_name"}``
``build-<id>-status.json``             ``{"build_id", "status"}``
=====================================  ==============================================

``<id>`` is a local 32-hex md5 (Spack 0.17.1+) or, in older 0.17 clients, the
spec's full hash; either way the phase and status files of a build carry the id of
its own metadata file, which is how :func:`read_save_local` ties them together.

A file that cannot be used (bad JSON, missing fields, a phase of an unknown build)
is skipped and recorded in :attr:`SaveLocalRun.problems` as ``(filename, message)``;
``strict=True`` raises :class:`~spackmon_analysis.errors.SaveLocalError` instead. So is
a file that the upload rules of :mod:`~spackmon_analysis.localfiles` refuse: a symbolic
link out of the run directory, or a file over the size cap (``"skipped: <reason>"``).
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import SaveLocalError, SpackmonError
from ..logs import Rules
from ..records import ENVIRONMENT_FIELDS, BuildRecord, PhaseRecord
from ..spackfacts import order_phases, phase_timing  # phase timing and order, defined once
from .assemble import Assembler, FrameSet, phase_dict, resolve_rules

__all__ = [
    "SaveLocalRun",
    "run_date",
    "read_save_local",
    "is_save_local_run",
    "save_local_frames",
]

SPEC_FILE = re.compile(r"^spec-(?P<label>.+)-config\.json$")
METADATA_FILE = re.compile(r"^build-metadata-(?P<id>[^/]+)\.json$")
PHASE_FILE = re.compile(r"^build-(?P<id>[^/]+?)-phase-(?P<phase>[^/]+)\.json$")
STATUS_FILE = re.compile(r"^build-(?P<id>[^/]+)-status\.json$")
#: ``2021-06-14-17-02-27-1623711747``: the run directory names Spack writes.
RUN_NAME = re.compile(r"^(?P<stamp>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})(?:-(?P<epoch>\d+))?$")


def _run_timestamp(name: str) -> datetime | None:
    match = RUN_NAME.match(name)
    if not match:
        return None
    if match.group("epoch"):
        return datetime.fromtimestamp(int(match.group("epoch")), tz=timezone.utc)
    try:
        return datetime.strptime(match.group("stamp"), "%Y-%m-%d-%H-%M-%S")
    except ValueError:
        return None


def run_date(run: SaveLocalRun) -> datetime | None:
    """When a save-local run happened, the one rule for every reader: the time in its directory
    name (``%Y-%m-%d-%H-%M-%S-<epoch>``: the epoch, UTC; without an epoch the stamp, taken as
    UTC), else its earliest phase start; None when it has neither. The loader dates the run's
    builds by it (``builds.run_time``, the start of their attempts) and a replay sends it to the
    server as the run's attempts' date (``run_time``)."""
    if run.timestamp is not None:
        return run.timestamp
    starts = [p.started_at for p in run.phases if p.started_at is not None]
    return min(starts) if starts else None


def is_save_local_run(path: str | Path) -> bool:
    """True when ``path`` is a directory holding at least one save-local file."""
    path = Path(path)
    if not path.is_dir():
        return False
    return any(_kind(child.name) for child in path.iterdir() if child.is_file())


def _kind(filename: str) -> str | None:
    if SPEC_FILE.match(filename):
        return "spec"
    if METADATA_FILE.match(filename):
        return "build"
    if PHASE_FILE.match(filename):
        return "phase"
    if STATUS_FILE.match(filename):
        return "status"
    return None


@dataclass
class SaveLocalRun:
    """One ``--monitor-save-local`` run directory, read into records.

    Attributes:
        path: the run directory.
        name: its name (``2021-06-14-17-02-27-1623711747`` as Spack writes it).
        timestamp: when the run started (from the name; ``None`` for other names).
        specs: ``(SpecGraph, spack_version, filename)`` per spec file.
        builds: one :class:`~spackmon_analysis.records.BuildRecord` per metadata file;
            ``key`` is the local id, ``status`` the status file's (``None`` without one).
        phases: one :class:`~spackmon_analysis.records.PhaseRecord` per phase file;
            ``order`` follows the ``==> [timestamp]`` lines of the outputs.
        problems: ``(filename, message)`` for every file that was skipped.
        skipped: ``(filename, message)`` for the files among ``problems`` that the upload
            rules of :mod:`~spackmon_analysis.localfiles` refused (a symbolic link out of
            the run directory, over a size cap); loaders also name these in ``notes``.
        spec_documents: ``(document, spack_version, filename)``: the spec files' bodies.
        build_documents: local id -> the ``builds/new`` body exactly as written.
        status_files: local id -> the status file's name (builds that have one).
    """

    path: Path
    name: str
    timestamp: datetime | None = None
    specs: list[tuple[Any, str | None, str]] = field(default_factory=list)
    builds: list[BuildRecord] = field(default_factory=list)
    phases: list[PhaseRecord] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    spec_documents: list[tuple[Any, str | None, str]] = field(default_factory=list)
    build_documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_files: dict[str, str] = field(default_factory=dict)

    @property
    def n_files(self) -> int:
        """How many save-local files the run holds (including skipped ones)."""
        return (
            len(self.spec_documents)
            + len(self.build_documents)
            + len(self.phases)
            + len(self.status_files)
            + len(self.problems)
        )

    def build(self, key: str) -> BuildRecord:
        """The build with local id ``key`` (``KeyError`` naming it when absent)."""
        index = self.__dict__.get("_build_index")
        if index is None or len(index) != len(self.builds):
            index = {record.key: record for record in self.builds}
            self.__dict__["_build_index"] = index
        try:
            return index[key]
        except KeyError:
            raise KeyError(f"no build {key!r} in save-local run {self.name}") from None

    def phases_of(self, key: str) -> list[PhaseRecord]:
        """The phases of build ``key``, in order."""
        return [phase for phase in self.phases if phase.build_key == key]

    def __repr__(self) -> str:
        statuses: dict[str, int] = {}
        for record in self.builds:
            label = record.status or "no status"
            statuses[label] = statuses.get(label, 0) + 1
        status_text = ", ".join(f"{v} {k}" for k, v in sorted(statuses.items()))
        text = (
            f"<SaveLocalRun {self.name!r}: {len(self.specs)} spec(s), {len(self.builds)} "
            f"build(s) ({status_text or 'none'}), {len(self.phases)} phase(s)"
        )
        if self.problems:
            text += f", {len(self.problems)} problem(s)"
        return text + ">"

    def _repr_html_(self) -> str:
        esc = html.escape
        when = self.timestamp.isoformat() if self.timestamp else "unknown time"
        rows = []
        for record in self.builds:
            phases = self.phases_of(record.key)
            phase_text = ", ".join(f"{p.name} ({p.status})" for p in phases) or "none"
            rows.append(
                "<tr>"
                f"<td><code>{esc(record.key)}</code></td>"
                f"<td>{esc(record.spec_name or '?')}@{esc(record.spec_version or '?')}</td>"
                f"<td><code>{esc(record.full_hash)}</code></td>"
                f"<td>{esc(record.status or '-')}</td>"
                f"<td>{esc(phase_text)}</td>"
                "</tr>"
            )
        problems = ""
        if self.problems:
            items = "".join(
                f"<li><code>{esc(name)}</code>: {esc(msg)}</li>" for name, msg in self.problems
            )
            problems = f"<p>Skipped files:</p><ul>{items}</ul>"
        return (
            f"<div><strong>Save-local run {esc(self.name)}</strong> ({esc(when)}): "
            f"{len(self.specs)} spec(s), {len(self.builds)} build(s), {len(self.phases)} phase(s)"
            "<table><thead><tr><th>local id</th><th>spec</th><th>full hash</th>"
            "<th>status</th><th>phases</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
            + problems
            + "</div>"
        )


def read_save_local(path: str | os.PathLike[str], *, strict: bool = False) -> list[SaveLocalRun]:
    """Read one save-local run directory, or a directory of many runs.

    ``path`` is either a run directory (holding ``spec-*.json``/``build-*.json``
    files) or a directory of run directories such as ``~/.spack/reports/monitor/``;
    the runs come back in timestamp order (from the ``<%Y-%m-%d-%H-%M-%S-epoch>``
    names; runs with other names follow, by name).

    Raises:
        SaveLocalError: ``path`` does not exist or holds no save-local files, or
            (with ``strict=True``) a file is unusable.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise SaveLocalError("no such directory", filename=str(path))
    if not path.is_dir():
        raise SaveLocalError(
            "not a directory (expected a save-local run directory)", filename=str(path)
        )
    if is_save_local_run(path):
        return [_read_run(path, strict=strict)]
    candidates = [child for child in path.iterdir() if is_save_local_run(child)]
    if not candidates:
        raise SaveLocalError(
            "holds no save-local files (spec-*-config.json, build-*.json) and no run directories",
            filename=str(path),
        )
    runs = [_read_run(child, strict=strict) for child in candidates]
    runs.sort(key=_run_sort_key)
    return runs


def _run_sort_key(run: SaveLocalRun) -> tuple[int, float, str]:
    if run.timestamp is None:
        return (1, 0.0, run.name)
    stamp = run.timestamp
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return (0, stamp.timestamp(), run.name)


class _Problems:
    def __init__(self, run: SaveLocalRun, strict: bool):
        self.run = run
        self.strict = strict

    def add(self, filename: str, message: str) -> None:
        if self.strict:
            raise SaveLocalError(message, filename=str(self.run.path / filename))
        self.run.problems.append((filename, message))


def _load_json(file: Path, problems: _Problems) -> Any | None:
    """The parsed file, or None with the file named in the problems. Files are read
    under the upload rules of :mod:`~spackmon_analysis.localfiles` (no symbolic link out
    of the run directory, bounded sizes)."""
    from ..localfiles import UnsafeFileError, read_local

    try:
        text = read_local(file, problems.run.path, decompress=False).decode("utf-8")
    except UnsafeFileError as exc:
        message = f"skipped: {exc.reason}"
        problems.add(file.name, message)
        problems.run.skipped.append((file.name, message))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(file.name, f"cannot read file: {exc}")
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(file.name, f"not valid JSON: {exc}")
        return None


def _read_run(path: Path, *, strict: bool) -> SaveLocalRun:
    run = SaveLocalRun(path=path, name=path.name, timestamp=_run_timestamp(path.name))
    problems = _Problems(run, strict)
    # the folder's files in name order (what sorting their paths gives, without comparing
    # 7,000 Path objects part by part; scandir knows each entry's type without a stat)
    with os.scandir(path) as entries:
        names = sorted(entry.name for entry in entries if entry.is_file())
    files = [path / name for name in names]
    by_kind: dict[str, list[Path]] = {"spec": [], "build": [], "phase": [], "status": []}
    for file in files:
        kind = _kind(file.name)
        if kind is None:
            if file.suffix == ".json":
                problems.add(file.name, "not a save-local file name; skipped")
            continue
        by_kind[kind].append(file)

    _read_specs(run, by_kind["spec"], problems)
    _read_builds(run, by_kind["build"], problems)
    _read_phases(run, by_kind["phase"], problems)
    _read_statuses(run, by_kind["status"], problems)
    return run


def _read_specs(run: SaveLocalRun, files: list[Path], problems: _Problems) -> None:
    from ..spec import load_spec

    for file in files:
        doc = _load_json(file, problems)
        if doc is None:
            continue
        if not isinstance(doc, dict) or "spec" not in doc:
            problems.add(file.name, 'expected an object {"spec": ..., "spack_version": ...}')
            continue
        version = doc.get("spack_version")
        if version is not None and not isinstance(version, str):
            problems.add(file.name, "spack_version must be a string")
            continue
        try:
            graph = load_spec(doc["spec"])
        except (SpackmonError, ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.add(file.name, f"bad spec document: {exc}")
            continue
        try:
            graph.source = file.name
        except AttributeError:  # pragma: no cover - a frozen graph keeps its own label
            pass
        run.specs.append((graph, version or None, file.name))
        run.spec_documents.append((doc["spec"], version or None, file.name))


def _find_node(run: SaveLocalRun, full_hash: str) -> Any | None:
    for graph, _version, _name in run.specs:
        node = graph.find(full_hash)
        if node is not None:
            return node
    return None


def _matched(pattern: re.Pattern[str], file: Path) -> re.Match[str]:
    """``pattern`` matched on the name of ``file``, which was chosen by that pattern."""
    match = pattern.match(file.name)
    if match is None:
        raise ValueError(f"{file.name} does not match {pattern.pattern}")
    return match


def _read_builds(run: SaveLocalRun, files: list[Path], problems: _Problems) -> None:
    for file in files:
        local_id = _matched(METADATA_FILE, file).group("id")
        doc = _load_json(file, problems)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            problems.add(file.name, "expected a JSON object (the builds/new body)")
            continue
        full_hash = doc.get("full_hash")
        if full_hash is None and re.fullmatch(r"[a-z2-7]{32}", local_id):
            # Older 0.17 clients name the metadata file by the spec's full hash.
            full_hash = local_id
        missing = [name for name in (*ENVIRONMENT_FIELDS, "spack_version") if not doc.get(name)]
        if not full_hash:
            missing.insert(0, "full_hash")
        if missing:
            problems.add(file.name, f"missing field(s): {', '.join(missing)}")
            continue
        full_hash = str(full_hash)
        tags = doc.get("tags") or ""
        if isinstance(tags, list | tuple):
            tags = ",".join(str(tag) for tag in tags)
        tag_tuple = tuple(tag.strip() for tag in str(tags).split(",") if tag.strip())
        node = _find_node(run, full_hash)
        record = BuildRecord(
            key=local_id,
            full_hash=full_hash,
            spec_name=getattr(node, "name", None),
            spec_version=getattr(node, "version", None),
            status=None,
            spack_version=doc.get("spack_version"),
            tags=tag_tuple,
            run=run.name,
            source=file.name,
            host_os=doc.get("host_os"),
            platform=doc.get("platform"),
            host_target=doc.get("host_target"),
            hostname=doc.get("hostname"),
            kernel_version=doc.get("kernel_version"),
        )
        body = dict(doc)
        body["full_hash"] = full_hash
        run.builds.append(record)
        run.build_documents[local_id] = body


def _read_phases(run: SaveLocalRun, files: list[Path], problems: _Problems) -> None:
    phases: list[PhaseRecord] = []
    for file in files:
        match = _matched(PHASE_FILE, file)
        local_id, phase_from_name = match.group("id"), match.group("phase")
        doc = _load_json(file, problems)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            problems.add(file.name, "expected a JSON object (the phases/update body)")
            continue
        name = doc.get("phase_name") or phase_from_name
        status = doc.get("status")
        if not status:
            problems.add(file.name, "missing field: status")
            continue
        output = doc.get("output")
        if output is not None and not isinstance(output, str):
            problems.add(file.name, "output must be a string or null")
            continue
        if local_id not in run.build_documents:
            problems.add(file.name, f"no usable build-metadata-{local_id}.json for this phase")
            continue
        timing = phase_timing(output)
        phases.append(
            PhaseRecord(
                build_key=local_id,
                name=name,
                status=status,
                output=output,
                started_at=timing.started,
                finished_at=timing.finished,
                duration=timing.duration,
                source=file.name,
            )
        )
    # Order within each build: by first timestamp; phases without one are placed
    # before the first timestamped phase that usually comes after them.
    by_build: dict[str, list[PhaseRecord]] = {}
    for phase in phases:
        by_build.setdefault(phase.build_key, []).append(phase)
    ordered: list[PhaseRecord] = []
    for record in run.builds:
        members = by_build.pop(record.key, [])
        ordered.extend(_order_phases(members))
    run.phases = ordered


def _order_phases(phases: list[PhaseRecord]) -> list[PhaseRecord]:
    """A build's phases in the order they ran (:func:`~spackmon_analysis.spackfacts.order_phases`),
    numbered."""
    result = order_phases(phases, name=lambda p: p.name, started=lambda p: p.started_at)
    for index, phase in enumerate(result):
        phase.order = index
    return result


def _read_statuses(run: SaveLocalRun, files: list[Path], problems: _Problems) -> None:
    records = {record.key: record for record in run.builds}
    for file in files:
        local_id = _matched(STATUS_FILE, file).group("id")
        doc = _load_json(file, problems)
        if doc is None:
            continue
        if not isinstance(doc, dict) or not doc.get("status"):
            problems.add(file.name, "missing field: status")
            continue
        record = records.get(local_id)
        if record is None:
            problems.add(file.name, f"no usable build-metadata-{local_id}.json for this status")
            continue
        record.status = doc["status"]
        run.status_files[local_id] = file.name


# ---------------------------------------------------------------------------------
# runs -> frames


def save_local_frames(
    path: str | os.PathLike[str],
    *,
    keep_output: bool = True,
    rules: Rules | str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> FrameSet:
    """A ``--monitor-save-local`` run directory, or a directory of runs, as a
    :class:`~spackmon_analysis.loaders.assemble.FrameSet` (what
    :func:`~spackmon_analysis.frames.load_save_local` documents and returns as ``MonitorData``).

    Raises:
        SaveLocalError: the path does not exist or holds no save-local files.
    """
    active_rules = resolve_rules(rules)
    runs = read_save_local(path, strict=strict)
    asm = Assembler(keep_output=keep_output, rules=active_rules)
    for run in runs:
        for graph, _version, _name in run.specs:
            asm.add_graph(graph)
    for run in runs:
        for filename, message in run.problems:
            asm.problems.append((f"{run.name}/{filename}", message))
        # files the upload rules left out are named in notes too, as for install trees
        asm.notes.extend((f"{run.name}/{filename}", message) for filename, message in run.skipped)
        by_build: dict[str, list[Any]] = {}
        for phase in run.phases:
            by_build.setdefault(phase.build_key, []).append(phase)
        run_time = run_date(run)
        for record in run.builds:
            phases = by_build.get(record.key, [])
            phases.sort(key=lambda p: p.order if p.order is not None else 0)
            own = [p.started_at for p in phases if p.started_at is not None]
            full_hash = asm.resolve(record.full_hash)
            spec = asm.specs.get(full_hash) if full_hash is not None else None
            asm.add_build(
                key=record.key,
                build_id=record.build_id,
                run=run.name,
                run_time=run_time,
                full_hash=full_hash,
                spec_name=record.spec_name or (spec[1] if spec else None),
                spec_version=record.spec_version or (spec[2] if spec else None),
                status=record.status,
                env=record.environment(),
                tags=record.tags,
                owner=record.owner,
                created_at=record.created_at or (min(own) if own else run_time),
                source="save-local",
                phases=[phase_dict(p) for p in phases],
            )
    return asm.result(str(Path(path).expanduser()))
