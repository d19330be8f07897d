"""Loader benchmark: ``load_save_local`` of a large synthetic save-local directory.

The directory is written by ``synth.generate_save_local`` (``--runs`` runs of ``--builds``
builds x ``--phases`` phases, ``--failure-rate`` of builds failing with a compiler error).
The baseline, measured in the same run, is the least any loader has to do: ``json.loads``
of every file plus ``logs.parse_log`` of every phase output. The figure is
``load_save_local`` time / baseline time (median of ``--repeats`` interleaved runs each, after one warm-up), also with
``keep_output=False``; the time of ``savelocal.read_save_local`` alone (files -> records,
spec documents parsed, log timestamps read) shows what the frames add on top.

Run: ``python benchmarks/bench_frames.py`` (options: ``--runs``, ``--builds``, ``--phases``,
``--failure-rate``, ``--repeats``, ``--seed``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from spackmon_analysis.frames import load_save_local
from spackmon_analysis.logs import parse_log
from spackmon_analysis.savelocal import read_save_local
from spackmon_analysis.synth import generate_save_local


def _interleaved(fns, repeats: int) -> list[float]:
    """Median time of each function, running them in turn (so load drift hits all alike)."""
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:  # warm-up: imports, compiled rules, caches
        fn()
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def baseline(root: Path) -> int:
    """json.loads every file, parse_log every phase output; returns the event count."""
    events = 0
    for run in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(run.iterdir()):
            doc = json.loads(file.read_text(encoding="utf-8"))
            if "-phase-" in file.name and isinstance(doc, dict) and doc.get("output"):
                events += len(parse_log(doc["output"]))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--builds", type=int, default=500, help="builds per run")
    parser.add_argument("--phases", type=int, default=5)
    parser.add_argument("--failure-rate", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-frames-") as tmp:
        root = Path(tmp)
        for i in range(args.runs):
            # Spack's run directory names: <%Y-%m-%d-%H-%M-%S-epoch>
            epoch = 1795140000 + i * 86400
            stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(epoch))
            generate_save_local(
                root / f"{stamp}-{epoch}",
                args.builds,
                phases_per_build=args.phases,
                seed=args.seed + i,
                failure_rate=args.failure_rate,
            )
        files = sum(1 for run in root.iterdir() for _ in run.iterdir())
        size = sum(f.stat().st_size for run in root.iterdir() for f in run.iterdir())

        data = load_save_local(root)
        n_events = baseline(root)
        assert len(data.events) == n_events, (len(data.events), n_events)
        print(
            f"{args.runs} runs, {len(data.builds)} builds, {len(data.phases)} phases, "
            f"{len(data.events)} events, {files} files, {size / 1e6:.1f} MB"
        )
        print({k: int(v) for k, v in data.builds["outcome"].value_counts().items()})

        base, reader, full, light = _interleaved(
            [
                lambda: baseline(root),
                lambda: read_save_local(root),
                lambda: load_save_local(root),
                lambda: load_save_local(root, keep_output=False),
            ],
            args.repeats,
        )
        print(f"{'variant':42s} {'time':>8s} {'ratio':>6s}")
        print(f"{'baseline: json.loads + parse_log':42s} {base:7.2f}s {1.0:6.2f}")
        print(f"{'  of which savelocal.read_save_local':42s} {reader:7.2f}s {reader / base:6.2f}")
        print(f"{'load_save_local':42s} {full:7.2f}s {full / base:6.2f}")
        print(f"{'load_save_local(keep_output=False)':42s} {light:7.2f}s {light / base:6.2f}")


if __name__ == "__main__":
    main()
