"""Make the schema-2 database of tests/server/test_schema2_migration.py (run once, with the code
of main before schema version 3, the release before spliced specs: commit 8d90819).

A real LocalMonitor on a SQLite file replays a real Spack 0.17.1 save-local run; then the data
API's specs and builds (every field that version sent) are written beside the database.

    PYTHONPATH=<a checkout of 8d90819> python tests/data/schema2/make_schema2.py
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from spackmon_analysis import LocalMonitor
from spackmon_analysis.server import tables

HERE = Path(__file__).resolve().parent
DATA = HERE.parent
DB = HERE / "spackmon-schema2.db"


def main() -> None:
    assert tables.SCHEMA_VERSION == 2, "run this with the code of schema version 2"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    with LocalMonitor(f"sqlite:///{DB}", in_process=True) as mon:
        mon.add_user("alice")
        client = mon.client("alice", progress=False)
        client.upload_local_save(DATA / "save-local" / "v0.17.1-success-tinyapp")
        answers = {route: list(client.pull(route)) for route in ("specs", "builds")}
        client.close()
    conn = sqlite3.connect(DB, isolation_level=None)
    try:  # the users' secrets are not needed by the test: blanked; one file, no WAL beside it
        conn.execute("UPDATE users SET token_hash = 'x'")
        conn.execute(
            "UPDATE spackmon_meta SET value = 'test-secret-of-a-committed-test-file' WHERE key = 'jwt_secret'"
        )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
    finally:
        conn.close()
    (HERE / "answers-schema2.json").write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
