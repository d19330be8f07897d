"""The spec documents an upload of today's sources sends (:mod:`.upload`).

Each node goes as its source wrote it: :func:`source_graphs` reads the sources' spec documents
again (spec files, save-local runs' spec files, install prefixes' ``spec.json``, ``spack.lock``
files, install databases; :func:`spec_file_documents` the spec files themselves), because the
frames keep only what analysis needs. :class:`_Dag` writes one document per root a run's builds
need, taking each node from those graphs and writing a node none of them holds from the
``specs``/``dependencies`` frames (``_variants``: ``variants_text`` read back into
parameters). The decisions are listed in :mod:`.upload`'s docstring.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import SpackmonError
from ..spackfacts import short_hash

if TYPE_CHECKING:  # pragma: no cover
    import pandas


def source_graphs(paths: Sequence[Any]) -> list[Any]:
    """The spec graphs of the spec sources among ``paths`` and in the folders they name
    (spec files, save-local runs' spec files, install prefixes' ``spec.json``,
    ``spack.lock`` files, install databases), read again so that an upload sends each node
    as its source wrote it (parameters, patches, external paths, every hash): the frames
    keep only what analysis needs. A source that cannot be read here was read (or named)
    by :func:`~spackmon_analysis.loaders.detect.load` already, and its nodes are written
    from the frames."""
    graphs: list[Any] = []
    for path in paths:
        if hasattr(path, "nodes") and hasattr(path, "edges"):  # a SpecGraph given as DAG
            graphs.append(path)
        elif isinstance(path, str | os.PathLike):
            graphs.extend(_graphs_of(Path(path).expanduser()))
    return graphs


def spec_file_documents(paths: Sequence[Any]) -> list[tuple[str, Any, Any]]:
    """``(path, document, graph)`` of each spec file among ``paths`` and in the folders they
    name (the files :func:`~spackmon_analysis.loaders.detect.load` reads as spec files; a
    save-local run's own spec files are the run's), read under the upload rules; a file
    that cannot be read is left out here (the loader named it in ``notes``)."""
    from ..loaders import detect
    from ..spec import load_spec
    from .specfiles import read_spec_document

    found: list[tuple[Path, Path | None]] = []
    for path in paths:
        if not isinstance(path, str | os.PathLike):
            continue
        target = Path(path).expanduser()
        if target.is_file() and detect.is_spec_file(target):
            found.append((target, None))
        elif target.is_dir() and not detect.is_report(target):
            try:
                inputs = detect.find_inputs(target)
            except _READ_ERRORS:
                continue
            found += [(f, target) for f in inputs.get(detect.SPECFILES.name, [])]
    out: list[tuple[str, Any, Any]] = []
    for spec_file, root in found:
        try:
            document = read_spec_document(spec_file, within=root)
            out.append((str(spec_file), document, load_spec(document, name=str(spec_file))))
        except _READ_ERRORS:
            continue
    return out


def _graphs_of(target: Path) -> list[Any]:
    from ..loaders import detect
    from ..loaders.junit import is_junit_file
    from ..spec import load_spec

    try:
        if target.is_file():
            if target.name == "spack.lock":
                return _environment_graphs([target])
            if target.name == "index.json" and target.parent.name == ".spack-db":
                return _database_graphs([target.parent])
            if target.suffix.lower() in _SPEC_SUFFIXES and not is_junit_file(target):
                return [load_spec(target)]
            return []
        if not target.is_dir():
            return []
        found = detect.find_inputs(target)
    except _READ_ERRORS:
        return []
    graphs: list[Any] = []
    graphs += _save_local_graphs(found.get(detect.SAVE_LOCAL.name, []))
    graphs += _prefix_graphs(found.get(detect.INSTALLS.name, []))
    graphs += _environment_graphs(found.get(detect.ENVIRONMENT.name, []))
    graphs += _database_graphs(found.get(detect.DATABASE.name, []))
    graphs += [graph for _, _, graph in spec_file_documents([target])]
    return graphs


_SPEC_SUFFIXES = (".json", ".yaml", ".yml", ".gz", ".sig")
#: What reading a source's spec documents again may raise (the source is then left to
#: the frames, which its loader read or named already).
_READ_ERRORS = (SpackmonError, OSError, ValueError, KeyError, TypeError)
_Item = TypeVar("_Item")


def _readable_graphs(items: Iterable[_Item], read: Callable[[_Item], Any]) -> list[Any]:
    """``read(item)`` for each item, in order; an item that cannot be read again
    (``_READ_ERRORS``) or reads as None is left out (its loader read or named it)."""
    graphs: list[Any] = []
    for item in items:
        try:
            graph = read(item)
        except _READ_ERRORS:
            continue
        if graph is not None:
            graphs.append(graph)
    return graphs


def _save_local_graphs(runs: list[Path]) -> list[Any]:
    """The graphs of the runs' spec files only (``spec-*-config.json``: upload bodies),
    under the upload rules; not the whole run again."""
    from ..loaders.savelocal import SPEC_FILE
    from ..spec import load_spec
    from .specfiles import read_spec_document

    spec_files = [
        (spec_file, run)
        for run in runs
        for spec_file in sorted(run.iterdir())
        if SPEC_FILE.match(spec_file.name) and spec_file.is_file()
    ]
    return _readable_graphs(
        spec_files, lambda found: load_spec(read_spec_document(found[0], within=found[1]))
    )


def _prefix_graphs(prefixes: list[Path]) -> list[Any]:
    from ..spec import load_spec
    from .specfiles import _install_spec_document

    def read(prefix: Path) -> Any:
        document = _install_spec_document(prefix)  # None for a stage directory
        return None if document is None else load_spec(document)

    return _readable_graphs(prefixes, read)


def _environment_graphs(locks: list[Path]) -> list[Any]:
    from ..loaders.environment import environment_graph

    return _readable_graphs(locks, lambda lock: environment_graph(lock)[0])


def _database_graphs(folders: list[Path]) -> list[Any]:
    from ..loaders.database_index import _read_index

    def read(folder: Path) -> Any:
        index = folder / "index.json"
        return _read_index(index, folder)[1] if index.is_file() else None

    return _readable_graphs(folders, read)


def _text(value: Any) -> str | None:
    """``value`` as stripped text; None for a missing value (None, NaN, ``pd.NA``) or ''."""
    raw = _text_or_none(value)
    if raw is None:
        return None
    return raw.strip() or None


def _text_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def _variants(text: str | None) -> dict[str, Any]:
    """``parameters`` from ``variants_text`` (``"+shared~pic build_type=Release"``): the
    inverse of :func:`~spackmon_analysis.spackfacts.variants_text` (a value holding a comma
    is read as the list it was written from)."""
    params: dict[str, Any] = {}
    if not text:
        return params
    for part in text.split(" "):
        if not part:
            continue
        if "=" in part and part[0] not in "+~":
            name, _, value = part.partition("=")
            params[name] = value.split(",") if "," in value else value
            continue
        name, flag = "", None
        for char in part + "+":
            if char in "+~":
                if flag is not None and name:
                    params[name] = flag == "+"
                flag, name = char, ""
            else:
                name += char
    return params


class _Dag:
    """The loaded specs and dependencies, and the spec documents written from them."""

    def __init__(
        self, specs: pandas.DataFrame, deps: pandas.DataFrame, graphs: Sequence[Any] = ()
    ) -> None:
        #: graph key -> the node as its source wrote it; (parent, child) -> the edge
        self.written: dict[str, Any] = {}
        self.edges: dict[tuple[str, str], Any] = {}
        for graph in graphs:
            for key, spec_node in graph.nodes.items():
                self.written.setdefault(key, spec_node)
            for edge in graph.edges:
                self.edges.setdefault((edge.parent, edge.child), edge)
        self.rows: dict[str, dict[str, Any]] = {}
        self.lookup: dict[str, str] = {}
        self.minimal: set[str] = set()
        columns = [str(c) for c in specs.columns]
        for values in specs.itertuples(index=False, name=None):
            spec = dict(zip(columns, values, strict=True))
            key = _text(spec["full_hash"])
            if key is None or key in self.rows:
                continue
            self.rows[key] = spec
            for value in (key, _text(spec["dag_hash"]), _text(spec["build_hash"])):
                if value:
                    self.lookup.setdefault(value, key)
        self.children: dict[str, list[tuple[str, list[str]]]] = {}
        self.parents: dict[str, set[str]] = {}
        for row in deps.itertuples(index=False):
            parent = self.lookup.get(_text(row.parent_hash) or "")
            child = self.lookup.get(_text(row.child_hash) or "")
            if parent is None or child is None:
                continue
            types = [t for t in (_text(row.deptypes) or "").replace(",", " ").split() if t]
            if all(c != child for c, _ in self.children.get(parent, [])):
                self.children.setdefault(parent, []).append((child, types))
                self.parents.setdefault(child, set()).add(parent)

    @property
    def keys(self) -> list[str]:
        return list(self.rows)

    def key_of(self, any_hash: str) -> str | None:
        return self.lookup.get(any_hash)

    def is_minimal(self, key: str) -> bool:
        return key in self.minimal

    def add_minimal(self, full_hash: str, build: Any) -> None:
        """A one-node spec from what a build row carries (no DAG holds it)."""
        self.minimal.add(full_hash)
        compiler = _text(getattr(build, "compiler", None))
        cname, _, cversion = (compiler or "").partition("@")
        self.rows[full_hash] = {
            "full_hash": full_hash,
            "name": _text(build.spec_name) or "unknown",
            "version": _text(build.spec_version),
            "compiler_name": cname or None,
            "compiler_version": cversion or None,
            "platform": _text(build.platform),
            "os": _text(build.host_os),
            "target": _text(build.host_target),
            "namespace": None,
            "external": False,
            "dag_hash": _text(build.dag_hash) or full_hash,
            "build_hash": None,
            "variants_text": None,
        }
        self.lookup.setdefault(full_hash, full_hash)

    def label(self, key: str) -> str:
        row = self.rows.get(key, {})
        name = _text(row.get("name")) or "?"
        version = _text(row.get("version"))
        text = f"{name}@{version}" if version else name
        return f"{text} /{short_hash(_text(row.get('dag_hash')) or key)}"

    def closure(self, keys: Iterable[str]) -> list[str]:
        """``keys`` and everything they depend on, each once, parents first."""
        seen: dict[str, None] = {}
        stack = list(reversed(list(keys)))
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen[key] = None
            stack.extend(reversed([c for c, _ in self.children.get(key, [])]))
        return list(seen)

    def documents(self, keys: set[str]) -> list[tuple[str, dict[str, Any]]]:
        """One spec document per root of what ``keys`` need: ``(root key, document)``."""
        needed = set(self.closure(sorted(keys)))
        roots = [k for k in sorted(needed) if not (self.parents.get(k, set()) & needed)]
        return [(root, self.document(root)) for root in roots]

    def document(self, root: str) -> dict[str, Any]:
        return {
            "spec": {"_meta": {"version": 4}, "nodes": [self.node(k) for k in self.closure([root])]}
        }

    def _hash(self, key: str) -> str:
        """The hash a dependency entry names ``key`` by (one its document node carries)."""
        written = self.written.get(key)
        if written is not None:
            return str(written.hashes.get("hash") or written.hashes.get("full_hash") or key)
        return _text(self.rows[key].get("dag_hash")) or key

    def _dependencies(self, key: str) -> list[dict[str, Any]]:
        entries = []
        for child, types in self.children.get(key, []):
            edge = self.edges.get((key, child))
            deptypes = list(edge.deptypes) if edge is not None else types
            virtuals = list(edge.virtuals) if edge is not None else []
            entries.append(
                {
                    "name": _text(self.rows[child].get("name")) or "unknown",
                    "hash": self._hash(child),
                    "parameters": {"deptypes": deptypes, "virtuals": virtuals},
                }
            )
        return entries

    def node(self, key: str) -> dict[str, Any]:
        """The document node of ``key``: as its source wrote it (every hash, parameters,
        external path), else written from the frames' row."""
        written = self.written.get(key)
        if written is not None:
            return self._written_node(written)
        row = self.rows[key]
        node: dict[str, Any] = {"name": _text(row.get("name")) or "unknown"}
        version = _text(row.get("version"))
        if version:
            node["version"] = version
        arch = {
            "platform": _text(row.get("platform")),
            "platform_os": _text(row.get("os")),
            "target": _text(row.get("target")),
        }
        if any(arch.values()):
            node["arch"] = {k: v for k, v in arch.items() if v}
        cname, cversion = _text(row.get("compiler_name")), _text(row.get("compiler_version"))
        if cname:
            node["compiler"] = {"name": cname, "version": cversion or ""}
        namespace = _text(row.get("namespace"))
        if namespace:
            node["namespace"] = namespace
        params = _variants(_text(row.get("variants_text")))
        if params or _text(row.get("variants_text")) == "":
            node["parameters"] = params
        if _true(row.get("external")):
            node["external"] = True
        node["hash"] = self._hash(key)
        if key != node["hash"]:
            node["full_hash"] = key
        build_hash = _text(row.get("build_hash"))
        if build_hash and build_hash not in (key, node["hash"]):
            node["build_hash"] = build_hash
        dependencies = self._dependencies(key)
        if dependencies:
            node["dependencies"] = dependencies
        build_spec = _text(row.get("build_spec"))
        if build_spec:  # spliced: what it was built as (Spack's ``{"name", "hash"}``)
            node["build_spec"] = {"name": node["name"], "hash": build_spec}
        return node

    def _written_node(self, spec: Any) -> dict[str, Any]:
        node: dict[str, Any] = {"name": spec.name}
        if spec.version:
            node["version"] = spec.version
        arch = {"platform": spec.platform, "platform_os": spec.os, "target": spec.target}
        if any(arch.values()):
            node["arch"] = {k: v for k, v in arch.items() if v}
        if spec.compiler_name:
            node["compiler"] = {"name": spec.compiler_name, "version": spec.compiler_version or ""}
        if spec.namespace:
            node["namespace"] = spec.namespace
        node["parameters"] = dict(spec.parameters or {})
        if spec.patches and "patches" not in node["parameters"]:
            node["patches"] = list(spec.patches)
        if spec.external:
            node["external"] = {"path": spec.external_path} if spec.external_path else True
        for name in ("hash", "full_hash", "build_hash", "package_hash"):
            if spec.hashes.get(name):
                node[name] = spec.hashes[name]
        if "hash" not in node and "full_hash" not in node:
            node["hash"] = spec.key
        dependencies = self._dependencies(spec.key)
        if dependencies:
            node["dependencies"] = dependencies
        if getattr(spec, "build_spec", None):  # spliced: what it was built as
            node["build_spec"] = {"name": spec.name, "hash": spec.build_spec}
        return node


def _true(value: Any) -> bool:
    """True for a true boolean cell (False for False, NA or a missing value)."""
    return _text_or_none(value) is not None and bool(value)
