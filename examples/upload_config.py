#!/usr/bin/env python
"""Upload a spec file to a Spack Monitor server (the API tutorial's second example).

Usage: python examples/upload_config.py SPECFILE [SPACK_VERSION]

Without SPACK_VERSION, the output of ``spack --version`` is used when spack is on PATH.
Credentials come from SPACKMON_USER and SPACKMON_TOKEN; the server from SPACKMON_HOST.

Prints "The package was successfully created." and the new spec as JSON, or
"This package already exists in the database."
"""

import json
import os
import shutil
import subprocess
import sys

from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.errors import SpackmonError


def spack_version() -> str | None:
    """``spack --version`` when spack is on PATH, else None."""
    spack = shutil.which("spack")
    if not spack:
        return None
    try:
        done = subprocess.run([spack, "--version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    version = (
        done.stdout.strip().split()[0] if done.returncode == 0 and done.stdout.strip() else None
    )
    return version


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("Usage: upload_config.py SPECFILE [SPACK_VERSION]", file=sys.stderr)
        return 2
    specfile = argv[0]
    version = argv[1] if len(argv) == 2 else spack_version()
    if not version:
        print(
            "No spack version given and spack is not on PATH: pass it as the second "
            "argument, e.g. upload_config.py SPECFILE $(spack --version)",
            file=sys.stderr,
        )
        return 2

    client = SpackMonitorClient(prefix=os.environ.get("SPACKMON_PREFIX") or "ms1")
    try:
        response = client.upload_specfile(specfile, version)
    except SpackmonError as exc:
        print(f"Upload failed: {exc}", file=sys.stderr)
        return 1

    data = response.get("data") or {}
    if data.get("created", response.get("code") == 201):
        print("The package was successfully created.")
        spec = data.get("spec") or {}
        shown = {
            "message": response.get("message", "success"),
            "data": {
                key: spec.get(key)
                for key in ("full_hash", "name", "version", "spack_version", "specs")
            },
        }
        print(json.dumps(shown, indent=4))
    else:
        print("This package already exists in the database.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
