"""The data API's reads: one select, one row shaper and the filters per ``/api/<route>/``.

:data:`ROUTES` defines each route; :func:`read_page` (one bounded page), :func:`iter_rows`
(keyset chunks, for ``/all/``), :func:`read_one` and :func:`stream_phase` (one row, a phase's
output in pieces) serve the HTTP routes of :mod:`.routes.data`, and :func:`read_rows` yields
exactly the same dicts straight from a database, without HTTP.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import Engine, Table, Text, and_, cast, false, func, or_, select, true
from sqlalchemy.sql import ColumnElement, Select

from ..errors import ConfigError
from ..records import DATA_API_FIELDS
from .tables import (
    Store,
    architectures,
    attributes,
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
    iso,
    specs,
    targets,
    users,
)
from .validate import clean_text

__all__ = [
    "BUILD_FILTERS",
    "BuildFilter",
    "ROUTES",
    "PHASE_ROUTES",
    "Route",
    "MAX_PAGE_BYTES",
    "OUTPUT_PIECE",
    "ROUTE_FIELDS",
    "apply_filters",
    "build_filter_names",
    "check_fields",
    "iter_rows",
    "read_one",
    "read_page",
    "read_rows",
    "stream_phase",
]


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


def _time(value: Any) -> datetime:
    """A ``since``/``until`` value as the naive UTC datetime the tables store: ISO 8601 text
    (``2026-11-01``, ``2026-11-01T06:00:00Z``, ``...+02:00``), a ``datetime`` (naive taken as
    UTC, aware converted) or a ``date`` (its midnight, UTC)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(
                f"expected an ISO 8601 date or time (2026-11-01, 2026-11-01T06:00:00Z), "
                f"got {text!r:.80}"
            ) from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise ValueError(f"expected a date or time, got {type(value).__name__}")
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


#: The build filters: the ``builds`` route takes them by these names, every route whose rows
#: belong to builds (phases, errors, warnings, install files, attributes, environment
#: variables; specs and dependencies, see :class:`BuildFilter`) as ``build_<name>``.
BUILD_FILTERS = ("since", "until", "spec_name", "tag", "status")


def _tag_clause(tag: str) -> ColumnElement:
    """Builds whose JSON list of tags holds ``tag`` whole (its quoted text inside the list's
    text form, ``LIKE`` wildcards escaped)."""
    needle = json.dumps(str(tag))
    needle = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(builds.c.tags, Text).like(f"%{needle}%", escape="\\")


