"""An install tree whose database holds Spack's ``failures/`` markers, uploaded **alone**
(``spackmon upload opt/spack``: no stage directory, no report) and pulled back, answers as the
offline loaders (issue 12): the marked spec that failed itself is a root cause (outcome
``failed``, though no log and so no ``ERROR`` phase exists), the marked dependent Spack then
skipped is blocked by it, and the database's summary counts them so.

The trees are the hand-made 0.23.1 and 1.1.1 ones of tests/data/spack-1.x (the real 0.16.3 to
0.22.1 fixtures hold no failure marker). The server is the real application over SQLite and
PostgreSQL, in-process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import spackmon_analysis as sma
from spackmon_analysis import MonitorData, failure_rates, failure_trends, failures
from spackmon_analysis.dashboard import database_summary
from spackmon_analysis.failures import outcomes
from spackmon_analysis.loaders import summary as summary_sql
from spackmon_analysis.spackfacts import build_outcome

SPACK_1X = Path(__file__).resolve().parent.parent / "data" / "spack-1.x"
RELEASES = ("0.23.1", "1.1.1")
COUNTS = ["builds", "failed", "blocked", "succeeded", "unknown"]


def _tree(release: str) -> Path:
    return SPACK_1X / f"v{release}" / "opt" / "spack"


def _rows(data: Any) -> set[tuple[Any, ...]]:
    table = failures(data)
    return {
        (r["spec_name"], r["role"], r["dag_hash"], r["first_error"], tuple(r["blocked_by"]))
        for _, r in table.iterrows()
    }


def _sql(url: str, by: str, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> pd.DataFrame:
    """``database_summary`` with the marked builds named in the query and, the same answer,
    with them joined as a subquery (what many markers get)."""
    inline = database_summary(url, by, **kw)
    with monkeypatch.context() as m:
        m.setattr(summary_sql, "MARKER_IDS_INLINE", 0)
        joined = database_summary(url, by, **kw)
    pd.testing.assert_frame_equal(inline, joined)
    return inline


def _counts(table: pd.DataFrame, by: str) -> dict[Any, list[int]]:
    return {row[by]: [int(row[c]) for c in COUNTS] for _, row in table.iterrows()}


@pytest.mark.slow
@pytest.mark.parametrize("release", RELEASES)
def test_a_tree_with_failure_markers_uploaded_alone_answers_as_offline(
    db_url: str | None, release: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(release)
    offline = sma.load(tree)
    expected = {
        ("tinybroken", "root cause", None, ()),
        ("tinybrokenapp", "blocked", None, ("tinybroken",)),
    }
    assert {(n, role, err, by) for n, role, _h, err, by in _rows(offline)} == expected

    with sma.LocalMonitor(db_url, in_process=True) as mon:
        mon.add_user("ci")
        with mon.client("ci", progress=False) as client:
            summary = client.upload(tree)
            assert summary.problems == [] and summary.left_out == []
            pulled = MonitorData.from_client(client)
            # only the outcome asked for: the tags it is made from still come along
            narrow = MonitorData.from_client(client, columns=["outcome"])
        url = mon.db_url
        assert url is not None
        stored = MonitorData.from_database(url)
        narrow_db = MonitorData.from_database(url, columns=["outcome"])

        for online in (pulled, stored):
            assert _rows(online) == _rows(offline)
            outcome = dict(zip(online.builds["spec_name"], online.builds["outcome"], strict=True))
            assert outcome["tinybroken"] == "failed"
            assert outcome["tinybrokenapp"] == "never built"
            assert outcome == dict(
                zip(offline.builds["spec_name"], offline.builds["outcome"], strict=True)
            )
            # no invented log: the failed build has no phase
            broken = online.builds.loc[online.builds["spec_name"] == "tinybroken", "build"]
            assert not online.phases["build"].astype(str).isin(broken.astype(str)).any()
        for online in (narrow, narrow_db):
            outcome = dict(zip(online.builds["build"], online.builds["outcome"], strict=True))
            assert sorted(map(str, outcome.values())) == sorted(map(str, stored.builds["outcome"]))

        # the database's own counts (SQL) agree with the pandas functions, and with offline
        for by in ("spec_name", "outcome"):
            in_sql = _sql(url, by, monkeypatch)
            pd.testing.assert_frame_equal(in_sql, failure_rates(stored, by))
            assert _counts(in_sql, by) == _counts(failure_rates(offline, by), by)
        assert _counts(_sql(url, "spec_name", monkeypatch), "spec_name")["tinybroken"] == [
            1,
            1,
            0,
            0,
            0,
        ]
        # per attempt (trends count the history's attempts): the same rule
        trends = _sql(url, "spec_name", monkeypatch, freq="D")
        pd.testing.assert_frame_equal(trends, failure_trends(stored, "D", "spec_name"))
        assert int(trends["failed"].sum()) == 1 and int(trends["blocked"].sum()) == 1
        attempts = stored.attempts.merge(stored.builds[["build", "spec_name"]], on="build")
        assert (
            dict(zip(attempts["spec_name"], attempts["outcome"], strict=True))["tinybroken"]
            == "failed"
        )

        # idempotent: sending the tree again adds nothing and changes no answer
        with mon.client("ci", progress=False) as client:
            client.upload(tree)
            assert _rows(MonitorData.from_client(client)) == _rows(offline)

            # a later attempt of the marked spec that succeeded (a retry after the fix):
            # the marker's attempt stays a failure in the history, in SQL and in pandas
            broken = pulled.builds.set_index("spec_name").loc["tinybroken"]
            env = {k: broken[k] for k in ("host_os", "platform", "host_target", "hostname")}
            env["kernel_version"] = broken["kernel_version"]
            made = client.new_build(broken["full_hash"], broken["spack_version"], environment=env)
            assert made["data"]["build_created"] is False
            client.update_build(made["data"]["build"]["build_id"], "SUCCESS")
        retried = MonitorData.from_database(url)
        history = retried.attempts.merge(retried.builds[["build", "spec_name"]], on="build")
        history = history[history["spec_name"] == "tinybroken"].sort_values("number")
        assert list(history["outcome"]) == ["failed", "succeeded"]
        trends = _sql(url, "spec_name", monkeypatch, freq="D")
        pd.testing.assert_frame_equal(trends, failure_trends(retried, "D", "spec_name"))
        mine = trends[trends["spec_name"] == "tinybroken"]
        assert (int(mine["failed"].sum()), int(mine["succeeded"].sum())) == (1, 1)
        assert int(trends["failed"].sum()) == 1
        rates = _sql(url, "spec_name", monkeypatch)
        pd.testing.assert_frame_equal(rates, failure_rates(retried, "spec_name"))
        assert _counts(rates, "spec_name")["tinybroken"] == [1, 0, 0, 1, 0]


def test_the_outcome_rule_reads_a_failure_markers_tags() -> None:
    marker, blocked = ("failure-marker",), ("failure-marker", "blocked")
    assert build_outcome("FAILED", [], marker) == "failed"
    assert build_outcome("FAILED", [], blocked) == "never built"
    assert build_outcome("FAILED", [], ("blocked",)) == "never built"  # a report's skipped one
    assert build_outcome("FAILED", []) == "never built"
    # only a FAILED status: a cancelled or succeeded build keeps its own outcome
    assert build_outcome("CANCELLED", [], marker) == "never built"
    assert build_outcome("SUCCESS", [], marker) == "succeeded"
    assert build_outcome("FAILED", ["SUCCESS", "ERROR"], blocked) == "failed"
    # frames built by hand without an outcome column: failures() derives it the same way
    builds = pd.DataFrame(
        {
            "build": ["1", "2"],
            "spec_name": ["tinybroken", "tinybrokenapp"],
            "status": ["FAILED", "FAILED"],
            "tags": [marker, blocked],
        }
    )
    data = MonitorData(builds=builds)
    assert outcomes(data).to_dict() == {"1": "failed", "2": "never built"}
    table = failures(data)
    assert dict(zip(table["spec_name"], table["role"], strict=True)) == {
        "tinybroken": "root cause",
        "tinybrokenapp": "blocked",
    }
