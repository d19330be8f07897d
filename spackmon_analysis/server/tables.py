"""The monitor's database: SQLAlchemy 2 tables, engine set-up, schema versioning and row readers.

One :class:`Store` wraps two engines over the same database: a *write* engine whose transactions
start with ``BEGIN IMMEDIATE`` on SQLite (so two writers never dead-lock on a lock upgrade) and a
*read* engine with ordinary deferred transactions (WAL lets readers run beside a writer).

The data API's row shapes live here too (:data:`ROUTES`), so the HTTP routes and
:func:`read_rows` (used by ``MonitorData.from_database``) yield exactly the same dicts.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable, Iterator
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
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    cast,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.sql import Select

from ..errors import ConfigError, SchemaVersionError
from .validate import clean_text

__all__ = [
    "SCHEMA_VERSION",
    "ROUTES",
    "Store",
    "as_db_url",
    "default_db_url",
    "read_rows",
    "set_lock_wait",
    "utcnow",
    "iso",
]

#: Version of the table layout below; bump it whenever a table or column changes.
SCHEMA_VERSION = 1

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
    UniqueConstraint("spec_id", "build_environment_id", name="uq_build_identity"),
)
Index("ix_builds_status", builds.c.status)

build_phases = Table(
    "build_phases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("build_id", Integer, ForeignKey("builds.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(20), nullable=False),
    Column("output", Text),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("build_id", "name", name="uq_phase_identity"),
)

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


def _make_engine(url: str, *, immediate: bool) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # Our own BEGIN, issued straight on the DBAPI connection where SQLAlchemy would begin (a
        # "begin" event running exec_driver_sql costs a full statement execution per request);
        # errors are still wrapped by SQLAlchemy (OperationalError for a locked database).
        begin_sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        def _do_begin(dbapi_conn: Any) -> None:
            dbapi_conn.execute(begin_sql)

        engine.dialect.do_begin = _do_begin  # type: ignore[method-assign]
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
            raise ConfigError(f"cannot open database {_safe(url)}: {exc.orig}") from None
        return store

    def _check_schema(self, conn: Any) -> bool:
        """True when ``conn`` holds this schema version (reads the secret), False when empty."""
        names = set(inspect(conn).get_table_names())
        if meta.name in names:
            rows = dict(conn.execute(select(meta.c.key, meta.c.value)).all())
            version = rows.get("schema_version")
            if version != str(SCHEMA_VERSION):
                raise SchemaVersionError(
                    f"database {_safe(self.url)} has schema version {version or 'unknown'}, "
                    f"this server needs version {SCHEMA_VERSION}; refusing to use it "
                    "(use a new database file or migrate the old one)"
                )
            self.secret = rows["jwt_secret"]
            missing = [t for t in metadata.sorted_tables if t.name not in names]
            if missing:
                raise SchemaVersionError(
                    f"database {_safe(self.url)} claims schema version {SCHEMA_VERSION} but "
                    f"lacks tables {', '.join(t.name for t in missing)}"
                )
            return True
        if names & {t.name for t in metadata.sorted_tables}:
            raise SchemaVersionError(
                f"database {_safe(self.url)} holds spackmon tables without a schema version row"
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
        with self.read.connect() as conn:
            if self._check_schema(conn):
                return
        if not create:
            raise ConfigError(f"database {_safe(self.url)} has no spackmon schema")
        with self.write.begin() as conn:
            if self._check_schema(conn):  # created meanwhile by another process
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


def _safe(url: str) -> str:
    """A URL with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


# --------------------------------------------------------------------------------------------
# data API routes: one select + one row function per route


@dataclass(frozen=True)
class Route:
    """One ``/api/<name>/`` route: its select, id column, row shaper and filters."""

    name: str
    query: Callable[[], Select]
    id_col: Any
    row: Callable[[Any], dict]
    filters: dict[str, tuple[Any, Callable[[str], Any]]]


def _bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("1", "true", "yes", "t", "y"):
        return True
    if low in ("0", "false", "no", "f", "n"):
        return False
    raise ValueError(f"expected a boolean, got {text!r}")


