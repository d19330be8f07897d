"""Shared test fixtures: paths to the real Spack-written files in tests/data/."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
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


@pytest.fixture
def data_dir() -> Path:
    """tests/data: copies of real files written by Spack 0.16.3 to 0.22.1."""
    return DATA


@pytest.fixture
def project_root() -> Path:
    return ROOT


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
