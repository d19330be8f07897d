"""``SpackMonitorClient.upload`` / ``spackmon upload``: today's Spack data (JUnit and CDash
reports, install trees, save-local runs, a DAG) sent to the real embedded monitor through the
ms1 protocol, and pulled back with ``MonitorData.from_client``: the same answers as the
offline loaders give on the same real files."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from testlib import postgres_schema

import spackmon_analysis as sma
from spackmon_analysis import LocalMonitor
from spackmon_analysis.errors import ReportError
from spackmon_analysis.server.tables import metadata

DATA = Path(__file__).resolve().parents[1] / "data"
JUNIT = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
CDASH_OK = DATA / "reports" / "v0.22.1-cdash-success-tinyapp"
CDASH_FAIL = DATA / "derived" / "cdash-failure-tinybrokenapp"
DAG = DATA / "derived" / "tinybrokenapp-spack-0.22.1-zen3.json"
INSTALLS = DATA / "installs"
SAVE_LOCAL = DATA / "save-local"
#: The CI recipe's inputs, plus the DAG and the Spack 0.17.1 save-local runs (tinyapp built)
EVERYTHING = [JUNIT, DAG, INSTALLS, SAVE_LOCAL]


@pytest.fixture(params=["sqlite", "postgresql"])
def mon(request: pytest.FixtureRequest) -> Iterator[LocalMonitor]:
    if request.param == "sqlite":
        with LocalMonitor(in_process=True) as m:
            m.add_user("ci")
            yield m
    else:
        with postgres_schema(prepared=True) as url, LocalMonitor(url, in_process=True) as m:
            m.add_user("ci")
            yield m


@pytest.fixture
def sqlite_mon() -> Iterator[LocalMonitor]:
    with LocalMonitor(in_process=True) as m:
        m.add_user("ci")
        yield m


def row_counts(mon: LocalMonitor) -> dict[str, int]:
    with mon.store.read.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar()
            for t in metadata.sorted_tables
        }


def _digest(text: object) -> str | None:
    if text is None or text is pd.NA or (isinstance(text, float) and text != text):
        return None
    return hashlib.sha1(str(text).encode()).hexdigest()[:12]


def sent_builds(data: sma.MonitorData) -> pd.DataFrame:
    """The builds of a run: a package a report lists as <skipped/> is not one (not sent)."""
    builds = data.builds
    return builds[[not ({"skipped"} & set(tags or ())) for tags in builds["tags"]]]


def build_rows(data: sma.MonitorData) -> set[tuple]:
    """What a user sees of each build: which spec, its status and outcome, its compiler."""
    rows = set()
    for _, b in sent_builds(data).iterrows():
        status = b["status"] if not pd.isna(b["status"]) else "NOTRUN"  # a server default
        rows.add(
            (b["dag_hash"], b["spec_name"], b["spec_version"], status, b["outcome"], b["compiler"])
        )
    return rows


def tags_by_spec(data: sma.MonitorData) -> dict[str, set[str]]:
    """The tags of the builds of each spec. Two sources that saw one build (the 0.17.1
    prefix of tinyutil and the save-local run that built it) are two builds offline and one
    build on the server, which holds the tags of both."""
    tags: dict[str, set[str]] = {}
    for _, b in sent_builds(data).iterrows():
        tags.setdefault(b["dag_hash"], set()).update(b["tags"])
    return tags


def phase_rows(data: sma.MonitorData) -> set[tuple]:
    dag = dict(zip(data.builds["build"], data.builds["dag_hash"], strict=True))
    return {
        (dag[p["build"]], p["name"], p["status"], _digest(p["output"]))
        for _, p in data.phases.iterrows()
    }


def event_rows(data: sma.MonitorData) -> set[tuple]:
    dag = dict(zip(data.builds["build"], data.builds["dag_hash"], strict=True))
    return {
        (dag[e["build"]], e["phase"], e["kind"], e["text"], e["line_no"], e["fingerprint"])
        for _, e in data.events.iterrows()
    }


FAILURE_COLUMNS = [
    "spec_name",
    "role",
    "first_error",
    "failed_phase",
    "error_class",
    "fingerprint",
    "dag_hash",
    "error_line_no",
]


def failure_rows(data: sma.MonitorData) -> set[tuple]:
    found = sma.failures(data)
    return {
        (*(r[c] for c in FAILURE_COLUMNS), tuple(sorted(r["blocked_by"])))
        for _, r in found.iterrows()
    }


def test_upload_of_reports_and_install_trees_answers_as_the_offline_loaders(mon):
    client = mon.client("ci", progress=False)
    summary = client.upload(*EVERYTHING)
    assert summary.problems == []
    online = sma.MonitorData.from_client(client)
    offline = sma.load(*EVERYTHING)

    # the tiny packages: the same answers from the server as from the files
    found = sma.failures(online)
    causes = found[found["role"] == "root cause"]
    junit_cause = causes[causes["dag_hash"] == "zkrnssrjgjyycae3swuvljmjzdhlukeo"]
    assert list(junit_cause["spec_name"]) == ["tinybroken"]
    assert "broken.c:4:3: error: expected ',' or ';'" in junit_cause["first_error"].iloc[0]
    assert list(junit_cause["failed_phase"]) == ["build"]
    blocked = found[found["role"] == "blocked"]
    from_report = blocked[blocked["dag_hash"] == "2sa24ewderivedderivedderivedderi"]
    assert list(from_report["spec_name"]) == ["tinybrokenapp"]
    assert list(from_report["blocked_by"].iloc[0]) == ["tinybroken"]
    succeeded = set(online.builds.loc[online.builds["outcome"] == "succeeded", "spec_name"])
    assert {"tinyapp", "tinyutil", "tinybase"} <= succeeded

    # frame by frame, the columns a user reads
    assert failure_rows(online) == failure_rows(offline)
    assert build_rows(online) == build_rows(offline)
    assert tags_by_spec(online) == tags_by_spec(offline)
    assert phase_rows(online) == phase_rows(offline)
    assert event_rows(online) == event_rows(offline)
    # the history: each run of a build is one attempt, dated by its run (a report's suite
    # timestamp, a save-local run's directory), a prefix's by its install time
    assert attempt_rows(online) == attempt_rows(offline)
    # the specs as their sources wrote them: variants, compiler, architecture, externals
    assert spec_rows(online) <= spec_rows(offline)
    assert {r[0] for r in spec_rows(online)} >= set(online.builds["dag_hash"])


def attempt_rows(data: sma.MonitorData) -> set[tuple]:
    sent = sent_builds(data)[["build", "dag_hash", "spec_name"]]
    rows = set()
    for r in data.attempts.merge(sent, on="build").itertuples():
        status = r.status if not pd.isna(r.status) else "NOTRUN"  # a server default
        rows.add((r.dag_hash, r.spec_name, pd.Timestamp(r.started_at), status, r.outcome))
    return rows


def spec_rows(data: sma.MonitorData) -> set[tuple]:
    columns = ["dag_hash", "name", "version", "compiler", "target", "os", "external"]
    columns += ["variants_text", "namespace"]
    return {tuple(r[c] for c in columns) for _, r in data.specs.iterrows()}


def test_an_upload_after_a_replay_of_the_same_runs_adds_nothing(sqlite_mon):
    """Specs go up as their files wrote them (list-valued variants such as libs=shared
    stay lists), so the server's spec check finds no conflict with the replayed ones."""
    from spackmon_analysis.demo import example_data_dir

    runs = example_data_dir() / "save-local"
    client = sqlite_mon.client("ci", progress=False)
    client.upload_local_save(runs)
    replayed_again = client.upload_local_save(runs)
    summary = client.upload(runs)
    assert summary.problems == [] and summary.left_out == []
    assert summary.skipped == {"specs": 0, "builds": 0, "phases": 0, "statuses": 0}
    assert summary.created == {"specs": 0, "builds": 0, "phases": 0, "statuses": 0}
    assert summary.present["specs"] == 6 and summary.present["builds"] == 44
    # the runs hold a build's history (sqlite killed, then built): an upload, like a
    # second replay, sets each build to each run's state again, oldest first
    assert summary.counts == replayed_again.counts
    assert [str(c) for c in summary.changes] == [str(c) for c in replayed_again.changes]


