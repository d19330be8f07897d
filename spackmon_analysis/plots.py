"""Matplotlib views of a ``MonitorData`` (see ``docs/analysis.md``).

Every ``plot_*`` function takes the data first, draws on ``ax`` when one is given (else on a
new figure sized for the content) and returns the ``matplotlib.axes.Axes``. Only the object
oriented matplotlib API is used, so the functions work under the ``Agg`` backend (no display).

Colours of build outcomes are shared by every view (``OUTCOME_COLORS``, from
:mod:`~spackmon_analysis.palette`): succeeded green, failed (a root cause: one of its own
phases is ERROR) red, never built (blocked by a failed dependency) orange, unknown and not
built greys.
"""

from __future__ import annotations

from collections.abc import Hashable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, UnknownKeyError
from .palette import (
    EDGE_COLOR,
    FAILURE_PATH_COLOR,
    FIXED_ERROR_COLOR,
    OUTCOME_COLORS,
    OUTCOME_ORDER,
    PHASE_STATUS_COLORS,
)
from .spackfacts import short_hash, sort_phase_names

if TYPE_CHECKING:
    import matplotlib.axes
    import matplotlib.figure
    import networkx
    import pandas

    from .frames import MonitorData
    from .spec import SpecGraph

__all__ = [
    "OUTCOME_COLORS",
    "FAILURE_PATH_COLOR",
    "layered_layout",
    "routed_layout",
    "dependency_graph_size",
    "failure_path_edges",
    "failure_neighbourhood",
    "failure_counts",
    "plot_dependency_graph",
    "plot_failure_matrix",
    "plot_phase_outcomes",
    "plot_error_classes",
    "plot_build_times",
    "plot_failure_trends",
    "plot_timeline",
]

_OUTCOME_ORDER = list(OUTCOME_ORDER)


#: Axis names of ``builds`` columns (``plot_failure_matrix`` rows/cols).
_COLUMN_LABELS = {
    "spec_name": "package",
    "spec_version": "version",
    "compiler": "compiler",
    "host_target": "target",
    "host_os": "operating system",
    "platform": "platform",
    "run": "run",
    "hostname": "host",
    "spack_version": "Spack version",
    "owner": "owner",
    "status": "status",
    "outcome": "outcome",
}


def _root_figure(ax: matplotlib.axes.Axes) -> matplotlib.figure.Figure:
    """The figure that has a size: ``ax``'s own, or the one its subfigure is part of."""
    from matplotlib.figure import Figure

    fig = ax.figure
    while not isinstance(fig, Figure):  # a SubFigure
        fig = fig.figure
    return fig


def _new_axes(figsize: tuple[float, float]) -> matplotlib.axes.Axes:
    # pyplot, so that Jupyter's inline backend shows the figure after `ax = plot_...(data)`;
    # it needs no display (Agg) and nothing here calls show(). Constrained layout keeps the
    # legends placed beside the axes inside the figure.
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _check_data(data: Any, function: str, *frames: str) -> None:
    """Raise ``ConfigError`` naming ``data`` unless it has the frames ``function`` reads."""
    missing = [f for f in frames if not hasattr(data, f)]
    if data is None or missing:
        raise ConfigError(
            f"{function}(data=...): data must be a MonitorData (for example "
            f"sma.load_save_local(path)), not {type(data).__name__}"
            + (f" (it has no {', '.join(missing)})" if data is not None else "")
        )


def _check_column(data: Any, function: str, argument: str, column: Any) -> None:
    if not isinstance(column, str) or column not in data.builds.columns:
        choices = ", ".join(str(c) for c in data.builds.columns if c not in ("tags",))
        raise ConfigError(
            f"{function}({argument}={column!r}): not a column of data.builds; use one of: {choices}"
        )


def _set_title(ax: matplotlib.axes.Axes, title: str, **kwargs: Any) -> None:
    """Set a title that fits: each line is wrapped to the figure's width (a title wider
    than its figure would be clipped at both sides)."""
    import textwrap

    fontsize = kwargs.pop("fontsize", None)
    reserve = kwargs.pop("reserve", 0.0)  # inches a legend beside the axes will take
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties

    size = FontProperties(size=fontsize or rcParams["axes.titlesize"]).get_size_in_points()
    fig_w = _root_figure(ax).get_figwidth()
    box = ax.get_position()
    centre = (box.x0 + box.x1) / 2 * fig_w - reserve / 2
    width_pt = max(2 * min(centre, fig_w - centre) - 0.2, 1.0) * 72
    chars = max(16, int(width_pt / (0.62 * size)))
    lines = [
        w
        for line in title.split("\n")
        for w in (textwrap.wrap(line, chars, break_on_hyphens=False) or [""])
    ]
    if fontsize is not None:
        kwargs["fontsize"] = fontsize
    ax.set_title("\n".join(lines), **kwargs)


def _empty(ax: matplotlib.axes.Axes, title: str, message: str) -> matplotlib.axes.Axes:
    _set_title(ax, title)
    ax.text(
        0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True,
        fontsize=10, color="#555555",
    )  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


# --------------------------------------------------------------------------------------------
# Dependency graph
# --------------------------------------------------------------------------------------------


def _longest_path_layers(g: networkx.DiGraph) -> dict[Hashable, int]:
    """Layer of every node: ``nx.topological_generations`` (0 for nodes without dependents,
    else 1 + the deepest layer of its dependents).

    Every edge parent -> child therefore goes strictly downwards (child layer > parent layer).
    A cyclic graph is layered through its condensation (nodes of one cycle share a layer).
    """
    import networkx as nx

    if nx.is_directed_acyclic_graph(g):
        return {n: i for i, gen in enumerate(nx.topological_generations(g)) for n in gen}
    cond = nx.condensation(g)
    clayer = _longest_path_layers(cond)
    return {n: clayer[c] for c, members in cond.nodes(data="members") for n in members}


def _count_crossings(layers: list[list[Hashable]], edges: list[tuple[Hashable, Hashable]]) -> int:
    """Crossings between edges joining the same pair of adjacent layers (the usual measure)."""
    pos: dict[Hashable, tuple[int, int]] = {}
    for li, nodes in enumerate(layers):
        for i, n in enumerate(nodes):
            pos[n] = (li, i)
    by_layer: dict[int, list[tuple[int, int]]] = {}
    for u, v in edges:
        (lu, iu), (lv, iv) = pos[u], pos[v]
        if lv == lu + 1:
            by_layer.setdefault(lu, []).append((iu, iv))
    total = 0
    for segs in by_layer.values():
        segs.sort()
        # count inversions of the child positions (O(E^2) is fine at DAG sizes we draw)
        children = [c for _, c in segs]
        for i in range(len(children)):
            for j in range(i + 1, len(children)):
                if segs[i][0] != segs[j][0] and children[i] > children[j]:
                    total += 1
    return total


def _layer_orders(
    g: networkx.DiGraph, sweeps: int = 8, key: Any = None
) -> tuple[dict[Hashable, int], list[list[Hashable]]]:
    """``(layer of each node, nodes of each layer in drawing order)``: barycenter sweeps
    (down and up, keeping the ordering with the fewest adjacent-layer crossings), starting
    from ``key(node)`` order (default: the node as a string)."""
    layer = _longest_path_layers(g)
    if not layer:
        return {}, []
    sort_key = key or (lambda n: str(n))
    nlayers = max(layer.values()) + 1
    layers: list[list[Hashable]] = [[] for _ in range(nlayers)]
    for n in sorted(layer, key=sort_key):
        layers[layer[n]].append(n)
    edges = list(g.edges())
    best = [list(lay) for lay in layers]
    best_cross = _count_crossings(best, edges) if len(edges) <= 3000 else None

    def index_of() -> dict[Hashable, float]:
        idx: dict[Hashable, float] = {}
        for nodes in layers:
            off = (len(nodes) - 1) / 2
            for i, n in enumerate(nodes):
                idx[n] = i - off
        return idx

    for sweep in range(sweeps):
        down = sweep % 2 == 0
        order = range(1, nlayers) if down else range(nlayers - 2, -1, -1)
        for li in order:
            idx = index_of()
            bary: dict[Hashable, float] = {}
            for n in layers[li]:
                nbrs = list(g.predecessors(n)) if down else list(g.successors(n))
                # long edges pull too, but only towards the side being swept from
                nbrs = [m for m in nbrs if (layer[m] < li if down else layer[m] > li)]
                bary[n] = sum(idx[m] for m in nbrs) / len(nbrs) if nbrs else idx[n]
            layers[li].sort(key=bary.__getitem__)  # stable: ties keep the current order
        if best_cross is not None:
            cross = _count_crossings(layers, edges)
            if cross < best_cross:
                best, best_cross = [list(lay) for lay in layers], cross
        else:
            best = [list(lay) for lay in layers]
    return layer, best