def _load(value: Any) -> Any:
    """A JSON column's value as read (SQLAlchemy has decoded it; a JSON string stays a string),
    cleaned so that no read fails on what is stored: lone surrogates (an older version could
    store them in JSON columns) become U+FFFD, a non-finite number (an older SQLite server
    stored NaN) becomes None. The data API, ``read_rows`` and ``MonitorData.from_database``
    therefore see the same values."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_load(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(str(k)): _load(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _q_specs() -> Select:
    return select(specs).order_by(specs.c.id)


def _r_specs(r: Any) -> dict:
    return {
        "id": r.id,
        "name": r.name,
        "version": r.version,
        "full_hash": r.full_hash,
        "hash": r.hash,
        "build_hash": r.build_hash,
        "dag_hash": r.dag_hash,
        "package_hash": r.package_hash,
        "spack_version": r.spack_version,
        "namespace": r.namespace,
        "compiler_name": r.compiler_name,
        "compiler_version": r.compiler_version,
        "compiler": r.compiler_id,
        "architecture": r.architecture_id,
        "platform": r.platform,
        "os": r.os,
        "target": r.target,
        "parameters": _load(r.parameters) or {},
        "external": bool(r.external),
        "external_path": r.external_path,
        "is_root": bool(r.is_root),
        "created_at": iso(r.created_at),
    }


_parent = specs.alias("parent")
_child = specs.alias("child")


def _q_deps() -> Select:
    return (
        select(
            dependencies,
            _parent.c.full_hash.label("spec_full_hash"),
            _child.c.full_hash.label("dependency_full_hash"),
            _parent.c.name.label("spec_name"),
            _child.c.name.label("dependency_name"),
        )
        .join(_parent, _parent.c.id == dependencies.c.spec_id)
        .join(_child, _child.c.id == dependencies.c.dependency_id)
        .order_by(dependencies.c.id)
    )


def _r_deps(r: Any) -> dict:
    return {
        "id": r.id,
        "spec": r.spec_id,
        "dependency": r.dependency_id,
        "spec_full_hash": r.spec_full_hash,
        "dependency_full_hash": r.dependency_full_hash,
        "spec_name": r.spec_name,
        "dependency_name": r.dependency_name,
        "deptypes": list(_load(r.deptypes) or []),
        "virtuals": list(_load(r.virtuals) or []),
    }


def _q_builds() -> Select:
    return (
        select(
            builds,
            specs.c.name.label("spec_name"),
            specs.c.version.label("spec_version"),
            specs.c.full_hash,
            build_environments.c.hostname,
            build_environments.c.host_os,
            build_environments.c.platform,
            build_environments.c.host_target,
            build_environments.c.kernel_version,
            users.c.username.label("owner"),
        )
        .join(specs, specs.c.id == builds.c.spec_id)
        .join(build_environments, build_environments.c.id == builds.c.build_environment_id)
        .join(users, users.c.id == builds.c.owner_id)
        .order_by(builds.c.id)
    )


def _r_builds(r: Any) -> dict:
    return {
        "id": r.id,
        "spec": r.spec_id,
        "spec_name": r.spec_name,
        "spec_version": r.spec_version,
        "full_hash": r.full_hash,
        "status": r.status,
        "build_environment": r.build_environment_id,
        "host_os": r.host_os,
        "platform": r.platform,
        "host_target": r.host_target,
        "hostname": r.hostname,
        "kernel_version": r.kernel_version,
        "spack_version": r.spack_version,
        "tags": list(_load(r.tags) or []),
        "owner": r.owner,
        "config_args": r.config_args,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }


def _q_envs() -> Select:
    return select(build_environments).order_by(build_environments.c.id)


def _r_envs(r: Any) -> dict:
    return {
        "id": r.id,
        "hostname": r.hostname,
        "host_os": r.host_os,
        "platform": r.platform,
        "host_target": r.host_target,
        "kernel_version": r.kernel_version,
    }


def _q_phases() -> Select:
    return select(build_phases).order_by(build_phases.c.id)


def _r_phases(r: Any) -> dict:
    row = {
        "id": r.id,
        "build": r.build_id,
        "name": r.name,
        "status": r.status,
    }
    if "output" in r._fields:
        row["output"] = r.output
    row["output_size"] = r.output_size
    row["created_at"] = iso(r.created_at)
    row["updated_at"] = iso(r.updated_at)
    return row


def _q_phases_full() -> Select:
    return select(
        build_phases, func.coalesce(func.length(build_phases.c.output), 0).label("output_size")
    ).order_by(build_phases.c.id)


def _q_events(kind: str) -> Callable[[], Select]:
    def query() -> Select:
        return (
            select(build_events, build_phases.c.name.label("phase_name"))
            .join(build_phases, build_phases.c.id == build_events.c.phase_id)
            .where(build_events.c.kind == kind)
            .order_by(build_events.c.id)
        )

    return query


def _r_events(r: Any) -> dict:
    return {
        "id": r.id,
        "build": r.build_id,
        "phase": r.phase_id,
        "phase_name": r.phase_name,
        "kind": r.kind,
        "text": r.text,
        "line_no": r.line_no,
        "source_file": r.source_file,
        "source_line_no": r.source_line_no,
        "pre_context": list(_load(r.pre_context) or []),
        "post_context": list(_load(r.post_context) or []),
        "repeat_count": r.repeat_count,
        "classes": list(_load(r.classes) or []),
    }


def _q_files() -> Select:
    return select(install_files).order_by(install_files.c.id)


def _r_files(r: Any) -> dict:
    return {
        "id": r.id,
        "build": r.build_id,
        "path": r.path,
        "prefix": r.prefix,
        "ftype": r.ftype,
        "mode": r.mode,
        "owner": r.owner,
        "group": r.group,
        "hash": r.hash,
        "size": r.size,
        "time": r.time,
        "extra": _load(r.extra) or {},
    }


def _q_attrs() -> Select:
    return select(attributes).order_by(attributes.c.id)


def _r_attrs(r: Any) -> dict:
    binary = r.binary_value
    return {
        "id": r.id,
        "build": r.build_id,
        "analyzer": r.analyzer,
        "name": r.name,
        "install_file": r.install_file,
        "value": r.value,
        "json_value": _load(r.json_value),
        "binary_value": binary.decode("latin-1") if binary is not None else None,
    }


def _q_envvars() -> Select:
    return select(environment_variables).order_by(environment_variables.c.id)


def _r_envvars(r: Any) -> dict:
    return {"id": r.id, "build": r.build_id, "name": r.name, "value": r.value}


def _q_compilers() -> Select:
    return select(compilers).order_by(compilers.c.id)


def _r_compilers(r: Any) -> dict:
    return {"id": r.id, "name": r.name, "version": r.version}


def _q_archs() -> Select:
    return (
        select(architectures, targets.c.name.label("target_name"))
        .join(targets, targets.c.id == architectures.c.target_id)
        .order_by(architectures.c.id)
    )


def _r_archs(r: Any) -> dict:
    return {
        "id": r.id,
        "platform": r.platform,
        "os": r.os,
        "target": r.target_id,
        "target_name": r.target_name,
    }


def _q_targets() -> Select:
    return select(targets).order_by(targets.c.id)


def _r_targets(r: Any) -> dict:
    return {
        "id": r.id,
        "name": r.name,
        "vendor": r.vendor,
        "generation": r.generation,
        "features": list(_load(r.features) or []),
        "parents": list(_load(r.parents) or []),
    }


def _q_features() -> Select:
    return select(features).order_by(features.c.id)


def _r_features(r: Any) -> dict:
    return {"id": r.id, "name": r.name}


def _int(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**63:  # no row id or number is outside a 64-bit integer
        raise ValueError("out of the 64-bit integer range")
    return value


def _str(text: str) -> str:
    text = str(text)
    if "\x00" in text:  # PostgreSQL text cannot hold NUL: no stored value can match
        raise ValueError("contains a NUL character")
    return text


ROUTES: dict[str, Route] = {
    "specs": Route(
        "specs",
        _q_specs,
        specs.c.id,
        _r_specs,
        {
            "name": (specs.c.name, _str),
            "full_hash": (specs.c.full_hash, _str),
            "spack_version": (specs.c.spack_version, _str),
            "is_root": (specs.c.is_root, _bool),
            "version": (specs.c.version, _str),
        },
    ),
    "dependencies": Route(
        "dependencies",
        _q_deps,
        dependencies.c.id,
        _r_deps,
        {
            "spec": (dependencies.c.spec_id, _int),
            "dependency": (dependencies.c.dependency_id, _int),
        },
    ),
    "builds": Route(
        "builds",
        _q_builds,
        builds.c.id,
        _r_builds,
        {
            "status": (builds.c.status, _str),
            "spec_name": (specs.c.name, _str),
            "owner": (users.c.username, _str),
            "full_hash": (specs.c.full_hash, _str),
            "spec": (builds.c.spec_id, _int),
            "tag": (builds.c.tags, _str),  # handled specially (membership)
        },
    ),
    "buildenvironments": Route("buildenvironments", _q_envs, build_environments.c.id, _r_envs, {}),
    "buildphases": Route(
        "buildphases",
        _q_phases_full,
        build_phases.c.id,
        _r_phases,
        {
            "build": (build_phases.c.build_id, _int),
            "status": (build_phases.c.status, _str),
            "name": (build_phases.c.name, _str),
        },
    ),
    "builderrors": Route(
        "builderrors",
        _q_events("error"),
        build_events.c.id,
        _r_events,
        {"build": (build_events.c.build_id, _int), "phase": (build_events.c.phase_id, _int)},
    ),
    "buildwarnings": Route(
        "buildwarnings",
        _q_events("warning"),
        build_events.c.id,
        _r_events,
        {"build": (build_events.c.build_id, _int), "phase": (build_events.c.phase_id, _int)},
    ),
    "installfiles": Route(
        "installfiles",
        _q_files,
        install_files.c.id,
        _r_files,
        {"build": (install_files.c.build_id, _int)},
    ),
    "attributes": Route(
        "attributes",
        _q_attrs,
        attributes.c.id,
        _r_attrs,
        {"build": (attributes.c.build_id, _int), "analyzer": (attributes.c.analyzer, _str)},
    ),
    "environmentvariable": Route(
        "environmentvariable",
        _q_envvars,
        environment_variables.c.id,
        _r_envvars,
        {"build": (environment_variables.c.build_id, _int)},
    ),
    "compilers": Route("compilers", _q_compilers, compilers.c.id, _r_compilers, {}),
    "architectures": Route("architectures", _q_archs, architectures.c.id, _r_archs, {}),
    "targets": Route("targets", _q_targets, targets.c.id, _r_targets, {}),
    "features": Route("features", _q_features, features.c.id, _r_features, {}),
}


def apply_filters(route: Route, query: Select, filters: dict[str, Any]) -> Select:
    """Add ``WHERE`` clauses for ``filters`` (raises ``ValueError`` naming a bad one)."""
    for key, raw in filters.items():
        if key not in route.filters:
            known = ", ".join(sorted(route.filters)) or "none"
            raise ValueError(f"unknown filter {key!r} for /api/{route.name}/ (filters: {known})")
        column, convert = route.filters[key]
        try:
            value = convert(raw) if isinstance(raw, str) else raw
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad value {raw!r} for filter {key!r}: {exc}") from None
        if route.name == "builds" and key == "tag":
            # tags are a JSON list; match the quoted tag inside its text form
            needle = json.dumps(str(value))
            needle = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(cast(builds.c.tags, Text).like(f"%{needle}%", escape="\\"))
        else:
            query = query.where(column == value)
    return query


def phase_query(route: Route, with_output: bool) -> Select:
    """The buildphases select with or without the output column."""
    if with_output:
        return route.query()
    cols = [c for c in build_phases.c if c.name != "output"]
    return select(
        *cols, func.coalesce(func.length(build_phases.c.output), 0).label("output_size")
    ).order_by(build_phases.c.id)


#: Byte budget of one data API page's results (a page ends early, with a ``next`` link, once the
#: next row would pass it; a single row larger than this is still sent, alone) and of one
#: keyset chunk held in memory while ``/all/`` or :func:`read_rows` streams a table.
MAX_PAGE_BYTES = 8 * 1024 * 1024


def _weight(row: Any) -> int:
    """A cheap upper estimate of a row's size in memory and in JSON (its text and bytes)."""
    return 16 * len(row) + sum(len(v) for v in row if isinstance(v, str | bytes))


