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
    ConfigError,
    InstallPrefixError,
    SaveLocalError,
    SpackmonError,
)
from spackmon_analysis.frames import (
    FRAME_COLUMNS,
    OUTCOMES,
    MonitorData,
    load,
    load_install_tree,
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
        "variants_text": STRING,
        "build_spec": STRING,
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
        "dag_hash": STRING,
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
        "build_log_first_line": "Int64",
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
    "attempts": {
        "attempt": STRING,
        "build": STRING,
        "number": "Int64",
        "started_at": UTC,
        "finished_at": UTC,
        "status": CATEGORY,
        "outcome": CATEGORY,
        "duration": "float64",
        "latest": "bool",
    },
    "attempt_phases": {
        "attempt": STRING,
        "name": CATEGORY,
        "order": "Int64",
        "status": CATEGORY,
        "duration": "float64",
        "started_at": UTC,
    },
    "attempt_events": {
        "attempt": STRING,
        "phase": CATEGORY,
        "kind": CATEGORY,
        "text": STRING,
        "line_no": "Int64",
        "primary_class": STRING,
        "fingerprint": STRING,
    },
}


def assert_contract(data: MonitorData, extra: dict[str, list[str]] | None = None) -> None:
    """Every frame has exactly the contract's columns, in order, with its dtypes, then the
    ``extra`` columns its source documents (docs/analysis.md), if any."""
    for name, expected in EXPECTED_DTYPES.items():
        frame = getattr(data, name)
        assert list(frame.columns) == [*expected, *(extra or {}).get(name, [])], name
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


# ---------------------------------------------------------------------------------
# install trees


def test_install_tree_real_fixtures() -> None:
    data = load_install_tree(INSTALLS)
    assert_contract(data, {"builds": ["configure_args", "build_env", "archived_files"]})
    b = data.builds.set_index("spec_name")
    assert set(b.index) == {"tinyutil", "tinybroken"}
    assert b.loc["tinyutil", "build"] == "o3dvqdizwzqb5yb35aqxfy4npnx625h5"  # the DAG hash
    assert b.loc["tinyutil", "status"] == "SUCCESS"
    assert b.loc["tinyutil", "outcome"] == "succeeded"
    assert b.loc["tinyutil", "source"] == "install"
    assert b.loc["tinyutil", "compiler"] == "gcc@12.2.0"
    assert b.loc["tinybroken", "status"] == "FAILED"
    assert b.loc["tinybroken", "outcome"] == "failed"
    assert b.loc["tinybroken", "compiler"] == "gcc@12.2.0"  # from SPACK_SHORT_SPEC
    assert data.runs == []
    # durations come from install_times.json, read as Spack 0.17 wrote it (each value
    # belongs to the phase before the one it is filed under; see docs/install-trees.md)
    times = json.loads(
        (
            INSTALLS / "tinyutil-2.1-o3dvqdizwzqb5yb35aqxfy4npnx625h5/.spack/install_times.json"
        ).read_text()
    )
    seconds = {p["name"]: p["seconds"] for p in times["phases"]}
    util = data.phases[data.phases["build"] == "o3dvqdizwzqb5yb35aqxfy4npnx625h5"]
    assert list(util["name"]) == ["edit", "build", "install"]
    assert list(util["duration"])[:2] == [seconds["build"], seconds["install"]]
    # every phase together: the total minus the time before the first phase
    total = times["total"]["seconds"]
    assert b.loc["tinyutil", "duration"] == pytest.approx(total - seconds["edit"])
    errors = data.events[data.events["kind"] == "error"]
    assert (errors["build"] == "bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn").all()
    assert errors["text"].str.contains("broken.c:4:3: error").any()
    # the prefix's spec graph gives the specs and edges
    assert {"tinyutil", "tinybase"} <= set(data.specs["name"])
    assert len(data.dependencies) >= 1


def test_install_tree_single_prefix_gzip_and_empty(tmp_path: Path) -> None:
    prefix = INSTALLS / "tinyutil-2.1-o3dvqdizwzqb5yb35aqxfy4npnx625h5"
    for start in (prefix, prefix / ".spack"):
        one = load_install_tree(start)
        assert list(one.builds["spec_name"]) == ["tinyutil"]
    # the same prefix with gzipped logs (Spack 0.22+) gives the same phases
    import gzip
    import shutil

    copy = tmp_path / "opt" / prefix.name
    shutil.copytree(prefix, copy)
    for log in (copy / ".spack").glob("spack-build-*out.txt"):
        with gzip.open(f"{log}.gz", "wb") as fh:
            fh.write(log.read_bytes())
        log.unlink()
    zipped = load_install_tree(tmp_path / "opt")
    plain = load_install_tree(prefix)
    cols = ["name", "order", "status", "output_size", "duration", "output"]
    pd.testing.assert_frame_equal(zipped.phases[cols], plain.phases[cols])
    with pytest.raises(InstallPrefixError) as info:
        load_install_tree(tmp_path / "nothing-here")
    assert "nothing-here" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InstallPrefixError) as info:
        load_install_tree(tmp_path / "empty")
    assert "empty" in str(info.value)


