"""The history questions over a long history: seconds and peak memory against loading.

``python benchmarks/bench_history.py [--specs 5000] [--attempts 20] [--seed 0]``: builds a
generated history (``synth.generate_history``: ``specs`` x ``attempts`` attempts of 6 phases
each, 100,000 attempts and about 590,000 phase rows by default, with flaky, broken, fixed and
slowed-down specs), keeps its frames as plain pandas frames (object columns, as a loader
collects them), then measures in one process:

* the baseline: ``MonitorData(...)`` from those frames (bringing them to the contract's
  dtypes: what every loader ends with) plus deriving the attempt frames;
* each history question on the loaded data: ``attempt_table``, ``error_history``,
  ``flaky_builds``, ``outcome_changes``, ``slow_phases``, ``failure_trends`` (day, by
  package), ``failure_cost``, ``failure_groups``, and all of them in a row.

Seconds are wall time (``time.perf_counter``) and CPU time of the process
(``time.process_time``: on a shared machine the wall time includes waiting for a core);
memory is the peak resident set during the step above the resident set before it (Linux: the
peak ``VmHWM`` is reset through ``/proc/self/clear_refs`` and freed heap handed back with
``malloc_trim`` before each step; ``tracemalloc`` would slow the Python-level steps tenfold).
Time is given as a ratio to the baseline's; memory as a ratio to the size of the loaded
frames (``memory_usage(deep=True)`` of every frame, the history frames included), since
building ``MonitorData`` from frames already in memory shares most of their buffers and its
own peak says little. The detectors' precision and recall against the generated truth are
printed too.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import time
from collections.abc import Callable
from typing import Any

from spackmon_analysis import history
from spackmon_analysis.frames import ATTEMPT_FRAMES, MonitorData
from spackmon_analysis.synth import generate_history


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def _measure(step: Callable[[], Any]) -> tuple[float, float, int, Any]:
    gc.collect()
    _LIBC.malloc_trim(0)  # freed heap back to the system, so the resident set is what is live
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset the peak resident set (VmHWM) to the current one
    before = _status_kib("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    result = step()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = max(_status_kib("VmHWM") - before, 1) * 1024
    return elapsed, cpu, peak, result


def _plain(frame: Any) -> Any:
    out = frame.copy()
    for column in out.columns:
        if str(out[column].dtype) in ("category", "string", "str"):
            out[column] = out[column].astype(object)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=5000)
    parser.add_argument("--attempts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    truth = generate_history(args.specs, args.attempts, seed=args.seed)
    raw = {n: _plain(getattr(truth.data, n)) for n in ("specs", "builds", "phases", "events")}
    del truth.data
    print(
        f"history: {len(raw['builds']):,} attempts, {len(raw['phases']):,} phases, "
        f"{len(raw['events']):,} error events, {len(raw['specs']):,} specs"
    )

    def load() -> MonitorData:
        data = MonitorData(
            raw["specs"], None, raw["builds"], raw["phases"], raw["events"], source="bench"
        )
        data.attempts  # noqa: B018  (derives the attempt frames)
        return data

    header = f"{'step':<22} {'wall':>8}   {'cpu':>8}   {'peak':>8}      wall    cpu    mem"
    base_s, base_cpu, load_peak, data = _measure(load)
    names = ("specs", "dependencies", "builds", "phases", "events", *ATTEMPT_FRAMES)
    base_mem = sum(int(getattr(data, n).memory_usage(deep=True).sum()) for n in names)
    print(f"loaded frames: {base_mem / 2**20:.0f} MiB (memory_usage(deep=True))")
    print(header)
    print(
        f"{'load (baseline)':<22} {base_s:8.2f} s {base_cpu:8.2f} s {load_peak / 2**20:8.0f} MiB"
        f"   1.00x  1.00x {load_peak / base_mem:6.2f}x"
    )

    def line(name: str, seconds: float, cpu: float, peak: int) -> str:
        return (
            f"{name:<22} {seconds:8.2f} s {cpu:8.2f} s {peak / 2**20:8.0f} MiB "
            f"{seconds / base_s:6.2f}x {cpu / base_cpu:6.2f}x {peak / base_mem:6.2f}x"
        )

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("attempt_table", lambda: history.attempt_table(data)),
        ("error_history", lambda: history.error_history(data)),
        ("flaky_builds", lambda: history.flaky_builds(data)),
        ("outcome_changes", lambda: history.outcome_changes(data)),
        ("slow_phases", lambda: history.slow_phases(data)),
        ("failure_trends", lambda: history.failure_trends(data)),
        ("failure_cost", lambda: history.failure_cost(data)),
        ("failure_groups", lambda: history.failure_groups(data)),
    ]
    results: dict[str, Any] = {}
    for name, step in steps:
        seconds, cpu, peak, results[name] = _measure(step)
        print(line(name, seconds, cpu, peak))
    print(line("all questions", *_measure(lambda: [step() for _, step in steps])[:3]))

    flaky = set(results["flaky_builds"]["full_hash"])
    hit = len(flaky & set(truth.flaky))
    print(
        f"flaky: precision {hit / max(len(flaky), 1):.3f}, recall {hit / len(truth.flaky):.3f} "
        f"({len(flaky)} found, {len(truth.flaky)} seeded)"
    )
    slow = results["slow_phases"]
    alarms = slow[slow["alarm"]]
    alarmed: dict[tuple[str, str], bool] = {}
    for key, phase, seq in zip(alarms["key"], alarms["phase"], alarms["seq"], strict=True):
        start = truth.slowdowns.get((key, phase))
        ok = start is not None and start <= seq <= start + 5
        alarmed[(key, phase)] = alarmed.get((key, phase), False) or ok
    correct = sum(alarmed.values())
    print(
        f"slowdowns: precision {correct / max(len(alarmed), 1):.3f}, recall "
        f"{correct / len(truth.slowdowns):.3f} ({len(alarmed)} alarmed, "
        f"{len(truth.slowdowns)} injected)"
    )


if __name__ == "__main__":
    main()