def _fetch_size(route_name: str, with_output: bool) -> int:
    """Rows fetched from the database at a time: few when rows may carry a whole build log."""
    return 1 if route_name == "buildphases" and with_output else 200


def _route_query(route_name: str, filters: dict[str, Any] | None, with_output: bool) -> Select:
    route = ROUTES[route_name]
    base = phase_query(route, with_output) if route_name == "buildphases" else route.query()
    return apply_filters(route, base, dict(filters or {}))


def iter_rows(
    engine: Engine,
    route_name: str,
    filters: dict[str, Any] | None = None,
    *,
    chunk: int = 2000,
    with_output: bool = True,
    max_bytes: int = MAX_PAGE_BYTES,
) -> Iterator[dict]:
    """Every row of ``route_name`` matching ``filters``, by id, in keyset-paged chunks.

    Each chunk (at most ``chunk`` rows, and no more rows once their text passes ``max_bytes``)
    is read in its own short transaction, so neither a huge table nor a table of huge build logs
    sits in memory, and no long read transaction blocks writers.
    """
    route = ROUTES[route_name]
    for r in _keyset_rows(engine, route_name, filters, chunk, with_output, max_bytes):
        yield route.row(r)


def _keyset_rows(
    engine: Engine,
    route_name: str,
    filters: dict[str, Any] | None,
    chunk: int,
    with_output: bool,
    max_bytes: int,
) -> Iterator[Any]:
    route = ROUTES[route_name]
    base = _route_query(route_name, filters, with_output)
    fetch = _fetch_size(route_name, with_output)
    last = None
    while True:
        rows: list[Any] = []
        size = 0
        ended = True
        query = base if last is None else base.where(route.id_col > last)
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=fetch).execute(
                query.limit(chunk)
            )
            try:
                for r in result:
                    rows.append(r)
                    size += _weight(r)
                    if size >= max_bytes and len(rows) < chunk:
                        ended = False
                        break
            finally:
                result.close()
        yield from rows
        if not rows or (ended and len(rows) < chunk):
            return
        last = rows[-1].id
        rows = []


