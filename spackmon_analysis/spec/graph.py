"""The graph of a concrete spec: :class:`SpecNode`, :class:`SpecEdge`, :class:`SpecGraph`.

A graph has one backing: its nodes and edges as columns (``_Cols``), whichever reader read the
document. Every view reads them, each in one way: the frames, the networkx graph, the rows
``MonitorData`` takes (:meth:`SpecGraph.frame_rows`), the lookups; the ``SpecNode`` /
``SpecEdge`` objects are built from them on first access and cannot be changed (a graph is a
document as read, and a changed node would disagree with the frames).

A spec becomes a frame and a networkx graph in one way for the whole package: the columns of
``SPEC_COLUMNS`` / ``DEPENDENCY_COLUMNS`` mean the same in ``SpecGraph.nodes_frame()`` /
``edges_frame()``, in ``MonitorData.specs`` / ``dependencies`` (filled from
:meth:`SpecGraph.frame_rows`), and as node / edge attributes of ``SpecGraph.to_networkx()``
and ``MonitorData.graph()`` (both built by :func:`spec_digraph`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import filterfalse
from typing import TYPE_CHECKING, Any

from ..spackfacts import variants_text
from .diff import SpecDiff

if TYPE_CHECKING:  # pragma: no cover
    import networkx
    import pandas

#: Every key under which a node may carry a hash (``package_hash`` is not a node identity).
HASH_KEYS = ("hash", "full_hash", "build_hash", "dag_hash", "package_hash")
_FLAG_KEYS = frozenset(("cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs"))

#: The columns a spec gives ``MonitorData.specs`` (:meth:`SpecGraph.frame_rows`), in order;
#: ``SpecGraph.nodes_frame()`` and the node attributes of ``to_networkx()`` carry them with the
#: same meaning: ``full_hash`` is the graph key (the ``full_hash`` a node carries, else its
#: ``hash``), ``dag_hash`` the DAG hash written (``hash``, else ``dag_hash``; missing when the
#: document writes neither), ``compiler`` ``name@version``, ``build_spec`` the DAG hash of
#: the spec a spliced node was built as (Spack 0.23+ splicing; missing for every other node).
SPEC_COLUMNS = (
    "full_hash",
    "name",
    "version",
    "compiler",
    "compiler_name",
    "compiler_version",
    "platform",
    "os",
    "target",
    "namespace",
    "external",
    "dag_hash",
    "build_hash",
    "variants_text",
    "build_spec",
)
#: The columns a spec gives ``MonitorData.dependencies``, in order; ``SpecGraph.edges_frame()``
#: carries them with the same meaning (``deptypes``: the sorted, comma-joined dependency types).
DEPENDENCY_COLUMNS = ("parent_hash", "child_hash", "parent_name", "child_name", "deptypes")


def _compiler_text(name: str | None, version: str | None) -> str | None:
    """``name@version`` (``name`` alone without a version; ``None`` without a name)."""
    if name is None:
        return None
    if version is None:
        return name
    return f"{name}@{version}"


# ---------------------------------------------------------------------------------------------
# data classes


@dataclass(eq=False, slots=True, frozen=True)
class SpecNode:
    """One concrete package in a spec DAG (read-only, like the graph it belongs to).

    ``key`` is the node's graph key: its ``full_hash`` when it carries one, else its ``hash``.
    ``hashes`` holds every hash key the node carries, exactly as written. ``build_spec`` is
    the DAG hash of the spec a spliced node was built as (the ``build_spec`` Spack writes on
    a spliced node, new in 0.23), ``None`` for a node built as itself.
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
    build_spec: str | None = None

    @property
    def spliced(self) -> bool:
        """Whether the node is spliced: built as another spec (``build_spec``, its DAG hash)."""
        return self.build_spec is not None

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
        return _compiler_text(self.compiler_name, self.compiler_version)

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
            out.append(pd.Categorical.from_codes(codes, categories=pd.Index(uniques)))
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
        out.append(pd.Categorical.from_codes(codes, categories=pd.Index(list(cats))))
    return out


