"""The monitor's database: SQLAlchemy 2 tables, engine set-up and schema versions (public).

One :class:`Store` wraps two engines over the same database: a *write* engine whose transactions
start with ``BEGIN IMMEDIATE`` on SQLite (so two writers never dead-lock on a lock upgrade) and a
*read* engine with ordinary deferred transactions (WAL lets readers run beside a writer).

This module is the server's public face to the rest of the package: the tables, :class:`Store`,
:data:`SCHEMA_VERSION` and :func:`redact_url` are what ``MonitorData.from_database`` reads with.
The data API's row shapes and pages are in :mod:`.queries`, the writes in :mod:`.ingest`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import PoolProxiedConnection

from ..errors import ConfigError, SchemaVersionError

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "as_db_url",
    "default_db_url",
    "redact_url",
    "set_lock_wait",
    "run_prepared",
    "run_prepared_many",
    "cursor_statement",
    "utcnow",
    "iso",
    "iso_seconds",
    "metadata",
    "meta",
    "users",
    "compilers",
    "targets",
    "features",
    "architectures",
    "specs",
    "dependencies",
    "build_environments",
    "builds",
    "build_attempts",
    "build_phases",
    "build_events",
    "install_files",
    "attributes",
    "environment_variables",
    "auth_failures",
    "TRANSIENT_TABLES",
]

#: Version of the table layout below; bump it whenever a table or column changes, and add the
#: step from the version before to :data:`MIGRATIONS` (a database of an older version is
#: migrated in place, in one transaction, when a server opens it).
#: 1: the first layout. 2: every attempt of a build kept (``build_attempts``; each phase belongs
#: to an attempt; ``builds.reopened_at``).
SCHEMA_VERSION = 2

metadata = MetaData()

meta = Table(
    "spackmon_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("token_updated_at", DateTime, nullable=False),
)

compilers = Table(
    "compilers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("version", String(200), nullable=False),
    UniqueConstraint("name", "version"),
)

targets = Table(
    "targets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("vendor", String(200), nullable=False, default=""),
    Column("generation", Integer, nullable=False, default=0),
    Column("features", JSON, nullable=False),
    Column("parents", JSON, nullable=False),
    UniqueConstraint("name", "vendor", "generation"),
)

features = Table(
    "features",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
)

architectures = Table(
    "architectures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(200), nullable=False),
    Column("os", String(200), nullable=False),
    Column("target_id", Integer, ForeignKey("targets.id"), nullable=False),
    UniqueConstraint("platform", "os", "target_id"),
)

specs = Table(
    "specs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(250), nullable=False),
    Column("version", String(250), nullable=False, default=""),
    Column("full_hash", String(64), nullable=False),
    Column("hash", String(64)),
    Column("build_hash", String(64)),
    Column("dag_hash", String(64)),
    Column("package_hash", String(64)),
    Column("spack_version", String(250), nullable=False),
    Column("namespace", String(250)),
    Column("compiler_id", Integer, ForeignKey("compilers.id")),
    Column("architecture_id", Integer, ForeignKey("architectures.id")),
    Column("compiler_name", String(200)),
    Column("compiler_version", String(200)),
    Column("platform", String(200)),
    Column("os", String(200)),
    Column("target", String(200)),
    Column("parameters", JSON, nullable=False),
    Column("external", Boolean, nullable=False, default=False),
    Column("external_path", Text),
    Column("is_root", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("name", "full_hash", "spack_version", name="uq_spec_identity"),
)
Index("ix_specs_full_hash", specs.c.full_hash)
Index("ix_specs_hash", specs.c.hash)
Index("ix_specs_build_hash", specs.c.build_hash)
Index("ix_specs_dag_hash", specs.c.dag_hash)

dependencies = Table(
    "dependencies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("spec_id", Integer, ForeignKey("specs.id"), nullable=False),
    Column("dependency_id", Integer, ForeignKey("specs.id"), nullable=False),
    Column("deptypes", JSON, nullable=False),
    Column("virtuals", JSON, nullable=False),
    UniqueConstraint("spec_id", "dependency_id", name="uq_dependency_edge"),
)

build_environments = Table(
    "build_environments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hostname", String(250), nullable=False),
    Column("host_os", String(250), nullable=False),
    Column("platform", String(250), nullable=False),
    Column("host_target", String(250), nullable=False),
    Column("kernel_version", String(250), nullable=False),
    UniqueConstraint(
        "hostname", "host_os", "platform", "host_target", "kernel_version", name="uq_build_env"
    ),
)

builds = Table(
    "builds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("spec_id", Integer, ForeignKey("specs.id"), nullable=False),
    Column("build_environment_id", Integer, ForeignKey("build_environments.id"), nullable=False),
    Column("owner_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("status", String(20), nullable=False, default="NOTRUN"),
    Column("tags", JSON, nullable=False),
    Column("spack_version", String(250), nullable=False),
    Column("config_args", Text),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # set by a builds/new of an existing build: the next phase or status that is not a repeat
    # of the latest attempt opens a new attempt dated then (ingest/attempts.attempt_for_write)
    Column("reopened_at", DateTime),
    UniqueConstraint("spec_id", "build_environment_id", name="uq_build_identity"),
)
Index("ix_builds_status", builds.c.status)

#: Every attempt of a build (docs/server.md, "Attempts"): the build row shows the latest one
#: (latest ``started_at``, then id); ``number`` is the attempt's place in its build's history
#: by ``started_at`` (1 = first). ``run_time`` is the date of the save-local run a replay sent
#: it from (then also its ``started_at``), None for a live attempt.
build_attempts = Table(
    "build_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("build_id", Integer, ForeignKey("builds.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("status", String(20), nullable=False, default="NOTRUN"),
    Column("latest", Boolean, nullable=False),
    Column("run_time", DateTime),
    Column("started_at", DateTime, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("build_id", "run_time", name="uq_attempt_run"),
)
Index("ix_build_attempts_build", build_attempts.c.build_id, build_attempts.c.latest)

build_phases = Table(
    "build_phases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("build_id", Integer, ForeignKey("builds.id"), nullable=False),
    Column("attempt_id", Integer, ForeignKey("build_attempts.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(20), nullable=False),
    Column("output", Text),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("attempt_id", "name", name="uq_phase_attempt"),
)
Index("ix_build_phases_build", build_phases.c.build_id)

#: errors and warnings share one table; ``kind`` is "error" or "warning".
build_events = Table(
    "build_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("build_id", Integer, ForeignKey("builds.id"), nullable=False),
    Column("phase_id", Integer, ForeignKey("build_phases.id"), nullable=False),
    Column("text", Text, nullable=False),
    Column("line_no", Integer),
    Column("source_file", Text),
    Column("source_line_no", Integer),
    Column("pre_context", JSON, nullable=False),
    Column("post_context", JSON, nullable=False),
    Column("repeat_count", Integer, nullable=False, default=1),
    Column("classes", JSON, nullable=False),
)
Index("ix_build_events_phase", build_events.c.phase_id)
Index("ix_build_events_build_kind", build_events.c.build_id, build_events.c.kind)

install_files = Table(
    "install_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("build_id", Integer, ForeignKey("builds.id"), nullable=False),
    Column("path", Text, nullable=False),
    Column("prefix", Text),
    Column("ftype", String(32)),
    Column("mode", BigInteger),
    Column("owner", BigInteger),
    Column("group", BigInteger),
    Column("hash", String(128)),
    Column("size", BigInteger),
    Column("time", String(64)),
    Column("extra", JSON, nullable=False),
)
Index("ix_install_files_build", install_files.c.build_id)

attributes = Table(
    "attributes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("build_id", Integer, ForeignKey("builds.id"), nullable=False),
    Column("analyzer", String(250), nullable=False),
    Column("name", Text, nullable=False),
    Column("install_file", Text),
    Column("value", Text),
    Column("json_value", JSON),
    Column("binary_value", LargeBinary),
)
Index("ix_attributes_build", attributes.c.build_id)

environment_variables = Table(
    "environment_variables",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("build_id", Integer, ForeignKey("builds.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("value", Text, nullable=False),
)
Index("ix_envvars_build", environment_variables.c.build_id)

#: Failed token requests: the client address and the wall-clock time (``time.time()``) of each.
#: Every server process on the database counts them, so the failed-login limit holds across
#: workers (``auth.FailureLimiter``). Transient state, not build data: rows older than the
#: server's ``--auth-window`` are deleted as new failures come, and the table is created when an
#: older database of the same schema version lacks it (:data:`TRANSIENT_TABLES`).
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("address", String(255), nullable=False),
    Column("failed_at", Float, nullable=False),
)
Index("ix_auth_failures_address", auth_failures.c.address, auth_failures.c.failed_at)
Index("ix_auth_failures_time", auth_failures.c.failed_at)

#: Tables of server state (no build data) that :meth:`Store.open` adds to a database of this
#: schema version when they are missing, without a version change: nothing is lost by starting
#: them empty.
TRANSIENT_TABLES = frozenset({auth_failures.name})


# --------------------------------------------------------------------------------------------
# time helpers


def utcnow() -> datetime:
    """Now in UTC as a naive datetime (the form stored in the database)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """An ISO 8601 UTC timestamp with microseconds and a ``Z`` suffix."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_seconds(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (the service-info / token endpoint format)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# engine and schema


def default_db_url() -> str:
    """``$SPACKMON_DB``, else a SQLite file in the user's data directory."""
    env = os.environ.get("SPACKMON_DB")
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    path = Path(base) / "spackmon" / "spackmon.db"
    return f"sqlite:///{path}"


