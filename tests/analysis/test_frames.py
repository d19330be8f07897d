"""MonitorData and its loaders against real Spack files and the bundled example data.

The bundled example's ``manifest.json`` (written by the generator, not by the loader)
is the independent truth for builds, statuses and phases of each run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from spackmon_analysis.demo import example_data_dir
from spackmon_analysis.errors import (
    SaveLocalError,
)
from spackmon_analysis.frames import (
    FRAME_COLUMNS,
    OUTCOMES,
    MonitorData,
    load_save_local,
)

DATA = Path(__file__).resolve().parent.parent / "data"
SAVE_LOCAL = DATA / "save-local"
SUCCESS_RUN = SAVE_LOCAL / "v0.17.1-success-tinyapp"
FAILURE_RUN = SAVE_LOCAL / "v0.17.1-failure-tinybrokenapp"
INSTALLS = DATA / "installs" / "v0.17.1"
EXAMPLES = example_data_dir()
MANIFEST = json.loads((EXAMPLES / "manifest.json").read_text())

# The dtypes the contract (docs/analysis.md) pins, written out independently of frames.py.
STRING = "string"
CATEGORY = "category"
UTC = "datetime64[ns, UTC]"
EXPECTED_DTYPES = {
    "specs": {
        "full_hash": STRING,
        "name": STRING,
        "version": STRING,
        "compiler": CATEGORY,
        "compiler_name": STRING,
        "compiler_version": STRING,
        "platform": CATEGORY,
        "os": CATEGORY,
        "target": CATEGORY,
        "namespace": STRING,
        "external": "bool",
        "dag_hash": STRING,
        "build_hash": STRING,
    },
    "dependencies": {
        "parent_hash": STRING,
        "child_hash": STRING,
        "parent_name": STRING,
        "child_name": STRING,
        "deptypes": STRING,
    },
    "builds": {
        "build": STRING,
        "build_id": "Int64",
        "run": CATEGORY,
        "run_time": UTC,
        "full_hash": STRING,
        "spec_name": STRING,
        "spec_version": STRING,
        "compiler": CATEGORY,
        "status": CATEGORY,
        "outcome": CATEGORY,
        "host_os": CATEGORY,
        "platform": CATEGORY,
        "host_target": CATEGORY,
        "hostname": CATEGORY,
        "kernel_version": CATEGORY,
        "spack_version": CATEGORY,
        "tags": "object",
        "owner": STRING,
        "created_at": UTC,
        "duration": "float64",
        "source": CATEGORY,
    },
    "phases": {
        "build": STRING,
        "phase_id": "Int64",
        "name": CATEGORY,
        "order": "Int64",
        "status": CATEGORY,
        "output_size": "Int64",
        "duration": "float64",
        "started_at": UTC,
        "finished_at": UTC,
        "output": STRING,
    },
    "events": {
        "build": STRING,
        "phase": CATEGORY,
        "kind": CATEGORY,
        "text": STRING,
        "line_no": "Int64",
        "source_file": STRING,
        "source_line_no": "Int64",
        "pre_context": "object",
        "post_context": "object",
        "repeat_count": "Int64",
        "classes": "object",
        "primary_class": STRING,
        "fingerprint": STRING,
    },
}


def assert_contract(data: MonitorData) -> None:
    """Every frame has exactly the contract's columns, in order, with its dtypes."""
    for name, expected in EXPECTED_DTYPES.items():
        frame = getattr(data, name)
        assert list(frame.columns) == list(expected), name
        for column, dtype in expected.items():
            actual = frame[column].dtype
            if dtype == STRING:
                assert isinstance(actual, pd.StringDtype) and actual.na_value is pd.NA, (
                    name,
                    column,
                    actual,
                )
            else:
                assert str(actual) == dtype, (name, column, actual)
    assert list(data.builds["outcome"].cat.categories) == list(OUTCOMES)
    assert data.builds["build"].is_unique
    assert data.specs["full_hash"].is_unique
    assert not data.dependencies.duplicated(["parent_hash", "child_hash"]).any()
    assert not data.phases.duplicated(["build", "name"]).any()
    assert set(data.phases["build"]) <= set(data.builds["build"])
    assert set(data.events["build"]) <= set(data.builds["build"])


@pytest.fixture(scope="module")
def examples() -> MonitorData:
    return load_save_local(EXAMPLES / "save-local")


