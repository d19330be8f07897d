"""``data.to_parquet(dir)`` and ``MonitorData.from_parquet(dir)``: every frame (the history
frames too) back with the same values and dtypes (categories in their order, tuples, lists,
NaN beside None), the notes, problems and source, the same DAG, and the same analysis."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import spackmon_analysis as sma
from spackmon_analysis import MonitorData
from spackmon_analysis.demo import example_data_dir
from spackmon_analysis.errors import ConfigError
from spackmon_analysis.records import ATTEMPT_FRAMES, FRAME_NAMES

DATA = Path(__file__).resolve().parent.parent / "data"
ALL_FRAMES = (*FRAME_NAMES, *ATTEMPT_FRAMES)


def assert_same_data(saved: MonitorData, back: MonitorData) -> None:
    for name in ALL_FRAMES:
        left, right = getattr(saved, name), getattr(back, name)
        pd.testing.assert_frame_equal(left, right, check_categorical=True, obj=name)
        assert [str(d) for d in left.dtypes] == [str(d) for d in right.dtypes], name
        for column in left.columns:
            if isinstance(left[column].dtype, pd.CategoricalDtype):
                assert list(left[column].cat.categories) == list(right[column].cat.categories)
    assert back.source == saved.source
    assert back.notes == saved.notes
    assert back.problems == saved.problems
    assert back.has_attempt_rows == saved.has_attempt_rows
    before, after = saved.graph(), back.graph()
    assert sorted(before.edges(data=True)) == sorted(after.edges(data=True))
    assert dict(before.nodes(data=True)) == dict(after.nodes(data=True))


@pytest.fixture(scope="module")
def every_source() -> MonitorData:
    """Save-local runs, install trees, JUnit/CDash reports and spec files of real Spack
    releases (tests/data) and the bundled example runs, in one object."""
    return MonitorData.concat([sma.load(DATA), sma.load(example_data_dir())])


def test_round_trip_of_every_source(every_source: MonitorData, tmp_path: Path) -> None:
    data = every_source
    # what makes the round trip hard is there: categoricals, tuples, lists, NaN beside None
    assert isinstance(data.builds["outcome"].dtype, pd.CategoricalDtype)
    assert any(isinstance(t, tuple) and t for t in data.builds["tags"])
    assert any(isinstance(c, list) and c for c in data.events["pre_context"])
    assert data.notes and len(data.dependencies) > 10
    folder = data.to_parquet(tmp_path / "export")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{n}.parquet" for n in ALL_FRAMES] + ["manifest.json"]
    )
    back = MonitorData.from_parquet(folder)
    assert_same_data(data, back)
    pd.testing.assert_frame_equal(sma.failures(back), sma.failures(data))
    pd.testing.assert_frame_equal(sma.failure_trends(back), sma.failure_trends(data))


def test_history_frames_of_the_source_come_back(every_source: MonitorData, tmp_path) -> None:
    """A source with its own attempts (two for one build): kept as given, not re-derived."""
    data = every_source
    attempts = data.attempts.copy()
    again = attempts.iloc[[0]].copy()
    again["attempt"] = again["attempt"].astype(str) + "#2"
    again["number"] = pd.array([2], dtype="Int64")
    again["outcome"] = again["outcome"].cat.set_categories(attempts["outcome"].cat.categories)
    given = {
        "attempts": pd.concat([attempts, again], ignore_index=True),
        "attempt_phases": data.attempt_phases,
        "attempt_events": data.attempt_events,
    }
    with_history = MonitorData(
        data.specs, data.dependencies, data.builds, data.phases, data.events,
        source="history", notes=[("x", "a note")], attempts=given,
    )  # fmt: skip
    assert with_history.has_attempt_rows and len(with_history.attempts) == len(attempts) + 1
    back = MonitorData.from_parquet(with_history.to_parquet(tmp_path / "h"))
    assert_same_data(with_history, back)
    pd.testing.assert_frame_equal(sma.error_history(back), sma.error_history(with_history))


def test_database_frames_round_trip(tmp_path) -> None:
    """The categoricals ``from_database`` builds (status and outcome vocabularies first)."""
    with sma.LocalMonitor() as mon:
        mon.add_user("u")
        with mon.client("u", progress=False, backoff=0) as client:
            runs = sorted(p for p in (DATA / "save-local").iterdir() if p.is_dir())
            assert not client.upload_local_save(runs, progress=False).problems
        data = MonitorData.from_database(mon.db_url)
    back = MonitorData.from_parquet(data.to_parquet(tmp_path / "db"))
    assert_same_data(data, back)


def test_files_are_plain_parquet_for_other_engines(every_source, tmp_path) -> None:
    folder = every_source.to_parquet(tmp_path / "x")
    builds = pq.read_table(folder / "builds.parquet")
    assert str(builds.schema.field("outcome").type).startswith("dictionary<values=string")
    assert str(builds.schema.field("created_at").type) == "timestamp[ns, tz=UTC]"
    tags = builds.column("tags").to_pylist()
    assert all(t is None or isinstance(json.loads(t), list) for t in tags)  # JSON text
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["frames"]["builds"]["tags"]["container"] == "tuple"


def test_writing_again_replaces_the_export(every_source, tmp_path) -> None:
    folder = tmp_path / "x"
    every_source.to_parquet(folder)
    smaller = every_source.filter(outcome="failed")
    smaller.to_parquet(folder)
    back = MonitorData.from_parquet(folder)
    assert set(back.builds["outcome"].astype(object)) == {"failed"}
    assert not any(p.name.endswith(".partial") for p in folder.iterdir())


def test_bad_folders_are_config_errors_naming_the_file(every_source, tmp_path) -> None:
    with pytest.raises(ConfigError, match="no such folder"):
        MonitorData.from_parquet(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"manifest.json: missing \(not a folder written"):
        MonitorData.from_parquet(tmp_path / "empty")
    folder = every_source.to_parquet(tmp_path / "x")
    events = folder / "events.parquet"
    events.write_bytes(events.read_bytes()[:100])  # cut short
    with pytest.raises(ConfigError, match=r"events.parquet: not a readable Parquet file"):
        MonitorData.from_parquet(folder)
    (folder / "phases.parquet").unlink()
    with pytest.raises(ConfigError, match=r"phases.parquet: missing"):
        MonitorData.from_parquet(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="format 99, this version reads format 1"):
        MonitorData.from_parquet(folder)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        every_source.to_parquet(tmp_path / "file")


def test_the_duckdb_example_of_the_docs(every_source, tmp_path, monkeypatch) -> None:
    """The DuckDB block of docs/analysis.md, run as written, gives pandas' answers."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "analysis.md").read_text()
    (block,) = [b for b in docs.split("```python\n")[1:] if b.startswith("import duckdb")]
    code = block.split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    data = every_source
    space: dict = {"data": data}
    exec(compile(code, "docs/analysis.md", "exec"), space)
    expected = sma.failure_rates(data, "spec_name")
    rates = space["rates"].set_index("spec_name").sort_index()
    expected = expected.set_index("spec_name").sort_index()
    assert rates["builds"].tolist() == expected["builds"].tolist()
    assert rates["failed"].tolist() == expected["failed"].tolist()
    assert rates["blocked"].tolist() == expected["blocked"].tolist()
    trends = sma.failure_trends(data, "W", None)
    weekly = space["weekly"]
    assert weekly["attempts"].tolist() == trends["attempts"].tolist()
    assert weekly["failed"].tolist() == trends["failed"].tolist()
    assert [str(w.date()) for w in weekly["week"]] == [str(p.date()) for p in trends["period"]]
    tag_counts = data.builds["tags"].explode().dropna().value_counts().sort_index()
    assert dict(zip(space["tags"]["tag"], space["tags"]["builds"], strict=True)) == dict(tag_counts)
    errored = data.phases[data.phases["status"].astype(object) == "ERROR"]
    assert space["failed_phases"]["failed"].sum() == len(errored)