def read_page(
    engine: Engine,
    route_name: str,
    filters: dict[str, Any],
    *,
    limit: int,
    offset: int,
    with_output: bool,
    max_bytes: int = MAX_PAGE_BYTES,
    encode: Callable[[Any], bytes],
) -> tuple[int, list[bytes]]:
    """``(count, encoded rows)`` of one data API page: at most ``limit`` rows from ``offset``,
    ending before the row that would take the encoded results past ``max_bytes`` (the first row
    is always included). Rows are fetched a few at a time, so memory stays near ``max_bytes``.
    """
    route = ROUTES[route_name]
    query = _route_query(route_name, filters, with_output)
    out: list[bytes] = []
    total = 0
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(query.order_by(None).subquery())
        ).scalar()
        result = conn.execution_options(
            stream_results=True, yield_per=_fetch_size(route_name, with_output)
        ).execute(query.limit(limit).offset(offset))
        try:
            for r in result:
                data = encode(route.row(r))
                if out and total + len(data) + 1 > max_bytes:
                    break
                out.append(data)
                total += len(data) + 1
        finally:
            result.close()
    return count, out


def read_one(engine: Engine, route_name: str, row_id: int) -> dict | None:
    """The full row ``row_id`` of ``route_name`` (phases with their output), or None."""
    route = ROUTES[route_name]
    with engine.connect() as conn:
        r = conn.execute(route.query().where(route.id_col == row_id)).first()
    return None if r is None else route.row(r)


