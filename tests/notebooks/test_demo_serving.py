"""``spackmon demo --keep-serving``: the server answers with the printed credentials, and
SIGTERM stops it cleanly (like Ctrl-C): "server stopped", exit 0, temporary database gone."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from testlib import spackmon_script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")

ROOT = Path(__file__).resolve().parents[2]
SAVE_LOCAL = ROOT / "spackmon_analysis" / "data" / "examples" / "save-local"


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _read_until(lines: queue.Queue, pattern: str, seen: list[str], timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    pytest.fail(f"no line matching {pattern!r} in:\n{''.join(seen)}")


@pytest.mark.slow
def test_keep_serving_then_sigterm(tmp_path: Path) -> None:
    pytest.importorskip("spackmon_analysis.server")
    from spackmon_analysis.client import SpackMonitorClient
    from spackmon_analysis.frames import MonitorData

    temp = tmp_path / "tmp"  # where LocalMonitor puts its temporary database
    temp.mkdir()
    env = dict(os.environ, MPLBACKEND="Agg", TMPDIR=str(temp), PYTHONUNBUFFERED="1")
    for name in ("SPACKMON_HOST", "SPACKMON_USER", "SPACKMON_TOKEN"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [spackmon_script(), "demo", "--keep-serving", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines: queue.Queue = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    try:
        host = _read_until(lines, r"export SPACKMON_HOST=(\S+)", seen, 240).group(1)
        user = _read_until(lines, r"export SPACKMON_USER=(\S+)", seen, 10).group(1)
        token = _read_until(lines, r"export SPACKMON_TOKEN=(\S+)", seen, 10).group(1)
        assert any(list(temp.glob("spackmon-local-*"))), "no temporary database while serving"

        client = SpackMonitorClient(host=host, username=user, token=token, progress=False)
        data = MonitorData.from_client(client)
        n_server_builds = int(re.search(r"-> (\d+) server builds", "".join(seen)).group(1))
        # and the builds of the bundled today's-Spack files (a JUnit report + install tree)
        n_todays = int(re.search(r"uploaded today's Spack data .*: (\d+) builds", "".join(seen))[1])
        assert len(data.builds) == n_server_builds + n_todays
        assert n_server_builds > 0 and n_todays == 3
        assert {"openmpi", "tinybroken"} <= set(data.builds["spec_name"].astype(str))

        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    output = "".join(seen)
    assert returncode == 0, output
    assert "==> server stopped" in output
    assert "Traceback" not in output
    assert not list(temp.glob("spackmon-local-*")), "the temporary database was left behind"


def test_demo_refuses_a_port_out_of_range(capsys) -> None:
    from spackmon_analysis.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["demo", "--port", "99999"])
    assert stop.value.code == 2
    assert "99999 is not a port (0-65535)" in capsys.readouterr().err