@dataclass(frozen=True)
class BuildFilter:
    """Which builds a read covers: ``since <= created_at < until`` (naive UTC), spec name in
    ``spec_names``, at least one of ``tags`` among the build's tags, status in ``statuses``.
    ``None`` sets no condition; an empty tuple matches no build. The one rule behind the data
    API's build filters (:data:`BUILD_FILTERS`), :func:`read_rows` and
    ``MonitorData.from_database``'s ``since=``/``until=``/``packages=``/``tags=``/``status=``.

    What belongs to the matching builds: their phases, events, install files, attributes and
    environment variables; their specs *and every spec those depend on* (transitively), with
    the dependency edges among them, so a filtered read still has each build's whole DAG.
    """

    since: datetime | None = None
    until: datetime | None = None
    spec_names: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None

    @classmethod
    def parse(
        cls,
        *,
        since: Any = None,
        until: Any = None,
        spec_name: Any = None,
        tag: Any = None,
        status: Any = None,
        prefix: str = "",
    ) -> BuildFilter:
        """The filter from query values (text, or Python values; a name/tag/status may be one
        value or several). Raises ``ValueError`` naming the filter (``prefix`` + its name)."""

        def texts(name: str, value: Any) -> tuple[str, ...] | None:
            if value is None:
                return None
            values = [value] if isinstance(value, str) else list(value)
            out = []
            for v in values:
                try:
                    out.append(_str(v if isinstance(v, str) else str(v)))
                except ValueError as exc:
                    raise ValueError(
                        f"bad value {v!r:.80} for filter {prefix}{name!r}: {exc}"
                    ) from None
            return tuple(out)

        def when(name: str, value: Any) -> datetime | None:
            if isinstance(value, list | tuple):  # repeated in a query string: the last counts
                value = value[-1] if value else None
            if value is None:
                return None
            try:
                return _time(value)
            except ValueError as exc:
                raise ValueError(
                    f"bad value {value!r:.80} for filter {prefix}{name!r}: {exc}"
                ) from None

        return cls(
            since=when("since", since),
            until=when("until", until),
            spec_names=texts("spec_name", spec_name),
            tags=texts("tag", tag),
            statuses=texts("status", status),
        )

    @property
    def everything(self) -> bool:
        """Whether the filter sets no condition (every build)."""
        return all(
            v is None for v in (self.since, self.until, self.spec_names, self.tags, self.statuses)
        )

    def conditions(self) -> list[ColumnElement]:
        """``WHERE`` clauses on the ``builds`` table alone (spec names through a subquery)."""
        out: list[ColumnElement] = []
        if self.since is not None:
            out.append(builds.c.created_at >= self.since)
        if self.until is not None:
            out.append(builds.c.created_at < self.until)
        if self.statuses is not None:
            out.append(builds.c.status.in_(self.statuses))
        if self.spec_names is not None:
            names = select(specs.c.id).where(specs.c.name.in_(self.spec_names))
            out.append(builds.c.spec_id.in_(names))
        if self.tags is not None:
            out.append(or_(*[_tag_clause(t) for t in self.tags]) if self.tags else false())
        return out

    def build_ids(self) -> Select:
        """The ids of the matching builds (a subquery)."""
        return select(builds.c.id).where(*self.conditions())

    def spec_ids(self) -> Select:
        """The ids of the matching builds' specs and of every spec they depend on."""
        wanted = select(builds.c.spec_id.label("id")).where(*self.conditions())
        closure = wanted.cte("wanted_specs", recursive=True)
        closure = closure.union(
            select(dependencies.c.dependency_id).join(
                closure, dependencies.c.spec_id == closure.c.id
            )
        )
        return select(closure.c.id)

    def restrict(self, route: str, query: Select) -> Select:
        """``query`` of data API route ``route`` limited to what belongs to matching builds."""
        if self.everything:
            return query
        if route == "builds":
            return query.where(*self.conditions())
        if route == "specs":
            return query.where(specs.c.id.in_(self.spec_ids()))
        if route == "dependencies":
            return query.where(dependencies.c.spec_id.in_(self.spec_ids()))
        column = _BUILD_COLUMNS.get(route)
        if column is None:
            raise ValueError(f"/api/{route}/ has no build filters")
        return query.where(column.in_(self.build_ids()))


#: The build id column of each route whose rows belong to one build.
_BUILD_COLUMNS: dict[str, Any] = {
    "buildphases": build_phases.c.build_id,
    "builderrors": build_events.c.build_id,
    "buildwarnings": build_events.c.build_id,
    "installfiles": install_files.c.build_id,
    "attributes": attributes.c.build_id,
    "environmentvariable": environment_variables.c.build_id,
    "attempts": build_attempts.c.build_id,
    "attemptphases": build_phases.c.build_id,
    "attempterrors": build_events.c.build_id,
    "attemptwarnings": build_events.c.build_id,
}


def build_filter_names(route: str) -> tuple[str, ...]:
    """The build filters route ``route`` takes (``since`` ... on ``builds``, ``build_since``
    ... on the routes whose rows belong to builds, none elsewhere)."""
    if route == "builds":
        return BUILD_FILTERS
    if route in _BUILD_COLUMNS or route in ("specs", "dependencies"):
        return tuple(f"build_{n}" for n in BUILD_FILTERS)
    return ()


