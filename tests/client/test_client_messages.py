"""What the user sees when something is wrong: typed errors naming the bad field or
path, actionable transport messages, empty pulls with columns, plain JSON output, a
closed stdout pipe, and replays that change builds already on the server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from client_testlib import (
    SAVE_LOCAL,
    SPECS,
    SUCCESS_RUN,
    TINYUTIL_PREFIX,
    copy_run,
    free_port,
)

from spackmon_analysis.cli import main
from spackmon_analysis.client import ROUTE_COLUMNS, BuildChange, SpackMonitorClient
from spackmon_analysis.errors import (
    ConfigError,
    InstallPrefixError,
    SpecFormatError,
    TransportError,
)


def make_client(mon, **kwargs):
    kwargs.setdefault("progress", False)
    return SpackMonitorClient(
        host=mon.url, username="alice", token=mon.test_token, backoff=0, **kwargs
    )


@pytest.fixture
def no_env(monkeypatch):
    for key in ("SPACKMON_HOST", "SPACKMON_USER", "SPACKMON_TOKEN", "SPACKMON_PREFIX"):
        monkeypatch.delenv(key, raising=False)


# ------------------------------------------------------------------ 1: bodies JSON cannot carry
@pytest.mark.parametrize(
    ("metadata", "field", "what"),
    [
        ({"x": float("nan")}, "metadata.x", "nan, which JSON cannot carry"),
        ({"sizes": [1, {"mean": float("inf")}]}, "metadata.sizes[1].mean", "inf, which JSON"),
        ({"files": {"a", "b"}}, "metadata.files", "a set ("),
    ],
)
def test_analyze_with_a_value_json_cannot_carry_names_the_field(client, metadata, field, what):
    before = client.request_count
    with pytest.raises(ConfigError) as info:
        client.analyze(1, metadata)
    message = str(info.value)
    assert f"field {field} is {what}" in message
    assert "/ms1/analyze/builds/" in message and "nothing was sent" in message
    assert isinstance(info.value, ValueError)  # code catching ValueError still works
    assert client.request_count == before


# ------------------------------------------------------------------ 2: empty pulls have columns
def test_an_empty_pull_has_the_routes_columns(monitor):
    client = make_client(monitor)
    for route, columns in ROUTE_COLUMNS.items():
        whole = (
            {"output": 1} if route in ("buildphases", "attemptphases") else {}
        )  # logs when asked
        frame = client.pull(route, **whole).to_frame()
        assert frame.empty and list(frame.columns) == list(columns), route
    frame = client.builds(status="FAILED").to_frame()
    assert list(frame["status"]) == [] and "spec_name" in frame.columns
    for no_logs in (client.phases(build=1, output=0), client.phases(build=1)):
        frame = no_logs.to_frame()
        assert "output" not in frame.columns and "output_size" in frame.columns
    assert list(client.pull("no-such-route-known-to-the-client", page_size=5).columns) == []


def test_the_client_schema_matches_the_servers_rows(monitor):
    """The rows the server sends have the data API's fields (records.DATA_API_FIELDS, which
    the client's ROUTE_COLUMNS and the server's fields= check both use), in that order."""
    client = make_client(monitor)
    client.upload_local_save(SAVE_LOCAL)
    client.analyze_install(TINYUTIL_PREFIX)
    seen = 0
    for route, columns in ROUTE_COLUMNS.items():
        whole = (
            {"output": 1} if route in ("buildphases", "attemptphases") else {}
        )  # logs when asked
        frame = client.pull(route, **whole).to_frame()
        if len(frame):
            seen += 1
            assert list(frame.columns) == list(columns), route
    assert seen >= 10
    from spackmon_analysis.server.queries import ROUTE_FIELDS, ROUTES

    assert set(ROUTES) == set(ROUTE_COLUMNS)
    # the fields ``fields=`` may name are the rows' fields, in their order: one table
    assert ROUTE_COLUMNS is ROUTE_FIELDS


# ------------------------------------------------------------------ 3: clear messages
def test_analyze_install_of_a_file_names_the_file(client, tmp_path):
    afile = tmp_path / "passwd"
    afile.write_text("root:x:0:0::/root:/bin/sh\n")
    with pytest.raises(InstallPrefixError) as info:
        client.analyze_install(afile)
    message = str(info.value)
    assert message.startswith(f"{afile}: is a file, not an install prefix")
    assert info.value.path == str(afile)
    # a file inside a real prefix's .spack folder still works (its folder is the prefix's)
    answer = client.analyze_install(TINYUTIL_PREFIX / ".spack" / "spec.json")
    assert answer["data"]["build"]["spec_name"] == "tinyutil"


def test_get_specs_by_name_with_a_slash_says_what_a_name_is(client):
    before = client.request_count
    with pytest.raises(ConfigError) as info:
        client.get_specs_by_name("zlib/abcdef1")
    assert "a package name cannot contain '/'" in str(info.value)
    assert "'zlib'" in str(info.value)
    with pytest.raises(ConfigError, match="give a package name"):
        client.get_specs_by_name("")
    assert client.request_count == before


def test_upload_errors_show_the_path_as_given(client, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.json").write_text("{ nope")
    with pytest.raises(SpecFormatError, match=r"^sub/bad\.json: invalid JSON"):
        client.upload_specfile("sub/bad.json")
    assert main(["upload", "sub/missing.json", "--host", client.host]) == 1
    err = capsys.readouterr().err
    assert err.startswith("spackmon upload: error: sub/missing.json: cannot read file")


# ------------------------------------------------------------------ 5: transport and auth hints
def test_cli_cannot_connect_says_where_and_what_to_set(no_env, monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("SPACKMON_HOST", f"127.0.0.1:{port}")
    assert main(["info", "--retries", "1"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"spackmon info: error: cannot connect to http://127.0.0.1:{port}/ms1/ (connection "
        "refused) after 2 attempts; is a monitor running there? Set --host or SPACKMON_HOST "
        "(spackmon serve listens on http://127.0.0.1:5000)\n"
    )
    assert "Max retries" not in err and "urllib3" not in err


def test_no_answer_is_told_apart_from_no_connection():
    """A server that accepts the connection and closes it without answering."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def accept_and_close():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        client = SpackMonitorClient(host=f"127.0.0.1:{port}", retries=1, backoff=0)
        with pytest.raises(TransportError) as info:
            client.service_info()
        message = str(info.value)
        assert message.startswith(f"no answer from http://127.0.0.1:{port}/ms1/ (")
        assert "after 2 attempts" in message and "timeout is 30 s" in message
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_cli_without_credentials_names_the_options_and_variables(no_env, monitor, capsys):
    spec = SPECS / "zlib-spack-0.17.1.json"
    assert main(["upload", str(spec), "--spack-version", "0.17.1", "--host", monitor.url]) == 1
    err = capsys.readouterr().err
    assert "needs credentials: pass --user and --token" in err
    assert "SPACKMON_USER and SPACKMON_TOKEN" in err
    assert "username=" not in err


