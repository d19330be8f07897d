"""The ``df.spack`` accessor on the frames of the bundled example runs, checked against the manifest."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import spackmon_analysis as sma
from spackmon_analysis.demo import example_data_dir

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "examples" / "data" / "manifest.json").read_text())


def _manifest_outcome(build: dict) -> str:
    if "ERROR" in build["phases"].values():
        return "failed"
    if build["status"] == "SUCCESS":
        return "succeeded"
    if build["status"] in ("FAILED", "CANCELLED"):
        return "never built"
    return "unknown"


EXPECTED = [
    (run["directory"], run["compiler"], name, _manifest_outcome(build), build)
    for run in MANIFEST["runs"]
    for name, build in run["builds"].items()
]


@pytest.fixture(scope="module")
def data():
    return sma.load_save_local(example_data_dir() / "save-local")


def test_outcomes_count_every_category(data) -> None:
    counts = data.builds.spack.outcomes()
    expected = Counter(outcome for *_, outcome, _ in EXPECTED)
    assert {k: int(v) for k, v in counts.items()} == {
        k: expected.get(k, 0) for k in ["succeeded", "failed", "never built", "unknown"]
    }


def test_failed_and_blocked_rows(data) -> None:
    failed = data.builds.spack.failed()
    assert sorted(zip(failed["run"], failed["spec_name"], strict=True)) == sorted(
        (run, name) for run, _, name, outcome, _ in EXPECTED if outcome == "failed"
    )
    blocked = data.builds.spack.blocked()
    assert sorted(blocked["spec_name"]) == sorted(
        name for *_, name, outcome, _ in EXPECTED if outcome == "never built"
    )
    assert len(data.builds.spack.succeeded()) + len(failed) + len(blocked) == len(data.builds)


def test_rates_by_compiler(data) -> None:
    rates = data.builds.spack.rates("compiler")
    for compiler in {c for _, c, *_ in EXPECTED}:
        mine = [o for _, c, _, o, _ in EXPECTED if c == compiler]
        row = rates.loc[compiler]
        assert row["builds"] == len(mine)
        assert row["failed"] == mine.count("failed")
        assert row["blocked"] == mine.count("never built")
        assert row["failure_rate"] == pytest.approx(mine.count("failed") / len(mine))
    assert rates["failure_rate"].is_monotonic_decreasing
    two = data.builds.spack.rates(["spec_name", "compiler"])
    assert two.loc[("openmpi", "gcc@12.2.0"), "failed"] == 2


def test_labels(data) -> None:
    labels = data.builds.spack.failed().spack.labels()
    assert set(labels) == {"openmpi@4.1.1%gcc@12.2.0", "sqlite@3.36.0%clang@14.0.6"}
    assert data.specs.spack.labels().str.contains("@").all()


def test_phases_by_phase(data) -> None:
    table = data.phases.spack.by_phase()
    expected = Counter(
        (phase, status) for *_, build in EXPECTED for phase, status in build["phases"].items()
    )
    for phase in table.index:
        assert table.loc[phase, "count"] == sum(n for (p, _), n in expected.items() if p == phase)
        assert table.loc[phase, "errors"] == expected.get((phase, "ERROR"), 0)
    assert table.loc["build", "error_share"] > 0


def test_events_top_fingerprints(data) -> None:
    errors = data.events.spack.errors()
    assert (errors["kind"] == "error").all() and len(errors) > 0
    assert (data.events.spack.warnings()["kind"] == "warning").all()
    top = errors.spack.top(3)
    assert len(top) == 3
    # openmpi's compiler error happened in two runs: 2 events in 2 builds
    openmpi = top[top["example"].str.contains("PMIX_MODEL_LIBRARY_NAME")]
    assert list(openmpi[["events", "builds"]].iloc[0]) == [2, 2]
    assert errors.iloc[0:0].spack.top().empty


def test_wrong_frame_is_a_clear_error(data) -> None:
    with pytest.raises(sma.ConfigError, match="builds frame.*this frame is events"):
        data.events.spack.outcomes()
    with pytest.raises(sma.ConfigError, match="not a MonitorData frame"):
        pd.DataFrame({"a": [1]}).spack.failed()
    with pytest.raises(sma.ConfigError, match="no column 'nope'"):
        data.builds.spack.rates("nope")


def test_build_view_of_a_root_cause(data) -> None:

    openmpi = [b for run, _, name, o, b in EXPECTED if name == "openmpi" and o == "failed"][0]
    view = data.build(openmpi["build_id"][:8])  # a unique prefix is enough
    assert view.key == openmpi["build_id"] and view.outcome == "failed"
    assert list(view.phases["name"]) == list(openmpi["phases"])  # in Spack's order
    assert "PMIX_MODEL_LIBRARY_NAME" in view.first_error["text"]
    assert "hdf5" in view.dependents and "hwloc" in view.dependencies
    text = repr(view)
    dag = view.row["dag_hash"]  # the hash Spack shows, next to the run's local id
    assert text.startswith(f"<Build {openmpi['build_id']} openmpi@4.1.1%gcc@12.2.0 /{dag}: failed")
    page = view._repr_html_()
    assert "openmpi@4.1.1%gcc@12.2.0" in page and "PMIX_MODEL_LIBRARY_NAME" in page
    assert "<b>../../../../opal" in page  # the error line is highlighted within its context


def test_build_view_lookup_errors(data) -> None:
    from spackmon_analysis.buildview import BuildView

    with pytest.raises(sma.UnknownKeyError, match="no build 'zzzz'"):
        BuildView(data, "zzzz")
    with pytest.raises(sma.UnknownKeyError, match="ambiguous"):
        BuildView(data, "")
    blocked = BuildView(data, data.builds.spack.blocked()["build"].iloc[0])
    assert blocked.first_error is None and blocked.phases.empty
    assert "never built" in blocked._repr_html_()


def test_every_view_names_the_same_first_error(data) -> None:
    """A stray error line in a phase that succeeded (configure) must not become the "first
    error" of a build whose build phase failed: failures(), data.build() and the explorer
    all name the error of the failed phase."""
    from spackmon_analysis.failures import first_error_per_build

    openmpi = data.builds.spack.failed()
    key = str(openmpi[openmpi["spec_name"] == "openmpi"]["build"].iloc[0])
    events = data.events
    real = events[(events["build"] == key) & (events["kind"] == "error")]
    stray = real.iloc[[0]].copy()
    stray["phase"] = "configure"
    stray["line_no"] = 1
    stray["text"] = "configure: error: a stray line in a phase that succeeded"
    stray.index = [events.index.max() + 1]
    noisy = sma.MonitorData(
        data.specs,
        data.dependencies,
        data.builds,
        data.phases,
        pd.concat([events, stray]),
    )
    expected = real.sort_values("line_no")["text"].iloc[0]
    assert "PMIX_MODEL_LIBRARY_NAME" in expected
    assert first_error_per_build(noisy).loc[key, "text"] == expected
    assert noisy.build(key).first_error["text"] == expected
    found = sma.failures(noisy)
    assert found.loc[found["build"] == key, "first_error"].iloc[0] == expected
    table = sma.explore(noisy).select(package="openmpi")
    assert table.loc[table["build"] == key, "first_error"].iloc[0] == expected