def test_load_dispatches_on_the_path(tmp_path: Path) -> None:
    assert set(load(SUCCESS_RUN).builds["source"]) == {"save-local"}
    assert set(load(SAVE_LOCAL).builds["run"]) == {FAILURE_RUN.name, SUCCESS_RUN.name}
    assert set(load(INSTALLS).builds["source"]) == {"install"}
    assert len(load(INSTALLS, keep_output=False).phases["output"].dropna()) == 0
    # (a folder of spec files loads: tests/reports/test_folder_inputs.py)
    for bad in (tmp_path / "missing", DATA / "README.md"):
        with pytest.raises(ConfigError) as info:
            load(bad)
        assert isinstance(info.value, SpackmonError)
        assert str(bad) in str(info.value)


# ---------------------------------------------------------------------------------
# graph, filter, concat


def test_graph_node_outcomes(fixtures: MonitorData) -> None:
    graph = fixtures.graph()
    names = {data["name"]: key for key, data in graph.nodes(data=True)}
    assert graph.nodes[names["tinybroken"]]["outcome"] == "failed"
    assert graph.nodes[names["tinybroken"]]["status"] is None
    assert graph.nodes[names["tinybrokenapp"]]["outcome"] == "never built"
    assert graph.nodes[names["tinybrokenapp"]]["status"] == "FAILED"
    # tinybase was built in the success run only
    assert graph.nodes[names["tinybase"]]["outcome"] == "succeeded"
    # edges go dependent -> dependency and carry deptypes
    assert graph.has_edge(names["tinybrokenapp"], names["tinybroken"])
    assert graph.edges[names["tinybrokenapp"], names["tinybroken"]]["deptypes"] == "build,link"
    assert set(graph.nodes[names["tinyapp"]]) >= set(EXPECTED_DTYPES["specs"]) | {
        "status",
        "outcome",
    }
    # restricted to the failure run, what only the success run built is "not built"
    only = fixtures.graph(run=FAILURE_RUN.name)
    assert only.nodes[names["tinybase"]]["outcome"] == "not built"
    assert only.nodes[names["tinybroken"]]["outcome"] == "failed"


def test_graph_latest_build_wins(examples: MonitorData) -> None:
    # openmpi (gcc) failed on 11-21 and again on 11-25; sqlite (clang) failed on
    # 11-22 and succeeded on the 11-23 retry
    graph = examples.graph()
    by_name: dict[tuple[str, str], dict] = {}
    for _, attrs in graph.nodes(data=True):
        by_name[(attrs["name"], attrs["compiler"])] = attrs
    assert by_name[("sqlite", "clang@14.0.6")]["outcome"] == "succeeded"
    assert by_name[("openmpi", "gcc@12.2.0")]["outcome"] == "failed"
    first = examples.graph(run="2026-11-22-03-15-42-1795317342")
    sqlite = [a for _, a in first.nodes(data=True) if a["name"] == "sqlite"]
    assert {a["outcome"] for a in sqlite if a["compiler"] == "clang@14.0.6"} == {"failed"}


def test_filter(examples: MonitorData) -> None:
    failed = examples.filter(outcome="failed")
    assert sorted(failed.builds["spec_name"]) == ["openmpi", "openmpi", "sqlite"]
    assert set(failed.phases["build"]) == set(failed.builds["build"])
    assert set(failed.events["build"]) <= set(failed.builds["build"])
    assert len(failed.specs) == len(examples.specs)  # specs kept whole
    assert_contract(failed)
    clang = examples.filter(compiler="clang")
    assert set(clang.builds["compiler"]) == {"clang@14.0.6"}
    assert len(examples.filter(compiler="clang@14.0.6").builds) == len(clang.builds)
    run = examples.runs[1]
    both = examples.filter(package=["hdf5", "openmpi"], run=run)
    assert sorted(both.builds["spec_name"]) == ["hdf5", "openmpi"]
    assert examples.filter(run=run).runs == [run]
    with pytest.raises(ConfigError):
        examples.filter(outcome="exploded")