def layered_layout(
    g: networkx.DiGraph, *, sweeps: int = 8, key: Any = None
) -> dict[Hashable, tuple[float, float]]:
    """Positions ``{node: (x, y)}`` of a layered (Sugiyama-style) drawing of ``g``.

    Layers come from ``nx.topological_generations`` (y = -layer, so every dependency is
    drawn below all of its dependents); within a layer nodes are ordered by the barycenter
    heuristic (alternating down and up sweeps, keeping the ordering with the fewest
    adjacent-layer crossings), starting from ``key(node)`` order (default: the node itself
    as a string). x positions are centred, one unit apart. :func:`plot_dependency_graph`
    uses :func:`routed_layout`, which also routes the long edges.
    """
    _, best = _layer_orders(g, sweeps, key)
    return {
        n: (i - (len(nodes) - 1) / 2, -float(li))
        for li, nodes in enumerate(best)
        for i, n in enumerate(nodes)
    }


class _Dummy(tuple):
    """A bend point of a long edge in one layer (``(parent, child, k)``)."""


def _isotonic(values: list[float]) -> list[float]:
    """The non-decreasing sequence closest to ``values`` (least squares; pool adjacent
    violators)."""
    blocks: list[list[float]] = []  # [mean, weight]
    for v in values:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2 = blocks.pop()
            m1, w1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2])
    out: list[float] = []
    for mean, weight in blocks:
        out += [mean] * int(weight)
    return out


def routed_layout(
    g: networkx.DiGraph,
    *,
    widths: dict[Hashable, float] | None = None,
    gap: float = 0.25,
    bend_gap: float = 0.12,
    layer_height: float = 1.0,
    key: Any = None,
) -> tuple[dict[Hashable, tuple[float, float]], dict[tuple[Hashable, Hashable], list[float]]]:
    """``(positions, bends)`` of a layered drawing whose long edges go around the nodes.

    Layers come from ``nx.topological_generations``. An edge spanning several layers gets a
    bend point (a dummy node) in every layer between; nodes and bend points are ordered
    together by barycenter sweeps, so a bend point takes its own slot between the nodes of
    its layer and the edge never runs through a node. ``widths`` (node -> box width, default
    1) and ``gap`` set the room each node takes, ``bend_gap`` the room beside a bend point;
    x positions are then pulled towards the neighbours (mean of the adjacent layers, a few
    sweeps, order and spacing kept) so that chains of bend points run straight. ``bends``
    maps each long edge to the x of its bend points, top to bottom (layer ``i`` is at
    ``y = -i * layer_height``).
    """
    import networkx as nx

    widths = widths or {}
    layer = _longest_path_layers(g)
    aug = nx.DiGraph()
    aug.add_nodes_from(g.nodes)
    chains: dict[tuple[Hashable, Hashable], list[Hashable]] = {}
    for u, v in g.edges:
        span = layer[v] - layer[u]
        if span <= 1:
            aug.add_edge(u, v)
            continue
        chain: list[Hashable] = [_Dummy((u, v, k)) for k in range(1, span)]
        chains[(u, v)] = chain
        nx.add_path(aug, [u, *chain, v])

    def sort_key(n: Hashable) -> Any:
        if isinstance(n, _Dummy):
            return (0, (str(n[0]), str(n[1]), n[2]))
        return (1, key(n) if key is not None else str(n))

    _, order = _layer_orders(aug, key=sort_key)

    def half(n: Hashable) -> float:
        return 0.0 if isinstance(n, _Dummy) else widths.get(n, 1.0) / 2

    def room(a: Hashable, b: Hashable) -> float:
        between = bend_gap if isinstance(a, _Dummy) or isinstance(b, _Dummy) else gap
        return half(a) + between + half(b)

    x: dict[Hashable, float] = {}
    for nodes in order:
        at = 0.0
        for i, n in enumerate(nodes):
            at = at + room(nodes[i - 1], n) if i else 0.0
            x[n] = at
        shift = (x[nodes[0]] + x[nodes[-1]]) / 2 if nodes else 0.0
        for n in nodes:
            x[n] -= shift

    def place(nodes: list[Hashable], desired: list[float]) -> None:
        offsets = [0.0]
        for a, b in zip(nodes, nodes[1:], strict=False):
            offsets.append(offsets[-1] + room(a, b))
        fitted = _isotonic([d - o for d, o in zip(desired, offsets, strict=True)])
        for n, f, o in zip(nodes, fitted, offsets, strict=True):
            x[n] = f + o

    nlayers = len(order)
    for sweep in range(6):
        down = sweep % 2 == 0
        for li in range(1, nlayers) if down else range(nlayers - 2, -1, -1):
            nodes = order[li]
            desired = []
            for n in nodes:
                near = list(aug.predecessors(n)) if down else list(aug.successors(n))
                desired.append(sum(x[m] for m in near) / len(near) if near else x[n])
            place(nodes, desired)
    if x:
        mid = (min(x.values()) + max(x.values())) / 2
        x = {n: v - mid for n, v in x.items()}
    pos = {n: (x[n], -li * layer_height) for li, nodes in enumerate(order) for n in nodes}
    real = {n: p for n, p in pos.items() if not isinstance(n, _Dummy)}
    bends = {e: [x[d] for d in chain] for e, chain in chains.items()}
    return real, bends


def _latest_run(data: Any) -> str | None:
    builds = data.builds
    runs = builds.dropna(subset=["run"]) if "run" in builds else builds.iloc[0:0]
    if runs.empty:
        return None
    last = runs.sort_values(["run_time", "run"], kind="stable").iloc[-1]
    return str(last["run"])


#: Most severe first: the outcome a node shows when several runs are drawn together.
_SEVERITY = ("failed", "never built", "unknown", "succeeded", "not built", "no build data")


def _union_of_runs(data: Any, runs: list[str]) -> networkx.DiGraph:
    """The graphs of several runs together; a node shows its most severe outcome among
    them and, in ``failed_runs``, how many of them it failed in."""
    import networkx as nx

    union = nx.DiGraph()
    for one in runs:
        g, _ = _resolve_graph(data, one)
        for n, a in g.nodes(data=True):
            outcome = _outcome(a)
            if n not in union:
                union.add_node(n, **a)
                union.nodes[n]["failed_runs"] = 0
            else:
                now = _outcome(union.nodes[n])
                rank = {o: i for i, o in enumerate(_SEVERITY)}
                if rank.get(outcome, 2) < rank.get(now, 2):
                    union.nodes[n]["outcome"] = outcome
            if outcome == "failed":
                union.nodes[n]["failed_runs"] += 1
        union.add_edges_from(g.edges(data=True))
    return union