def as_db_url(text: str) -> str:
    """A database URL from ``text``: a URL as given, or a plain file path as a SQLite URL."""
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().absolute()}"


class _SQLiteDeferredBegin(SQLiteDialect_pysqlite):
    """Python's sqlite3 with our own ``BEGIN``, issued straight on the DBAPI connection where
    SQLAlchemy begins a transaction (a "begin" event running ``exec_driver_sql`` costs a full
    statement execution per request); errors are still wrapped by SQLAlchemy (OperationalError
    for a locked database). The connections run with ``isolation_level = None`` (see
    :func:`_make_engine`), so sqlite3 itself never begins one. The read engine's dialect."""

    supports_statement_cache = True
    begin_sql = "BEGIN"

    def do_begin(self, dbapi_connection: PoolProxiedConnection) -> None:
        dbapi_connection.execute(self.begin_sql)


class _SQLiteImmediateBegin(_SQLiteDeferredBegin):
    """The write engine's dialect: ``BEGIN IMMEDIATE`` takes the write lock at the start, so
    two writers queue on the busy timeout instead of one failing at its first write."""

    supports_statement_cache = True
    begin_sql = "BEGIN IMMEDIATE"


#: URL driver names of the two dialects above (a user's URL names ``sqlite`` or
#: ``sqlite+pysqlite``; :func:`_make_engine` swaps in one of these).
_BEGIN_DRIVERS = {True: "spackmon_immediate", False: "spackmon_deferred"}
registry.register("sqlite.spackmon_immediate", __name__, "_SQLiteImmediateBegin")
registry.register("sqlite.spackmon_deferred", __name__, "_SQLiteDeferredBegin")


