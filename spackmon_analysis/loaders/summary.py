"""Build outcomes counted by a monitor server's database: one ``GROUP BY`` over its tables
(SQLAlchemy Core, SQLite or PostgreSQL), for :func:`spackmon_analysis.dashboard.
database_summary`. Nothing per build leaves the database: only one row per group.

A build's outcome is Spack's rule (:func:`spackmon_analysis.spackfacts.build_outcome`) written
in SQL: ``failed`` when one of its phases is ``ERROR``, else ``succeeded`` for status
``SUCCESS``, ``never built`` for ``FAILED``/``CANCELLED``, else ``unknown``; its compiler is
``name@version`` of its spec (the name alone without a version, missing without a name), as
the frames' ``compiler`` column (``loaders/server.add_server_spec``). The period of a build is
the UTC day, or the week from Monday, of its ``created_at``: the time ``from_database`` and
``from_client`` give a server build (``run_time``, which the history's attempts are dated by).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import BUILD_STATUSES
from ..server.tables import (
    Store,
    build_environments,
    build_phases,
    builds,
    specs,
    users,
)

__all__ = ["GROUP_COLUMNS", "COUNT_COLUMNS", "FREQS", "BuildFilters", "outcome_counts"]

#: The columns a summary may group by: the frames' ``builds`` columns a server build has.
GROUP_COLUMNS = (
    "spec_name",
    "spec_version",
    "compiler",
    "status",
    "outcome",
    "host_os",
    "platform",
    "host_target",
    "hostname",
    "kernel_version",
    "spack_version",
    "owner",
    "tags",
)
#: The counts of each group, in this order.
COUNT_COLUMNS = ("builds", "failed", "blocked", "succeeded", "unknown")
#: ``freq`` values: a day or a week (from Monday, UTC).
FREQS = {"D": "day", "day": "day", "W": "week", "week": "week"}


@dataclass(frozen=True)
class BuildFilters:
    """Which builds a summary counts: ``since <= created_at < until`` (naive UTC), spec name in
    ``packages``, at least one of ``tags``, status in ``status``; ``None`` sets no condition,
    an empty tuple matches no build. The same meanings as ``MonitorData.from_database``'s
    filters."""

    since: datetime | None = None
    until: datetime | None = None
    packages: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    status: tuple[str, ...] | None = None

    @classmethod
    def check(
        cls,
        *,
        since: Any = None,
        until: Any = None,
        packages: Any = None,
        tags: Any = None,
        status: Any = None,
    ) -> BuildFilters:
        """The filters from what a user passes: ``since``/``until`` ISO 8601 text,
        ``datetime``/``pandas.Timestamp`` (naive taken as UTC) or ``date`` (its midnight UTC);
        ``packages``/``tags``/``status`` one text or several. Raises
        :class:`~spackmon_analysis.errors.ConfigError` naming the argument."""
        filters = cls(
            since=_utc_time("since", since),
            until=_utc_time("until", until),
            packages=_texts("packages", packages),
            tags=_texts("tags", tags),
            status=_texts("status", status),
        )
        bad = [s for s in filters.status or () if s not in BUILD_STATUSES]
        if bad:
            raise ConfigError(
                f"status=: {', '.join(map(repr, bad))} is not a build status "
                f"({', '.join(BUILD_STATUSES)})"
            )
        if filters.since and filters.until and filters.since > filters.until:
            raise ConfigError(f"since= ({filters.since}) is after until= ({filters.until})")
        return filters

    def conditions(self) -> list[Any]:
        """``WHERE`` clauses on ``builds`` (and ``specs``, joined)."""
        from sqlalchemy import Text, cast, false, or_

        out: list[Any] = []
        if self.since is not None:
            out.append(builds.c.created_at >= self.since)
        if self.until is not None:
            out.append(builds.c.created_at < self.until)
        if self.packages is not None:
            out.append(specs.c.name.in_(self.packages) if self.packages else false())
        if self.status is not None:
            out.append(builds.c.status.in_(self.status) if self.status else false())
        if self.tags is not None:
            # a tag is a whole JSON string inside the list's text (LIKE wildcards escaped)
            likes = []
            for tag in self.tags:
                needle = '"' + tag.replace("\\", "\\\\").replace('"', '\\"') + '"'
                needle = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                likes.append(cast(builds.c.tags, Text).like(f"%{needle}%", escape="\\"))
            out.append(or_(*likes) if likes else false())
        return out


def _utc_time(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ConfigError(
                f"{name}=: {text!r:.80} is not an ISO 8601 date or time "
                "(2026-11-01, 2026-11-01T06:00:00Z)"
            ) from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif not isinstance(value, datetime):
        raise ConfigError(f"{name}=: expected a date or time, got {type(value).__name__}")
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime()
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _texts(name: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    try:
        items = list(values)
    except TypeError:
        raise ConfigError(
            f"{name}=: expected a text or a list of texts, got {value!r:.80}"
        ) from None
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{name}=: {bad[0]!r:.80} is not a text")
    return tuple(dict.fromkeys(items))


@contextmanager
def _engine(url: Any) -> Iterator[Any]:
    """An engine on ``url``: a SQLite or PostgreSQL URL, a path to a SQLite file (which must
    exist), or an SQLAlchemy ``Engine`` (used as it is, not disposed)."""
    if not isinstance(url, str | os.PathLike):
        yield url
        return
    text = os.fspath(url)
    if "://" not in text:
        if not Path(text).expanduser().is_file():
            raise ConfigError(f"{text}: no such database file")
        text = f"sqlite:///{Path(text).expanduser()}"
    store = Store.open(text, create=False)
    try:
        yield store.read
    finally:
        store.dispose()


def outcome_counts(
    url: Any,
    by: Sequence[str],
    *,
    freq: str | None = None,
    filters: BuildFilters | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """``(column names, rows)``: per group of ``by`` (names of :data:`GROUP_COLUMNS`; with
    ``freq``, per ``period`` first, the day or week start as ``YYYY-MM-DD`` text) the counts
    of :data:`COUNT_COLUMNS`, computed by the database at ``url``. ``tags`` gives one row per
    tag of a build (``None`` for a build without tags); other missing values are ``None``."""
    from sqlalchemy import case, func, select, true

    unknown = [c for c in by if c not in GROUP_COLUMNS]
    if unknown:
        raise ConfigError(
            f"by=: {', '.join(map(repr, unknown))} is not a column the database summary "
            f"groups by ({', '.join(GROUP_COLUMNS)})"
        )
    if freq is not None and freq not in FREQS:
        raise ConfigError(f"freq={freq!r}; choose from: {', '.join(FREQS)} (or None)")
    filters = filters or BuildFilters()
    with _engine(url) as engine:
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ConfigError(f"the database summary reads SQLite or PostgreSQL, not {dialect}")
        errored = (
            select(build_phases.c.build_id)
            .where(build_phases.c.status == "ERROR")
            .group_by(build_phases.c.build_id)
            .subquery("errored")
        )
        failed = errored.c.build_id.is_not(None)
        never_built = builds.c.status.in_(("FAILED", "CANCELLED"))
        outcome = case(
            (failed, "failed"),
            (builds.c.status == "SUCCESS", "succeeded"),
            (never_built, "never built"),
            else_="unknown",
        )
        name, version = specs.c.compiler_name, specs.c.compiler_version
        compiler = case(
            (func.coalesce(name, "") == "", None),
            (func.coalesce(version, "") == "", name),
            else_=name + "@" + version,
        )
        source = builds.join(specs, specs.c.id == builds.c.spec_id).outerjoin(
            errored, errored.c.build_id == builds.c.id
        )
        if {"host_os", "platform", "host_target", "hostname", "kernel_version"} & set(by):
            source = source.join(
                build_environments, build_environments.c.id == builds.c.build_environment_id
            )
        if "owner" in by:
            source = source.join(users, users.c.id == builds.c.owner_id)
        tag: Any = None
        if "tags" in by:
            if dialect == "sqlite":
                tag = func.json_each(builds.c.tags).table_valued("value").alias("tag")
            else:
                tag = func.json_array_elements_text(builds.c.tags).table_valued("value")
                tag = tag.lateral("tag")
            source = source.outerjoin(tag, true())
        expressions: dict[str, Any] = {
            "spec_name": specs.c.name,
            "spec_version": func.nullif(specs.c.version, ""),
            "compiler": compiler,
            "status": builds.c.status,
            "outcome": outcome,
            "host_os": build_environments.c.host_os,
            "platform": build_environments.c.platform,
            "host_target": build_environments.c.host_target,
            "hostname": build_environments.c.hostname,
            "kernel_version": build_environments.c.kernel_version,
            "spack_version": builds.c.spack_version,
            "owner": users.c.username,
            "tags": tag.c.value if tag is not None else None,
        }
        groups = [expressions[c].label(c) for c in by]
        if freq is not None:
            groups.insert(0, _period(dialect, FREQS[freq]).label("period"))

        def count(condition: Any) -> Any:
            return func.sum(case((condition, 1), else_=0))

        stmt = select(
            *groups,
            func.count().label("builds"),
            count(failed).label("failed"),
            count(~failed & never_built).label("blocked"),
            count(~failed & (builds.c.status == "SUCCESS")).label("succeeded"),
        ).select_from(source)
        conditions = filters.conditions()
        if conditions:
            stmt = stmt.where(*conditions)
        if groups:
            stmt = stmt.group_by(*groups)
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
    names = [g.name for g in groups]
    out = []
    for row in rows:
        *keys, total, n_failed, n_blocked, n_succeeded = row
        total, n_failed, n_blocked, n_succeeded = (
            int(total), int(n_failed or 0), int(n_blocked or 0), int(n_succeeded or 0)
        )  # fmt: skip
        if not total:  # no group: an aggregate over no build at all
            continue
        unknown_count = total - n_failed - n_blocked - n_succeeded
        out.append((*keys, total, n_failed, n_blocked, n_succeeded, unknown_count))
    return [*names, *COUNT_COLUMNS], out


def _period(dialect: str, unit: str) -> Any:
    """The UTC day, or the Monday of the week, of a build's ``created_at`` as ``YYYY-MM-DD``
    (the tables keep naive UTC times)."""
    from sqlalchemy import func

    if dialect == "sqlite":
        if unit == "day":
            return func.date(builds.c.created_at)
        # 'weekday 0' moves forward to the next Sunday (or stays on one): six days back is Monday
        return func.date(builds.c.created_at, "weekday 0", "-6 days")
    return func.to_char(func.date_trunc(unit, builds.c.created_at), "YYYY-MM-DD")