# ------------------------------------------------------------------ 6: plain JSON
def test_pull_json_is_plain_json(monitor, tmp_path, capsys):
    client = make_client(monitor)
    answer = client.analyze_install(TINYUTIL_PREFIX)
    build_id = answer["data"]["build"]["build_id"]
    out = tmp_path / "files.json"
    code = main(
        ["pull", "installfiles", "--format", "json", "-o", str(out), "--host", monitor.url,
         "--filter", f"build={build_id}", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    text = out.read_text()
    assert "\\/" not in text and '"prefix": "/home/builder/spack/v0.17.1/' in text
    assert json.loads(text) == list(client.pull("installfiles", build=build_id))
    empty = tmp_path / "none.json"
    filters = ["--filter", "status=NO-SUCH-STATUS"]
    assert main(["pull", "builds", "-o", str(empty), "--host", monitor.url, *filters]) == 0
    assert empty.read_text() == "[]\n"


def test_pull_refuses_a_client_option_given_as_filter(monitor, tmp_path, capsys):
    # `--filter page_size=5` would have set the client's paging (as the text "5"), not filtered
    out = tmp_path / "builds.csv"
    for name in ("page_size", "progress"):
        args = ["pull", "builds", "-o", str(out), "--host", monitor.url, "--filter", f"{name}=5"]
        assert main(args) == 1
        assert (
            f"--filter '{name}=5': {name} is not a filter of the data API"
            in capsys.readouterr().err
        )
        assert not out.exists()


# ------------------------------------------------------------------ 7: a closed stdout pipe
@pytest.mark.parametrize(
    "command",
    [["info"], ["upload", str(SPECS / "zlib-spack-0.17.1.json"), "--spack-version", "0.17.1"]],
)
def test_a_closed_stdout_pipe_exits_quietly(monitor, command):
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has already exited
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACKMON_")}
    env.update(SPACKMON_HOST=monitor.url, SPACKMON_USER="alice", SPACKMON_TOKEN=monitor.test_token)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "spackmon_analysis", *command],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141


# ------------------------------------------------------------------ 4: replays that change builds
def test_replaying_an_older_run_after_a_newer_one_adds_its_attempt(monitor, tmp_path, capsys):
    """Each run of a build is one attempt on the server, dated by the run: an older run
    replayed after a newer one becomes the earlier attempt and leaves the build row (its latest
    attempt) as it was; what a replay changes on the server is reported per run."""
    older = copy_run(SUCCESS_RUN, tmp_path / "2026-11-28-06-00-00-1795759200")
    newer = copy_run(SUCCESS_RUN, tmp_path / "2026-11-28-07-00-00-1795762800")
    status_file = "build-10c3368f983fe98c9370d38cc7b5c563-status.json"
    # the older run says tinyapp failed; the newer one (a rebuild) says it succeeded
    (older / status_file).write_text(
        json.dumps({"build_id": "10c3368f983fe98c9370d38cc7b5c563", "status": "FAILED"})
    )
    client = make_client(monitor)
    client.upload_local_save(newer)
    build_id = client.builds(spec_name="tinyapp")[0]["id"]

    back = client.upload_local_save(older)
    assert client.builds(spec_name="tinyapp")[0]["status"] == "SUCCESS"  # the newer run's
    attempts = sorted(client.pull("attempts", build=build_id), key=lambda a: a["number"])
    assert [(a["number"], a["status"], a["latest"], a["run_time"]) for a in attempts] == [
        (1, "FAILED", False, "2026-11-27T06:00:00.000000Z"),
        (2, "SUCCESS", True, "2026-11-27T07:00:00.000000Z"),
    ]
    assert back.changes == [] and back.counts["statuses"]["created"] == 3
    assert "NOTE" not in repr(back)

    # both runs again: each finds its own attempt, nothing changes
    again = client.upload_local_save(tmp_path)
    assert again.changes == [] and again.counts["statuses"]["present"] == 6
    assert len(list(client.pull("attempts", build=build_id))) == 2

    # a run whose files say something else than what it sent before: its attempt changes
    (newer / status_file).write_text(
        json.dumps({"build_id": "10c3368f983fe98c9370d38cc7b5c563", "status": "FAILED"})
    )
    changed = client.upload_local_save(newer)
    assert client.builds(spec_name="tinyapp")[0]["status"] == "FAILED"
    assert changed.changes == [
        BuildChange("tinyapp@0.3", build_id, "status", "SUCCESS", "FAILED", newer.name)
    ]
    assert repr(changed).endswith(
        "  NOTE: 1 build changed state on the server: a replay sets each run's attempt of a "
        "build to the state in its files (on a server without attempts, the build itself, "
        "runs oldest first):\n"
        f"    tinyapp@0.3 (build {build_id}): status SUCCESS -> FAILED (run {newer.name})"
    )
    assert "NOTE" not in str(changed)  # str() is the table alone
    assert "changed state on the server" in changed._repr_html_()

    # what `spackmon replay` prints: the same note
    (newer / status_file).write_text(
        json.dumps({"build_id": "10c3368f983fe98c9370d38cc7b5c563", "status": "SUCCESS"})
    )
    assert main(["replay", str(tmp_path), "--no-progress", "--host", monitor.url,
                 "--user", "alice", "--token", monitor.test_token]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "NOTE: 1 build changed state on the server" in out
    assert f"tinyapp@0.3 (build {build_id}): status FAILED -> SUCCESS (run {newer.name})" in out
    assert len(list(client.pull("attempts", build=build_id))) == 2


def test_a_replay_that_changes_nothing_has_no_note(monitor):
    client = make_client(monitor)
    first = client.upload_local_save(SUCCESS_RUN)
    second = client.upload_local_save(SUCCESS_RUN)
    assert first.changes == second.changes == []
    assert "NOTE" not in repr(first) and "NOTE" not in repr(second)
    assert repr(second) == str(second)
