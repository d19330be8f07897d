"""The batch extension (``POST /ms1/batch/``): many writes in one request and one transaction.

The proof the issue asks for: a batch leaves the same rows in the database and gives, item by
item, the same answers as the same writes sent as single requests, on SQLite and PostgreSQL;
its own size limits (413/400 naming them), the same bearer auth, nothing written when the
batch is refused, and a plain ms1 server when it is turned off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from testlib import postgres_schema

from spackmon_analysis.server import LocalMonitor
from spackmon_analysis.server.tables import metadata

DATA = Path(__file__).resolve().parents[1] / "data"
SPECS = DATA / "specs"
SAVE_LOCAL = DATA / "save-local"
INSTALL = next((DATA / "installs" / "v0.17.1").glob("tinyutil-*"))

#: Columns that differ between two databases holding the same writes.
#: (an attempt's ``started_at`` and a build's ``reopened_at`` are arrival times, as ``created_at``)
VOLATILE = {
    "created_at", "updated_at", "token_updated_at", "token_hash", "started_at", "reopened_at"
}  # fmt: skip


@pytest.fixture
def two_monitors(db_url: str | None) -> Iterator[tuple[LocalMonitor, LocalMonitor]]:
    """Two fresh monitors on the same kind of database, users alice and bob on each."""
    with ExitStack() as stack:
        mons = []
        for _ in range(2):
            url = db_url if db_url is None else stack.enter_context(postgres_schema(prepared=True))
            mon = stack.enter_context(LocalMonitor(url, in_process=True))
            mon.add_user("alice")
            mon.add_user("bob")
            mons.append(mon)
        yield mons[0], mons[1]


def _session(mon: LocalMonitor, user: str):
    s = mon.session()
    r = s.get(f"{mon.base_url}/auth/token/", auth=(user, mon.tokens[user]))
    assert r.status_code == 200, r.text
    s.headers["Authorization"] = "Bearer " + r.json()["token"]
    s.headers["Content-Type"] = "application/x-www-form-urlencoded"  # as Spack sends
    return s


def row_counts(mon: LocalMonitor) -> dict[str, int]:
    with mon.store.read.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar()
            for t in metadata.sorted_tables
        }


def _dump(mon: LocalMonitor) -> dict[str, list[dict]]:
    """Every row of every table, ids included, timestamps and secrets left out."""
    out = {}
    with mon.store.read.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "spackmon_meta":
                continue
            order = [table.c.id] if "id" in table.c else []
            rows = conn.execute(select(table).order_by(*order)).mappings().all()
            out[table.name] = [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]
    return out


def _writes() -> list[tuple[str, str]]:
    """A day of writes from real Spack files, with the refusals a single request meets:
    (path, the JSON text of the body)."""
    tinyapp = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    tinyapp = tinyapp.get("spec", tinyapp)
    zlib = json.loads((SPECS / "zlib-spack-0.17.1.json").read_text())
    zlib = zlib.get("spec", zlib)
    root = next(n for n in tinyapp["nodes"] if n["name"] == "tinyapp")["full_hash"]
    env = json.loads((INSTALL / ".spack" / "install_environment.json").read_text())
    env = {**env, "spack_version": "0.17.1"}
    manifest = json.loads((INSTALL / ".spack" / "install_manifest.json").read_text())
    phase_files = sorted(SAVE_LOCAL.glob("*/build-*-phase-*.json"))
    logs = [json.loads(p.read_text()).get("output") or "" for p in phase_files]
    dump = json.dumps
    return [
        ("specs/new/", dump({"spec": tinyapp, "spack_version": "0.17.1"})),  # 201
        ("specs/new/", dump({"spec": tinyapp, "spack_version": "0.17.1"})),  # 200: present
        ("specs/new/", dump({"spec": zlib})),  # 400: no spack_version
        ("builds/new/", dump({**env, "full_hash": root, "tags": "ci,nightly"})),  # 201: build 2
        ("builds/new/", dump({**env, "full_hash": root, "tags": "rerun"})),  # 200: tags merged
        ("builds/new/", dump({**env, "full_hash": "nosuchhash"})),  # 400: no such spec
        ("builds/new/", dump({**env, "host_os": ""})),  # 400: missing environment data
        ("builds/phases/update/", dump({"build_id": 2, "phase_name": "configure",
                                        "status": "SUCCESS", "output": logs[0]})),
        ("builds/phases/update/", dump({"build_id": 2, "phase_name": "build",
                                        "status": "ERROR", "output": logs[-1]})),
        ("builds/phases/update/", dump({"build_id": 2, "phase_name": "build",
                                        "status": "SUCCESS", "output": logs[1]})),  # upsert
        ("builds/phases/update/", dump({"build_id": 2, "phase_name": "x", "status": "DONE"})),
        ("builds/phases/update/", dump({"build_id": 999, "phase_name": "x",
                                        "status": "SUCCESS"})),  # 404
        ("builds/phases/update/", dump({"build_id": 1, "phase_name": "install",
                                        "status": "SUCCESS"})),  # 403: bob's build
        ("builds/update/", dump({"build_id": 2, "status": "FAILED"})),
        ("builds/update/", dump({"build_id": 2, "status": "SUCCESS"})),
        ("builds/update/", dump({"build_id": 2, "status": "DONE"})),  # 400
        ("builds/update/", '{"build_id": 2, "status": NaN}'),  # 400: not JSON's NaN
        ("builds/update/", '{"build_id": 2,'),  # 400: not JSON
        ("builds/update/", ""),  # 400: empty
        ("analyze/builds/", dump({"build_id": 2, "metadata": {"install_files": manifest,
                                                             "config_args": "--with-x"}})),
        # written in part (the old files deleted) then refused: the item rolls back alone
        ("analyze/builds/", dump({"build_id": 2, "metadata": {"install_files": {"/x": 5}}})),
        ("analyze/builds/", dump({"build_id": 2, "metadata": {
            "environment_variables": {"CC": "gcc", "PATH": "/usr/bin"}}})),
    ]  # fmt: skip


def _setup(mon: LocalMonitor) -> None:
    """Bob's build of zlib (build 1), sent as single requests on both monitors."""
    bob = _session(mon, "bob")
    zlib = json.loads((SPECS / "zlib-spack-0.17.1.json").read_text())
    zlib = zlib.get("spec", zlib)
    r = bob.post(
        f"{mon.base_url}/specs/new/", data=json.dumps({"spec": zlib, "spack_version": "0.17.1"})
    )
    assert r.status_code == 201, r.text
    env = json.loads((INSTALL / ".spack" / "install_environment.json").read_text())
    body = {**env, "spack_version": "0.17.1", "full_hash": r.json()["data"]["spec"]["full_hash"]}
    r = bob.post(f"{mon.base_url}/builds/new/", data=json.dumps(body))
    assert r.status_code == 201 and r.json()["data"]["build"]["build_id"] == 1, r.text


