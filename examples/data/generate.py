#!/usr/bin/env python3
"""Rebuild the bundled example data deterministically.

Writes, in the exact formats Spack 0.17.1 uses (see ``tests/data/README.md``):

* ``save-local/<YYYY-MM-DD-HH-MM-SS-epoch>/``: six ``spack install --monitor
  --monitor-save-local`` runs over a 20-package stack, built with ``gcc@12.2.0`` on
  ``icelake`` and ``clang@14.0.6`` on ``zen3``;
* ``installs/opt/spack/<arch>/<compiler>/<name>-<version>-<hash>/.spack/``: the metadata
  folders of every successful install, and ``installs/stage/spack-stage-...``: the logs
  the last failed build of each spec left in its stage directory;
* ``manifest.json``: what each run contains (the story below), for readers and docs.

The story the runs tell:

1. gcc/icelake ``python``: 14 packages built from scratch, all succeed.
2. gcc/icelake ``hdf5``: ``openmpi`` fails in ``build`` with a compiler error (an
   ``ERROR`` phase and no status file); ``hdf5`` depends on it and never builds
   (status ``FAILED``, no phases).
3. clang/zen3 ``python``: ``sqlite`` is ``Killed`` (out of memory) while compiling the
   amalgamation; ``python`` never builds.
4. clang/zen3 ``python`` again: ``sqlite`` now succeeds (it is flaky), ``python`` builds.
5. clang/zen3 ``hdf5``: everything builds; ``hdf5`` succeeds with many compiler warnings.
6. gcc/icelake ``hdf5`` again: ``openmpi`` fails again with the same error.

Run ``python examples/data/generate.py`` from the repository root; it rewrites
``examples/data/`` and the packaged copy of the runs, ``spackmon_analysis/data/examples/``
(``save-local/`` and ``manifest.json``). Every
value (hashes, timestamps, durations) comes from a seeded random generator, so two
runs write byte-identical files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20211
SPACK_VERSION = "0.17.1"
ROOT = Path("/home/builder/spack")
HERE = Path(__file__).resolve().parent
PACKAGED = HERE.parent.parent / "spackmon_analysis" / "data" / "examples"

ICELAKE = {
    "name": "icelake",
    "vendor": "GenuineIntel",
    "features": sorted(
        "adx aes avx avx2 avx512_bitalg avx512_vbmi2 avx512_vnni avx512_vpopcntdq avx512bw "
        "avx512cd avx512dq avx512f avx512ifma avx512vbmi avx512vl bmi1 bmi2 clflushopt clwb "
        "f16c fma gfni mmx movbe pclmulqdq popcnt rdpid rdrand rdseed sha_ni sse sse2 sse4_1 "
        "sse4_2 ssse3 umip vaes vpclmulqdq xsavec xsaveopt".split()
    ),
    "generation": 0,
    "parents": ["cascadelake", "cannonlake"],
}
ZEN3 = {
    "name": "zen3",
    "vendor": "AuthenticAMD",
    "features": sorted(
        "abm aes avx avx2 bmi1 bmi2 clflushopt clwb clzero cx16 f16c fma fsgsbase mmx movbe "
        "pclmulqdq popcnt rdseed sse sse2 sse4_1 sse4_2 sse4a ssse3 sha vaes vpclmulqdq "
        "xsavec xsaveopt".split()
    ),
    "generation": 0,
    "parents": ["zen2"],
}

# name: (version, build system, dependencies, variants)
PACKAGES: dict[str, tuple[str, str, list[str], dict]] = {
    "zlib": ("1.2.11", "makefile", [], {"optimize": True, "pic": True, "shared": True}),
    "bzip2": ("1.0.8", "makefile", [], {"debug": False, "pic": False, "shared": True}),
    "xz": ("5.2.5", "autotools", [], {"libs": "shared,static", "pic": False}),
    "libiconv": ("1.16", "autotools", [], {"libs": "shared,static"}),
    "pkgconf": ("1.8.0", "autotools", [], {}),
    "ncurses": ("6.2", "autotools", ["pkgconf"], {"symlinks": False, "termlib": True}),
    "readline": ("8.1", "autotools", ["ncurses"], {}),
    "openssl": ("1.1.1l", "makefile", ["zlib"], {"certs": "system", "docs": False}),
    "sqlite": (
        "3.36.0",
        "autotools",
        ["readline", "zlib"],
        {"column_metadata": True, "fts": True, "functions": False, "rtree": False},
    ),
    "libffi": ("3.3", "autotools", [], {}),
    "expat": ("2.4.1", "autotools", [], {"libbsd": False}),
    "gdbm": ("1.19", "autotools", ["readline"], {}),
    "libxml2": ("2.9.12", "autotools", ["libiconv", "pkgconf", "xz", "zlib"], {"python": False}),
    "python": (
        "3.8.12",
        "autotools",
        [
            "bzip2",
            "expat",
            "gdbm",
            "libffi",
            "ncurses",
            "openssl",
            "readline",
            "sqlite",
            "xz",
            "zlib",
        ],
        {"optimizations": False, "shared": True, "tkinter": False},
    ),
    "numactl": ("2.0.14", "autotools", [], {}),
    "libpciaccess": ("0.16", "autotools", ["pkgconf"], {}),
    "hwloc": (
        "2.6.0",
        "autotools",
        ["libpciaccess", "libxml2", "ncurses", "pkgconf"],
        {"cairo": False, "cuda": False, "libxml2": True, "pci": True, "shared": True},
    ),
    "openmpi": (
        "4.1.1",
        "autotools",
        ["hwloc", "numactl", "zlib"],
        {"fabrics": "none", "schedulers": "none", "static": False},
    ),
    "cmake": (
        "3.21.4",
        "cmake-bootstrap",
        ["ncurses", "openssl"],
        {"doc": False, "ncurses": True, "openssl": True, "ownlibs": True},
    ),
    "hdf5": (
        "1.10.7",
        "cmake",
        ["cmake", "openmpi", "zlib"],
        {"api": "none", "cxx": False, "fortran": False, "hl": False, "mpi": True, "shared": True},
    ),
}
BUILD_ONLY = {
    ("hdf5", "cmake"),
    ("ncurses", "pkgconf"),
    ("libxml2", "pkgconf"),
    ("hwloc", "pkgconf"),
    ("libpciaccess", "pkgconf"),
}

COMPILERS = {
    "gcc": {"name": "gcc", "version": "12.2.0", "cc": "gcc", "target": ICELAKE, "hostname": "vm"},
    "clang": {
        "name": "clang",
        "version": "14.0.6",
        "cc": "clang",
        "target": ZEN3,
        "hostname": "epyc",
    },
}

# (start time, compiler, root, tags, failures {package: kind})
RUNS = [
    (datetime(2026, 11, 20, 2, 0, 11), "gcc", "python", "nightly,gcc", {}),
    (datetime(2026, 11, 21, 2, 0, 7), "gcc", "hdf5", "nightly,gcc", {"openmpi": "compile"}),
    (datetime(2026, 11, 22, 3, 15, 42), "clang", "python", "nightly,clang", {"sqlite": "killed"}),
    (datetime(2026, 11, 23, 3, 15, 9), "clang", "python", "nightly,clang,retry", {}),
    (datetime(2026, 11, 24, 3, 16, 30), "clang", "hdf5", "nightly,clang", {}),
    (datetime(2026, 11, 25, 2, 0, 14), "gcc", "hdf5", "nightly,gcc,retry", {"openmpi": "compile"}),
]
WARNING_HEAVY = ("clang", "hdf5")


def b32(*parts: str, n: int = 32) -> str:
    """A Spack-looking lowercase base32 hash of ``parts``."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:n]


