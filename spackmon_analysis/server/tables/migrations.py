"""The steps that bring a database of an older schema version to :data:`~.schema.SCHEMA_VERSION`.

:meth:`.store.Store.open` runs them, one after another, in one write transaction when a server
opens an older database. A new schema version adds its step to :data:`MIGRATIONS` here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from .schema import build_attempts, build_phases, builds, specs


def _migrate_1_to_2(conn: Any) -> None:
    """Schema 1 -> 2: one attempt per existing build (number 1, latest, the build's status,
    started when the build was created), every phase in its build's attempt, phases unique
    per attempt and name instead of per build and name; ``builds.reopened_at``."""
    sqlite = conn.dialect.name == "sqlite"
    build_attempts.create(conn)  # with its index
    conn.exec_driver_sql("ALTER TABLE builds ADD COLUMN reopened_at " + _type_sql(conn, builds))
    conn.exec_driver_sql(
        "INSERT INTO build_attempts (build_id, number, status, latest, run_time, started_at, "
        "created_at, updated_at) SELECT id, 1, status, "
        + ("1" if sqlite else "TRUE")
        + ", NULL, created_at, created_at, updated_at FROM builds ORDER BY id"
    )
    if sqlite:
        # SQLite cannot drop a table constraint: the table is built anew under its name
        from sqlalchemy.schema import CreateTable

        ddl = str(CreateTable(build_phases).compile(dialect=conn.dialect))
        conn.exec_driver_sql(ddl.replace("TABLE build_phases", "TABLE build_phases_v2", 1))
        conn.exec_driver_sql(
            "INSERT INTO build_phases_v2 (id, build_id, attempt_id, name, status, output, "
            "created_at, updated_at) SELECT p.id, p.build_id, a.id, p.name, p.status, p.output, "
            "p.created_at, p.updated_at FROM build_phases p "
            "JOIN build_attempts a ON a.build_id = p.build_id ORDER BY p.id"
        )
        conn.exec_driver_sql("DROP TABLE build_phases")
        conn.exec_driver_sql("ALTER TABLE build_phases_v2 RENAME TO build_phases")
    else:
        conn.exec_driver_sql(
            "ALTER TABLE build_phases ADD COLUMN attempt_id INTEGER REFERENCES build_attempts(id)"
        )
        conn.exec_driver_sql(
            "UPDATE build_phases SET attempt_id = a.id FROM build_attempts a "
            "WHERE a.build_id = build_phases.build_id"
        )
        conn.exec_driver_sql("ALTER TABLE build_phases ALTER COLUMN attempt_id SET NOT NULL")
        conn.exec_driver_sql("ALTER TABLE build_phases DROP CONSTRAINT uq_phase_identity")
        conn.exec_driver_sql(
            "ALTER TABLE build_phases ADD CONSTRAINT uq_phase_attempt UNIQUE (attempt_id, name)"
        )
    for index in build_phases.indexes:
        index.create(conn)


def _type_sql(conn: Any, table: Table) -> str:
    """The SQL type of ``builds.reopened_at`` in ``conn``'s dialect."""
    return str(table.c.reopened_at.type.compile(dialect=conn.dialect))


def _migrate_2_to_3(conn: Any) -> None:
    """Schema 2 -> 3: ``specs.build_spec`` (empty for every spec stored before: no spec a
    server stored so far was read as spliced)."""
    kind = str(specs.c.build_spec.type.compile(dialect=conn.dialect))
    conn.exec_driver_sql("ALTER TABLE specs ADD COLUMN build_spec " + kind)


#: schema version -> the step that migrates a database of that version to the next one.
MIGRATIONS: dict[int, Any] = {1: _migrate_1_to_2, 2: _migrate_2_to_3}
