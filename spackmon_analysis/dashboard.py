"""Dashboard summaries computed by a monitor server's database, for a million builds.

:func:`database_summary` asks the database for one row per group (``GROUP BY`` with
SQLAlchemy Core, :mod:`spackmon_analysis.loaders.summary`) instead of loading every build
into frames, and finishes those rows with the same step as the pandas functions, so its
answers are theirs:

- ``freq=None``: :func:`~spackmon_analysis.failures.failure_rates` of the same builds
  (columns ``<by...>``, ``builds``, ``failed``, ``blocked``, ``succeeded``, ``unknown``,
  ``failure_rate``; most failing first);
- ``freq="day"``/``"week"``: :func:`~spackmon_analysis.history.failure_trends` of the same
  builds (columns ``period``, ``<by...>``, ``attempts``, ``failed``, ``blocked``,
  ``succeeded``, ``failure_rate``; by period, then most failed).

Decisions: for rates a server build counts once, in the state its row shows (its latest
attempt); for trends every attempt the server keeps counts (``failure_trends`` counts the
history's attempts, which ``from_database`` reads), in the UTC day or week (from Monday) of its
``started_at``; the filters select builds exactly as ``from_database``'s filters of the same
names (a build's attempts come with it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .errors import ConfigError
from .failures import NO_TAG, rate_groups
from .history import trend_groups

__all__ = ["database_summary"]


def database_summary(
    url: str | os.PathLike[str] | Any,
    by: str | Sequence[str] | None = "spec_name",
    *,
    freq: str | None = None,
    since: Any = None,
    until: Any = None,
    packages: str | Sequence[str] | None = None,
    tags: str | Sequence[str] | None = None,
    status: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Failure counts and rates of the builds in a monitor server's database, computed by
    the database (SQLite or PostgreSQL: a URL, a SQLite file path, or an SQLAlchemy
    ``Engine``).

    ``by``: a builds column or a list of them: ``spec_name`` (alias ``package``),
    ``spec_version`` (alias ``version``; always with ``spec_name``), ``compiler``,
    ``status``, ``outcome``, ``host_os``, ``platform``, ``host_target``, ``hostname``,
    ``kernel_version``, ``spack_version``, ``owner``, ``tags`` (a build counts under each of
    its tags); ``None`` with ``freq``: every build per period.

    ``freq``: ``None`` for the answer of ``failure_rates(data, by)``; ``"day"``/``"D"`` or
    ``"week"``/``"W"`` for the answer of ``failure_trends(data, freq, by)`` (several ``by``
    columns allowed here), where ``data`` is ``MonitorData.from_database(url)`` with the same
    filters.

    Filters (all must hold): ``since``/``until`` (``since <= created_at < until``; ISO 8601
    text, ``datetime`` or ``pandas.Timestamp``, naive taken as UTC, or a ``date``),
    ``packages`` (spec names), ``tags`` (at least one of them), ``status`` (build statuses);
    one text or several, an empty list matches no build.

    Raises:
        ConfigError: an unknown column, ``freq`` or status, a bad time, ``since`` after
            ``until``, or a database URL that cannot be used.
        SchemaVersionError: a database of another schema version.
    """
    from .loaders.server import BuildSelection
    from .loaders.summary import outcome_counts

    if by is None:
        if freq is None:
            raise ConfigError("database_summary: by=None needs freq='day' or 'week'")
        columns: list[str] = []
    else:
        columns = [by] if isinstance(by, str) else list(by)
        if not columns and freq is None:
            raise ConfigError("database_summary: by=[] names no column; give at least one")
        aliases = {"package": "spec_name", "version": "spec_version"}
        columns = list(dict.fromkeys(aliases.get(c, c) for c in columns))
        if freq is None and "spec_version" in columns and "spec_name" not in columns:
            columns.insert(columns.index("spec_version"), "spec_name")
    selection = BuildSelection.check(
        since=since, until=until, packages=packages, tags=tags, status=status
    )
    names, rows = outcome_counts(url, columns, freq=freq, selection=selection)
    table = pd.DataFrame.from_records(rows, columns=names)
    for count in ("builds", "failed", "blocked", "succeeded", "unknown"):
        table[count] = table[count].astype("int64")
    if freq is None:
        if "tags" in columns:
            table["tags"] = table["tags"].astype(object).where(table["tags"].notna(), NO_TAG)
        return rate_groups(table, columns)
    table = table.rename(columns={"builds": "attempts"}).drop(columns="unknown")
    # the frames' times are datetime64[ns, UTC] (docs/analysis.md), and so are trends' periods
    table["period"] = pd.to_datetime(table["period"].astype(object)).astype("datetime64[ns]")
    table["period"] = table["period"].dt.tz_localize("UTC")
    frame = trend_groups(table, columns)
    frame.attrs["undated"] = 0  # a server build always has its created_at
    frame.attrs["freq"] = "D" if freq in ("D", "day") else "W"
    frame.attrs["by"] = None if by is None else (columns[0] if isinstance(by, str) else columns)
    return frame