@dataclass
class Node:
    name: str
    compiler: str
    version: str = ""
    system: str = ""
    deps: list[str] = field(default_factory=list)
    variants: dict = field(default_factory=dict)
    hash: str = ""
    full_hash: str = ""
    build_hash: str = ""
    package_hash: str = ""


def build_nodes(compiler: str) -> dict[str, Node]:
    """Concretize the whole stack for one compiler (hashes depend on the dependencies)."""
    nodes: dict[str, Node] = {}

    def visit(name: str) -> Node:
        if name in nodes:
            return nodes[name]
        version, system, deps, variants = PACKAGES[name]
        children = [visit(d) for d in sorted(deps)]
        c = COMPILERS[compiler]
        base = [
            name,
            version,
            c["name"],
            c["version"],
            c["target"]["name"],
            json.dumps(variants, sort_keys=True),
        ]
        link = [ch.hash for ch in children if (name, ch.name) not in BUILD_ONLY]
        node = Node(name, compiler, version, system, sorted(deps), variants)
        node.hash = b32("hash", *base, *link)
        node.build_hash = (
            node.hash if not children else b32("build", *base, *[ch.build_hash for ch in children])
        )
        node.full_hash = b32("full", *base, *[ch.full_hash for ch in children])
        node.package_hash = b32("package", name, version, n=52) + "===="
        nodes[name] = node
        return node

    for name in PACKAGES:
        visit(name)
    return nodes


