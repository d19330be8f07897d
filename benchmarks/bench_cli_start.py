"""``spackmon`` start-up: the time of ``spackmon --help`` (and of ``info``/``replay``/``serve``
``--help``) as a ratio to a bare ``python -c pass``, measured in the same run.

Each round runs every command once as a fresh process, in turn (interleaved), so a change in the
machine's load touches baseline and commands alike; the figure per command is the median over
``--repeat`` rounds of (command wall time / ``python -c pass`` wall time of the same round).
The console script is the one installed next to this Python (``spackmon``); ``--module`` runs
``python -m spackmon_analysis`` instead. Target (issue 15): ``spackmon --help`` within 5x.

Run: ``python benchmarks/bench_cli_start.py`` (options ``--repeat N``, ``--module``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["info", "--help"], ["replay", "--help"], ["serve", "--help"])


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds (default 15)")
    parser.add_argument(
        "--module", action="store_true", help="python -m spackmon_analysis, not the script"
    )
    args = parser.parse_args()
    script = Path(sys.executable).parent / "spackmon"
    if args.module or not script.exists():
        base = [sys.executable, "-m", "spackmon_analysis"]
    else:
        base = [str(script) if script.exists() else shutil.which("spackmon") or "spackmon"]
    baseline = [sys.executable, "-c", "pass"]
    for argv in COMMANDS:  # warm the file cache once
        _wall(base + argv)
    _wall(baseline)
    passes: list[float] = []
    ratios: dict[str, list[float]] = {" ".join(a): [] for a in COMMANDS}
    times: dict[str, list[float]] = {" ".join(a): [] for a in COMMANDS}
    for _ in range(args.repeat):
        reference = _wall(baseline)
        passes.append(reference)
        for argv in COMMANDS:
            took = _wall(base + argv)
            times[" ".join(argv)].append(took)
            ratios[" ".join(argv)].append(took / reference)
    print(f"runner: {' '.join(base)}; {args.repeat} interleaved rounds")
    print(f"python -c pass: median {statistics.median(passes) * 1000:.0f} ms")
    for name, values in ratios.items():
        print(
            f"spackmon {name:14s} median {statistics.median(times[name]) * 1000:4.0f} ms, "
            f"ratio median {statistics.median(values):.2f}x "
            f"(range {min(values):.2f}x-{max(values):.2f}x)"
        )
    help_ratio = statistics.median(ratios["--help"])
    print(f"target spackmon --help within 5x: {'met' if help_ratio <= 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
