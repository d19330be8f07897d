"""Peak memory of reading a JUnit report near the 256 MiB size cap (issue 12).

The report: the testcases of ``bench_junit.py`` (a report written the way Spack's JUnit
reporter writes one, from the realistic phase logs of a generated save-local run), repeated
with fresh DAG hashes until the file reaches ``--mib`` MiB (default 250; the loaders refuse
files over 256 MiB). Each measurement runs in a fresh Python process and reports the growth of
its peak resident set size (``ru_maxrss``) over the process after its imports:

- ``parse``: the bare ``xml.etree.ElementTree.fromstring`` of the file's bytes (the least a
  reader holding the whole tree needs);
- ``read_junit``: the loader's XML -> records step (safe parse, logs cut into phases);
- ``load_junit``: the whole load into ``MonitorData`` (the frames keep every log's text, so
  the file's text is held at least once by the result itself);
- ``load_junit_no_output``: ``load_junit(keep_output=False)``.

The figure is the peak growth as a multiple of the file size. Run:
``python benchmarks/bench_junit_memory.py [--mib 250] [--modes ...]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_junit import _testcases  # noqa: E402

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def _hash(copy: int, index: int) -> str:
    digest = hashlib.sha256(f"{copy}/{index}".encode()).digest()
    return "".join(_ALPHABET[b % 32] for b in digest)[:32]


def write_big_report(folder: Path, mib: float, seed: int = 3) -> Path:
    """A JUnit report of about ``mib`` MiB: the testcases of 1,000 generated builds,
    repeated with a fresh DAG hash per testcase."""
    cases = _testcases(folder, 1000, 5, 0.05, seed)
    target = int(mib * 1024 * 1024)
    path = folder / "big-junit.xml"
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
        '    <testsuite name="synthetic_abcdefg" errors="0" tests="0" failures="0" time="1.0" '
        'timestamp="Wed, 02 Dec 2026 21:49:26" >\n'
        '        <properties>\n            <property name="architecture" value="linux-debian12-zen3" />\n'
        '            <property name="compiler" value="gcc@=12.2.0" />\n        </properties>\n'
    )
    tail = "    </testsuite>\n</testsuites>\n"
    size = len(head) + len(tail)
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(head)
        copy = 0
        while size < target:
            for index, case in enumerate(cases):
                start = case.index('\n                  name="') + len('\n                  name="')
                end = case.index('"', start)
                text = case[:start] + _hash(copy, index) + case[end:]
                out.write(text)
                size += len(text.encode())
                count += 1
                if size >= target:
                    break
            copy += 1
        out.write(tail)
    return path


_CHILD = r"""
import json, resource, sys, xml.etree.ElementTree as ET
from pathlib import Path
mode, path = sys.argv[1], Path(sys.argv[2])
from spackmon_analysis.frames import load_junit
from spackmon_analysis.loaders.junit import read_junit
import pandas  # noqa: F401  (imports done before the first reading)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if mode == "parse":
    result = ET.fromstring(path.read_bytes())
elif mode == "read_junit":
    result = read_junit(path)
elif mode == "load_junit":
    result = load_junit(path)
elif mode == "load_junit_no_output":
    result = load_junit(path, keep_output=False)
else:
    raise SystemExit(f"unknown mode {mode}")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if mode == "parse":
    count = sum(1 for _ in result.iter("testcase"))
else:
    count = len(result.builds)
print(json.dumps({"before_kib": before, "peak_kib": after, "builds": count}))
"""


def measure(mode: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=float, default=250.0)
    ap.add_argument(
        "--modes", nargs="*", default=["parse", "read_junit", "load_junit", "load_junit_no_output"]
    )
    ap.add_argument("--dir", help="folder for the generated report (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = write_big_report(Path(tmp), args.mib)
        size = path.stat().st_size
        print(f"report: {size / 2**20:.1f} MiB")
        for mode in args.modes:
            got = measure(mode, path)
            grown = (got["peak_kib"] - got["before_kib"]) * 1024
            print(
                f"{mode}: peak RSS {got['peak_kib'] / 1024:.0f} MiB "
                f"(+{grown / 2**20:.0f} MiB over the imports) = {grown / size:.2f}x the file; "
                f"{got['builds']} testcases/builds"
            )


if __name__ == "__main__":
    main()
