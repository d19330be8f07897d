"""Build-log parsing throughput: parse_log vs. the every-rule-on-every-line scan.

Generates a seeded, realistic build log (autotools and CMake compile lines, libtool
and make chatter, configure checks, warnings with their source and caret lines,
notes, and now and then a failed compile with its make error), writes it to a
temporary file, then parses the same file with

* ``parse_log`` (keyword prefilter over large blocks, full rules on candidate lines)
* ``scan_log_naive`` (every error/warning rule and exception tried on every line)

asserts that both return exactly the same events, and prints MB/s for both and the
ratio. Usage::

    python benchmarks/bench_logs.py [--mb 100] [--seed 7] [--repeat 1] [--gzip]
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spackmon_analysis.logs import parse_log, scan_log_naive  # noqa: E402

PREFIX = "/home/builder/spack/opt/spack/linux-ubuntu22.04-zen3/gcc-12.2.0"
STAGE = (
    "/tmp/builder/spack-stage/spack-stage-libbig-3.4.1-ab3dk2lq7xmyzp5vfw4hqzv2ckuoyt6n/spack-src"
)
WRAPPER = "/home/builder/spack/lib/spack/env/gcc/gcc"
FLAGS = [
    "-DHAVE_CONFIG_H -I. -I.. -I../include",
    "-O2 -g -pipe -march=znver3 -mtune=znver3",
    "-Wall -Wextra -Werror=format-security -Wno-error=deprecated-declarations",
    "-fPIC -DPIC -fvisibility=hidden -std=gnu11",
    "-Wall -Wshadow -Wno-unused-parameter",
]
DIRS = ["src", "src/core", "src/util", "lib/io", "lib/error", "tests", "src/parser"]
WORDS = ["alloc", "buffer", "hash", "io", "list", "map", "parse", "stream", "table", "cache"]
# a few sources are named after errors and warnings, as real projects' are
ODD_NAMES = ["error", "warnings", "fatal_error", "undefined"]
WARNINGS = [
    ("unused variable '{v}'", "-Wunused-variable"),
    ("'{v}' may be used uninitialized", "-Wmaybe-uninitialized"),
    ("comparison of integer expressions of different signedness", "-Wsign-compare"),
    ("implicit declaration of function 'error_{v}'", "-Wimplicit-function-declaration"),
    ("'{v}' is deprecated", "-Wdeprecated-declarations"),
    ("declaration of '{v}' shadows a previous local", "-Wshadow"),
]
ERRORS = [
    "'{v}' undeclared (first use in this function)",
    "expected ';' before '}}' token",
    "conflicting types for '{v}'",
    "{v}.h: No such file or directory",
]


def _name(rng: random.Random) -> str:
    if rng.random() < 0.02:
        return rng.choice(ODD_NAMES)
    return f"{rng.choice(WORDS)}_{rng.choice(WORDS)}{rng.randrange(100)}"


def generate_log(path: Path, megabytes: float, seed: int = 7, compress: bool = False) -> int:
    """Write a realistic build log of about ``megabytes`` MB; returns its size in bytes."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    size = 0
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8") as out:
        lines: list[str] = [
            "==> libbig: Executing phase: 'autoreconf'",
            "==> libbig: Executing phase: 'configure'",
            f"==> [2026-11-28-06:01:27.188067] '{STAGE}/configure' '--prefix={PREFIX}/libbig-3.4.1'",
        ]
        for check in (
            "checking for gcc... " + WRAPPER,
            "checking whether the C compiler works... yes",
            "checking for strerror_r... yes",
            "checking whether strerror_r returns char *... yes",
            "checking for error_at_line... yes",
            "checking for library containing dlopen... -ldl",
            "configure: WARNING: unrecognized options: --enable-shared-warnings",
            "config.status: creating Makefile",
        ):
            lines.append(check)
        lines.append("==> libbig: Executing phase: 'build'")
        lines.append("==> [2026-11-28-06:01:29.875639] 'make' '-j16' 'V=1'")
        step = 0
        while True:
            step += 1
            for line in lines:
                out.write(line)
                out.write("\n")
                size += len(line) + 1
            if size >= target:
                break
            lines = []
            d = rng.choice(DIRS)
            f = _name(rng)
            r = rng.random()
            if r < 0.45:
                lines.append(
                    f"libtool: compile:  {WRAPPER} {rng.choice(FLAGS)} {rng.choice(FLAGS)} "
                    f"-I{PREFIX}/zlib-1.2.13-{_name(rng)}/include -c {d}/{f}.c "
                    f"-fPIC -DPIC -o {d}/.libs/{f}.o"
                )
            elif r < 0.60:
                lines.append(f"  CC       {d}/{f}.lo")
            elif r < 0.70:
                pct = (step // 100) % 100
                lines.append(f"[{pct:3d}%] Building C object {d}/CMakeFiles/big.dir/{f}.c.o")
                lines.append(
                    f"{WRAPPER} -DBIG_EXPORTS {rng.choice(FLAGS)} -o {d}/CMakeFiles/big.dir/{f}.c.o "
                    f"-c {STAGE}/{d}/{f}.c"
                )
            elif r < 0.78:
                verb = rng.choice(["Entering", "Leaving"])
                lines.append(f"make[{rng.randrange(1, 4)}]: {verb} directory '{STAGE}/{d}'")
            elif r < 0.83:
                v = _name(rng)
                msg, flag = rng.choice(WARNINGS)
                ln = rng.randrange(1, 20000)
                col = rng.randrange(1, 40)
                if rng.random() < 0.3:
                    lines.append(f"{d}/{f}.c: In function '{v}_init':")
                lines.append(f"{d}/{f}.c:{ln}:{col}: warning: {msg.format(v=v)} [{flag}]")
                lines.append(f"{ln:5d} |     int {v} = compute_{v}(ctx);")
                lines.append("      |         ^~~~")
                if rng.random() < 0.2:
                    lines.append(f"{d}/{f}.h:{rng.randrange(1, 400)}:5: note: declared here")
            elif r < 0.86:
                lines.append(f"  CCLD     lib{f}.la")
                lines.append(f"ar cru .libs/lib{f}.a {d}/{f}.o {d}/error_{f}.o")
                lines.append(f"ranlib .libs/lib{f}.a")
            elif r < 0.9999:
                lines.append(
                    f"/bin/bash ../libtool  --tag=CC   --mode=link {WRAPPER}  -O2 -g "
                    f"-Wl,--no-undefined -o lib{f}.la -rpath {PREFIX}/libbig-3.4.1/lib {d}/{f}.lo -lm"
                )
            else:
                v = _name(rng)
                ln = rng.randrange(1, 30000)
                lines.append(f"{d}/{f}.c: In function '{v}':")
                lines.append(
                    f"{d}/{f}.c:{ln}:{rng.randrange(1, 30)}: error: {rng.choice(ERRORS).format(v=v)}"
                )
                lines.append(f"{ln:5d} |   return {v};")
                lines.append("      |          ^")
                lines.append(
                    f"make[2]: *** [Makefile:{rng.randrange(100, 2000)}: {d}/{f}.lo] Error 1"
                )
                lines.append(
                    f"make[1]: *** [Makefile:{rng.randrange(100, 2000)}: all-recursive] Error 1"
                )
    return os.path.getsize(path)


def _timed(fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="log size in MB (default 100)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of parse_log (best kept)")
    parser.add_argument(
        "--gzip", action="store_true", help="also time the same log gzip-compressed"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spack-build-out.txt"
        t0 = time.perf_counter()
        nbytes = generate_log(path, args.mb, args.seed)
        mb = nbytes / 1e6
        print(f"generated {mb:.1f} MB log in {time.perf_counter() - t0:.1f} s (seed {args.seed})")

        fast_times = []
        fast = None
        for _ in range(max(1, args.repeat)):
            dt, fast = _timed(parse_log, path)
            fast_times.append(dt)
        fast_t = min(fast_times)
        slow_t, slow = _timed(scan_log_naive, path)

        assert fast is not None
        if [e.to_dict() for e in fast] != [e.to_dict() for e in slow]:
            print("MISMATCH: parse_log and the naive scan disagree", file=sys.stderr)
            return 1
        errors = sum(1 for e in fast if e.kind == "error")
        warnings = len(fast) - errors
        repeats = sum(e.repeat_count for e in fast)
        print(
            f"events: {len(fast)} distinct ({errors} errors, {warnings} warnings), {repeats} with repeats"
        )
        print(f"parse_log      : {fast_t:7.2f} s  {mb / fast_t:7.1f} MB/s")
        print(f"naive scan     : {slow_t:7.2f} s  {mb / slow_t:7.1f} MB/s")
        print(f"speed-up       : {slow_t / fast_t:7.1f}x  (same events: yes)")
        if args.gzip:
            gz = Path(tmp) / "spack-build-out.txt.gz"
            generate_log(gz, args.mb, args.seed, compress=True)
            gz_t, gz_events = _timed(parse_log, gz)
            assert [e.to_dict() for e in gz_events] == [e.to_dict() for e in fast]
            print(f"parse_log .gz  : {gz_t:7.2f} s  {mb / gz_t:7.1f} MB/s (uncompressed MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