def test_a_batch_answers_and_writes_exactly_what_the_single_requests_do(two_monitors):
    single, batched = two_monitors
    for mon in two_monitors:
        _setup(mon)
    writes = _writes()
    s = _session(single, "alice")
    expected = []
    for path, text in writes:
        r = s.post(f"{single.base_url}/{path}", data=text)
        expected.append({"status": r.status_code, "body": r.json()})
    statuses = [e["status"] for e in expected]
    assert statuses == [201, 200, 400, 201, 200, 400, 400, 200, 200, 200, 400, 404, 403,
                        200, 200, 400, 400, 400, 400, 200, 400, 200]  # fmt: skip

    b = _session(batched, "alice")
    items = [{"path": path, "body": text} for path, text in writes]
    r = b.post(f"{batched.base_url}/batch/", data=json.dumps({"items": items}))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["code"] == 200 and answer["message"] == "22 writes run in one transaction."
    assert answer["data"]["results"] == expected  # item by item, the single requests' answers
    assert _dump(batched) == _dump(single)  # the same rows, ids included
    files = _dump(batched)["install_files"]
    assert len(files) == len(json.loads((INSTALL / ".spack" / "install_manifest.json")
                                        .read_text()))  # fmt: skip


def test_the_service_info_advertises_the_batch_limits(mon, http):
    info = http.get(f"{mon.base_url}/").json()
    assert info["extensions"] == {
        "batch": {"path": "batch/", "max_items": 1000, "max_bytes": 16 * 1024 * 1024}
    }