def test_one_request_at_a_time_or_in_batches_the_server_holds_the_same(tmp_path):
    """``batch=False`` sends plain ms1 requests one at a time; the default packs them in the
    server's batch extension: the same rows either way."""
    pulled, requests = [], []
    for batch in (False, True):
        with LocalMonitor(in_process=True) as mon:
            mon.add_user("ci")
            client = mon.client("ci", progress=False)
            summary = client.upload(*EVERYTHING, batch=batch)
            requests.append(client.request_count)
            assert summary.problems == []
            assert summary.created["builds"] >= 10 and summary.created["phases"] >= 23
            data = sma.MonitorData.from_client(client)
            pulled.append(
                (
                    summary.counts,
                    build_rows(data),
                    phase_rows(data),
                    event_rows(data),
                    row_counts(mon),
                )
            )
    assert pulled[0] == pulled[1]
    assert requests[1] < requests[0] / 2  # the batches carried the writes


def test_the_same_files_sent_twice_add_nothing(sqlite_mon):
    client = sqlite_mon.client("ci", progress=False)
    first = client.upload(*EVERYTHING)
    assert first.total_created > 0
    before = row_counts(sqlite_mon)
    assert before["builds"] == 10 and before["build_phases"] > 0
    again = client.upload(*EVERYTHING)
    assert row_counts(sqlite_mon) == before
    assert again.total_created == 0
    assert again.created == {"specs": 0, "builds": 0, "phases": 0, "statuses": 0}
    assert again.problems == []


