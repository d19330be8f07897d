"""The graph of a concrete spec: :class:`SpecNode`, :class:`SpecEdge`, :class:`SpecGraph`.

A graph read by the fast reader keeps its nodes as columns (``_Cols``) and builds the
``SpecNode``/``SpecEdge`` objects on first access; the frames are built from the columns.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import filterfalse
from typing import TYPE_CHECKING, Any

from .diff import SpecDiff

if TYPE_CHECKING:  # pragma: no cover
    import networkx
    import pandas

#: Every key under which a node may carry a hash (``package_hash`` is not a node identity).
HASH_KEYS = ("hash", "full_hash", "build_hash", "dag_hash", "package_hash")
_FLAG_KEYS = frozenset(("cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs"))

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