def _resolve_graph(
    data_or_graph: Any, run: str | list[str] | tuple[str, ...] | None
) -> tuple[networkx.DiGraph, str | list[str] | None]:
    """(graph to draw, run(s) drawn) from a MonitorData, a networkx DiGraph or a SpecGraph."""
    import networkx as nx

    if isinstance(run, list | tuple) and not hasattr(data_or_graph, "builds"):
        raise ConfigError(
            "plot_dependency_graph(run=[...]): several runs can be drawn together only from "
            f"a MonitorData, not a {type(data_or_graph).__name__}"
        )
    if isinstance(run, list | tuple):
        resolved = [_resolve_graph(data_or_graph, r)[1] for r in run]
        names = [str(r) for r in dict.fromkeys(resolved) if r is not None]
        if len(names) == 1:
            return _resolve_graph(data_or_graph, names[0])
        return _union_of_runs(data_or_graph, names), names
    if isinstance(data_or_graph, nx.DiGraph):
        return data_or_graph, run
    if hasattr(data_or_graph, "builds") and hasattr(data_or_graph, "graph"):
        data = data_or_graph
        runs = (
            [str(r) for r in data.builds["run"].dropna().unique()] if "run" in data.builds else []
        )
        if run is None:
            if len(runs) > 1:
                run = _latest_run(data)
        elif str(run) not in runs:
            matches = [r for r in runs if r.startswith(str(run))]
            if len(matches) != 1:
                raise UnknownKeyError(
                    f"run {run!r} matches {len(matches)} runs of the data; runs: {', '.join(sorted(runs))}"
                )
            run = matches[0]
        g = data.graph(run=run) if run is not None else data.graph()
        if run is not None:
            # keep the run's builds and what they depend on (a run reuses earlier installs)
            in_run = data.builds.loc[data.builds["run"].astype("string") == run, "full_hash"]
            keep = {h for h in in_run.dropna() if h in g}
            for h in list(keep):
                keep |= nx.descendants(g, h)
            if keep:
                g = g.subgraph(keep).copy()
        return g, run
    if hasattr(data_or_graph, "to_networkx"):
        g = data_or_graph.to_networkx()
        for n in g.nodes:
            g.nodes[n].setdefault("outcome", "no build data")
        return g, run
    raise TypeError(
        "plot_dependency_graph() takes a MonitorData, a networkx.DiGraph or a spec.SpecGraph, "
        f"not {type(data_or_graph).__name__}"
    )


def _select_root(g: networkx.DiGraph, root: str | None) -> networkx.DiGraph:
    import networkx as nx

    if root is None:
        return g
    matches = [
        n
        for n, a in g.nodes(data=True)
        if root == n
        or (isinstance(n, str) and len(root) >= 7 and n.startswith(root))
        or root == a.get("name")
        or root == f"{a.get('name')}@{a.get('version')}"
    ]
    if not matches:
        raise KeyError(
            f"no node of the graph is {root!r} (a hash, a hash prefix, name or name@version)"
        )
    keep = set(matches)
    for m in matches:
        keep |= nx.descendants(g, m)
    return g.subgraph(keep).copy()


def _outcome(attrs: dict[str, Any]) -> str:
    value = attrs.get("outcome")
    try:
        import pandas as pd

        if value is None or pd.isna(value):
            return "not built"
    except (TypeError, ValueError):
        pass
    return str(value)


def _dag7(n: Hashable, attrs: dict[str, Any]) -> str:
    """The 7-character DAG hash Spack shows for a node (``spack find -l``, prefix names):
    its ``dag_hash`` attribute (``MonitorData.graph`` and ``SpecGraph.to_networkx`` both
    carry it), else the node key (:func:`~spackmon_analysis.spackfacts.short_hash`)."""
    dag = attrs.get("dag_hash")
    return short_hash(dag if isinstance(dag, str) else str(n)) or str(n)


def _label_parts(g: networkx.DiGraph) -> dict[Hashable, list[str]]:
    """Each node's label as lines ``[name, "@version", "%compiler"]`` (joined: the label).

    The compiler (or ``/hash`` when compilers do not tell them apart: the DAG hash Spack
    shows, or the graph key when the DAG hashes do not tell them apart) is added only when a
    ``name@version`` occurs more than once; it is shortened to the compiler's name when the
    names alone tell the nodes apart (``%gcc`` / ``%clang``).
    """
    parts: dict[Hashable, list[str]] = {}
    for n, a in g.nodes(data=True):
        name = a.get("name")
        version = a.get("version")
        if name is None or (not isinstance(name, str)):
            parts[n] = [_dag7(n, a)]
        else:
            parts[n] = [name] + ([f"@{version}"] if isinstance(version, str) and version else [])
    groups: dict[str, list[Hashable]] = {}
    for n, lines in parts.items():
        groups.setdefault("".join(lines), []).append(n)
    for members in groups.values():
        if len(members) < 2:
            continue
        comps = {n: g.nodes[n].get("compiler") for n in members}
        comps = {n: c if isinstance(c, str) and c else None for n, c in comps.items()}
        short = {n: c.split("@")[0] if c else None for n, c in comps.items()}
        dags = {n: _dag7(n, g.nodes[n]) for n in members}
        if len(set(dags.values())) < len(members):  # one DAG hash, several full hashes (0.17)
            dags = {n: short_hash(str(n)) or str(n) for n in members}
        for n in members:
            if None not in short.values() and len(set(short.values())) == len(members):
                extra = f"%{short[n]}"
            elif None not in comps.values() and len(set(comps.values())) == len(members):
                extra = f"%{comps[n]}"
            else:
                extra = f"/{dags[n]}"
            parts[n] = [*parts[n], extra]
    return parts


def _labels(g: networkx.DiGraph) -> dict[Hashable, str]:
    """``name@version`` of every node (plus ``%compiler`` or ``/hash`` when repeated)."""
    return {n: "".join(lines) for n, lines in _label_parts(g).items()}


def _graph_title(g: networkx.DiGraph, roots: list[Hashable], labels: dict[Hashable, str]) -> str:
    """A one-line title: the root packages when there are few, else the counts."""
    if not len(g):
        return "Dependency graph"
    names = sorted({f"{g.nodes[n].get('name')}@{g.nodes[n].get('version')}"
                    if isinstance(g.nodes[n].get("name"), str) else labels[n] for n in roots})  # fmt: skip
    packages = len({g.nodes[n].get("name") or n for n in g.nodes})
    if 0 < len(names) <= 2:
        title = "Dependency graph of " + ", ".join(names)
        if len(roots) > len(names):
            title += f" ({len(roots)} roots)"
        return title
    return f"Dependency graph: {packages} packages, {len(roots)} roots"


_CHAR_WIDTH = 0.62  # average width of a label character, in font sizes (DejaVu Sans)


def _fit_labels(
    parts: dict[Hashable, list[str]], slot_pt: float, layer_pt: float
) -> tuple[float, bool, int | None]:
    """``(font size, stagger, max characters per line or None)`` so that the labels of
    neighbouring nodes (``slot_pt`` apart) do not overlap and fit between layers
    (``layer_pt`` apart). Staggered labels alternate between two rows, so each may use two
    slots; lines longer than the maximum are cut with an ellipsis."""
    longest = max((len(line) for lines in parts.values() for line in lines), default=1)
    nlines = max((len(lines) for lines in parts.values()), default=1)
    for font in (8.0, 7.0, 6.0):
        width = longest * _CHAR_WIDTH * font
        height = nlines * 1.25 * font + 4
        room = layer_pt - 22  # the node marker and the gap below it
        if width <= 0.92 * slot_pt and height <= room:
            return font, False, None
        if width <= 1.85 * slot_pt and 2 * height + 2 <= room:
            return font, True, None
    font = 6.0
    stagger = 2 * (nlines * 1.25 * font + 4) + 2 <= layer_pt - 22
    chars = int((1.85 if stagger else 0.92) * slot_pt / (_CHAR_WIDTH * font))
    return font, stagger, max(chars, 4)


def _cut(line: str, chars: int | None) -> str:
    return line if chars is None or len(line) <= chars else line[: chars - 1] + "\u2026"


def failure_path_edges(g: networkx.DiGraph) -> set[tuple[Hashable, Hashable]]:
    """Edges on a path from a dependent down to a root-cause failure (outcome ``failed``).

    These are the edges whose dependency is a failed node or has one among its dependencies:
    they lead from every failure up to the dependents it blocked and to the root(s).
    """
    import networkx as nx

    failed = {n for n, a in g.nodes(data=True) if _outcome(a) == "failed"}
    reach = set(failed)
    for n in failed:
        reach |= nx.ancestors(g, n)
    return {(u, v) for u, v in g.edges if v in reach}


def _built_nodes(g: networkx.DiGraph, data: Any) -> set[Hashable]:
    """Nodes of ``g`` with at least one build: in ``data.builds`` when ``data`` is a
    ``MonitorData``, else by the node's outcome."""
    if hasattr(data, "builds") and "full_hash" in getattr(data.builds, "columns", ()):
        hashes = set(data.builds["full_hash"].dropna().astype(str))
        return {n for n in g.nodes if str(n) in hashes}
    return {n for n, a in g.nodes(data=True) if _outcome(a) not in ("not built", "no build data")}