def test_a_junit_report_alone_gets_minimal_specs_and_what_it_lacks_is_named(sqlite_mon):
    client = sqlite_mon.client("ci", progress=False)
    summary = client.upload(JUNIT, spack_version="0.22.1", hostname="ci-runner-7")
    text = repr(summary)
    assert text.startswith("Upload of 1 run: junit-tinybrokenapp")
    # the five <skipped/> packages are named, not sent as builds
    left = dict(summary.left_out)
    assert len(left) == 5
    assert "already installed or external" in left["junit-tinybrokenapp/tinybase /fj42llt"]
    assert "<skipped/>" in left["junit-tinybrokenapp/glibc /4jbapu4"]
    # the loader's "no DAG" note travels in the summary, and the kernel version it lacks
    notes = " | ".join(message for _name, message in summary.notes)
    assert "no DAG" in notes
    assert "kernel_version 'unknown'" in notes
    assert "hostname 'unknown'" not in notes  # filled from hostname=

    rows = list(client.builds())
    assert len(rows) == 1
    (row,) = rows
    assert row["spec_name"] == "tinybroken"
    assert row["full_hash"] == "zkrnssrjgjyycae3swuvljmjzdhlukeo"
    assert (row["hostname"], row["spack_version"]) == ("ci-runner-7", "0.22.1")
    assert (row["platform"], row["host_os"], row["host_target"]) == ("linux", "debian12", "zen3")
    assert row["kernel_version"] == "unknown"
    (spec,) = list(client.specs())
    assert (spec["name"], spec["full_hash"]) == ("tinybroken", "zkrnssrjgjyycae3swuvljmjzdhlukeo")
    online = sma.MonitorData.from_client(client)
    cause = sma.failures(online)
    assert list(cause["role"]) == ["root cause"]
    assert "broken.c:4:3" in cause["first_error"].iloc[0]


def test_cdash_reports_errors_come_back_and_unresolved_packages_are_named(sqlite_mon):
    client = sqlite_mon.client("ci", progress=False)
    # the failure report: Build.xml keeps no log, only <Error> entries; the server finds
    # them again in the output made of them, at the same lines
    summary = client.upload(CDASH_FAIL, DAG)
    assert summary.problems == []
    online = sma.MonitorData.from_client(client)
    offline = sma.load(CDASH_FAIL, DAG)
    assert failure_rows(online) == failure_rows(offline)
    assert event_rows(online) == event_rows(offline)
    found = sma.failures(online).set_index("role")
    assert "broken.c:4:3" in found.loc["root cause", "first_error"]
    assert found.loc["blocked", "spec_name"] == "tinybrokenapp"

    # the success report: only tinybase's hash is in the report (its stage path); the
    # others are named as not sent
    summary = client.upload(CDASH_OK)
    left = dict(summary.left_out)
    for name in ("tinyapp", "tinyutil", "gcc-runtime"):
        assert "no DAG hash" in left[f"v0.22.1-cdash-success-tinyapp/{name}"]
    assert summary.created["builds"] == 1
    names = {row["spec_name"]: row for row in client.builds()}
    assert names["tinybase"]["status"] == "SUCCESS"
    assert names["tinybase"]["spack_version"] == "0.22.1"


