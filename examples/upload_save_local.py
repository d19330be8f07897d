#!/usr/bin/env python
"""Replay a ``spack install --monitor --monitor-save-local`` directory to a server.

Usage: python examples/upload_save_local.py ~/.spack/reports/monitor/2021-06-14-17-02-27-1623711747/

The directory may also hold many runs (``~/.spack/reports/monitor/``): they are
uploaded in timestamp order. Uploads the specs, creates each build, then sends the
phase logs and build statuses. Credentials come from SPACKMON_USER and
SPACKMON_TOKEN; the server from SPACKMON_HOST.
"""

import os
import sys

from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.errors import SpackmonError


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print("Usage: upload_save_local.py DIR [DIR ...]", file=sys.stderr)
        return 2
    client = SpackMonitorClient(prefix=os.environ.get("SPACKMON_PREFIX") or "ms1")
    try:
        summary = client.upload_local_save(argv)
    except SpackmonError as exc:
        print(f"Upload failed: {exc}", file=sys.stderr)
        return 1
    print(repr(summary))  # the table, and a note naming builds whose state changed
    return 1 if summary.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
