"""Server rows become frames one way: ``from_client`` (the data API's rows over HTTP) and
``from_database`` (the same server's tables read directly) share one assembly
(``loaders.server.ServerColumns``), so they give the same frames, edge cases included; and
the loaders keep to their layer (they never import frames, views or analysis)."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from spackmon_analysis.errors import MonitorError
from spackmon_analysis.frames import MonitorData
from spackmon_analysis.loaders.server import rows_frames

PACKAGE = Path(__file__).resolve().parents[2] / "spackmon_analysis"
WHEN = "2026-11-01 06:00:00.000000"


def _log(*stamps: str) -> str:
    return "".join(f"==> [{s}] step\nchatter\n" for s in stamps)


def _database(path: Path) -> str:
    """A server database (the real schema) with two builds whose phase logs carry stamps
    inside and outside the range a frame can hold (1678-2261)."""
    from spackmon_analysis.server.auth import add_user
    from spackmon_analysis.server.tables import Store

    url = f"sqlite:///{path}"
    store = Store.open(url)
    add_user(store, "alice")
    store.dispose()
    phases = [  # (id, build, name, status, output)
        (1, 1, "configure", "SUCCESS", _log("2026-11-01-06:00:01", "2026-11-01-06:00:04.5")),
        (2, 1, "build", "ERROR", _log("1600-01-01-00:00:00", "1600-01-01-00:00:10")),
        (3, 1, "install", "SUCCESS", _log("2026-11-01-06:00:05", "2300-01-01-00:00:00")),
        (4, 2, "install", "SUCCESS", _log("2026-11-01-07:00:00", "2026-11-01-07:00:02")),
    ]
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO specs (id, name, version, full_hash, hash, spack_version, compiler_name, "
            "compiler_version, parameters, external, is_root, created_at) "
            "VALUES (?, ?, '1.0', ?, ?, '0.17.1', 'gcc', '12.2.0', '{}', 0, 1, ?)",
            [(i, f"pkg{i}", f"full{i}", f"dag{i}", WHEN) for i in (1, 2)],
        )
        con.execute(
            "INSERT INTO build_environments (id, hostname, host_os, platform, host_target, "
            "kernel_version) VALUES (1, 'h', 'ubuntu22.04', 'linux', 'zen3', '6.1')"
        )
        con.executemany(
            "INSERT INTO builds (id, spec_id, build_environment_id, owner_id, status, tags, "
            "spack_version, created_at, updated_at) VALUES (?, ?, 1, 1, ?, '[\"ci\"]', '0.17.1', "
            "?, ?)",
            [(1, 1, "FAILED", WHEN, WHEN), (2, 2, "SUCCESS", WHEN, WHEN)],
        )
        con.executemany(  # each build's one attempt (schema 2)
            "INSERT INTO build_attempts (id, build_id, number, status, latest, started_at, "
            "created_at, updated_at) VALUES (?, ?, 1, ?, 1, ?, ?, ?)",
            [(1, 1, "FAILED", WHEN, WHEN, WHEN), (2, 2, "SUCCESS", WHEN, WHEN, WHEN)],
        )
        con.executemany(
            "INSERT INTO build_phases (id, build_id, attempt_id, name, status, output, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(i, b, b, name, st, out, WHEN, WHEN) for i, b, name, st, out in phases],
        )
        con.executemany(
            "INSERT INTO build_events (id, kind, build_id, phase_id, text, line_no, pre_context, "
            "post_context, repeat_count, classes) VALUES (?, ?, ?, ?, ?, ?, '[]', '[]', 1, '[]')",
            [
                (1, "error", 1, 2, "broken.c:4: error: expected ';'", 3),
                (2, "warning", 2, 4, "warning: unused variable", 1),
            ],
        )
    con.close()
    return url


def test_client_and_database_agree_on_stamps_outside_the_frame_range(tmp_path) -> None:
    """A phase log stamped in the year 1600 (or 2300) has no time a frame can hold: both
    constructors give it no start or end and no duration. ``from_client`` used to raise
    pandas' ``OutOfBoundsDatetime`` where ``from_database`` gave ``NaT``."""
    from spackmon_analysis import LocalMonitor

    url = _database(tmp_path / "monitor.db")
    direct = MonitorData.from_database(url)
    with LocalMonitor(url) as mon:
        mon.add_user("reader")
        pulled = MonitorData.from_client(mon.client("reader"))
    names = ("specs", "dependencies", "phases", "events")
    for name in (*names, "attempts", "attempt_phases", "attempt_events"):
        pd.testing.assert_frame_equal(getattr(pulled, name), getattr(direct, name))
    pd.testing.assert_frame_equal(
        pulled.builds.drop(columns="source"), direct.builds.drop(columns="source")
    )
    assert list(pulled.builds["source"]) == ["server", "server"]
    assert list(direct.builds["source"]) == ["database", "database"]

    by_id = pulled.phases.set_index("phase_id")
    assert pd.isna(by_id.loc[2, "started_at"]) and pd.isna(by_id.loc[2, "duration"])
    assert by_id.loc[3, "started_at"] == pd.Timestamp("2026-11-01 06:00:05", tz="UTC")
    assert pd.isna(by_id.loc[3, "finished_at"]) and pd.isna(by_id.loc[3, "duration"])
    assert by_id.loc[1, "duration"] == pytest.approx(3.5)
    assert list(pulled.builds["outcome"]) == ["failed", "succeeded"]
    assert list(pulled.events["text"]) == [
        "broken.c:4: error: expected ';'",
        "warning: unused variable",
    ]


