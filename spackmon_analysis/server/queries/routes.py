"""``ROUTES``: each data API route (``/api/<name>/``) as its select, id column, row shaper and
filters.

A new data API table or filter is an entry here: its select and row shaper in :mod:`.rows`, its
filters' columns with the converters of :mod:`.filters`. The HTTP routes
(:mod:`spackmon_analysis.server.routes.data`) and ``read_rows`` serve every entry as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.sql import Select

from ..tables import (
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
    specs,
    targets,
    users,
)
from .filters import _bool, _int, _str
from .rows import (
    _q_archs,
    _q_builds,
    _q_deps,
    _q_events,
    _q_phases,
    _q_table,
    _r_archs,
    _r_attempts,
    _r_attrs,
    _r_builds,
    _r_compilers,
    _r_deps,
    _r_envs,
    _r_envvars,
    _r_events,
    _r_features,
    _r_files,
    _r_phases,
    _r_specs,
    _r_targets,
)


@dataclass(frozen=True)
class Route:
    """One ``/api/<name>/`` route: its select, id column, row shaper and filters."""

    name: str
    query: Callable[[], Select]
    id_col: Any
    row: Callable[[Any], dict]
    filters: dict[str, tuple[Any, Callable[[str], Any]]]


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


#: The routes whose rows are phases (their output left out of list pages unless asked).
PHASE_ROUTES = ("buildphases", "attemptphases")


def phase_query(route: Route, with_output: bool) -> Select:
    """The select of a phase route (:data:`PHASE_ROUTES`) with or without the output column."""
    return _q_phases(latest=route.name == "buildphases", with_output=with_output)()
