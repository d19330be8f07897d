"""The monitor's tables (SQLAlchemy 2 Core) and :data:`SCHEMA_VERSION`, the version of their
layout.

A new table or column goes here, with :data:`SCHEMA_VERSION` raised and the step from the version
before added to :data:`~.migrations.MIGRATIONS`. Tables of server state that are not build data
(created when missing, without a version change) are listed in :data:`TRANSIENT_TABLES`.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
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
)

#: Version of the table layout below; bump it whenever a table or column changes, and add the
#: step from the version before to :data:`MIGRATIONS` (a database of an older version is
#: migrated in place, in one transaction, when a server opens it).
#: 1: the first layout. 2: every attempt of a build kept (``build_attempts``; each phase belongs
#: to an attempt; ``builds.reopened_at``). 3: ``specs.build_spec`` (the DAG hash of the spec
#: a spliced spec was built as, Spack 0.23+).
SCHEMA_VERSION = 3

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
    # the DAG hash of the spec a spliced spec was built as (its document's ``build_spec``)
    Column("build_spec", String(64)),
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
