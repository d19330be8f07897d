"""`spackmon pull -o` and `spackmon upload` with unusable input: a one-line error before any request."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spackmon_analysis.cli import main


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing/x.csv", "the folder .*missing does not exist"),
        ("missing/x.parquet", "the folder .*missing does not exist"),
        ("missing/x.json", "the folder .*missing does not exist"),
        (".", "is a directory; give a file name such as"),
    ],
)
def test_pull_output_path_errors(monitor, tmp_path, capsys, name, expected):
    output = tmp_path / name
    argv = ["pull", "builds", "--format", output.suffix.lstrip(".") or "csv", "-o", str(output)]
    code = main([*argv, "--host", monitor.url, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("spackmon pull: error: -o ")
    assert re.search(expected, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "missing").exists()


def test_upload_without_a_spack_version_asks_for_one(monitor, capsys, monkeypatch):
    """The tutorial's spec file has no Spack version inside: say so before any request."""
    for name in ("SPACKMON_USER", "SPACKMON_TOKEN", "SPACKMON_HOST"):
        monkeypatch.delenv(name, raising=False)
    spec = Path(__file__).resolve().parents[2] / "specs" / "singularity-3.6.4.json"
    code = main(["upload", str(spec), "--host", monitor.url, "--user", "nobody", "--token", "x"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{spec}: this spec file carries no Spack version; pass --spack-version" in err
    # a save-local spec-*-config.json carries its own version: no option needed
    body = next(
        (Path(__file__).resolve().parents[1] / "data" / "save-local").rglob("spec-*-config.json")
    )
    assert main(["upload", str(body), "--host", monitor.url]) == 1  # no credentials set here
    err = capsys.readouterr().err
    assert "no Spack version" not in err and "SPACKMON_USER" in err  # it got to the request


SAVE_LOCAL = Path(__file__).resolve().parents[1] / "data" / "save-local"


def test_progress_bars_only_when_someone_watches(monitor, capfd):
    """Default progress: none into a pipe or log file (no carriage-return noise)."""
    from spackmon_analysis.client import SpackMonitorClient, interactive

    assert interactive() is False  # pytest captures stderr: not a terminal, no kernel
    with SpackMonitorClient(monitor.url, username="alice", token=monitor.test_token) as client:
        client.upload_local_save(SAVE_LOCAL)
        assert len(client.builds().to_frame()) > 0
    assert "\r" not in capfd.readouterr().err
    with SpackMonitorClient(monitor.url, username="alice", token=monitor.test_token) as client:
        client.upload_local_save(SAVE_LOCAL, progress=True)  # asked for: shown anyway
    assert "replay" in capfd.readouterr().err


def test_a_replay_refused_at_once_says_nothing_was_uploaded(monitor):
    from spackmon_analysis.client import SpackMonitorClient
    from spackmon_analysis.errors import AuthError

    with SpackMonitorClient(monitor.url, username="alice", token="0" * 40, backoff=0) as client:
        with pytest.raises(AuthError) as caught:
            client.upload_local_save(SAVE_LOCAL)
    text = str(caught.value)
    assert text.startswith("Replay stopped before anything was uploaded:")
    assert "Nothing is on the server yet" in text and "Per run" not in text
    assert caught.value.uploaded == [] and len(caught.value.not_uploaded) > 10
