"""Without PostgreSQL, pytest's short summary says so in one line, not once per test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a pytest run of its own, on xdist workers like the README's command
def test_postgres_skips_are_one_summary_line(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SPACKMON_TEST_POSTGRES_URL", "SPACKMON_REQUIRE_POSTGRES")
    }
    # skips raised in a fixture (server tests) and inside a test body (reliability tests); only
    # their PostgreSQL variants (-k: no server starts for the SQLite ones), without plugins
    # these files do not use (their imports cost each of the three processes time); -n 2: its
    # two files, one on each worker (the README's -n 3 would start a worker with nothing to run)
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-ra", "-n", "2",
            "-p", "no:hypothesispytest", "-p", "no:anyio", "-k", "postgresql",
            "tests/server/test_spack_client_compat.py::test_spack_sees_existing_spec_and_build_as_200",
            "tests/server/test_spack_client_compat.py::test_builds_new_merges_tags_of_an_existing_build",
            "tests/reliability/test_atomicity.py::test_builds_update_fault_after_status_written",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, skipped
    assert re.match(
        r"SKIPPED \[3\] tests/testlib\.py:\d+: PostgreSQL tests skipped: "
        r"SPACKMON_TEST_POSTGRES_URL not set",
        skipped[0],
    ), skipped[0]
    assert re.search(r"^3 skipped in ", done.stdout, re.MULTILINE), done.stdout[-3000:]
