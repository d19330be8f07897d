"""plots.py: what a user sees in the figures (node colours, layers, failure path, matrix cells).

The small hand-built data follows the frame contract of docs/analysis.md; the example-data
tests read the six bundled save-local runs through ``frames.load_save_local`` and check the
figures against ``examples/data/manifest.json`` directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spackmon_analysis import plots  # noqa: E402
from spackmon_analysis.errors import ConfigError, UnknownKeyError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"
OUTCOMES = ["succeeded", "failed", "never built", "unknown"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------------------------------
# A MonitorData-shaped object built by hand (frames per the contract, graph() per the contract)
# ------------------------------------------------------------------------------------------

#: package -> (version, compiler, dependencies)
SPECS = {
    "app": ("1.0", "gcc@12.2.0", ["lib", "mpi"]),
    "mpi": ("4.1.1", "gcc@12.2.0", ["hwloc"]),
    "lib": ("2.0", "gcc@12.2.0", ["zlib"]),
    "hwloc": ("2.6.0", "gcc@12.2.0", ["zlib"]),
    "zlib": ("1.2.11", "gcc@12.2.0", []),
    "tool": ("0.1", "clang@14.0.6", []),
}
#: (run, package, status, phase statuses, phase durations)
BUILDS = [
    ("r1", "zlib", "SUCCESS", ["SUCCESS", "SUCCESS"], [1.0, 2.0]),
    ("r1", "hwloc", "SUCCESS", ["SUCCESS", "SUCCESS"], [3.0, 4.0]),
    ("r1", "lib", "SUCCESS", ["SUCCESS", "SUCCESS"], [5.0, 6.0]),
    ("r1", "mpi", None, ["SUCCESS", "ERROR"], [7.0, 8.0]),
    ("r1", "app", "FAILED", [], []),
    ("r1", "tool", "SUCCESS", ["SUCCESS"], [0.5]),
    ("r2", "mpi", "SUCCESS", ["SUCCESS", "SUCCESS"], [7.0, 9.0]),
    ("r2", "app", "SUCCESS", ["SUCCESS", "SUCCESS"], [1.0, 1.0]),
]
PHASE_NAMES = ["configure", "build"]


def _hash(name: str) -> str:
    return (name * 32)[:32]


class FakeData(SimpleNamespace):
    def graph(self, run: str | None = None) -> nx.DiGraph:
        g = nx.DiGraph()
        for row in self.specs.to_dict("records"):
            g.add_node(row["full_hash"], **row, status=pd.NA, outcome="not built")
        for row in self.dependencies.to_dict("records"):
            g.add_edge(row["parent_hash"], row["child_hash"], deptypes=row["deptypes"])
        b = self.builds if run is None else self.builds[self.builds["run"] == run]
        for row in b.sort_values(["run_time", "build"]).to_dict("records"):
            g.nodes[row["full_hash"]].update(status=row["status"], outcome=row["outcome"])
        return g


def make_data(builds=BUILDS) -> FakeData:
    specs = pd.DataFrame(
        {
            "full_hash": [_hash(n) for n in SPECS],
            "name": list(SPECS),
            "version": [v for v, _, _ in SPECS.values()],
            "compiler": pd.Categorical([c for _, c, _ in SPECS.values()]),
        }
    ).astype({"full_hash": "string", "name": "string", "version": "string"})
    deps = pd.DataFrame(
        [(_hash(p), _hash(c), p, c, "build,link") for p, (_, _, ds) in SPECS.items() for c in ds],
        columns=["parent_hash", "child_hash", "parent_name", "child_name", "deptypes"],
    ).astype("string")
    brows, prows, erows = [], [], []
    for i, (run, pkg, status, phases, durations) in enumerate(builds):
        key = f"{i:032x}"
        error = "ERROR" in phases
        outcome = (
            "failed"
            if error
            else "succeeded"
            if status == "SUCCESS"
            else "never built"
            if status in ("FAILED", "CANCELLED")
            else "unknown"
        )
        brows.append(
            {
                "build": key,
                "run": run,
                "run_time": pd.Timestamp("2026-11-20", tz="UTC") + pd.Timedelta(days=int(run[1:])),
                "full_hash": _hash(pkg),
                "spec_name": pkg,
                "spec_version": SPECS[pkg][0],
                "compiler": SPECS[pkg][1],
                "status": status,
                "outcome": outcome,
                "duration": float(sum(durations)) if durations else np.nan,
            }
        )
        for order, (st, d) in enumerate(zip(phases, durations, strict=True)):
            prows.append(
                {
                    "build": key,
                    "name": PHASE_NAMES[order],
                    "order": order,
                    "status": st,
                    "duration": d,
                }
            )
            if st == "ERROR":
                erows.append(
                    {"build": key, "phase": PHASE_NAMES[order], "kind": "error",
                     "text": "error: 'x' undeclared", "line_no": 10, "primary_class": "compile-error"}
                )  # fmt: skip
                erows.append(
                    {"build": key, "phase": PHASE_NAMES[order], "kind": "error",
                     "text": "make: *** [all] Error 1", "line_no": 12, "primary_class": None}
                )  # fmt: skip
                erows.append(
                    {"build": key, "phase": PHASE_NAMES[order], "kind": "warning",
                     "text": "warning: unused", "line_no": 3, "primary_class": "warning"}
                )  # fmt: skip
    b = pd.DataFrame(brows)
    b["run"] = b["run"].astype("category")
    b["compiler"] = b["compiler"].astype("category")
    b["status"] = b["status"].astype("category")
    b["outcome"] = pd.Categorical(b["outcome"], categories=OUTCOMES)
    phases = pd.DataFrame(prows, columns=["build", "name", "order", "status", "duration"])
    phases["name"] = phases["name"].astype("category")
    phases["order"] = phases["order"].astype("Int64")
    events = pd.DataFrame(
        erows, columns=["build", "phase", "kind", "text", "line_no", "primary_class"]
    )
    events["kind"] = events["kind"].astype("category")
    return FakeData(specs=specs, dependencies=deps, builds=b, phases=phases, events=events)


# ------------------------------------------------------------------------------------------
# helpers reading a drawn dependency graph back
# ------------------------------------------------------------------------------------------


def _by_gid(ax, gid):
    found = [c for c in ax.collections if c.get_gid() == gid]
    return found[0] if found else None


def _node_boxes(ax) -> list:
    """Data-space extents of the node boxes and their face colours."""
    boxes = _by_gid(ax, "dependency-graph-nodes")
    return list(
        zip([p.get_extents() for p in boxes.get_paths()], boxes.get_facecolors(), strict=True)
    )


def drawn_nodes(ax) -> dict[str, tuple[tuple[float, float], tuple[float, ...]]]:
    """label -> (position, facecolour RGBA) read from the Axes: each label is an annotation
    at its node's position, inside the node's box."""
    boxes = _node_boxes(ax)
    out = {}
    for text in ax.texts:
        xy = getattr(text, "xy", None)
        if xy is None:
            continue
        (i,) = [
            k for k, (b, _) in enumerate(boxes)
            if b.x0 < xy[0] < b.x1 and b.y0 < xy[1] < b.y1
        ]  # fmt: skip
        # a label is drawn on up to three lines (name, @version, %compiler)
        out[text.get_text().replace("\n", "")] = (
            (round(float(xy[0]), 6), round(float(xy[1]), 6)),
            tuple(boxes[i][1]),
        )
    return out


def drawn_segments(ax, gid) -> set[tuple[tuple[float, float], tuple[float, float]]]:
    """(parent position, child position) of each edge drawn in the collection ``gid``: an
    edge runs from a port on its parent's box to a port on its child's box."""
    lc = _by_gid(ax, gid)
    if lc is None:
        return set()
    boxes = _node_boxes(ax)
    centre = {
        k: (round((b.x0 + b.x1) / 2, 6), round((b.y0 + b.y1) / 2, 6))
        for k, (b, _) in enumerate(boxes)
    }

    def owner(point) -> tuple[float, float]:
        (k,) = [
            k for k, (b, _) in enumerate(boxes)
            if b.x0 - 1e-6 <= point[0] <= b.x1 + 1e-6 and b.y0 - 1e-6 <= point[1] <= b.y1 + 1e-6
        ]  # fmt: skip
        return centre[k]

    return {(owner(seg[0]), owner(seg[-1])) for seg in lc.get_segments()}


def color(outcome: str) -> tuple[float, ...]:
    return to_rgba(plots.OUTCOME_COLORS[outcome])


# ------------------------------------------------------------------------------------------
# dependency graph on hand-built data
# ------------------------------------------------------------------------------------------


def test_graph_colours_layers_and_failure_path() -> None:
    ax = plots.plot_dependency_graph(make_data(), run="r1")
    nodes = drawn_nodes(ax)
    # r1 has tool too (a second root); every build of r1 is drawn, nothing else
    assert set(nodes) == {
        "app@1.0",
        "mpi@4.1.1",
        "lib@2.0",
        "hwloc@2.6.0",
        "zlib@1.2.11",
        "tool@0.1",
    }
    assert nodes["mpi@4.1.1"][1] == color("failed")
    assert nodes["app@1.0"][1] == color("never built")
    for ok in ("lib@2.0", "hwloc@2.6.0", "zlib@1.2.11", "tool@0.1"):
        assert nodes[ok][1] == color("succeeded")
    # every dependency is drawn below all of its dependents
    y = {label: pos[1] for label, (pos, _) in nodes.items()}
    for parent, (version, _, deps) in SPECS.items():
        for child in deps:
            assert y[f"{child}@{SPECS[child][0]}"] < y[f"{parent}@{version}"], (parent, child)
    # longest path: zlib is below hwloc which is below mpi
    assert y["zlib@1.2.11"] < y["hwloc@2.6.0"] < y["mpi@4.1.1"] < y["app@1.0"]
    # the failure path is app -> mpi, drawn red and thick; nothing else is on it
    pos = {label: p for label, (p, _) in nodes.items()}
    red = drawn_segments(ax, "failure-path")
    assert red == {(pos["app@1.0"], pos["mpi@4.1.1"])}
    lc = _by_gid(ax, "failure-path")
    assert tuple(lc.get_colors()[0]) == to_rgba(plots.FAILURE_PATH_COLOR)
    assert lc.get_linewidths()[0] > _by_gid(ax, "dependency-graph-edges").get_linewidths()[0]
    grey = drawn_segments(ax, "dependency-graph-edges")
    assert len(grey) == 4 and not grey & red
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "failed (1)" in legend and "never built (1)" in legend and "failure path" in legend
    assert "r1" in ax.get_title()


def test_graph_latest_run_by_default_and_root_selection() -> None:
    data = make_data()
    ax = plots.plot_dependency_graph(data)  # several runs: the latest (r2)
    nodes = drawn_nodes(ax)
    assert "r2" in ax.get_title()
    # r2 rebuilt mpi and app; their dependencies (built earlier) are drawn as not built in r2
    assert nodes["mpi@4.1.1"][1] == color("succeeded")
    assert nodes["app@1.0"][1] == color("succeeded")
    assert nodes["zlib@1.2.11"][1] == color("not built")
    assert "tool@0.1" not in nodes
    assert _by_gid(ax, "failure-path") is None

    ax = plots.plot_dependency_graph(data, run="r1", root="mpi")
    assert set(drawn_nodes(ax)) == {"mpi@4.1.1", "hwloc@2.6.0", "zlib@1.2.11"}
    with pytest.raises(KeyError):
        plots.plot_dependency_graph(data, run="r1", root="nosuchpackage")
    with pytest.raises(UnknownKeyError, match="runs: r1, r2"):
        plots.plot_dependency_graph(data, run="r9")
    # a hash prefix selects the node too
    ax = plots.plot_dependency_graph(data, run="r1", root="hwlochw")
    assert set(drawn_nodes(ax)) == {"hwloc@2.6.0", "zlib@1.2.11"}


def test_graph_from_networkx_and_from_spec_graph(data_dir: Path) -> None:
    from spackmon_analysis.spec import load_spec

    g = make_data().graph(run="r1")
    nodes = drawn_nodes(plots.plot_dependency_graph(g))
    assert nodes["mpi@4.1.1"][1] == color("failed")

    spec = load_spec(data_dir / "specs" / "tinyapp-spack-0.22.1.json")
    ax = plots.plot_dependency_graph(spec)
    nodes = drawn_nodes(ax)
    assert len(nodes) == len(spec)
    assert {c for _, c in nodes.values()} == {color("no build data")}
    root = spec.root
    assert f"{root.name}@{root.version}" in nodes
    # the root is on the top layer
    assert nodes[f"{root.name}@{root.version}"][0][1] == max(p[1] for p, _ in nodes.values())

    with pytest.raises(TypeError):
        plots.plot_dependency_graph(42)


def test_layout_reduces_crossings() -> None:
    # two parents whose children are listed crossed in name order: the barycenter fixes it
    g = nx.DiGraph([("a", "z1"), ("a", "z2"), ("b", "y1"), ("b", "y2")])
    pos = plots.layered_layout(g)
    assert (
        plots._count_crossings(
            [
                sorted([n for n in pos if pos[n][1] == y], key=lambda n: pos[n][0])
                for y in (0.0, -1.0)
            ],
            list(g.edges),
        )
        == 0
    )
    # a cycle does not hang the layout
    assert len(plots.layered_layout(nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c")]))) == 3


def test_graph_on_given_axes_and_png(tmp_path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    ax = plots.plot_dependency_graph(make_data(), run="r1", ax=right)
    assert ax is right
    out = tmp_path / "dag.png"
    fig.savefig(out)
    assert out.stat().st_size > 10_000


def test_plots_on_the_axes_of_a_subfigure(tmp_path: Path) -> None:
    # a subfigure has no size of its own: titles and the graph are fitted to the whole figure
    fig = plt.figure(figsize=(12, 4))
    left, right = fig.subfigures(1, 2)
    graph_ax = plots.plot_dependency_graph(make_data(), run="r1", ax=left.add_subplot())
    matrix_ax = plots.plot_failure_matrix(make_data(), ax=right.add_subplot())
    assert graph_ax.get_title() and matrix_ax.get_title().startswith("Root-cause failure rate")
    out = tmp_path / "two.png"
    fig.savefig(out)
    assert out.stat().st_size > 10_000


# ------------------------------------------------------------------------------------------
# frame plots on hand-built data
# ------------------------------------------------------------------------------------------


def test_failure_matrix_cells() -> None:
    ax = plots.plot_failure_matrix(make_data())
    values = ax.images[0].get_array()
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    assert cols == ["clang@14.0.6", "gcc@12.2.0"]
    assert rows == sorted(SPECS)
    mpi, gcc, clang = rows.index("mpi"), cols.index("gcc@12.2.0"), cols.index("clang@14.0.6")
    assert values[mpi, gcc] == pytest.approx(0.5)  # 1 failure in 2 builds
    assert values[rows.index("app"), gcc] == 0.0  # never built is not a root cause
    assert np.ma.is_masked(values[mpi, clang])  # no build: blank
    texts = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }
    assert texts[(mpi, gcc)] == "1/2"
    assert (mpi, clang) not in texts


def test_phase_outcomes_and_error_classes() -> None:
    data = make_data()
    ax = plots.plot_phase_outcomes(data)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["configure", "build"]
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["SUCCESS", "ERROR"]
    heights = {
        label: [p.get_height() for p in c.patches]
        for label, c in zip(labels, ax.containers, strict=True)
    }
    assert heights == {"SUCCESS": [7, 5], "ERROR": [0, 1]}

    ax = plots.plot_error_classes(data, count="events")
    bars = {
        t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)
    }
    assert bars == {"compile-error": 1, "unclassified": 1}  # the warning is not counted


def test_build_times() -> None:
    ax = plots.plot_build_times(make_data())
    widths = {
        t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)
    }
    assert widths["mpi"] == pytest.approx(15.5)  # median of 15 and 16 seconds
    assert widths["tool"] == pytest.approx(0.5)
    assert "app" in widths  # r2's app has durations; r1's never-built app has none
    assert "seconds" in ax.get_xlabel()


def test_empty_data_gives_explanatory_axes() -> None:
    data = make_data()
    empty = FakeData(
        specs=data.specs.iloc[0:0],
        dependencies=data.dependencies.iloc[0:0],
        builds=data.builds.iloc[0:0],
        phases=data.phases.iloc[0:0],
        events=data.events.iloc[0:0],
    )
    assert "no phase durations" in plots.plot_build_times(empty).texts[0].get_text()
    assert "no error events" in plots.plot_error_classes(empty, count="events").texts[0].get_text()
    assert "no phases" in plots.plot_phase_outcomes(empty).texts[0].get_text()
    assert "no builds" in plots.plot_failure_matrix(empty).texts[0].get_text()
    no_durations = make_data()
    no_durations.phases["duration"] = np.nan
    assert "no phase durations" in plots.plot_build_times(no_durations).texts[0].get_text()


# ------------------------------------------------------------------------------------------
# the bundled example data (six save-local runs), checked against its manifest
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example():
    frames = pytest.importorskip("spackmon_analysis.frames")
    from spackmon_analysis.demo import example_data_dir

    return frames.load_save_local(example_data_dir() / "save-local")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((EXAMPLES / "manifest.json").read_text())


def test_example_matrix_matches_manifest(example, manifest) -> None:
    builds: dict[tuple[str, str], int] = {}
    failed: dict[tuple[str, str], int] = {}
    never: dict[tuple[str, str], int] = {}
    for run in manifest["runs"]:
        for pkg, b in run["builds"].items():
            cell = (pkg, run["compiler"])
            builds[cell] = builds.get(cell, 0) + 1
            failed[cell] = failed.get(cell, 0) + ("ERROR" in b["phases"].values())
            blocked = b["status"] == "FAILED" and "ERROR" not in b["phases"].values()
            never[cell] = never.get(cell, 0) + blocked
    ax = plots.plot_failure_matrix(example)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    values = ax.images[0].get_array()
    texts = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }
    seen = set()
    for (pkg, compiler), n in builds.items():
        i, j = rows.index(pkg), cols.index(compiler)
        nb = never[(pkg, compiler)]
        expected = f"{failed[(pkg, compiler)]}/{n}" + (f"\n{nb} never built" if nb else "")
        assert texts[(i, j)] == expected, (pkg, compiler)
        if nb == n:  # nothing built: the never-built colour, not the rate scale
            assert np.ma.is_masked(values[i, j]), (pkg, compiler)
        else:
            assert values[i, j] == pytest.approx(failed[(pkg, compiler)] / n)
        seen.add((i, j))
    assert set(texts) == seen  # no cell without builds is annotated
    assert texts[(rows.index("openmpi"), cols.index("gcc@12.2.0"))] == "2/2"  # both gcc hdf5 runs


def test_example_graph_of_the_openmpi_run(example, manifest) -> None:
    run = manifest["runs"][1]
    assert run["root"] == "hdf5"
    ax = plots.plot_dependency_graph(example, run=run["directory"][:10])  # a unique prefix
    nodes = {label.split("@")[0]: v for label, v in drawn_nodes(ax).items()}
    assert set(run["builds"]) <= set(nodes)
    for pkg, b in run["builds"].items():
        expected = (
            "failed" if "ERROR" in b["phases"].values()
            else "succeeded" if b["status"] == "SUCCESS" else "never built"
        )  # fmt: skip
        assert nodes[pkg][1] == color(expected), pkg
    assert nodes["hdf5"][0][1] == max(p[1] for p, _ in nodes.values())  # the root on top
    pos = {pkg: p for pkg, (p, _) in nodes.items()}
    assert (pos["hdf5"], pos["openmpi"]) in drawn_segments(ax, "failure-path")


def test_example_latest_run_and_pngs(example, manifest, tmp_path: Path) -> None:
    ax = plots.plot_dependency_graph(example)
    assert manifest["runs"][-1]["directory"] in ax.get_title()
    for name in (
        "plot_failure_matrix",
        "plot_phase_outcomes",
        "plot_error_classes",
        "plot_build_times",
    ):
        ax = getattr(plots, name)(example)
        out = tmp_path / f"{name}.png"
        ax.figure.savefig(out)
        assert out.stat().st_size > 8_000, name
    ax = plots.plot_phase_outcomes(example)
    errors = dict(zip([t.get_text() for t in ax.get_xticklabels()],
                      [p.get_height() for p in ax.containers[1].patches], strict=True))  # fmt: skip
    expected_errors = sum(
        s == "ERROR"
        for r in manifest["runs"]
        for b in r["builds"].values()
        for s in b["phases"].values()
    )
    assert sum(errors.values()) == expected_errors == 3
    assert errors["build"] == 3


def _bars(ax) -> dict[str, float]:
    return {
        t.get_text(): p.get_width() for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)
    }


def test_example_error_classes_one_per_failed_build(example) -> None:
    from spackmon_analysis.failures import failures

    found = failures(example)
    causes = found[found["role"] == "root cause"]
    ax = plots.plot_error_classes(example)  # default: one summary class per root cause
    assert _bars(ax) == causes["error_class"].value_counts().to_dict()
    assert _bars(ax) == {"compiler_error": 2, "out_of_memory_killed": 1}
    assert sum(_bars(ax).values()) == len(causes) == 3
    # every error event: the make lines after each compiler error count too
    events = _bars(plots.plot_error_classes(example, count="events"))
    errors = example.events[example.events["kind"] == "error"]
    assert sum(events.values()) == len(errors)
    assert events["make_failure"] > events["compiler_error"]
    with pytest.raises(ConfigError, match="count='lines'"):
        plots.plot_error_classes(example, count="lines")


def test_bad_arguments_raise_config_error(example) -> None:
    for call in (
        lambda: plots.plot_phase_outcomes(None),
        lambda: plots.plot_failure_matrix(None),
        lambda: plots.plot_error_classes(None),
        lambda: plots.plot_build_times(None),
        lambda: plots.plot_phase_outcomes(example.builds),  # a frame, not the data
    ):
        with pytest.raises(ConfigError, match=r"\(data=\.\.\.\): data must be a MonitorData"):
            call()
    with pytest.raises(ConfigError, match=r"plot_failure_matrix\(rows='x'\): not a column"):
        plots.plot_failure_matrix(example, rows="x")
    with pytest.raises(ConfigError, match=r"cols='nope'"):
        plots.plot_failure_matrix(example, cols="nope")
    with pytest.raises(ConfigError, match=r"failure_counts\(rows='x'\)"):
        plots.failure_counts(example, rows="x")


def test_example_readable_labels(example) -> None:
    # the matrix names its axes in words, not by column name
    ax = plots.plot_failure_matrix(example)
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("package", "compiler")
    assert "by package and compiler" in ax.get_title()
    ax = plots.plot_failure_matrix(example, rows="host_target", cols="run")
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("target", "run")
    # 3 ERROR of 41 build phases: tall enough, the count is inside the segment
    ax = plots.plot_phase_outcomes(example)
    assert [t.get_text() for t in ax.texts if t.get_text()] == ["3"]
    # 1 ERROR among 61 build phases: too thin, written in red above the bar instead
    data = make_data()
    ok = data.phases[data.phases["status"] == "SUCCESS"]
    data.phases = pd.concat([data.phases] + [ok] * 10, ignore_index=True)
    ax = plots.plot_phase_outcomes(data)
    assert [t.get_text() for t in ax.texts if t.get_text()] == ["1 ERROR"]


def test_graph_labels_fit_and_title_is_concise(example) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # every run together (as server data is): 40 nodes, the widest layer has 14
    g = example.graph()
    fig = Figure(figsize=(12, 8), dpi=100, layout="constrained")  # as report.write_plots
    FigureCanvasAgg(fig)
    ax = plots.plot_dependency_graph(g, ax=fig.add_subplot())
    assert ax.get_title() == "Dependency graph of hdf5@1.10.7, python@3.8.12 (4 roots)"
    labels = [t for t in ax.texts if getattr(t, "xy", None) is not None]
    assert len(labels) == len(g)
    # two compilers of one package: told apart by the compiler's name alone
    joined = {t.get_text().replace("\n", "") for t in labels}
    assert {"zlib@1.2.11%gcc", "zlib@1.2.11%clang"} <= joined
    assert all(t.get_text().count("\n") <= 2 for t in labels)
    # no two labels overlap once drawn
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    overlaps = [
        (labels[i].get_text(), labels[j].get_text())
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i].overlaps(boxes[j])
    ]
    assert overlaps == []
    # many roots: the counts instead of the names
    wide = nx.DiGraph()
    for i in range(5):
        wide.add_node(f"h{i}", name=f"pkg{i}", version="1.0", outcome="succeeded")
    ax = plots.plot_dependency_graph(wide)
    assert ax.get_title() == "Dependency graph: 5 packages, 5 roots"


def test_graph_only_built_and_failure_focus(example) -> None:
    """Explicit calls draw everything; only_built / focus / max_nodes draw the part that
    matters and the title says what was left out."""
    g = example.graph()
    # an uploaded spec that was never built: a root over ten dependencies, no build at all
    big = g.copy()
    big.add_node("sing", name="singularity", version="3.8.5", outcome="not built")
    for i in range(10):
        big.add_node(f"d{i}", name=f"dep{i}", version="1.0", outcome="not built")
        big.add_edge("sing", f"d{i}")
    ax = plots.plot_dependency_graph(big)
    assert len(drawn_nodes(ax)) == len(big)
    assert "showing" not in ax.get_title()

    ax = plots.plot_dependency_graph(big, only_built=True)
    assert len(drawn_nodes(ax)) == len(g)
    assert f"showing {len(g)} of {len(big)} packages: 11 without any build left out" in (
        ax.get_title()
    )

    ax = plots.plot_dependency_graph(big, only_built=True, focus="failures")
    nodes = drawn_nodes(ax)
    names = {label.split("@")[0] for label in nodes}
    failed = {a["name"] for _, a in g.nodes(data=True) if a["outcome"] in ("failed", "never built")}
    assert failed and failed <= names
    assert "singularity" not in names and len(nodes) < len(g)
    assert f"showing {len(nodes)} of {len(big)} packages: the failures and what they touch" in (
        ax.get_title()
    )
    assert len(nodes) == len(plots.failure_neighbourhood(g))

    # max_nodes: a graph that is small enough is drawn whole
    ax = plots.plot_dependency_graph(g, focus="failures", max_nodes=len(g))
    assert len(drawn_nodes(ax)) == len(g) and "showing" not in ax.get_title()
    # no failure: nothing to focus on, everything is drawn
    ok = nx.DiGraph()
    ok.add_edge("a", "b")
    for n in ok:
        ok.nodes[n].update(name=n, version="1", outcome="succeeded")
    ax = plots.plot_dependency_graph(ok, focus="failures")
    assert len(drawn_nodes(ax)) == 2
    with pytest.raises(ConfigError, match="focus='everything'"):
        plots.plot_dependency_graph(g, focus="everything")
    with pytest.raises(ConfigError, match="max_nodes=0"):
        plots.plot_dependency_graph(g, max_nodes=0)