def failure_neighbourhood(g: networkx.DiGraph) -> set[Hashable]:
    """The failed (outcome ``failed``) and blocked (``never built``) nodes, every node that
    depends on them, and the dependencies of the failed ones; empty without failures."""
    import networkx as nx

    failed = {n for n, a in g.nodes(data=True) if _outcome(a) == "failed"}
    blocked = {n for n, a in g.nodes(data=True) if _outcome(a) == "never built"}
    keep = failed | blocked
    for n in failed | blocked:
        keep |= nx.ancestors(g, n)
    for n in failed:
        keep |= nx.descendants(g, n)
    return keep


def _reduce_graph(
    g: networkx.DiGraph, data: Any, only_built: bool, focus: str | None, max_nodes: int | None
) -> tuple[networkx.DiGraph, str]:
    """``(graph to draw, what was left out)`` for ``only_built`` / ``focus`` / ``max_nodes``
    (see :func:`plot_dependency_graph`); the text is empty when nothing was left out."""
    total = len(g)

    def too_big(graph: networkx.DiGraph) -> bool:
        return max_nodes is None or len(graph) > max_nodes

    reasons: list[str] = []
    if only_built and too_big(g):
        built = _built_nodes(g, data)
        if built and len(built) < len(g):
            reasons.append(f"{len(g) - len(built)} without any build left out")
            g = g.subgraph(built).copy()
    if focus == "failures" and too_big(g):
        keep = failure_neighbourhood(g)
        if keep and len(keep) < len(g):
            reasons = ["the failures and what they touch"]
            g = g.subgraph(keep).copy()
    if not reasons:
        return g, ""
    return g, f"showing {len(g)} of {total} packages: " + "; ".join(reasons)


def _graph_drawing(
    data_or_graph: Any,
    run: str | list[str] | None,
    root: str | None,
    only_built: bool,
    focus: str | None,
    max_nodes: int | None,
) -> SimpleNamespace:
    """The graph to draw, its labels, title, layout in inches and the figure size that
    holds it at an 8 pt font (shared by :func:`plot_dependency_graph` and
    :func:`dependency_graph_size`)."""
    if focus not in (None, "failures"):
        raise ConfigError(f"plot_dependency_graph(focus={focus!r}): use None or 'failures'")
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int)
                                  or max_nodes < 1):  # fmt: skip
        raise ConfigError(
            f"plot_dependency_graph(max_nodes={max_nodes!r}): use a positive integer or None"
        )
    g, run = _resolve_graph(data_or_graph, run)
    g = _select_root(g, root)
    g, shown = _reduce_graph(g, data_or_graph, only_built, focus, max_nodes)
    parts = _label_parts(g)
    labels = {n: "".join(lines) for n, lines in parts.items()}
    if isinstance(run, list):  # several runs together: say how often a node failed
        for n, a in g.nodes(data=True):
            if a.get("failed_runs", 0) > 1:
                parts[n] = [*parts[n], f"failed in {a['failed_runs']} runs"]
    roots = [n for n in g.nodes if g.in_degree(n) == 0]
    title = _graph_title(g, roots, labels)
    if shown:
        title += "\n" + shown
    if isinstance(run, list):
        shown_runs = ", ".join(run) if len(run) <= 3 else f"{run[0]} ... {run[-1]}"
        title += f"\n{len(run)} runs together: {shown_runs}"
    elif run is not None:
        title += f"\nrun {run}"
    d = SimpleNamespace(g=g, run=run, parts=parts, labels=labels, roots=roots, title=title)
    d.legend_w = 2.4  # inches beside the axes (below them in a figure narrower than 6 inches)
    d.title_h = 0.3 * (title.count("\n") + 1) + 0.5
    if not len(g):
        d.figsize = (6.0, 4.0)
        return d
    # Geometry in inches at an 8 pt font: each node is a box holding its label; a box is
    # as wide as its longest label line. The drawing is scaled to the axes afterwards
    # (equal aspect) and the font with it, so the text always fits its box.
    d.base = 8.0
    nlines = max(len(lines) for lines in parts.values())
    d.widths = {
        n: max(len(line) for line in parts[n]) * (_CHAR_WIDTH + (0.08 if n in roots else 0.0))
        * d.base / 72 + 0.18
        for n in g.nodes
    }  # fmt: skip
    d.box_h = nlines * 1.2 * d.base / 72 + 0.14
    d.layer_h = d.box_h + 0.6
    d.pos, d.bends = routed_layout(
        g, widths=d.widths, gap=0.22, bend_gap=0.12, layer_height=d.layer_h,
        key=lambda n: (labels[n], str(n)),
    )  # fmt: skip
    pos, widths, bends = d.pos, d.widths, d.bends
    xs0 = [pos[n][0] - widths[n] / 2 for n in g.nodes]
    xs1 = [pos[n][0] + widths[n] / 2 for n in g.nodes]
    xs0 += [x for bx in bends.values() for x in bx]
    xs1 += [x for bx in bends.values() for x in bx]
    ys = [pos[n][1] for n in g.nodes]
    d.xlim = (min(xs0) - 0.15, max(xs1) + 0.15)
    d.ylim = (min(ys) - d.box_h / 2 - 0.15, max(ys) + d.box_h / 2 + 0.15)
    d.content_w, d.content_h = d.xlim[1] - d.xlim[0], d.ylim[1] - d.ylim[0]
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties

    title_pt = FontProperties(size=rcParams["axes.titlesize"]).get_size_in_points()
    title_w = max(len(line) for line in title.split("\n")) * 0.62 * title_pt / 72 + 0.3
    d.figsize = (
        min(max(6.0, d.content_w + d.legend_w + 0.4, title_w + d.legend_w), 48.0),
        min(max(3.0, d.content_h + d.title_h + 0.5), 36.0),
    )
    return d


def dependency_graph_size(
    data_or_graph: MonitorData | networkx.DiGraph | SpecGraph,
    *,
    run: str | list[str] | None = None,
    root: str | None = None,
    only_built: bool = False,
    focus: str | None = None,
    max_nodes: int | None = None,
) -> tuple[float, float]:
    """``(width, height)`` in inches of the figure :func:`plot_dependency_graph` makes for
    these arguments when no ``ax`` is given (for a ``matplotlib.figure.Figure`` made
    without pyplot, as ``report.write_plots`` does)."""
    return _graph_drawing(data_or_graph, run, root, only_built, focus, max_nodes).figsize


