"""Fixtures for the client tests: the real embedded monitor on a loopback port."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# make tests/client/client_testlib.py importable from the test modules
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def shared_monitor():
    """One embedded monitor for the tests that only add data (no counting)."""
    from spackmon_analysis.server import LocalMonitor

    with LocalMonitor() as mon:
        mon.test_token = mon.add_user("alice")
        yield mon


@pytest.fixture
def monitor():
    """A fresh embedded monitor (empty database) for tests that count what they create."""
    from spackmon_analysis.server import LocalMonitor

    with LocalMonitor() as mon:
        mon.test_token = mon.add_user("alice")
        yield mon


@pytest.fixture
def client(shared_monitor):
    """A client of the shared monitor with alice's credentials and no progress bars."""
    from spackmon_analysis.client import SpackMonitorClient

    with SpackMonitorClient(
        host=shared_monitor.url,
        username="alice",
        token=shared_monitor.test_token,
        progress=False,
        backoff=0,
    ) as c:
        yield c
