"""Shared test fixtures: paths to the real Spack-written files in tests/data/; the parallel run's
plumbing (pytest-xdist, see ``addopts`` in pyproject.toml and docs/ARCHITECTURE.md "Tests").
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared helpers: testlib


def _fast_tmpdir() -> str | None:
    """Where the tests' temporary files go: ``$SPACKMON_TEST_TMPDIR`` if set, else a folder in
    ``/dev/shm`` (RAM: the SQLite databases of the tests commit without waiting for a disk
    flush; they are still real SQLite files) when it is writable with 2 GiB free, else None
    (the system's temporary folder)."""
    chosen = os.environ.get("SPACKMON_TEST_TMPDIR")
    if chosen:
        return chosen
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 << 30:
            return str(shm / f"spackmon-tests-{os.getuid()}")
    except OSError:
        return None
    return None


_TMP = _fast_tmpdir()
if _TMP:
    # before pytest picks its basetemp: tmp_path, LocalMonitor's temporary databases and the
    # subprocesses (which inherit TMPDIR) all use it
    Path(_TMP).mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = _TMP
    tempfile.tempdir = _TMP

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SPECS = DATA / "specs"
SAVE_LOCAL = DATA / "save-local"
INSTALLS = DATA / "installs"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Each test on both databases: None (a temporary SQLite file, the default of
    ``LocalMonitor``) or a URL to a PostgreSQL schema of its own that holds what a new database
    holds (``testlib.postgres_schema(prepared=True)``)."""
    if request.param == "sqlite":
        yield None
    else:
        from testlib import postgres_schema

        with postgres_schema(prepared=True) as url:
            yield url


@pytest.fixture
def data_dir() -> Path:
    """tests/data: copies of real files written by Spack 0.16.3 to 0.22.1."""
    return DATA


@pytest.fixture
def project_root() -> Path:
    return ROOT


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with the most ``slow`` tests first; otherwise collection order (a stable sort,
    each file's tests stay together and in order).

    With ``--dist loadfile`` (pyproject.toml) each file goes whole to one worker, in this order
    (``--no-loadscope-reorder``): the longest files start first instead of leaving one worker
    busy alone at the end. pytest-xdist's own order (most tests first) put the longest file,
    tests/reliability/test_stall.py with 3 tests, near the end. Every worker collects and sorts
    alike, so their collections still match.
    """
    slow = Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.path])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Report every PostgreSQL skip at one location, so ``-ra`` prints one line for all.

    pytest folds skips that share (file, line, reason); a skip raised in a fixture is placed at
    its test, so without this each PostgreSQL test would get a line of its own.
    """
    outcome = yield
    report = outcome.get_result()
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        from testlib import PG_SKIP_PREFIX, postgres_skip_location

        reason = str(longrepr[2])
        if PG_SKIP_PREFIX in reason:
            report.longrepr = (*postgres_skip_location(), reason)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop this process's pooled PostgreSQL schemas; in a pytest-xdist worker, hand the
    figures its tests measured to the controller."""
    import testlib

    testlib.drop_free_prepared()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        from testlib import figures_to_send

        workeroutput["spackmon_figures"] = figures_to_send()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """In the pytest-xdist controller: merge a finished worker's figures."""
    sent = getattr(node, "workeroutput", {}).get("spackmon_figures")
    if sent:
        from testlib import merge_figures

        merge_figures(sent)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The "reliability figures" block (and ``SPACKMON_RELIABILITY_FIGURES``'s JSON file)."""
    if hasattr(terminalreporter.config, "workeroutput"):
        return  # an xdist worker: the controller prints the figures of all workers
    from testlib import FIGURES

    figures = {k: v for k, v in sorted(FIGURES.items()) if not k.startswith("_")}
    if not figures:
        return
    terminalreporter.section("reliability figures")
    for key, value in figures.items():
        terminalreporter.write_line(f"{key}: {value}")
    target = os.environ.get("SPACKMON_RELIABILITY_FIGURES")
    if target:
        Path(target).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
