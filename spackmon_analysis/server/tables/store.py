"""The database behind one server: :class:`Store` and its engines, database URLs, lock waits.

One :class:`Store` wraps two engines over the same database: a *write* engine whose transactions
start with ``BEGIN IMMEDIATE`` on SQLite (so two writers never dead-lock on a lock upgrade) and a
*read* engine with ordinary deferred transactions (WAL lets readers run beside a writer).
:meth:`Store.open` creates the schema of :mod:`.schema` on first use, checks its version on every
later use and migrates an older version in place (:mod:`.migrations`), one transaction.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import PoolProxiedConnection

from ...errors import ConfigError, SchemaVersionError
from .migrations import MIGRATIONS
from .schema import SCHEMA_VERSION, TRANSIENT_TABLES, meta, metadata
from .times import iso_seconds, utcnow


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
            rows = new_database_meta()
            conn.execute(meta.insert(), rows)
            self.secret = next(r["value"] for r in rows if r["key"] == "jwt_secret")

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


def new_database_meta() -> list[dict[str, str]]:
    """The :data:`~.schema.meta` rows of a database created now: this schema version, a new
    random JWT secret and the creation time (what :meth:`Store.open` writes into an empty
    database)."""
    return [
        {"key": "schema_version", "value": str(SCHEMA_VERSION)},
        {"key": "jwt_secret", "value": secrets.token_hex(32)},
        {"key": "created_at", "value": iso_seconds(utcnow())},
    ]


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
