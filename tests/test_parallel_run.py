"""The test command runs on pytest-xdist workers: what the tests measure still reaches the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

_FILE = """
import os

import testlib


def test_{name}():
    testlib.add_figure("counted: one per file", 1)
    testlib.record_figure("recorded by {name}", os.environ["PYTEST_XDIST_WORKER"])
"""


def test_figures_of_every_worker_reach_the_summary(tmp_path: Path) -> None:
    """Two files on two workers (``--dist loadfile``): the controller prints and writes the
    figures of both, and a counting figure is their sum (before, the summary of a parallel
    run held only the controller's figures: none)."""
    for name in ("first", "second"):
        (tmp_path / f"test_{name}.py").write_text(_FILE.format(name=name))
    target = tmp_path / "figures.json"
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        SPACKMON_RELIABILITY_FIGURES=str(target),
    )
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "conftest",
            # plugins these two files do not use (their imports cost about 1 CPU-s a process)
            "-p", "no:nbval", "-p", "no:hypothesispytest", "-p", "no:anyio",
            "-q", "-n", "2", "--dist", "loadfile", "test_first.py", "test_second.py",
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout
    assert "reliability figures" in done.stdout
    assert "counted: one per file: 2" in done.stdout
    figures = json.loads(target.read_text())
    assert figures["counted: one per file"] == 2
    workers = {figures["recorded by first"], figures["recorded by second"]}
    assert workers <= {"gw0", "gw1"}, workers
