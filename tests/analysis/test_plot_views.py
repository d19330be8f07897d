"""Views on the bundled example data: never-built packages in the failure matrix, phases in
Spack's order, titles that are never clipped."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from spackmon_analysis import plots
from spackmon_analysis.frames import load_save_local
from spackmon_analysis.spackfacts import CANONICAL_PHASES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "spackmon_analysis" / "data" / "examples"


@pytest.fixture(scope="module")
def example():
    return load_save_local(EXAMPLES / "save-local")


def _never_built_cells() -> dict[tuple[str, str], tuple[int, int]]:
    """(package, compiler) -> (never built, builds) from the example's manifest."""
    cells: dict[tuple[str, str], list[int]] = {}
    for run in json.loads((EXAMPLES / "manifest.json").read_text())["runs"]:
        for pkg, b in run["builds"].items():
            cell = cells.setdefault((pkg, run["compiler"]), [0, 0])
            cell[0] += b["status"] == "FAILED" and "ERROR" not in b["phases"].values()
            cell[1] += 1
    return {k: (v[0], v[1]) for k, v in cells.items() if v[0]}


def test_never_built_packages_do_not_look_like_successes(example) -> None:
    cells = _never_built_cells()
    assert cells == {("hdf5", "gcc@12.2.0"): (2, 2), ("python", "clang@14.0.6"): (1, 2)}
    ax = plots.plot_failure_matrix(example)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    marked = {
        (round(p.get_extents().x0), round(p.get_extents().y0))
        for c in ax.collections
        if c.get_gid() == "never-built"
        for p in c.get_paths()
    }
    hatched = next(c for c in ax.collections if c.get_gid() == "never-built")
    assert hatched.get_hatch() == "///"
    assert tuple(hatched.get_edgecolor()[0]) == to_rgba(plots.OUTCOME_COLORS["never built"])
    filled = next(c for c in ax.collections if c.get_gid() == "never-built-only")
    assert tuple(filled.get_facecolor()[0]) == to_rgba(plots.OUTCOME_COLORS["never built"])
    assert len(filled.get_paths()) == 1  # hdf5 with gcc: nothing built at all
    texts = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }
    for (pkg, compiler), (nb, _n) in cells.items():
        i, j = rows.index(pkg), cols.index(compiler)
        assert texts[(i, j)].endswith(f"\n{nb} never built")
    assert len(marked) == len(cells)
    legend = [t.get_text() for t in ax.figure.legends[0].get_texts()]
    assert "nothing built (all blocked)" in legend
    assert any(t.startswith("some builds never built") for t in legend)


def test_phase_outcomes_in_spacks_order(example) -> None:
    ax = plots.plot_phase_outcomes(example)
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert set(names) == set(example.phases["name"].astype(str))
    assert names == sorted(names, key=CANONICAL_PHASES.index)
    assert names.index("edit") < names.index("build") < names.index("install")
    assert names.index("autoreconf") < names.index("configure")


def _assert_title_inside(ax) -> None:
    fig = ax.figure
    fig.canvas.draw()
    box = ax.title.get_window_extent(fig.canvas.get_renderer())
    assert box.width > 0
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, (ax.get_title(), box, fig.bbox)
    assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, (ax.get_title(), box, fig.bbox)


def test_titles_are_never_clipped(example) -> None:
    import matplotlib.pyplot as plt

    from spackmon_analysis.report import GRAPH_OPTIONS, _figure, _size

    small = example.filter(package=["openmpi", "hdf5", "zlib"])
    for data in (example, small):
        for name in ("plot_failure_matrix", "plot_phase_outcomes", "plot_error_classes",
                     "plot_build_times", "plot_dependency_graph"):  # fmt: skip
            ax = getattr(plots, name)(data)
            _assert_title_inside(ax)
            plt.close(ax.figure)
    # the report's figures (fixed sizes), the graph cut to the failures with a long title
    for stem, function in (("dependency-graph", "plot_dependency_graph"),
                           ("failure-matrix", "plot_failure_matrix")):  # fmt: skip
        fig = _figure(_size(stem, example))
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
        options = GRAPH_OPTIONS if stem == "dependency-graph" else {}
        ax = getattr(plots, function)(example, ax=fig.add_subplot(), **options)
        _assert_title_inside(ax)
    # a narrow figure and a long title: wrapped, not cut
    fig, ax = plt.subplots(figsize=(3.0, 3.0), layout="constrained")
    plots.plot_dependency_graph(example, ax=ax)
    _assert_title_inside(ax)
    plt.close(fig)