def test_concat_keeps_build_keys_unique(fixtures: MonitorData) -> None:
    success = load_save_local(SUCCESS_RUN)
    failure = load_save_local(FAILURE_RUN)
    joined = MonitorData.concat([success, failure])
    assert_contract(joined)
    assert len(joined.builds) == len(fixtures.builds)
    assert set(joined.builds["build"]) == set(fixtures.builds["build"])
    assert len(joined.specs) == len(fixtures.specs)
    # the same data twice: the second copy's keys get prefixed, everything kept
    twice = MonitorData.concat([success, success])
    assert_contract(twice)
    assert len(twice.builds) == 2 * len(success.builds)
    assert len(twice.phases) == 2 * len(success.phases)
    assert len(twice.specs) == len(success.specs)
    assert set(twice.phases["build"]) == set(twice.builds["build"])


# ---------------------------------------------------------------------------------
# online: the same runs replayed into the embedded monitor, read back two ways

# gcc hdf5 stack with a compile failure (errors) and clang hdf5 stack (warnings):
# no spec in common, so the server keeps one build per save-local build.
REPLAYED = ("2026-11-21-02-00-07-1795226407", "2026-11-24-03-16-30-1795490190")


@pytest.fixture(scope="module")
def online():
    from spackmon_analysis import LocalMonitor

    runs = [EXAMPLES / "save-local" / name for name in REPLAYED]
    with LocalMonitor() as mon:
        mon.add_user("alice")
        with mon.client("alice", progress=False, backoff=0) as client:
            summary = client.upload_local_save(runs, progress=False)
            assert not summary.problems
            yield {
                "offline": MonitorData.concat([load_save_local(run) for run in runs]),
                "client": MonitorData.from_client(client),
                "client_light": MonitorData.from_client(client, keep_output=False),
                "database": MonitorData.from_database(mon.db_url),
                "url": mon.db_url,
            }


def _by_hash(data: MonitorData) -> pd.DataFrame:
    return data.builds.set_index("full_hash").sort_index()


def test_online_frames_follow_the_contract(online) -> None:
    for key in ("client", "client_light", "database"):
        assert_contract(online[key])
    client = online["client"]
    assert set(client.builds["source"]) == {"server"}
    assert set(online["database"].builds["source"]) == {"database"}
    assert (client.builds["build"] == client.builds["build_id"].astype(str)).all()
    assert set(client.builds["owner"]) == {"alice"}
    assert client.runs == []
    assert client.builds["run_time"].notna().all()


def test_from_database_equals_from_client(online) -> None:
    client, database = online["client"], online["database"]
    for name in ("specs", "dependencies", "phases", "events"):
        pd.testing.assert_frame_equal(getattr(client, name), getattr(database, name))
    pd.testing.assert_frame_equal(
        client.builds.drop(columns="source"), database.builds.drop(columns="source")
    )


def test_online_equals_offline(online) -> None:
    offline, client = online["offline"], online["client"]
    assert len(client.builds) == len(offline.builds) == 16
    on, off = _by_hash(client), _by_hash(offline)
    assert list(on.index) == list(off.index)  # same specs built
    for column in ("spec_name", "spec_version", "outcome", "compiler", "tags", "hostname"):
        assert list(on[column].astype(object)) == list(off[column].astype(object)), column
    assert on["duration"].to_numpy() == pytest.approx(off["duration"].to_numpy(), nan_ok=True)
    # status: what each source recorded; Spack 0.17 writes none for the failed package,
    # which the server keeps as its default NOTRUN
    recorded = off["status"].astype(object).where(off["status"].notna(), "NOTRUN")
    assert list(on["status"].astype(object)) == list(recorded)
    # phases: same names, order, status, sizes, durations, times and text per build
    cols = ["name", "order", "status", "output_size", "duration", "started_at", "output"]

    def phases(data: MonitorData) -> pd.DataFrame:
        frame = data.phases.merge(data.builds[["build", "full_hash"]], on="build")
        frame = frame.sort_values(["full_hash", "order"], ignore_index=True)
        frame["name"] = frame["name"].astype(object)
        frame["status"] = frame["status"].astype(object)
        return frame[["full_hash", *cols]]

    pd.testing.assert_frame_equal(phases(client), phases(offline))
    # events: the server's stored builderrors/buildwarnings equal parse_log offline
    event_cols = [c for c in EXPECTED_DTYPES["events"] if c != "build"]

    def events(data: MonitorData) -> pd.DataFrame:
        frame = data.events.merge(data.builds[["build", "full_hash"]], on="build")
        frame = frame.sort_values(["full_hash", "phase", "line_no"], ignore_index=True)
        for column in ("phase", "kind"):
            frame[column] = frame[column].astype(object)
        return frame[["full_hash", *event_cols]]

    assert set(offline.events["kind"]) == {"error", "warning"}
    pd.testing.assert_frame_equal(events(client), events(offline))
    # specs and edges (the server stores each node once)
    assert set(client.specs["full_hash"]) == set(offline.specs["full_hash"])
    edges = {tuple(r) for r in offline.dependencies.itertuples(index=False)}
    assert {tuple(r) for r in client.dependencies.itertuples(index=False)} == edges
    # graph outcomes agree
    g_on, g_off = client.graph(), offline.graph()
    assert {k: g_on.nodes[k]["outcome"] for k in g_on} == {
        k: g_off.nodes[k]["outcome"] for k in g_off
    }


