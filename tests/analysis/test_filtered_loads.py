"""``MonitorData.from_database`` and ``from_client`` with filters (``since``, ``until``,
``packages``, ``tags``, ``status``) and ``columns``: the database and the data API apply them,
and the frames equal those of loading everything and filtering afterwards, on SQLite and
PostgreSQL, for each filter alone and in combinations."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from testlib import example_runs_database, postgres_schema

from spackmon_analysis import LocalMonitor
from spackmon_analysis.errors import ConfigError, MonitorError
from spackmon_analysis.frames import MonitorData

EXAMPLES = Path(__file__).resolve().parents[2] / "spackmon_analysis" / "data" / "examples"
BASE = dt.datetime(2026, 11, 2, 6, 0, 0)
TAG_SETS = (["nightly"], ["nightly", "pr-41"], ["pr-41"], [], ["weekly", "nightly"])


def _spread(url: str) -> None:
    """Give the replayed builds times an hour apart from ``BASE`` on, a mix of tags and a
    cancelled build, with plain SQL (the upload itself stamps them all with "now")."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            ids = [r[0] for r in conn.execute(text("SELECT id FROM builds ORDER BY id"))]
            for i, build_id in enumerate(ids):
                conn.execute(
                    text("UPDATE builds SET created_at = :t, tags = :tags WHERE id = :id"),
                    {
                        "t": BASE + dt.timedelta(hours=i, microseconds=17 * i),
                        "tags": json.dumps(TAG_SETS[i % len(TAG_SETS)]),
                        "id": build_id,
                    },
                )
            conn.execute(
                text("UPDATE builds SET status = 'CANCELLED' WHERE id = :id"), {"id": ids[7]}
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Every example run replayed into a monitor on SQLite or PostgreSQL; its URL, a client,
    and everything loaded unfiltered (the reference)."""
    runs = sorted(p for p in (EXAMPLES / "save-local").iterdir() if p.is_dir())

    def serve(url: str | None) -> Iterator[dict[str, Any]]:
        with LocalMonitor(url, in_process=True) as mon:
            mon.add_user("alice")
            with mon.client("alice", progress=False, backoff=0) as client:
                summary = client.upload_local_save(runs, progress=False)
                assert not summary.problems
                _spread(mon.db_url)
                yield {
                    "url": mon.db_url,
                    "client": client,
                    "all": MonitorData.from_database(mon.db_url),
                    "all_client": MonitorData.from_client(client),
                }

    if request.param == "sqlite":
        yield from serve(None)
    else:
        with postgres_schema(prepared=True) as url:
            yield from serve(url)


def _utc(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def filtered_afterwards(data: MonitorData, **f: Any) -> MonitorData:
    """The reference: ``data`` (everything) cut down in pandas to what the filters mean."""
    b = data.builds
    keep = pd.Series(True, index=b.index)
    if f.get("since") is not None:
        keep &= b["created_at"] >= _utc(f["since"])
    if f.get("until") is not None:
        keep &= b["created_at"] < _utc(f["until"])

    def listed(value: Any) -> set[str]:
        return {value} if isinstance(value, str) else set(value)

    if f.get("packages") is not None:
        keep &= b["spec_name"].isin(listed(f["packages"])).fillna(False).astype(bool)
    if f.get("status") is not None:
        keep &= b["status"].astype(object).isin(listed(f["status"]))
    if f.get("tags") is not None:
        wanted = listed(f["tags"])
        keep &= b["tags"].map(lambda tags: bool(set(tags) & wanted))
    builds = b[keep.astype(bool)]
    keys = set(builds["build"])
    deps = data.dependencies
    graph = nx.DiGraph(list(zip(deps["parent_hash"], deps["child_hash"], strict=True)))
    closure: set[str] = set()
    for spec in set(builds["full_hash"]):
        closure |= {spec} | (nx.descendants(graph, spec) if spec in graph else set())
    specs = data.specs[data.specs["full_hash"].isin(closure)]
    deps = deps[deps["parent_hash"].isin(closure)]
    return MonitorData(
        specs=specs,
        dependencies=deps,
        builds=builds,
        phases=data.phases[data.phases["build"].isin(keys)],
        events=data.events[data.events["build"].isin(keys)],
        source=data.source,
    )


def _plain(frame: pd.DataFrame, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """A frame compared by value: categoricals as their values (a filtered load has only the
    categories present), a fresh index."""
    out = frame.drop(columns=list(drop)).reset_index(drop=True)
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype):
            out[column] = out[column].astype(object)
    return out


def assert_same(got: MonitorData, want: MonitorData, drop: tuple[str, ...] = ()) -> None:
    for name in ("specs", "dependencies", "builds", "phases", "events"):
        skip = drop if name == "builds" else ()
        pd.testing.assert_frame_equal(
            _plain(getattr(got, name), skip), _plain(getattr(want, name), skip), obj=name
        )


CASES = {
    "since": {"since": BASE + dt.timedelta(hours=25)},
    "until": {"until": (BASE + dt.timedelta(hours=9)).isoformat() + "Z"},
    "week window": {"since": "2026-11-02T10:00:00+00:00", "until": "2026-11-03T04:00:00Z"},
    "window in another zone": {"since": "2026-11-02T12:30:00+02:00"},
    "since a date": {"since": dt.date(2026, 11, 3)},
    "one package": {"packages": "hdf5"},
    "packages": {"packages": ["zlib", "openssl", "no-such-package"]},
    "one tag": {"tags": "pr-41"},
    "tags (any)": {"tags": ["weekly", "pr-41"]},
    "one status": {"status": "FAILED"},
    "statuses": {"status": ["FAILED", "CANCELLED"]},
    "package and status": {"packages": ["hdf5", "zlib"], "status": "SUCCESS"},
    "window, tag and status": {
        "since": pd.Timestamp("2026-11-02T08:00:00Z"),
        "until": BASE + dt.timedelta(hours=30),
        "tags": "nightly",
        "status": ["SUCCESS", "CANCELLED"],
    },
    "everything filtered out": {"packages": []},
    "a window with no build": {"since": "2030-01-01"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_filters_give_the_rows_of_filtering_afterwards(served, case: str) -> None:
    f = CASES[case]
    want = filtered_afterwards(served["all"], **f)
    direct = MonitorData.from_database(served["url"], **f)
    assert_same(direct, want)
    pulled = MonitorData.from_client(served["client"], **f)
    assert_same(pulled, filtered_afterwards(served["all_client"], **f))
    # the two constructors still agree, filtered (but for where the rows came from)
    assert_same(pulled, direct, drop=("source",))


def test_the_cases_select_something_and_not_everything(served) -> None:
    """Guards the test above: each case but the two empty ones keeps some builds and leaves
    some out, so an ignored filter would fail it."""
    total = len(served["all"].builds)
    for case, f in CASES.items():
        kept = len(filtered_afterwards(served["all"], **f).builds)
        if case in ("everything filtered out", "a window with no build"):
            assert kept == 0, case
        else:
            assert 0 < kept < total, case


def test_columns_fill_only_what_is_named(served) -> None:
    named = ["spec_name", "status", "outcome", "duration", "created_at"]
    data = MonitorData.from_database(served["url"], columns=named, packages=["hdf5", "zlib"])
    want = filtered_afterwards(served["all"], packages=["hdf5", "zlib"])
    for column in (*named, "build", "build_id", "full_hash"):
        pd.testing.assert_series_equal(
            _plain(data.builds)[column], _plain(want.builds)[column], obj=column
        )
    for column in ("build", "phase_id", "name", "order"):
        pd.testing.assert_series_equal(
            _plain(data.phases)[column], _plain(want.phases)[column], obj=column
        )
    # phase times come from the logs, read for their stamps but not kept
    assert data.builds["duration"].notna().any()
    assert data.phases["output"].isna().all() and want.phases["output"].notna().all()
    for column in ("hostname", "owner", "tags", "spack_version"):
        assert data.builds[column].isna().all(), column
    assert list(data.builds.columns) == list(want.builds.columns)
    for column in data.builds.columns:
        assert data.builds[column].dtype.name == want.builds[column].dtype.name or isinstance(
            data.builds[column].dtype, pd.CategoricalDtype
        ), column


def test_bad_arguments_are_named(served) -> None:
    url = served["url"]
    with pytest.raises(ConfigError, match=r"status=: 'FAIL' is not a build status"):
        MonitorData.from_database(url, status="FAIL")
    with pytest.raises(ConfigError, match=r"since=: 'last week' is not an ISO 8601"):
        MonitorData.from_database(url, since="last week")
    with pytest.raises(ConfigError, match=r"since= .* is after until="):
        MonitorData.from_client(served["client"], since="2026-11-05", until="2026-11-01")
    with pytest.raises(ConfigError, match=r"columns=: no builds or phases column 'colour'"):
        MonitorData.from_database(url, columns=["status", "colour"])
    with pytest.raises(ConfigError, match=r"packages=: 3 is not a text"):
        MonitorData.from_client(served["client"], packages=["zlib", 3])


def test_data_api_build_filters(served) -> None:
    """The data API's build filters: several values of one filter match any of them, the
    routes of a build's rows take them as ``build_<name>``, a bad value is a 400 naming it."""
    client = served["client"]
    builds = list(client.pull("builds", status=["FAILED", "CANCELLED"]))
    assert {b["status"] for b in builds} == {"FAILED", "CANCELLED"}
    ids = {b["id"] for b in builds}
    phases = list(client.pull("buildphases", build_status=["FAILED", "CANCELLED"]))
    assert phases and {p["build"] for p in phases} <= ids
    session = client.session
    base = client.baseurl.rsplit("/ms1", 1)[0]
    answer = session.get(f"{base}/api/builds/", params={"since": "yesterday"})
    assert answer.status_code == 400
    assert "bad value 'yesterday' for filter 'since'" in answer.json()["message"]
    answer = session.get(f"{base}/api/buildphases/", params={"since": "2026-11-01"})
    assert answer.status_code == 400
    assert "build_since" in answer.json()["message"]  # the message lists the filters


def test_a_server_without_the_filters_is_refused(served) -> None:
    """A server that ignores the build filters (here: a client whose pulls drop them) sends
    builds outside them: ``from_client`` says so instead of loading them."""

    class Ignoring:
        baseurl = "http://old-server"

        def pull(self, route: str, **filters: Any) -> Any:
            plain = {k: v for k, v in filters.items() if k == "output"}
            return served["client"].pull(route, **plain)

    with pytest.raises(MonitorError, match="does not know the data API's build filters"):
        MonitorData.from_client(Ignoring(), status="FAILED")


def test_rows_left_out_are_never_read(tmp_path) -> None:
    """A 40 MB log of a build the filter leaves out costs a filtered load nothing: the
    database never sends it (traced peak far below its size)."""
    url = example_runs_database(tmp_path / "db.sqlite")
    con = sqlite3.connect(tmp_path / "db.sqlite")
    with con:
        big = "==> [2026-11-02-06:00:00] 'make'\n" + "x" * 79 + "\n"
        con.execute(
            "UPDATE build_phases SET output = ? WHERE id = (SELECT min(p.id) FROM build_phases p "
            "JOIN builds b ON b.id = p.build_id JOIN specs s ON s.id = b.spec_id "
            "WHERE s.name = 'zlib')",
            (big * 500_000,),
        )
    con.close()
    MonitorData.from_database(url, packages="hdf5")  # warm-up: imports, caches
    tracemalloc.start()
    try:
        data = MonitorData.from_database(url, packages="hdf5")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(data.builds) and set(data.builds["spec_name"]) == {"hdf5"}
    assert peak < 15e6, f"a filtered load peaked at {peak / 1e6:.0f} MB"
    everything = MonitorData.from_database(url)
    assert everything.phases["output_size"].max() >= 40_000_000
    assert np.all(data.phases["output_size"] < 1e6)


def _selected_afterwards(data: MonitorData, named: list[str]) -> MonitorData:
    """The reference of ``columns=``: everything loaded, then the builds/phases columns
    neither named nor keys made all missing."""
    from spackmon_analysis.loaders.assemble import FrameSet
    from spackmon_analysis.loaders.server import blank_unwanted

    frames = FrameSet(
        specs=data.specs,
        dependencies=data.dependencies,
        builds=data.builds.copy(),
        phases=data.phases.copy(),
        events=data.events,
        source=data.source,
    )
    blank_unwanted(frames, set(named))
    return MonitorData.from_frames(frames)


COLUMN_CASES = {
    "summary columns": (["spec_name", "status", "outcome", "duration", "created_at"], {}),
    "hosts, filtered": (["hostname", "host_os", "status"], {"packages": ["hdf5", "zlib"]}),
    "phase times": (["duration", "started_at", "finished_at", "tags"], {"status": "SUCCESS"}),
    "the logs": (["output", "status", "owner", "run_time"], {}),
}


@pytest.mark.parametrize("case", list(COLUMN_CASES))
def test_from_client_columns_are_from_databases(served, case: str) -> None:
    """``from_client(columns=...)``: the frames of ``from_database(columns=...)`` and of
    loading everything and selecting the columns afterwards."""
    named, f = COLUMN_CASES[case]
    pulled = MonitorData.from_client(served["client"], columns=named, **f)
    direct = MonitorData.from_database(served["url"], columns=named, **f)
    assert len(pulled.builds) and len(pulled.phases)
    assert_same(pulled, direct, drop=("source",))
    want = _selected_afterwards(filtered_afterwards(served["all_client"], **f), named)
    assert_same(pulled, want)
    for column in named:  # named columns are filled (the cases' data has them)
        frame = pulled.builds if column in pulled.builds.columns else pulled.phases
        assert frame[column].notna().any(), column


def _answers(client: Any) -> list[tuple[str, Any]]:
    """A hook recording every answer the client gets: (URL, decoded body)."""
    seen: list[tuple[str, Any]] = []

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        if "/api/" in response.url:
            seen.append((response.url, response.json()))
        return response

    client.session.hooks["response"].append(hook)
    return seen


def test_columns_left_out_are_never_sent(served) -> None:
    """The answer bodies of a ``columns=`` pull carry only the fields the named columns
    need: no host, owner or tags of a build when not named, no phase times of the server,
    no log at all with ``keep_output=False``."""
    client = served["client"]
    seen = _answers(client)
    try:
        MonitorData.from_client(client, columns=["spec_name", "status"], keep_output=False)
    finally:
        client.session.hooks["response"].pop()
    fields: dict[str, set[str]] = {}
    for url, body in seen:
        route = url.split("/api/", 1)[1].split("/", 1)[0]
        assert "fields=" in url, url
        for row in body["results"]:
            fields.setdefault(route, set()).update(row)
    assert fields["builds"] == {"id", "full_hash", "spec_name", "status"}
    assert "is_root" not in fields["specs"] and "virtuals" not in fields["dependencies"]
    phase_route = "attemptphases" if "attemptphases" in fields else "buildphases"
    assert fields[phase_route] == {"id", "build", "attempt", "name", "status", "output_size"}
    assert "output" not in fields[phase_route]
    # with the logs kept (the default), they travel for their stamps; the rest still not
    seen = _answers(client)
    try:
        data = MonitorData.from_client(client, columns=["duration"])
    finally:
        client.session.hooks["response"].pop()
    rows = [row for url, body in seen if f"/api/{phase_route}/" in url for row in body["results"]]
    assert rows and all("output" in r and "created_at" not in r for r in rows)
    assert data.phases["duration"].notna().any() and data.phases["output"].isna().all()


def test_data_api_fields(served) -> None:
    """``fields=`` on the data API: only those fields, in the route's order, on pages and
    ``/all/``; an unknown field is a 400 naming it and listing the route's fields."""
    client = served["client"]
    session = client.session
    base = client.baseurl.rsplit("/ms1", 1)[0]
    page = session.get(f"{base}/api/builds/", params={"fields": "status,id", "limit": 3})
    assert page.status_code == 200
    assert [list(r) for r in page.json()["results"]] == [["id", "status"]] * 3
    nxt = page.json()["next"]
    assert "fields=status%2Cid" in nxt
    assert all(list(r) == ["id", "status"] for r in session.get(nxt).json()["results"])
    lines = session.get(
        f"{base}/api/buildphases/all/", params=[("fields", "id"), ("fields", "name")]
    ).text.splitlines()
    assert lines and all(sorted(json.loads(line)) == ["id", "name"] for line in lines)
    logs = session.get(f"{base}/api/buildphases/", params={"fields": "id,output", "limit": 2})
    assert all(r["output"] for r in logs.json()["results"])  # naming output asks for it
    for route, query, words in (
        ("builds", {"fields": "id,colour"}, "unknown field 'colour' for /api/builds/"),
        ("builds", {"fields": "id,colour"}, "fields: id, spec, spec_name"),
        ("buildphases/all", {"fields": "id,log"}, "unknown field 'log' for /api/buildphases/"),
        ("specs", {"fields": ","}, "fields= names no field"),
        ("buildphases", {"fields": "output", "output": "0"}, "output=0 leaves it out"),
    ):
        answer = session.get(f"{base}/api/{route}/", params=query)
        assert answer.status_code == 400, (route, query)
        assert words in answer.json()["message"], answer.json()


def test_a_time_window_reads_its_rows_through_the_build_ids(served, monkeypatch) -> None:
    """A time window's builds are every id of the span they cover (ids grow with time): the
    builds are read first, and the specs, dependencies, attempts, phases and events after
    them are found by that span alone, not by evaluating the window over the whole builds
    table again in each read (a seq scan of a million builds six times for a week). A
    filter whose builds leave gaps in their span (a status) still checks the filter. On
    PostgreSQL the reads run without JIT compilation (it cost 0.1-0.5 s per read and gained
    nothing). The rows are those of filtering afterwards either way."""
    from spackmon_analysis.loaders import database

    seen: list[str] = []
    jit: list[str] = []
    stream, read_tables = database._stream, database._read_tables

    def recording_stream(conn: Any, stmt: Any, rows: int, **kwargs: Any) -> Any:
        seen.append(str(stmt))
        return stream(conn, stmt, rows, **kwargs)

    def recording_read(conn: Any, **kwargs: Any) -> Any:
        if conn.dialect.name == "postgresql":
            jit.append(conn.exec_driver_sql("SHOW jit").scalar())
        return read_tables(conn, **kwargs)

    monkeypatch.setattr(database, "_stream", recording_stream)
    monkeypatch.setattr(database, "_read_tables", recording_read)
    window = CASES["week window"]
    data = MonitorData.from_database(served["url"], **window)
    assert 0 < len(data.builds) < len(served["all"].builds)
    assert_same(data, filtered_afterwards(served["all"], **window))
    assert "FROM builds" in seen[0] and "created_at >=" in seen[0]
    assert len(seen) >= 6  # builds, specs, dependencies, attempts, phases, events
    assert [s for s in seen[1:] if "created_at >=" in s or "created_at <" in s] == []
    if "postgresql" in served["url"]:
        assert jit == ["off"]
    seen.clear()
    gaps = {"status": "SUCCESS"}
    data = MonitorData.from_database(served["url"], **gaps)
    assert_same(data, filtered_afterwards(served["all"], **gaps))
    ids = data.builds["build_id"].astype(int)
    assert ids.max() - ids.min() + 1 > len(ids)  # the case: gaps in the span
    assert all("status IN" in s for s in seen), seen


def test_log_chunks_follow_the_length_of_the_logs(tmp_path, monkeypatch) -> None:
    """The phases' logs are fetched in chunks of about ``_CHUNK_TEXT`` characters: short
    logs in few round trips (up to ``_CHUNK`` rows), long ones a few rows at a time."""
    from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select

    from spackmon_analysis.loaders import database

    metadata = MetaData()
    logs = Table("logs", metadata, Column("id", Integer, primary_key=True), Column("text", Text))
    engine = create_engine(f"sqlite:///{tmp_path / 'logs.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(logs), [{"id": i, "text": "x" * 10} for i in range(3000)])
        conn.execute(insert(logs), [{"id": 3000 + i, "text": "y" * 1000} for i in range(1000)])
    monkeypatch.setattr(database, "_CHUNK_TEXT", 20_000)
    monkeypatch.setattr(database, "_CHUNK", 1_500)
    monkeypatch.setattr(database, "_CHUNK_MIN", 5)
    with engine.connect() as conn:
        sizes = [
            len(chunk)
            for chunk in database._stream(
                conn,
                select(logs.c.id, logs.c.text).order_by(logs.c.id),
                100,
                text_size=lambda rows: sum(len(r[1]) for r in rows),
            )
        ]
    engine.dispose()
    assert sum(sizes) == 4000
    assert sizes[:3] == [100, 1500, 1500]  # 10 characters a row: up to _CHUNK rows
    assert set(sizes[-5:-1]) == {20}  # 1,000 characters a row: 20 rows of 20,000