def _phases_route(name: str, latest: bool) -> Route:
    """A phases route: each build's latest attempt (``latest``) or every attempt, which can
    also be filtered by ``attempt``."""
    filters: dict[str, tuple[Any, Callable[[str], Any]]] = {
        "build": (build_phases.c.build_id, _int)
    }
    if not latest:
        filters["attempt"] = (build_phases.c.attempt_id, _int)
    filters["status"] = (build_phases.c.status, _str)
    filters["name"] = (build_phases.c.name, _str)
    return Route(name, _q_phases(latest=latest), build_phases.c.id, _r_phases, filters)


def _events_route(name: str, kind: str, latest: bool) -> Route:
    """An errors or warnings route (``kind``): each build's latest attempt (``latest``) or
    every attempt, which can also be filtered by ``attempt``."""
    filters: dict[str, tuple[Any, Callable[[str], Any]]] = {
        "build": (build_events.c.build_id, _int),
        "phase": (build_events.c.phase_id, _int),
    }
    if not latest:
        filters["attempt"] = (build_phases.c.attempt_id, _int)
    return Route(name, _q_events(kind, latest=latest), build_events.c.id, _r_events, filters)


ROUTES: dict[str, Route] = {
    "specs": Route(
        "specs",
        _q_table(specs),
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
            "owner": (users.c.username, _str),
            "full_hash": (specs.c.full_hash, _str),
            "spec": (builds.c.spec_id, _int),
        },
    ),
    "buildenvironments": Route(
        "buildenvironments", _q_table(build_environments), build_environments.c.id, _r_envs, {}
    ),
    "buildphases": _phases_route("buildphases", latest=True),
    "builderrors": _events_route("builderrors", "error", latest=True),
    "buildwarnings": _events_route("buildwarnings", "warning", latest=True),
    # every attempt of every build (the routes above show each build's latest attempt)
    "attempts": Route(
        "attempts",
        _q_table(build_attempts),
        build_attempts.c.id,
        _r_attempts,
        {
            "build": (build_attempts.c.build_id, _int),
            "status": (build_attempts.c.status, _str),
            "latest": (build_attempts.c.latest, _bool),
            "number": (build_attempts.c.number, _int),
        },
    ),
    "attemptphases": _phases_route("attemptphases", latest=False),
    "attempterrors": _events_route("attempterrors", "error", latest=False),
    "attemptwarnings": _events_route("attemptwarnings", "warning", latest=False),
    "installfiles": Route(
        "installfiles",
        _q_table(install_files),
        install_files.c.id,
        _r_files,
        {"build": (install_files.c.build_id, _int)},
    ),
    "attributes": Route(
        "attributes",
        _q_table(attributes),
        attributes.c.id,
        _r_attrs,
        {"build": (attributes.c.build_id, _int), "analyzer": (attributes.c.analyzer, _str)},
    ),
    "environmentvariable": Route(
        "environmentvariable",
        _q_table(environment_variables),
        environment_variables.c.id,
        _r_envvars,
        {"build": (environment_variables.c.build_id, _int)},
    ),
    "compilers": Route("compilers", _q_table(compilers), compilers.c.id, _r_compilers, {}),
    "architectures": Route("architectures", _q_archs, architectures.c.id, _r_archs, {}),
    "targets": Route("targets", _q_table(targets), targets.c.id, _r_targets, {}),
    "features": Route("features", _q_table(features), features.c.id, _r_features, {}),
}


#: The fields of each route's rows, in the order its row shaper gives them (``fields=`` may
#: name these): the data API's contract, defined once in :mod:`spackmon_analysis.records`.
ROUTE_FIELDS = DATA_API_FIELDS