@pytest.fixture(scope="module")
def fixtures() -> MonitorData:
    return load_save_local(SAVE_LOCAL)


# ---------------------------------------------------------------------------------
# the contract: columns and dtypes, also when empty


def test_schema_is_the_contract() -> None:
    assert {k: [c for c, _, _ in v] for k, v in FRAME_COLUMNS.items()} == {
        k: list(v) for k, v in EXPECTED_DTYPES.items()
    }


def test_empty_has_every_column_and_dtype() -> None:
    data = MonitorData.empty()
    assert_contract(data)
    assert all(len(getattr(data, n)) == 0 for n in EXPECTED_DTYPES)
    assert data.runs == []
    assert "0 build(s)" in repr(data)
    assert "<table>" in data._repr_html_()
    assert len(data.graph()) == 0


def test_empty_from_filter_and_concat_keep_dtypes(examples: MonitorData) -> None:
    none = examples.filter(package="no-such-package")
    assert len(none.builds) == len(none.phases) == len(none.events) == 0
    assert_contract(none)
    assert_contract(MonitorData.concat([]))
    assert_contract(MonitorData.concat([MonitorData.empty(), MonitorData.empty()]))


# ---------------------------------------------------------------------------------
# save-local: real Spack 0.17.1 output


def test_save_local_real_fixtures(fixtures: MonitorData) -> None:
    assert_contract(fixtures)
    b = fixtures.builds.set_index("spec_name")
    assert fixtures.runs == ["v0.17.1-failure-tinybrokenapp", "v0.17.1-success-tinyapp"]
    # the package whose build phase failed: ERROR phase, no status file
    assert pd.isna(b.loc["tinybroken", "status"])
    assert b.loc["tinybroken", "outcome"] == "failed"
    assert b.loc["tinybroken", "build"] == "1ab48b1b401db81a0b850246f96a0136"
    # its dependent: FAILED status, no phases
    assert b.loc["tinybrokenapp", "status"] == "FAILED"
    assert b.loc["tinybrokenapp", "outcome"] == "never built"
    for name in ("tinybase", "tinyutil", "tinyapp"):
        assert b.loc[name, "outcome"] == "succeeded"
        assert b.loc[name, "status"] == "SUCCESS"
        assert b.loc[name, "tags"] == ("heldout", "success")
        assert b.loc[name, "compiler"] == "gcc@12.2.0"
        assert b.loc[name, "source"] == "save-local"
    assert (fixtures.builds["hostname"] == "vm").all()
    assert (fixtures.builds["spack_version"] == "0.17.1").all()
    # phases, in Spack's order, with durations from the log timestamps
    phases = fixtures.phases
    tinybase = phases[phases["build"] == "4e077fd0e6997b2f609405ab264e6aae"]
    assert list(tinybase["name"]) == ["autoreconf", "configure", "build", "install"]
    assert list(tinybase["order"]) == [0, 1, 2, 3]
    assert tinybase["duration"].iloc[1:].gt(0).all()
    broken = phases[phases["build"] == "1ab48b1b401db81a0b850246f96a0136"]
    assert list(broken["name"]) == ["edit", "build"]
    assert list(broken["status"]) == ["SUCCESS", "ERROR"]
    assert (phases["output_size"] == phases["output"].str.len()).all()
    # the build's duration is the sum of its known phase durations
    expected = tinybase["duration"].sum()
    assert b.loc["tinybase", "duration"] == pytest.approx(expected)
    assert pd.isna(b.loc["tinybrokenapp", "duration"])
    # the real gcc error, classified
    errors = fixtures.events[fixtures.events["kind"] == "error"]
    assert len(errors) >= 1
    first = errors.iloc[0]
    assert first["build"] == "1ab48b1b401db81a0b850246f96a0136"
    assert first["phase"] == "build"
    assert "broken.c:4:3: error: expected" in first["text"]
    assert first["source_file"].endswith("broken.c") and first["source_line_no"] == 4
    assert first["primary_class"] == "compiler_error"
    assert first["classes"][0] == "compiler_error"
    # specs and DAG edges of both spec files
    names = set(fixtures.specs["name"])
    assert {"tinybase", "tinyutil", "tinyapp", "tinybroken", "tinybrokenapp"} <= names
    assert set(fixtures.builds["full_hash"]) <= set(fixtures.specs["full_hash"])
    deps = fixtures.dependencies
    assert ((deps["parent_name"] == "tinybrokenapp") & (deps["child_name"] == "tinybroken")).any()


