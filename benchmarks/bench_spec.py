"""Spec reader benchmark: a 5,000-node document (JSON bytes) into a SpecGraph plus both frames.

The figure is a ratio to a bare ``json.loads`` of the same bytes, measured in the same run
(median of ``--repeats`` runs each). ``load_spec`` pauses the cyclic garbage collector while
it runs, so two baselines are reported: ``json.loads`` as a user calls it (collector on) and
``json.loads`` with the collector paused the same way (the like-for-like comparison).
Run: ``python benchmarks/bench_spec.py`` (options: ``--nodes``, ``--era``, ``--repeats``,
``--seed``, ``--clock``). ``--clock cpu`` times with ``time.process_time`` (this process's CPU
time): on a shared, loaded machine the wall clock also counts the time other processes hold
the cores, and its ratios then move by a third between runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

from spackmon_analysis.spec import load_spec
from spackmon_analysis.synth import ERAS, generate_spec_document

_CLOCK = time.perf_counter


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = _CLOCK()
        fn()
        times.append(_CLOCK() - start)
    return statistics.median(times)


def _loads_gc_off(data: bytes) -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        json.loads(data)
    finally:
        if was:
            gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--era", choices=ERAS, default=None, help="default: every era")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    global _CLOCK
    _CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    eras = [args.era] if args.era else list(ERAS)
    print(
        f"{'era':5s} {'MB':>6s} {'loads':>8s} {'loads/gc-off':>12s} {'load_spec':>10s} "
        f"{'+frames':>9s} | ratios vs loads: {'load':>5s} {'+frames':>7s} | "
        f"vs gc-off loads: {'load':>5s} {'+frames':>7s}"
    )
    for era in eras:
        data = json.dumps(generate_spec_document(args.nodes, era=era, seed=args.seed)).encode()

        def full(data: bytes = data) -> None:
            g = load_spec(data)
            g.nodes_frame()
            g.edges_frame()

        base = _median(lambda data=data: json.loads(data), args.repeats)
        base_off = _median(lambda data=data: _loads_gc_off(data), args.repeats)
        spec_only = _median(lambda data=data: load_spec(data), args.repeats)
        with_frames = _median(full, args.repeats)
        print(
            f"{era:5s} {len(data) / 1e6:6.2f} {base * 1000:6.1f}ms {base_off * 1000:10.1f}ms "
            f"{spec_only * 1000:8.1f}ms {with_frames * 1000:7.1f}ms | {'':16s} "
            f"{spec_only / base:5.2f} {with_frames / base:7.2f} | {'':15s} "
            f"{spec_only / base_off:5.2f} {with_frames / base_off:7.2f}"
        )


if __name__ == "__main__":
    main()
