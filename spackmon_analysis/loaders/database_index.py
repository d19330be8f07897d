"""Spack's install database: ``<install tree>/.spack-db/index.json`` and its ``failures/``
markers -> a frame set (the DAG of everything installed; one build per installed record and
per failure marker).

``index.json`` is ``{"database": {"version": V, "installs": {hash: record}}}``; a record holds
``spec`` (one node, no ``name`` key in version 5), ``path``, ``installed``, ``explicit``,
``installation_time`` (epoch seconds), ``ref_count`` and maybe ``deprecated_for``. Versions
read (Spack's ``database.py``): ``0.9.3`` and ``5`` (0.12-0.16: name-keyed nodes,
dependencies a mapping by hash), ``6`` (0.17-0.21: nodes with ``name``, dependencies a list),
``7`` (0.22-0.23), ``8`` (1.x: compilers as dependencies). A newer version is read as the
newest known with a note.

``failures/<name>-<hash>``: Spack's marker of a build that failed (the full hash in 0.16-0.18,
the DAG hash since 0.19), removed when the spec installs; its content is the failed spec as a
spec file (``FailureTracker.mark``, 0.20 to 1.x), read for the build's version and DAG when
present. Decisions: a marker whose hash has no installed record is a failed build (status
``FAILED``, no phases, tag ``failure-marker``); a marker of an installed hash is stale (a
later attempt installed it) and only noted; content that is not a spec is noted, not an error.

Builds (``source`` ``install``, key and ``dag_hash`` the record's hash): installed records
that are not external, status ``SUCCESS``, no phases, ``created_at``/``run_time`` the
installation time, tags ``installed``, ``install-db`` and ``explicit`` or ``implicit``; the
extra column ``explicit``. :func:`~spackmon_analysis.loaders.detect.load` merges such a build
with the install prefix or stage directory of the same hash (the prefix keeps its phases and
gains ``explicit``). Records not installed (kept for their dependents) and externals give
specs only, counted in a note.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import localfiles
from ..errors import ConfigError, SpackmonError, SpecFormatError
from ..spackfacts import (
    BLOCKED_TAG,
    FAILURE_MARKER_TAG,
    SPLICED_TAG,
    short_hash,
    specfile_format_note,
)
from ..spec import load_spec
from .assemble import Assembler, FrameSet
from .environment import read_json_file

__all__ = ["DB_DIRNAME", "is_install_database", "database_frames", "failure_markers"]

#: The install database's folder in an install tree.
DB_DIRNAME = ".spack-db"
_NEWEST = 8
#: the spec file version of the nodes of each database version (5: the list format)
_SPECFILE = {6: 3, 7: 4, 8: 5}
_MARKER = re.compile(r"^(?P<name>.+)-(?P<hash>[a-z0-9]{32})$")


def is_install_database(path: Path) -> bool:
    """``path`` is a ``.spack-db`` folder holding ``index.json`` or ``failures/``."""
    return path.name == DB_DIRNAME and (
        (path / "index.json").is_file() or (path / "failures").is_dir()
    )


def _db_folder(path: Path) -> Path:
    if not path.exists():
        raise ConfigError(f"{path}: no such file or directory (an install database)")
    if path.is_file():
        return path.parent
    if (path / DB_DIRNAME).is_dir():
        return path / DB_DIRNAME
    return path


def failure_markers(folder: Path) -> list[tuple[str, str, Path]]:
    """``(package, hash, marker path)`` of each file in ``<folder>/failures``."""
    out = []
    failures = folder / "failures"
    if failures.is_dir():
        for marker in sorted(failures.iterdir()):
            match = _MARKER.match(marker.name)
            if marker.is_file() and match:
                out.append((match.group("name"), match.group("hash"), marker))
    return out


def _marker_spec(marker: Path, folder: Path) -> tuple[Any, str | None]:
    """``(graph or None, note or None)`` of a failure marker's content: Spack writes the failed
    spec into it as a spec file (``FailureTracker.mark``: ``spec.to_json()``, 0.20 and later);
    an empty marker (older releases, or a hand-made one) says nothing more. Content that is
    not a spec is only noted: the marker's name still says what failed."""
    try:
        data = localfiles.read_local(marker, folder, decompress=False)
    except localfiles.UnsafeFileError as exc:
        return None, f"content skipped: {exc.reason}"
    except OSError as exc:
        return None, f"content not read ({exc.strerror or exc})"
    if not data.strip():
        return None, None
    try:
        return load_spec(data, name=str(marker)), None
    except SpackmonError as exc:
        return None, f"content is not a spec file ({exc}); the build is named from the file name"