def check_fields(route_name: str, fields: Any) -> tuple[str, ...] | None:
    """The ``fields`` a read of ``route_name`` answers with (the data API's ``fields=``: a
    comma-separated text, or several), in the route's order; None: every field. Raises
    ``ValueError`` naming an unknown field and listing the route's."""
    if fields is None:
        return None
    given = [fields] if isinstance(fields, str) else list(fields)
    names = [n.strip() for text in given for n in str(text).split(",") if n.strip()]
    known = ROUTE_FIELDS[route_name]
    unknown = [n for n in dict.fromkeys(names) if n not in known]
    if unknown:
        raise ValueError(
            f"unknown field{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))} for /api/{route_name}/ "
            f"(fields: {', '.join(known)})"
        )
    if not names:
        raise ValueError(f"fields= names no field for /api/{route_name}/")
    wanted = set(names)
    return tuple(n for n in known if n in wanted)


def _projector(route: Route, fields: tuple[str, ...] | None) -> Callable[[Any], dict]:
    """The route's row shaper, keeping only ``fields`` (None: all)."""
    if fields is None:
        return route.row

    def row(r: Any) -> dict:
        whole = route.row(r)
        return {name: whole[name] for name in fields if name in whole}

    return row


def apply_filters(route: Route, query: Select, filters: dict[str, Any]) -> Select:
    """Add ``WHERE`` clauses for ``filters`` (raises ``ValueError`` naming a bad one).

    A value may be a list (a query parameter given several times): the row matches any of
    them. The build filters (:func:`build_filter_names`) go through :class:`BuildFilter`;
    ``since``/``until`` take one value (given several times, the last counts).
    """
    scoped = build_filter_names(route.name)
    prefix = "build_" if route.name != "builds" else ""
    build_values: dict[str, Any] = {}
    for key, raw in filters.items():
        if key in scoped:
            build_values[key[len(prefix) :]] = raw
            continue
        if key not in route.filters:
            known = ", ".join(sorted({*route.filters, *scoped})) or "none"
            raise ValueError(f"unknown filter {key!r} for /api/{route.name}/ (filters: {known})")
        column, convert = route.filters[key]
        values = list(raw) if isinstance(raw, list | tuple) else [raw]
        converted = []
        for value in values:
            try:
                converted.append(convert(value) if isinstance(value, str) else value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"bad value {value!r} for filter {key!r}: {exc}") from None
        if len(converted) == 1:
            query = query.where(column == converted[0])
        else:
            query = query.where(column.in_(converted))
    if build_values:
        query = BuildFilter.parse(**build_values, prefix=prefix).restrict(route.name, query)
    return query


#: The routes whose rows are phases (their output left out of list pages unless asked).
PHASE_ROUTES = ("buildphases", "attemptphases")


def phase_query(route: Route, with_output: bool) -> Select:
    """The select of a phase route (:data:`PHASE_ROUTES`) with or without the output column."""
    return _q_phases(latest=route.name == "buildphases", with_output=with_output)()


#: Byte budget of one data API page's results (a page ends early, with a ``next`` link, once the
#: next row would pass it; a single row larger than this is still sent, alone) and of one
#: keyset chunk held in memory while ``/all/`` or :func:`read_rows` streams a table.
MAX_PAGE_BYTES = 8 * 1024 * 1024


def _weight(row: Any) -> int:
    """A cheap upper estimate of a row's size in memory and in JSON (its text and bytes)."""
    return 16 * len(row) + sum(len(v) for v in row if isinstance(v, str | bytes))


def _fetch_size(route_name: str, with_output: bool) -> int:
    """Rows fetched from the database at a time: few when rows may carry a whole build log."""
    return 1 if route_name in PHASE_ROUTES and with_output else 200


def _route_query(route_name: str, filters: dict[str, Any] | None, with_output: bool) -> Select:
    route = ROUTES[route_name]
    base = phase_query(route, with_output) if route_name in PHASE_ROUTES else route.query()
    return apply_filters(route, base, dict(filters or {}))