class _RacingClient:
    """The real client, except that the builds page was read before build 2 was written
    (its phases and events were read after): a pull racing an upload, which a real server
    does not produce on demand."""

    def __init__(self, client) -> None:
        self.client = client
        self.baseurl = client.baseurl

    def pull(self, route: str, **kwargs):
        rows = list(self.client.pull(route, **kwargs))
        if route == "builds":
            rows = [row for row in rows if row["id"] != 2]
        return rows


def test_phases_and_events_of_builds_not_pulled_are_named_in_notes(tmp_path) -> None:
    """Rows that belong to no pulled build are left out and said so in ``notes`` (they used
    to vanish without a word)."""
    from spackmon_analysis import LocalMonitor

    url = _database(tmp_path / "monitor.db")
    with LocalMonitor(url) as mon:
        mon.add_user("reader")
        data = MonitorData.from_client(_RacingClient(mon.client("reader")))
    assert list(data.builds["build"]) == ["1"]
    assert set(data.phases["phase_id"]) == {1, 2, 3}
    notes = dict(data.notes)
    assert "1 phase(s) of build id(s) not among the builds (2): left out" in notes["buildphases"]
    assert (
        "1 event(s) of phase id(s) not among the loaded phases (4)"
        in notes["builderrors/buildwarnings"]
    )


def test_a_row_id_that_is_not_an_integer_names_the_row_and_field() -> None:
    rows = {
        "specs": [],
        "dependencies": [],
        "builds": [{"id": 1, "full_hash": "h" * 32}],
        "buildphases": [{"id": 7, "build": "one", "name": "build"}],
        "builderrors": [],
        "buildwarnings": [],
    }
    with pytest.raises(MonitorError, match=r"buildphases row id=7: 'build' is not an integer"):
        rows_frames(rows, source="server", label="rows", keep_output=True)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (inside functions too; not under TYPE_CHECKING), as
    absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(sub) for sub in ast.walk(node)}
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            out |= {f"{module}.{alias.name}" for alias in node.names} | {module}
        elif isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
    return out


def test_loaders_import_no_frames_views_or_analysis_and_only_the_database_loader_the_server():
    above = (
        "frames", "accessor", "buildview", "failures", "plots", "widgets", "report",
        "analysis_commands", "client_commands", "cli", "demo", "client",
    )  # fmt: skip
    scanned = sorted((PACKAGE / "loaders").glob("*.py"))
    # the loaders package was found (an empty scan would pass every check below)
    assert {"database.py", "savelocal.py", "reports.py"} <= {p.name for p in scanned}
    for path in scanned:
        imported = _imports(path)
        for name in above:
            hits = {m for m in imported if m.startswith(f"spackmon_analysis.{name}")}
            assert not hits, f"loaders/{path.name} imports {sorted(hits)}"
        server = {m for m in imported if m.startswith("spackmon_analysis.server")}
        if path.name in ("database.py", "summary.py"):  # the two readers of its database
            assert all(not part.startswith("_") for m in server for part in m.split(".")[2:]), (
                f"loaders/{path.name} imports a private name of the server: {sorted(server)}"
            )
        else:
            assert not server, f"loaders/{path.name} imports the server: {sorted(server)}"