def traverse(nodes: dict[str, Node], root: str) -> list[Node]:
    """Preorder, dependencies by name, each node once: the order Spack writes nodes."""
    seen: list[str] = []

    def go(name: str) -> None:
        if name in seen:
            return
        seen.append(name)
        for d in nodes[name].deps:
            go(d)

    go(root)
    return [nodes[n] for n in seen]


def node_dict(node: Node, nodes: dict[str, Node]) -> dict:
    c = COMPILERS[node.compiler]
    params = dict(node.variants)
    for flag in ("cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs"):
        params[flag] = []
    out: dict = {
        "name": node.name,
        "version": node.version,
        "arch": {"platform": "linux", "platform_os": "debian12", "target": c["target"]},
        "compiler": {"name": c["name"], "version": c["version"]},
        "namespace": "builtin",
        "parameters": params,
        "package_hash": node.package_hash,
    }
    if node.deps:
        out["dependencies"] = [
            {
                "name": d,
                "full_hash": nodes[d].full_hash,
                "type": ["build"] if (node.name, d) in BUILD_ONLY else ["build", "link"],
            }
            for d in node.deps
        ]
    out["hash"] = node.hash
    out["full_hash"] = node.full_hash
    out["build_hash"] = node.build_hash
    return out


def spec_document(nodes: dict[str, Node], root: str) -> dict:
    return {"_meta": {"version": 2}, "nodes": [node_dict(n, nodes) for n in traverse(nodes, root)]}


def prefix(node: Node) -> Path:
    c = COMPILERS[node.compiler]
    arch = f"linux-debian12-{c['target']['name']}"
    return (
        ROOT
        / "opt"
        / "spack"
        / arch
        / f"{c['name']}-{c['version']}"
        / f"{node.name}-{node.version}-{node.hash}"
    )


def stage(node: Node) -> Path:
    return ROOT / "stage" / "root" / f"spack-stage-{node.name}-{node.version}-{node.hash}"


class Clock:
    """Seeded wall clock advancing by plausible amounts."""

    def __init__(self, start: datetime, rng: random.Random):
        self.now = start.replace(microsecond=rng.randrange(1_000_000))
        self.rng = rng

    def tick(self, low: float, high: float) -> str:
        self.now += timedelta(seconds=self.rng.uniform(low, high))
        return self.now.strftime("%Y-%m-%d-%H:%M:%S.%f")


def phases_for(node: Node) -> list[str]:
    return {
        "makefile": ["edit", "build", "install"],
        "autotools": ["autoreconf", "configure", "build", "install"],
        "cmake": ["cmake", "build", "install"],
        "cmake-bootstrap": ["bootstrap", "build", "install"],
    }[node.system]


def cc(node: Node) -> str:
    c = COMPILERS[node.compiler]["cc"]
    return str(ROOT / "lib" / "spack" / "env" / c / c)


