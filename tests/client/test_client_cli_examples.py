"""The client's CLI subcommands and the example scripts, against the real embedded monitor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from client_testlib import SAVE_LOCAL, SPECS, SUCCESS_RUN

from spackmon_analysis.cli import main
from spackmon_analysis.client import SpackMonitorClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(script, *args, env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SPACKMON_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


@pytest.fixture
def credentials(monitor):
    return {
        "SPACKMON_HOST": monitor.url,
        "SPACKMON_USER": "alice",
        "SPACKMON_TOKEN": monitor.test_token,
    }


def test_service_info_example_prints_the_tutorial_json(monitor, credentials):
    done = run_example("service_info.py", env={"SPACKMON_HOST": monitor.url})
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert list(info)[:3] == ["id", "status", "name"]
    assert info["id"] == "spackmon" and info["status"] == "running"
    assert done.stdout.startswith('{\n    "id": "spackmon",\n    "status": "running",\n')


def test_upload_config_example_prints_what_the_tutorial_shows(monitor, credentials):
    spec = SPECS / "tinyapp-spack-0.17.1.json"
    done = run_example("upload_config.py", spec, "0.17.1", env=credentials)
    assert done.returncode == 0, done.stderr
    first, rest = done.stdout.split("\n", 1)
    assert first == "The package was successfully created."
    shown = json.loads(rest)
    assert shown == {
        "message": "success",
        "data": {
            "full_hash": "sev5emughopmaymacihawdtjlkew2s5t",
            "name": "tinyapp",
            "version": "0.3",
            "spack_version": "0.17.1",
            "specs": {
                "tinybase": "iyuekqrjouqukzwjt6l74664bj7vpror",
                "tinyutil": "cznsrdgtlkdzfq6unjoors2tnxallssm",
            },
        },
    }
    # the tutorial's layout: indent 4, keys in this order
    assert rest.startswith('{\n    "message": "success",\n    "data": {\n        "full_hash": ')
    assert rest.rstrip().endswith("}\n    }\n}")

    again = run_example("upload_config.py", spec, "0.17.1", env=credentials)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "This package already exists in the database.\n"


def test_upload_config_without_version_and_spack(monitor, credentials):
    env = dict(credentials, PATH=os.path.dirname(sys.executable))  # no spack on PATH
    done = run_example("upload_config.py", SPECS / "zlib-spack-0.17.1.json", env=env)
    assert done.returncode == 2
    assert "spack is not on PATH" in done.stderr
    assert done.stdout == ""


def test_upload_config_uses_spack_version_from_path(monitor, credentials, tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    spack = fake_bin / "spack"
    spack.write_text("#!/bin/sh\necho 0.17.1\n")
    spack.chmod(0o755)
    env = dict(credentials, PATH=f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    done = run_example("upload_config.py", SPECS / "zlib-spack-0.17.1.json", env=env)
    assert done.returncode == 0, done.stderr
    assert '"spack_version": "0.17.1"' in done.stdout


def test_upload_config_without_credentials_fails_clearly(monitor):
    done = run_example(
        "upload_config.py",
        SPECS / "zlib-spack-0.17.1.json",
        "0.17.1",
        env={"SPACKMON_HOST": monitor.url},
    )
    assert done.returncode == 1
    assert "SPACKMON_USER and SPACKMON_TOKEN" in done.stderr


def test_upload_save_local_example(monitor, credentials):
    done = run_example("upload_save_local.py", SUCCESS_RUN, env=credentials)
    assert done.returncode == 0, done.stderr
    assert "Replay of 1 run: v0.17.1-success-tinyapp" in done.stdout
    assert "problems: none" in done.stdout


def test_cli_info_upload_replay_pull(monitor, credentials, monkeypatch, capsys, tmp_path):
    for key, value in credentials.items():
        monkeypatch.setenv(key, value)
    assert main(["info"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "spackmon"

    spec = SPECS / "zlib-spack-0.19.0.json"
    assert main(["upload", str(spec), "--spack-version", "0.19.0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The package was successfully created.\n")
    assert main(["upload", str(spec), "--spack-version", "0.19.0"]) == 0
    assert capsys.readouterr().out.startswith("This package already exists in the database.")

    assert main(["replay", str(SAVE_LOCAL), "--no-progress"]) == 0
    assert "problems: none" in capsys.readouterr().out

    csv = tmp_path / "builds.csv"
    assert main(["pull", "builds", "--format", "csv", "-o", str(csv)]) == 0
    frame = pd.read_csv(csv)
    assert len(frame) == 5 and set(frame["spec_name"]) >= {"tinyapp", "tinybroken"}

    failed = tmp_path / "failed.json"
    assert main(["pull", "builds", "--filter", "status=FAILED", "-o", str(failed)]) == 0
    rows = json.loads(failed.read_text())
    assert [row["spec_name"] for row in rows] == ["tinybrokenapp"]

    parquet = tmp_path / "phases.parquet"
    assert main(["pull", "phases", "--format", "parquet", "-o", str(parquet)]) == 0
    assert len(pd.read_parquet(parquet)) == 12

    # nested values (tags lists, the install files' "extra" mappings) survive csv and parquet
    client = SpackMonitorClient(
        host=monitor.url, username="alice", token=monitor.test_token, progress=False
    )
    build_id = client.builds(spec_name="tinyapp")[0]["id"]
    manifest = {"/opt/tinyapp/bin/tinyapp": {"mode": 33261, "owner": 0, "group": 0, "type": "file"}}
    client.analyze(build_id, {"install_files": manifest})
    files = tmp_path / "files.parquet"
    assert main(["pull", "installfiles", "-o", str(files), "--filter", f"build={build_id}"]) == 0
    frame = pd.read_parquet(files)
    assert list(frame["mode"]) == [33261]
    tags = tmp_path / "builds-tags.csv"
    assert main(["pull", "builds", "-o", str(tags), "--filter", "spec_name=tinyapp"]) == 0
    assert json.loads(pd.read_csv(tags)["tags"][0]) == ["heldout", "success"]


def test_cli_options_override_the_environment(monitor, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("SPACKMON_HOST", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("SPACKMON_USER", "alice")
    monkeypatch.setenv("SPACKMON_TOKEN", "0" * 40)
    assert main(["info", "--host", monitor.url]) == 0
    capsys.readouterr()
    rc = main(
        [
            "upload",
            str(SPECS / "zlib-spack-0.17.1.json"),
            "--spack-version",
            "0.17.1",
            "--host",
            monitor.url,
        ]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("spackmon upload: error: authentication as 'alice'")
    assert "failed (403)" in err
    assert (
        main(
            [
                "upload",
                str(SPECS / "zlib-spack-0.17.1.json"),
                "--spack-version",
                "0.17.1",
                "--host",
                monitor.url,
                "--token",
                monitor.test_token,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["info", "--retries", "0"]) == 1
    assert "127.0.0.1:9/ms1/" in capsys.readouterr().err
    assert main(["pull", "builds", "-o", str(tmp_path / "x.txt"), "--host", monitor.url]) == 1
    assert "--format" in capsys.readouterr().err
