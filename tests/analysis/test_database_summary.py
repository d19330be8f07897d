"""``database_summary``: failure counts and rates computed by the database (GROUP BY), with the
same answers as ``failure_rates`` / ``failure_trends`` on the frames ``from_database`` loads,
on SQLite and PostgreSQL.

The database is filled by the real server: generated save-local runs (four compilers and
operating systems, failures and the dependents they blocked, three tag sets, two owners)
replayed through the client, plus builds left without a status (unknown) and a cancelled one.
The server dates every build by its arrival, so the test then spreads ``created_at`` and each
attempt's ``started_at`` over three weeks (a direct UPDATE: the history a server collects over
a month).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, event, select, update
from testlib import BUILD_ENV, postgres_schema

from spackmon_analysis import LocalMonitor, MonitorData, failure_rates, failure_trends
from spackmon_analysis.cli import main
from spackmon_analysis.dashboard import database_summary
from spackmon_analysis.errors import ConfigError
from spackmon_analysis.server.tables import build_attempts, builds
from spackmon_analysis.synth import generate_save_local

START = dt.datetime(2026, 11, 1, 0, 30)  # a Sunday: the first week has one day


def _spread_dates(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            ids = [r[0] for r in conn.execute(select(builds.c.id).order_by(builds.c.id))]
            for i in ids:
                when = START + dt.timedelta(days=(i * 5) % 19, hours=(i * 7) % 24, minutes=i % 60)
                conn.execute(update(builds).where(builds.c.id == i).values(created_at=when))
            # and every attempt's start (what the history's trends count by)
            attempts = conn.execute(select(build_attempts.c.id).order_by(build_attempts.c.id))
            for (i,) in list(attempts):
                when = START + dt.timedelta(days=(i * 3) % 19, hours=(i * 5) % 24, minutes=i % 60)
                conn.execute(
                    update(build_attempts).where(build_attempts.c.id == i).values(started_at=when)
                )
    finally:
        engine.dispose()


def _fill(mon: Any, tmp: Path) -> None:
    runs = []
    for seed, tags in ((0, "nightly"), (1, None), (2, "nightly,e4s"), (3, "e4s")):
        runs.append(
            generate_save_local(
                tmp / f"run-{seed}", 30, phases_per_build=3, seed=seed, failure_rate=0.15, tags=tags
            )
        )
    mon.add_user("alice")
    mon.add_user("bob")
    with mon.client("alice", progress=False, backoff=0) as client:
        assert not client.upload_local_save(runs[:2], progress=False).problems
    with mon.client("bob", progress=False, backoff=0) as client:
        assert not client.upload_local_save(runs[2:], progress=False).problems
        # two builds that never got a status (outcome unknown) and one cancelled
        specs = client.pull("specs").to_frame()
        for k, full_hash in enumerate(specs["full_hash"].head(3)):
            env = {**BUILD_ENV, "hostname": f"other-{k}"}
            made = client.new_build(full_hash, "0.17.1", environment=env, tags="manual")
            if k == 2:
                client.update_build(made["data"]["build"]["build_id"], "CANCELLED")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def summary_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, MonitorData]]:
    tmp = tmp_path_factory.mktemp("summary")

    def build(url: str | None) -> Iterator[tuple[str, MonitorData]]:
        with LocalMonitor(url, in_process=True) as mon:
            _fill(mon, tmp)
            _spread_dates(mon.db_url)
            yield mon.db_url, MonitorData.from_database(mon.db_url)

    if request.param == "sqlite":
        yield from build(None)
    else:
        with postgres_schema(prepared=True) as url:
            yield from build(url)


def test_the_sample_covers_every_outcome_and_grouping(summary_db) -> None:
    _url, data = summary_db
    outcomes = set(data.builds["outcome"].astype(object))
    assert outcomes == {"failed", "never built", "succeeded", "unknown"}
    assert data.builds["compiler"].nunique() == 4
    assert set(data.builds["owner"].astype(object)) == {"alice", "bob"}
    assert data.builds["created_at"].dt.day_of_week.nunique() == 7


BY = [
    "spec_name",
    "compiler",
    ["spec_name", "compiler"],
    "spec_version",
    ["compiler", "host_os"],
    "host_target",
    "tags",
    ["compiler", "tags"],
    "owner",
    "status",
    "outcome",
    "spack_version",
    "hostname",
]


@pytest.mark.parametrize("by", BY, ids=str)
def test_rates_are_failure_rates_of_the_loaded_frames(summary_db, by) -> None:
    url, data = summary_db
    pd.testing.assert_frame_equal(database_summary(url, by), failure_rates(data, by))


@pytest.mark.parametrize("freq", ["day", "W"])
@pytest.mark.parametrize("by", [None, "spec_name", "compiler", "tags", "outcome"], ids=str)
def test_trends_are_failure_trends_of_the_loaded_frames(summary_db, freq, by) -> None:
    url, data = summary_db
    got = database_summary(url, by, freq=freq)
    expected = failure_trends(data, freq, by)
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs == expected.attrs
    assert len(got) >= 3  # several periods (and groups in each)


def _filtered(data: MonitorData, **filters: Any) -> MonitorData:
    """``data`` restricted in pandas to the builds the filters name (the reference)."""
    b = data.builds
    mask = pd.Series(True, index=b.index)
    if "since" in filters:
        mask &= b["created_at"] >= pd.Timestamp(filters["since"], tz="UTC")
    if "until" in filters:
        mask &= b["created_at"] < pd.Timestamp(filters["until"], tz="UTC")
    if "packages" in filters:
        mask &= b["spec_name"].isin(filters["packages"]).fillna(False).astype(bool)
    if "status" in filters:
        mask &= b["status"].astype(object).isin(filters["status"])
    if "tags" in filters:
        wanted = set(filters["tags"])
        mask &= b["tags"].map(lambda t: bool(set(t or ()) & wanted)).astype(bool)
    kept = b[mask].reset_index(drop=True)
    keys = set(kept["build"])
    return MonitorData(
        data.specs,
        data.dependencies,
        kept,
        data.phases[data.phases["build"].isin(keys)].reset_index(drop=True),
        data.events[data.events["build"].isin(keys)].reset_index(drop=True),
        source=data.source,
    )


FILTERS = [
    {"since": "2026-11-06"},
    {"until": "2026-11-10T12:00:00"},
    {"since": "2026-11-04", "until": "2026-11-11"},
    {"status": ["SUCCESS", "FAILED"]},
    {"tags": ["e4s"]},
    {"tags": ["nightly", "manual"], "since": "2026-11-03"},
    {"status": ["FAILED"], "until": "2026-11-15"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_filters_count_the_same_builds_as_filtering_the_frames(summary_db, filters) -> None:
    url, data = summary_db
    reference = MonitorData.from_database(url, **filters)  # the filters of from_database
    by_hand = _filtered(data, **filters)  # and the same builds chosen in pandas
    assert set(reference.builds["build"]) == set(by_hand.builds["build"])
    assert 0 < len(reference.builds) < len(data.builds)
    for by in ("spec_name", ["compiler", "tags"]):
        pd.testing.assert_frame_equal(
            database_summary(url, by, **filters), failure_rates(reference, by)
        )
    pd.testing.assert_frame_equal(
        database_summary(url, "compiler", freq="day", **filters),
        failure_trends(reference, "day", "compiler"),
    )


def test_package_filter_and_aliases(summary_db) -> None:
    url, data = summary_db
    names = sorted(data.builds["spec_name"].unique())[:3]
    got = database_summary(url, ["package", "version"], packages=names)
    expected = failure_rates(_filtered(data, packages=names), ["spec_name", "spec_version"])
    pd.testing.assert_frame_equal(got, expected)
    assert set(got["spec_name"]) == set(names)
    # an empty list matches no build: an empty table with the columns
    empty = database_summary(url, "compiler", packages=[])
    assert list(empty.columns) == list(failure_rates(data, "compiler").columns)
    assert len(empty) == 0


def test_only_the_groups_leave_the_database(summary_db) -> None:
    """One aggregate statement; what comes back is one row per group, not per build."""
    url, data = summary_db
    engine = create_engine(url)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        table = database_summary(engine, "compiler")
    finally:
        engine.dispose()
    aggregates = [s for s in statements if "GROUP BY" in s.upper()]
    assert len(aggregates) == 1 and "count(" in aggregates[0].lower()
    assert len(table) == 4 and table["builds"].sum() == len(data.builds)


def test_bad_arguments_are_config_errors_naming_them(summary_db, tmp_path) -> None:
    url, _data = summary_db
    with pytest.raises(ConfigError, match="'flavour' is not a column"):
        database_summary(url, ["spec_name", "flavour"])
    with pytest.raises(ConfigError, match="freq='month'"):
        database_summary(url, freq="month")
    with pytest.raises(ConfigError, match="'DONE' is not a build status"):
        database_summary(url, status="DONE")
    with pytest.raises(ConfigError, match="since=.*is after until="):
        database_summary(url, since="2026-11-10", until="2026-11-01")
    with pytest.raises(ConfigError, match="not an ISO 8601"):
        database_summary(url, since="last tuesday")
    with pytest.raises(ConfigError, match="by=None needs freq"):
        database_summary(url, None)
    with pytest.raises(ConfigError, match="no such database file"):
        database_summary(tmp_path / "missing.db")


def test_cli_summary_prints_the_same_table(summary_db, capsys) -> None:
    url, _data = summary_db
    args = ["summary", "--db", url, "--by", "compiler", "--by", "tags", "--since", "2026-11-04"]
    assert main([*args, "--format", "csv"]) == 0
    printed = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    expected = database_summary(url, ["compiler", "tags"], since="2026-11-04")
    assert printed["builds"].tolist() == expected["builds"].tolist()
    assert printed["compiler"].tolist() == expected["compiler"].tolist()
    assert main(["summary", "--db", url, "--freq", "week", "--status", "FAILED"]) == 0
    text = capsys.readouterr().out
    assert "period" in text and "failure_rate" in text and "2026-11-02" in text
    assert main(["summary", "--db", url, "--status", "DONE"]) == 1
    assert "'DONE' is not a build status" in capsys.readouterr().err
