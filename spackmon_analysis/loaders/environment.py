"""Spack environments: a ``spack.lock`` (or the environment directory holding it) -> the
environment's roots and full DAG as a frame set (``specs`` and ``dependencies``; no builds).

Every lockfile version Spack documents (``lib/spack/spack/environment/__init__.py``) is read:

- 1 (Spack 0.12-0.16): ``concrete_specs`` keyed by the old DAG hash, each value a
  name-keyed node (``{"zlib": {...}}``) that may lack its ``hash`` (the key is it);
  dependencies a mapping ``name -> {"hash", "type"}``.
- 2 (0.15-0.16): the same nodes keyed by build hash; each node's ``hash`` is its DAG hash,
  which the dependencies name. Two nodes with the same DAG hash (different build
  dependencies) could never both be installed: the first is kept, a note names the other.
- 3 (0.17): the node format of spec files version 2 (``name`` inside, dependencies a list
  naming ``build_hash``), keyed by build hash.
- 4 (0.18-0.21), 5 (0.22-0.23, adds ``include_concrete``: the roots and concrete specs of
  included environments, keyed by their path), 6 (1.0-1.1, compilers as dependencies,
  spec files version 5), 7 (1.2, a ``group`` per root): nodes keyed by the DAG hash.

The included environments' roots are roots of this environment too (``spack install`` in
it installs them). A version newer than 7 is read as 7 when its sections have the known
shape (a note says so). The roots are the extra ``specs`` column ``environment_root``:
the abstract spec the user wrote (``"hdf5+mpi"``), ``<NA>`` for the other nodes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import localfiles
from ..errors import ConfigError, SpecFormatError
from ..spackfacts import short_hash, specfile_format_note
from ..spec import SpecGraph, load_spec
from .assemble import Assembler, FrameSet

__all__ = [
    "LOCKFILE_NAME",
    "LATEST_LOCKFILE_VERSION",
    "is_environment",
    "environment_graph",
    "environment_frames",
]

#: The lock file of a concretized environment.
LOCKFILE_NAME = "spack.lock"
#: The newest lockfile format documented by Spack (1.2).
LATEST_LOCKFILE_VERSION = 7
#: The spec file format of each lockfile version's nodes (when ``_meta`` does not say).
#: (5: Spack 0.22-0.23 write spec file version 4 nodes, though Spack's own lockfile page shows 3)
_SPECFILE_VERSION = {3: 2, 4: 3, 5: 4, 6: 5, 7: 5}


def is_environment(path: Path) -> bool:
    """``path`` is a ``spack.lock`` file or a directory holding one."""
    if path.is_dir():
        return (path / LOCKFILE_NAME).is_file()
    return path.name == LOCKFILE_NAME and path.is_file()


def _lockfile(path: Path) -> Path:
    if not path.exists():
        raise ConfigError(f"{path}: no such file or directory (a spack.lock or environment)")
    if path.is_dir():
        lock = path / LOCKFILE_NAME
        if not lock.is_file():
            what = (
                "holds spack.yaml but was never concretized"
                if (path / "spack.yaml").is_file()
                else "is not a Spack environment"
            )
            raise ConfigError(f"{path}: {what}: no {LOCKFILE_NAME}")
        return lock
    return path


def _fail(reason: str, source: str, where: str | None = None) -> SpecFormatError:
    return SpecFormatError(reason, source=source, path=where)


def read_json_file(path: Path, within: Path | None = None) -> Any:
    """The JSON document in ``path`` (a ``spack.lock``, an install database ``index.json``).

    Read under the local-file rule (:func:`~spackmon_analysis.localfiles.read_local`):
    only a regular file (a FIFO or device named ``spack.lock`` would block or never end)
    of at most :data:`~spackmon_analysis.localfiles.MAX_FILE_BYTES` (256 MiB; the index of
    a tree of thousands of installs is tens of MB). ``within``: the folder the file must
    stay inside (a file found in a folder, not named by the user); then a refused file
    raises :class:`~spackmon_analysis.localfiles.UnsafeFileError` for the caller to skip
    and name in its notes.

    Raises:
        SpecFormatError: the file is not a regular file, is over the size cap, cannot be
            read, is not UTF-8 text, is nested too deeply or not JSON (names the file, and the line and column
            of a JSON error).
    """
    source = str(path)
    try:
        data = localfiles.read_local(path, within, decompress=False)
        return json.loads(data.decode("utf-8"))
    except localfiles.UnsafeFileError as exc:
        if within is not None:
            raise
        raise _fail(exc.reason, source) from None
    except OSError as exc:
        raise _fail(f"cannot read the file ({exc.strerror or exc})", source) from None
    except UnicodeDecodeError as exc:
        raise _fail(f"not UTF-8 text ({exc.reason})", source) from None
    except json.JSONDecodeError as exc:
        raise _fail(f"not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})", source) from None
    except RecursionError:
        raise _fail(
            "nested too deeply to read (Spack writes a few levels; a damaged or hostile file)",
            source,
        ) from None


def _roots(section: Any, source: str, where: str) -> list[tuple[str, str, str]]:
    """``(key, abstract spec, JSON path)`` of each root record."""
    if not isinstance(section, list):
        raise _fail("must be a list of {hash, spec} records", source, where)
    out = []
    for i, record in enumerate(section):
        if not isinstance(record, dict) or not isinstance(record.get("hash"), str):
            raise _fail("a root record needs a string 'hash'", source, f"{where}[{i}]")
        out.append((record["hash"], str(record.get("spec") or ""), f"{where}[{i}]"))
    return out


def _old_node(key: str, value: Any, source: str, where: str) -> tuple[str, dict[str, Any]]:
    """A name-keyed node of lockfile versions 1 and 2: ``(name, body)``; the body gets the
    key as its ``hash`` when it has none (version 1)."""
    if not isinstance(value, dict):
        raise _fail("a concrete spec must be an object", source, where)
    names = [k for k, v in value.items() if isinstance(v, dict) and k not in ("dependencies",)]
    if len(names) != 1:
        raise _fail("a name-keyed spec needs exactly one package name key", source, where)
    body = dict(value[names[0]])
    body.setdefault("hash", value.get("hash") if isinstance(value.get("hash"), str) else key)
    return names[0], body


def _document(
    doc: Any, source: str, notes: list[tuple[str, str]]
) -> tuple[dict[str, Any], list[tuple[str, str]], int]:
    """The lockfile as one spec document the spec parser reads, its roots
    (``(key, abstract spec)``: key as the lockfile names it) and its version."""
    if not isinstance(doc, dict):
        raise _fail("a spack.lock is a JSON object", source)
    meta = doc.get("_meta")
    if not isinstance(meta, dict):
        raise _fail("missing the '_meta' object (not a spack.lock?)", source, "_meta")
    version = meta.get("lockfile-version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail("'lockfile-version' must be a positive integer", source, "_meta")
    if version > LATEST_LOCKFILE_VERSION:
        notes.append(
            (
                source,
                f"lockfile-version {version} is newer than the newest documented "
                f"({LATEST_LOCKFILE_VERSION}); read as {LATEST_LOCKFILE_VERSION}",
            )
        )
    sections: list[tuple[str, Any, Any]] = [("", doc.get("roots"), doc.get("concrete_specs"))]
    included = doc.get("include_concrete")
    if included is not None:
        if not isinstance(included, dict):
            raise _fail("must be an object keyed by environment path", source, "include_concrete")
        for env, part in included.items():
            if not isinstance(part, dict):
                raise _fail("must be an object", source, f"include_concrete.{env}")
            sections.append(
                (f"include_concrete.{env}.", part.get("roots"), part.get("concrete_specs"))
            )
    roots: list[tuple[str, str, str]] = []
    old_nodes: dict[str, dict[str, Any]] = {}  # DAG hash -> {name: body}
    new_nodes: dict[str, dict[str, Any]] = {}
    key_to_hash: dict[str, str] = {}
    for prefix, root_section, specs in sections:
        roots += _roots(root_section, source, f"{prefix}roots")
        if not isinstance(specs, dict):
            raise _fail("must be an object keyed by hash", source, f"{prefix}concrete_specs")
        for key, value in specs.items():
            where = f"{prefix}concrete_specs.{key}"
            if version <= 2:
                name, body = _old_node(key, value, source, where)
                dag = str(body["hash"])
                key_to_hash[key] = dag
                if dag in old_nodes and old_nodes[dag] != {name: body}:
                    notes.append(
                        (
                            source,
                            f"{name} /{short_hash(dag)}: a second concrete spec with the same "
                            f"DAG hash (key {key}; other build dependencies) not read: Spack "
                            "installs only one",
                        )
                    )
                    continue
                old_nodes[dag] = {name: body}
            else:
                if not isinstance(value, dict) or not isinstance(value.get("name"), str):
                    raise _fail("a concrete spec needs a string 'name'", source, where)
                node = dict(value)
                node.setdefault("hash", key)
                if version == 3:
                    node.setdefault("build_hash", key)
                key_to_hash[key] = key
                new_nodes.setdefault(key, node)
    if version <= 2:
        first = [key_to_hash.get(k, k) for k, _, _ in roots]
        ordered = [old_nodes[h] for h in dict.fromkeys(first) if h in old_nodes]
        ordered += [n for h, n in old_nodes.items() if h not in set(first)]
        spec: dict[str, Any] = {"spec": ordered}
    else:
        specfile = meta.get("specfile-version")
        if not isinstance(specfile, int) or isinstance(specfile, bool):
            specfile = _SPECFILE_VERSION.get(version, 5)
        newer = specfile_format_note(specfile, "specfile-version: the spec")
        if newer:
            notes.append((source, newer))
        first = [k for k, _, _ in roots]
        ordered = [new_nodes[k] for k in dict.fromkeys(first) if k in new_nodes]
        ordered += [n for k, n in new_nodes.items() if k not in set(first)]
        spec = {"spec": {"_meta": {"version": specfile}, "nodes": ordered}}
    for key, _, where in roots:
        if key not in key_to_hash:
            raise _fail(f"root {key} is not in concrete_specs", source, where)
    return spec, [(key_to_hash[key], text) for key, text, _ in roots], version


def environment_graph(
    path: str | os.PathLike[str],
) -> tuple[SpecGraph, list[tuple[str, str]], list[tuple[str, str]]]:
    """``(graph, roots, notes)`` of an environment: its full DAG as a
    :class:`~spackmon_analysis.spec.SpecGraph`, its roots as ``(node key in the graph,
    abstract spec)`` in the lockfile's order (included environments' after), and notes.

    Raises:
        ConfigError: the path does not exist or is a directory without ``spack.lock``.
        SpecFormatError: the lockfile is malformed (names the file and the JSON path).
    """
    lock = _lockfile(Path(path).expanduser())
    source = str(lock)
    doc = read_json_file(lock)
    notes: list[tuple[str, str]] = []
    spec, roots, _ = _document(doc, source, notes)
    graph = load_spec(spec, name=source)
    index = graph.hash_index()
    keyed = [(index.get(key, key), text) for key, text in roots]
    return graph, keyed, notes


def environment_frames(path: str | os.PathLike[str], **_: Any) -> FrameSet:
    """The frame set of an environment (:func:`environment_graph`): ``specs`` (with the
    ``environment_root`` column) and ``dependencies``, no builds; ``notes`` name the roots.
    Keyword arguments (:func:`~spackmon_analysis.loaders.detect.load`'s) are accepted and
    unused: an environment holds no logs."""
    import pandas as pd

    graph, roots, notes = environment_graph(path)
    source = str(_lockfile(Path(path).expanduser()))
    asm = Assembler(keep_output=False, rules=None)
    asm.add_graph(graph)
    frames = asm.frames()
    specs = frames["specs"]
    abstract = dict(roots)
    specs["environment_root"] = pd.array(
        [abstract.get(str(key)) for key in specs["full_hash"].astype(object)], dtype="string"
    )
    names = dict(zip(specs["full_hash"].astype(object), specs["name"].astype(object), strict=True))
    listed = ", ".join(
        f"{names.get(key, '?')} /{short_hash(key)} ({text or 'no abstract spec'})"
        for key, text in roots
    )
    notes.append((source, f"environment roots: {listed or 'none'}"))
    notes += asm.notes  # a spliced root's note (Assembler.add_graph)
    return FrameSet(specs=specs, dependencies=frames["dependencies"], source=source, notes=notes)