def test_a_registered_source_is_found_by_load_next_to_the_others(tmp_path, monkeypatch) -> None:
    """``loaders.detect.register``: a new kind of input (here a one-line build list, a
    stand-in for a new loader module) is found by ``load()`` anywhere in a folder, loaded
    with the save-local runs beside it, and named in the note about folders holding none."""
    import shutil

    from spackmon_analysis.frames import load
    from spackmon_analysis.loaders import detect
    from spackmon_analysis.loaders.assemble import Assembler

    def build_list(root: Path, paths: list[Path], **kwargs) -> list:
        asm = Assembler(keep_output=True, rules=None)
        for path in paths:
            name, status = path.read_text().split()
            asm.add_build(
                key=f"list-{name}", build_id=None, run=None, run_time=None, full_hash=None,
                spec_name=name, spec_version=None, status=status, env={}, tags=(),
                owner=None, created_at=None, source="install", phases=[],
            )  # fmt: skip
        return [asm.result(str(root))]

    monkeypatch.setattr(detect, "SOURCES", list(detect.SOURCES))
    detect.register(
        detect.Source(
            "build list",
            lambda path: path.suffix == ".builds",
            build_list,
            "a build list (*.builds)",
            files=True,
        )
    )
    data_dir = Path(__file__).resolve().parents[1] / "data" / "save-local"
    shutil.copytree(data_dir / "v0.17.1-success-tinyapp", tmp_path / "runs" / "run1")
    (tmp_path / "lists" / "deep").mkdir(parents=True)
    (tmp_path / "lists" / "deep" / "one.builds").write_text("zlib SUCCESS\n")
    (tmp_path / "empty").mkdir()
    data = load(tmp_path)
    assert "list-zlib" in set(data.builds["build"])
    assert set(data.builds["run"].dropna()) == {"run1"}
    kinds = [source.name for source in detect.SOURCES]
    assert kinds[:2] == ["save-local run", "install prefix or stage directory"]
    assert kinds[-1] == "build list"
    assert (str(tmp_path / "empty"), f"holds no {', '.join(kinds)}; not loaded") in data.notes
    with pytest.raises(Exception, match=r"nor a build list \(\*\.builds\)"):
        load(tmp_path / "empty")


class _ServerBeforeAttempts:
    """The real client, except that the server answers 404 for the attempt routes: a server
    of the version before attempts (which this server, serving them, cannot be made into)."""

    def __init__(self, client) -> None:
        self.client = client
        self.baseurl = client.baseurl

    def pull(self, route: str, **kwargs):
        from spackmon_analysis.errors import NotFoundError

        if route.startswith("attempt"):
            raise NotFoundError(f"GET /api/{route}/: 404 Unknown data API route", status_code=404)
        return list(self.client.pull(route, **kwargs))


def test_from_client_of_a_server_before_attempts_reads_one_attempt_per_build(tmp_path) -> None:
    from spackmon_analysis import LocalMonitor

    url = _database(tmp_path / "monitor.db")
    with LocalMonitor(url) as mon:
        mon.add_user("reader")
        client = mon.client("reader")
        old = MonitorData.from_client(_ServerBeforeAttempts(client))
        new = MonitorData.from_client(client)
    assert not old.has_attempt_rows and new.has_attempt_rows
    for name in ("builds", "phases", "events"):
        pd.testing.assert_frame_equal(getattr(old, name), getattr(new, name))
    assert list(old.attempts["attempt"]) == ["1", "2"]  # derived: attempt = build
    assert list(new.attempts["attempt"]) == ["1#1", "2#1"]
    pd.testing.assert_frame_equal(
        old.attempts.drop(columns="attempt"), new.attempts.drop(columns="attempt")
    )


def test_from_client_without_logs_pulls_no_attempt_logs_either(tmp_path) -> None:
    """``keep_output=False`` leaves the logs on the server for every attempt too: the history
    frames have every attempt and phase, with the durations unknown (they come from the logs'
    stamps), as the phases frame."""
    from spackmon_analysis import LocalMonitor

    url = _database(tmp_path / "monitor.db")
    with LocalMonitor(url) as mon:
        mon.add_user("reader")
        client = mon.client("reader")
        full = MonitorData.from_client(client)
        lean = MonitorData.from_client(client, keep_output=False)
    assert len(lean.attempt_phases) == len(full.attempt_phases) == 4
    assert full.attempt_phases["duration"].notna().any()
    assert lean.attempt_phases["duration"].isna().all() and lean.phases["duration"].isna().all()
    assert list(lean.attempts["attempt"]) == list(full.attempts["attempt"])