class _Cols:
    """A graph as columns, the one backing of :class:`SpecGraph`.

    Node ``i`` is row ``i`` of the node columns; edges are index lists (``parent[j]`` depends
    on ``child[j]``). ``combos`` holds one shared (compiler_name, compiler_version, platform,
    os, target, namespace) tuple per node; ``hash_cols`` one column per ``HASH_KEYS`` entry;
    ``params`` the ``parameters`` dicts as written (``None``: none); ``index`` maps every hash
    a node carries (and a lock file's or database's own keys) to its row.
    Built by ``parse._fast_columns`` or, from the checked reader's objects, by
    :func:`_cols_from_objects`.
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
        "build_ref",
        "index",
        "parent",
        "child",
        "deptypes",
        "virtuals",
    )
    keys: list[str]
    names: list[str]
    versions: list[str | None]
    hash_cols: tuple[list[str | None], ...]
    combos: list[tuple[Any, ...]]
    params: list[dict[str, Any] | None]
    external: list[bool]
    external_path: list[str | None]
    patches: list[Any]
    #: per node, the hash its ``build_spec`` names (``None``: not spliced); ``None`` as a
    #: whole when no node of the document is spliced (the usual case)
    build_ref: list[str | None] | None
    index: dict[str, int]
    parent: list[int]
    child: list[int]
    deptypes: list[tuple[str, ...]]
    virtuals: list[tuple[str, ...]]


def _cols_from_objects(
    nodes: dict[str, SpecNode], edges: list[SpecEdge], index: dict[str, str] | None
) -> _Cols:
    """The columns of nodes and edges given as objects (the checked reader's result)."""
    cols = _Cols()
    values = list(nodes.values())
    cols.keys = list(nodes)
    cols.names = [n.name for n in values]
    cols.versions = [n.version for n in values]
    cols.hash_cols = tuple([n.hashes.get(h) for n in values] for h in HASH_KEYS)
    shared: dict[tuple, tuple] = {}
    cols.combos = [
        shared.setdefault(c, c)
        for c in (
            (n.compiler_name, n.compiler_version, n.platform, n.os, n.target, n.namespace)
            for n in values
        )
    ]
    cols.params = [n.parameters for n in values]
    cols.external = [n.external for n in values]
    cols.external_path = [n.external_path for n in values]
    cols.patches = [n.patches for n in values]
    refs = [n.build_spec for n in values]
    cols.build_ref = refs if refs.count(None) != len(refs) else None
    row = {k: i for i, k in enumerate(cols.keys)}
    if index is None:
        index = {}
        for k, n in nodes.items():
            for v in n.hashes.values():
                index.setdefault(v, k)
    cols.index = {h: row[k] for h, k in index.items()}
    cols.parent = [row[e.parent] for e in edges]
    cols.child = [row[e.child] for e in edges]
    cols.deptypes = [e.deptypes for e in edges]
    cols.virtuals = [e.virtuals for e in edges]
    return cols


_NODE_SLOTS = tuple(SpecNode.__dict__[f].__set__ for f in SpecNode.__slots__)
if SpecNode.__slots__[:4] != ("key", "name", "version", "hashes"):  # pragma: no cover
    raise ImportError("SpecNode's fields changed: update _nodes_from_columns")


def _nodes_from_columns(cols: _Cols) -> dict[str, SpecNode]:
    """The ``SpecNode`` of every row. A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__`` (four times the cost of a plain one); the slots are filled directly."""
    s_key, s_name, s_version, s_hashes, s_cn, s_cv, s_pl, s_os, s_tg, s_ns = _NODE_SLOTS[:10]
    s_params, s_ext, s_ext_path, s_patches, s_build = _NODE_SLOTS[10:]
    new = object.__new__
    cls = SpecNode
    nodes: dict[str, SpecNode] = {}
    hk = HASH_KEYS
    builds = _build_spec_column(cols)
    for key, name, version, combo, params, ext, ext_path, patches, build, h, fh, bh, dh, ph in zip(
        cols.keys,
        cols.names,
        cols.versions,
        cols.combos,
        cols.params,
        cols.external,
        cols.external_path,
        cols.patches,
        builds,
        *cols.hash_cols,
        strict=True,
    ):
        hashes = {}
        for k, v in zip(hk, (h, fh, bh, dh, ph), strict=True):
            if v is not None:
                hashes[k] = v
        n = new(cls)
        s_key(n, key)
        s_name(n, name)
        s_version(n, version)
        s_hashes(n, hashes)
        cn, cv, pl, os_name, tg, ns = combo
        s_cn(n, cn)
        s_cv(n, cv)
        s_pl(n, pl)
        s_os(n, os_name)
        s_tg(n, tg)
        s_ns(n, ns)
        s_params(n, {} if params is None else params)
        s_ext(n, ext)
        s_ext_path(n, ext_path)
        s_patches(n, patches)
        s_build(n, build)
        nodes[key] = n
    return nodes


def _build_targets(cols: _Cols) -> list[int | None] | None:
    """Per node, the row of the node its ``build_spec`` names (``None``: not spliced, or the
    build spec is not in the document); ``None`` when no node is spliced."""
    refs = cols.build_ref
    if refs is None:
        return None
    index = cols.index
    return [None if r is None else index.get(r) for r in refs]


def _build_spec_column(cols: _Cols) -> list[str | None]:
    """The ``build_spec`` column: the DAG hash of the spec each node was built as, from the
    node of the document that its ``build_spec`` names (else the hash as written)."""
    refs = cols.build_ref
    if refs is None:
        return [None] * len(cols.keys)
    targets = _build_targets(cols)
    assert targets is not None  # refs is not None
    dag = _dag_hashes(cols)
    keys = cols.keys
    return [
        None if r is None else (r if t is None else (dag[t] or keys[t]))
        for r, t in zip(refs, targets, strict=True)
    ]


def _closure(starts: Iterable[int], kids: list[list[int]]) -> set[int]:
    """The rows ``starts`` and every row they depend on."""
    seen: set[int] = set()
    stack = list(starts)
    while stack:
        row = stack.pop()
        if row in seen:
            continue
        seen.add(row)
        stack.extend(kids[row])
    return seen


def _provenance_rows(cols: _Cols, roots: list[str], format: str) -> set[int]:
    """The rows that are only provenance: the nodes of the specs that spliced nodes were built
    as (and what those depend on), that no member of the DAG depends on.

    Spack writes a spliced node's build spec, with its own dependencies, beside the spliced
    nodes (``Spec.to_dict``; a lock file's ``concrete_specs`` likewise). The members of the
    DAG are what the roots depend on: a lock file's ``roots``; in a node list, the nodes nothing
    depends on that are not a build spec; an install database records installed specs only,
    so none of its records is provenance.
    """
    targets = _build_targets(cols)
    if targets is None or format == "database":
        return set()
    wanted = {t for t in targets if t is not None}
    if not wanted:
        return set()
    n = len(cols.keys)
    kids: list[list[int]] = [[] for _ in range(n)]
    for p, c in zip(cols.parent, cols.child, strict=True):
        kids[p].append(c)
    if format == "lock" and roots:
        row_of = {k: i for i, k in enumerate(cols.keys)}
        starts = [row_of[k] for k in roots if k in row_of]
    else:
        has_parent = set(cols.child)
        starts = [i for i in range(n) if i not in has_parent and i not in wanted]
    return _closure(wanted, kids) - _closure(starts, kids)


def _dag_hashes(cols: _Cols) -> list:
    """The ``dag_hash`` column: the ``hash`` a node carries, else its ``dag_hash`` key."""
    h, _fh, _bh, dh, _ph = cols.hash_cols
    if dh.count(None) == len(dh):  # the usual case: no document writes dag_hash
        return h
    return [a if a is not None else b for a, b in zip(h, dh, strict=True)]


def _combo_rows(combos: list[tuple]) -> list[tuple]:
    """Each node's (compiler_name, compiler_version, platform, os, target, namespace,
    compiler) tuple, shared between nodes like ``combos``."""
    ext = {c: (*c, _compiler_text(c[0], c[1])) for c in dict.fromkeys(combos)}
    return list(map(ext.__getitem__, combos))


def _deptypes_text(distinct: dict[tuple, Any]) -> list[str]:
    """The ``deptypes`` text of each distinct deptypes tuple: sorted, comma-joined."""
    return [",".join(sorted(t)) for t in distinct]


def _variants_texts(params: list) -> list[str | None]:
    """Each node's variants as the one string Spack prints
    (:func:`spackmon_analysis.spackfacts.variants_text`; ``""`` without parameters)."""

    return [variants_text(p) if p is not None else "" for p in params]


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


#: the categorical columns of ``nodes_frame``, in the order of ``_combo_rows``' tuples
_CATEGORY_COLUMNS = (
    "compiler_name",
    "compiler_version",
    "platform",
    "os",
    "target",
    "namespace",
    "compiler",
)


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


def spec_digraph(
    nodes: Iterable[dict[str, Any]], edges: Iterable[dict[str, Any]], **graph_attrs: Any
) -> networkx.DiGraph:
    """The one networkx form of spec rows, for ``SpecGraph.to_networkx`` and
    ``MonitorData.graph``.

    ``nodes``: one dict per node holding at least ``full_hash`` (the node key); every item
    becomes a node attribute. ``edges``: one dict per edge holding ``parent_hash`` and
    ``child_hash`` (the edge runs dependent -> dependency); every other item but
    ``parent_name``/``child_name`` (the nodes carry their names) becomes an edge attribute.
    """
    import networkx as nx

    g = nx.DiGraph(**graph_attrs)
    for attrs in nodes:
        g.add_node(attrs["full_hash"], **attrs)
    skip = ("parent_hash", "child_hash", "parent_name", "child_name")
    for e in edges:
        g.add_edge(
            e["parent_hash"], e["child_hash"], **{k: v for k, v in e.items() if k not in skip}
        )
    return g


# ---------------------------------------------------------------------------------------------
# the graph


class SpecGraph:
    """A concrete spec DAG: nodes keyed by hash, parent -> child edges (read-only).

    Build one with :func:`load_spec`. ``roots`` lists root keys in document order and
    ``root`` is the first root's node; ``format`` is ``"list"`` or ``"v2"`` ... ``"v6"``
    (``"lock"``/``"database"`` for a ``spack.lock``/install database); ``spack_version`` comes
    from an upload body; ``source`` names the file (or ``<string>``/``<object>``).

    ``SpecGraph(nodes, edges, roots, ...)`` makes one from objects; its columns are taken
    from them once, and every view reads the columns.
    """

    _cols: _Cols
    _nodes: dict[str, SpecNode] | None  # made from the columns when first asked for
    _edges: list[SpecEdge] | None
    _index_map: dict[str, str] | None
    _children: dict[str, list[SpecEdge]] | None

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
        self._setup(_cols_from_objects(nodes, edges, index), list(roots), format, source)
        self.spack_version = spack_version
        # the objects given are what the columns would give back (SpecNode is frozen)
        self._nodes = dict(nodes)
        self._edges = list(edges)

    @classmethod
    def _from_columns(
        cls,
        cols: _Cols,
        *,
        format: str,
        source: str,
        spack_version: str | None,
        roots: list[str] | None = None,
    ) -> SpecGraph:
        """A graph of ``cols``; ``roots`` default: the nodes nothing depends on."""
        g = cls.__new__(cls)
        if roots is None:
            keys = cols.keys
            children = set(cols.child)
            roots = list(
                map(keys.__getitem__, filterfalse(children.__contains__, range(len(keys))))
            )
        g._setup(cols, roots, format, source)
        g.spack_version = spack_version
        return g

    def _setup(self, cols: _Cols, roots: list[str], format: str, source: str) -> None:
        self._cols = cols
        rows = _provenance_rows(cols, roots, format)
        keys = cols.keys
        #: keys of the nodes that are only provenance (a spliced node's build spec and what
        #: only it depends on): kept in ``nodes``/``edges`` as read, left out of ``roots``
        #: and of the DAG's rows (``frame_rows``, ``to_networkx``)
        self.provenance: frozenset[str] = frozenset(keys[i] for i in rows)
        self._prov_rows = rows
        self._member_rows: list[int] | None = (
            [i for i in range(len(keys)) if i not in rows] if rows else None
        )
        if rows:
            roots = [k for k in roots if k not in self.provenance]
        self.roots = roots
        self.format = format
        self.source = source
        self._nodes = None
        self._edges = None
        self._index_map = None
        self._children = None
        self._parents: dict[str, list[SpecEdge]] | None = None

    @property
    def nodes(self) -> dict[str, SpecNode]:
        """``{key: SpecNode}`` in document order (built from the columns on first access)."""
        nodes = self._nodes
        if nodes is None:
            with _no_gc():
                nodes = self._nodes = _nodes_from_columns(self._cols)
        return nodes

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

    @property
    def _index(self) -> dict[str, str]:
        index = self._index_map
        if index is None:
            keys = self._cols.keys
            index = self._index_map = {h: keys[i] for h, i in self._cols.index.items()}
        return index

    # -- basics -------------------------------------------------------------------------------

    @property
    def root(self) -> SpecNode:
        """The first root's node."""
        return self.nodes[self.roots[0]]

    def __len__(self) -> int:
        return len(self._cols.keys)

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

    def hash_index(self) -> dict[str, str]:
        """``{hash: graph key}`` for every hash a node carries under any key (a copy)."""
        return dict(self._index)

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
            children: dict[str, list[SpecEdge]] = {k: [] for k in self._cols.keys}
            parents: dict[str, list[SpecEdge]] = {k: [] for k in self._cols.keys}
            for e in self.edges:
                children[e.parent].append(e)
                parents[e.child].append(e)
            self._children, self._parents = children, parents
        return self._children, self._parents

    def _walk(
        self,
        key: str | SpecNode | None,
        adj: dict[str, list[SpecEdge]],
        attr: str,
        transitive: bool,
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
        return self._walk(key, self._adjacency()[0], "child", transitive)

    def dependents(self, key: str | SpecNode, transitive: bool = False) -> list[SpecNode]:
        """Direct (or all transitive) dependents of ``key`` (any hash)."""
        return self._walk(key, self._adjacency()[1], "parent", transitive)

    def direct_dependency_hashes(self, key: str | SpecNode | None = None) -> dict[str, str]:
        """``{dependency name: its full_hash}`` for the direct dependencies of ``key``.

        This is the ``specs`` mapping a monitor server answers for an uploaded spec
        (default ``key``: the root). A node without ``full_hash`` contributes its key.
        """
        return {n.name: n.full_hash for n in self.dependencies(key)}

    # -- views --------------------------------------------------------------------------------

    def _spec_table(self) -> dict[str, list]:
        """``SPEC_COLUMNS`` as lists of plain values (one item per node)."""
        cols = self._cols
        rows = _combo_rows(cols.combos)
        table: dict[str, list] = {
            "full_hash": cols.keys,
            "name": cols.names,
            "version": cols.versions,
        }
        position = {c: k for k, c in enumerate(_CATEGORY_COLUMNS)}
        for c in SPEC_COLUMNS[3:10]:  # compiler ... namespace, from the shared tuples
            k = position[c]
            table[c] = [r[k] for r in rows]
        table["external"] = cols.external
        table["dag_hash"] = _dag_hashes(cols)
        table["build_hash"] = cols.hash_cols[2]
        table["variants_text"] = _variants_texts(cols.params)
        table["build_spec"] = _build_spec_column(cols)
        return table

    def _members(self, table: dict[str, list], *, edges: bool = False) -> dict[str, list]:
        """``table`` (node or, with ``edges``, edge columns) without the provenance rows."""
        rows = self._member_rows
        if rows is None:
            return table
        if edges:
            gone = self._prov_rows
            rows = [j for j, p in enumerate(self._cols.parent) if p not in gone]
        return {c: [v[i] for i in rows] for c, v in table.items()}

    @property
    def build_specs(self) -> dict[str, str]:
        """``{key of a spliced node: DAG hash of the spec it was built as}`` (Spack 0.23+
        splicing); empty when nothing in the document is spliced."""
        refs = _build_spec_column(self._cols) if self._cols.build_ref is not None else []
        return {k: r for k, r in zip(self._cols.keys, refs, strict=False) if r is not None}

    def _dependency_table(self) -> dict[str, list]:
        """``DEPENDENCY_COLUMNS`` as lists of plain values (one item per edge)."""
        cols = self._cols
        keys, names = cols.keys, cols.names
        distinct = dict.fromkeys(cols.deptypes)
        text = dict(zip(distinct, _deptypes_text(distinct), strict=True))
        return {
            "parent_hash": [keys[i] for i in cols.parent],
            "child_hash": [keys[i] for i in cols.child],
            "parent_name": [names[i] for i in cols.parent],
            "child_name": [names[i] for i in cols.child],
            "deptypes": [text[t] for t in cols.deptypes],
        }

    def frame_rows(self) -> tuple[list[tuple], list[tuple]]:
        """``(spec rows, dependency rows)``: one tuple per node in ``SPEC_COLUMNS`` order and
        one per edge in ``DEPENDENCY_COLUMNS`` order, the rows ``MonitorData`` takes: the
        members of the DAG (the nodes of ``provenance`` and their edges are left out; a
        spliced node's ``build_spec`` says what it was built as)."""
        specs = self._members(self._spec_table())
        deps = self._members(self._dependency_table(), edges=True)
        return (
            list(zip(*(specs[c] for c in SPEC_COLUMNS), strict=True)),
            list(zip(*(deps[c] for c in DEPENDENCY_COLUMNS), strict=True)),
        )

    def to_networkx(self) -> networkx.DiGraph:
        """A ``networkx.DiGraph`` keyed by node key, edges parent -> child (:func:`spec_digraph`).

        Node attributes: the ``SPEC_COLUMNS`` (full_hash, name, version, compiler,
        compiler_name, compiler_version, platform, os, target, namespace, external, dag_hash,
        build_hash, variants_text, build_spec; as in ``MonitorData.graph()``), hash,
        package_hash, external_path, variants, is_root. Edge attributes: deptypes (sorted,
        comma-joined, as in ``MonitorData.graph()``), virtuals (tuple). Like
        ``MonitorData.graph()``, it holds the members of the DAG: ``provenance`` nodes are
        left out.
        """
        cols = self._cols
        table = self._spec_table()
        table["hash"] = cols.hash_cols[0]
        table["package_hash"] = cols.hash_cols[4]
        table["external_path"] = cols.external_path
        table["variants"] = _variants(cols.params)
        roots = set(self.roots)
        table["is_root"] = [k in roots for k in cols.keys]
        table = self._members(table)
        names = list(table)
        deps = self._dependency_table()
        deps["virtuals"] = cols.virtuals
        deps = self._members(deps, edges=True)
        dnames = list(deps)
        return spec_digraph(
            (dict(zip(names, row, strict=True)) for row in zip(*table.values(), strict=True)),
            (dict(zip(dnames, row, strict=True)) for row in zip(*deps.values(), strict=True)),
            source=self.source,
            format=self.format,
            roots=list(self.roots),
        )

    def nodes_frame(self) -> pandas.DataFrame:
        """One row per node (document order).

        Columns: key, then the ``SPEC_COLUMNS`` (full_hash, name, version, compiler,
        compiler_name, compiler_version, platform, os, target, namespace, external, dag_hash,
        build_hash, variants_text, build_spec: the names and meanings of
        ``MonitorData.specs``), then hash and package_hash (as written), external_path,
        is_root (bool), n_dependencies (int), variants (dict), provenance (bool: the node is
        only a spliced node's build spec or what only that depends on, not a member of the
        DAG; every node of the document is a row). The compiler, platform, os, target and
        namespace columns are categoricals.
        """
        import numpy as np
        import pandas as pd

        with _no_gc():
            cols = self._cols
            keys = cols.keys
            n = len(keys)
            key = _str_array(keys)
            h, _fh, bh, _dh, ph = cols.hash_cols
            cats = dict(
                zip(
                    _CATEGORY_COLUMNS,
                    _categoricals(_combo_rows(cols.combos), len(_CATEGORY_COLUMNS)),
                    strict=True,
                )
            )
            out: dict[str, Any] = {
                "key": key,
                "full_hash": key,
                "name": _str_array(cols.names),
                "version": _str_array(cols.versions),
            }
            for c in SPEC_COLUMNS[3:10]:
                out[c] = cats[c]
            out["external"] = np.array(cols.external, dtype=bool)
            out["hash"] = _str_array(h)
            dag = _dag_hashes(cols)
            out["dag_hash"] = out["hash"] if dag is h else _str_array(dag)
            out["build_hash"] = _str_array(bh)
            out["variants_text"] = _str_array(_variants_texts(cols.params))
            out["build_spec"] = _str_array(_build_spec_column(cols))
            out["hash"] = out.pop("hash")  # after the SPEC_COLUMNS
            out["package_hash"] = _str_array(ph)
            out["external_path"] = _str_array(cols.external_path)
            roots = set(self.roots)
            out["is_root"] = np.fromiter((k in roots for k in keys), dtype=bool, count=n)
            parents = np.array(cols.parent, dtype=np.int64)
            out["n_dependencies"] = np.bincount(parents, minlength=n).astype(np.int64, copy=False)
            out["variants"] = _object_array(_variants(cols.params))
            prov = self.provenance
            out["provenance"] = np.fromiter((k in prov for k in keys), dtype=bool, count=n)
            return pd.DataFrame(out)

    def edges_frame(self) -> pandas.DataFrame:
        """One row per edge: the ``DEPENDENCY_COLUMNS`` (parent_hash, child_hash, parent_name,
        child_name, deptypes: the names and meanings of ``MonitorData.dependencies``), then
        virtuals (tuple) and bool columns build, link, run, test."""
        import numpy as np
        import pandas as pd

        with _no_gc():
            cols = self._cols
            # every edge's key and name taken from the node columns (string arrays)
            keys = _str_array(cols.keys)
            names = _str_array(cols.names)
            pi = np.array(cols.parent, dtype=np.intp)
            ci = np.array(cols.child, dtype=np.intp)
            out: dict[str, Any] = {
                "parent_hash": keys.take(pi),
                "child_hash": keys.take(ci),
                "parent_name": names.take(pi),
                "child_name": names.take(ci),
            }
            # per distinct deptypes / virtuals tuple, then taken by code (assigning a list of
            # tuples into an object array makes NumPy inspect each tuple as a sequence)
            distinct, codes = _codes(cols.deptypes)
            text = _str_array(_deptypes_text(distinct))
            out["deptypes"] = text.take(codes) if len(codes) else _str_array([])
            vdistinct, vcodes = _codes(cols.virtuals)
            out["virtuals"] = _object_array(list(vdistinct))[vcodes]
            for t in ("build", "link", "run", "test"):
                table = np.array([t in d for d in distinct], dtype=bool)
                out[t] = table[codes] if len(codes) else np.zeros(0, dtype=bool)
            return pd.DataFrame(out)

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
            f"<SpecGraph {r.name}{ver} /{r.short_hash}{more} {len(self)} nodes, "
            f"{len(self._cols.parent)} edges, format={self.format}>"
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
