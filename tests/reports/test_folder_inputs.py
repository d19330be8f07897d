"""Folders given to ``load``: the spec files in them (alone or beside reports and install
trees), and every file or folder the walk leaves out named in ``notes`` (issue 12)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import spackmon_analysis as sma
from spackmon_analysis import cli
from spackmon_analysis.failures import failures

DATA = Path(__file__).resolve().parents[1] / "data"
SPECS = DATA / "specs"
JUNIT_DIR = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp"
JUNIT = JUNIT_DIR / "junit-tinybrokenapp.xml"
DAG = DATA / "derived" / "tinybrokenapp-spack-0.22.1-zen3.json"
TREE = DATA / "installs" / "v0.17.1"
TREE_DAG = DATA / "save-local" / "v0.17.1-failure-tinybrokenapp" / "spec-tinybrokenapp-1.0-config.json"  # fmt: skip


def _roles(data: sma.MonitorData) -> dict[str, tuple[str, list[str]]]:
    table = failures(data)
    return {r["spec_name"]: (r["role"], list(r["blocked_by"])) for _, r in table.iterrows()}


def _skipped(data: sma.MonitorData) -> dict[str, str]:
    return {Path(w).name: m for w, m in data.notes if m.endswith("not loaded")}


def test_a_folder_of_spec_files_loads_as_their_specs() -> None:
    data = sma.load(SPECS)  # every format 0.16-0.22, .yaml, .json, a clearsigned .sig
    assert not len(data.builds)
    assert {"zlib", "tinyapp", "tinyutil", "tinybase"} <= set(data.specs["name"])
    tinyapp = sma.load_spec(SPECS / "tinyapp-spack-0.22.1.json")
    assert set(tinyapp.nodes) <= set(data.specs["full_hash"])
    assert len(data.dependencies) >= len(tinyapp.edges)
    assert _skipped(data) == {}


def test_a_spec_file_beside_a_junit_report_is_its_dag(tmp_path: Path) -> None:
    shutil.copy(JUNIT, tmp_path)
    shutil.copy(DAG, tmp_path)
    (tmp_path / "NOTES.txt").write_text("run of Tuesday\n")
    data = sma.load(tmp_path)
    assert _roles(data) == {
        "tinybroken": ("root cause", []),
        "tinybrokenapp": ("blocked", ["tinybroken"]),
    }
    assert not [m for _, m in data.notes if m.startswith("no DAG")]
    assert "tinybrokenapp" in set(data.specs["name"])  # and its specs are data.specs
    assert _skipped(data) == {
        "NOTES.txt": "not a JUnit report nor a Spack environment nor a spec file; not loaded"
    }


def test_a_spec_file_beside_an_install_tree_is_its_dag(tmp_path: Path) -> None:
    shutil.copytree(TREE, tmp_path / "opt")
    shutil.copy(TREE_DAG, tmp_path / "tinybrokenapp.json")
    data = sma.load(tmp_path)
    assert _roles(data) == {
        "tinybroken": ("root cause", []),
        "tinybrokenapp": ("blocked", ["tinybroken"]),
    }
    outcomes = dict(zip(data.builds["spec_name"], data.builds["outcome"], strict=True))
    assert outcomes["tinyutil"] == "succeeded"


def test_what_the_walk_leaves_out_is_named(tmp_path: Path) -> None:
    """The JUnit-only path too: a stray file at the top, a folder holding nothing, a file
    that looks like a spec file but is not one, a symbolic link to a folder."""
    shutil.copy(JUNIT, tmp_path)
    (tmp_path / "README.md").write_text("reports of the nightly job\n")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "job.txt").write_text("job log\n")
    (tmp_path / "elsewhere").symlink_to(tmp_path / "logs", target_is_directory=True)
    data = sma.load(tmp_path)
    assert set(data.builds["source"].astype(str)) == {"junit"}
    skipped = _skipped(data)
    assert set(skipped) == {"README.md", "logs"}
    assert skipped["logs"].startswith("holds no save-local run")
    assert any(
        Path(w).name == "elsewhere" and "symbolic link to a folder" in m for w, m in data.notes
    )
    (tmp_path / "config.json").write_text('{"mirrors": {}}')
    data = sma.load(tmp_path)
    assert "not a spec file (" in _skipped(data)["config.json"]
    assert set(data.builds["source"].astype(str)) == {"junit"}


def test_a_save_local_runs_own_spec_files_are_not_named_or_read_twice() -> None:
    data = sma.load(DATA / "save-local")
    assert _skipped(data) == {}
    assert {"tinyapp", "tinybrokenapp"} <= set(data.builds["spec_name"])


@pytest.mark.parametrize("fmt", ["csv"])
def test_spackmon_failures_of_a_mixed_folder(tmp_path: Path, capsys, fmt: str) -> None:
    shutil.copy(JUNIT, tmp_path)
    shutil.copy(DAG, tmp_path)
    assert cli.main(["failures", str(tmp_path), "--format", fmt]) in (0, None)
    out = capsys.readouterr().out
    assert "tinybrokenapp" in out and "blocked" in out