def test_the_batch_answers_alike_through_fastapis_routing(db_url):
    """With the ASGI front off (``fast_path=False``) the batch goes through FastAPI's route."""
    with LocalMonitor(db_url, in_process=True, fast_path=False) as mon:
        mon.add_user("alice")
        s = _session(mon, "alice")
        items = [{"path": "/builds/update/", "body": json.dumps({"build_id": 7, "status": "X"})}]
        r = s.post(f"{mon.base_url}/batch/", data=json.dumps({"items": items}))
        assert r.status_code == 200, r.text
        assert r.json()["data"]["results"] == [
            {
                "status": 400,
                "body": {
                    "message": "Invalid status. Choices are CANCELLED,SUCCESS,NOTRUN,FAILED",
                    "code": 400,
                },
            }
        ]


def test_a_plain_ms1_server_has_no_batch(db_url):
    with LocalMonitor(db_url, in_process=True, batch_max_items=0) as mon:
        mon.add_user("alice")
        with mon.session() as http:
            info = http.get(f"{mon.base_url}/").json()
        assert "extensions" not in info  # the service info of plain ms1, field for field
        assert set(info) == {
            "id", "status", "name", "description", "organization", "contactUrl",
            "documentationUrl", "createdAt", "updatedAt", "environment", "version",
            "auth_instructions_url",
        }  # fmt: skip
        s = _session(mon, "alice")
        r = s.post(f"{mon.base_url}/batch/", data=json.dumps({"items": []}))
        assert r.status_code in (404, 405), r.text


