"""Shared test fixtures: paths to the real Spack-written files in tests/data/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # shared helpers: testlib

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