def plot_dependency_graph(
    data_or_graph: MonitorData | networkx.DiGraph | SpecGraph,
    *,
    run: str | list[str] | None = None,
    root: str | None = None,
    ax: matplotlib.axes.Axes | None = None,
    only_built: bool = False,
    focus: str | None = None,
    max_nodes: int | None = None,
) -> matplotlib.axes.Axes:
    """Draw a dependency DAG in layers, nodes coloured by build outcome.

    ``data_or_graph`` is a ``MonitorData`` (drawn from ``data.graph(run=run)``; with several
    runs and ``run=None`` the latest run is drawn, restricted to that run's builds and their
    dependencies; ``run`` may be a unique prefix of a run name, or a list of runs: drawn
    together, each node with its most severe outcome among them (failed, never built,
    unknown, succeeded, not built) and ``failed in N runs`` under a label that failed in
    more than one; ``write_plots`` passes every run that has a root-cause failure), a
    ``networkx.DiGraph`` with
    the node attributes of ``MonitorData.graph()`` (``name``, ``version``, ``outcome``), or a
    ``spec.SpecGraph`` (every node grey: no builds). ``root`` (hash, hash prefix, name or
    name@version) restricts the drawing to that node and its dependencies.

    Layout: layers from ``nx.topological_generations`` (dependents above their
    dependencies); an edge that spans several layers bends through a point in each layer
    between, placed beside that layer's nodes (:func:`routed_layout`), so no edge runs
    through a node. Each node is a box holding its label ``name`` / ``@version`` /
    ``%compiler`` (the compiler only when a ``name@version`` repeats), filled by outcome;
    roots have a thick border and a bold label, externals a dashed border and an italic
    label. Edges end in an arrow at the dependency; build-only edges are dashed, link/run
    edges solid; edges from each root-cause failure up to the dependents it blocked are
    thick and red. The legend names every mark used. Without ``ax`` the figure is sized to
    the drawing at an 8 pt font (a 90-node DAG is legible); on a given ``ax`` the drawing is
    scaled to fit (equal aspect) and the font with it, so a label always stays inside its
    box and boxes never overlap. The title names the roots when there are at most two
    distinct ones, else counts packages and roots; it is wrapped to the figure. For tests
    and tools: the boxes are one ``PatchCollection`` (gid ``"dependency-graph-nodes"``),
    labels are annotations whose ``xy`` is the node's centre, edges are ``LineCollection``
    polylines with gids ``"dependency-graph-edges"`` and ``"failure-path"``, arrow heads
    are patches with gid ``"dependency-graph-arrow"``.

    Drawing part of a big graph (all off by default):

    - ``only_built=True`` leaves out spec nodes without any build in the data (an uploaded
      spec that was never built, externals): with a ``MonitorData``, nodes whose hash has
      no row in ``data.builds``; with a graph, nodes whose outcome is ``not built`` / ``no
      build data``.
    - ``focus="failures"`` draws only the failure neighbourhood: the failed (root cause) and
      blocked (never built) nodes, everything that depends on them (up to the roots) and
      the dependencies of the failed ones. Without failures nothing is left out.
    - ``max_nodes``: apply the two above only while the graph has more nodes than this
      (``write_plots`` uses ``only_built=True, focus="failures", max_nodes=30``).

    When something was left out, the title's second line says what: ``showing 12 of 46
    packages: the failures and what they touch`` or ``showing 40 of 46 packages: 6 without
    any build left out`` (counts of spec nodes).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    d = _graph_drawing(data_or_graph, run, root, only_built, focus, max_nodes)
    g, run, parts, roots, title = d.g, d.run, d.parts, d.roots, d.title
    created = ax is None
    if ax is None:
        ax = _new_axes(d.figsize)
    if not len(g):
        return _empty(ax, title, "no nodes to draw")
    base, widths, box_h, layer_h = d.base, d.widths, d.box_h, d.layer_h
    pos, bends, xlim, ylim = d.pos, d.bends, d.xlim, d.ylim
    content_w, content_h, legend_w, title_h = d.content_w, d.content_h, d.legend_w, d.title_h
    fig = _root_figure(ax)
    fig_w, fig_h = fig.get_size_inches()
    frame = ax.get_position()
    own_layout = fig.get_layout_engine() is not None
    single = own_layout and len(fig.axes) == 1
    beside = created or (fig_w if single else fig_w * frame.width) >= 6.0
    if not beside:
        legend_w = 0.0
    if single:  # constrained layout gives the axes the figure
        ax_w, ax_h = fig_w - legend_w - 0.3, fig_h - title_h - 0.45
    else:
        ax_w = fig_w * frame.width - (legend_w if own_layout else 0.0)
        ax_h = fig_h * frame.height - (title_h if own_layout else 0.0)
    scale = min(max(ax_w, 0.5) / content_w, max(ax_h, 0.5) / content_h, 1.0)
    font = max(base * scale * 0.88, 1.0)

    _set_title(ax, title, reserve=legend_w if own_layout else 0.0)

    from matplotlib.collections import PatchCollection
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    nodes = list(g.nodes)
    outcomes = [_outcome(g.nodes[n]) for n in nodes]
    external = {n for n in nodes if _truthy(g.nodes[n].get("external"))}
    boxes = [
        FancyBboxPatch(
            (pos[n][0] - widths[n] / 2, pos[n][1] - box_h / 2), widths[n], box_h,
            boxstyle="round,pad=0,rounding_size=0.05",
        )
        for n in nodes
    ]  # fmt: skip
    node_boxes = PatchCollection(
        boxes,
        facecolors=[OUTCOME_COLORS.get(o, OUTCOME_COLORS["unknown"]) for o in outcomes],
        edgecolors="#333333",
        linewidths=[2.2 if n in roots else 0.8 for n in nodes],
        linestyles=["--" if n in external else "-" for n in nodes],
        zorder=3,
    )
    node_boxes.set_gid("dependency-graph-nodes")
    ax.add_collection(node_boxes)
    for n, o in zip(nodes, outcomes, strict=True):
        ax.annotate(
            "\n".join(parts[n]), pos[n], xytext=pos[n], textcoords="data", ha="center",
            va="center", fontsize=font, zorder=4, linespacing=1.05,
            fontweight="bold" if n in roots else "normal",
            fontstyle="italic" if n in external else "normal",
            color="white" if o == "failed" else "black",
        )  # fmt: skip

    # Edge routes: from a port on the parent's bottom edge, down through the bend points
    # (a vertical stretch through each layer between, beside its nodes), to a port on the
    # child's top edge. Ports spread over a box's width in the order the edges leave.
    routes: dict[tuple[Hashable, Hashable], list[tuple[float, float]]] = {}
    first_x = {}
    last_x = {}
    for u, v in g.edges:
        bx = bends.get((u, v), [])
        first_x[(u, v)] = bx[0] if bx else pos[v][0]
        last_x[(u, v)] = bx[-1] if bx else pos[u][0]

    def ports(n: Hashable, edges: list[tuple[Hashable, Hashable]], toward: dict) -> dict:
        ordered = sorted(edges, key=lambda e: (toward[e], str(e)))
        span = widths[n] * 0.7
        k = len(ordered)
        return {
            e: pos[n][0] + (span * ((i + 0.5) / k - 0.5) if k > 1 else 0.0)
            for i, e in enumerate(ordered)
        }

    out_port: dict[tuple[Hashable, Hashable], float] = {}
    in_port: dict[tuple[Hashable, Hashable], float] = {}
    for n in nodes:
        out_port.update(ports(n, list(g.out_edges(n)), first_x))
        in_port.update(ports(n, list(g.in_edges(n)), last_x))
    layer_of = {n: round(-pos[n][1] / layer_h) for n in nodes}
    for u, v in g.edges:
        if layer_of[v] <= layer_of[u]:  # inside a cycle: straight, centre to centre
            routes[(u, v)] = [pos[u], pos[v]]
            continue
        points = [(out_port[(u, v)], pos[u][1] - box_h / 2)]
        for k, bx in enumerate(bends.get((u, v), []), start=1):
            y = -(layer_of[u] + k) * layer_h
            points += [(bx, y + box_h / 2), (bx, y - box_h / 2)]
        points.append((in_port[(u, v)], pos[v][1] + box_h / 2))
        routes[(u, v)] = points

    path = failure_path_edges(g)
    build_only = {e for e in g.edges if _build_only(g.edges[e].get("deptypes"))}
    normal = [e for e in g.edges if e not in path]
    red = [e for e in g.edges if e in path]
    dashed = (0, (4.0, 2.5))
    lc = LineCollection(
        [routes[e] for e in normal], colors=EDGE_COLOR, linewidths=1.0, zorder=1,
        linestyles=[dashed if e in build_only else "solid" for e in normal],
    )  # fmt: skip
    lc.set_gid("dependency-graph-edges")
    ax.add_collection(lc)
    if red:
        rc = LineCollection(
            [routes[e] for e in red], colors=FAILURE_PATH_COLOR, linewidths=2.6, zorder=2,
            linestyles=[dashed if e in build_only else "solid" for e in red],
        )  # fmt: skip
        rc.set_gid("failure-path")
        ax.add_collection(rc)
    head = max(4.0, 9.0 * scale)
    for e in g.edges:
        (x0, y0), (x1, y1) = routes[e][-2], routes[e][-1]
        length = max(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5, 1e-9)
        stub = min(0.15, length)
        start = (x1 - (x1 - x0) * stub / length, y1 - (y1 - y0) * stub / length)
        arrow = FancyArrowPatch(
            start, (x1, y1), arrowstyle="-|>", mutation_scale=head, shrinkA=0, shrinkB=0,
            color=FAILURE_PATH_COLOR if e in path else EDGE_COLOR, linewidth=0.8, zorder=2.5,
        )  # fmt: skip
        arrow.set_gid("dependency-graph-arrow")
        ax.add_patch(arrow)

    present = [o for o in _OUTCOME_ORDER if o in outcomes] + sorted(
        {o for o in outcomes if o not in _OUTCOME_ORDER}
    )
    names = (
        {"not built": "not built in these runs"}
        if isinstance(run, list)
        else {"not built": "not built in this run"}
        if run is not None
        else {}
    )
    handles: list[Any] = [
        Patch(facecolor=OUTCOME_COLORS.get(o, OUTCOME_COLORS["unknown"]), edgecolor="#333333",
              label=f"{names.get(o, o)} ({outcomes.count(o)})")
        for o in present
    ]  # fmt: skip
    handles.append(Patch(facecolor="white", edgecolor="#333333", linewidth=2.2,
                         label="root (thick border, bold)"))  # fmt: skip
    if external:
        handles.append(Patch(facecolor="white", edgecolor="#333333", linestyle="--",
                             label=f"external, not built by Spack ({len(external)})"))  # fmt: skip
    handles.append(Line2D([], [], color=EDGE_COLOR, lw=1.2, marker=">", markevery=[-1],
                          label="link/run dependency"))  # fmt: skip
    if build_only:
        handles.append(Line2D([], [], color=EDGE_COLOR, lw=1.2, linestyle=(0, (4.0, 2.5)),
                              label="build-only dependency"))  # fmt: skip
    if red:
        handles.append(Line2D([], [], color=FAILURE_PATH_COLOR, lw=2.6, label="failure path"))
    if beside:
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
            frameon=False,
        )  # fmt: skip
    else:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.04), ncols=2,
                  fontsize=7, frameon=False)  # fmt: skip
    # equal aspect: the boxes keep their shape; the limits grow in one direction to fill
    # the axes (the content stays centred)
    ax.update_datalim([(xlim[0], ylim[0]), (xlim[1], ylim[1])])
    ax.set_xmargin(0.0)
    ax.set_ymargin(0.0)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("arrows point from a dependent down to its dependencies", fontsize=8)
    return ax


def _truthy(value: Any) -> bool:
    try:
        import pandas as pd

        if value is None or pd.isna(value):
            return False
    except (TypeError, ValueError):
        pass
    return bool(value)


def _build_only(deptypes: Any) -> bool:
    """Whether an edge's deptypes (tuple or ``"build,link"`` text) are ``build`` alone."""
    if deptypes is None or (isinstance(deptypes, float) and deptypes != deptypes):
        return False
    given = deptypes.split(",") if isinstance(deptypes, str) else list(deptypes)
    kinds = {str(k).strip() for k in given if str(k).strip()}
    return kinds == {"build"}


