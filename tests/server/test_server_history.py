"""The history on the server equals the history read offline (issue 13): real Spack 0.17.1
save-local runs (copied as later runs of the same specs, as Spack names them) replayed to a
real server in several orders; ``MonitorData.from_client`` and ``from_database`` then give the
same attempts and the same answers of ``error_history``, ``flaky_builds``, ``outcome_changes``
and ``slow_phases`` as ``load_save_local`` on the same files -- on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from testlib import copy_run

from spackmon_analysis import LocalMonitor, history
from spackmon_analysis.frames import MonitorData, load_save_local

DATA = Path(__file__).resolve().parents[1] / "data" / "save-local"
SUCCESS = DATA / "v0.17.1-success-tinyapp"
FAILURE = DATA / "v0.17.1-failure-tinybrokenapp"
T0 = datetime(2026, 11, 28, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """tinyapp built, tinybrokenapp failing on three days (tinybroken's compiler error each
    time, tinybrokenapp never built), then tinyapp rebuilt."""
    folder = tmp_path_factory.mktemp("runs")
    made = [copy_run(SUCCESS, folder, T0)]
    made += [copy_run(FAILURE, folder, T0 + timedelta(days=d)) for d in (1, 2, 3)]
    made.append(copy_run(SUCCESS, folder, T0 + timedelta(days=4)))
    return made


def _attempts(data: MonitorData) -> pd.DataFrame:
    """Every attempt as the history sees it, without the names a source gives them."""
    table = history.attempt_table(data)
    phases = data.attempt_phases.merge(
        table[["attempt", "key", "seq"]], on="attempt", how="left", validate="many_to_one"
    )
    names = (
        phases.sort_values(["key", "seq", "order"])
        .groupby(["key", "seq"])
        .agg(
            phases=("name", lambda s: tuple(map(str, s))),
            statuses=("status", lambda s: tuple(map(str, s))),
            seconds=("duration", lambda s: tuple(round(float(x), 6) for x in s)),
        )
        .reset_index()
    )
    columns = ["key", "seq", "number", "started_at", "finished_at", "status", "outcome", "ran"]
    out = table[[*columns, "duration"]].copy()
    # a build that never got a status: missing offline (no status file), NOTRUN on a server
    # (its default, PROTOCOL section 2); the same fact
    out["status"] = out["status"].astype(object).where(out["status"].notna(), "NOTRUN")
    out["outcome"] = out["outcome"].astype(object)
    out["duration"] = out["duration"].round(6)
    out = out.merge(names, on=["key", "seq"], how="left")
    out = out.drop(columns="number")  # offline: 1 per build row; server: per build
    return out.sort_values(["key", "seq"]).reset_index(drop=True)


def _answers(data: MonitorData) -> dict[str, list]:
    """The history answers with the attempts named by (build key, place in its history)."""
    table = history.attempt_table(data)
    place = {
        a: (k, int(s)) for a, k, s in zip(table["attempt"], table["key"], table["seq"], strict=True)
    }
    errors = history.error_history(data).drop(columns=["run", "build"])
    errors["attempt"] = errors["attempt"].map(place)
    errors["previous_attempt"] = errors["previous_attempt"].map(place)
    flaky = history.flaky_builds(data, all_scores=True, min_attempts=2)
    flaky["evidence"] = flaky["evidence"].map(lambda ev: [(place[a], t, o) for a, t, o in ev])
    changes = history.outcome_changes(data, min_stay=1, same=history.BUILD_KEY)
    for column in ("since", "last_good"):
        changes[column] = changes[column].map(lambda a: place.get(a))
    slow = history.slow_phases(data, warmup=1, multiplier=0.5, min_deviation=0.0).drop(
        columns=["run", "build"]
    )
    slow["attempt"] = slow["attempt"].map(place)
    return {
        name: frame.astype(object).where(frame.notna(), None).to_dict("records")
        for name, frame in (
            ("error_history", errors),
            ("flaky_builds", flaky),
            ("outcome_changes", changes),
            ("slow_phases", slow),
        )
    }


def _replay(mon: LocalMonitor, order: list[Path]):
    client = mon.client("alice")
    for run in order:  # one call per run: the runs reach the server in this order
        summary = client.upload_local_save(run)
        assert summary.problems == [], summary.problems
    return client


ORDERS = [[0, 1, 2, 3, 4], [4, 2, 0, 3, 1], [3, 4, 1, 2, 0]]


@pytest.mark.slow
@pytest.mark.parametrize("order", ORDERS, ids=["by-date", "shuffled", "reversed-ish"])
def test_the_server_history_equals_the_offline_history(runs, order, db_url, tmp_path):
    offline = load_save_local(runs[0].parent)
    assert not offline.has_attempt_rows and len(offline.attempts) == 3 + 3 * 2 + 3
    expected_attempts, expected = _attempts(offline), _answers(offline)
    # tinybroken's two error lines (gcc's, make's): new, then recurring twice
    assert [r["status"] for r in expected["error_history"]] == ["new"] * 2 + ["recurring"] * 4
    assert len(expected["flaky_builds"]) >= 1 and len(expected["outcome_changes"]) == 0

    url = db_url or f"sqlite:///{tmp_path / 'monitor.db'}"
    with LocalMonitor(url, in_process=True) as mon:
        mon.add_user("alice")
        client = _replay(mon, [runs[i] for i in order])
        # replayed again: each run finds its own attempts, nothing is added
        again = client.upload_local_save(runs[0].parent)
        assert again.changes == [] and again.problems == []
        pulled = MonitorData.from_client(client)
        client.close()
    read = MonitorData.from_database(url)
    for data in (pulled, read):
        assert data.has_attempt_rows
        assert len(data.builds) == 5  # one per spec and environment, showing the latest attempt
        pd.testing.assert_frame_equal(_attempts(data), expected_attempts, check_dtype=False)
        assert _answers(data) == expected
    # the build rows show each build's latest attempt: its phases are the five frames' phases
    latest = pulled.attempts[pulled.attempts["latest"]]
    assert sorted(latest["build"]) == sorted(pulled.builds["build"])
    tinyapp = pulled.attempts.merge(pulled.builds[["build", "spec_name"]], on="build")
    tinyapp = tinyapp[tinyapp["spec_name"] == "tinyapp"].sort_values("number")
    assert list(tinyapp["latest"]) == [False, True]
    assert [t.to_pydatetime() for t in tinyapp["started_at"]] == [T0, T0 + timedelta(days=4)]


def test_each_attempt_log_is_read_once(runs, tmp_path, monkeypatch):
    """The latest attempt's phases are the five frames' phases: a load reads (and parses the
    stamps of) each phase log once, not once for the five frames and again for the history;
    the history frames still hold every attempt."""
    from spackmon_analysis.loaders import server as server_rows

    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    with LocalMonitor(url, in_process=True) as mon:
        mon.add_user("alice")
        client = _replay(mon, runs)
        reads: list[str] = []
        original = server_rows.first_last_stamp_texts
        joined = server_rows.stamp_columns_joined

        def counted(text: str):
            reads.append(text)
            return original(text)

        def counted_page(outputs: list[str], *args: object):  # a page of ASCII logs
            reads.extend(outputs)
            return joined(outputs, *args)

        monkeypatch.setattr(server_rows, "first_last_stamp_texts", counted)
        monkeypatch.setattr(server_rows, "stamp_columns_joined", counted_page)
        loaded = {"client": MonitorData.from_client(client), "database": None}
        client.close()
        pulled_reads = len(reads)
        reads.clear()
        loaded["database"] = MonitorData.from_database(url)
    for name, count in (("client", pulled_reads), ("database", len(reads))):
        data = loaded[name]
        assert data is not None and len(data.attempts) == 12 > len(data.builds) == 5
        assert len(data.attempt_phases) > len(data.phases)
        assert count == len(data.attempt_phases), name
