"""Install trees of every Spack release, the DAG hash in every view, and folders holding
save-local runs and install trees together (issue 10, "Install trees"), on the real files
in tests/data/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spackmon_analysis import cli
from spackmon_analysis.errors import UnknownKeyError
from spackmon_analysis.failures import failures
from spackmon_analysis.frames import load, load_install_tree, load_save_local
from spackmon_analysis.report import failure_report, write_html_report

DATA = Path(__file__).resolve().parent.parent / "data"
INSTALLS = DATA / "installs"
STAGE = (
    INSTALLS / "v0.17.1/failed-stage/spack-stage-tinybroken-0.9-bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn"
)
PREFIX_017 = INSTALLS / "v0.17.1/tinyutil-2.1-o3dvqdizwzqb5yb35aqxfy4npnx625h5"
PREFIX_016 = INSTALLS / "v0.16.3/tinybase-1.0-oy5qlozs7m6g7luvusunksrymcj2wbb4"
PREFIX_022 = INSTALLS / "v0.22.1/tinyutil-2.1-olb4tahxn3q52a56sww6ljj2kugp32jd"
SAVE_LOCAL = DATA / "save-local"
FAILURE_RUN = SAVE_LOCAL / "v0.17.1-failure-tinybrokenapp"
BROKEN_DAG = "bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn"
BROKEN_FULL = "axpm7s3jmo55t4gmxldi62s7v3bjiekk"  # 0.17's full_hash: nowhere a user sees it


def _stage_as_016(root: Path) -> Path:
    """The real failed stage directory reduced to what Spack 0.16 leaves: the combined
    log and the build environment (no per-phase logs)."""
    copy = root / STAGE.name
    copy.mkdir(parents=True)
    for name in ("spack-build-out.txt", "spack-build-env.txt"):
        shutil.copyfile(STAGE / name, copy / name)
    return copy


def test_spackmon_failures_reports_a_spack_016_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "stage"
    _stage_as_016(tree)
    shutil.copytree(PREFIX_016, tree / PREFIX_016.name)
    assert cli.main(["failures", str(tree)]) == 0  # the same exit code as other failures
    out = capsys.readouterr().out
    assert "1 failed (root causes)" in out
    assert f"* tinybroken@0.9%gcc@12.2.0 /{BROKEN_DAG[:7]}" in out
    assert "failed phase: build" in out
    # the line counts in spack-build-out.txt (edit took lines 1-3), as Spack's `>> 8`
    assert 'first error (line 8 of spack-build-out.txt, Spack\'s ">> 8"' in out
    assert cli.main(["failures", str(tree), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["role"], r["dag_hash"], r["failed_phase"]) for r in rows] == [
        ("root cause", BROKEN_DAG, "build")
    ]


def test_plot_build_times_uses_the_durations_of_a_spack_022_prefix() -> None:
    import matplotlib.pyplot as plt

    from spackmon_analysis.plots import plot_build_times

    data = load_install_tree(PREFIX_022)
    assert list(data.phases["name"]) == ["edit", "build", "install"]
    times = json.loads((PREFIX_022 / ".spack/install_times.json").read_text())
    seconds = {p["name"]: p["seconds"] for p in times["phases"]}
    assert data.builds.loc[0, "duration"] == pytest.approx(
        seconds["edit"] + seconds["build"] + seconds["install"]
    )
    ax = plot_build_times(data)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "no phase durations known" not in texts and "install_times.json" not in texts
    assert [t.get_text() for t in ax.get_yticklabels()] == ["tinyutil"]
    plt.close(ax.figure)


def test_the_dag_hash_is_shown_for_save_local_data(tmp_path: Path) -> None:
    data = load_save_local(FAILURE_RUN)
    broken = data.builds[data.builds["spec_name"] == "tinybroken"].iloc[0]
    assert (broken["dag_hash"], broken["full_hash"]) == (BROKEN_DAG, BROKEN_FULL)
    found = failures(data)
    cause = found[found["role"] == "root cause"].iloc[0]
    assert (cause["dag_hash"], cause["full_hash"]) == (BROKEN_DAG, BROKEN_FULL)
    text = failure_report(data)
    assert f"tinybroken@0.9%gcc@12.2.0 /{BROKEN_DAG[:7]}" in text
    assert BROKEN_FULL not in text
    html = write_html_report(data, tmp_path / "r.html").read_text()
    assert f"/{BROKEN_DAG[:7]}" in html
    # the build card accepts the DAG hash (whole, as a prefix, with a slash) and shows it
    for key in (BROKEN_DAG, BROKEN_DAG[:7], f"/{BROKEN_DAG[:7]}"):
        view = data.build(key)
        assert view.key == broken["build"]
    card = data.build(BROKEN_DAG[:7])._repr_html_()
    assert "DAG hash" in card and BROKEN_DAG in card and BROKEN_FULL in card
    assert f"/{BROKEN_DAG}" in repr(data.build(BROKEN_DAG))


def test_a_dag_hash_built_in_several_runs_is_ambiguous_and_says_which() -> None:
    data = load_save_local(SAVE_LOCAL)
    # tinyutil is built in the success run only; its DAG hash finds that one build
    util = data.builds[data.builds["spec_name"] == "tinyutil"].iloc[0]
    assert data.build(util["dag_hash"]).key == util["build"]
    doubled = load(SAVE_LOCAL)
    twice = type(doubled).concat([doubled, load_save_local(SAVE_LOCAL)])
    with pytest.raises(UnknownKeyError) as info:
        twice.build(util["dag_hash"][:7])
    assert "matches 2 builds" in str(info.value) and "v0.17.1-success-tinyapp" in str(info.value)


def test_install_tree_builds_carry_the_dag_hash() -> None:
    data = load_install_tree(INSTALLS)
    b = data.builds.set_index("spec_name")
    assert b.loc["tinybroken", "dag_hash"] == BROKEN_DAG
    util = b.loc["tinyutil"]
    assert set(util["dag_hash"]) == {PREFIX_017.name[-32:], PREFIX_022.name[-32:]}
    assert b.loc["tinybase", "dag_hash"] == PREFIX_016.name[-32:]


def _mixed_folder(root: Path) -> Path:
    """A folder as a Spack user has one: the save-local runs under reports/monitor, the
    0.17.1 install tree (with the failed stage) under opt, and an unrelated folder."""
    shutil.copytree(SAVE_LOCAL, root / "reports" / "monitor")
    shutil.copytree(INSTALLS / "v0.17.1", root / "opt")
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("nothing Spack wrote\n")
    return root


def test_load_a_folder_with_save_local_runs_and_install_trees(tmp_path: Path) -> None:
    data = load(_mixed_folder(tmp_path / "mixed"))
    b = data.builds
    assert len(b) == 5 and set(b["source"]) == {"save-local"}  # both directories merged
    # every run is there
    assert set(b["run"].dropna()) == {"v0.17.1-success-tinyapp", "v0.17.1-failure-tinybrokenapp"}
    # the stage directory and the failure run's build are one build (same DAG hash and
    # the same phase logs): counted once, as the run's build
    broken = b[b["dag_hash"] == BROKEN_DAG]
    assert len(broken) == 1 and broken.iloc[0]["run"] == "v0.17.1-failure-tinybrokenapp"
    assert data.outcome_counts()["failed"] == 1
    # so is the tinyutil prefix and the success run's tinyutil build
    assert (b["dag_hash"] == PREFIX_017.name[-32:]).sum() == 1
    notes = dict(data.notes)
    assert (
        "same build as save-local run v0.17.1-failure-tinybrokenapp"
        in notes[str(tmp_path / "mixed" / "opt" / "failed-stage" / STAGE.name)]
    )
    assert (
        "same build as save-local run v0.17.1-success-tinyapp"
        in notes[str(tmp_path / "mixed" / "opt" / PREFIX_017.name)]
    )
    assert "not loaded" in notes[str(tmp_path / "mixed" / "notes")]
    assert data.problems == []
    phases = data.phases[data.phases["build"] == broken.iloc[0]["build"]]
    assert list(phases["name"]) == ["edit", "build"]


def test_a_mixed_folder_is_walked_once(tmp_path: Path, monkeypatch) -> None:
    """``load`` finds the runs and the prefixes/stage directories of a folder in one walk
    of it (a large install tree is not walked again per kind of source), and the
    merged result is the same."""
    import os

    root = _mixed_folder(tmp_path / "mixed")
    walked: list[str] = []
    real_walk = os.walk

    def counting_walk(top, *args, **kwargs):
        walked.append(str(top))
        return real_walk(top, *args, **kwargs)

    monkeypatch.setattr(os, "walk", counting_walk)
    data = load(root)
    assert walked.count(str(root)) == 1
    assert len(data.builds) == 5 and (data.builds["dag_hash"] == BROKEN_DAG).sum() == 1


def test_a_different_attempt_of_the_same_hash_stays_a_second_build(tmp_path: Path) -> None:
    root = _mixed_folder(tmp_path / "mixed")
    log = root / "opt" / "failed-stage" / STAGE.name / "spack-build-02-build-out.txt"
    log.chmod(0o644)
    log.write_text(log.read_text().replace("06:01:29.875639", "07:12:03.000001"))
    data = load(root)
    broken = data.builds[data.builds["dag_hash"] == BROKEN_DAG]
    assert sorted(broken["source"].astype(str)) == ["install", "save-local"]
    assert data.outcome_counts()["failed"] == 2


def test_server_and_database_data_carry_the_dag_hash(tmp_path: Path) -> None:
    """A 0.17.1 run replayed to the server: the server's builds point at specs by full
    hash, and both the client pull and the database read give the DAG hash too."""
    from spackmon_analysis.frames import MonitorData

    local = pytest.importorskip("spackmon_analysis.localmonitor")
    db = tmp_path / "monitor.db"
    with local.LocalMonitor(db_url=f"sqlite:///{db}") as mon:
        mon.add_user("tester")
        client = mon.client("tester", progress=False)
        client.upload_local_save(FAILURE_RUN, progress=False)
        online = MonitorData.from_client(client)
    offline = MonitorData.from_database(db)
    for data in (online, offline):
        broken = data.builds[data.builds["spec_name"] == "tinybroken"].iloc[0]
        assert (broken["dag_hash"], broken["full_hash"]) == (BROKEN_DAG, BROKEN_FULL)
        assert f"/{BROKEN_DAG[:7]}" in failure_report(data)


def test_a_stage_log_without_phase_markers_is_named_in_the_notes(tmp_path: Path) -> None:
    stage = tmp_path / "stage" / STAGE.name
    stage.mkdir(parents=True)
    (stage / "spack-build-out.txt").write_text("gcc: fatal error: no input files\n")
    data = load(tmp_path / "stage")
    assert list(data.builds["outcome"]) == ["unknown"]
    (path, message), *_ = data.notes
    assert path == str(stage) and "Executing phase" in message and "no phases" in message


def test_the_example_folder_counts_each_build_once() -> None:
    """examples/data holds the six example runs and the install tree they left: every
    prefix and the failed stage are builds of some run, so loading the folder gives the
    runs' builds, no more, with one note per merged directory."""
    root = Path(__file__).resolve().parents[2] / "examples" / "data"
    data = load(root)
    runs = load_save_local(root / "save-local")
    assert len(data.builds) == len(runs.builds)
    assert set(data.builds["source"].astype(str)) == {"save-local"}
    assert data.outcome_counts() == runs.outcome_counts()
    merged = [p for p, m in data.notes if "the same build as save-local run" in m]
    directories = [
        p
        for p, m in data.notes
        if "superseded by its install" not in m and not m.endswith("not loaded")
    ]
    # the folder's own files (its generator, its manifest) are named, not loaded
    assert sorted(Path(p).name for p, m in data.notes if m.endswith("not loaded")) == [
        "generate.py",
        "manifest.json",
    ]
    assert merged and len(merged) == len(directories)
    # the failed openmpi stage is the last failed attempt: the last run's openmpi build
    openmpi_stage = [m for p, m in data.notes if "spack-stage-openmpi" in p]
    last = sorted(runs.runs)[-1]
    assert len(openmpi_stage) == 1 and f"save-local run {last}" in openmpi_stage[0]