def test_from_client_without_output(online) -> None:
    light, full = online["client_light"], online["client"]
    assert light.phases["output"].isna().all()
    assert list(light.phases["output_size"]) == list(full.phases["output_size"])
    assert len(light.events) == len(full.events)
    assert list(light.builds["outcome"]) == list(full.builds["outcome"])


def test_online_bad_input_is_typed(online, tmp_path: Path) -> None:
    from spackmon_analysis.errors import MonitorError

    with pytest.raises(ConfigError) as info:
        MonitorData.from_database(tmp_path / "missing.db")
    assert "missing.db" in str(info.value)
    with pytest.raises(ConfigError):
        MonitorData.from_database("notadb://x")

    class Client:
        """Serves the rows of one route with a field left out."""

        def __init__(self, route: str, field: str):
            self.route, self.field = route, field

        def pull(self, route: str, **_: object) -> list[dict]:
            rows = {
                "specs": [{"id": 1, "full_hash": "a" * 32, "name": "zlib"}],
                "builds": [{"id": 1, "full_hash": "a" * 32}],
            }.get(route, [])
            if route == self.route:
                rows = [{k: v for k, v in r.items() if k != self.field} for r in rows]
            return rows

    assert len(MonitorData.from_client(Client("none", "")).builds) == 1
    for route, field in (("specs", "full_hash"), ("builds", "full_hash"), ("builds", "id")):
        with pytest.raises(MonitorError) as info:
            MonitorData.from_client(Client(route, field))
        assert route in str(info.value) and repr(field) in str(info.value)


def test_build_hash_resolves_to_the_spec_node(tmp_path: Path) -> None:
    # Spack 0.18 sends its DAG hash as the build's full_hash while the uploaded nodes
    # are keyed by a legacy full_hash: the build must still point at its node.
    run = tmp_path / "run"
    run.mkdir()
    for src in FAILURE_RUN.iterdir():
        (run / src.name).write_bytes(src.read_bytes())
    meta = run / "build-metadata-5dc1b4dfa0a36b7fe9009965aa24e445.json"
    body = json.loads(meta.read_text())
    original = body["full_hash"]
    spec = json.loads((run / "spec-tinybrokenapp-1.0-config.json").read_text())
    nodes = spec["spec"]["spec"]["nodes"] if "spec" in spec["spec"] else spec["spec"]["nodes"]
    node = next(n for n in nodes if n.get("full_hash") == original)
    body["full_hash"] = node["hash"]
    meta.write_text(json.dumps(body))
    data = load_save_local(run)
    row = data.builds.set_index("build").loc["5dc1b4dfa0a36b7fe9009965aa24e445"]
    assert row["full_hash"] == original
    assert row["spec_name"] == "tinybrokenapp" and row["compiler"] == "gcc@12.2.0"
    assert data.graph().nodes[original]["outcome"] == "never built"


def test_constructor_conforms_plain_frames(fixtures: MonitorData) -> None:
    plain = {
        name: getattr(fixtures, name).astype(object)
        for name in ("specs", "dependencies", "builds", "phases", "events")
    }
    rebuilt = MonitorData(**plain, source="plain")
    assert_contract(rebuilt)
    pd.testing.assert_frame_equal(rebuilt.builds, fixtures.builds)
    pd.testing.assert_frame_equal(rebuilt.events, fixtures.events)


