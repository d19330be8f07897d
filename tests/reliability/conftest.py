"""Reliability tests (issue 7): fuzzing, atomicity, concurrency, crash safety, auth, limits.

The figures the tests measure (cases fuzzed per endpoint, clients, rows compared...) are printed
in a "reliability figures" block at the end of the run and, when ``SPACKMON_RELIABILITY_FIGURES``
names a file, written there as JSON (docs/reliability.md quotes them). tests/conftest.py prints
them, after collecting them from every pytest-xdist worker (``testlib.FIGURES``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
