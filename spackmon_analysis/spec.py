"""One reader for every Spack spec document, as a graph and as pandas frames.

:func:`load_spec` accepts a path (``.json``, ``.yaml``/``.yml``, clearsigned ``.json.sig``,
optionally gzip-compressed), JSON or YAML text, ``bytes`` or an already-parsed object, and
returns a :class:`SpecGraph`. Every format Spack has written is read (see PROTOCOL section 5):

* the old list format of Spack <= 0.16 (``[{"<name>": {node}}]``),
* node lists with ``_meta.version`` 2 (0.17), 3 (0.18-0.19), 4 (0.21-0.23), 5 (1.0-1.2), 6 (1.3),
* the wrappers ``{"spec": X}``, ``{"spec": {"spec": X}}``, upload bodies with ``spack_version``,
  buildcache ``spec.json`` files and clearsigned ``spec.json.sig`` files,
* an environment's ``spack.lock`` (``concrete_specs``) and the install database ``index.json``.

A dependency entry resolves to the node that carries its value under **any** hash key
(``hash``, ``full_hash``, ``build_hash``, ``dag_hash``), or, failing that, to the only node with
that name; a reference nothing resolves is an error, never a placeholder node. Stored hashes
are authoritative and never recomputed.

Malformed input raises :class:`~spackmon_analysis.errors.SpecFormatError` naming the file and
the path of the bad element (for example ``spec.nodes[3].dependencies[1]: no hash key``), and
nothing else.
"""

from __future__ import annotations

import gc
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import compress, filterfalse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SpecFormatError

if TYPE_CHECKING:  # pragma: no cover
    import networkx
    import pandas

__all__ = ["load_spec", "SpecGraph", "SpecNode", "SpecEdge", "SpecDiff", "HASH_KEYS"]

#: Every key under which a node may carry a hash (``package_hash`` is not a node identity).
HASH_KEYS = ("hash", "full_hash", "build_hash", "dag_hash", "package_hash")
_REF_KEYS = ("hash", "full_hash", "build_hash", "dag_hash")
_FLAG_KEYS = frozenset(("cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs"))
_COMPILER_VIRTUALS = frozenset(("c", "cxx", "fortran"))
_SPEC_SUFFIXES = (".json", ".yaml", ".yml", ".sig", ".gz", ".lock")
_PGP_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----"
_PGP_SIG = "-----BEGIN PGP SIGNATURE-----"
_COMPILER_RE = re.compile(r"^\s*([A-Za-z0-9_.+-]+?)\s*@\s*=?\s*([^\s%^+~]+)")


# ---------------------------------------------------------------------------------------------
# data classes


@dataclass(eq=False, slots=True)
class SpecNode:
    """One concrete package in a spec DAG.

    ``key`` is the node's graph key: its ``full_hash`` when it carries one, else its ``hash``.
    ``hashes`` holds every hash key the node carries, exactly as written.
    """

    key: str
    name: str
    version: str | None
    hashes: dict[str, str]
    compiler_name: str | None = None
    compiler_version: str | None = None
    platform: str | None = None
    os: str | None = None
    target: str | None = None
    namespace: str | None = None
    parameters: dict = field(default_factory=dict)
    external: bool = False
    external_path: str | None = None
    patches: tuple = ()

    @property
    def variants(self) -> dict:
        """``parameters`` without the compiler flags (cflags, cxxflags, ..., ldlibs)."""
        return {k: v for k, v in self.parameters.items() if k not in _FLAG_KEYS}

    @property
    def full_hash(self) -> str:
        """The node's ``full_hash`` key, else its graph key."""
        return self.hashes.get("full_hash") or self.key

    @property
    def dag_hash(self) -> str:
        """The node's ``hash`` key (the DAG hash), else its graph key."""
        return self.hashes.get("hash") or self.key

    @property
    def compiler(self) -> str | None:
        """``name@version`` of the compiler, or ``None`` when the document names none."""
        if self.compiler_name is None:
            return None
        if self.compiler_version is None:
            return self.compiler_name
        return f"{self.compiler_name}@{self.compiler_version}"

    @property
    def short_hash(self) -> str:
        """The first seven characters of the graph key, as Spack prints them."""
        return self.key[:7]

    def __repr__(self) -> str:
        ver = f"@{self.version}" if self.version is not None else ""
        return f"<SpecNode {self.name}{ver} /{self.short_hash}>"


@dataclass(frozen=True, slots=True)
class SpecEdge:
    """A dependency edge: ``parent`` depends on ``child`` (both graph keys)."""

    parent: str
    child: str
    deptypes: tuple = ()
    virtuals: tuple = ()


# ---------------------------------------------------------------------------------------------
# reading bytes / text / paths


def _fail(reason: str, source: str, path: str | None = None) -> SpecFormatError:
    return SpecFormatError(reason, source=source, path=path or None)


def _strip_clearsign(text: str, source: str) -> str:
    """Return the signed payload of an OpenPGP clearsigned message."""
    start = text.find(_PGP_BEGIN)
    end = text.find(_PGP_SIG, start)
    if end < 0:
        raise _fail("clearsigned message without a '-----BEGIN PGP SIGNATURE-----' line", source)
    head = text[start + len(_PGP_BEGIN) : end]
    # armor headers ("Hash: SHA256") end at the first blank line
    lines = head.split("\n")
    i = 1 if lines and lines[0].strip() == "" else 0
    while i < len(lines) and lines[i].strip() != "":
        i += 1
    if i >= len(lines):
        raise _fail("clearsigned message without a blank line after its armor headers", source)
    body = lines[i + 1 :]
    # dash-escaped lines ("- text") lose their escape (RFC 4880 section 7.1)
    body = [ln[2:] if ln.startswith("- ") else ln for ln in body]
    return "\n".join(body)


def _parse_text(text: str, source: str, hint: str = "") -> Any:
    if text.startswith("\ufeff"):
        text = text[1:]
    if _PGP_BEGIN in text[:200]:
        text = _strip_clearsign(text, source)
    stripped = text.lstrip()
    if not stripped:
        raise _fail("empty document", source)
    if stripped[0] in "{[" or hint == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            if hint == "json":
                raise _fail(f"invalid JSON: {exc}", source) from None
            json_error = exc
        except RecursionError:
            raise _fail("document nested too deeply", source) from None
        # flow-style YAML also starts with { or [; try it before giving up
        try:
            return _yaml_load(text)
        except Exception:  # noqa: BLE001 - report the JSON error, it is the likely intent
            raise _fail(f"invalid JSON: {json_error}", source) from None
    try:
        return _yaml_load(text)
    except RecursionError:
        raise _fail("document nested too deeply", source) from None
    except Exception as exc:  # yaml.YAMLError and its relatives
        raise _fail(f"invalid YAML: {exc}", source) from None


def _yaml_load(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def _parse_bytes(data: bytes, source: str, hint: str = "") -> Any:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise _fail(f"invalid gzip data: {exc}", source) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"not UTF-8 text: {exc}", source) from None
    return _parse_text(text, source, hint)


def _read_path(path: Path, source: str) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read file: {exc.strerror or exc}", source) from None
    lower = path.name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    hint = "json" if lower.endswith(".json") else ""
    return _parse_bytes(data, source, hint)


def _looks_like_path(text: str) -> bool:
    if "\n" in text or not text.strip() or text.lstrip()[:1] in "{[":
        return False
    if text.lower().endswith(_SPEC_SUFFIXES):
        return True
    try:
        return Path(text).exists()
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# the parser


