"""The monitor's database: SQLAlchemy 2 tables, engine set-up and schema versions (public).

This package is the server's public face to the rest of the package: the tables, :class:`Store`,
:data:`SCHEMA_VERSION` and :func:`redact_url` are what ``MonitorData.from_database`` reads with.
Callers import these names from here; each lives in one module:

- :mod:`.schema`: the tables, :data:`SCHEMA_VERSION`, :data:`TRANSIENT_TABLES`;
- :mod:`.store`: :class:`Store` (engines, the schema check and creation), database URLs
  (:func:`default_db_url`, :func:`as_db_url`, :func:`redact_url`), :func:`set_lock_wait`,
  :func:`new_database_meta` (the meta rows of a database created now);
- :mod:`.migrations`: ``MIGRATIONS``, the steps from an older schema version;
- :mod:`.prepared`: :func:`run_prepared`, :func:`run_prepared_many`, :func:`cursor_statement`;
- :mod:`.times`: :func:`utcnow`, :func:`iso`, :func:`iso_seconds`.

The data API's row shapes and pages are in :mod:`..queries`, the writes in :mod:`..ingest`.
"""

from __future__ import annotations

from .prepared import cursor_statement, run_prepared, run_prepared_many
from .schema import (
    SCHEMA_VERSION,
    TRANSIENT_TABLES,
    architectures,
    attributes,
    auth_failures,
    build_attempts,
    build_environments,
    build_events,
    build_phases,
    builds,
    compilers,
    dependencies,
    environment_variables,
    features,
    install_files,
    meta,
    metadata,
    specs,
    targets,
    users,
)
from .store import (
    Store,
    as_db_url,
    default_db_url,
    new_database_meta,
    redact_url,
    set_lock_wait,
)
from .times import iso, iso_seconds, utcnow

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "as_db_url",
    "default_db_url",
    "new_database_meta",
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
