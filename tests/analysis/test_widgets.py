"""widgets.py: the explorer works headless, select() filters like the dropdowns do, the error
view shows the first error with context, the DAG image is the selected run's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import matplotlib
import pytest

from spackmon_analysis.errors import UnknownKeyError

matplotlib.use("Agg")

from spackmon_analysis import widgets  # noqa: E402

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "examples" / "data"
PNG = b"\x89PNG\r\n\x1a\n"


def _hand_built():
    """The MonitorData-shaped object of test_plots.py (same frames, same graph())."""
    spec = importlib.util.spec_from_file_location("_plots_fixture", HERE / "test_plots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_data()


@pytest.fixture(scope="module")
def small():
    return _hand_built()


def test_explorer_headless_on_hand_built_data(small) -> None:
    ex = widgets.explore(small)
    assert isinstance(ex, widgets.Explorer)
    assert ex.package.options[0] == widgets.ALL
    assert set(ex.package.options[1:]) == {"app", "hwloc", "lib", "mpi", "tool", "zlib"}
    # no filter: everything; the default selected build is the first failure
    assert len(ex.filtered()) == len(small.builds)
    assert ex.build.value == small.builds.loc[small.builds["outcome"] == "failed", "build"].iloc[0]
    assert bytes(ex.dag.value).startswith(PNG)
    assert "mpi@4.1.1" in ex.log.value and "undeclared" in ex.log.value

    rows = ex.select(package="mpi")
    assert list(rows["run"].astype(str)) == ["r1", "r2"]  # in run order
    assert list(rows["outcome"].astype(str)) == ["failed", "succeeded"]
    assert rows["failed_phase"].iloc[0] == "build" and rows["failed_phase"].isna().iloc[1]
    assert (
        rows["first_error"].iloc[0] == "error: 'x' undeclared"
    )  # earliest line, not the make line
    assert ex.package.value == "mpi" and ex.compiler.value == widgets.ALL
    assert "<b>2</b> of 8 builds" in ex.summary.value
    assert "mpi" in ex.table.value

    # compiler by prefix; a filter matching nothing is an empty frame, not an error
    assert set(ex.select(compiler="clang")["spec_name"]) == {"tool"}
    assert ex.select(package="mpi", compiler="clang").empty
    assert "no build matches" in ex.table.value
    assert ex.build.value is None

    never = ex.select(outcome="never built")
    assert list(never["spec_name"]) == ["app"]
    assert "blocked by <b>mpi@4.1.1</b>" in ex.log.value

    with pytest.raises(UnknownKeyError, match="choices"):
        ex.select(package="nosuch")
    with pytest.raises(UnknownKeyError):
        ex.select(compiler="intel")


def test_dropdowns_drive_the_same_filter(small) -> None:
    ex = widgets.explore(small)
    ex.run.value = "r2"
    assert set(ex.filtered()["spec_name"]) == {"mpi", "app"}
    assert "<b>2</b> of 8" in ex.summary.value
    r2_png = ex.dag.value
    ex.run.value = "r1"
    assert bytes(ex.dag.value) != bytes(r2_png)  # the DAG follows the run
    # choosing another build updates the log view
    app = small.builds.loc[
        (small.builds["run"] == "r1") & (small.builds["spec_name"] == "app"), "build"
    ]
    ex.build.value = app.iloc[0]
    assert "never built" in ex.log.value


def test_display_and_repr(small) -> None:
    ex = widgets.explore(small)
    ex.select(package="mpi", compiler="gcc")
    text = repr(ex)
    assert text.startswith("<Explorer: 8 builds in 2 runs;")
    assert "package=mpi compiler=gcc -> 2 builds" in text
    bundle = ex._repr_mimebundle_()
    assert bundle["text/plain"] == text
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == ex.widget.model_id


# ------------------------------------------------------------------------------------------
# the bundled example data: notebook 05's question
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example():
    frames = pytest.importorskip("spackmon_analysis.frames")
    from spackmon_analysis.demo import example_data_dir

    return frames.load_save_local(example_data_dir() / "save-local")


def test_example_sqlite_with_clang(example) -> None:
    manifest = json.loads((EXAMPLES / "manifest.json").read_text())
    expected = [
        (run["directory"], run["builds"]["sqlite"])
        for run in manifest["runs"]
        if run["compiler"].startswith("clang") and "sqlite" in run["builds"]
    ]
    ex = widgets.explore(example)
    rows = ex.select(package="sqlite", compiler="clang")
    assert list(rows["run"].astype(str)) == [d for d, _ in expected]
    assert list(rows["outcome"].astype(str)) == ["failed", "succeeded"]
    assert rows["failed_phase"].iloc[0] == "build"
    assert "Killed" in rows["first_error"].iloc[0]
    assert set(rows["host_target"].astype(str)) == {"zen3"}
    assert rows["full_hash"].nunique() == 1 if "full_hash" in rows else True
    assert "Killed" in ex.log.value  # the failed build is selected and its error shown
    assert bytes(ex.dag.value).startswith(PNG)
    assert len(ex.select()) == sum(len(r["builds"]) for r in manifest["runs"])


def test_select_shows_missing_values_alike(example) -> None:
    """The failed sqlite build has no status (Spack 0.17.1 writes none for it) and the
    succeeded one no failed phase: both show as <NA>, not NaN in one and <NA> in the other."""
    rows = widgets.explore(example).select(package="sqlite", compiler="clang")
    assert rows["status"].isna().tolist() == [True, False]
    assert rows["failed_phase"].isna().tolist() == [False, True]
    assert "NaN" not in rows.drop(columns=["duration"]).to_string()
    table = rows[["status", "failed_phase"]].to_string().splitlines()
    assert table[1].split()[1:] == ["<NA>", "build"]
    assert table[2].split()[1:] == ["SUCCESS", "<NA>"]
    assert "<td>NaN</td>" not in rows.to_html() and "<td>&lt;NA&gt;</td>" in rows.to_html()
    for column in ("status", "outcome", "compiler", "run", "host_target"):
        assert str(rows[column].dtype) == "string", column


def test_explore_rejects_what_is_not_monitor_data(small) -> None:
    from spackmon_analysis.errors import ConfigError

    for bad in (None, small.builds, 42):
        with pytest.raises(
            ConfigError, match=r"explore\(data=\.\.\.\): data must be a MonitorData"
        ):
            widgets.explore(bad)


def test_explorer_shows_the_dag_hash() -> None:
    """Spack 0.17.1's save-local run keys builds by full_hash, a hash that appears nowhere
    a user can look it up: the explorer names the failed build by its DAG hash (as in its
    stage directory and ``spack find -l``) and keeps the full hash as a column."""
    from spackmon_analysis.frames import load_save_local

    run = HERE.parents[1] / "tests" / "data" / "save-local" / "v0.17.1-failure-tinybrokenapp"
    ex = widgets.explore(load_save_local(run))
    dag, full = "bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn", "axpm7s3jmo55t4gmxldi62s7v3bjiekk"
    label = dict((v, k) for k, v in ex.build.options)[ex.build.value]
    assert "tinybroken@0.9" in label and label.endswith(f"/{dag[:7]}")
    assert full[:7] not in label
    assert f"/{dag[:7]}" in ex.log.value  # the selected build's error view
    rows = ex.select(package="tinybroken")
    assert rows["dag_hash"].tolist() == [dag] and rows["full_hash"].tolist() == [full]
    assert dag in ex.table.value