def sources(node: Node, rng: random.Random, n: int) -> list[str]:
    pool = {
        "zlib": [
            "adler32",
            "crc32",
            "deflate",
            "infback",
            "inffast",
            "inflate",
            "inftrees",
            "trees",
            "zutil",
            "compress",
            "uncompr",
            "gzclose",
            "gzlib",
            "gzread",
            "gzwrite",
        ],
        "bzip2": [
            "blocksort",
            "huffman",
            "crctable",
            "randtable",
            "compress",
            "decompress",
            "bzlib",
        ],
        "openssl": [
            "crypto/aes/aes_core",
            "crypto/bn/bn_add",
            "crypto/evp/digest",
            "ssl/ssl_lib",
            "ssl/s3_lib",
            "crypto/x509/x509_vfy",
        ],
        "sqlite": ["sqlite3", "shell"],
        "hdf5": [
            "H5",
            "H5A",
            "H5AC",
            "H5B",
            "H5C",
            "H5D",
            "H5Dchunk",
            "H5Dmpio",
            "H5F",
            "H5FD",
            "H5FDmpio",
            "H5G",
            "H5HF",
            "H5O",
            "H5S",
            "H5T",
            "H5Z",
        ],
        "openmpi": [
            "opal/runtime/opal_init",
            "opal/mca/base/mca_base_var",
            "ompi/mpi/c/init",
            "ompi/mca/pml/ob1/pml_ob1",
            "orte/runtime/orte_init",
        ],
        "python": [
            "Python/ceval",
            "Python/compile",
            "Objects/dictobject",
            "Objects/listobject",
            "Modules/_sqlite/connection",
            "Modules/_ssl",
        ],
    }.get(
        node.name,
        ["lib/" + node.name.replace("lib", "") + s for s in ("", "_util", "_io", "_core", "_hash")],
    )
    return [pool[i % len(pool)] for i in range(min(n, len(pool)))]