def _fail(reason: str, source: str, where: str | None = None) -> SpecFormatError:
    return SpecFormatError(reason, source=source, path=where)


def _read_index(
    index: Path, within: Path | None = None
) -> tuple[dict[str, Any], Any, list[tuple[str, str]]]:
    """``(records by hash, the graph of their nodes or None, notes)``."""
    source = str(index)
    notes: list[tuple[str, str]] = []
    doc = read_json_file(index, within)
    database = doc.get("database") if isinstance(doc, dict) else None
    if not isinstance(database, dict):
        raise _fail("missing the 'database' object (not an install database index)", source)
    installs = database.get("installs")
    if not isinstance(installs, dict):
        raise _fail("must be an object keyed by hash", source, "database.installs")
    text = str(database.get("version", ""))
    try:
        version = int(text) if text != "0.9.3" else 5
    except ValueError:
        raise _fail(f"unknown version {text!r}", source, "database.version") from None
    if version > _NEWEST:
        notes.append((source, f"database version {version} is newer than {_NEWEST}; read as it"))
        version = _NEWEST
    records: dict[str, dict[str, Any]] = {}
    nodes: list[Any] = []
    for key, record in installs.items():
        where = f"database.installs.{key}"
        if not isinstance(record, dict) or not isinstance(record.get("spec"), dict):
            raise _fail("a record needs a 'spec' object", source, where)
        node = dict(record["spec"])
        if "name" in node:  # versions 6+
            node.setdefault("hash", key)
            nodes.append(node)
            name = node["name"]
        else:  # version 5: {name: body}
            names = [k for k, v in node.items() if isinstance(v, dict)]
            if len(names) != 1:
                raise _fail("a name-keyed spec needs one package name key", source, where + ".spec")
            name = names[0]
            body = dict(node[name])
            body.setdefault("hash", key)
            nodes.append({name: body})
            node = body
        stamp = record.get("installation_time")
        if stamp is not None and not isinstance(stamp, int | float):
            raise _fail("'installation_time' must be epoch seconds", source, where)
        records[key] = {
            "name": str(name),
            "version": str(node.get("version")) if node.get("version") is not None else None,
            "installed": bool(record.get("installed", False)),
            "explicit": bool(record.get("explicit", False)),
            "time": datetime.fromtimestamp(stamp, tz=timezone.utc) if stamp else None,
            "external": bool(node.get("external")),
            "path": record.get("path"),
            # spliced (Spack 0.23+): installed by rewiring the build of its build_spec
            "spliced": node.get("build_spec") is not None,
        }
    if not nodes:
        return records, None, notes
    if version <= 5:
        document: Any = {"spec": nodes}
    else:
        document = {"spec": {"_meta": {"version": _SPECFILE.get(version, 5)}, "nodes": nodes}}
    return records, load_spec(document, name=source), notes