def test_a_truncated_report_is_refused_before_anything_is_sent(sqlite_mon, tmp_path):
    bad = tmp_path / "r.xml"
    text = JUNIT.read_text()
    bad.write_text(text[: len(text) // 2])
    client = sqlite_mon.client("ci", progress=False)
    before = row_counts(sqlite_mon)
    with pytest.raises(ReportError) as caught:
        client.upload(bad, INSTALLS)
    assert str(bad) in str(caught.value)
    assert row_counts(sqlite_mon) == before


def test_upload_shows_a_progress_bar_when_asked(sqlite_mon, capsys):
    client = sqlite_mon.client("ci")
    client.upload(JUNIT, DAG, progress=True)
    assert "upload" in capsys.readouterr().err


@pytest.mark.real_socket
def test_spackmon_upload_runs_the_ci_recipe(monitor, tmp_path, capsys):
    from spackmon_analysis.cli import main

    # `spack install --log-format junit --log-file r.xml ...; spackmon upload r.xml opt/spack`
    report = tmp_path / "r.xml"
    shutil.copy(JUNIT, report)
    args = [
        "upload",
        str(report),
        str(INSTALLS),
        "--dag",
        str(DAG),
        "--spack-version",
        "0.22.1 (4f5ae3e0b12ad5ea2cce6ce4e7c3f8f7e6a3c2d1)",
        "--hostname",
        "ci-runner",
        "--no-progress",
        "--host",
        monitor.url,
        "--user",
        "alice",
        "--token",
        monitor.test_token,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("Upload of")
    assert "not sent (5):" in out
    assert "glibc@2.36 /4jbapu4: not sent: external (a report's <skipped/>)" in out
    assert "tinybase@1.0 /fj42llt: not sent: already installed" in out
    client = sma.SpackMonitorClient(
        host=monitor.url, username="alice", token=monitor.test_token, progress=False
    )
    rows = {(row["spec_name"], row["full_hash"]): row for row in client.builds()}
    broken = rows[("tinybroken", "zkrnssrjgjyycae3swuvljmjzdhlukeo")]
    assert (broken["status"], broken["spack_version"], broken["hostname"]) == (
        "FAILED",
        "0.22.1",
        "ci-runner",
    )
    blocked = rows[("tinybrokenapp", "2sa24ewderivedderivedderivedderi")]
    assert blocked["status"] == "FAILED" and blocked["tags"] == ["blocked"]
    # again: nothing new
    assert main(args) == 0
    again = capsys.readouterr().out
    assert "  builds           0        0" in again


def test_documents_written_from_the_frames_carry_what_the_frames_hold():
    """With no source file to read a node from (a DAG given as loaded data), each node is
    written from the frames: name, version, architecture, compiler, variants, hashes and
    edges come back the same through the one spec reader."""
    from spackmon_analysis.client.upload import upload_runs
    from spackmon_analysis.spackfacts import variants_text
    from spackmon_analysis.spec import load_spec

    data = sma.load(SAVE_LOCAL)
    runs, left_out, _notes = upload_runs(data, graphs=())
    assert left_out == []
    specs = data.specs.set_index("full_hash")
    seen = 0
    for run in runs:
        for document, version, _label in run.spec_documents:
            assert version == "0.17.1"
            for node in load_spec(document).nodes.values():
                row = specs.loc[node.key]
                assert (node.name, node.version, node.compiler) == (
                    row["name"],
                    row["version"],
                    row["compiler"],
                )
                assert (node.platform, node.os, node.target) == (
                    row["platform"],
                    row["os"],
                    row["target"],
                )
                assert node.hashes["hash"] == row["dag_hash"]
                assert variants_text(node.parameters) == row["variants_text"]
                seen += 1
    assert seen >= len(data.specs)
    edges = {
        (d.parent, d.child)
        for run in runs
        for document, _v, _l in run.spec_documents
        for d in load_spec(document).edges
    }
    deps = data.dependencies
    assert edges == set(zip(deps["parent_hash"], deps["child_hash"], strict=True))


def test_a_phase_without_a_status_is_named_not_sent_as_success():
    from spackmon_analysis.client.upload import upload_runs

    data = sma.load(JUNIT, DAG)
    phases = data.phases.copy()
    phases["status"] = phases["status"].astype(object)
    phases.loc[phases["name"] == "edit", "status"] = None
    data = sma.MonitorData(data.specs, data.dependencies, data.builds, phases, data.events)
    runs, left_out, _notes = upload_runs(data)
    sent = [(p.name, p.status) for run in runs for p in run.phases]
    assert sent == [("build", "ERROR")]
    assert (
        "junit-tinybrokenapp/tinybroken@0.9 /zkrnssr: edit phase",
        "not sent: the source gives the phase no status",
    ) in left_out


def test_refused_credentials_stop_the_upload_saying_nothing_was_sent(sqlite_mon):
    from spackmon_analysis.errors import AuthError

    client = sqlite_mon.client("ci", progress=False)
    client.token = "0" * 40  # not ci's token
    with pytest.raises(AuthError) as caught:
        client.upload(JUNIT, DAG)
    message = str(caught.value)
    assert message.startswith("Upload stopped before anything was uploaded")
    assert "run the same upload again" in message
    assert caught.value.uploaded == []
    assert row_counts(sqlite_mon)["builds"] == 0


def test_a_dag_given_after_an_install_tree_replaces_the_no_dag_note():
    """``load(report, tree)`` finds no DAG for the failure in a tree of another machine;
    a DAG given afterwards (``--dag``, ``with_dag``) that holds it replaces that note."""
    tree = INSTALLS / "v0.22.1"
    first = sma.load(JUNIT, tree)
    assert any(m.startswith("no DAG for tinybroken") for _i, m in first.notes)
    data = first.with_dag(DAG)
    notes = [m for _i, m in data.notes]
    assert not any(m.startswith("no DAG") for m in notes), notes
    assert any("never built (blocked; from the DAG): tinybrokenapp" in m for m in notes)
