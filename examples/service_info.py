#!/usr/bin/env python
"""Print a Spack Monitor server's service info (the API tutorial's first example).

Usage: python examples/service_info.py

Reads SPACKMON_HOST (default http://127.0.0.1) and SPACKMON_PREFIX (default ms1).
"""

import json
import os
import sys

from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.errors import MonitorError


def main() -> int:
    client = SpackMonitorClient(prefix=os.environ.get("SPACKMON_PREFIX") or "ms1")
    try:
        info = client.service_info()
    except MonitorError as exc:
        print(f"Cannot get the service info: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
