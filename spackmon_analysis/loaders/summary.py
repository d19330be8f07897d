"""Build outcomes counted by a monitor server's database: one ``GROUP BY`` over its tables
(SQLAlchemy Core, SQLite or PostgreSQL), for :func:`spackmon_analysis.dashboard.
database_summary`. Nothing per build leaves the database: only one row per group.

A build's outcome is Spack's rule (:func:`spackmon_analysis.spackfacts.build_outcome`) written
in SQL: ``failed`` when one of its phases is ``ERROR`` or, status ``FAILED``, its tags hold
``failure-marker`` and not ``blocked`` (a failure only Spack's failure marker records), else
``succeeded`` for status ``SUCCESS``, ``never built`` for ``FAILED``/``CANCELLED``, else
``unknown``; its compiler is
``name@version`` of its spec (the name alone without a version, missing without a name), as
the frames' ``compiler`` column (``loaders/server.add_server_spec``). Without ``freq`` a build
counts once, in the state its row shows (its latest attempt: that attempt's phases and the
build's status). With ``freq`` every attempt counts (``failure_trends`` counts the history's
attempts): its outcome from its own phases and status, its period the UTC day, or the week
from Monday, of its ``started_at`` (the time ``from_database`` dates the attempt by).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..records import ENVIRONMENT_FIELDS
from ..server.tables import (
    build_attempts,
    build_environments,
    build_phases,
    builds,
    specs,
    users,
)
from ..spackfacts import BLOCKED_TAG, FAILURE_MARKER_TAG
from .database import database_engine, selection_filter
from .server import BuildSelection

__all__ = ["GROUP_COLUMNS", "COUNT_COLUMNS", "FREQS", "outcome_counts"]

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
#: Up to this many builds made failed by a failure marker are named in the query (``IN``);
#: more are joined as a subquery.
MARKER_IDS_INLINE = 1000
#: ``freq`` values: a day or a week (from Monday, UTC).
FREQS = {"D": "day", "day": "day", "W": "week", "week": "week"}


def outcome_counts(
    url: Any,
    by: Sequence[str],
    *,
    freq: str | None = None,
    selection: BuildSelection | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """``(column names, rows)``: per group of ``by`` (names of :data:`GROUP_COLUMNS`; with
    ``freq``, per ``period`` first, the day or week start as ``YYYY-MM-DD`` text) the counts
    of :data:`COUNT_COLUMNS`, computed by the database at ``url``. ``tags`` gives one row per
    tag of a build (``None`` for a build without tags); other missing values are ``None``.
    ``selection``: only these builds (the filters of ``MonitorData.from_database``, the same
    ``WHERE`` clauses: :func:`~spackmon_analysis.loaders.database.selection_filter`)."""
    from sqlalchemy import and_, case, false, func, select, true

    unknown = [c for c in by if c not in GROUP_COLUMNS]
    if unknown:
        raise ConfigError(
            f"by=: {', '.join(map(repr, unknown))} is not a column the database summary "
            f"groups by ({', '.join(GROUP_COLUMNS)})"
        )
    if freq is not None and freq not in FREQS:
        raise ConfigError(f"freq={freq!r}; choose from: {', '.join(FREQS)} (or None)")
    conditions = selection_filter(selection).conditions()
    with database_engine(url) as (engine, _label):
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ConfigError(f"the database summary reads SQLite or PostgreSQL, not {dialect}")
        per_attempt = freq is not None  # trends count every attempt, rates every build
        status: Any
        if per_attempt:
            errored = (
                select(build_phases.c.attempt_id.label("key"))
                .where(build_phases.c.status == "ERROR")
                .group_by(build_phases.c.attempt_id)
                .subquery("errored")
            )
            status, key, when = (
                build_attempts.c.status,
                build_attempts.c.id,
                build_attempts.c.started_at,
            )
            base: Any = build_attempts.join(builds, builds.c.id == build_attempts.c.build_id)
        else:  # the phases of each build's latest attempt: the state its row shows
            errored = (
                select(build_phases.c.build_id.label("key"))
                .join(
                    build_attempts,
                    and_(
                        build_attempts.c.id == build_phases.c.attempt_id,
                        build_attempts.c.latest == true(),
                    ),
                )
                .where(build_phases.c.status == "ERROR")
                .group_by(build_phases.c.build_id)
                .subquery("errored")
            )
            status, key, when, base = builds.c.status, builds.c.id, builds.c.created_at, builds
        # a failure marker's root cause (spackfacts.marked_failure): status FAILED, tag
        # failure-marker, not blocked; the tags are the build's, for each of its attempts
        # the builds a failure marker's tags make failed when FAILED (marked_failure): a
        # few ids, looked up first, so a database without them runs the query as before
        markers: Any = None
        with engine.connect() as conn:
            marker_ids = [r[0] for r in conn.execute(_marker_builds(dialect))]
        if not marker_ids:
            marked: Any = false()
        elif len(marker_ids) <= MARKER_IDS_INLINE:
            marked = (status == "FAILED") & builds.c.id.in_(marker_ids)
        else:  # many: joined as a subquery instead of a long IN list
            markers = _marker_builds(dialect).subquery("markers")
            marked = (status == "FAILED") & markers.c.id.is_not(None)
        failed = errored.c.key.is_not(None) | marked
        never_built = status.in_(("FAILED", "CANCELLED"))
        outcome = case(
            (failed, "failed"),
            (status == "SUCCESS", "succeeded"),
            (never_built, "never built"),
            else_="unknown",
        )
        name, version = specs.c.compiler_name, specs.c.compiler_version
        compiler = case(
            (func.coalesce(name, "") == "", None),
            (func.coalesce(version, "") == "", name),
            else_=name + "@" + version,
        )
        source = base.join(specs, specs.c.id == builds.c.spec_id).outerjoin(
            errored, errored.c.key == key
        )
        if markers is not None:
            source = source.outerjoin(markers, markers.c.id == builds.c.id)
        if set(ENVIRONMENT_FIELDS) & set(by):
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
            "status": status,
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
            groups.insert(0, _period(dialect, FREQS[freq], when).label("period"))

        def count(condition: Any) -> Any:
            return func.sum(case((condition, 1), else_=0))

        stmt = select(
            *groups,
            func.count().label("builds"),
            count(failed).label("failed"),
            count(~failed & never_built).label("blocked"),
            count(~failed & (status == "SUCCESS")).label("succeeded"),
        ).select_from(source)
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


def _marker_builds(dialect: str) -> Any:
    """``SELECT`` of the ids of the builds whose tags hold ``failure-marker`` and not
    ``blocked`` (:func:`~spackmon_analysis.spackfacts.marked_failure`; the caller tests the
    status of the build or attempt): a cheap text test on the JSON picks the candidates, an
    ``EXISTS`` over the list's elements (``json_each`` in SQLite, ``json_array_elements_text``
    in PostgreSQL) keeps only a real element, so a tag that merely contains the text is not
    taken for it."""
    from sqlalchemy import Text, cast, exists, func, literal, select

    def has(tag: str) -> Any:
        if dialect == "sqlite":
            element = func.json_each(builds.c.tags).table_valued("value").alias("tag_element")
        else:
            element = func.json_array_elements_text(builds.c.tags).table_valued("value")
            element = element.alias("tag_element")
        return exists(select(literal(1)).select_from(element).where(element.c.value == tag))

    return select(builds.c.id).where(
        cast(builds.c.tags, Text).like(f"%{FAILURE_MARKER_TAG}%"),
        has(FAILURE_MARKER_TAG),
        ~has(BLOCKED_TAG),
    )


def _period(dialect: str, unit: str, when: Any) -> Any:
    """The UTC day, or the Monday of the week, of the time column ``when`` as ``YYYY-MM-DD``
    (the tables keep naive UTC times)."""
    from sqlalchemy import func

    if dialect == "sqlite":
        if unit == "day":
            return func.date(when)
        # 'weekday 0' moves forward to the next Sunday (or stays on one): six days back is Monday
        return func.date(when, "weekday 0", "-6 days")
    return func.to_char(func.date_trunc(unit, when), "YYYY-MM-DD")
