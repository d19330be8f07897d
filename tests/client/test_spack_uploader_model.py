"""The benchmark's baseline, ``benchmarks/spack_uploader.py``, is a faithful model of Spack's
``spack monitor upload``: its requests in Spack's order over a real socket, and the same rows on
the server as our client's replay of the same runs (so the benchmark compares like with like).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from client_testlib import SAVE_LOCAL, SUCCESS_RUN, table_rows

from spackmon_analysis.localmonitor import LocalMonitor

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def uploader_module():
    spec = importlib.util.spec_from_file_location(
        "spack_uploader", BENCHMARKS / "spack_uploader.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("spack_uploader", module)
    spec.loader.exec_module(module)
    return module


#: Arrival times, and the run's date our replay gives each run's attempt (``run_time``,
#: ``started_at``), which Spack's uploader has no field for: the rest is the same.
ARRIVAL = frozenset({"started_at", "reopened_at", "run_time"})


def test_the_model_speaks_as_spack_does(uploader_module):
    with LocalMonitor() as mon:
        token = mon.add_user("alice")
        uploader = uploader_module.SpackUploader(mon.url, "alice", token)
        uploader.upload_local_save(SUCCESS_RUN)
    trace = uploader.trace
    assert trace[:4] == [
        ("GET", "/ms1/", 200),  # get_client asks the service info
        ("POST", "/ms1/specs/new/", 401),  # the first write goes without credentials
        ("GET", "/ms1/auth/token/", 200),  # the realm of the challenge, Basic user:token
        ("POST", "/ms1/specs/new/", 201),  # retried with the bearer, which is kept
    ]
    paths = [path for _method, path, _status in trace[3:]]
    files = sorted(p.name for p in SUCCESS_RUN.glob("*.json"))
    # every file once, in Spack's groups: specs, build metadata, phases, statuses
    kinds = ["spec", "build-metadata", "phase", "status"]
    expected_groups = [
        sum(1 for f in files if f.startswith("spec")),
        sum(1 for f in files if f.startswith("build-metadata")),
        sum(1 for f in files if "-phase-" in f),
        sum(1 for f in files if f.endswith("-status.json")),
    ]
    order = {
        "/ms1/specs/new/": 0,
        "/ms1/builds/new/": 1,
        "/ms1/builds/phases/update/": 2,
        "/ms1/builds/update/": 3,
    }
    groups = [order[p] for p in paths]
    assert groups == sorted(groups), "Spack sends all specs, then builds, phases, statuses"
    assert [groups.count(i) for i in range(4)] == expected_groups, kinds
    assert all(status in (200, 201) for _m, _p, status in trace[3:])
    assert uploader.requests == len(trace) == 3 + len(files)


def test_the_model_leaves_the_rows_our_replay_leaves(uploader_module):
    with LocalMonitor() as spack_side:
        token = spack_side.add_user("alice")
        uploader_module.SpackUploader(spack_side.url, "alice", token).upload_local_save(SAVE_LOCAL)
        theirs = table_rows(spack_side, ARRIVAL)
    with LocalMonitor(in_process=True) as ours:
        ours.add_user("alice")
        summary = ours.client("alice").upload_local_save(SAVE_LOCAL)
        mine = table_rows(ours, ARRIVAL)
    assert not summary.problems
    assert theirs == mine
