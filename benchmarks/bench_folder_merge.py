"""The merge of ``load(folder)``: install-tree builds against save-local builds.

``python benchmarks/bench_folder_merge.py [--small 400] [--large 4000]``: times
``loaders.detect._merge_directories_into_runs`` on N install builds (5 phases each) and one
save-local build sharing a DAG hash with one of them, for a small and a large N, and
prints the ratio of the two times. Linear work gives about large/small (10x by default);
the old per-build mask over every phase row gave about (large/small)^2.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from spackmon_analysis import frames
from spackmon_analysis.loaders import detect


def _data(n: int) -> frames.MonitorData:
    keys = [f"{i:032d}" for i in range(n)]
    builds = pd.DataFrame(
        {
            "build": [*keys, "run0"],
            "source": ["install"] * n + ["save-local"],
            "dag_hash": [*keys, keys[0]],
            "run": [None] * n + ["r"],
            "run_time": pd.NaT,
            "spec_name": "x",
        }
    )
    names = ["edit", "build", "install", "check", "installcheck"]
    phases = pd.DataFrame(
        {
            "build": [k for k in [*keys, "run0"] for _ in names],
            "name": names * (n + 1),
            "output": "log",
            "output_size": 3,
        }
    )
    return frames.MonitorData(builds=builds, phases=phases)


def _time(n: int) -> float:
    data = _data(n)
    start = time.perf_counter()
    merged = detect._merge_directories_into_runs(data, {})
    elapsed = time.perf_counter() - start
    assert len(merged.builds) == n  # the twin was merged
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=400)
    parser.add_argument("--large", type=int, default=4000)
    args = parser.parse_args()
    small, large = _time(args.small), _time(args.large)
    print(f"{args.small} install builds: {small:.3f} s")
    print(f"{args.large} install builds: {large:.3f} s")
    print(f"ratio {large / small:.1f}x for {args.large / args.small:.0f}x the builds")


if __name__ == "__main__":
    main()
