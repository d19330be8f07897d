"""Spec reader benchmark: a 5,000-node document (JSON bytes) into a SpecGraph plus both frames.

The figure is a ratio to a bare ``json.loads`` of the same bytes, measured in the same run
(median of ``--repeats`` runs each). Run: ``python benchmarks/bench_spec.py`` (options:
``--nodes``, ``--era``, ``--repeats``, ``--seed``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from spackmon_analysis.spec import load_spec
from spackmon_analysis.synth import ERAS, generate_spec_document


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--era", choices=ERAS, default=None, help="default: every era")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    eras = [args.era] if args.era else list(ERAS)
    print(f"{'era':5s} {'MB':>6s} {'json.loads':>11s} {'load_spec':>10s} {'+frames':>9s} "
          f"{'ratio':>6s} {'ratio+frames':>13s}")
    for era in eras:
        data = json.dumps(generate_spec_document(args.nodes, era=era, seed=args.seed)).encode()

        def full(data: bytes = data) -> None:
            g = load_spec(data)
            g.nodes_frame()
            g.edges_frame()

        base = _median(lambda data=data: json.loads(data), args.repeats)
        spec_only = _median(lambda data=data: load_spec(data), args.repeats)
        with_frames = _median(full, args.repeats)
        print(f"{era:5s} {len(data) / 1e6:6.2f} {base * 1000:9.1f}ms {spec_only * 1000:8.1f}ms "
              f"{with_frames * 1000:7.1f}ms {spec_only / base:6.2f} {with_frames / base:13.2f}")


if __name__ == "__main__":
    main()