# --------------------------------------------------------------------------------------------
# Frame based plots
# --------------------------------------------------------------------------------------------


def _as_labels(series: pandas.Series, missing: str = "<unknown>") -> pandas.Series:
    return series.astype("object").where(series.notna(), missing).astype(str)


def failure_counts(
    data: MonitorData, rows: str = "spec_name", cols: str = "compiler"
) -> tuple[pandas.DataFrame, pandas.DataFrame]:
    """``(failed, builds)``: root-cause failures and build records per (rows, cols) cell.

    The counts of :func:`spackmon_analysis.failures.failure_matrix`, as floats with NaN in
    both for a cell that had no build. ``ConfigError`` when ``rows``/``cols`` is not a
    builds column.
    """
    from .failures import failure_matrix

    _check_data(data, "failure_counts", "builds")
    _check_column(data, "failure_counts", "rows", rows)
    _check_column(data, "failure_counts", "cols", cols)
    builds = failure_matrix(data, rows, cols, value="builds")
    builds = builds.where(builds > 0).astype(float)
    failed = failure_matrix(data, rows, cols, value="failed").astype(float).where(builds.notna())
    return failed, builds


def _never_built_counts(
    data: MonitorData, rows: str, cols: str, like: pandas.DataFrame
) -> pandas.DataFrame:
    """Never-built (blocked) build records per cell, aligned with ``like``."""
    from .failures import failure_matrix

    blocked = failure_matrix(data, rows, cols, value="blocked")
    return blocked.reindex(index=like.index, columns=like.columns).fillna(0).astype(int)


def plot_failure_matrix(
    data: MonitorData,
    rows: str = "spec_name",
    cols: str = "compiler",
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.axes.Axes:
    """Heatmap of the failure rate (root-cause failures / build records) per ``rows`` x ``cols``.

    Each cell is annotated ``failed/builds``; a cell with no build is left blank. Rows and
    columns are any two ``builds`` columns (default package x compiler; axes are labelled
    with readable names: ``spec_name`` is "package"). A name that is not a ``builds`` column
    raises ``ConfigError`` naming the argument.

    Builds that never built (blocked by a failed dependency) are not successes: a cell
    with any is hatched in the never-built colour (gid ``"never-built"``) and its text
    gets a second line ``N never built``; a cell where nothing built at all is filled with
    that colour instead of the failure-rate scale. The legend explains both marks.
    """
    import numpy as np

    _check_data(data, "plot_failure_matrix", "builds")
    _check_column(data, "plot_failure_matrix", "rows", rows)
    _check_column(data, "plot_failure_matrix", "cols", cols)
    row_label, col_label = _COLUMN_LABELS.get(rows, rows), _COLUMN_LABELS.get(cols, cols)
    title = f"Root-cause failure rate by {row_label} and {col_label}"
    failed, builds = failure_counts(data, rows, cols)
    if ax is None:
        ax = _new_axes(
            (max(5.0, 1.6 * builds.shape[1] + 5.5), max(3.0, 0.42 * builds.shape[0] + 2.0))
        )
    if builds.empty:
        return _empty(ax, title, "no builds")
    blocked = _never_built_counts(data, rows, cols, builds)
    rate = (failed / builds).to_numpy(dtype=float)
    nothing_built = (blocked.to_numpy() >= builds.fillna(0).to_numpy()) & ~np.isnan(rate)
    masked = np.ma.masked_invalid(np.where(nothing_built, np.nan, rate))
    im = ax.imshow(masked, cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_facecolor("#d9d9d9")
    cbar = ax.figure.colorbar(im, ax=ax, fraction=0.08, pad=0.03)
    cbar.set_label("failure rate (root causes / builds)")
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Patch, Rectangle

    never = OUTCOME_COLORS["never built"]
    marks: list[Any] = []
    # NaN where no build has this row and column
    counts = builds.to_numpy(dtype=float, na_value=np.nan)
    failed_counts = failed.to_numpy(dtype=float, na_value=np.nan)
    blocked_counts = blocked.to_numpy(dtype=float, na_value=np.nan)
    for i in range(builds.shape[0]):
        for j in range(builds.shape[1]):
            n = counts[i, j]
            if np.isnan(n):
                continue
            k = int(failed_counts[i, j])
            nb = int(blocked_counts[i, j])
            text = f"{k}/{int(n)}" + (f"\n{nb} never built" if nb else "")
            if nb:
                marks.append(Rectangle((j - 0.5, i - 0.5), 1.0, 1.0))
            box = None
            if nb and not nothing_built[i, j]:  # keep the text legible over the hatching
                box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85}
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, linespacing=1.0,
                color="white" if rate[i, j] > 0.6 and box is None else "black", bbox=box,
                zorder=3,
            )  # fmt: skip
    handles: list[Any] = [Patch(facecolor="#d9d9d9", edgecolor="#999999", label="no builds")]
    if marks:
        full = [
            Rectangle((j - 0.5, i - 0.5), 1.0, 1.0)
            for i, j in zip(*np.nonzero(nothing_built), strict=True)
        ]
        if full:
            filled = PatchCollection(full, facecolor=never, edgecolor="none", zorder=1.5)
            filled.set_gid("never-built-only")
            ax.add_collection(filled)
        hatch = PatchCollection(
            marks, facecolor="none", edgecolor=never, hatch="///", linewidth=0.0, zorder=2
        )
        hatch.set_gid("never-built")
        ax.add_collection(hatch)
        handles = [
            Patch(facecolor=never, edgecolor="none", label="nothing built (all blocked)"),
            Patch(facecolor="white", edgecolor=never, hatch="///",
                  label="some builds never built\n(blocked by a failed dependency)"),
            *handles,
        ]  # fmt: skip
    ax.set_xticks(range(builds.shape[1]), [str(c) for c in builds.columns])
    ax.set_yticks(range(builds.shape[0]), [str(r) for r in builds.index])
    ax.set_xlim(-0.5, builds.shape[1] - 0.5)
    ax.set_ylim(builds.shape[0] - 0.5, -0.5)
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    _legend_below(ax, handles)
    _set_title(ax, title + "\n(annotated: failures/builds)")
    return ax