def phase_log(
    node: Node, phase: str, clock: Clock, rng: random.Random, *, fail: str | None, warn: bool
) -> tuple[str, str]:
    """One phase's output (as ``output`` and as ``spack-build-NN-<phase>-out.txt``)."""
    pfx = prefix(node)
    src = stage(node) / "spack-src"
    cmp = cc(node)
    lines = [f"==> {node.name}: Executing phase: '{phase}'"]
    if phase == "edit":
        lines.append(
            f"==> [{clock.tick(0.001, 0.01)}] Using default implementation: skipping edit phase."
        )
    elif phase == "autoreconf":
        pass
    elif phase == "configure":
        lines.append(f"==> [{clock.tick(0.01, 0.05)}] '{src}/configure' '--prefix={pfx}'")
        for check in (
            "checking for a BSD-compatible install... /usr/bin/install -c",
            "checking whether build environment is sane... yes",
            f"checking for gcc... {cmp}",
            "checking whether the C compiler works... yes",
            "checking for C compiler default output file name... a.out",
            "checking for suffix of object files... o",
            "checking how to run the C preprocessor... " + cmp + " -E",
            "checking for stdlib.h... yes",
            "checking for unistd.h... yes",
            "config.status: creating Makefile",
            "config.status: creating config.h",
        ):
            lines.append(check)
        clock.tick(2, 25)
    elif phase in ("cmake", "bootstrap"):
        if phase == "cmake":
            lines.append(
                f"==> [{clock.tick(0.01, 0.05)}] 'cmake' '-G' 'Unix Makefiles' '-DCMAKE_INSTALL_PREFIX:STRING={pfx}' '-DCMAKE_BUILD_TYPE:STRING=RelWithDebInfo' '{src}'"
            )
            lines += [
                f"-- The C compiler identification is {COMPILERS[node.compiler]['name'].upper() if node.compiler == 'gcc' else 'Clang'} {COMPILERS[node.compiler]['version']}",
                "-- Detecting C compiler ABI info",
                "-- Detecting C compiler ABI info - done",
                f"-- Check for working C compiler: {cmp} - skipped",
                "-- Found MPI_C: "
                + str(prefix(build_nodes(node.compiler)["openmpi"]) / "lib" / "libmpi.so")
                + ' (found version "3.1")',
                "-- Configuring done",
                "-- Generating done",
                f"-- Build files have been written to: {stage(node) / ('spack-build-' + node.hash[:7])}",
            ]
        else:
            lines.append(
                f"==> [{clock.tick(0.01, 0.05)}] '{src}/bootstrap' '--prefix={pfx}' '--parallel=2' '--no-system-libs'"
            )
            lines += [
                "---------------------------------------------",
                "CMake 3.21.4, Copyright 2000-2021 Kitware, Inc. and Contributors",
                f"C compiler on this system is: {cmp}",
                "---------------------------------------------",
                "CMake has bootstrapped.  Now run gmake.",
            ]
        clock.tick(5, 40)
    elif phase == "build":
        lines.append(
            f"==> [{clock.tick(0.01, 0.05)}] 'make' '-j2'"
            + (" 'V=1'" if node.system == "autotools" and rng.random() < 0.3 else "")
        )
        files = sources(node, rng, 8 if fail == "compile" else 12)
        for i, s in enumerate(files):
            if node.system == "cmake":
                pct = int(100 * (i + 1) / (len(files) + 1))
                lines.append(
                    f"[{pct:3d}%] Building C object src/CMakeFiles/hdf5-shared.dir/{s}.c.o"
                )
            elif node.system == "autotools":
                lines.append(f"  CC       {s.rsplit('/', 1)[-1]}.lo")
            else:
                lines.append(f"{cmp} -O2 -fPIC -c -o {s.rsplit('/', 1)[-1]}.o {s}.c")
            if warn:
                f = f"{src}/src/{s}.c"
                line = rng.randrange(80, 4000)
                kind = rng.choice(
                    [
                        ("variable 'ret_value' set but not used", "-Wunused-but-set-variable"),
                        (
                            "implicit conversion loses integer precision: 'hsize_t' (aka 'unsigned long long') to 'size_t'",
                            "-Wshorten-64-to-32",
                        ),
                        (
                            "comparison of integers of different signs: 'int' and 'size_t'",
                            "-Wsign-compare",
                        ),
                        ("unused parameter 'dxpl_id'", "-Wunused-parameter"),
                    ]
                )
                lines.append(f"{f}:{line}:{rng.randrange(5, 40)}: warning: {kind[0]} [{kind[1]}]")
                lines.append("    herr_t      ret_value = SUCCEED;")
                lines.append("                ^")
        if warn:
            lines.append(f"{len(files)} warnings generated.")
        if fail == "compile":
            f = "../../../../opal/mca/pmix/pmix3x/pmix3x_client.c"
            lines += [
                "  CC       pmix3x_client.lo",
                f"{f}: In function 'pmix3x_client_init':",
                f"{f}:117:17: error: 'PMIX_MODEL_LIBRARY_NAME' undeclared (first use in this function)",
                '  117 |     PMIX_INFO_LOAD(&pinfo[n], PMIX_MODEL_LIBRARY_NAME, "OpenMPI", PMIX_STRING);',
                "      |                 ^~~~~~~~~~~~~~~~~~~~~~~",
                f"{f}:117:17: note: each undeclared identifier is reported only once for each function it appears in",
                "make[2]: *** [Makefile:1932: pmix3x_client.lo] Error 1",
                "make[1]: *** [Makefile:2431: all-recursive] Error 1",
                "make: *** [Makefile:1901: all-recursive] Error 1",
            ]
            clock.tick(30, 90)
        elif fail == "killed":
            lines += [
                f'/bin/bash ./libtool  --tag=CC   --mode=compile {cmp} -DPACKAGE_NAME=\\"sqlite\\" -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_COLUMN_METADATA -O2 -c -o sqlite3.lo sqlite3.c',
                f'libtool: compile:  {cmp} -DPACKAGE_NAME=\\"sqlite\\" -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_COLUMN_METADATA -O2 -c sqlite3.c  -fPIC -DPIC -o .libs/sqlite3.o',
                "clang: error: unable to execute command: Killed",
                "clang: error: clang frontend command failed due to signal (use -v to see invocation)",
                "clang version 14.0.6",
                "Target: x86_64-pc-linux-gnu",
                "Thread model: posix",
                "InstalledDir: /usr/lib/llvm-14/bin",
                "make: *** [Makefile:540: sqlite3.lo] Error 1",
            ]
            clock.tick(60, 200)
        else:
            clock.tick(3, 120 if node.name in ("python", "openmpi", "cmake", "hdf5") else 20)
    elif phase == "install":
        lines.append(f"==> [{clock.tick(0.01, 0.05)}] 'make' '-j2' 'install'")
        lines += [
            f"mkdir -p {pfx}/lib {pfx}/include",
            f"/usr/bin/install -c -m 644 {node.name}.h '{pfx}/include'",
            f"/usr/bin/install -c lib{node.name.replace('lib', '')}.so '{pfx}/lib'",
        ]
        clock.tick(0.5, 6)
    status = "ERROR" if fail else "SUCCESS"
    if not fail:
        lines.append(
            f"==> [{clock.tick(0.001, 0.02)}] Running on_phase_success {node.name}, phase {phase}"
        )
    return status, "\n".join(lines) + "\n"