def test_a_manifest_path_out_of_the_folder_is_a_config_error(every_source, tmp_path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text((Path(sma.__file__).parent / "data" / "failure_classes.yaml").read_text())
    folder = every_source.to_parquet(tmp_path / "x")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for named in ("../outside.yaml", str(outside), "sub/rules.yaml", ".."):
        manifest["rules"] = named
        manifest_path.write_text(json.dumps(manifest))
        with pytest.raises(ConfigError, match=r"manifest.json: rules .* not a file name inside"):
            MonitorData.from_parquet(folder)


def test_a_custom_rules_file_travels_inside_the_folder(every_source, tmp_path) -> None:
    own = tmp_path / "own.yaml"
    own.write_text((Path(sma.__file__).parent / "data" / "failure_classes.yaml").read_text())
    data = MonitorData.concat([every_source])
    from spackmon_analysis.logs import load_rules

    data.rules = load_rules(own)
    folder = data.to_parquet(tmp_path / "x")
    own.unlink()  # the export does not need the original any more
    back = MonitorData.from_parquet(folder)
    assert back.rules is not None and Path(back.rules.source) == folder / "rules.yaml"
    assert back.rules.precedence == data.rules.precedence
    assert not [n for n in back.notes if "rules file" in n[1]]


def test_a_file_linked_out_of_the_folder_is_refused_not_followed(every_source, tmp_path) -> None:
    """A folder from someone else may hold links: a frame or rules file that points outside
    the folder is a ConfigError naming it; a link inside the folder is read as usual."""
    folder = every_source.to_parquet(tmp_path / "x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    frame = folder / "builds.parquet"
    frame.rename(elsewhere / "builds.parquet")
    frame.symlink_to(elsewhere / "builds.parquet")
    with pytest.raises(ConfigError, match=r"builds\.parquet: a link to .*outside the folder"):
        MonitorData.from_parquet(folder)
    frame.unlink()
    (elsewhere / "builds.parquet").rename(folder / "kept.parquet")
    frame.symlink_to(folder / "kept.parquet")  # inside the folder: followed
    assert_same_data(every_source, MonitorData.from_parquet(folder))

    secret = tmp_path / "secret.yaml"
    secret.write_text((Path(sma.__file__).parent / "data" / "failure_classes.yaml").read_text())
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["rules"] = "rules.yaml"
    manifest_path.write_text(json.dumps(manifest))
    (folder / "rules.yaml").symlink_to(secret)
    with pytest.raises(ConfigError, match=r"rules\.yaml: a link to .*secret\.yaml, outside"):
        MonitorData.from_parquet(folder)