class _Parser:
    """Turns a parsed document into nodes and edges (one instance per load)."""

    __slots__ = (
        "source",
        "spack_version",
        "format",
        "nodes",
        "index",
        "names",
        "raw_edges",
        "tuples",
    )

    def __init__(self, source: str):
        self.source = source
        self.spack_version: str | None = None
        self.format = "list"
        self.nodes: dict[str, SpecNode] = {}
        self.index: dict[str, str] = {}
        self.names: dict[str, list[str]] = {}
        # (parent key, name, ref value or ((key, value), ...), deptypes, virtuals, entry, path)
        self.raw_edges: list[tuple] = []
        self.tuples: dict[tuple, tuple] = {}

    def fail(self, reason: str, path: str | None = None) -> SpecFormatError:
        return _fail(reason, self.source, path)

    # -- unwrapping ---------------------------------------------------------------------------

    def parse(self, doc: Any) -> tuple[list[str], list[SpecEdge]] | _Cols:
        """Read ``doc``: columns (well-formed node lists) or ``(roots, edges)`` with ``nodes``."""
        path = ""
        explicit_roots: list[tuple[str, str]] | None = None
        for _ in range(8):  # wrappers nest at most a few levels
            if isinstance(doc, list):
                self.format = "list"
                cols = _try_fast(doc, True)
                if cols is not None:
                    return cols
                self._parse_list(doc, path)
                break
            if not isinstance(doc, dict):
                what = (
                    "empty document"
                    if doc is None
                    else f"expected an object or a list, got {type(doc).__name__}"
                )
                raise self.fail(what, path)
            if not doc:
                raise self.fail("empty document", path)
            if "nodes" in doc:
                cols = self._parse_nodes(doc, path)
                if cols is not None:
                    return cols
                break
            if "concrete_specs" in doc:
                explicit_roots = self._parse_lock(doc, path)
                break
            if "database" in doc and isinstance(doc.get("database"), dict):
                self._parse_database(doc["database"], _join(path, "database"))
                break
            if "spec" in doc:
                version = doc.get("spack_version")
                if version is not None:
                    if not isinstance(version, str):
                        raise self.fail(
                            f"spack_version must be a string, got {type(version).__name__} "
                            f"{version!r}",
                            _join(path, "spack_version"),
                        )
                    self.spack_version = version
                doc = doc["spec"]
                path = _join(path, "spec")
                continue
            if len(doc) == 1:
                only = next(iter(doc.values()))
                if isinstance(only, dict) and "nodes" not in doc:
                    # a single list-format node {"<name>": {...}} without the list around it
                    self.format = "list"
                    cols = _try_fast([doc], True)
                    if cols is not None:
                        return cols
                    self._parse_list([doc], path, bare=True)
                    break
            raise self.fail(
                "not a spec document (expected 'spec', 'nodes', a list of nodes, "
                "'concrete_specs' or 'database')",
                path,
            )
        else:
            raise self.fail("wrappers nested too deeply", path)
        if not self.nodes:
            raise self.fail("the document holds no nodes", path)
        edges = self._resolve()
        self._check_acyclic(edges)
        self._derive_compilers(edges)
        roots = self._roots(edges, explicit_roots)
        return roots, edges

    # -- formats ------------------------------------------------------------------------------

    def _parse_list(self, items: list, path: str, bare: bool = False) -> None:
        for i, item in enumerate(items):
            ipath = path if bare else f"{path}[{i}]"
            if not isinstance(item, dict) or len(item) != 1:
                raise self.fail("expected an object with exactly one key (the package name)", ipath)
            name, body = next(iter(item.items()))
            if not isinstance(name, str) or not name:
                raise self.fail("the package name must be a non-empty string", ipath)
            npath = _join(ipath, name)
            if not isinstance(body, dict):
                raise self.fail("expected the node to be an object", npath)
            self._add_node(body, name, npath)

    def _parse_nodes(self, doc: dict, path: str) -> _Cols | None:
        meta = doc.get("_meta")
        version = None
        if meta is not None:
            if not isinstance(meta, dict):
                raise self.fail("_meta must be an object", _join(path, "_meta"))
            version = meta.get("version")
            if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
                raise self.fail(
                    f"_meta.version must be an integer, got {type(version).__name__} {version!r}",
                    _join(path, "_meta.version"),
                )
        nodes = doc["nodes"]
        npath = _join(path, "nodes")
        if not isinstance(nodes, list):
            raise self.fail("nodes must be a list", npath)
        cols = _try_fast(nodes, False)
        if cols is not None:
            if version is None:
                version = self._guess_version(nodes)
            self.format = f"v{version}"
            return cols
        for i, body in enumerate(nodes):
            ipath = f"{npath}[{i}]"
            if not isinstance(body, dict):
                raise self.fail("expected the node to be an object", ipath)
            name = body.get("name")
            if not isinstance(name, str) or not name:
                raise self.fail("node has no name (a non-empty string)", ipath)
            self._add_node(body, name, ipath)
        if version is None:
            version = self._guess_version(nodes)
        self.format = f"v{version}"
        return None

    def _guess_version(self, nodes: list) -> int:
        for body in nodes:
            if "annotations" in body:
                return 5
            deps = body.get("dependencies")
            if isinstance(deps, list) and deps and isinstance(deps[0], dict):
                if "parameters" in deps[0]:
                    return 4
        if any("full_hash" in body for body in nodes):
            return 2
        return 3

    def _parse_lock(self, doc: dict, path: str) -> list[tuple[str, str]]:
        self.format = "lock"
        specs = doc["concrete_specs"]
        cpath = _join(path, "concrete_specs")
        if not isinstance(specs, dict):
            raise self.fail("concrete_specs must be an object", cpath)
        lock_keys: list[tuple[str, str]] = []
        for lock_hash, body in specs.items():
            kpath = _join(cpath, str(lock_hash))
            key = self._add_wrapped(body, kpath)
            if isinstance(lock_hash, str):
                self.index.setdefault(lock_hash, key)
            lock_keys.append((lock_hash, key))
        roots = doc.get("roots")
        explicit: list[tuple[str, str]] = []
        if isinstance(roots, list):
            for i, entry in enumerate(roots):
                if isinstance(entry, dict) and isinstance(entry.get("hash"), str):
                    explicit.append((entry["hash"], f"{_join(path, 'roots')}[{i}]"))
        return explicit

    def _parse_database(self, db: dict, path: str) -> None:
        self.format = "database"
        installs = db.get("installs")
        ipath = _join(path, "installs")
        if not isinstance(installs, dict):
            raise self.fail("installs must be an object", ipath)
        for db_hash, record in installs.items():
            rpath = _join(ipath, str(db_hash))
            if not isinstance(record, dict) or "spec" not in record:
                raise self.fail("expected an install record with a 'spec'", rpath)
            key = self._add_wrapped(record["spec"], _join(rpath, "spec"))
            if isinstance(db_hash, str):
                self.index.setdefault(db_hash, key)

    def _add_wrapped(self, body: Any, path: str) -> str:
        """A node written either with ``name`` or as a one-key list-format object."""
        if not isinstance(body, dict):
            raise self.fail("expected the node to be an object", path)
        name = body.get("name")
        if isinstance(name, str) and name:
            return self._add_node(body, name, path)
        if len(body) == 1:
            name, inner = next(iter(body.items()))
            if isinstance(name, str) and name and isinstance(inner, dict):
                return self._add_node(inner, name, _join(path, name))
        raise self.fail("node has no name", path)

    # -- one node -----------------------------------------------------------------------------

    def _add_node(self, body: dict, name: str, path: str) -> str:
        get = body.get
        hashes: dict[str, str] = {}
        for k in HASH_KEYS:
            value = get(k)
            if value is not None:
                if value.__class__ is not str or not value:
                    raise self.fail(f"{k} must be a non-empty string", _join(path, k))
                hashes[k] = value
        key = (
            hashes.get("full_hash")
            or hashes.get("hash")
            or hashes.get("build_hash")
            or hashes.get("dag_hash")
        )
        if key is None:
            raise self.fail("node has no hash key (hash, full_hash, build_hash or dag_hash)", path)
        if key in self.nodes:
            raise self.fail(f"duplicate node {name} /{key}", path)

        version = get("version")
        if version is not None and version.__class__ is not str:
            version = _scalar(version, self, _join(path, "version"))

        platform = os_name = target = None
        arch = get("arch")
        if arch is not None:
            if arch.__class__ is not dict:
                raise self.fail("arch must be an object", _join(path, "arch"))
            platform = arch.get("platform")
            os_name = arch.get("platform_os")
            target = arch.get("target")
            if target.__class__ is dict:
                target = target.get("name")
                if target is not None and target.__class__ is not str:
                    raise self.fail("expected a string", _join(path, "arch.target.name"))
            elif target is not None and target.__class__ is not str:
                raise self.fail("expected a string", _join(path, "arch.target"))
            if platform is not None and platform.__class__ is not str:
                raise self.fail("expected a string", _join(path, "arch.platform"))
            if os_name is not None and os_name.__class__ is not str:
                raise self.fail("expected a string", _join(path, "arch.platform_os"))

        compiler_name = compiler_version = None
        comp = get("compiler")
        if comp is not None:
            if comp.__class__ is dict:
                compiler_name = comp.get("name")
                if compiler_name is not None and compiler_name.__class__ is not str:
                    raise self.fail("expected a string", _join(path, "compiler.name"))
                cv = comp.get("version")
                if cv is not None and cv.__class__ is not str:
                    if isinstance(cv, list):  # very old files list version ranges
                        cv = ",".join(str(v) for v in cv)
                    cv = _scalar(cv, self, _join(path, "compiler.version"))
                compiler_version = cv
            elif isinstance(comp, str):
                compiler_name, compiler_version = _parse_compiler_string(comp)
            else:
                raise self.fail("compiler must be an object", _join(path, "compiler"))
        else:
            ann = get("annotations")
            if ann is not None:
                if not isinstance(ann, dict):
                    raise self.fail("annotations must be an object", _join(path, "annotations"))
                acomp = ann.get("compiler")
                if acomp is not None:
                    if not isinstance(acomp, str):
                        raise self.fail(
                            "annotations.compiler must be a string",
                            _join(path, "annotations.compiler"),
                        )
                    compiler_name, compiler_version = _parse_compiler_string(acomp)

        namespace = get("namespace")
        if namespace is not None and namespace.__class__ is not str:
            raise self.fail("expected a string", _join(path, "namespace"))

        params = get("parameters")
        if params is None:
            params = {}
        elif params.__class__ is not dict:
            raise self.fail("parameters must be an object", _join(path, "parameters"))

        patches = get("patches")
        if patches is None:
            patches = params.get("patches")
        if patches is None:
            patches = ()
        elif isinstance(patches, list):
            patches = tuple(str(p) for p in patches)
        elif isinstance(patches, str):
            patches = (patches,)
        else:
            raise self.fail("patches must be a list", _join(path, "patches"))

        external = False
        external_path = None
        ext = get("external")
        if ext is not None and ext is not False:
            external = True
            if isinstance(ext, dict):
                p = ext.get("path")
                if p is not None and not isinstance(p, str):
                    raise self.fail("external.path must be a string", _join(path, "external.path"))
                external_path = p
            elif isinstance(ext, str):
                external_path = ext
            elif ext is not True:
                raise self.fail("external must be an object", _join(path, "external"))
        else:
            old_ext = get("external_path")  # very old files
            if old_ext.__class__ is str:
                external = True
                external_path = old_ext

        node = SpecNode(
            key,
            name,
            version,
            hashes,
            compiler_name,
            compiler_version,
            platform,
            os_name,
            target,
            namespace,
            params,
            external,
            external_path,
            patches,
        )
        self.nodes[key] = node
        index = self.index
        for value in hashes.values():
            index.setdefault(value, key)
        names = self.names.get(name)
        if names is None:
            self.names[name] = [key]
        else:
            names.append(key)

        deps = body.get("dependencies")
        if deps is not None:
            self._add_deps(key, deps, _join(path, "dependencies"))
        return key

    def _add_deps(self, key: str, deps: Any, path: str) -> None:
        raw = self.raw_edges
        cache = self.tuples
        if deps.__class__ is list:
            for i, entry in enumerate(deps):
                if entry.__class__ is dict:
                    # fast path: a well-formed entry; anything unusual takes the checked path
                    name = entry.get("name")
                    ref = entry.get("hash")
                    if ref is None:
                        ref = (
                            entry.get("build_hash")
                            or entry.get("full_hash")
                            or entry.get("dag_hash")
                        )
                    t = entry.get("type")
                    params = entry.get("parameters")
                    v: Any = None
                    if params is not None:
                        if params.__class__ is dict:
                            if t is None:
                                t = params.get("deptypes")
                            v = params.get("virtuals")
                        else:
                            t = 0  # invalid: the checked path reports it
                    dt = _cached_tuple(t, cache)
                    vt = _cached_tuple(v, cache)
                    if (
                        ref.__class__ is str
                        and ref
                        and dt is not None
                        and vt is not None
                        and (name is None or name.__class__ is str)
                    ):
                        raw.append((key, name, ref, dt, vt, entry, (path, i)))
                        continue
                epath = f"{path}[{i}]"
                if not isinstance(entry, dict):
                    raise self.fail("expected a dependency object", epath)
                name = entry.get("name")
                if name is not None and not isinstance(name, str):
                    raise self.fail("dependency name must be a string", _join(epath, "name"))
                raw.append(self._dep_entry(key, name, entry, epath))
        elif isinstance(deps, dict):
            for name, entry in deps.items():
                if entry.__class__ is dict and name.__class__ is str and len(entry) == 2:
                    ref = entry.get("hash")
                    dt = _cached_tuple(entry.get("type"), cache)
                    if ref.__class__ is str and ref and dt is not None:
                        raw.append((key, name, ref, dt, (), entry, (path, name)))
                        continue
                epath = _join(path, str(name))
                if not isinstance(name, str):
                    raise self.fail("dependency name must be a string", epath)
                if isinstance(entry, str) and entry:  # very old files: {name: hash}
                    raw.append((key, name, (("hash", entry),), (), (), None, epath))
                    continue
                if not isinstance(entry, dict):
                    raise self.fail("expected a dependency object", epath)
                raw.append(self._dep_entry(key, name, entry, epath))
        else:
            raise self.fail("dependencies must be a list or an object", path)

    def _refs(self, entry: dict, epath: str) -> tuple:
        refs = []
        for k in _REF_KEYS:
            if k in entry:
                value = entry[k]
                if not isinstance(value, str) or not value:
                    raise self.fail(f"{k} must be a non-empty string", _join(epath, k))
                refs.append((k, value))
        return tuple(refs)

    def _dep_entry(self, key: str, name: str | None, entry: dict, epath: str) -> tuple:
        refs = self._refs(entry, epath)
        deptypes: Any = entry.get("type")
        virtuals: Any = ()
        params = entry.get("parameters")
        if params is not None:
            if not isinstance(params, dict):
                raise self.fail("parameters must be an object", _join(epath, "parameters"))
            if deptypes is None:
                deptypes = params.get("deptypes")
            virtuals = params.get("virtuals") or ()
        deptypes = _str_tuple(
            deptypes, self, epath, "type" if "type" in entry else "parameters.deptypes"
        )
        virtuals = _str_tuple(virtuals, self, epath, "parameters.virtuals")
        return (key, name, refs, deptypes, virtuals, None, epath)

    # -- resolution ---------------------------------------------------------------------------

    def _resolve(self) -> list[SpecEdge]:
        index = self.index
        names = self.names
        edges: list[SpecEdge] = []
        append = edges.append
        for parent, name, refs, deptypes, virtuals, entry, epath in self.raw_edges:
            child = index.get(refs) if refs.__class__ is str else None
            if child is None:
                epath = _fmt_path(epath)
                if entry is not None:
                    refs = self._refs(entry, epath)
                for _k, value in refs:
                    child = index.get(value)
                    if child is not None:
                        break
            if child is None:
                candidates = names.get(name) if name is not None else None
                if candidates is not None and len(candidates) == 1:
                    child = candidates[0]
                elif not refs:
                    raise self.fail("no hash key (hash, full_hash, build_hash or dag_hash)", epath)
                else:
                    k, value = refs[0]
                    what = f"dependency {name} " if name else "dependency "
                    raise self.fail(f"{what}{k} {value} matches no node in the document", epath)
            if child == parent:
                raise self.fail("a node cannot depend on itself", _fmt_path(epath))
            append(SpecEdge(parent, child, deptypes, virtuals))
        return edges

    def _check_acyclic(self, edges: list[SpecEdge]) -> None:
        """Raise naming a node on a dependency cycle, if there is one (Kahn's algorithm)."""
        indegree = dict.fromkeys(self.nodes, 0)
        children: dict[str, list[str]] = {}
        for e in edges:
            indegree[e.child] += 1
            children.setdefault(e.parent, []).append(e.child)
        ready = [k for k, d in indegree.items() if d == 0]
        done = 0
        while ready:
            key = ready.pop()
            done += 1
            for child in children.get(key, ()):
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if done == len(indegree):
            return
        # every node left has a parent left: walking up parents must come back round
        left = {k for k, d in indegree.items() if d > 0}
        parent_of = {e.child: e.parent for e in edges if e.parent in left and e.child in left}
        key = next(k for k in self.nodes if k in left)
        seen: list[str] = []
        while key not in seen:
            seen.append(key)
            key = parent_of[key]
        cycle = seen[seen.index(key) :][::-1]
        nodes = self.nodes
        names = " -> ".join(f"{nodes[k].name}/{k[:7]}" for k in [*cycle, cycle[0]])
        node = nodes[key]
        raise self.fail(f"dependency cycle through {node.name} /{key} ({names}): a spec is a DAG")

    def _derive_compilers(self, edges: list[SpecEdge]) -> None:
        """Version 5+ nodes have no ``compiler`` key: use the build edge providing c/cxx/fortran."""
        nodes = self.nodes
        for e in edges:
            if e.virtuals and "build" in e.deptypes:
                node = nodes[e.parent]
                if node.compiler_name is None and not _COMPILER_VIRTUALS.isdisjoint(e.virtuals):
                    comp = nodes[e.child]
                    node.compiler_name = comp.name
                    node.compiler_version = comp.version

    def _roots(self, edges: list[SpecEdge], explicit: list[tuple[str, str]] | None) -> list[str]:
        if explicit:
            roots = []
            for value, rpath in explicit:
                key = self.index.get(value)
                if key is None:
                    raise self.fail(f"root hash {value} matches no node", rpath)
                if key not in roots:
                    roots.append(key)
            return roots
        children = {e.child for e in edges}
        roots = [k for k in self.nodes if k not in children]
        return roots


