"""Make the schema-1 database of tests/server/test_schema_migration.py (run once, with the code
of main before schema version 2: commit cbec8de).

A real LocalMonitor on a SQLite file replays the two real Spack 0.17.1 save-local runs of
tests/data/save-local and a user's analyzer upload; then the data API's answers (every row of
every route, phases with their output) are written beside the database, with the PostgreSQL
DDL of that schema (for the same migration test on PostgreSQL).

    python tests/data/schema1/make_schema1.py
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from spackmon_analysis import LocalMonitor
from spackmon_analysis.server import tables

HERE = Path(__file__).resolve().parent
DATA = HERE.parent
DB = HERE / "spackmon-schema1.db"
ROUTES = (
    "specs", "dependencies", "builds", "buildenvironments", "buildphases", "builderrors",
    "buildwarnings", "installfiles", "attributes", "environmentvariable", "compilers",
    "architectures", "targets", "features",
)  # fmt: skip


def main() -> None:
    assert tables.SCHEMA_VERSION == 1, "run this with the code of schema version 1"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    with LocalMonitor(f"sqlite:///{DB}", in_process=True) as mon:
        mon.add_user("alice")
        client = mon.client("alice")
        for run in ("v0.17.1-success-tinyapp", "v0.17.1-failure-tinybrokenapp"):
            client.upload_local_save(DATA / "save-local" / run)
        build_id = next(b["id"] for b in client.pull("builds") if b["spec_name"] == "tinyutil")
        client._call(
            "POST",
            "analyze/builds/",
            {"build_id": build_id, "metadata": {"environment_variables": {"CC": "gcc"}}},
        )
        answers = {
            route: list(client.pull(route, **({"output": True} if route == "buildphases" else {})))
            for route in ROUTES
        }
        client.close()
    conn = sqlite3.connect(DB, isolation_level=None)
    try:  # the users' secrets are not needed by the test: blanked; one file, no WAL beside it
        conn.execute("UPDATE users SET token_hash = 'x'")
        conn.execute("UPDATE spackmon_meta SET value = 'test' WHERE key = 'jwt_secret'")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
    finally:
        conn.close()
    (HERE / "answers-schema1.json").write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")
    dialect = postgresql.dialect()
    ddl = []
    for table in tables.metadata.sorted_tables:
        ddl.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            ddl.append(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";")
    (HERE / "postgresql-schema1.sql").write_text("\n\n".join(ddl) + "\n")


if __name__ == "__main__":
    main()
