"""`spackmon serve` / `spackmon users` and the database lifecycle (schema version, secret)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import update

from spackmon_analysis.cli import main
from spackmon_analysis.errors import ConfigError, SchemaVersionError
from spackmon_analysis.server.tables import Store, default_db_url, meta


def test_users_commands(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["users", "add", "vsoch", "--db", db]) == 0
    token = capsys.readouterr().out.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", token)
    assert main(["users", "add", "vsoch", "--db", db]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["users", "token", "vsoch", "--db", db]) == 0
    rotated = capsys.readouterr().out.strip()
    assert re.fullmatch(r"[0-9a-f]{40}", rotated) and rotated != token
    assert main(["users", "token", "ghost", "--db", db]) == 1
    capsys.readouterr()
    assert main(["users", "list", "--db", db]) == 0
    assert "vsoch" in capsys.readouterr().out


def test_default_db_location(tmp_path, monkeypatch):
    monkeypatch.delenv("SPACKMON_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_url() == f"sqlite:///{tmp_path / 'spackmon' / 'spackmon.db'}"
    monkeypatch.setenv("SPACKMON_DB", "sqlite:////elsewhere.db")
    assert default_db_url() == "sqlite:////elsewhere.db"


def test_schema_version_mismatch_refused(tmp_path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    store = Store.open(db)
    with store.write.begin() as conn:
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="999"))
    store.dispose()
    with pytest.raises(SchemaVersionError, match="schema version 999"):
        Store.open(db)


def test_bad_db_url():
    with pytest.raises(ConfigError):
        Store.open("notadialect://x")


def test_wal_mode(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    with store.read.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "spackmon_analysis", "serve", "--port", str(port), "--db", db],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/ms1/", timeout=1).status_code == 200:
                return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(proc.stderr.read().decode())


def test_serve_survives_sigkill_and_keeps_secret(tmp_path):
    db = f"sqlite:///{tmp_path / 'served.db'}"
    from spackmon_analysis.server.auth import add_user

    store = Store.open(db)
    api_token = add_user(store, "u")
    store.dispose()
    port = _free_port()
    proc = _start(db, port)
    base = f"http://127.0.0.1:{port}/ms1"
    try:
        bearer = requests.get(f"{base}/auth/token/", auth=("u", api_token)).json()["token"]
        r = requests.post(
            f"{base}/builds/update/", data="{}", headers={"Authorization": f"Bearer {bearer}"}
        )
        assert r.status_code == 400
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    proc = _start(db, port)
    try:
        # the signing secret persisted: the old bearer token still works after the restart
        r = requests.post(
            f"{base}/builds/update/", data="{}", headers={"Authorization": f"Bearer {bearer}"}
        )
        assert r.status_code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_read_rows_needs_an_existing_database(tmp_path):
    from spackmon_analysis.server import read_rows

    missing = tmp_path / "nothing.db"
    with pytest.raises(ConfigError, match="no database file"):
        list(read_rows(f"sqlite:///{missing}", "builds"))
    assert not missing.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--port", "99999"], "--port must be an integer between 1 and 65535, got 99999"),
        (["--port", "-1"], "--port must be an integer between 1 and 65535, got -1"),
        (["--port", "http"], "--port must be an integer between 1 and 65535, got 'http'"),
        (["--token-lifetime", "0"], "--token-lifetime must be an integer at least 1, got 0"),
        (["--max-body-size", "-5"], "--max-body-size must be an integer at least 1, got -5"),
        (["--max-body-mb", "inf"], "--max-body-mb must be a number greater than zero, got inf"),
        (["--max-body-mb", "0"], "--max-body-mb must be a number greater than zero, got 0"),
        (["--auth-failures", "-1"], "--auth-failures must be an integer at least 0, got -1"),
        (["--auth-window", "nan"], "--auth-window must be a number greater than zero, got nan"),
        (["--log-level", "loud"], "invalid choice: 'loud'"),
    ],
)
def test_serve_refuses_bad_numbers_with_a_message(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["serve", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_serve_port_out_of_range_in_a_real_process():
    proc = subprocess.run(
        [sys.executable, "-m", "spackmon_analysis", "serve", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--port must be an integer between 1 and 65535" in proc.stderr
    assert "Traceback" not in proc.stderr and "OverflowError" not in proc.stderr


def test_db_accepts_a_plain_file_path(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "u" / "x.db"
    assert main(["users", "add", "vsoch", "--db", str(path)]) == 0
    token = capsys.readouterr().out.strip()
    assert path.exists()
    assert main(["users", "token", "vsoch", "--db", str(path)]) == 0
    assert capsys.readouterr().out.strip() != token
    assert main(["users", "list", "--db", str(path)]) == 0
    assert "vsoch" in capsys.readouterr().out
    # a relative path, and the same database through its URL
    assert main(["users", "add", "ann", "--db", "u/x.db"]) == 0
    capsys.readouterr()
    assert main(["users", "list", "--db", f"sqlite:///{path}"]) == 0
    assert {"vsoch", "ann"} <= set(re.findall(r"\t(\w+)\t", capsys.readouterr().out))
    store = Store.open(str(path))
    assert store.url == f"sqlite:///{path}"
    store.dispose()


def _spackmon_tmpdirs(root) -> list:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("spackmon-local-"))


def test_local_monitor_cleans_up_when_the_port_is_taken(tmp_path, monkeypatch):
    import tempfile

    from spackmon_analysis.server import LocalMonitor

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        mon = LocalMonitor(port=port)
        with pytest.raises(ConfigError, match=f"cannot bind 127.0.0.1:{port}"):
            mon.start()
    assert _spackmon_tmpdirs(tmp_path) == []
    assert mon.store is None and not mon.running
    with pytest.raises(ConfigError, match="cannot bind 127.0.0.1:99999"):
        LocalMonitor(port=99999).start()
    assert _spackmon_tmpdirs(tmp_path) == []
    # and a monitor that starts and stops leaves nothing either
    with LocalMonitor() as mon:
        assert _spackmon_tmpdirs(tmp_path)
    assert _spackmon_tmpdirs(tmp_path) == []


def test_users_token_and_list_never_create_a_database(tmp_path, capsys):
    typo = tmp_path / "typo.db"
    for argv in (["users", "list", "--db", str(typo)], ["users", "token", "x", "--db", str(typo)]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"no database at {typo}" in err and "spackmon users add NAME" in err
    assert not typo.exists()
    assert main(["users", "add", "alice", "--db", str(typo)]) == 0  # add creates it
    assert typo.is_file()
    capsys.readouterr()
    assert main(["users", "list", "--db", str(typo)]) == 0
    assert "\talice\t" in capsys.readouterr().out


def test_serve_on_a_taken_port_says_so_before_serving(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "spackmon_analysis", "serve", "--port", str(port),
             "--db", str(tmp_path / "s.db")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "serving" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "s.db").exists()  # nothing opened either