def _edge_case_database(path: Path) -> str:
    """A server database whose phases exercise the column-wise reader's corner cases."""
    import sqlite3

    from spackmon_analysis.server.auth import add_user
    from spackmon_analysis.server.tables import Store

    url = f"sqlite:///{path}"
    store = Store.open(url)
    add_user(store, "alice")
    store.dispose()
    when = "2026-11-01 06:00:00.000000"

    def log(*stamps: str) -> str:
        return "".join(f"==> [{s}] step\nchatter\n" for s in stamps)

    ok1, ok2, ok3 = "2026-11-01-06:00:01.5", "2026-11-01-06:00:09", "2026-11-01-06:00:30.000123"
    phases = [  # (id, build, name, status, output)
        (1, 1, "install", "SUCCESS", log(ok3, "2026-11-01-06:00:31")),
        (2, 2, "install", "SUCCESS", None),
        (3, 1, "edit", "SUCCESS", ""),  # untimed among timed phases
        (4, 1, "configure", "SUCCESS", "no stamp here\n" + log(ok1, ok2)),
        (5, 2, "build", "SUCCESS", "plain text"),
        (6, 1, "build", "ERROR", log(ok2)),  # one stamp: no duration
        (7, 3, "build", "SUCCESS", log("2026-13-01-06:00:00", ok1, "2026-11-31-00:00:00")),
        (8, 3, "configure", "SUCCESS", log(ok1, ok3)),  # same first stamp as 7: id order
        (9, 3, "install", "SUCCESS", log("2026-11-01-06:00:61", "2026-11-01-06:00:02.1234567")),
    ]
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO specs (id, name, version, full_hash, hash, spack_version, compiler_name, "
            "compiler_version, parameters, external, is_root, created_at) "
            "VALUES (?, ?, '1.3', ?, ?, '0.17.1', 'gcc', '12.2.0', '{}', 0, 1, ?)",
            [(i, f"pkg{i}", f"full{i}", f"dag{i}", when) for i in (1, 2, 3)],
        )
        con.execute(
            "INSERT INTO build_environments (id, hostname, host_os, platform, host_target, "
            "kernel_version) VALUES (1, 'h', 'ubuntu22.04', 'linux', 'zen3', '6.1')"
        )
        con.executemany(
            "INSERT INTO builds (id, spec_id, build_environment_id, owner_id, status, tags, "
            "spack_version, created_at, updated_at) VALUES (?, ?, 1, 1, ?, ?, '0.17.1', ?, ?)",
            [
                (1, 1, "FAILED", '["a", "b"]', when, when),
                (2, 2, "SUCCESS", "[]", "2026-11-01 07:00:00.250000", when),
                (3, 3, "NOTRUN", '["a", "b"]', when, when),
            ],
        )
        con.executemany(  # each build's one attempt (schema 2)
            "INSERT INTO build_attempts (id, build_id, number, status, latest, started_at, "
            "created_at, updated_at) VALUES (?, ?, 1, ?, 1, ?, ?, ?)",
            [
                (b, b, st, when, when, when)
                for b, st in ((1, "FAILED"), (2, "SUCCESS"), (3, "NOTRUN"))
            ],
        )
        con.executemany(
            "INSERT INTO build_phases (id, build_id, attempt_id, name, status, output, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(i, b, b, name, st, out, when, when) for i, b, name, st, out in phases],
        )
        con.executemany(
            "INSERT INTO build_events (id, kind, build_id, phase_id, text, line_no, pre_context, "
            "post_context, repeat_count, classes) VALUES (?, ?, 1, ?, ?, ?, '[]', '[\"x\"]', 1, "
            "'[\"compiler\"]')",
            [
                (1, "warning", 6, "warning: w", 1),
                (2, "error", 6, "error: e", 3),
                (3, "error", 4, "error: c", 2),
                (4, "warning", 6, "warning: v", 2),
            ],
        )
    con.close()
    return url