# ------------------------------------------------------------------------------------------
# the dependency graph: routed edges, arrows, edge and node styles, a 90-node DAG
# ------------------------------------------------------------------------------------------


def _boxes(ax) -> list:
    """Data-space extents of the node boxes, in drawing order."""
    nodes = next(c for c in ax.collections if c.get_gid() == "dependency-graph-nodes")
    return [p.get_extents() for p in nodes.get_paths()]


def _node_labels(ax) -> list:
    return [t for t in ax.texts if getattr(t, "xy", None) is not None]


def _polylines(ax) -> list:
    lines = []
    for c in ax.collections:
        if c.get_gid() in ("dependency-graph-edges", "failure-path"):
            lines += [np.asarray(seg) for seg in c.get_segments()]
    return lines


def _segment_hits_box(p, q, box, shrink: float = 1e-6) -> bool:
    """Whether the segment p-q enters the inside of ``box`` (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = box.x0 + shrink, box.y0 + shrink, box.x1 - shrink, box.y1 - shrink
    dx, dy = q[0] - p[0], q[1] - p[1]
    t0, t1 = 0.0, 1.0
    for d, lo, hi, start in ((dx, x0, x1, p[0]), (dy, y0, y1, p[1])):
        if abs(d) < 1e-12:
            if not lo < start < hi:
                return False
            continue
        a, b = (lo - start) / d, (hi - start) / d
        t0, t1 = max(t0, min(a, b)), min(t1, max(a, b))
        if t0 >= t1:
            return False
    return t1 - t0 > 1e-9


def _crossings_of_boxes(ax) -> list:
    boxes = _boxes(ax)
    hits = []
    for line in _polylines(ax):
        start, end = line[0], line[-1]
        own = [
            i for i, b in enumerate(boxes)
            if b.x0 - 1e-6 <= start[0] <= b.x1 + 1e-6 and abs(start[1] - b.y0) < 1e-6
            or b.x0 - 1e-6 <= end[0] <= b.x1 + 1e-6 and abs(end[1] - b.y1) < 1e-6
        ]  # fmt: skip
        for p, q in zip(line[:-1], line[1:], strict=True):
            for i, b in enumerate(boxes):
                if i not in own and _segment_hits_box(p, q, b):
                    hits.append((tuple(p), tuple(q), i))
    return hits


def _label_overlaps(ax) -> list:
    fig = ax.figure
    if not hasattr(fig.canvas, "get_renderer"):  # a closed pyplot figure (write_plots)
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = _node_labels(ax)
    extents = [t.get_window_extent(renderer) for t in labels]
    boxes = [ax.transData.transform(np.array([[b.x0, b.y0], [b.x1, b.y1]])) for b in _boxes(ax)]
    out = [
        (labels[i].get_text(), labels[j].get_text())
        for i in range(len(extents))
        for j in range(i + 1, len(extents))
        if extents[i].overlaps(extents[j])
    ]
    # each label inside its own box (so boxes apart means labels apart)
    for t, e, (lo, hi) in zip(labels, extents, boxes, strict=True):
        if not (
            lo[0] - 1 <= e.x0 and e.x1 <= hi[0] + 1 and lo[1] - 1 <= e.y0 and e.y1 <= hi[1] + 1
        ):
            out.append((t.get_text(), "outside its box"))
    return out


def test_graph_of_90_nodes_is_legible_at_the_default_size() -> None:
    import matplotlib.pyplot as plt

    from spackmon_analysis.spec import load_spec
    from spackmon_analysis.synth import generate_spec_document

    spec = load_spec(generate_spec_document(90, era="v4", seed=1))
    assert len(spec) == 90
    ax = plots.plot_dependency_graph(spec)  # the default size: no ax given
    labels = _node_labels(ax)
    assert len(labels) == 90 and len(_boxes(ax)) == 90
    assert _crossings_of_boxes(ax) == []
    assert _label_overlaps(ax) == []
    assert min(t.get_fontsize() for t in labels) >= 6.0  # readable at 100 dpi
    # every edge drawn, with an arrow head at the dependency
    assert len(_polylines(ax)) == len(spec.edges)
    arrows = [p for p in ax.patches if p.get_gid() == "dependency-graph-arrow"]
    assert len(arrows) == len(spec.edges)
    # long edges bend around the layers between: more points than a straight line
    assert sum(len(line) > 2 for line in _polylines(ax)) > 0
    _assert_title_inside(ax)
    plt.close(ax.figure)


def test_graph_edges_avoid_nodes_in_the_example(example) -> None:
    """The demo's run where openmpi fails: openmpi -> zlib spans two layers and must not run
    through numactl or libxml2 (it did: it read as an edge that does not exist)."""
    run = next(r for r in example.runs if "2026-11-21" in r)
    ax = plots.plot_dependency_graph(example, run=run)
    assert _crossings_of_boxes(ax) == []
    assert _label_overlaps(ax) == []
    ax = plots.plot_dependency_graph(example.graph())  # every run at once, 40 nodes
    assert _crossings_of_boxes(ax) == []
    assert _label_overlaps(ax) == []


def test_graph_marks_build_only_edges_externals_and_has_a_legend() -> None:
    from spackmon_analysis.spec import load_spec

    spec = load_spec(ROOT / "tests" / "data" / "specs" / "tinyapp-spack-0.22.1.json")
    ax = plots.plot_dependency_graph(spec)
    edges = next(c for c in ax.collections if c.get_gid() == "dependency-graph-edges")
    styles = edges.get_linestyles()
    build_only = [e for e in spec.edges if set(e.deptypes) == {"build"}]
    assert build_only and len(build_only) < len(spec.edges)
    dashed = [s for s in styles if s[1] is not None]
    assert len(dashed) == len(build_only)
    nodes = next(c for c in ax.collections if c.get_gid() == "dependency-graph-nodes")
    externals = [n for n in spec.nodes.values() if n.external]
    assert externals  # glibc and gmake are externals in 0.22.1
    assert sum(ls[1] is not None for ls in nodes.get_linestyles()) == len(externals)
    italic = {
        t.get_text().split("\n")[0] for t in _node_labels(ax) if t.get_fontstyle() == "italic"
    }
    assert italic == {n.name for n in externals}
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "build-only dependency" in legend and "link/run dependency" in legend
    assert f"external, not built by Spack ({len(externals)})" in legend


@pytest.fixture(scope="module")
def report_plots(example, tmp_path_factory: pytest.TempPathFactory) -> tuple[list, list, Path]:
    """``write_plots(example)`` once for the two tests below: the axes it got back from
    ``plot_dependency_graph`` (a spy), the paths it wrote, and the folder; run with pyplot
    forbidden (``plots._new_axes`` raises) and warnings as errors (a fallback chart warns)."""
    import warnings

    from spackmon_analysis import report as R  # noqa: N812

    drawn: list = []
    real = plots.plot_dependency_graph

    def spy(*args, **kwargs):
        drawn.append(real(*args, **kwargs))
        return drawn[-1]

    def no_pyplot(*args, **kwargs):
        raise AssertionError("pyplot figure opened")

    out = tmp_path_factory.mktemp("report-plots")
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        mp.setattr(plots, "plot_dependency_graph", spy)
        mp.setattr(plots, "_new_axes", no_pyplot)
        warnings.simplefilter("error")
        paths = R.write_plots(example, out)
    return drawn, paths, out


def test_report_graph_covers_every_failing_run(example, report_plots) -> None:
    """The save-local report's graph draws every run that had a failure: openmpi failed
    in two runs and sqlite in a third (the latest run alone shows only openmpi)."""
    from spackmon_analysis import report as R  # noqa: N812

    drawn, _paths, _out = report_plots
    (ax,) = drawn
    found = R.failures(example)
    causes = found[found["role"] == "root cause"]
    failing = list(dict.fromkeys(causes["run"]))
    assert len(failing) == 3 and R.failing_runs(example) == failing
    nodes = {t.get_text().split("\n")[0]: t for t in _node_labels(ax)}
    for name in set(causes["spec_name"]) | set(found.loc[found["role"] == "blocked", "spec_name"]):
        assert name in nodes, name
    # openmpi failed in two of them: said on its box; both failures coloured as such
    assert "failed in 2 runs" in nodes["openmpi"].get_text()
    boxes = next(c for c in ax.collections if c.get_gid() == "dependency-graph-nodes")
    red = to_rgba(plots.OUTCOME_COLORS["failed"])
    assert sum(tuple(c) == red for c in boxes.get_facecolors()) == 2  # openmpi and sqlite
    assert f"{len(failing)} runs together" in ax.get_title()
    assert _crossings_of_boxes(ax) == [] and _label_overlaps(ax) == []


def test_report_draws_the_graph_without_pyplot(example, report_plots) -> None:
    """write_plots sizes a plain Figure to the graph (plots.dependency_graph_size) instead of
    letting the view open a pyplot figure: no view falls back to the simple chart (the
    fixture's write_plots ran with pyplot forbidden and warnings as errors)."""
    from spackmon_analysis import report as R  # noqa: N812

    _drawn, paths, out = report_plots
    assert len(paths) == len(R.plot_stems(example))
    options = R._graph_options(example)
    width, height = plots.dependency_graph_size(example, **options)
    from PIL import Image

    with Image.open(out / "dependency-graph.png") as png:
        assert png.size == (round(width * 100), round(height * 100))


def test_several_runs_need_monitor_data(example) -> None:
    from spackmon_analysis.errors import ConfigError

    with pytest.raises(ConfigError, match=r"run=\[\.\.\.\]\): several runs .* not a DiGraph"):
        plots.plot_dependency_graph(example.graph(), run=["a", "b"])
    # one run in a list is that run
    run = example.runs[1]
    ax = plots.plot_dependency_graph(example, run=[run])
    assert ax.get_title().endswith(f"run {run}")


def test_repeated_node_label_shows_the_dag_hash_spack_shows() -> None:
    """Two builds of one ``name@version`` with one compiler are told apart by ``/hash``:
    the DAG hash of the prefix name and ``spack find -l`` (real Spack 0.17.1 files, whose
    graph keys are full hashes), not the full hash nobody can look up."""
    import matplotlib.pyplot as plt

    from spackmon_analysis import load

    data = load(Path(__file__).parents[1] / "data" / "installs" / "v0.17.1")
    g = data.graph()
    real = next(n for n, a in g.nodes(data=True) if a.get("name") == "tinyutil")
    assert real.startswith("cznsrdg") and g.nodes[real]["dag_hash"].startswith("o3dvqdi")
    twin = "x" * 32  # another concretization of tinyutil@2.1%gcc@12.2.0
    g.add_node(twin, **{**g.nodes[real], "full_hash": twin, "dag_hash": "y" * 32})
    fig, ax = plt.subplots()
    plots.plot_dependency_graph(g, ax=ax)
    texts = [t.get_text().replace("\n", "") for t in _node_labels(ax)]
    plt.close(fig)
    assert "tinyutil@2.1/o3dvqdi" in texts and "tinyutil@2.1/yyyyyyy" in texts
    assert not any("cznsrdg" in t for t in texts)