class _no_gc:
    """Context manager: pause the cyclic garbage collector (restores its previous state)."""

    __slots__ = ("was",)

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            _promote_young()
            gc.enable()


def _promote_young() -> None:
    """Move every object the young generations hold into the oldest one, without a pass.

    A graph keeps tens of thousands of containers (the nodes' parameter dicts and their
    flag lists); left young, the collector's next pass walks all of them (about 10 ms per
    5,000 nodes) and its next ones again. ``gc.freeze()`` + ``gc.unfreeze()`` moves them (and
    whatever else is young at that moment) straight to the oldest generation: they are
    still freed by reference counting, and cyclic garbage among them is found by the next
    full collection. Skipped when the caller has frozen objects of its own (``unfreeze``
    would release them).
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def _categoricals(rows: list[tuple], width: int) -> list:
    """One pandas Categorical per position of the equally long tuples ``rows`` (``None``
    missing), categories in order of appearance, factorized together.

    The rows of a spec repeat the same few combinations (compiler, platform, os, target,
    namespace), so they are reduced to their distinct combinations first (C-level ``dict``
    work) and each column's codes are then taken from the few combinations. Categories stay
    in order of first appearance: a value's first row is the first row of the first
    combination holding it, and combinations are numbered in order of appearance.
    """
    import numpy as np
    import pandas as pd

    n = len(rows)
    distinct = dict.fromkeys(rows)
    if len(distinct) > max(64, n // 4):  # many combinations: one factorize per column
        out = []
        columns = list(zip(*rows, strict=True)) if n else [()] * width
        for values in columns:
            codes, uniques = pd.factorize(np.array(values, dtype=object))
            out.append(pd.Categorical.from_codes(codes, categories=list(uniques)))
        return out
    combo_index = {c: j for j, c in enumerate(distinct)}
    combo_codes = np.fromiter(map(combo_index.__getitem__, rows), dtype=np.intp, count=n)
    combos = list(distinct)
    out = []
    for k in range(width):
        cats: dict = {}
        table = np.empty(len(combos), dtype=np.intp)
        for j, combo in enumerate(combos):
            v = combo[k]
            table[j] = -1 if v is None else cats.setdefault(v, len(cats))
        codes = table[combo_codes] if n else np.zeros(0, dtype=np.intp)
        out.append(pd.Categorical.from_codes(codes, categories=list(cats)))
    return out


def _cached_tuple(value: Any, cache: dict) -> tuple | None:
    """``value`` (None, a string or a list of strings) as a shared tuple; None if invalid."""
    if value is None:
        return ()
    if value.__class__ is list:
        t = tuple(value)
        try:
            hit = cache.get(t)
        except TypeError:  # unhashable members
            return None
        if hit is not None:
            return hit
        for v in t:
            if v.__class__ is not str:
                return None
        cache[t] = t
        return t
    if value.__class__ is str:
        return (value,)
    return None


def _fmt_path(path: str | tuple) -> str:
    if path.__class__ is tuple:
        base, i = path
        return f"{base}[{i}]" if isinstance(i, int) else _join(base, str(i))
    return path  # type: ignore[return-value]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _scalar(value: Any, parser: _Parser, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise parser.fail("expected a string", path)


def _opt_str(value: Any, parser: _Parser, path: str, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise parser.fail("expected a string", _join(path, key))


def _str_tuple(value: Any, parser: _Parser, path: str, key: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        for v in value:
            if not isinstance(v, str):
                raise parser.fail("expected a list of strings", _join(path, key))
        return tuple(value)
    raise parser.fail("expected a list of strings", _join(path, key))


def _parse_compiler_string(text: str) -> tuple[str | None, str | None]:
    """``gcc@=9.4.0`` / ``gcc@9.4.0`` / ``gcc`` -> (name, version)."""
    m = _COMPILER_RE.match(text)
    if m:
        return m.group(1), m.group(2)
    text = text.strip()
    return (text or None), None


# ---------------------------------------------------------------------------------------------
# the fast path: well-formed node lists straight into columns


_NODE_FIELDS = 13  # values per node in _fast_columns' flat row list
_EDGE_FIELDS = 4  # values per dependency entry in its flat edge list


class _Bail(Exception):
    """The fast reader met something it does not handle: the checked reader takes over."""


class _Cols:
    """A parsed graph as columns (node ``i`` is row ``i``; edges as index lists).

    Built by :func:`_fast_columns` for well-formed documents; :class:`SpecGraph` builds its
    ``SpecNode``/``SpecEdge`` objects from it only when they are asked for.
    """

    __slots__ = (
        "keys",
        "names",
        "versions",
        "hash_cols",
        "combos",
        "params",
        "external",
        "external_path",
        "patches",
        "index",
        "parent",
        "child",
        "deptypes",
        "virtuals",
    )

    # ``combos`` holds one shared (compiler_name, compiler_version, platform, os, target,
    # namespace) tuple per node; the single columns are built from it when asked for
    compiler_name = property(lambda self: [c[0] for c in self.combos])
    compiler_version = property(lambda self: [c[1] for c in self.combos])
    platform = property(lambda self: [c[2] for c in self.combos])
    os = property(lambda self: [c[3] for c in self.combos])
    target = property(lambda self: [c[4] for c in self.combos])
    namespace = property(lambda self: [c[5] for c in self.combos])


def _try_fast(bodies: list, list_format: bool) -> _Cols | None:
    """:func:`_fast_columns`, or ``None`` when the checked reader must read the document."""
    try:
        return _fast_columns(bodies, list_format)
    except Exception:  # noqa: BLE001 - _Bail, or an unusual value (unhashable deptypes, ...)
        return None


def _fast_columns(bodies: list, list_format: bool) -> _Cols:
    """Read well-formed nodes into a :class:`_Cols`, or raise :class:`_Bail`.

    Accepts exactly what the checked reader accepts with the same result, for the common
    shapes only: anything unusual (a wrong type anywhere, numeric versions, string-only
    dependency entries, a reference that needs the by-name fallback, a cycle, ...) bails
    out, and the checked reader then reads the document again (and reports its error).
    """
    # one flat list of _NODE_FIELDS values per node and _EDGE_FIELDS per dependency entry
    # (parent index, reference, deptypes, virtuals), cut into columns by strided slices at
    # the end (a fraction of the cost of transposing a list of row tuples with zip)
    rows: list = []
    edge_rows: list = []
    row = rows.extend
    edge = edge_rows.extend
    index: dict[str, int] = {}
    key_of: dict[str, int] = {}
    tuples: dict[tuple, tuple] = {}
    compilers: dict[str, tuple] = {}
    combos_seen: dict[tuple, tuple] = {}
    prev_combo = None
    sd = index.setdefault
    str_ = str
    dict_ = dict
    list_ = list
    i = -1
    for item in bodies:
        i += 1
        if list_format:
            if item.__class__ is not dict_ or len(item) != 1:
                raise _Bail
            [(name, body)] = item.items()
            if name.__class__ is not str_ or not name or body.__class__ is not dict_:
                raise _Bail
        else:
            body = item
            if body.__class__ is not dict_:
                raise _Bail
            name = body.get("name")
            if name.__class__ is not str_ or not name:
                raise _Bail
        get = body.get
        h = get("hash")
        fh = get("full_hash")
        bh = get("build_hash")
        dh = get("dag_hash")
        ph = get("package_hash")
        if (
            (h is not None and (h.__class__ is not str_ or not h))
            or (fh is not None and (fh.__class__ is not str_ or not fh))
            or (bh is not None and (bh.__class__ is not str_ or not bh))
            or (dh is not None and (dh.__class__ is not str_ or not dh))
            or (ph is not None and (ph.__class__ is not str_ or not ph))
        ):
            raise _Bail
        key = fh or h or bh or dh
        if key is None or key_of.setdefault(key, i) != i:
            raise _Bail
        version = get("version")
        if version is not None and version.__class__ is not str_:
            raise _Bail

        arch = get("arch")
        if arch is None:
            platform = os_name = target = None
        elif arch.__class__ is dict_:
            platform = arch.get("platform")
            os_name = arch.get("platform_os")
            target = arch.get("target")
            if target.__class__ is dict_:
                target = target.get("name")
            if (
                (target is not None and target.__class__ is not str_)
                or (platform is not None and platform.__class__ is not str_)
                or (os_name is not None and os_name.__class__ is not str_)
            ):
                raise _Bail
        else:
            raise _Bail

        comp = get("compiler")
        if comp is None:
            cname = cver = None
            ann = get("annotations")
            if ann is not None:
                if ann.__class__ is not dict_:
                    raise _Bail
                acomp = ann.get("compiler")
                if acomp is not None:
                    if acomp.__class__ is not str_:
                        raise _Bail
                    parsed = compilers.get(acomp)
                    if parsed is None:
                        parsed = compilers[acomp] = _parse_compiler_string(acomp)
                    cname, cver = parsed
        elif comp.__class__ is dict_:
            cname = comp.get("name")
            cver = comp.get("version")
            if (cname is not None and cname.__class__ is not str_) or (
                cver is not None and cver.__class__ is not str_
            ):
                raise _Bail
        elif comp.__class__ is str_:
            parsed = compilers.get(comp)
            if parsed is None:
                parsed = compilers[comp] = _parse_compiler_string(comp)
            cname, cver = parsed
        else:
            raise _Bail

        namespace = get("namespace")
        if namespace is not None and namespace.__class__ is not str_:
            raise _Bail
        params = get("parameters")
        if params is not None and params.__class__ is not dict_:
            raise _Bail
        patches = get("patches")
        if patches is None and params is not None:
            patches = params.get("patches")
        if patches is None:
            patches = ()
        elif patches.__class__ is list_:
            patches = tuple(map(str_, patches))
        elif patches.__class__ is str_:
            patches = (patches,)
        else:
            raise _Bail

        ext = get("external")
        if ext is None or ext is False:
            ext_path = get("external_path")
            if ext_path.__class__ is str_:
                external = True
            else:
                external = False
                ext_path = None
        elif ext.__class__ is dict_:
            external = True
            ext_path = ext.get("path")
            if ext_path is not None and ext_path.__class__ is not str_:
                raise _Bail
        elif ext.__class__ is str_:
            external = True
            ext_path = ext
        elif ext is True:
            external = True
            ext_path = None
        else:
            raise _Bail

        # the six low-cardinality values as one shared tuple: equal to the previous node's
        # (the usual case: one comparison) or looked up. Sharing the objects keeps the frames'
        # categoricals from touching (hashing, comparing) 30,000 fresh strings again.
        combo = (cname, cver, platform, os_name, target, namespace)
        if combo == prev_combo:
            combo = prev_combo
        else:
            combo = prev_combo = combos_seen.setdefault(combo, combo)
        row((key, name, version, h, fh, bh, dh, ph, combo, params, external, ext_path, patches))
        if h is not None:
            sd(h, i)
        if fh is not None:
            sd(fh, i)
        if bh is not None:
            sd(bh, i)
        if dh is not None:
            sd(dh, i)
        if ph is not None:
            sd(ph, i)

        deps = get("dependencies")
        if deps is None:
            continue
        if deps.__class__ is list_:
            for entry in deps:
                if entry.__class__ is not dict_:
                    raise _Bail
                eget = entry.get
                ref = eget("hash")
                if ref.__class__ is not str_:
                    if ref is not None:
                        raise _Bail
                    ref = eget("build_hash") or eget("full_hash") or eget("dag_hash")
                    if ref.__class__ is not str_:
                        raise _Bail
                dep_name = eget("name")
                if not ref or (dep_name.__class__ is not str_ and dep_name is not None):
                    raise _Bail
                t = eget("type")
                dparams = eget("parameters")
                if dparams.__class__ is dict_:
                    if t is None:
                        t = dparams.get("deptypes")
                    v = dparams.get("virtuals")
                    if v:
                        if v.__class__ is str_:
                            v = [v]
                        elif v.__class__ is not list_:
                            raise _Bail
                        vv = tuple(v)
                        v = tuples.get(vv)  # TypeError (unhashable member) bails too
                        if v is None:
                            for x in vv:
                                if x.__class__ is not str_:
                                    raise _Bail
                            v = tuples[vv] = vv
                    elif v is None or v.__class__ is list_:
                        v = ()
                    else:  # "", 0, {}, false: the checked reader decides
                        raise _Bail
                elif dparams is None:
                    v = ()
                else:
                    raise _Bail
                if t.__class__ is list_:
                    tt = tuple(t)
                    t = tuples.get(tt)
                    if t is None:
                        for x in tt:
                            if x.__class__ is not str_:
                                raise _Bail
                        t = tuples[tt] = tt
                elif t is None:
                    t = ()
                elif t.__class__ is str_:
                    t = (t,)
                else:
                    raise _Bail
                edge((i, ref, t, v))
        elif deps.__class__ is dict_:
            for dep_name, entry in deps.items():
                if (
                    entry.__class__ is not dict_
                    or dep_name.__class__ is not str_
                    or len(entry) != 2
                ):
                    raise _Bail
                ref = entry.get("hash")
                if ref.__class__ is not str_ or not ref:
                    raise _Bail
                t = entry.get("type")
                if t is None:
                    t = ()
                else:
                    if t.__class__ is str_:
                        t = [t]
                    elif t.__class__ is not list_:
                        raise _Bail
                    tt = tuple(t)
                    t = tuples.get(tt)
                    if t is None:
                        for x in tt:
                            if x.__class__ is not str_:
                                raise _Bail
                        t = tuples[tt] = tt
                edge((i, ref, t, ()))
        else:
            raise _Bail

    n, rest = divmod(len(rows), _NODE_FIELDS)
    if not n or rest:
        raise _Bail
    (
        keys,
        names,
        versions,
        c_hash,
        c_full,
        c_build,
        c_dag,
        c_pkg,
        combos,
        params_col,
        externals,
        ext_paths,
        patches_col,
    ) = [rows[k::_NODE_FIELDS] for k in range(_NODE_FIELDS)]
    del rows
    e_parent, e_ref, e_dt, e_vt = [edge_rows[k::_EDGE_FIELDS] for k in range(_EDGE_FIELDS)]
    del edge_rows
    # every reference resolves through the hash index (else: the by-name fallback, or an error)
    e_child = list(map(index.get, e_ref))
    if None in e_child:
        raise _Bail
    _fast_acyclic(n, e_parent, e_child)
    # version 5+: the compiler is the build dependency providing c/cxx/fortran
    # (only the edges whose virtuals name a compiler language are visited, found at C level)
    hot = {vt for vt in tuples.values() if not _COMPILER_VIRTUALS.isdisjoint(vt)}
    if hot:
        for j in compress(range(len(e_vt)), map(hot.__contains__, e_vt)):
            p = e_parent[j]
            combo = combos[p]
            if combo[0] is None and "build" in e_dt[j]:
                c = e_child[j]
                combo = (names[c], versions[c], *combo[2:])
                combos[p] = combos_seen.setdefault(combo, combo)
    cols = _Cols()
    cols.keys = keys
    cols.names = names
    cols.versions = versions
    cols.hash_cols = (c_hash, c_full, c_build, c_dag, c_pkg)  # HASH_KEYS order
    cols.combos = combos
    cols.params = params_col
    cols.external = externals
    cols.external_path = ext_paths
    cols.patches = patches_col
    cols.index = index
    cols.parent = e_parent
    cols.child = e_child
    cols.deptypes = e_dt
    cols.virtuals = e_vt
    return cols


def _fast_acyclic(n: int, parent: list[int], child: list[int]) -> None:
    """Bail unless the edges (node indices) form a DAG without self-loops."""
    if not parent:
        return
    import numpy as np

    p = np.array(parent, dtype=np.int64)
    c = np.array(child, dtype=np.int64)
    if (p < c).all() or (p > c).all():  # document order is a topological order
        return
    if (p == c).any():
        raise _Bail
    # Kahn's algorithm on index arrays
    order = np.argsort(p, kind="stable")
    kids = c[order].tolist()
    starts = np.searchsorted(p[order], np.arange(n + 1)).tolist()
    indegree = np.bincount(c, minlength=n).tolist()
    ready = [k for k in range(n) if not indegree[k]]
    done = 0
    while ready:
        k = ready.pop()
        done += 1
        for j in range(starts[k], starts[k + 1]):
            x = kids[j]
            indegree[x] -= 1
            if not indegree[x]:
                ready.append(x)
    if done != n:
        raise _Bail


def _nodes_from_columns(cols: _Cols) -> dict[str, SpecNode]:
    nodes: dict[str, SpecNode] = {}
    hk = HASH_KEYS
    combos = cols.combos
    for i, (key, h, fh, bh, dh, ph) in enumerate(zip(cols.keys, *cols.hash_cols, strict=True)):
        hashes = {}
        for k, v in zip(hk, (h, fh, bh, dh, ph), strict=True):
            if v is not None:
                hashes[k] = v
        params = cols.params[i]
        nodes[key] = SpecNode(
            key,
            cols.names[i],
            cols.versions[i],
            hashes,
            *combos[i],
            {} if params is None else params,
            cols.external[i],
            cols.external_path[i],
            cols.patches[i],
        )
    return nodes


def _variants(params: list) -> list[dict]:
    """``SpecNode.variants`` of each parameters dict (``None``: no parameters).

    A copy without the flag keys (a C-level ``copy`` and six ``pop`` calls are about a third
    cheaper than a comprehension over every key).
    """
    out: list[dict] = []
    append = out.append
    for p in params:
        if p is None:
            append({})
            continue
        d = p.copy()
        pop = d.pop
        pop("cflags", None)
        pop("cppflags", None)
        pop("cxxflags", None)
        pop("fflags", None)
        pop("ldflags", None)
        pop("ldlibs", None)
        append(d)
    return out


_CATEGORY_COLUMNS = ("compiler_name", "compiler_version", "platform", "os", "target", "namespace")
_STR_COLUMNS = ("key", "name", "version", *HASH_KEYS, "external_path")


_ARROW_STR: list[bool] = []  # whether pandas' "str" dtype is Arrow-backed (checked once)


def _str_array(values: list) -> Any:
    """``pd.array(values, dtype="str")``, built through Arrow when that dtype is Arrow-backed
    (half the time, and an all-missing column in a fraction of it)."""
    import pandas as pd

    if not _ARROW_STR:
        _ARROW_STR.append(getattr(pd.api.types.pandas_dtype("str"), "storage", None) == "pyarrow")
    if _ARROW_STR[0]:
        try:
            import pyarrow as pa

            return pd.array(pa.array(values, type=pa.large_string()), dtype="str")
        except Exception:  # noqa: BLE001 - anything unusual: the plain conversion decides
            pass
    return pd.array(values, dtype="str")


def _codes(values: list) -> tuple[dict, Any]:
    """``({distinct value: code}, codes)`` of hashable ``values``, codes in order of appearance."""
    import numpy as np

    distinct = {t: j for j, t in enumerate(dict.fromkeys(values))}
    return distinct, np.fromiter(
        map(distinct.__getitem__, values), dtype=np.intp, count=len(values)
    )


def _object_array(values: list) -> Any:
    import numpy as np

    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _nodes_frame(
    cols: dict, cat_rows: list[tuple], keys: list, roots: set, n_deps: Any, variants: list
) -> pandas.DataFrame:
    """``SpecGraph.nodes_frame`` from column lists (either source: columns or nodes);
    ``cat_rows``: one (compiler_name, compiler_version, platform, os, target, namespace)
    tuple per node."""
    import numpy as np
    import pandas as pd

    n = len(keys)
    out: dict[str, Any] = {}
    for c in ("key", "name", "version", *HASH_KEYS):
        out[c] = cols[c]
    cats = _categoricals(cat_rows, len(_CATEGORY_COLUMNS))
    for c, cat in zip(_CATEGORY_COLUMNS, cats, strict=True):
        out[c] = cat
    out["external"] = np.array(cols["external"], dtype=bool)
    out["external_path"] = cols["external_path"]
    out["is_root"] = np.fromiter((k in roots for k in keys), dtype=bool, count=n)
    out["n_dependencies"] = n_deps
    out["variants"] = _object_array(variants)
    for c in _STR_COLUMNS:
        # one string dtype, also for columns no node fills (e.g. dag_hash)
        out[c] = _str_array(out[c])
    return pd.DataFrame(out)


def _edges_frame(
    parent: list, child: list, parent_name: list, child_name: list, deptypes: list, virtuals: list
) -> pandas.DataFrame:
    """``SpecGraph.edges_frame`` from column lists."""
    import numpy as np
    import pandas as pd

    cols: dict[str, Any] = {
        "parent": parent,
        "child": child,
        "parent_name": parent_name,
        "child_name": child_name,
    }
    # tuple columns: an object array per distinct value, taken by code (assigning a list of
    # tuples into an object array makes NumPy inspect each tuple as a sequence: 5x slower)
    distinct, codes = _codes(deptypes)
    cols["deptypes"] = _object_array(list(distinct))[codes]
    vdistinct, vcodes = _codes(virtuals)
    cols["virtuals"] = _object_array(list(vdistinct))[vcodes]
    # the bool columns per distinct deptypes tuple, then by code
    for t in ("build", "link", "run", "test"):
        table = np.array([t in d for d in distinct], dtype=bool)
        cols[t] = table[codes] if len(codes) else np.zeros(0, dtype=bool)
    return pd.DataFrame(cols)


# ---------------------------------------------------------------------------------------------
# the graph


class SpecGraph:
    """A concrete spec DAG: nodes keyed by hash, parent -> child edges.

    Build one with :func:`load_spec`. ``roots`` lists root keys in document order and
    ``root`` is the first root's node; ``format`` is ``"list"`` or ``"v2"`` ... ``"v6"``
    (``"lock"``/``"database"`` for a ``spack.lock``/install database); ``spack_version`` comes
    from an upload body; ``source`` names the file (or ``<string>``/``<object>``).
    """

    def __init__(
        self,
        nodes: dict[str, SpecNode],
        edges: list[SpecEdge],
        roots: list[str],
        *,
        format: str,
        source: str,
        spack_version: str | None = None,
        index: dict[str, str] | None = None,
    ):
        self._nodes: dict[str, SpecNode] | None = nodes
        self._edges: list[SpecEdge] | None = edges
        self._cols: _Cols | None = None
        self.roots = roots
        self.format = format
        self.source = source
        self.spack_version = spack_version
        if index is None:
            index = {}
            for k, n in nodes.items():
                for v in n.hashes.values():
                    index.setdefault(v, k)
        self._index_map: dict[str, str] | None = index
        self._children: dict[str, list[SpecEdge]] | None = None
        self._parents: dict[str, list[SpecEdge]] | None = None

    @classmethod
    def _from_columns(
        cls, cols: _Cols, *, format: str, source: str, spack_version: str | None
    ) -> SpecGraph:
        """A graph whose ``SpecNode``/``SpecEdge`` objects are built on first access."""
        g = cls.__new__(cls)
        g._nodes = None
        g._edges = None
        g._cols = cols
        keys = cols.keys
        children = set(cols.child)
        g.roots = list(map(keys.__getitem__, filterfalse(children.__contains__, range(len(keys)))))
        g.format = format
        g.source = source
        g.spack_version = spack_version
        g._index_map = None
        g._children = None
        g._parents = None
        return g

    @property
    def nodes(self) -> dict[str, SpecNode]:
        """``{key: SpecNode}`` in document order."""
        nodes = self._nodes
        if nodes is None:
            with _no_gc():
                nodes = self._nodes = _nodes_from_columns(self._cols)
        return nodes

    @nodes.setter
    def nodes(self, value: dict[str, SpecNode]) -> None:
        self._nodes = value

    @property
    def edges(self) -> list[SpecEdge]:
        """Every dependency edge, in document order."""
        edges = self._edges
        if edges is None:
            cols = self._cols
            keys = cols.keys
            with _no_gc():
                edges = self._edges = [
                    SpecEdge(keys[p], keys[c], dt, vt)
                    for p, c, dt, vt in zip(
                        cols.parent, cols.child, cols.deptypes, cols.virtuals, strict=True
                    )
                ]
        return edges

    @edges.setter
    def edges(self, value: list[SpecEdge]) -> None:
        self._edges = value

    @property
    def _index(self) -> dict[str, str]:
        index = self._index_map
        if index is None:
            keys = self._cols.keys
            index = self._index_map = {h: keys[i] for h, i in self._cols.index.items()}
        return index

    def _columns(self) -> _Cols | None:
        """The columns, while they are the whole truth (no object handed out yet)."""
        if self._nodes is None and self._edges is None:
            return self._cols
        return None

    # -- basics -------------------------------------------------------------------------------

    @property
    def root(self) -> SpecNode:
        """The first root's node."""
        return self.nodes[self.roots[0]]

    def __len__(self) -> int:
        if self._nodes is None:
            return len(self._cols.keys)
        return len(self.nodes)

    def __iter__(self) -> Iterator[SpecNode]:
        return iter(self.nodes.values())

    def __contains__(self, item: object) -> bool:
        if isinstance(item, SpecNode):
            return self.nodes.get(item.key) is item or item.key in self._index
        return isinstance(item, str) and item in self._index

    def find(self, any_hash: str) -> SpecNode | None:
        """The node carrying ``any_hash`` under any hash key (or as its key), else ``None``."""
        key = self._index.get(any_hash) if isinstance(any_hash, str) else None
        if key is None:
            return self.nodes.get(any_hash) if isinstance(any_hash, str) else None
        return self.nodes[key]

    def find_name(self, name: str) -> list[SpecNode]:
        """Every node named ``name`` (usually zero or one)."""
        return [n for n in self.nodes.values() if n.name == name]

    def _key(self, key: str | SpecNode | None) -> str:
        if key is None:
            return self.roots[0]
        if isinstance(key, SpecNode):
            key = key.key
        node = self.find(key)
        if node is None:
            raise KeyError(f"no node with hash {key!r} in {self.source}")
        return node.key

    def _adjacency(self) -> tuple[dict[str, list[SpecEdge]], dict[str, list[SpecEdge]]]:
        if self._children is None or self._parents is None:
            children: dict[str, list[SpecEdge]] = {k: [] for k in self.nodes}
            parents: dict[str, list[SpecEdge]] = {k: [] for k in self.nodes}
            for e in self.edges:
                children[e.parent].append(e)
                parents[e.child].append(e)
            self._children, self._parents = children, parents
        return self._children, self._parents

    def _walk(
        self, key: str, adj: dict[str, list[SpecEdge]], attr: str, transitive: bool
    ) -> list[SpecNode]:
        start = self._key(key)
        seen: dict[str, None] = {}
        stack = [start]
        while stack:
            cur = stack.pop(0)
            for e in adj[cur]:
                nxt = getattr(e, attr)
                if nxt not in seen and nxt != start:
                    seen[nxt] = None
                    if transitive:
                        stack.append(nxt)
        return [self.nodes[k] for k in seen]

    def dependencies(
        self, key: str | SpecNode | None = None, transitive: bool = False
    ) -> list[SpecNode]:
        """Direct (or all transitive) dependencies of ``key`` (any hash; default: the root)."""
        return self._walk(key, self._adjacency()[0], "child", transitive)  # type: ignore[arg-type]

    def dependents(self, key: str | SpecNode, transitive: bool = False) -> list[SpecNode]:
        """Direct (or all transitive) dependents of ``key`` (any hash)."""
        return self._walk(key, self._adjacency()[1], "parent", transitive)  # type: ignore[arg-type]

    def direct_dependency_hashes(self, key: str | SpecNode | None = None) -> dict[str, str]:
        """``{dependency name: its full_hash}`` for the direct dependencies of ``key``.

        This is the ``specs`` mapping a monitor server answers for an uploaded spec
        (default ``key``: the root). A node without ``full_hash`` contributes its key.
        """
        return {n.name: n.full_hash for n in self.dependencies(key)}

    # -- views --------------------------------------------------------------------------------

    def to_networkx(self) -> networkx.DiGraph:
        """A ``networkx.DiGraph`` keyed by node key, edges parent -> child.

        Node attributes: name, version, every hash key, compiler, compiler_name,
        compiler_version, platform, os, target, namespace, external, variants.
        Edge attributes: deptypes, virtuals.
        """
        import networkx as nx

        g = nx.DiGraph(source=self.source, format=self.format, roots=list(self.roots))
        for k, n in self.nodes.items():
            g.add_node(
                k,
                name=n.name,
                version=n.version,
                **n.hashes,
                compiler=n.compiler,
                compiler_name=n.compiler_name,
                compiler_version=n.compiler_version,
                platform=n.platform,
                os=n.os,
                target=n.target,
                namespace=n.namespace,
                external=n.external,
                variants=n.variants,
                is_root=k in self.roots,
            )
        for e in self.edges:
            g.add_edge(e.parent, e.child, deptypes=e.deptypes, virtuals=e.virtuals)
        return g

    def nodes_frame(self) -> pandas.DataFrame:
        """One row per node (document order).

        Columns: key, name, version, hash, full_hash, build_hash, dag_hash, package_hash,
        compiler_name, compiler_version, platform, os, target, namespace (categoricals for the
        low-cardinality ones), external (bool), external_path, is_root (bool),
        n_dependencies (int), variants (dict).
        """
        import numpy as np

        with _no_gc():
            roots = set(self.roots)
            src = self._columns()
            if src is not None:
                keys = src.keys
                n = len(keys)
                cols: dict[str, Any] = {"key": keys, "name": src.names, "version": src.versions}
                for h, col in zip(HASH_KEYS, src.hash_cols, strict=True):
                    cols[h] = col
                cat_rows = src.combos
                cols["external"] = src.external
                cols["external_path"] = src.external_path
                parents = np.array(src.parent, dtype=np.int64)
                n_deps = np.bincount(parents, minlength=n).astype(np.int64, copy=False)
                variants = _variants(src.params)
            else:
                nodes = list(self.nodes.values())
                keys = [nd.key for nd in nodes]
                n = len(nodes)
                children, _ = self._adjacency()
                cols = {
                    "key": keys,
                    "name": [nd.name for nd in nodes],
                    "version": [nd.version for nd in nodes],
                }
                for h in HASH_KEYS:
                    cols[h] = [nd.hashes.get(h) for nd in nodes]
                cat_rows = [
                    (
                        nd.compiler_name,
                        nd.compiler_version,
                        nd.platform,
                        nd.os,
                        nd.target,
                        nd.namespace,
                    )
                    for nd in nodes
                ]
                cols["external"] = [nd.external for nd in nodes]
                cols["external_path"] = [nd.external_path for nd in nodes]
                n_deps = np.fromiter((len(children[k]) for k in keys), dtype=np.int64, count=n)
                variants = [nd.variants for nd in nodes]
            return _nodes_frame(cols, cat_rows, keys, roots, n_deps, variants)

    def edges_frame(self) -> pandas.DataFrame:
        """One row per edge: parent, child, parent_name, child_name, deptypes (tuple),
        virtuals (tuple) and bool columns build, link, run, test."""
        with _no_gc():
            src = self._columns()
            if src is not None:
                import numpy as np

                # every edge's key and name taken from the node columns (string arrays)
                keys = _str_array(src.keys)
                names = _str_array(src.names)
                pi = np.array(src.parent, dtype=np.intp)
                ci = np.array(src.child, dtype=np.intp)
                parent, child = keys.take(pi), keys.take(ci)
                parent_name, child_name = names.take(pi), names.take(ci)
                if not len(pi):  # no edges: the dtypes pandas gives empty lists
                    parent, child, parent_name, child_name = [], [], [], []
                deptypes, virtuals = src.deptypes, src.virtuals
            else:
                edges = self.edges
                nodes = self.nodes
                parent = [e.parent for e in edges]
                child = [e.child for e in edges]
                parent_name = [nodes[e.parent].name for e in edges]
                child_name = [nodes[e.child].name for e in edges]
                deptypes = [e.deptypes for e in edges]
                virtuals = [e.virtuals for e in edges]
            return _edges_frame(parent, child, parent_name, child_name, deptypes, virtuals)

    def diff(self, other: SpecGraph) -> SpecDiff:
        """What changed from this DAG (old) to ``other`` (new), compared by package name."""
        return SpecDiff.between(self, other)

    def __repr__(self) -> str:
        if not self.roots:
            return f"<SpecGraph empty format={self.format}>"
        r = self.root
        ver = f"@{r.version}" if r.version is not None else ""
        more = f" (+{len(self.roots) - 1} roots)" if len(self.roots) > 1 else ""
        return (
            f"<SpecGraph {r.name}{ver} /{r.short_hash}{more} {len(self.nodes)} nodes, "
            f"{len(self.edges)} edges, format={self.format}>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        children, _ = self._adjacency()
        rows = []
        roots = set(self.roots)
        limit = 60
        for i, n in enumerate(self.nodes.values()):
            if i >= limit:
                rows.append(
                    f"<tr><td colspan='6'>... {len(self.nodes) - limit} more nodes</td></tr>"
                )
                break
            name = f"<b>{escape(n.name)}</b>" if n.key in roots else escape(n.name)
            rows.append(
                "<tr>"
                f"<td>{name}</td><td>{escape(str(n.version))}</td>"
                f"<td><code>{escape(n.key[:7])}</code></td>"
                f"<td>{escape(n.compiler or '')}</td>"
                f"<td>{escape(n.target or '')}</td>"
                f"<td>{len(children[n.key])}{' (external)' if n.external else ''}</td>"
                "</tr>"
            )
        head = escape(repr(self))
        return (
            f"<div><p><code>{head}</code></p><table>"
            "<thead><tr><th>package</th><th>version</th><th>hash</th><th>compiler</th>"
            "<th>target</th><th>deps</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table></div>"
        )


# ---------------------------------------------------------------------------------------------
# diff


@dataclass
class SpecDiff:
    """Differences between two spec DAGs (``old`` -> ``new``), by package.

    Nodes are matched by name; where a name has several nodes on either side (compilers as
    nodes in v5+, build-only duplicates), by a hash they share, then by version, then the
    last one left on each side; such packages are labelled ``name@version/hash7`` (the old
    node's for a matched pair) so duplicates stay apart. Nodes left unmatched are in
    ``added``/``removed``.

    ``added``/``removed``: package labels; ``version_changes``: label -> (old, new);
    ``variant_changes``: label -> {variant: (old, new)} (``None`` where a side lacks it);
    ``compiler_changes``: label -> (old, new) as ``name@version``; ``patch_changes``:
    label -> (old patches, new patches); ``edges_added`` / ``edges_removed``: (parent,
    child) label pairs; ``deptype_changes``: (parent, child) -> (old deptypes, new
    deptypes).

    Hashes are compared kind for kind: the ``full_hash`` when both nodes carry one, else
    the DAG ``hash`` when both carry one of the same meaning (Spack 0.18 changed it: before,
    list format and ``_meta`` v1/v2, it left out build dependencies and the recipe), else
    the ``build_hash``. ``hash_changes``: labels whose compared hash changed;
    ``hash_values``: label -> (old, new); ``hash_kinds``: label -> the kind compared
    (``"full_hash"``, ``"DAG hash"``, ``"DAG hash (Spack < 0.18)"``, ``"build_hash"``);
    ``hash_reasons``: label -> why it changed, from what the documents show: ``package_hash
    changed (the recipe)``, the node's own version/compiler/variants/patches/
    architecture/external changes, ``dependency changed: a, b`` (a dependency's hash
    changed), dependencies added/removed, deptypes changed; ``unexplained`` when none of
    those differ. ``hash_kind_mismatches``: label -> ((old kind, old value), (new kind, new
    value)) for a pair with no hash kind in common (a Spack 0.17 ``full_hash`` against a
    0.18+ DAG hash): those are labelled as different kinds, not reported as a change.
    Patches are compared once (``patch_changes``), not also as a ``patches`` variant.
    """

    old_label: str
    new_label: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    version_changes: dict[str, tuple] = field(default_factory=dict)
    variant_changes: dict[str, dict] = field(default_factory=dict)
    compiler_changes: dict[str, tuple] = field(default_factory=dict)
    edges_added: list[tuple[str, str]] = field(default_factory=list)
    edges_removed: list[tuple[str, str]] = field(default_factory=list)
    deptype_changes: dict[tuple[str, str], tuple] = field(default_factory=dict)
    hash_changes: list[str] = field(default_factory=list)
    patch_changes: dict[str, tuple] = field(default_factory=dict)
    hash_values: dict[str, tuple] = field(default_factory=dict)
    hash_kinds: dict[str, str] = field(default_factory=dict)
    hash_reasons: dict[str, list[str]] = field(default_factory=dict)
    hash_kind_mismatches: dict[str, tuple] = field(default_factory=dict)

    @classmethod
    def between(cls, old: SpecGraph, new: SpecGraph) -> SpecDiff:
        """Compare two graphs node by node (see the class docstring for the matching)."""
        pairs, removed, added, label_a, label_b = _match_nodes(old, new)
        d = cls(old_label=_label(old), new_label=_label(new))
        d.added = [label_b[n.key] for n in added]
        d.removed = [label_a[n.key] for n in removed]
        own: dict[str, list[str]] = {}
        for na, nb in pairs:
            name = label_a[na.key]
            mine = own.setdefault(name, [])
            if na.version != nb.version:
                d.version_changes[name] = (na.version, nb.version)
                mine.append("version")
            if na.compiler != nb.compiler:
                d.compiler_changes[name] = (na.compiler, nb.compiler)
                mine.append("compiler")
            va_all = {k: v for k, v in na.variants.items() if k != "patches"}
            vb_all = {k: v for k, v in nb.variants.items() if k != "patches"}
            if va_all != vb_all:
                changes = {}
                for v in list(va_all) + [v for v in vb_all if v not in va_all]:
                    va, vb = va_all.get(v), vb_all.get(v)
                    if va != vb:
                        changes[v] = (va, vb)
                if changes:
                    d.variant_changes[name] = changes
                    mine.append("variants " + ", ".join(changes))
            if tuple(na.patches) != tuple(nb.patches):
                d.patch_changes[name] = (tuple(na.patches), tuple(nb.patches))
                mine.append("patches")
            if (na.platform, na.os, na.target) != (nb.platform, nb.os, nb.target):
                mine.append("architecture")
            if (na.external, na.external_path) != (nb.external, nb.external_path):
                mine.append("external")
            compared = _comparable_hash(na, old, nb, new)
            if compared is None:
                d.hash_kind_mismatches[name] = (_hash_kind(na, old), _hash_kind(nb, new))
            elif compared[1] != compared[2]:
                d.hash_changes.append(name)
                d.hash_values[name] = (compared[1], compared[2])
                d.hash_kinds[name] = compared[0]
        ea = _edge_map(old, label_a)
        eb = _edge_map(new, label_b)
        d.edges_added = [e for e in eb if e not in ea]
        d.edges_removed = [e for e in ea if e not in eb]
        for e, ta in ea.items():
            tb = eb.get(e)
            if tb is not None and tuple(sorted(ta)) != tuple(sorted(tb)):
                d.deptype_changes[e] = (ta, tb)
        changed = set(d.hash_changes) | set(d.hash_kind_mismatches)
        for na, nb in pairs:
            name = label_a[na.key]
            if name in d.hash_changes:
                d.hash_reasons[name] = _hash_reasons(name, na, nb, own[name], d, ea, eb, changed)
        return d

    def __bool__(self) -> bool:
        return bool(
            self.added
            or self.removed
            or self.version_changes
            or self.variant_changes
            or self.compiler_changes
            or self.edges_added
            or self.edges_removed
            or self.deptype_changes
            or self.hash_changes
            or self.patch_changes
            or self.hash_kind_mismatches
        )

    def to_frame(self) -> pandas.DataFrame:
        """One row per change: columns change, package, attribute, old, new, why.

        ``hash`` rows name the kind of hash compared in ``attribute`` (``full_hash``,
        ``DAG hash``, ...) and why it changed in ``why``; ``hash kind`` rows are nodes whose
        documents carry different kinds of hash (``old``/``new``: ``kind value``)."""
        import pandas as pd

        columns = ["change", "package", "attribute", "old", "new", "why"]
        return pd.DataFrame(self._rows(), columns=columns)

    def _rows(self) -> list[tuple]:
        """``(change, package, attribute, old, new, why)`` per change (``why``: hash rows)."""
        rows: list[tuple] = []
        rows += [("added", n, None, None, None) for n in self.added]
        rows += [("removed", n, None, None, None) for n in self.removed]
        rows += [("version", n, "version", o, w) for n, (o, w) in self.version_changes.items()]
        rows += [("compiler", n, "compiler", o, w) for n, (o, w) in self.compiler_changes.items()]
        for n, ch in self.variant_changes.items():
            rows += [("variant", n, v, _fmt(o), _fmt(w)) for v, (o, w) in ch.items()]
        rows += [("edge added", p, c, None, None) for p, c in self.edges_added]
        rows += [("edge removed", p, c, None, None) for p, c in self.edges_removed]
        for (p, c), (o, w) in self.deptype_changes.items():
            rows += [("deptypes", p, c, ",".join(o), ",".join(w))]
        for n, (o, w) in self.patch_changes.items():
            rows += [("patches", n, "patches", ",".join(o), ",".join(w))]
        for n in self.hash_changes:
            o, w = self.hash_values.get(n, (None, None))
            why = "; ".join(self.hash_reasons.get(n, [])) or None
            rows += [("hash", n, self.hash_kinds.get(n, "hash"), o, w, why)]
        for n, ((ko, o), (kw, w)) in self.hash_kind_mismatches.items():
            rows += [("hash kind", n, "hash", f"{ko} {o}", f"{kw} {w}", _KIND_MISMATCH)]
        return [(*r, None)[:6] for r in rows]

    def __repr__(self) -> str:
        lines = [f"SpecDiff {self.old_label} -> {self.new_label}"]
        if not self:
            lines.append("  no differences")
        for change, pkg, attr, old, new, why in self._rows():
            if change == "hash":
                lines.append(f"  ~ {pkg} {attr}: {old} -> {new} ({why or 'unexplained'})")
            elif change == "hash kind":
                lines.append(f"  ~ {pkg} hash: {old} -> {new}: {_KIND_MISMATCH}")
            elif change in ("added", "removed"):
                lines.append(f"  {'+' if change == 'added' else '-'} {pkg}")
            elif change == "edge added":
                lines.append(f"  + edge {pkg} -> {attr}")
            elif change == "edge removed":
                lines.append(f"  - edge {pkg} -> {attr}")
            elif change == "deptypes":
                lines.append(f"  ~ edge {pkg} -> {attr}: deptypes {old} -> {new}")
            else:
                label = attr if change == "variant" else change
                lines.append(f"  ~ {pkg} {label}: {old} -> {new}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            "<tr>"
            + "".join(f"<td>{escape('' if c is None else str(c))}</td>" for c in row)
            + "</tr>"
            for row in self._rows()
        )
        head = escape(f"{self.old_label} -> {self.new_label}")
        if not rows:
            return f"<div><p>SpecDiff {head}: no differences</p></div>"
        return (
            f"<div><p>SpecDiff {head}</p><table><thead><tr><th>change</th><th>package</th>"
            f"<th>attribute</th><th>old</th><th>new</th><th>why</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )


_KIND_MISMATCH = "different kinds of hash, not comparable"

#: Spec formats written before Spack 0.18, whose DAG ``hash`` left out build dependencies.
_OLD_DAG_HASH_FORMATS = frozenset({"list", "v1", "v2"})


def _hash_kind(node: SpecNode, graph: SpecGraph) -> tuple[str, str]:
    """``(kind, value)`` of the hash a node is keyed by: what a reader sees for it."""
    if "full_hash" in node.hashes:
        return "full_hash", node.hashes["full_hash"]
    if "hash" in node.hashes:
        return _dag_kind(graph), node.hashes["hash"]
    for key in ("build_hash", "dag_hash"):
        if key in node.hashes:
            return key, node.hashes[key]
    return "hash", node.key


def _dag_kind(graph: SpecGraph) -> str:
    return "DAG hash (Spack < 0.18)" if graph.format in _OLD_DAG_HASH_FORMATS else "DAG hash"


def _comparable_hash(
    na: SpecNode, ga: SpecGraph, nb: SpecNode, gb: SpecGraph
) -> tuple[str, str, str] | None:
    """``(kind, old, new)`` of the first hash kind both nodes carry with the same meaning,
    else None."""
    ha, hb = na.hashes, nb.hashes
    if "full_hash" in ha and "full_hash" in hb:
        return "full_hash", ha["full_hash"], hb["full_hash"]
    if "hash" in ha and "hash" in hb and _dag_kind(ga) == _dag_kind(gb):
        return _dag_kind(ga), ha["hash"], hb["hash"]
    for key in ("build_hash", "dag_hash"):
        if key in ha and key in hb:
            return key, ha[key], hb[key]
    if not ha and not hb:  # documents without any hash key: the graph keys
        return "hash", na.key, nb.key
    return None


def _hash_reasons(
    name: str,
    na: SpecNode,
    nb: SpecNode,
    own: list[str],
    d: SpecDiff,
    ea: dict,
    eb: dict,
    changed: set[str],
) -> list[str]:
    """Why a node's hash changed, as far as the two documents show."""
    reasons: list[str] = []
    pa, pb = na.hashes.get("package_hash"), nb.hashes.get("package_hash")
    if pa is not None and pb is not None and pa != pb:
        reasons.append("package_hash changed (the recipe)")
    reasons += [f"{what} changed" for what in own]
    deps_a = {c for (p, c) in ea if p == name}
    deps_b = {c for (p, c) in eb if p == name}
    moved = sorted(c for c in deps_a & deps_b if c in changed)
    if moved:
        reasons.append("dependency changed: " + ", ".join(moved))
    if deps_b - deps_a:
        reasons.append("dependencies added: " + ", ".join(sorted(deps_b - deps_a)))
    if deps_a - deps_b:
        reasons.append("dependencies removed: " + ", ".join(sorted(deps_a - deps_b)))
    retyped = sorted(c for (p, c) in d.deptype_changes if p == name)
    if retyped:
        reasons.append("deptypes changed: " + ", ".join(retyped))
    if not reasons:
        if pa is None or pb is None:
            reasons.append(
                "unexplained: no field of the documents differs and they carry no "
                "package_hash to compare (the recipe or the Spack release may differ)"
            )
        else:
            reasons.append("unexplained: no field of the documents differs")
    return reasons


def _fmt(value: Any) -> Any:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


def _label(g: SpecGraph) -> str:
    r = g.root
    return f"{r.name}@{r.version}" if r.version is not None else r.name


def _match_nodes(
    old: SpecGraph, new: SpecGraph
) -> tuple[list[tuple[SpecNode, SpecNode]], list[SpecNode], list[SpecNode], dict, dict]:
    """Pair the nodes of two graphs: ``(pairs, removed, added, old labels, new labels)``.

    Per name: a single node on each side is a pair; otherwise nodes sharing a hash pair
    first, then nodes of the same version (document order), then the last node left on
    each side. Labels: the name, or ``name@version/hash7`` where the name has several
    nodes on either side (a pair gets the old node's label on both sides).
    """
    by_a: dict[str, list[SpecNode]] = {}
    by_b: dict[str, list[SpecNode]] = {}
    for n in old.nodes.values():
        by_a.setdefault(n.name, []).append(n)
    for n in new.nodes.values():
        by_b.setdefault(n.name, []).append(n)
    pairs: list[tuple[SpecNode, SpecNode]] = []
    removed: list[SpecNode] = []
    added: list[SpecNode] = []
    label_a: dict[str, str] = {}
    label_b: dict[str, str] = {}

    def long_label(n: SpecNode) -> str:
        ver = f"@{n.version}" if n.version is not None else ""
        return f"{n.name}{ver}/{n.key[:7]}"

    for name, nodes_a in by_a.items():
        nodes_b = by_b.get(name, [])
        if len(nodes_a) == 1 and len(nodes_b) <= 1:
            label_a[nodes_a[0].key] = name
            if nodes_b:
                label_b[nodes_b[0].key] = name
                pairs.append((nodes_a[0], nodes_b[0]))
            else:
                removed.append(nodes_a[0])
            continue
        left_a, left_b = list(nodes_a), list(nodes_b)
        matched: list[tuple[SpecNode, SpecNode]] = []
        for same in (
            lambda x, y: bool(set(x.hashes.values()) & set(y.hashes.values())),
            lambda x, y: x.version == y.version,
        ):
            for na in list(left_a):
                for nb in left_b:
                    if same(na, nb):
                        matched.append((na, nb))
                        left_a.remove(na)
                        left_b.remove(nb)
                        break
        if len(left_a) == 1 and len(left_b) == 1:
            matched.append((left_a.pop(), left_b.pop()))
        for na, nb in matched:
            label_a[na.key] = label_b[nb.key] = long_label(na)
        for na in left_a:
            label_a[na.key] = long_label(na)
        for nb in left_b:
            label_b[nb.key] = long_label(nb)
        pairs += matched
        removed += left_a
        added += left_b
    for name, nodes_b in by_b.items():
        if name in by_a:
            continue
        for nb in nodes_b:
            label_b[nb.key] = name if len(nodes_b) == 1 else long_label(nb)
            added.append(nb)
    # keep document order for the reports
    order_a = {k: i for i, k in enumerate(old.nodes)}
    order_b = {k: i for i, k in enumerate(new.nodes)}
    pairs.sort(key=lambda p: order_a[p[0].key])
    removed.sort(key=lambda n: order_a[n.key])
    added.sort(key=lambda n: order_b[n.key])
    return pairs, removed, added, label_a, label_b


def _edge_map(g: SpecGraph, labels: dict[str, str]) -> dict[tuple[str, str], tuple]:
    out: dict[tuple[str, str], tuple] = {}
    for e in g.edges:
        out.setdefault((labels[e.parent], labels[e.child]), e.deptypes)
    return out


# ---------------------------------------------------------------------------------------------
# entry point


def load_spec(source: Any, *, name: str | None = None) -> SpecGraph:
    """Read any Spack spec document into a :class:`SpecGraph`.

    ``source`` is a path (``str``/``Path``: ``.json``, ``.yaml``/``.yml``, clearsigned
    ``.json.sig``, optionally gzip-compressed), JSON/YAML text, ``bytes``, or an
    already-parsed ``dict``/``list``. ``name`` overrides the label used in error messages
    and ``SpecGraph.source``.

    Raises :class:`~spackmon_analysis.errors.SpecFormatError` (and nothing else) when the
    document is malformed; the error names the source and the path of the bad element.
    """
    # Parsing allocates many small containers and no cycles: the cyclic garbage collector
    # would repeatedly walk the whole document while it grows (more than doubling load time).
    # The document is dropped inside _load, before the collector runs again, so its first
    # pass only sees what the graph keeps.
    with _no_gc():
        return _load(source, name)


def _load(source: Any, name: str | None) -> SpecGraph:
    if isinstance(source, Path):
        label = name or str(source)
        doc = _read_path(source, label)
    elif isinstance(source, str):
        if _looks_like_path(source):
            label = name or source
            doc = _read_path(Path(source), label)
        else:
            label = name or "<string>"
            doc = _parse_text(source, label)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<string>"
        doc = _parse_bytes(bytes(source), label)
    elif isinstance(source, (dict, list)):
        label = name or "<object>"
        doc = source
    else:
        raise SpecFormatError(
            f"cannot read a spec from a {type(source).__name__} (expected a path, text, bytes, "
            "dict or list)",
            source=name or "<object>",
        )
    parser = _Parser(label)
    try:
        result = parser.parse(doc)
    except SpecFormatError:
        raise
    except RecursionError:
        raise parser.fail("document nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - the contract: nothing but SpecFormatError escapes
        raise parser.fail(f"malformed document ({type(exc).__name__}: {exc})") from None
    del doc
    if isinstance(result, _Cols):
        return SpecGraph._from_columns(
            result, format=parser.format, source=label, spack_version=parser.spack_version
        )
    roots, edges = result
    return SpecGraph(
        parser.nodes,
        edges,
        roots,
        format=parser.format,
        source=label,
        spack_version=parser.spack_version,
        index=parser.index,
    )
