"""Reliability tests (issue 7): fuzzing, atomicity, concurrency, crash safety, auth, limits.

The figures the tests measure (cases fuzzed per endpoint, clients, rows compared...) are printed
in a "reliability figures" block at the end of the run and, when ``SPACKMON_RELIABILITY_FIGURES``
names a file, written there as JSON (docs/reliability.md quotes them).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import relhelp  # noqa: E402


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001
    figures = {k: v for k, v in sorted(relhelp.FIGURES.items()) if not k.startswith("_")}
    if not figures:
        return
    terminalreporter.section("reliability figures")
    for key, value in figures.items():
        terminalreporter.write_line(f"{key}: {value}")
    target = os.environ.get("SPACKMON_RELIABILITY_FIGURES")
    if target:
        Path(target).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
