"""Spec documents (already decoded) -> nodes and edges, for every format Spack has written.

Two readers with one result, the columns (``graph._Cols``) that back every ``SpecGraph``:
``_fast_columns`` reads well-formed node lists straight into them; ``_Parser`` reads
everything else (lock files, databases, the by-name fallback, old shapes) into ``SpecNode`` /
``SpecEdge`` objects, which ``SpecGraph`` turns into the same columns, and reports what is
wrong with the path of the bad element. The fast reader bails out to the checked one on
anything unusual, so the checked reader is the definition and the fast one an optimisation
of it (``tests/spec/test_spec_fast_path.py`` compares them on every fixture and era).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import compress
from typing import Any, cast

from ..errors import SpecFormatError
from .decode import _fail
from .graph import HASH_KEYS, SpecEdge, SpecNode, _Cols

_REF_KEYS = ("hash", "full_hash", "build_hash", "dag_hash")
_COMPILER_VIRTUALS = frozenset(("c", "cxx", "fortran"))
_COMPILER_RE = re.compile(r"^\s*([A-Za-z0-9_.+-]+?)\s*@\s*=?\s*([^\s%^+~]+)")

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
        "build_refs",
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
        #: (spliced node key, ((hash key, value), ...), path) per ``build_spec`` read
        self.build_refs: list[tuple[str, tuple, str]] = []

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
        self._resolve_build_specs()
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
        build_spec = body.get("build_spec")
        if build_spec is not None:
            bpath = _join(path, "build_spec")
            if not isinstance(build_spec, dict):
                raise self.fail("build_spec must be an object (name and hash)", bpath)
            refs = self._refs(build_spec, bpath)
            if not refs:
                raise self.fail("build_spec has no hash key (hash, full_hash, ...)", bpath)
            self.build_refs.append((key, refs, bpath))
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

    def _resolve_build_specs(self) -> None:
        """Each spliced node's ``build_spec``: the DAG hash of the node of the document its
        ``build_spec`` names, else the hash as written (an install database names build specs
        it need not hold; Spack's own reader requires them only in spec files)."""
        nodes, index = self.nodes, self.index
        built_as: dict[str, str] = {}
        for key, refs, _path in self.build_refs:
            value = refs[0][1]
            for _k, v in refs:
                target = index.get(v)
                if target is not None:
                    value = nodes[target].dag_hash
                    built_as[key] = target
                    break
            # the reader's own node, not yet handed out: filled in place (frozen)
            object.__setattr__(nodes[key], "build_spec", value)
        cycles = _build_spec_cycles(built_as)
        for key, _refs, path in self.build_refs:
            if key in cycles:
                raise self.fail(
                    "a node cannot be built as itself (its build_spec leads back to it)", path
                )

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
                    # the reader's own node, not yet handed out: filled in place (frozen)
                    object.__setattr__(node, "compiler_name", comp.name)
                    object.__setattr__(node, "compiler_version", comp.version)

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
    if isinstance(path, str):
        return path
    base, i = path
    return f"{base}[{i}]" if isinstance(i, int) else _join(base, str(i))


def _build_spec_cycles(built_as: Mapping[Any, Any]) -> set[Any]:
    """The nodes that following ``build_spec`` links (``built_as``: a spliced node -> the node
    of the document it was built as) leads back to. Spack never writes that (a build spec is
    the spec that was really built); a node built as itself would make the whole DAG
    provenance. Linear in the links: each node has one link at most, so every walk stops at
    the first node an earlier walk (or itself) reached."""
    walk_of: dict[Any, int] = {}
    on_cycle: set[Any] = set()
    for walk, start in enumerate(built_as):
        node = start
        while node is not None and node not in walk_of:
            walk_of[node] = walk
            node = built_as.get(node)
        if node is not None and walk_of[node] == walk:  # this walk came back to its own path
            first = node
            while True:
                on_cycle.add(node)
                node = built_as[node]
                if node == first:
                    break
    return on_cycle


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
    brefs: list[str | None] | None = None  # build_spec references, once a node has one
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
        bs = get("build_spec")
        if bs is not None:
            if bs.__class__ is not dict_:
                raise _Bail
            bref = bs.get("hash")
            if bref.__class__ is not str_ or not bref:
                raise _Bail  # other hash keys, or a bad value: the checked reader
            if brefs is None:
                brefs = [None] * i
            brefs.append(bref)
        elif brefs is not None:
            brefs.append(None)
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
    resolved = list(map(index.get, e_ref))
    if None in resolved:
        raise _Bail
    e_child = cast("list[int]", resolved)  # no None: checked above
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
    if brefs is not None:
        targets = {i: index[r] for i, r in enumerate(brefs) if r is not None and r in index}
        if _build_spec_cycles(targets):
            raise _Bail  # the checked reader names the node
    cols.build_ref = brefs
    cols.index = index
    cols.parent = e_parent
    cols.child = e_child
    cols.deptypes = e_dt
    cols.virtuals = e_vt
    return cols


#: Up to this many edges the DAG check runs in plain Python (a spec upload's usual size):
#: numpy pays off only for large graphs, and importing it costs a server's first spec upload
#: about 0.1 s.
_SMALL_DAG = 5000


def _small_acyclic(n: int, parent: list[int], child: list[int]) -> None:
    """:func:`_fast_acyclic` for a small graph, without numpy (the same rule)."""
    pairs = list(zip(parent, child, strict=True))
    if all(p < c for p, c in pairs) or all(p > c for p, c in pairs):
        return  # document order is a topological order
    if any(p == c for p, c in pairs):
        raise _Bail
    kids: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for p, c in pairs:
        kids[p].append(c)
        indegree[c] += 1
    ready = [k for k in range(n) if not indegree[k]]
    done = 0
    while ready:
        k = ready.pop()
        done += 1
        for x in kids[k]:
            indegree[x] -= 1
            if not indegree[x]:
                ready.append(x)
    if done != n:
        raise _Bail


def _fast_acyclic(n: int, parent: list[int], child: list[int]) -> None:
    """Bail unless the edges (node indices) form a DAG without self-loops."""
    if not parent:
        return
    if len(parent) <= _SMALL_DAG:
        _small_acyclic(n, parent, child)
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