def _make_engine(url: str, *, immediate: bool) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.get_driver_name() != "pysqlite":
            raise ConfigError(
                f"cannot use database URL {redact_url(url)!r}: a SQLite store runs on Python's "
                f"sqlite3 (sqlite:/// or sqlite+pysqlite:///), not {parsed.drivername}"
            )
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed.set(drivername=f"sqlite+{_BEGIN_DRIVERS[immediate]}"),
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"cannot use database URL {url!r}: {exc}") from None


@dataclass
class Store:
    """The database behind one server: engines, schema check and the persistent secret."""

    url: str
    write: Engine = field(repr=False)
    read: Engine = field(repr=False)
    secret: str = field(repr=False, default="")

    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> Store:
        """Open (and on first use create) the database at ``url`` (default: :func:`default_db_url`).

        ``url`` may also be a plain file path (a SQLite database). Raises
        :class:`SchemaVersionError` when the database carries another schema version and
        :class:`ConfigError` when it cannot be reached.
        """
        url = as_db_url(url or default_db_url())
        write = _make_engine(url, immediate=True)
        read = write if not url.startswith("sqlite") else _make_engine(url, immediate=False)
        store = cls(url=url, write=write, read=read)
        try:
            store._ensure_schema(create=create)
        except OperationalError as exc:
            raise ConfigError(f"cannot open database {redact_url(url)}: {exc.orig}") from None
        return store

    def _check_schema(self, conn: Any, *, migrate: bool = False) -> bool:
        """True when ``conn`` holds this schema version (reads the secret), False when empty.

        A database of an older version known to :data:`MIGRATIONS` raises
        :class:`_NeedsMigration` when ``migrate`` (the caller then migrates it in a write
        transaction) and :class:`SchemaVersionError` naming the way to migrate it otherwise."""
        names = set(inspect(conn).get_table_names())
        if meta.name in names:
            rows = dict(conn.execute(select(meta.c.key, meta.c.value)).all())
            version = rows.get("schema_version")
            number = int(version) if isinstance(version, str) and version.isdigit() else None
            older = number is not None and number in MIGRATIONS
            if number is not None and older and migrate:
                raise _NeedsMigration(number)
            if older:
                raise SchemaVersionError(
                    f"database {redact_url(self.url)} has schema version {version}, this version "
                    f"reads version {SCHEMA_VERSION}; a server of this version migrates it in "
                    f"place when it opens it: run `spackmon serve --db URL` (or "
                    f"`spackmon users list --db URL`) once, then read it again"
                )
            if version != str(SCHEMA_VERSION):
                raise SchemaVersionError(
                    f"database {redact_url(self.url)} has schema version {version or 'unknown'}, "
                    f"this server needs version {SCHEMA_VERSION}; refusing to use it "
                    "(use a new database file or migrate the old one)"
                )
            self.secret = rows["jwt_secret"]
            missing = [
                t
                for t in metadata.sorted_tables
                if t.name not in names and t.name not in TRANSIENT_TABLES
            ]
            if missing:
                raise SchemaVersionError(
                    f"database {redact_url(self.url)} claims schema version {SCHEMA_VERSION} but "
                    f"lacks tables {', '.join(t.name for t in missing)}"
                )
            return True
        if names & {t.name for t in metadata.sorted_tables}:
            raise SchemaVersionError(
                f"database {redact_url(self.url)} holds spackmon tables without a schema version row"
            )
        return False

    def _ensure_schema(self, *, create: bool) -> None:
        if not create:
            parsed = make_url(self.url)
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (
                None,
                "",
                ":memory:",
            ):
                if not Path(parsed.database).expanduser().exists():
                    raise ConfigError(f"no database file {parsed.database}")
        try:
            with self.read.connect() as conn:
                ready = self._check_schema(conn, migrate=create)
                missing = (
                    ready
                    and create
                    and not TRANSIENT_TABLES <= set(inspect(conn).get_table_names())
                )
        except _NeedsMigration:
            self._migrate()
            ready = missing = True
        if missing:
            with self.write.begin() as conn:
                _schema_lock(conn)
                self._add_transient_tables(conn)
        if ready:
            return
        if not create:
            raise ConfigError(f"database {redact_url(self.url)} has no spackmon schema")
        with self.write.begin() as conn:
            _schema_lock(conn)
            if self._check_schema(conn):  # created meanwhile by another process
                self._add_transient_tables(conn)
                return
            metadata.create_all(conn)
            self.secret = secrets.token_hex(32)
            now = iso_seconds(utcnow())
            conn.execute(
                meta.insert(),
                [
                    {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                    {"key": "jwt_secret", "value": self.secret},
                    {"key": "created_at", "value": now},
                ],
            )

    @staticmethod
    def _add_transient_tables(conn: Any) -> None:
        """Create the :data:`TRANSIENT_TABLES` the database lacks, in ``conn``'s write
        transaction (which holds the schema lock: two servers starting together create each
        table once)."""
        for name in sorted(TRANSIENT_TABLES - set(inspect(conn).get_table_names())):
            metadata.tables[name].create(conn, checkfirst=True)

    def _migrate(self) -> None:
        """Bring an older database to :data:`SCHEMA_VERSION`, step by step, in one write
        transaction (nothing changes when a step fails). SQLite runs it with foreign key
        enforcement off on that connection (a step may rebuild a table that others refer
        to) and checks every reference before it commits."""
        sqlite = self.write.dialect.name == "sqlite"
        with self.write.connect() as conn:
            raw: Any = conn.connection.dbapi_connection
            if sqlite:  # outside any transaction, where SQLite honours it
                raw.execute("PRAGMA foreign_keys=OFF")
            try:
                with conn.begin():
                    _schema_lock(conn)
                    try:
                        self._check_schema(conn, migrate=True)
                        return  # migrated meanwhile by another process
                    except _NeedsMigration as need:
                        version = need.version
                    while version < SCHEMA_VERSION:
                        MIGRATIONS[version](conn)
                        version += 1
                    if sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise SchemaVersionError(
                                f"migrating {redact_url(self.url)} would break "
                                f"{len(broken)} reference(s), e.g. {tuple(broken[0])}; "
                                "nothing was changed"
                            )
                    conn.execute(
                        meta.update()
                        .where(meta.c.key == "schema_version")
                        .values(value=str(SCHEMA_VERSION))
                    )
                    self.secret = conn.execute(
                        select(meta.c.value).where(meta.c.key == "jwt_secret")
                    ).scalar_one()
            finally:
                if sqlite:
                    raw.execute("PRAGMA foreign_keys=ON")

    def created_at(self) -> str:
        """When the database was created (``YYYY-MM-DDTHH:MM:SSZ``)."""
        with self.read.connect() as conn:
            value = conn.execute(select(meta.c.value).where(meta.c.key == "created_at")).scalar()
        return value or iso_seconds(utcnow())

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.write.dispose()
        if self.read is not self.write:
            self.read.dispose()


def _schema_lock(conn: Any) -> None:
    """Serialise schema creation between processes: on PostgreSQL a transaction-scoped advisory
    lock (two servers starting together on an empty database would otherwise both create the
    tables, and one would fail); on SQLite the write engine's ``BEGIN IMMEDIATE`` already does."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7325460112)"))


class _NeedsMigration(Exception):
    """The database holds an older schema version that :data:`MIGRATIONS` can migrate."""

    def __init__(self, version: int):
        super().__init__(version)
        self.version = version


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


#: schema version -> the step that migrates a database of that version to the next one.
MIGRATIONS: dict[int, Any] = {1: _migrate_1_to_2}


def set_lock_wait(store: Store, seconds: float) -> None:
    """Bound how long one statement of ``store``'s connections waits for a lock held by someone
    else (SQLite's ``busy_timeout``, PostgreSQL's ``lock_timeout``) to ``seconds``; the waiting
    statement then fails with an ``OperationalError``. Pooled connections are replaced."""
    ms = max(1, int(seconds * 1000))
    engines = [store.write] if store.read is store.write else [store.write, store.read]
    for engine in engines:
        sqlite = engine.dialect.name == "sqlite"

        def on_connect(dbapi_conn: Any, _record: Any, sqlite: bool = sqlite) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={ms}" if sqlite else f"SET lock_timeout = {ms}")
            cur.close()
            if not sqlite:
                dbapi_conn.commit()  # a SET inside a transaction rolled back would be undone

        event.listen(engine, "connect", on_connect)
        engine.dispose()


def redact_url(url: str) -> str:
    """``url`` with its password hidden (for messages that name a database)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


# --------------------------------------------------------------------------------------------
# prepared hot-path statements


#: A statement compiled for one dialect: its SQL, and per bound name (in the DBAPI's order for
#: a positional paramstyle) the name, its bind processor or None, and its default value.
_Prepared = tuple[str, bool, tuple[tuple[str, Any, Any], ...]]
_PREPARED: dict[tuple[str, int], _Prepared] = {}
_MISSING = object()


def _prepared(dialect: Any, stmt: Any) -> _Prepared:
    """``stmt`` compiled once per dialect (see :data:`_Prepared`)."""
    key = (dialect.name, id(stmt))
    prepared = _PREPARED.get(key)
    if prepared is None:
        compiled = stmt.compile(dialect=dialect)
        procs = compiled._bind_processors
        names = compiled.positiontup if dialect.positional else compiled.params
        binds = tuple(
            (
                name,
                procs.get(name),
                _MISSING if compiled.params.get(name) is None else compiled.params[name],
            )
            for name in names or ()
        )
        prepared = (compiled.string, bool(dialect.positional), binds)
        _PREPARED[key] = prepared
    return prepared


def _bound(prepared: _Prepared, params: dict[str, Any]) -> Any:
    """One execution's parameters as the DBAPI takes them: each bound name's value from
    ``params`` (else the statement's default; a name with neither is a ``KeyError``) through
    its bind processor, as a tuple (positional paramstyle) or a dict."""
    values = []
    for name, proc, default in prepared[2]:
        value = params.get(name, default)
        if value is _MISSING:
            raise KeyError(name)
        values.append(value if proc is None else proc(value))
    if prepared[1]:
        return tuple(values)
    return {bind[0]: value for bind, value in zip(prepared[2], values, strict=True)}


def run_prepared(conn: Any, stmt: Any, params: dict[str, Any]) -> list[tuple]:
    """Execute a prebuilt Core statement on ``conn``'s DBAPI connection; return its rows.

    The statement is compiled once per dialect (bind processors kept, so values are stored exactly
    as SQLAlchemy would store them) and then run with a raw DBAPI cursor inside the connection's
    current transaction: this skips SQLAlchemy's per-execution bookkeeping on the server's hottest
    path. DBAPI errors are re-raised as the matching ``sqlalchemy.exc`` classes. Rows come as
    the driver gives them (no result processing: SQLite gives a time as its stored text).
    """
    from sqlalchemy.exc import DBAPIError

    dialect = conn.dialect
    prepared = _prepared(dialect, stmt)
    sql = prepared[0]
    args = _bound(prepared, params)
    raw = conn.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.execute(sql, args)
        return cursor.fetchall() if cursor.description else []
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, args, exc, dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


def run_prepared_many(conn: Any, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """Execute a prebuilt Core statement once per parameter dict of ``rows`` (the DBAPI's
    ``executemany``), as :func:`run_prepared` runs one: a multi-row INSERT of the hot path."""
    from sqlalchemy.exc import DBAPIError

    if not rows:
        return
    dialect = conn.dialect
    prepared = _prepared(dialect, stmt)
    sql = prepared[0]
    args = [_bound(prepared, params) for params in rows]
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.executemany(sql, args)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, args, exc, dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


def cursor_statement(stmt: Any, dialect: Any) -> tuple[str, Any]:
    """``(sql, parameters)`` of a Core select for a plain DBAPI cursor of ``dialect``: the
    statement compiled with its bound values (lists in ``IN`` expanded) processed as
    SQLAlchemy would bind them (a ``datetime`` becomes SQLite's stored text form), so a reader
    can fetch raw rows in chunks (``fetchmany``) without SQLAlchemy's per-row processing."""
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    procs = compiled._bind_processors
    if procs:
        params = {k: (procs[k](v) if k in procs else v) for k, v in params.items()}
    if dialect.positional:
        return compiled.string, tuple(params[name] for name in compiled.positiontup or ())
    return compiled.string, params
