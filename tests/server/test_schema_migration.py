"""Schema 1 -> 2 (every attempt kept): a database made by the server before attempts
(``tests/data/schema1``, made by ``make_schema1.py`` with that code) is migrated in place when a
server of this version opens it, and then answers as it did plus the attempts -- on SQLite (the
committed file itself) and on PostgreSQL (that version's DDL, filled with the file's rows)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Boolean, DateTime, LargeBinary, MetaData, create_engine, text
from sqlalchemy.types import JSON
from testlib import BUILD_ENV, postgres_schema, schema_version

from spackmon_analysis import LocalMonitor, MonitorData
from spackmon_analysis.errors import SchemaVersionError
from spackmon_analysis.server import read_rows
from spackmon_analysis.server.tables import SCHEMA_VERSION

HERE = Path(__file__).resolve().parents[1] / "data" / "schema1"
DB = HERE / "spackmon-schema1.db"
ANSWERS = json.loads((HERE / "answers-schema1.json").read_text())


def _sqlite_copy(tmp_path: Path) -> str:
    target = tmp_path / "old.db"
    shutil.copyfile(DB, target)
    return f"sqlite:///{target}"


def _postgres_copy(url: str) -> None:
    """Schema 1 on PostgreSQL: its DDL as that version wrote it, the committed file's rows."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in (HERE / "postgresql-schema1.sql").read_text().split(";\n"):
                if statement.strip():
                    conn.execute(text(statement))
        pg = MetaData()
        pg.reflect(engine)
        source = sqlite3.connect(DB)
        try:
            with engine.begin() as conn:
                for table in pg.sorted_tables:
                    names = [c.name for c in table.columns]
                    quoted = ", ".join(f'"{n}"' for n in names)
                    rows = source.execute(f"SELECT {quoted} FROM {table.name}").fetchall()
                    if rows:
                        conn.execute(table.insert(), [_pg_row(table, names, r) for r in rows])
                    if "id" not in names:
                        continue
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"(SELECT COALESCE(MAX(id), 1) FROM {table.name}))"
                        )
                    )
        finally:
            source.close()
    finally:
        engine.dispose()


def _pg_row(table, names, values) -> dict:
    row = {}
    for name, value in zip(names, values, strict=True):
        kind = table.c[name].type
        if value is not None and isinstance(kind, Boolean):
            value = bool(value)
        elif isinstance(value, str) and isinstance(kind, DateTime):
            value = datetime.fromisoformat(value)
        elif isinstance(value, str) and isinstance(kind, JSON):
            value = json.loads(value)
        elif isinstance(value, str) and isinstance(kind, LargeBinary):
            value = value.encode("latin-1")
        row[name] = value
    return row


@pytest.fixture(params=["sqlite", "postgresql"])
def old_db(request, tmp_path):
    """The URL of a schema-1 database holding the committed rows."""
    if request.param == "sqlite":
        yield _sqlite_copy(tmp_path)
    else:
        with postgres_schema() as url:
            _postgres_copy(url)
            yield url


def test_readers_of_an_old_database_are_told_how_to_migrate_it(old_db):
    for read in (
        lambda: MonitorData.from_database(old_db),
        lambda: list(read_rows(old_db, "builds")),
    ):
        with pytest.raises(SchemaVersionError) as info:
            read()
        message = str(info.value)
        assert "schema version 1" in message and "spackmon serve --db URL" in message
    assert schema_version(old_db) == "1"  # a reader changes nothing


def test_a_server_migrates_an_old_database_and_answers_as_before_plus_attempts(old_db):
    with LocalMonitor(old_db, in_process=True) as mon:
        mon.add_user("bob")
        client = mon.client("bob")
        assert schema_version(old_db) == str(SCHEMA_VERSION) == "3"
        new = {
            route: list(client.pull(route, **({"output": True} if route == "buildphases" else {})))
            for route in ANSWERS
        }
        attempts = list(client.pull("attempts"))
        every_phase = list(client.pull("attemptphases", output=True))
        client.close()
    for route, old_rows in ANSWERS.items():
        assert len(new[route]) == len(old_rows), route
        for old, now in zip(old_rows, new[route], strict=True):
            assert {k: now.get(k) for k in old} == old, route  # every old field, same value
    # one attempt per build: its first, its latest, with the build's status and creation time
    builds = {b["id"]: b for b in new["builds"]}
    assert sorted(a["build"] for a in attempts) == sorted(builds)
    for attempt in attempts:
        build = builds[attempt["build"]]
        assert (attempt["number"], attempt["latest"], attempt["run_time"]) == (1, True, None)
        assert attempt["status"] == build["status"]
        assert attempt["started_at"] == build["created_at"]
        assert (build["attempt"], build["attempts"]) == (attempt["id"], 1)
    by_build = {a["build"]: a["id"] for a in attempts}
    assert [p["attempt"] for p in new["buildphases"]] == [
        by_build[p["build"]] for p in ANSWERS["buildphases"]
    ]
    assert every_phase == new["buildphases"]


def test_a_migrated_database_takes_new_attempts(old_db):
    old_build = next(b for b in ANSWERS["builds"] if b["spec_name"] == "tinybroken")
    with LocalMonitor(old_db, in_process=True) as mon:
        mon.rotate_token("alice")  # the committed file's alice has a blanked token: a new one
        api = mon.session()
        token = api.get(f"{mon.base_url}/auth/token/", auth=("alice", mon.tokens["alice"]))
        api.headers["Authorization"] = "Bearer " + token.json()["token"]
        body = {**BUILD_ENV, "spack_version": "0.17.1", "full_hash": old_build["full_hash"]}
        body.update(
            {k: old_build[k] for k in ("host_os", "platform", "host_target", "hostname")},
            kernel_version=old_build["kernel_version"],
        )
        r = api.post(f"{mon.base_url}/builds/new/", data=json.dumps(body))
        assert r.status_code == 200 and r.json()["data"]["build"]["build_id"] == old_build["id"]
        phase = {"build_id": old_build["id"], "phase_name": "build", "status": "SUCCESS"}
        r = api.post(f"{mon.base_url}/builds/phases/update/", data=json.dumps(phase))
        assert r.status_code == 200, r.text
        rows = api.get(f"{mon.url}/api/attempts/", params={"build": old_build["id"]}).json()
        assert [(a["number"], a["latest"]) for a in rows["results"]] == [(1, False), (2, True)]
    data = MonitorData.from_database(old_db)
    assert data.has_attempt_rows
    assert len(data.attempts) == len(ANSWERS["builds"]) + 1
    mine = data.attempts[data.attempts["build"] == str(old_build["id"])]
    assert list(mine["number"]) == [1, 2] and list(mine["latest"]) == [False, True]