def iter_rows(
    engine: Engine,
    route_name: str,
    filters: dict[str, Any] | None = None,
    *,
    chunk: int = 2000,
    with_output: bool = True,
    max_bytes: int = MAX_PAGE_BYTES,
    fields: tuple[str, ...] | None = None,
) -> Iterator[dict]:
    """Every row of ``route_name`` matching ``filters``, by id, in keyset-paged chunks (only
    ``fields``, checked by :func:`check_fields`; None: every field).

    Each chunk (at most ``chunk`` rows, and no more rows once their text passes ``max_bytes``)
    is read in its own short transaction, so neither a huge table nor a table of huge build logs
    sits in memory, and no long read transaction blocks writers.
    """
    shape = _projector(ROUTES[route_name], fields)
    for r in _keyset_rows(engine, route_name, filters, chunk, with_output, max_bytes):
        yield shape(r)


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
    fields: tuple[str, ...] | None = None,
) -> tuple[int, list[bytes]]:
    """``(count, encoded rows)`` of one data API page: at most ``limit`` rows from ``offset``,
    ending before the row that would take the encoded results past ``max_bytes`` (the first row
    is always included). Rows are fetched a few at a time, so memory stays near ``max_bytes``.
    ``fields``: only these fields of each row (:func:`check_fields`; None: every field).
    """
    shape = _projector(ROUTES[route_name], fields)
    query = _route_query(route_name, filters, with_output)
    out: list[bytes] = []
    total = 0
    with engine.connect() as conn:
        count: int = conn.execute(
            select(func.count()).select_from(query.order_by(None).subquery())
        ).scalar_one()
        result = conn.execution_options(
            stream_results=True, yield_per=_fetch_size(route_name, with_output)
        ).execute(query.limit(limit).offset(offset))
        try:
            for r in result:
                data = encode(shape(r))
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
    engine: Engine, row_id: int, encode: Callable[[Any], bytes], route_name: str = "buildphases"
) -> Iterator[bytes] | None:
    """The JSON of phase ``row_id`` with its output, as pieces of bytes, or None (no such row).

    The output is read with ``substr`` in pieces of :data:`OUTPUT_PIECE` characters, each in
    its own short transaction, and encoded piece by piece: memory stays near one piece however
    long the log is. (A phase rewritten while it is being sent may mix its old and new text.)
    """
    route = ROUTES[route_name]
    with engine.connect() as conn:
        r = conn.execute(
            phase_query(route, False)
            .add_columns(build_phases.c.output.is_(None).label("output_is_null"))
            .where(build_phases.c.id == row_id)
        ).first()
    if r is None:
        return None
    row = route.row(r)
    head = {k: row[k] for k in ("id", "build", "attempt", "name", "status")}
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
    ``GET /api/<route>/``. Pass ``output=False`` for ``buildphases`` to leave out log text,
    ``fields=`` (a list, or comma-separated text) for only those fields of each row, as the
    data API's ``fields=`` (``output`` read only when named).
    Raises :class:`ConfigError` for an unknown route/filter/field or unusable database and
    :class:`SchemaVersionError` for a database of another schema version.
    """
    if route not in ROUTES:
        raise ConfigError(f"unknown data API route {route!r} (routes: {', '.join(ROUTES)})")
    with_output = True
    if "output" in filters:
        out = filters.pop("output")
        with_output = _bool(out) if isinstance(out, str) else bool(out)
    try:
        fields = check_fields(route, filters.pop("fields", None))
        apply_filters(ROUTES[route], ROUTES[route].query(), dict(filters))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if fields is not None and route in PHASE_ROUTES:
        with_output = with_output and "output" in fields
    if isinstance(db_url_or_engine, str):
        store = Store.open(db_url_or_engine, create=False)
        engine = store.read
    else:
        store = None
        engine = db_url_or_engine
    try:
        yield from iter_rows(engine, route, filters, with_output=with_output, fields=fields)
    finally:
        if store is not None:
            store.dispose()
