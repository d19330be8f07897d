"""Upload benchmark: ``client.upload(run)`` against ``client.upload_local_save(run)``.

Both send the same save-local run (``synth.generate_save_local``: realistic phase logs,
compiler errors in ``--failure-rate`` of the builds) to a fresh embedded monitor (in-process:
the real application and SQLite database, no socket), so both send the same requests: the
replay from the files' own bodies, the upload from what ``load()`` made of them (frames, then
runs of requests, spec documents read again from the spec files). The figure is the upload's
time / the replay's time (median of ``--repeats`` interleaved rounds after one warm-up), for
the first send and for a second send of the same files (which creates nothing).

Run: ``python benchmarks/bench_upload.py`` (options ``--builds``, ``--phases``,
``--failure-rate``, ``--repeats``, ``--seed``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from spackmon_analysis import LocalMonitor
from spackmon_analysis.synth import generate_save_local


def _round(run: Path, kind: str) -> tuple[float, float]:
    """Seconds of the first and of the second send of ``run`` to a fresh monitor."""
    with LocalMonitor(in_process=True) as mon:
        mon.add_user("bench")
        client = mon.client("bench", progress=False)
        send = client.upload if kind == "upload" else client.upload_local_save
        times = []
        for _ in range(2):
            start = time.perf_counter()
            summary = send(run)
            times.append(time.perf_counter() - start)
            assert not summary.problems, summary.problems[:3]
        return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=300)
    parser.add_argument("--phases", type=int, default=5)
    parser.add_argument("--failure-rate", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = generate_save_local(
            Path(tmp) / "run",
            args.builds,
            phases_per_build=args.phases,
            seed=args.seed,
            failure_rate=args.failure_rate,
        )
        _round(run, "replay")  # warm-up: imports, the first database
        _round(run, "upload")
        rows: dict[str, list[tuple[float, float]]] = {"replay": [], "upload": []}
        for _ in range(args.repeats):
            for kind in ("replay", "upload"):
                rows[kind].append(_round(run, kind))
    for index, what in enumerate(("first send", "second send (nothing new)")):
        replay = statistics.median(r[index] for r in rows["replay"])
        upload = statistics.median(r[index] for r in rows["upload"])
        ratios = [u[index] / r[index] for r, u in zip(rows["replay"], rows["upload"], strict=True)]
        print(
            f"{what}: replay median {replay:.2f} s, upload median {upload:.2f} s: "
            f"{upload / replay:.2f}x (rounds {min(ratios):.2f}x-{max(ratios):.2f}x)"
        )


if __name__ == "__main__":
    main()
