"""Each ``spackmon`` command imports only what it uses (issue 15, "fast CLI start").

Every command runs in a subprocess under ``python -X importtime``, which writes a line per
module imported to stderr; the test reads the module names from those lines. No timing is
asserted here (``benchmarks/bench_cli_start.py`` measures it): the test asserts which
libraries a command loaded.

- the parser (``spackmon --help``, ``spackmon CMD --help``): no pandas, matplotlib, FastAPI,
  SQLAlchemy, nor even ``requests``;
- ``spackmon info`` and ``spackmon replay``, talking to a real server: no pandas, matplotlib,
  FastAPI or SQLAlchemy;
- ``spackmon serve``, while it answers those commands (service info, token, writes): no pandas
  or matplotlib, and no numpy for the replay's small spec documents.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from spackmon_analysis.server.auth import add_user
from spackmon_analysis.server.tables import Store

SAVE_LOCAL = Path(__file__).resolve().parent / "data" / "save-local"

ANALYSIS = ("pandas", "matplotlib")
SERVER = ("fastapi", "starlette", "sqlalchemy", "uvicorn")


def imported(stderr: str) -> set[str]:
    """The top-level packages named in ``-X importtime`` lines."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                names.add(name.split(".")[0])
    return names


def spackmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "spackmon_analysis", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["info", "--help"],
        ["replay", "--help"],
        ["serve", "--help"],
        ["pull", "--help"],
        ["failures", "--help"],
        ["users", "add", "--help"],
    ],
    ids=" ".join,
)
def test_the_parser_imports_no_library_stack(args: list[str]) -> None:
    done = spackmon(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: spackmon" in done.stdout
    loaded = imported(done.stderr)
    assert "spackmon_analysis" in loaded  # the lines were read
    assert loaded.isdisjoint({*ANALYSIS, *SERVER, "requests", "numpy"}), sorted(
        loaded & {*ANALYSIS, *SERVER, "requests", "numpy"}
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_info_and_replay_import_only_what_they_use(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'served.db'}"
    store = Store.open(db)
    token = add_user(store, "ci")
    store.dispose()
    port = _free_port()
    log = (tmp_path / "serve.err").open("w")
    server = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "spackmon_analysis", "serve"]
        + ["--port", str(port), "--db", db],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    host = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{host}/ms1/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)

        info = spackmon("info", "--host", host)
        assert info.returncode == 0, info.stderr[-2000:]
        assert json.loads(info.stdout)["id"] == "spackmon"
        loaded = imported(info.stderr)
        assert "requests" in loaded  # what it does use
        assert loaded.isdisjoint({*ANALYSIS, *SERVER}), sorted(loaded & {*ANALYSIS, *SERVER})

        runs = sorted(str(p) for p in SAVE_LOCAL.iterdir() if p.is_dir())
        replay = spackmon(
            "replay", *runs, "--host", host, "--no-progress",
            env={"SPACKMON_USER": "ci", "SPACKMON_TOKEN": token},
        )  # fmt: skip
        assert replay.returncode == 0, replay.stderr[-2000:]
        assert "problems: none" in replay.stdout, replay.stdout
        loaded = imported(replay.stderr)
        assert loaded.isdisjoint({*ANALYSIS, *SERVER}), sorted(loaded & {*ANALYSIS, *SERVER})
        builds = requests.get(f"{host}/api/builds/", timeout=10).json()
        assert builds["count"] > 0  # the replay's writes reached the server
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    loaded = imported((tmp_path / "serve.err").read_text())
    assert {"fastapi", "sqlalchemy", "uvicorn"} <= loaded  # it served
    assert loaded.isdisjoint(ANALYSIS), sorted(loaded & set(ANALYSIS))
    # the replay's spec documents (with dependencies) were checked for cycles without numpy:
    # importing it cost a server's first spec upload about 0.1 s
    assert "numpy" not in loaded
