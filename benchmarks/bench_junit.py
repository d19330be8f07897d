"""JUnit loader benchmark: ``load_junit`` of a generated report of 1,000 packages.

The report is written from a generated save-local run (``synth.generate_save_local``: its
realistic phase logs, compiler errors in ``--failure-rate`` of the builds, their dependents
never built) the way Spack's JUnit reporter writes one: a testsuite per root spec, a
testcase per package that ran (classname, DAG hash, time), ``<failure>`` with a message and a
traceback for a failed build, the build log (phase markers plus each phase's output, the
failure message appended) in ``<system-out>``. Dependents of a failure have no testcase, as
in a real report.

Baseline, measured in the same run: the least any reader has to do, a bare XML parse of the
file (``xml.etree.ElementTree.fromstring``, no safety checks) plus ``logs.parse_log`` of every
``<system-out>``. The figure is ``load_junit`` time / baseline time (median of
``--repeats`` interleaved rounds after one warm-up); target at most 1.5x.

Run: ``python benchmarks/bench_junit.py`` (options ``--packages``, ``--phases``,
``--failure-rate``, ``--repeats``, ``--seed``, ``--profile``, ``--clock``: ``wall``, the
default, or ``cpu``, the process's CPU time, steadier on a machine shared with other jobs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from spackmon_analysis.frames import load_junit
from spackmon_analysis.loaders.junit import read_junit
from spackmon_analysis.loaders.savelocal import read_save_local
from spackmon_analysis.logs import parse_log
from spackmon_analysis.synth import generate_save_local

TRACEBACK = """Traceback (most recent call last):
  File "/home/builder/spack/lib/spack/spack/build_environment.py", line 1165, in _setup_pkg_and_run
    return_value = function(pkg, kwargs)
  File "/home/builder/spack/lib/spack/spack/installer.py", line 2483, in build_process
    return installer.run()
spack.util.executable.ProcessError: Command exited with status 2:
    'make' '-j2'"""
MESSAGE = "ProcessError: Command exited with status 2:\n    'make' '-j2'"


def _testcases(folder: Path, builds: int, phases: int, failure_rate: float, seed: int) -> list[str]:
    run_dir = generate_save_local(
        folder / f"run-{builds}",
        builds,
        phases_per_build=phases,
        seed=seed,
        failure_rate=failure_rate,
    )
    (run,) = read_save_local(run_dir)
    by_build: dict[str, list] = {}
    for phase in run.phases:
        by_build.setdefault(phase.build_key, []).append(phase)
    hashes = {}
    for graph, _version, _name in run.specs:
        for node in graph.nodes.values():
            hashes[node.key] = node.dag_hash
    cases = []
    for record in run.builds:
        phases_of = sorted(by_build.get(record.key, []), key=lambda p: p.order or 0)
        if not phases_of:  # never built: Spack's report has no testcase for it
            continue
        failed = any(p.status == "ERROR" for p in phases_of)
        # each synthetic phase output starts with Spack's phase marker, as in the build log
        log = "".join((p.output or "").rstrip("\n") + "\n" for p in phases_of)
        dag_hash = hashes.get(record.full_hash, record.full_hash)
        case = (
            f'        <testcase classname="{record.spec_name}"\n                  name="{dag_hash}"\n'
            '                  time="12.5">\n'
        )
        if failed:
            log += MESSAGE
            case += f"            <failure message={quoteattr(MESSAGE)}>\n{escape(TRACEBACK)}\n            </failure>\n"
        case += f"            <system-out>\n{escape(log)}\n            </system-out>\n        </testcase>\n"
        cases.append(case)
    return cases


def write_report(folder: Path, packages: int, phases: int, failure_rate: float, seed: int) -> Path:
    """A JUnit report of exactly ``packages`` testcases (builds whose dependencies failed
    have none, so more builds are generated until enough ran)."""
    builds = packages
    cases = _testcases(folder, builds, phases, failure_rate, seed)
    while len(cases) < packages:
        builds = builds * packages // max(len(cases), 1) + 20
        cases = _testcases(folder, builds, phases, failure_rate, seed)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
        '    <testsuite name="synthetic_abcdefg" errors="0" tests="0" failures="0" time="1.0" '
        'timestamp="Wed, 02 Dec 2026 21:49:26" >\n'
        '        <properties>\n            <property name="architecture" value="linux-debian12-zen3" />\n'
        '            <property name="compiler" value="gcc@=12.2.0" />\n        </properties>\n'
    )
    path = folder / "junit.xml"
    path.write_text(
        head + "".join(cases[:packages]) + "    </testsuite>\n</testsuites>\n", encoding="utf-8"
    )
    return path


def baseline(path: Path) -> int:
    root = ET.fromstring(path.read_bytes())
    events = 0
    for out in root.iter("system-out"):
        events += len(parse_log(out.text or ""))
    return events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packages", type=int, default=1000)
    ap.add_argument("--phases", type=int, default=5)
    ap.add_argument("--failure-rate", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = ap.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    with tempfile.TemporaryDirectory() as tmp:
        path = write_report(Path(tmp), args.packages, args.phases, args.failure_rate, args.seed)
        size = path.stat().st_size
        data = load_junit(path)  # warm-up (imports, rules)
        baseline(path)
        print(f"report: {len(data.builds)} testcases, {size / 1e6:.1f} MB; {data}")
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            load_junit(path)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            return
        base_t, load_t, read_t, ratios = [], [], [], []
        for _ in range(args.repeats):
            t0 = clock()
            baseline(path)
            t1 = clock()
            load_junit(path)
            t2 = clock()
            read_junit(path)
            t3 = clock()
            base_t.append(t1 - t0)
            load_t.append(t2 - t1)
            read_t.append(t3 - t2)
            ratios.append((t2 - t1) / (t1 - t0))

        def show(values: list[float]) -> str:
            return f"median {statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"

        print(f"clock: {args.clock}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"baseline (ET.fromstring + parse_log of every system-out): {show(base_t)}")
        print(f"load_junit: {show(load_t)}")
        print(f"  read_junit alone (XML -> records, logs cut into phases): {show(read_t)}")
        print(
            f"ratio load_junit / baseline: median {statistics.median(ratios):.2f}x "
            f"({min(ratios):.2f}x-{max(ratios):.2f}x); target at most 1.5x"
        )


if __name__ == "__main__":
    main()