def database_frames(path: str | os.PathLike[str], **_: Any) -> FrameSet:
    """The install database at ``path`` (an install tree, its ``.spack-db`` folder or the
    ``index.json``) as a frame set; see the module docstring. Keyword arguments
    (:func:`~spackmon_analysis.loaders.detect.load`'s) are accepted and unused.

    Raises:
        ConfigError: the path does not exist.
        SpecFormatError: ``index.json`` is malformed (names the file and the JSON path).
    """
    import pandas as pd

    named = Path(path).expanduser()
    folder = _db_folder(named)
    index = folder / "index.json"
    # index.json named by the user is read wherever it points; found in a folder, it must
    # stay inside that folder (the localfiles rule), else it is skipped and named in notes
    within = None if named.is_file() else folder
    notes: list[tuple[str, str]] = []
    records: dict[str, dict[str, Any]] = {}
    asm = Assembler(keep_output=False, rules=None)
    graph: Any = None
    if index.is_file():
        try:
            records, graph, notes = _read_index(index, within)
        except localfiles.UnsafeFileError as exc:
            notes.append((str(index), f"skipped: {exc.reason}"))
            graph = None
        if graph is not None:
            asm.add_graph(graph)
    explicit: list[bool | None] = []
    skipped = {"not installed": 0, "external": 0}
    for key, rec in records.items():
        if rec["external"] or not rec["installed"]:
            skipped["external" if rec["external"] else "not installed"] += 1
            continue
        asm.add_build(
            key=key,
            dag_hash=key,
            build_id=None,
            run=None,
            run_time=rec["time"],
            full_hash=asm.resolve(key),
            spec_name=rec["name"],
            spec_version=rec["version"],
            status="SUCCESS",
            env={},
            tags=[
                "installed",
                "install-db",
                "explicit" if rec["explicit"] else "implicit",
                *([SPLICED_TAG] if rec.get("spliced") else []),
            ],
            owner=None,
            created_at=rec["time"],
            source="install",
            phases=[],
        )
        explicit.append(rec["explicit"])
    if any(skipped.values()):
        what = ", ".join(f"{n} {k}" for k, n in skipped.items() if n)
        notes.append((str(index), f"records without a build: {what} (their specs are kept)"))
    graphs = [graph] if graph is not None else []
    failed: list[tuple[str, str, Path, str | None, bool | None]] = []
    for name, hashed, marker in failure_markers(folder):
        known = records.get(hashed)
        if known is not None and known["installed"]:
            notes.append(
                (
                    str(marker),
                    f"{name} /{short_hash(hashed)}: failure marker of an installed "
                    "spec (a later attempt installed it); no failed build",
                )
            )
            continue
        spec, trouble = _marker_spec(marker, folder)
        version = known["version"] if known else None
        if trouble:
            notes.append((str(marker), f"{name} /{short_hash(hashed)}: failure marker {trouble}"))
        found = spec.find(hashed) if spec is not None else None
        if spec is not None and found is not None:
            asm.add_graph(spec)
            graphs.append(spec)
            version = version or found.version
            newer = specfile_format_note(spec.format, "failure marker's spec")
            if newer:
                notes.append((str(marker), newer))
        elif spec is not None:
            notes.append(
                (
                    str(marker),
                    f"{name} /{short_hash(hashed)}: failure marker holds a spec without that "
                    "hash; its content is not used",
                )
            )
        failed.append((name, hashed, marker, version, known["explicit"] if known else None))
    # Spack marks the spec that failed and each dependent it then skipped (installer.py
    # _update_failed(dep_task, mark)): a marked spec that depends on another marked one
    # never built (blocked); the others are the failures themselves (no logs here: a stage
    # directory of the same hash brings them)
    marked = {hashed for _, hashed, _, _, _ in failed}
    below = _dependencies(graphs)
    for name, hashed, marker, version, was_explicit in failed:
        blocked_by = sorted(_reach(hashed, below) & (marked - {hashed}))
        asm.add_build(
            key=hashed,
            dag_hash=hashed,
            build_id=None,
            run=None,
            run_time=None,
            full_hash=asm.resolve(hashed),
            spec_name=name,
            spec_version=version,
            status="FAILED",
            env={},
            # the tags decide the outcome (spackfacts.build_outcome): a marked spec that is
            # not blocked failed itself, though no ERROR phase (no log) says so
            tags=[FAILURE_MARKER_TAG, BLOCKED_TAG] if blocked_by else [FAILURE_MARKER_TAG],
            owner=None,
            created_at=None,
            source="install",
            phases=[],
        )
        explicit.append(was_explicit)
        if blocked_by:
            what = ", ".join(f"/{short_hash(h)}" for h in blocked_by)
            notes.append(
                (
                    str(marker),
                    f"{name} /{short_hash(hashed)}: failure marker of a dependent Spack skipped "
                    f"because {what} failed: never built",
                )
            )
        else:
            notes.append(
                (str(marker), f"{name} /{short_hash(hashed)}: failure marker: a failed build")
            )
    result = asm.result(str(folder), notes=notes)
    if result.builds is not None and len(result.builds):
        result.builds["explicit"] = pd.array(explicit, dtype="boolean")
    return result


def _dependencies(graphs: list[Any]) -> dict[str, set[str]]:
    """Each node's direct dependencies (by every hash it carries) over ``graphs``; a spliced
    node also needs its build spec (Spack's installer makes the build spec's task a
    dependency of the rewiring: ``installer.py`` ``_requeue_with_build_spec_tasks``, so a
    failed build spec marks the spliced spec as a dependent it skipped)."""
    out: dict[str, set[str]] = {}
    for graph in graphs:
        keys = {key: set(node.hashes.values()) | {key} for key, node in graph.nodes.items()}
        for edge in graph.edges:
            for parent in keys.get(edge.parent, {edge.parent}):
                out.setdefault(parent, set()).update(keys.get(edge.child, {edge.child}))
        for key, built_as in graph.build_specs.items():
            target = graph.find(built_as)
            needed = keys[target.key] if target is not None else {built_as}
            for parent in keys[key]:
                out.setdefault(parent, set()).update(needed)
    return out


def _reach(start: str, below: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(below.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(below.get(node, ()))
    return seen