#: Characters of a phase output read from the database and sent at a time by
#: ``GET /api/buildphases/<id>/`` (so a 100 MiB log is never held whole).
OUTPUT_PIECE = 1 << 20


def stream_phase(
    engine: Engine, row_id: int, encode: Callable[[Any], bytes]
) -> Iterator[bytes] | None:
    """The JSON of phase ``row_id`` with its output, as pieces of bytes, or None (no such row).

    The output is read with ``substr`` in pieces of :data:`OUTPUT_PIECE` characters, each in
    its own short transaction, and encoded piece by piece: memory stays near one piece however
    long the log is. (A phase rewritten while it is being sent may mix its old and new text.)
    """
    route = ROUTES["buildphases"]
    with engine.connect() as conn:
        r = conn.execute(
            phase_query(route, False)
            .add_columns(build_phases.c.output.is_(None).label("output_is_null"))
            .where(build_phases.c.id == row_id)
        ).first()
    if r is None:
        return None
    row = route.row(r)
    head = {k: row[k] for k in ("id", "build", "name", "status")}
    tail = {k: v for k, v in row.items() if k not in head}
    piece = OUTPUT_PIECE

    def pieces() -> Iterator[bytes]:
        yield encode(head)[:-1] + b',"output":'
        if r.output_is_null:
            yield b"null"
        else:
            yield b'"'
            start = 1
            while start <= row["output_size"]:
                with engine.connect() as conn:
                    text = conn.execute(
                        select(func.substr(build_phases.c.output, start, piece)).where(
                            build_phases.c.id == row_id
                        )
                    ).scalar()
                if not text:
                    break
                yield encode(text)[1:-1]
                start += piece
            yield b'"'
        yield b"," + encode(tail)[1:]

    return pieces()