def plot_phase_outcomes(
    data: MonitorData, ax: matplotlib.axes.Axes | None = None
) -> matplotlib.axes.Axes:
    """Stacked bars per phase name: how many phases ended SUCCESS and how many ERROR.

    Phases are in Spack's order (``spackfacts.CANONICAL_PHASES``, merged from the phases of
    every build system: autoreconf, cmake, ..., configure, edit, build, install); a phase
    name Spack does not have there goes after the known phase it follows in the builds
    (median ``order``, :func:`~spackmon_analysis.spackfacts.sort_phase_names`).
    Statuses other than
    SUCCESS/ERROR, if any, are stacked as ``other``. The ERROR count is written inside its
    segment when the segment is tall enough to hold it, else in red above the bar.
    """
    import pandas as pd

    _check_data(data, "plot_phase_outcomes", "phases")
    title = "Phase outcomes"
    ph = data.phases
    if ax is None:
        n = int(ph["name"].nunique()) if len(ph) else 1
        ax = _new_axes((max(5.0, 0.9 * n + 3.5), 4.0))
    if ph.empty:
        return _empty(ax, title, "no phases recorded")
    status = ph["status"].astype("object").where(ph["status"].isin(["SUCCESS", "ERROR"]), "other")
    frame = pd.DataFrame({"name": ph["name"].astype(str), "status": status})
    counts = frame.groupby(["name", "status"]).size().unstack("status", fill_value=0)
    order = (
        pd.DataFrame(
            {"name": ph["name"].astype(str), "order": pd.to_numeric(ph["order"], errors="coerce")}
        )
        .groupby("name")["order"]
        .median()
    )
    names = _spack_phase_order(list(counts.index), order)
    counts = counts.reindex(names)
    totals = counts.sum(axis=1)
    top = float(totals.max()) or 1.0
    # a segment holds its count when it is at least ~14 pt tall on a 4-inch axes
    min_inside = 0.07 * top
    bottom = pd.Series(0, index=counts.index)
    x = list(range(len(names)))
    for st in ["SUCCESS", "ERROR", "other"]:
        if st not in counts:
            continue
        vals = counts[st]
        bars = ax.bar(
            x, vals, bottom=bottom, color=PHASE_STATUS_COLORS[st], label=st, edgecolor="white"
        )
        if st == "ERROR":
            inside = [str(int(v)) if v >= min_inside else "" for v in vals]
            ax.bar_label(bars, labels=inside, label_type="center", color="white", fontsize=9)
            for xi, v, total in zip(x, vals, totals, strict=True):
                if 0 < v < min_inside:
                    ax.annotate(
                        f"{int(v)} ERROR", (xi, total), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8, color=PHASE_STATUS_COLORS["ERROR"],
                        fontweight="bold",
                    )  # fmt: skip
        bottom = bottom + vals
    ax.set_ylim(0, top * 1.12)
    ax.set_xticks(
        x,
        names,
        rotation=30 if len(names) > 6 else 0,
        ha="right" if len(names) > 6 else "center",
    )
    ax.set_xlabel("phase")
    ax.set_ylabel("phases recorded")
    _set_title(ax, title)
    ax.legend(title="status", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def _legend_below(ax: matplotlib.axes.Axes, handles: list[Any]) -> None:
    """A legend under the plot: a figure legend in the space constrained layout keeps for
    it when this axes is the figure's only plot (besides colour bars), else on the axes."""
    fig = ax.figure
    plots_in_fig = [a for a in fig.axes if a is ax or not hasattr(a, "_colorbar")]
    if fig.get_layout_engine() is not None and plots_in_fig == [ax]:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
                   fontsize=8, frameon=False)  # fmt: skip
    else:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12),
                  ncols=len(handles), fontsize=8, frameon=False)  # fmt: skip


def _spack_phase_order(names: list[str], order: pandas.Series) -> list[str]:
    """Phase names in Spack's order (:func:`~spackmon_analysis.spackfacts.sort_phase_names`,
    unknown names placed by their median ``order``)."""
    return sort_phase_names(names, {str(name): value for name, value in order.items()})