def test_batch_limits_are_its_own_and_named(db_url):
    with LocalMonitor(db_url, in_process=True, batch_max_items=2, batch_max_bytes=300) as mon:
        mon.add_user("alice")
        s = _session(mon, "alice")
        before = row_counts(mon)
        update = {"path": "builds/update/", "body": json.dumps({"build_id": 1, "status": "X"})}
        r = s.post(f"{mon.base_url}/batch/", data=json.dumps({"items": [update] * 3}))
        assert r.status_code == 400
        assert r.json()["message"] == (
            "The batch has 3 items; at most 2 are accepted "
            "(extensions.batch.max_items of the service info)."
        )
        big = {
            "path": "builds/update/",
            "body": json.dumps({"build_id": 1, "status": "SUCCESS", "pad": "x" * 400}),
        }
        r = s.post(f"{mon.base_url}/batch/", data=json.dumps({"items": [big]}))
        assert r.status_code == 413
        message = r.json()["message"]
        assert "exceeds the batch limit of 300 bytes" in message
        assert "extensions.batch.max_bytes" in message
        # a single request of that size is fine: the batch limit is the batch's own
        r = s.post(f"{mon.base_url}/builds/update/", data=big["body"])
        assert r.status_code == 404
        assert row_counts(mon) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[]", 'A batch body is a JSON object {"items": [{"path": ..., "body": ...}, ...]}.'),
        ('{"items": []}', "The batch has no items."),
        ('{"items": [1]}', "items[0] must be an object {path, body}."),
        ('{"items": [{"path": "builds/update/", "body": "{}"}, {"path": "batch/", "body": "{}"}]}',
         "items[1].path must be one of the ms1 writes"),
        ('{"items": [{"path": "builds/update/", "body": {"build_id": 1}}]}',
         "items[0].body must be a string holding the request's JSON text, got dict."),
        ("{nope", "The batch body is not valid JSON"),
    ],
)  # fmt: skip
def test_a_malformed_batch_is_refused_whole(mon, alice, counts, body, message):
    spec = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    good = {"path": "specs/new/", "body": json.dumps({"spec": spec, "spack_version": "0.17.1"})}
    if body.startswith('{"items": [{'):  # a good item first: it is not written either
        value = json.loads(body)
        value["items"].insert(0, good)
        body = json.dumps(value)
        message = message.replace("items[0]", "items[1]").replace("items[1].path", "items[2].path")
    before = counts()
    r = alice.post("batch/", data=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["message"]
    assert counts() == before


def test_a_batch_needs_the_bearer_like_every_write(mon, http, counts):
    before = counts()
    spec = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    items = [{"path": "specs/new/", "body": json.dumps({"spec": spec, "spack_version": "0.17.1"})}]
    body = json.dumps({"items": items})
    r = http.post(f"{mon.base_url}/batch/", data=body)
    assert r.status_code == 401
    assert r.headers["Www-Authenticate"].startswith(f'Bearer realm="{mon.base_url}/auth/token/"')
    r = http.post(
        f"{mon.base_url}/batch/", data=body, headers={"Authorization": "Bearer not.a.token"}
    )
    assert r.status_code == 401
    assert counts() == before


def test_a_batch_is_one_transaction(mon, alice, counts, monkeypatch):
    """A database failure at the third item (a fault a real database gives rarely: injected)
    leaves nothing of the first two: the batch is answered 503 and nothing is written."""
    from spackmon_analysis.server.ingest import buildwrites

    spec = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    spec = spec.get("spec", spec)
    root = next(n for n in spec["nodes"] if n["name"] == "tinyapp")["full_hash"]
    env = json.loads((INSTALL / ".spack" / "install_environment.json").read_text())
    items = [
        {"path": "specs/new/", "body": json.dumps({"spec": spec, "spack_version": "0.17.1"})},
        {"path": "builds/new/", "body": json.dumps({**env, "spack_version": "0.17.1",
                                                    "full_hash": root})},
        {"path": "builds/update/", "body": json.dumps({"build_id": 1, "status": "SUCCESS"})},
    ]  # fmt: skip
    real = buildwrites.update_build
    calls = []

    def broken(conn, body, caller):
        calls.append(body)
        raise OperationalError("UPDATE builds", {}, Exception("disk I/O error"))

    monkeypatch.setattr(buildwrites, "update_build", broken)
    before = counts()
    r = alice.post("batch/", data=json.dumps({"items": items}))
    assert r.status_code == 503, r.text
    assert "nothing was written" in r.json()["message"] or "try again" in r.json()["message"]
    assert counts() == before
    assert len(calls) >= 1
    monkeypatch.setattr(buildwrites, "update_build", real)
    # (PostgreSQL's sequences moved on in the rolled-back attempts: ids are not reused)
    r = alice.post("batch/", data=json.dumps({"items": items[:2]}))
    assert [x["status"] for x in r.json()["data"]["results"]] == [201, 201]


@pytest.mark.real_socket
@pytest.mark.slow
def test_spackmon_serve_batch_max_items(tmp_path):
    """``spackmon serve --batch-max-items N`` sets the advertised limit; 0 turns it off."""
    import socket
    import subprocess
    import sys
    import time

    import requests

    for value, expected in (("7", 7), ("0", None)):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        db = f"sqlite:///{tmp_path / f'served-{value}.db'}"
        cli = [sys.executable, "-m", "spackmon_analysis", "serve", "--port", str(port)]
        proc = subprocess.Popen(
            [*cli, "--db", db, "--batch-max-items", value],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    info = requests.get(f"http://127.0.0.1:{port}/ms1/", timeout=2).json()
                    break
                except requests.ConnectionError:
                    assert proc.poll() is None and time.monotonic() < deadline
                    time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        got = info.get("extensions", {}).get("batch", {}).get("max_items")
        assert got == expected


def test_spackmon_serve_refuses_a_negative_batch_limit(capsys):
    from spackmon_analysis.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--batch-max-items", "-1"])
    assert exc.value.code == 2
    assert "--batch-max-items must be an integer at least 0, got -1" in capsys.readouterr().err
