"""The select and the row shaper of each data API route: what a ``/api/<route>/`` row holds.

A ``_q_*`` function is a route's select (joins included), a ``_r_*`` function turns one result row
into the dict the data API answers (the fields :data:`~spackmon_analysis.records.DATA_API_FIELDS`
lists, in that order). :mod:`.routes` puts them together into ``ROUTES``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, and_, func, select, true
from sqlalchemy.sql import Select

from ..tables import (
    architectures,
    build_attempts,
    build_environments,
    build_events,
    build_phases,
    builds,
    dependencies,
    iso,
    specs,
    targets,
    users,
)
from ..validate import clean_text


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


def _q_table(table: Table) -> Callable[[], Select]:
    """The select of a route that reads one table as stored: all its columns, by id."""

    def query() -> Select:
        return select(table).order_by(table.c.id)

    return query


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
        "build_spec": r.build_spec,
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


#: The latest attempt of a build (the build row shows it; the phases and events routes of the
#: builds show its phases and events).
_LATEST = build_attempts
_LATEST_OF_BUILD = and_(build_attempts.c.build_id == builds.c.id, build_attempts.c.latest == true())
_PHASE_OF_LATEST = and_(
    build_attempts.c.id == build_phases.c.attempt_id, build_attempts.c.latest == true()
)


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
            build_attempts.c.id.label("attempt_id"),
            build_attempts.c.number.label("attempt_count"),
        )
        .join(specs, specs.c.id == builds.c.spec_id)
        .join(build_environments, build_environments.c.id == builds.c.build_environment_id)
        .join(users, users.c.id == builds.c.owner_id)
        .outerjoin(_LATEST, _LATEST_OF_BUILD)
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
        "attempt": r.attempt_id,
        "attempts": r.attempt_count or 0,
    }


def _r_attempts(r: Any) -> dict:
    return {
        "id": r.id,
        "build": r.build_id,
        "number": r.number,
        "status": r.status,
        "latest": bool(r.latest),
        "started_at": iso(r.started_at),
        "run_time": iso(r.run_time),
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }


def _r_envs(r: Any) -> dict:
    return {
        "id": r.id,
        "hostname": r.hostname,
        "host_os": r.host_os,
        "platform": r.platform,
        "host_target": r.host_target,
        "kernel_version": r.kernel_version,
    }


def _r_phases(r: Any) -> dict:
    row = {
        "id": r.id,
        "build": r.build_id,
        "attempt": r.attempt_id,
        "name": r.name,
        "status": r.status,
    }
    if "output" in r._fields:
        row["output"] = r.output
    row["output_size"] = r.output_size
    row["created_at"] = iso(r.created_at)
    row["updated_at"] = iso(r.updated_at)
    return row


def _q_phases(latest: bool, with_output: bool = True) -> Callable[[], Select]:
    """The phases of every build's latest attempt (``buildphases``) or of every attempt
    (``attemptphases``), with or without their output."""

    def query() -> Select:
        cols = [c for c in build_phases.c if with_output or c.name != "output"]
        q = select(*cols, func.coalesce(func.length(build_phases.c.output), 0).label("output_size"))
        if latest:
            q = q.join(build_attempts, _PHASE_OF_LATEST)
        return q.order_by(build_phases.c.id)

    return query


def _q_events(kind: str, latest: bool = True) -> Callable[[], Select]:
    def query() -> Select:
        q = (
            select(
                build_events,
                build_phases.c.name.label("phase_name"),
                build_phases.c.attempt_id,
            )
            .join(build_phases, build_phases.c.id == build_events.c.phase_id)
            .where(build_events.c.kind == kind)
        )
        if latest:
            q = q.join(build_attempts, _PHASE_OF_LATEST)
        return q.order_by(build_events.c.id)

    return query


def _r_events(r: Any) -> dict:
    return {
        "id": r.id,
        "build": r.build_id,
        "phase": r.phase_id,
        "phase_name": r.phase_name,
        "attempt": r.attempt_id,
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


def _r_envvars(r: Any) -> dict:
    return {"id": r.id, "build": r.build_id, "name": r.name, "value": r.value}


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


def _r_targets(r: Any) -> dict:
    return {
        "id": r.id,
        "name": r.name,
        "vendor": r.vendor,
        "generation": r.generation,
        "features": list(_load(r.features) or []),
        "parents": list(_load(r.parents) or []),
    }


def _r_features(r: Any) -> dict:
    return {"id": r.id, "name": r.name}