def plot_error_classes(
    data: MonitorData,
    ax: matplotlib.axes.Axes | None = None,
    *,
    count: str = "builds",
) -> matplotlib.axes.Axes:
    """Horizontal bars per failure class (``unclassified`` in grey).

    ``count="builds"`` (default): one class per root-cause failure, its summary class (the
    ``error_class`` of :func:`spackmon_analysis.failures.failures`, the class of highest
    precedence among its errors: the "Failure classes of the root causes" of the text
    report), so the make lines that follow a compiler error do not outweigh it.
    ``count="events"``: every error event by its ``primary_class`` (warnings excluded).
    """
    _check_data(data, "plot_error_classes", "builds", "events")
    if count not in ("builds", "events"):
        raise ConfigError(f"plot_error_classes(count={count!r}): use 'builds' or 'events'")
    if count == "builds":
        from .failures import failures

        title = "Failure classes of the root causes"
        xlabel = "root-cause failures (one class per failed build)"
        found = failures(data)
        causes = found[found["role"] == "root cause"]
        counts = (
            _as_labels(causes["error_class"], "unclassified").value_counts()
            if len(causes)
            else None
        )
        nothing = "no root-cause failures"
    else:
        title = "Error events by failure class"
        xlabel = "error events"
        ev = data.events
        errors = ev[ev["kind"].astype("object") == "error"] if len(ev) else ev
        counts = (
            _as_labels(errors["primary_class"], "unclassified").value_counts()
            if len(errors)
            else None
        )
        nothing = "no error events"
    if ax is None:
        ax = _new_axes((7.0, max(2.5, 0.45 * (0 if counts is None else len(counts)) + 1.5)))
    if counts is None or counts.empty:
        return _empty(ax, title, nothing)
    counts = counts.sort_values(kind="stable")  # largest at the top
    colors = ["#bdbdbd" if c == "unclassified" else OUTCOME_COLORS["failed"] for c in counts.index]
    bars = ax.barh(list(counts.index), counts.to_numpy(), color=colors)
    ax.bar_label(bars, padding=3, fontsize=9)
    from matplotlib.ticker import MaxNLocator

    locator = ax.xaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # the default AutoLocator is one; whole counts only
        locator.set_params(integer=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("failure class")
    _set_title(ax, title)
    ax.margins(x=0.15)
    return ax


def plot_build_times(
    data: MonitorData, ax: matplotlib.axes.Axes | None = None
) -> matplotlib.axes.Axes:
    """Total phase duration per package: median over its builds (bar) and each build (dots;
    red for a failed build, whose total covers the phases up to the error).

    A build's total is the sum of its known phase durations (``phases.duration``); builds
    without any known duration are left out. With no durations at all, the axes explain so.

    The x-axis label says what the figure covers (:data:`DURATION_BASIS`). Durations from
    log timestamps (save-local and server data) cover each phase from its first to its
    last ``==> [time]`` line only: staging, build-environment setup, the time between
    phases (the monitor hooks) and post-install are not in them, so the total is shorter
    than the "Build: X s" Spack prints (65% of it on a real Spack 0.17.1 build; see
    ``docs/analysis.md``, "What build times cover"). Durations of install trees come from
    Spack's ``install_times.json`` phase timers.
    """
    import numpy as np
    import pandas as pd

    _check_data(data, "plot_build_times", "builds", "phases")
    title = "Build time per package (sum of phase durations)"
    ph = data.phases
    dur = ph.dropna(subset=["duration"]) if len(ph) else ph
    if dur.empty:
        if ax is None:
            ax = _new_axes((7.0, 3.0))
        return _empty(
            ax, title,
            "no phase durations known\n(install_times.json or timestamps in the phase output are needed)",
        )  # fmt: skip
    per_build = dur.groupby(dur["build"].astype(str))["duration"].sum()
    b = data.builds.set_index(data.builds["build"].astype(str))
    names = _as_labels(b["spec_name"]).reindex(per_build.index).fillna("<unknown>")
    failed = b["outcome"].astype("object").reindex(per_build.index) == "failed"
    frame = pd.DataFrame(
        {"package": names.to_numpy(), "seconds": per_build.to_numpy(), "failed": failed.to_numpy()}
    )
    minutes = float(np.nanmax(frame["seconds"])) >= 600
    unit = "minutes" if minutes else "seconds"
    if minutes:
        frame["seconds"] = frame["seconds"] / 60.0
    med = frame.groupby("package")["seconds"].median().sort_values(kind="stable")
    if ax is None:
        ax = _new_axes((7.5, max(2.5, 0.35 * len(med) + 1.5)))
    y = {p: i for i, p in enumerate(med.index)}
    ax.barh(list(med.index), med.to_numpy(), color="#6baed6", label="median over builds")
    for is_failed, part in frame.groupby("failed"):
        ax.scatter(
            part["seconds"], [y[p] for p in part["package"]], s=16, zorder=3,
            color=OUTCOME_COLORS["failed"] if is_failed else "#08306b",
            label="failed build (phases until the error)" if is_failed else "one build",
        )  # fmt: skip
    sources = b["source"].astype("object").reindex(per_build.index) if "source" in b else None
    basis = _duration_basis(sources)
    ax.set_xlabel(f"total phase duration ({unit})" + (f"\n{basis}" if basis else ""), fontsize=9)
    ax.set_ylabel("package")
    _set_title(ax, title)
    ax.legend(frameon=False, loc="lower right", fontsize=8)
    return ax


#: What the phase durations of each kind of source cover (the x-axis note of
#: :func:`plot_build_times`).
DURATION_BASIS: dict[str, str] = {
    "stamps": (
        "inside the phases only: each phase's first to last log timestamp; staging, "
        "environment setup, the gaps between phases and post-install are not included, "
        "so Spack's own 'Build:' time is longer"
    ),
    "install": "Spack's install_times.json phase timers",
}
_STAMP_SOURCES = frozenset({"save-local", "server", "database"})


def _duration_basis(sources: pandas.Series | None) -> str:
    """The note on what the plotted durations cover, wrapped for an axis label."""
    import textwrap

    kinds = set() if sources is None else {str(s) for s in sources.dropna()}
    notes = []
    if kinds & _STAMP_SOURCES or not kinds:
        notes.append(DURATION_BASIS["stamps"])
    if "install" in kinds:
        notes.append(DURATION_BASIS["install"])
    text = "; ".join(notes)
    if len(notes) > 1:
        text = f"save-local/server: {notes[0]}; install trees: {notes[1]}"
    return "\n".join(textwrap.wrap(text, 95))


# --------------------------------------------------------------------------------------------
# History: failure trends and a build key's timeline
# --------------------------------------------------------------------------------------------


def plot_failure_trends(
    data: MonitorData,
    freq: str = "D",
    by: str | None = "spec_name",
    *,
    top: int = 8,
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.axes.Axes:
    """Failure rate per day or week (:func:`spackmon_analysis.history.failure_trends`): one
    line per ``by`` group (the ``top`` groups with the most root-cause failures; the others
    are left out and the title says how many), or one line for every attempt with
    ``by=None``. A marker per period with attempts; the legend gives each group's failures.
    """
    from .history import failure_trends

    _check_data(data, "plot_failure_trends", "attempts")
    trends = failure_trends(data, freq=freq, by=by)
    unit = "week" if trends.attrs.get("freq") == "W" else "day"
    what = f" by {_COLUMN_LABELS.get(by, by)}" if by else ""
    title = f"Failure rate per {unit}{what} (root causes / attempts)"
    if ax is None:
        ax = _new_axes((8.0, 4.0))
    if not len(trends) or int(trends["failed"].sum()) == 0:
        message = "no dated attempts" if not len(trends) else "no root-cause failure in the history"
        return _empty(ax, title, message)
    if by is None:
        groups = [(None, trends)]
        left_out = 0
    else:
        totals = trends.groupby(by)["failed"].sum().sort_values(ascending=False, kind="stable")
        chosen = [g for g in totals.index if totals[g] > 0][: max(1, int(top))]
        left_out = int((totals > 0).sum()) - len(chosen)
        groups = [(g, trends[trends[by] == g]) for g in chosen]
    for name, part in groups:
        label = "every attempt" if name is None else str(name)
        label += f" ({int(part['failed'].sum())} failed)"
        ax.plot(part["period"], part["failure_rate"], marker="o", markersize=4, label=label)
    if left_out:
        title += f"; {left_out} other group(s) with failures not shown"
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("failure rate")
    ax.set_xlabel(f"{unit} (UTC)")
    ax.figure.autofmt_xdate()
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    _set_title(ax, title)
    return ax


def plot_timeline(
    data: MonitorData, key: str | None = None, *, ax: matplotlib.axes.Axes | None = None
) -> matplotlib.axes.Axes:
    """One build key's history (:func:`spackmon_analysis.history.timeline`): its phase times
    stacked per attempt, each bar edged in its outcome colour, an ``N new`` / ``N fixed`` note
    above an attempt whose errors changed, and the slow-phase flags of
    :func:`~spackmon_analysis.history.slow_phases` as ``!`` marks.
    ``key`` is a build key label (``history.attempt_table(data)["key"]``).

    Without ``key``: the build key with the most attempts
    (:func:`~spackmon_analysis.history.busiest_keys`: then the most failed attempts, the
    most outcome changes, the label), named in the title with how many keys have a
    history; one key per plot keeps each attempt's phase bars readable (draw the others
    with ``busiest_keys(data)``). With no build key of two attempts or more, the axes say
    there is no history."""
    import numpy as np
    from matplotlib import colormaps

    from .history import busiest_keys, slow_phases, timeline

    _check_data(data, "plot_timeline", "attempts")
    chosen = ""
    if key is None:
        keys = busiest_keys(data)
        if not keys:
            if ax is None:
                ax = _new_axes((8.0, 3.8))
            return _empty(
                ax,
                "Build history",
                "no build key has two attempts or more: no history to draw",
            )
        key = keys[0]
        others = len(keys) - 1
        chosen = (
            f" (the build key with the most attempts; {others} other key(s) with a history)"
            if others
            else " (the one build key with a history)"
        )
    frame = timeline(data, key)
    title = f"History of {key}{chosen}"
    if ax is None:
        ax = _new_axes((8.0, 3.8))
    if not len(frame):
        return _empty(ax, title, "no attempt of this build key ran")
    fixed = {"key", "seq", "attempt", "started_at", "outcome", "duration", "new_errors"}
    phases = [c for c in frame.columns if c not in fixed and c != "fixed_errors"]
    x = np.arange(len(frame))
    bottom = np.zeros(len(frame))
    cmap = colormaps["tab10"]
    for i, name in enumerate(phases):
        values = frame[name].fillna(0.0).to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, color=cmap(i % 10), label=name, width=0.7)
        bottom += values
    edge = [OUTCOME_COLORS.get(o, OUTCOME_COLORS["unknown"]) for o in frame["outcome"]]
    ax.bar(x, bottom, fill=False, edgecolor=edge, linewidth=2.0, width=0.7)
    top = float(bottom.max()) if len(bottom) else 1.0
    for xi, (new, gone) in enumerate(zip(frame["new_errors"], frame["fixed_errors"], strict=True)):
        notes = ([f"{new} new"] if new else []) + ([f"{gone} fixed"] if gone else [])
        if notes:
            ax.text(xi, bottom[xi] + top * 0.02, "\n".join(notes), ha="center", va="bottom",
                    fontsize=7, color=OUTCOME_COLORS["failed"] if new else FIXED_ERROR_COLOR)  # fmt: skip
    slow = slow_phases(data)
    slow = slow[slow["key"] == key]
    flagged = set(slow["attempt"])
    for xi, attempt in enumerate(frame["attempt"]):
        if attempt in flagged:
            ax.text(xi, top * 1.12, "!", ha="center", color=FAILURE_PATH_COLOR, fontweight="bold")
    ax.set_ylim(0, top * 1.25)
    ax.set_xticks(x, [str(s) for s in frame["seq"]])
    ax.set_xlabel("attempt (bar edge: outcome; ! slower than usual)")
    ax.set_ylabel("phase seconds")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    _set_title(ax, title)
    return ax
