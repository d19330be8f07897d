"""`spackmon upload FOLDER` of spec files (alone, or beside a report) sends them (issue 12)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from spackmon_analysis import LocalMonitor, load_spec
from spackmon_analysis.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
SPECS = DATA / "specs"
JUNIT = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
DAG = DATA / "derived" / "tinybrokenapp-spack-0.22.1-zen3.json"


@pytest.fixture
def mon() -> Iterator[LocalMonitor]:
    with LocalMonitor(in_process=True) as m:
        m.add_user("ci")
        yield m


def test_spackmon_upload_of_a_folder_of_spec_files(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in ("zlib-spack-0.22.1.json", "tinyapp-spack-0.22.1.json", "zlib-spack-0.16.3.yaml"):
        shutil.copy(SPECS / name, folder)
    (folder / "README.md").write_text("specs of the nightly job\n")
    with LocalMonitor() as monitor:
        token = monitor.add_user("alice")
        args = ["upload", str(folder), "--spack-version", "0.22.1", "--no-progress"]
        args += ["--host", monitor.url, "--user", "alice", "--token", token]
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "README.md" in out  # named, not sent
        client = monitor_client(monitor.url, token)
        held = {row["full_hash"] for row in client.specs()}
        for name in ("zlib-spack-0.22.1.json", "tinyapp-spack-0.22.1.json"):
            assert set(load_spec(SPECS / name).nodes) <= held, name
        assert set(load_spec(SPECS / "zlib-spack-0.16.3.yaml").nodes) <= held
        assert main(args) == 0  # again: nothing new
        assert "  specs            0" in capsys.readouterr().out


def monitor_client(url: str, token: str):  # noqa: ANN201
    from spackmon_analysis import SpackMonitorClient

    return SpackMonitorClient(host=url, username="alice", token=token, progress=False)


def test_upload_of_a_spec_file_and_a_report_in_one_folder(mon: LocalMonitor, tmp_path: Path):
    shutil.copy(JUNIT, tmp_path)
    shutil.copy(DAG, tmp_path)
    client = mon.client("ci", progress=False)
    summary = client.upload(tmp_path, spack_version="0.22.1")
    rows = {row["spec_name"]: row for row in client.builds()}
    assert rows["tinybroken"]["status"] == "FAILED"
    assert rows["tinybrokenapp"]["tags"] == ["blocked"]  # found from the folder's spec file
    assert not [m for _, m in summary.notes if m.startswith("no DAG")]


def test_a_spec_file_without_a_spack_version_is_named(mon: LocalMonitor, tmp_path: Path):
    shutil.copy(SPECS / "zlib-spack-0.22.1.json", tmp_path)
    summary = mon.client("ci", progress=False).upload(tmp_path)
    assert any(
        w.endswith("zlib-spack-0.22.1.json") and "carries no Spack version" in m
        for w, m in summary.left_out
    )