def test_save_local_without_output_still_has_events(fixtures: MonitorData) -> None:
    light = load_save_local(FAILURE_RUN, keep_output=False)
    assert_contract(light)
    assert light.phases["output"].isna().all()
    assert light.phases["output_size"].gt(0).any()
    assert len(light.events) == len(
        fixtures.events[fixtures.events["build"] == "1ab48b1b401db81a0b850246f96a0136"]
    )


def test_save_local_examples_match_the_manifest(examples: MonitorData) -> None:
    assert_contract(examples)
    runs = MANIFEST["runs"]
    assert examples.runs == sorted(r["directory"] for r in runs)
    assert len(examples.builds) == sum(len(r["builds"]) for r in runs)
    builds = examples.builds.set_index("build")
    for run in runs:
        in_run = examples.builds[examples.builds["run"] == run["directory"]]
        assert len(in_run) == len(run["builds"])
        for name, expected in run["builds"].items():
            row = builds.loc[expected["build_id"]]
            assert row["spec_name"] == name
            assert row["run"] == run["directory"]
            assert row["compiler"] == run["compiler"]
            assert row["host_target"] == run["target"]
            assert row["tags"] == tuple(run["tags"])
            status = expected["status"]
            assert (pd.isna(row["status"]) and status is None) or row["status"] == status
            phases = examples.phases[examples.phases["build"] == expected["build_id"]]
            assert dict(zip(phases["name"], phases["status"], strict=True)) == expected["phases"]
            assert list(phases["name"]) == list(expected["phases"])  # Spack's phase order
            if "ERROR" in expected["phases"].values():
                want = "failed"
            elif status == "SUCCESS":
                want = "succeeded"
            elif status in ("FAILED", "CANCELLED"):
                want = "never built"
            else:
                want = "unknown"
            assert row["outcome"] == want, (run["directory"], name)
        # run_time is the run's timestamp (epoch part of the directory name)
        epoch = int(run["directory"].rsplit("-", 1)[1])
        assert (in_run["run_time"] == pd.Timestamp(epoch, unit="s", tz="UTC")).all()
    n_phases = sum(len(b["phases"]) for r in runs for b in r["builds"].values())
    assert len(examples.phases) == n_phases
    # every failed build has at least one error event in its ERROR phase
    failed = examples.builds[examples.builds["outcome"] == "failed"]
    errors = examples.events[examples.events["kind"] == "error"]
    for key in failed["build"]:
        error_phase = examples.phases[
            (examples.phases["build"] == key) & (examples.phases["status"] == "ERROR")
        ]["name"].iloc[0]
        mine = errors[errors["build"] == key]
        assert len(mine) >= 1 and (mine["phase"] == error_phase).any()


def test_repr_counts(examples: MonitorData) -> None:
    counts = Counter(examples.builds["outcome"].astype(str))
    text = repr(examples)
    assert f"{len(examples.builds)} build(s)" in text
    assert f"{counts['succeeded']} succeeded" in text
    assert f"{counts['failed']} failed" in text
    assert f"{len(examples.phases)} phase(s)" in text
    assert f"{len(examples.events)} event(s)" in text
    html = examples._repr_html_()
    assert f"<td>{len(examples.phases)}</td>" in html
    assert examples.outcome_counts() == {k: counts.get(k, 0) for k in OUTCOMES}


def test_save_local_bad_input_is_typed(tmp_path: Path) -> None:
    with pytest.raises(SaveLocalError) as info:
        load_save_local(tmp_path / "missing")
    assert "missing" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SaveLocalError):
        load_save_local(tmp_path / "empty")
    # a broken file is skipped and reported; strict=True raises naming it
    run = tmp_path / "run"
    run.mkdir()
    for src in FAILURE_RUN.iterdir():
        (run / src.name).write_bytes(src.read_bytes())
    bad = run / "build-5dc1b4dfa0a36b7fe9009965aa24e445-status.json"
    bad.write_text("{not json")
    data = load_save_local(run)
    assert any(bad.name in name for name, _ in data.problems)
    assert_contract(data)
    with pytest.raises(SaveLocalError) as info:
        load_save_local(run, strict=True)
    assert bad.name in str(info.value)