def read_rows(db_url_or_engine: str | Engine, route: str, **filters: Any) -> Iterator[dict]:
    """Yield the data API rows of ``route`` (e.g. ``"builds"``) straight from a database.

    ``db_url_or_engine`` is a database URL or an SQLAlchemy ``Engine``; ``filters`` are the
    route's query filters (``status="FAILED"``, ``build=3`` ...). The dicts are exactly those of
    ``GET /api/<route>/``. Pass ``output=False`` for ``buildphases`` to leave out log text.
    Raises :class:`ConfigError` for an unknown route/filter or unusable database and
    :class:`SchemaVersionError` for a database of another schema version.
    """
    if route not in ROUTES:
        raise ConfigError(f"unknown data API route {route!r} (routes: {', '.join(ROUTES)})")
    with_output = True
    if "output" in filters:
        out = filters.pop("output")
        with_output = _bool(out) if isinstance(out, str) else bool(out)
    try:
        apply_filters(ROUTES[route], ROUTES[route].query(), dict(filters))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if isinstance(db_url_or_engine, str):
        store = Store.open(db_url_or_engine, create=False)
        engine = store.read
    else:
        store = None
        engine = db_url_or_engine
    try:
        yield from iter_rows(engine, route, filters, with_output=with_output)
    finally:
        if store is not None:
            store.dispose()


# --------------------------------------------------------------------------------------------
# prepared hot-path statements


_PREPARED: dict[tuple[str, int], tuple[str, tuple | None, dict, dict]] = {}


def run_prepared(conn: Any, stmt: Any, params: dict[str, Any]) -> list[tuple]:
    """Execute a prebuilt Core statement on ``conn``'s DBAPI connection; return its rows.

    The statement is compiled once per dialect (bind processors kept, so values are stored exactly
    as SQLAlchemy would store them) and then run with a raw DBAPI cursor inside the connection's
    current transaction: this skips SQLAlchemy's per-execution bookkeeping on the server's hottest
    path. DBAPI errors are re-raised as the matching ``sqlalchemy.exc`` classes.
    """
    from sqlalchemy.exc import DBAPIError

    dialect = conn.dialect
    key = (dialect.name, id(stmt))
    prepared = _PREPARED.get(key)
    if prepared is None:
        compiled = stmt.compile(dialect=dialect)
        order = tuple(compiled.positiontup) if dialect.positional else None
        defaults = {k: v for k, v in compiled.params.items() if v is not None}
        prepared = (compiled.string, order, dict(compiled._bind_processors), defaults)
        _PREPARED[key] = prepared
    sql, order, procs, defaults = prepared
    if defaults:
        params = {**defaults, **params}
    if procs:
        params = {k: (procs[k](v) if k in procs else v) for k, v in params.items()}
    args = tuple(params[name] for name in order) if order is not None else params
    raw = conn.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        cursor.execute(sql, args)
        return cursor.fetchall() if cursor.description else []
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, args, exc, dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()