@pytest.mark.parametrize("keep_output", [True, False])
def test_from_database_column_reader_corner_cases(tmp_path, monkeypatch, keep_output) -> None:
    """The column-wise database reader gives exactly the frames of the data API rows
    (untimed phases among timed ones, invalid stamps, ties, paging, events order)."""
    from spackmon_analysis.loaders import database, server
    from spackmon_analysis.server.queries import read_rows

    url = _edge_case_database(tmp_path / "edge.db")
    monkeypatch.setattr(database, "_CHUNK", 2)
    monkeypatch.setattr(database, "_CHUNK_WITH_LOGS", 2)
    direct = MonitorData.from_database(url, keep_output=keep_output)
    phase_filter = {} if keep_output else {"output": False}
    rows = {
        route: list(read_rows(url, route, **(phase_filter if route == "buildphases" else {})))
        for route in ("specs", "dependencies", "builds", "buildphases")
    }
    rows |= {route: list(read_rows(url, route)) for route in ("builderrors", "buildwarnings")}
    expected = MonitorData.from_frames(
        server.rows_frames(rows, source="database", label=url, keep_output=keep_output)
    )
    for name in ("specs", "dependencies", "builds", "phases", "events"):
        pd.testing.assert_frame_equal(getattr(direct, name), getattr(expected, name))
    phases = direct.phases
    assert list(phases["phase_id"]) == (
        [4, 3, 6, 1, 5, 2, 7, 8, 9] if keep_output else [4, 3, 6, 1, 5, 2, 8, 7, 9]
    )
    if keep_output:
        by_id = phases.set_index("phase_id")
        assert by_id.loc[6, "duration"] != by_id.loc[6, "duration"]  # one stamp: NaN
        assert pd.isna(by_id.loc[7, "duration"])  # one valid stamp among invalid ones
        assert by_id.loc[7, "started_at"] == pd.Timestamp("2026-11-01 06:00:01.5", tz="UTC")
        assert by_id.loc[8, "duration"] == pytest.approx(28.500123)
        assert pd.isna(by_id.loc[9, "started_at"])  # no valid stamp at all
    assert list(direct.events["text"]) == ["error: c", "warning: w", "warning: v", "error: e"]
    assert direct.builds["tags"].tolist() == [("a", "b"), (), ("a", "b")]


def test_install_tree_stage_superseded_by_its_install_is_a_note() -> None:
    """The bundled tree holds sqlite's stage directory of a failed attempt and, under the
    same hash, its later install: the install is the current state, the stage a note."""
    root = Path(__file__).resolve().parents[2] / "examples" / "data" / "installs"
    stage_dirs = sorted((root / "stage").glob("spack-stage-*"))
    prefixes = (root / "opt" / "spack").glob("*/*/*-*")
    installed = {p.name.rsplit("-", 1)[-1] for p in prefixes if (p / ".spack").is_dir()}
    superseded = [d for d in stage_dirs if d.name.rsplit("-", 1)[-1] in installed]
    assert superseded, "the example data has a stage directory of an installed hash"
    data = load_install_tree(root)
    assert data.problems == []
    # besides: openmpi's failed stage directory has no spec, so no DAG says what it blocked
    stages = [(w, m) for w, m in data.notes if not m.startswith("no DAG")]
    assert sorted(Path(name).name for name, _ in stages) == [d.name for d in superseded]
    assert [m for _, m in data.notes if m.startswith("no DAG for openmpi")]
    for d in superseded:
        key = d.name.rsplit("-", 1)[-1]
        row = data.builds[data.builds["build"] == key]
        assert list(row["status"]) == ["SUCCESS"] and list(row["outcome"]) == ["succeeded"]
    others = [d for d in stage_dirs if d not in superseded]
    for d in others:  # a stage directory of a hash that never installed is a failure
        key = d.name.rsplit("-", 1)[-1]
        assert list(data.builds.loc[data.builds["build"] == key, "outcome"]) == ["failed"]
    assert data.filter(package="sqlite").notes == data.notes


def test_capped_phase_log_is_named_in_notes(tmp_path: Path) -> None:
    """A phase log with more distinct events than parse_log keeps: the loader says so."""
    import json
    import shutil

    from spackmon_analysis.logs import DEFAULT_MAX_EVENTS

    run = tmp_path / "run"
    shutil.copytree(EXAMPLES / "save-local" / "2026-11-20-02-00-11-1795140011", run)
    phase = sorted(run.glob("*-phase-build.json"))[0]
    doc = json.loads(phase.read_text())
    n = DEFAULT_MAX_EVENTS + 25
    doc["output"] = "".join(f"f{i}.c:{i}:1: error: bad {i}\n" for i in range(n))
    phase.write_text(json.dumps(doc))
    data = load_save_local(run)
    build = doc["build_id"]
    notes = [(where, message) for where, message in data.notes if "not kept" in message]
    assert len(notes) == 1
    where, message = notes[0]
    assert build in where and where.endswith("/build")
    assert message.startswith("25 error line(s) not kept")
    mine = data.events[data.events["build"].astype(str).str.contains(build[:8])]
    assert (mine["kind"] == "error").sum() >= DEFAULT_MAX_EVENTS
