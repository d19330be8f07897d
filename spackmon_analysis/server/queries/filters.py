"""Which rows a data API read answers: query values, the build filters, ``fields=``.

The value converters of a route's own filters (``_int``, ``_str``, ``_bool``; dates by
``_time``); :class:`BuildFilter`, the one rule of the build filters (:data:`BUILD_FILTERS`:
which builds, and which phases, events, specs and edges belong to them), used by the data API,
``read_rows`` and ``MonitorData.from_database``; :func:`apply_filters` (a request's filters as
``WHERE`` clauses); :func:`check_fields` (the data API's ``fields=``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, cast, false, or_, select
from sqlalchemy.sql import ColumnElement, Select

from ...records import DATA_API_FIELDS
from ..tables import (
    attributes,
    build_attempts,
    build_events,
    build_phases,
    builds,
    dependencies,
    environment_variables,
    install_files,
    specs,
)

if TYPE_CHECKING:
    from .routes import Route


def _bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("1", "true", "yes", "t", "y"):
        return True
    if low in ("0", "false", "no", "f", "n"):
        return False
    raise ValueError(f"expected a boolean, got {text!r}")


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