def dump(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def build_env(node: Node) -> str:
    c = COMPILERS[node.compiler]
    deps = build_nodes(node.compiler)
    pfxs = ":".join(str(prefix(deps[d])) for d in node.deps)
    return "".join(
        [
            f"export CC={cc(node)};\n",
            "unset CFLAGS;\n",
            f"export CMAKE_PREFIX_PATH={pfxs};\n" if pfxs else "unset CMAKE_PREFIX_PATH;\n",
            f"export SPACK_COMPILER_SPEC={c['name']}@{c['version']};\n",
            f"export SPACK_TARGET_ARGS='-march={c['target']['name'].replace('zen3', 'znver3')} -mtune={c['target']['name'].replace('zen3', 'znver3')}';\n",
            f"export SPACK_PREFIX={prefix(node)};\n",
            f"export SPACK_SHORT_SPEC='{node.name}@{node.version}%{c['name']}@{c['version']} arch=linux-debian12-{c['target']['name']}/{node.hash[:7]}';\n",
        ]
    )


def generate(out: Path) -> dict:
    rng = random.Random(SEED)
    if out.exists():
        shutil.rmtree(out / "save-local", ignore_errors=True)
        shutil.rmtree(out / "installs", ignore_errors=True)
    concrete = {c: build_nodes(c) for c in COMPILERS}
    installed: set[tuple[str, str]] = set()
    manifest: dict = {"spack_version": SPACK_VERSION, "seed": SEED, "runs": []}
    for start, comp, root, tags, failures in RUNS:
        nodes = concrete[comp]
        c = COMPILERS[comp]
        epoch = int(start.replace(tzinfo=timezone.utc).timestamp())
        run_dir = out / "save-local" / f"{start.strftime('%Y-%m-%d-%H-%M-%S')}-{epoch}"
        dump(
            run_dir / f"spec-{root}-{nodes[root].version}-config.json",
            {"spec": spec_document(nodes, root), "spack_version": SPACK_VERSION},
        )
        clock = Clock(start, rng)
        order = list(reversed(traverse(nodes, root)))  # dependencies first
        # Spack installs in a topological order; put every node after its dependencies.
        done: list[str] = []
        while order:
            for n in order:
                if all(d in done for d in nodes[n.name].deps):
                    done.append(n.name)
                    order.remove(n)
                    break
        failed: set[str] = set()
        info = {
            "directory": run_dir.name,
            "compiler": f"{c['name']}@{c['version']}",
            "target": c["target"]["name"],
            "root": root,
            "tags": tags.split(","),
            "builds": {},
        }
        for name in done:
            node = nodes[name]
            if (comp, name) in installed:
                continue  # already installed: Spack writes nothing for it
            build_id = hashlib.md5(
                f"{run_dir.name}/{node.full_hash}/{rng.random()}".encode()
            ).hexdigest()
            dump(
                run_dir / f"build-metadata-{build_id}.json",
                {
                    "host_os": "debian12",
                    "platform": "linux",
                    "host_target": c["target"]["name"],
                    "hostname": c["hostname"],
                    "spack_version": SPACK_VERSION,
                    "kernel_version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)",
                    "full_hash": node.full_hash,
                    "tags": tags,
                },
            )
            if any(d in failed for d in node.deps):
                failed.add(name)
                dump(
                    run_dir / f"build-{build_id}-status.json",
                    {"build_id": build_id, "status": "FAILED"},
                )
                info["builds"][name] = {"build_id": build_id, "status": "FAILED", "phases": {}}
                continue
            fail = failures.get(name)
            phases: dict[str, str] = {}
            logs: list[tuple[str, str]] = []
            times: list[dict] = []
            for phase in phases_for(node):
                t0 = clock.now
                this_fail = fail if phase == "build" else None
                status, output = phase_log(
                    node,
                    phase,
                    clock,
                    rng,
                    fail=this_fail,
                    warn=(comp, name) == WARNING_HEAVY and phase == "build",
                )
                times.append({"name": phase, "seconds": (clock.now - t0).total_seconds()})
                dump(
                    run_dir / f"build-{build_id}-phase-{phase}.json",
                    {"build_id": build_id, "status": status, "output": output, "phase_name": phase},
                )
                phases[phase] = status
                logs.append((phase, output))
                if this_fail:
                    break
            if fail:
                failed.add(name)
                info["builds"][name] = {
                    "build_id": build_id,
                    "status": None,
                    "phases": phases,
                    "failure": fail,
                }
                write_stage(out, node, logs)
                continue
            dump(
                run_dir / f"build-{build_id}-status.json",
                {"build_id": build_id, "status": "SUCCESS"},
            )
            info["builds"][name] = {"build_id": build_id, "status": "SUCCESS", "phases": phases}
            installed.add((comp, name))
            write_prefix(out, node, nodes, logs, times)
        manifest["runs"].append(info)
    dump(out / "manifest.json", manifest)
    return manifest


def install_dir(out: Path, node: Node) -> Path:
    return out / "installs" / prefix(node).relative_to(ROOT)


def write_prefix(
    out: Path, node: Node, nodes: dict[str, Node], logs: list[tuple[str, str]], times: list[dict]
) -> None:
    c = COMPILERS[node.compiler]
    meta = install_dir(out, node) / ".spack"
    dump(meta / "spec.json", {"spec": spec_document(nodes, node.name)})
    dump(
        meta / "install_environment.json",
        {
            "host_os": "debian12",
            "platform": "linux",
            "host_target": c["target"]["name"],
            "hostname": c["hostname"],
            "spack_version": SPACK_VERSION,
            "kernel_version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)",
        },
    )
    # Spack 0.17 records each phase's timer when the next phase starts: the value under
    # the first phase is the setup before it, the one under phase k+1 is phase k's
    # duration, and the last phase's duration is only in the total (spackfacts.py)
    setup = 0.02
    values = [setup] + [t["seconds"] for t in times[:-1]]
    written = [{"name": t["name"], "seconds": v} for t, v in zip(times, values, strict=True)]
    dump(
        meta / "install_times.json",
        {"phases": written, "total": {"seconds": sum(t["seconds"] for t in times) + setup}},
    )
    for i, (phase, text) in enumerate(logs, 1):
        (meta / f"spack-build-{i:02d}-{phase}-out.txt").write_text(text)
    (meta / "spack-build-out.txt").write_text("".join(t for _, t in logs))
    (meta / "spack-build-env.txt").write_text(build_env(node))
    pfx = str(prefix(node))
    dump(
        meta / "install_manifest.json",
        {
            f"{pfx}/lib": {"mode": 17901, "owner": 0, "group": 0, "type": "dir"},
            f"{pfx}/.spack": {"mode": 17901, "owner": 0, "group": 0, "type": "dir"},
            f"{pfx}/include": {"mode": 17901, "owner": 0, "group": 0, "type": "dir"},
            f"{pfx}/lib/lib{node.name.replace('lib', '')}.so": {
                "mode": 33261,
                "owner": 0,
                "group": 0,
                "type": "file",
                "hash": b32("file", pfx, n=64).replace("=", "0"),
            },
        },
    )
    (meta / "repos" / "builtin").mkdir(parents=True, exist_ok=True)
    (meta / "repos" / "builtin" / "repo.yaml").write_text("repo:\n  namespace: builtin\n")


def write_stage(out: Path, node: Node, logs: list[tuple[str, str]]) -> None:
    d = out / "installs" / "stage" / stage(node).name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for i, (phase, text) in enumerate(logs, 1):
        (d / f"spack-build-{i:02d}-{phase}-out.txt").write_text(text)
    (d / "spack-build-out.txt").write_text("".join(t for _, t in logs))
    env = build_env(node)
    (d / "spack-build-env.txt").write_text(env)
    (d / "spack-build-env-mods.txt").write_text(env)


def main() -> None:
    manifest = generate(HERE)
    if PACKAGED.exists():
        shutil.rmtree(PACKAGED)
    PACKAGED.mkdir(parents=True)
    # The wheel carries the runs only: setuptools' package-data globs skip the hidden
    # ``.spack`` folders of the install trees, and ``spackmon demo`` needs only the runs.
    shutil.copytree(HERE / "save-local", PACKAGED / "save-local")
    shutil.copy(HERE / "manifest.json", PACKAGED / "manifest.json")
    n = sum(len(r["builds"]) for r in manifest["runs"])
    print(f"wrote {len(manifest['runs'])} runs, {n} builds to {HERE} and {PACKAGED}")


if __name__ == "__main__":
    main()
