"""A new user's first hour with the client: the URL ``spackmon serve`` prints, and no host at all."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from client_testlib import free_port

from spackmon_analysis import client_commands
from spackmon_analysis.cli import main
from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.errors import TransportError


@pytest.fixture
def no_env(monkeypatch):
    for key in ("SPACKMON_HOST", "SPACKMON_USER", "SPACKMON_TOKEN", "SPACKMON_PREFIX"):
        monkeypatch.delenv(key, raising=False)


def _spackmon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SPACKMON_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "spackmon_analysis", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("suffix", ["/ms1/", "/ms1", "/"])
def test_the_url_spackmon_serve_prints_works_as_spackmon_host(shared_monitor, suffix):
    # `spackmon serve` prints http://127.0.0.1:PORT/ms1/: pasted into SPACKMON_HOST it works
    done = _spackmon("info", env={"SPACKMON_HOST": shared_monitor.url + suffix})
    assert done.returncode == 0, done.stderr
    assert '"id": "spackmon"' in done.stdout
    done = _spackmon("info", "--host", shared_monitor.url + suffix, env={})
    assert done.returncode == 0, done.stderr


def test_host_urls_ending_in_the_prefix(no_env, monkeypatch):
    cases = {
        ("http://127.0.0.1:5000/ms1/", "ms1"): "http://127.0.0.1:5000/ms1",
        ("http://127.0.0.1:5000/ms1", "ms1"): "http://127.0.0.1:5000/ms1",
        ("127.0.0.1:5000/ms1/", "ms1"): "http://127.0.0.1:5000/ms1",
        ("https://mon.example.org/monitor/ms1/", "ms1"): "https://mon.example.org/monitor/ms1",
        ("https://mon.example.org/monitor/", "ms1"): "https://mon.example.org/monitor/ms1",
        ("http://127.0.0.1:5000/ms1/", "ms2"): "http://127.0.0.1:5000/ms1/ms2",
        # the API tutorial, as written
        ("http://127.0.0.1", "ms1"): "http://127.0.0.1/ms1",
    }
    for (host, prefix), base in cases.items():
        assert SpackMonitorClient(host=host, prefix=prefix).baseurl == base, host
    monkeypatch.setenv("SPACKMON_HOST", "http://127.0.0.1:5000/ms1/")
    assert SpackMonitorClient().baseurl == "http://127.0.0.1:5000/ms1"


def test_tutorial_client_as_written_reaches_a_server(shared_monitor):
    host, port = shared_monitor.url.rsplit(":", 1)
    client = SpackMonitorClient(host=host + ":" + port, prefix="ms1")
    assert client.service_info()["id"] == "spackmon"


def test_info_with_nothing_exported_reaches_the_default_serve_address(
    no_env, shared_monitor, monkeypatch, capsys
):
    # where `spackmon serve` listens by default; here the test's own server stands in for it
    monkeypatch.setattr(client_commands, "SERVE_URL", shared_monitor.url)
    assert main(["info"]) == 0
    assert '"status": "running"' in capsys.readouterr().out


def test_info_with_nothing_exported_and_no_server_fails_at_once(no_env, monkeypatch, capsys):
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(client_commands, "SERVE_URL", nowhere)
    started = time.monotonic()
    assert main(["info"]) == 1  # default: 3 retries, 3.5 s of back-off if it retried
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"spackmon info: error: no Spack Monitor at {nowhere}/ms1/ ")
    assert "export SPACKMON_HOST=" in err and "spackmon serve" in err
    assert elapsed < 3.0  # generous: the point is that no back-off happens


def test_library_default_host_is_not_retried(no_env, monkeypatch):
    monkeypatch.setattr(
        "spackmon_analysis.client.endpoints.DEFAULT_HOST", f"127.0.0.1:{free_port()}"
    )
    client = SpackMonitorClient(backoff=5)
    with pytest.raises(TransportError, match="export SPACKMON_HOST=http://127.0.0.1:5000"):
        client.service_info()
    assert (client.request_count, client.retry_count) == (1, 0)
    # a host somebody named is retried as before
    named = SpackMonitorClient(host=f"127.0.0.1:{free_port()}", retries=2, backoff=0)
    with pytest.raises(TransportError, match="after 3 attempts"):
        named.service_info()
    assert named.retry_count == 2
