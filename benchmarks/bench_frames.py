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

``--large`` (issue 5) measures ``MonitorData.from_database`` instead: a server database
(SQLite file, schema created by ``server.tables.Store``, rows written straight with
``sqlite3.executemany``, not through HTTP) is seeded with ``--large-builds`` builds (default
100,000) and exactly six times as many phases (600,000): 25,000 specs with dependency edges,
4 build environments, short Spack-style phase logs with ``==> [timestamp]`` lines, 2% of builds
failing with a compiler error in their ``build`` phase (status FAILED, later phases never sent),
6% of the others with a seventh phase, compiler warnings in 3% of ``build`` phases, and the
error/warning rows the server would store (``logs.parse_log`` of those outputs). Every variant
then runs in a fresh subprocess (``--large-repeats`` times, interleaved) which reports its time
and peak memory (``ru_maxrss`` after the call minus before it, i.e. what the call added to the
process's high-water mark); ``--trace`` adds one more run per variant under ``tracemalloc``
(peak of Python allocations; slower, so its time is not reported). Baselines in the same run:
``sqlite3`` ``fetchall`` of the six queries the data API routes run (same joins and columns) and
``pandas.read_sql_query`` of the same queries. ``--profile`` prints a cProfile of one
``from_database`` call. ``--db PATH`` keeps (and reuses) the seeded file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from spackmon_analysis.frames import load_save_local
from spackmon_analysis.loaders.savelocal import read_save_local
from spackmon_analysis.logs import parse_log
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


# ------------------------------------------------------------------------------------------
# --large: MonitorData.from_database on a seeded server database (issue 5)

_PACKAGES = (
    "zlib",
    "bzip2",
    "xz",
    "zstd",
    "libiconv",
    "ncurses",
    "readline",
    "openssl",
    "curl",
    "libxml2",
    "pcre2",
    "sqlite",
    "gdbm",
    "expat",
    "libffi",
    "gettext",
    "hdf5",
    "netcdf-c",
    "fftw",
    "openblas",
    "lapack",
    "mpich",
    "openmpi",
    "hwloc",
    "libevent",
    "boost",
    "cmake",
    "python",
    "perl",
    "m4",
    "autoconf",
    "automake",
    "libtool",
    "pkgconf",
    "tar",
    "git",
    "libpng",
    "libjpeg-turbo",
    "freetype",
    "fontconfig",
    "cairo",
    "pixman",
    "glib",
    "harfbuzz",
)
_ENVS = (
    ("node01", "ubuntu22.04", "linux", "zen3", "#1 SMP PREEMPT_DYNAMIC @0"),
    ("node02", "ubuntu22.04", "linux", "zen3", "#1 SMP PREEMPT_DYNAMIC @0"),
    ("login1", "rhel8", "linux", "skylake_avx512", "#1 SMP Tue Jun 6 2023"),
    ("ci-runner", "debian12", "linux", "x86_64_v3", "#1 SMP Debian 6.1.90-1"),
)
_COMPILERS = (("gcc", "12.2.0"), ("gcc", "11.4.0"), ("clang", "16.0.6"))
_ERROR_TEXT = (
    "{f}.c: In function '{f}_init':\n{f}.c:{ln}:3: error: expected ';' before 'return'\n"
    "make: *** [Makefile:41: {f}.o] Error 1",
    "{f}.c:{ln}:10: fatal error: mpi.h: No such file or directory\ncompilation terminated.\n"
    "make: *** [Makefile:41: {f}.o] Error 1",
    "/usr/bin/ld: {f}.o: in function `{f}_init':\n{f}.c:(.text+0x1a): undefined reference to "
    "`H5open'\ncollect2: error: ld returned 1 exit status\nmake: *** [Makefile:77: lib{f}.so] "
    "Error 1",
)
_WARNING_TEXT = "{f}.c:{ln}:7: warning: unused variable 'tmp' [-Wunused-variable]"
_NOW = "2026-12-01 00:00:00.000000"


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d-%H:%M:%S.%f")


def _db_time(t: dt.datetime) -> str:
    # the text form SQLAlchemy's SQLite DateTime type writes and reads back
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def _phase_output(
    rng: random.Random,
    phase: str,
    name: str,
    prefix: str,
    clock: dt.datetime,
    error: bool,
    warning: bool,
) -> tuple[str, dt.datetime]:
    src = name.replace("-", "_")
    lines = [f"==> {name}: Executing phase: '{phase}'"]
    if phase == "autoreconf":
        lines.append(f"==> [{_stamp(clock)}] 'autoreconf' '-ivf'")
    elif phase == "configure":
        lines += [
            f"==> [{_stamp(clock)}] './configure' '--prefix={prefix}'",
            "checking for gcc... gcc",
            "config.status: creating Makefile",
        ]
    elif phase == "build":
        lines.append(f"==> [{_stamp(clock)}] 'make' '-j2'")
        lines += [f"gcc -O2 -fPIC -c -o {src}_{k}.o {src}_{k}.c" for k in range(rng.randint(1, 3))]
        if warning:
            lines.append(_WARNING_TEXT.format(f=f"{src}_0", ln=rng.randint(3, 400)))
        if error:
            text = rng.choice(_ERROR_TEXT).format(f=f"{src}_0", ln=rng.randint(3, 400))
            lines += text.split("\n")
    elif phase in ("check", "installcheck"):
        lines += [f"==> [{_stamp(clock)}] 'make' '-j2' '{phase}'", "PASS: test_basic"]
    else:  # install, post-install
        lines += [f"==> [{_stamp(clock)}] 'make' '-j2' 'install'", f"cp lib{src}.so {prefix}/lib/"]
    if not error:
        clock += dt.timedelta(milliseconds=rng.randint(5, 9000))
        lines.append(f"==> [{_stamp(clock)}] Running on_phase_success {name}, phase {phase}")
    return "\n".join(lines) + "\n", clock


def seed_database(path: Path, n_builds: int, seed: int = 0) -> dict[str, int]:
    """Write a server database with ``n_builds`` builds and ``6 * n_builds`` phases."""
    from spackmon_analysis.logs import parse_log
    from spackmon_analysis.server.auth import add_user
    from spackmon_analysis.server.tables import Store

    store = Store.open(f"sqlite:///{path}")
    add_user(store, "bench")
    store.dispose()

    rng = random.Random(f"bench-frames-large-{seed}-{n_builds}")
    n_envs = len(_ENVS)
    n_specs = -(-n_builds // n_envs)
    spec_rows, dep_rows = [], []
    for i in range(1, n_specs + 1):
        name = f"{rng.choice(_PACKAGES)}"
        version = f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
        full = hashlib.sha1(f"{seed}-full-{i}".encode()).hexdigest()[:32]
        dag = hashlib.sha1(f"{seed}-dag-{i}".encode()).hexdigest()[:32]
        comp, comp_version = _COMPILERS[i % len(_COMPILERS)]
        env = _ENVS[i % n_envs]
        params = json.dumps({"cflags": [], "shared": True, "patches": []})
        spec_rows.append(
            (
                i,
                name,
                version,
                full,
                dag,
                dag,
                dag,
                full,
                "0.17.1",
                "builtin",
                comp,
                comp_version,
                env[2],
                env[1],
                env[3],
                params,
                0,
                None,
                int(i % 40 == 1),
                _NOW,
            )
        )
        # a DAG: every spec depends on 0-3 specs later in the table
        children = {
            rng.randint(i + 1, min(i + 60, n_specs))
            for _ in range(rng.randint(0, 3))
            if i < n_specs
        }
        for child in sorted(children):
            deptypes = '["build", "link"]' if rng.random() < 0.8 else '["build"]'
            dep_rows.append((len(dep_rows) + 1, i, child, deptypes, "[]"))

    phases = ("autoreconf", "configure", "build", "check", "install", "post-install")
    n_fail = n_builds // 50  # 2% stop at an ERROR build phase (3 phases instead of 6)
    failing = set(rng.sample(range(1, n_builds + 1), n_fail))
    others = [b for b in range(1, n_builds + 1) if b not in failing]
    extra = set(rng.sample(others, 3 * n_fail))  # ... and 3x as many get a 7th phase
    build_rows, phase_rows, event_rows = [], [], []
    clock = dt.datetime(2026, 11, 1, 6, 0, 0)
    for b in range(1, n_builds + 1):
        spec_id = (b - 1) % n_specs + 1
        env_id = (b - 1) // n_specs + 1
        spec = spec_rows[spec_id - 1]
        name = spec[1]
        prefix = f"/opt/spack/linux-{spec[13]}-{spec[14]}/{spec[10]}-{spec[11]}/{name}-{spec[2]}"
        created = _db_time(clock)
        names = phases[:3] if b in failing else phases + (("installcheck",) if b in extra else ())
        for phase in names:
            clock += dt.timedelta(milliseconds=rng.randint(3, 4000))
            error = b in failing and phase == "build"
            warning = phase == "build" and rng.random() < 0.03
            output, clock = _phase_output(rng, phase, name, prefix, clock, error, warning)
            phase_id = len(phase_rows) + 1
            when = _db_time(clock)
            phase_rows.append(
                (phase_id, b, phase, "ERROR" if error else "SUCCESS", output, when, when)
            )
            if error or warning:
                for ev in parse_log(output):
                    event_rows.append(
                        (
                            len(event_rows) + 1,
                            ev.kind,
                            b,
                            phase_id,
                            ev.text,
                            ev.line_no,
                            ev.source_file,
                            ev.source_line_no,
                            json.dumps(list(ev.pre_context)),
                            json.dumps(list(ev.post_context)),
                            ev.repeat_count,
                            json.dumps(list(ev.classes)),
                        )
                    )
        status = "FAILED" if b in failing else "SUCCESS"
        build_rows.append(
            (
                b,
                spec_id,
                env_id,
                1,
                status,
                '["synthetic"]',
                "0.17.1",
                None,
                created,
                _db_time(clock),
            )
        )

    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO specs (id, name, version, full_hash, hash, build_hash, dag_hash, "
            "package_hash, spack_version, namespace, compiler_name, compiler_version, platform, "
            "os, target, parameters, external, external_path, is_root, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            spec_rows,
        )
        con.executemany(
            "INSERT INTO dependencies (id, spec_id, dependency_id, deptypes, virtuals) "
            "VALUES (?, ?, ?, ?, ?)",
            dep_rows,
        )
        con.executemany(
            "INSERT INTO build_environments (id, hostname, host_os, platform, host_target, "
            "kernel_version) VALUES (?, ?, ?, ?, ?, ?)",
            [(i + 1, *env) for i, env in enumerate(_ENVS)],
        )
        con.executemany(
            "INSERT INTO builds (id, spec_id, build_environment_id, owner_id, status, tags, "
            "spack_version, config_args, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            build_rows,
        )
        con.executemany(  # each build's one attempt (schema 2)
            "INSERT INTO build_attempts (id, build_id, number, status, latest, started_at, "
            "created_at, updated_at) VALUES (?, ?, 1, ?, 1, ?, ?, ?)",
            [(b[0], b[0], b[4], b[8], b[8], b[9]) for b in build_rows],
        )
        con.executemany(
            "INSERT INTO build_phases (id, build_id, attempt_id, name, status, output, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(p[0], p[1], p[1], *p[2:]) for p in phase_rows],
        )
        con.executemany(
            "INSERT INTO build_events (id, kind, build_id, phase_id, text, line_no, source_file, "
            "source_line_no, pre_context, post_context, repeat_count, classes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            event_rows,
        )
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {
        "specs": len(spec_rows),
        "dependencies": len(dep_rows),
        "builds": len(build_rows),
        "phases": len(phase_rows),
        "error phases": n_fail,
        "events": len(event_rows),
        "output MB": round(sum(len(r[4]) for r in phase_rows) / 1e6, 1),
    }


# the queries the data API routes run (server/queries/rows.py), as plain SQL
_SQL = {
    "specs": "SELECT * FROM specs ORDER BY id",
    "dependencies": (
        "SELECT d.*, p.full_hash AS spec_full_hash, c.full_hash AS dependency_full_hash, "
        "p.name AS spec_name, c.name AS dependency_name FROM dependencies d "
        "JOIN specs p ON p.id = d.spec_id JOIN specs c ON c.id = d.dependency_id ORDER BY d.id"
    ),
    "builds": (
        "SELECT b.*, s.name AS spec_name, s.version AS spec_version, s.full_hash, e.hostname, "
        "e.host_os, e.platform, e.host_target, e.kernel_version, u.username AS owner "
        "FROM builds b JOIN specs s ON s.id = b.spec_id "
        "JOIN build_environments e ON e.id = b.build_environment_id "
        "JOIN users u ON u.id = b.owner_id ORDER BY b.id"
    ),
    "buildphases": (
        "SELECT *, coalesce(length(output), 0) AS output_size FROM build_phases ORDER BY id"
    ),
    "buildphases-no-output": (
        "SELECT id, build_id, name, status, created_at, updated_at, "
        "coalesce(length(output), 0) AS output_size FROM build_phases ORDER BY id"
    ),
    "builderrors": (
        "SELECT ev.*, ph.name AS phase_name FROM build_events ev "
        "JOIN build_phases ph ON ph.id = ev.phase_id WHERE ev.kind = 'error' ORDER BY ev.id"
    ),
    "buildwarnings": (
        "SELECT ev.*, ph.name AS phase_name FROM build_events ev "
        "JOIN build_phases ph ON ph.id = ev.phase_id WHERE ev.kind = 'warning' ORDER BY ev.id"
    ),
}
_ROUTES = ("specs", "dependencies", "builds", "buildphases", "builderrors", "buildwarnings")


def _queries(with_output: bool) -> list[str]:
    return [
        _SQL[r if with_output or r != "buildphases" else "buildphases-no-output"] for r in _ROUTES
    ]


def _fetchall(db: str, with_output: bool = True) -> int:
    con = sqlite3.connect(db)
    try:
        return sum(len(con.execute(q).fetchall()) for q in _queries(with_output))
    finally:
        con.close()


def _read_sql(db: str) -> int:
    import pandas as pd

    con = sqlite3.connect(db)
    try:
        return sum(len(pd.read_sql_query(q, con)) for q in _queries(True))
    finally:
        con.close()


def _read_rows(db: str) -> int:
    from spackmon_analysis.server.queries import read_rows

    return sum(len(list(read_rows(f"sqlite:///{db}", r))) for r in _ROUTES)


def _from_database(db: str, keep_output: bool = True) -> int:
    from spackmon_analysis.frames import MonitorData

    data = MonitorData.from_database(f"sqlite:///{db}", keep_output=keep_output)
    return len(data.builds) + len(data.phases)


LARGE_VARIANTS = {
    "fetchall": ("baseline: sqlite3 fetchall of the 6 queries", _fetchall),
    "fetchall-no-output": (
        "baseline: same, phases without output",
        lambda db: _fetchall(db, with_output=False),
    ),
    "read_sql": ("baseline: pandas.read_sql_query, same", _read_sql),
    "read_rows": ("store.read_rows (6 routes, dicts)", _read_rows),
    "from_database": ("MonitorData.from_database", _from_database),
    "from_database-no-output": (
        "from_database(keep_output=False)",
        lambda db: _from_database(db, keep_output=False),
    ),
}


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def large_child(variant: str, db: str, trace: bool, profile: bool) -> None:
    """One measurement in this (fresh) process; prints a JSON line."""
    import gc
    import tracemalloc

    import pandas  # noqa: F401  (imports are not part of any variant)

    import spackmon_analysis.frames  # noqa: F401
    import spackmon_analysis.server.queries  # noqa: F401

    fn = LARGE_VARIANTS[variant][1]
    gc.collect()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        fn(db)
        prof.disable()
        stats = pstats.Stats(prof, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(30)
        return
    if trace:
        tracemalloc.start()
    before = _maxrss_mb()
    start = time.perf_counter()
    rows = fn(db)
    seconds = time.perf_counter() - start
    result = {"seconds": seconds, "maxrss_delta_mb": _maxrss_mb() - before, "rows": rows}
    if trace:
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps(result))


def _run_child(variant: str, db: Path, *, trace: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--large-child", variant, "--db", str(db)]
    if trace:
        cmd.append("--trace")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_large(args: argparse.Namespace) -> None:
    tmp = None
    if args.db:
        db = Path(args.db)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-frames-large-")
        db = Path(tmp.name) / "spackmon.db"
    try:
        if not db.exists():
            start = time.perf_counter()
            counts = seed_database(db, args.large_builds, seed=args.seed)
            print(f"seeded {db} in {time.perf_counter() - start:.0f} s: {counts}")
        print(f"database file: {db.stat().st_size / 1e6:.0f} MB")
        if args.profile:
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--large-child",
                    "from_database",
                    "--db",
                    str(db),
                    "--profile",
                ],
                check=True,
            )
            return
        variants = list(LARGE_VARIANTS)
        runs: dict[str, list[dict]] = {v: [] for v in variants}
        for _ in range(args.large_repeats):
            for v in variants:  # interleaved, so load drift hits all alike
                runs[v].append(_run_child(v, db))
                print(f"  {v}: {runs[v][-1]}", flush=True)
        traced = {v: _run_child(v, db, trace=True) for v in variants} if args.trace else {}
        base_t = statistics.median(r["seconds"] for r in runs["fetchall"])
        base_m = statistics.median(r["maxrss_delta_mb"] for r in runs["fetchall"])
        print(
            f"{args.large_repeats} fresh-process runs per variant; time and maxrss delta: "
            "median [min-max]; ratios of medians to the fetchall baseline"
        )
        print(
            f"{'variant':44s} {'time s':>20s} {'ratio':>6s} {'maxrss+ MB':>20s} {'ratio':>6s}"
            + (f" {'traced MB':>10s}" if traced else "")
        )
        for v in variants:
            t = [r["seconds"] for r in runs[v]]
            m = [r["maxrss_delta_mb"] for r in runs[v]]
            line = (
                f"{LARGE_VARIANTS[v][0]:44s} "
                f"{f'{statistics.median(t):.2f} [{min(t):.2f}-{max(t):.2f}]':>20s} "
                f"{statistics.median(t) / base_t:6.2f} "
                f"{f'{statistics.median(m):.0f} [{min(m):.0f}-{max(m):.0f}]':>20s} "
                f"{statistics.median(m) / base_m:6.2f}"
            )
            if traced:
                line += f" {traced[v]['traced_peak_mb']:10.0f}"
            print(line)
    finally:
        if tmp is not None:
            tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--builds", type=int, default=500, help="builds per run")
    parser.add_argument("--phases", type=int, default=5)
    parser.add_argument("--failure-rate", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--large", action="store_true", help="from_database on a seeded database")
    parser.add_argument("--large-builds", type=int, default=100_000)
    parser.add_argument("--large-repeats", type=int, default=3)
    parser.add_argument("--db", help="--large: database file to use (seeded when missing)")
    parser.add_argument("--trace", action="store_true", help="--large: one tracemalloc run each")
    parser.add_argument("--profile", action="store_true", help="--large: cProfile from_database")
    parser.add_argument("--large-child", choices=list(LARGE_VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.large_child:
        large_child(args.large_child, args.db, args.trace, args.profile)
        return
    if args.large:
        run_large(args)
        return

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
