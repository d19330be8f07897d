"""Seeded generators of realistic Spack data: spec documents and save-local runs.

* :func:`generate_spec_document` writes a spec document of any size (10 to 10,000+ nodes) in
  any format era: ``"list"`` (Spack <= 0.16), ``"v2"`` (0.17), ``"v3"`` (0.18-0.19), ``"v4"``
  (0.21-0.23), ``"v5"`` (1.0-1.2, compilers as nodes) and ``"v6"`` (1.3). The DAG is layered:
  node ``i`` depends only on nodes after it, every node is reachable from the root, and the
  document order is root first, as Spack writes it.
* :func:`generate_history` builds a long build history in memory (a
  :class:`~spackmon_analysis.frames.MonitorData` of many attempts per build) with known
  answers: flaky builds failing at known probabilities, changes that stay (broken or fixed
  since an attempt), and phases slowed down from an attempt on; :class:`SyntheticHistory`
  holds the data and the truth, to measure the history detectors against.
* :func:`generate_save_local` writes a ``--monitor-save-local`` directory exactly as Spack 0.17.1
  does (file names, key order, two-space indent, no trailing newline), including failures: the
  package that fails gets an ``ERROR`` phase and no status file, its dependents a ``FAILED``
  status and no phases.

Everything is deterministic for a seed. The data is synthetic: real package names and version
styles, invented hashes (32 base32 characters, as Spack writes them).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ERAS",
    "generate_spec_document",
    "generate_save_local",
    "generate_history",
    "SyntheticHistory",
    "spec_hash",
]

#: Format eras :func:`generate_spec_document` writes.
ERAS = ("list", "v2", "v3", "v4", "v5", "v6")

_PACKAGES = (
    "zlib",
    "bzip2",
    "xz",
    "zstd",
    "lz4",
    "openssl",
    "curl",
    "libiconv",
    "gettext",
    "ncurses",
    "readline",
    "sqlite",
    "libxml2",
    "expat",
    "libffi",
    "pcre",
    "pcre2",
    "python",
    "perl",
    "cmake",
    "autoconf",
    "automake",
    "libtool",
    "m4",
    "pkgconf",
    "gdbm",
    "berkeley-db",
    "libsigsegv",
    "diffutils",
    "tar",
    "hdf5",
    "netcdf-c",
    "netcdf-fortran",
    "openmpi",
    "mpich",
    "hwloc",
    "libpciaccess",
    "libevent",
    "numactl",
    "ucx",
    "rdma-core",
    "libfabric",
    "boost",
    "eigen",
    "fftw",
    "openblas",
    "netlib-lapack",
    "scalapack",
    "petsc",
    "hypre",
    "superlu-dist",
    "metis",
    "parmetis",
    "trilinos",
    "suite-sparse",
    "gmp",
    "mpfr",
    "mpc",
    "isl",
    "binutils",
    "llvm",
    "libedit",
    "swig",
    "git",
    "libunistring",
    "libidn2",
    "gnutls",
    "nettle",
    "krb5",
    "libxcrypt",
    "util-linux",
    "util-linux-uuid",
    "libuuid",
    "json-c",
    "yaml-cpp",
    "libyaml",
    "py-setuptools",
    "py-pip",
    "py-wheel",
    "py-numpy",
    "py-scipy",
    "py-cython",
    "py-mpi4py",
    "py-h5py",
    "py-pyyaml",
    "py-six",
    "py-packaging",
    "py-pybind11",
    "pybind11",
    "hdf",
    "libjpeg-turbo",
    "libpng",
    "libtiff",
    "freetype",
    "fontconfig",
    "libx11",
    "libxext",
    "libxcb",
    "xproto",
    "glib",
    "pixman",
    "cairo",
    "harfbuzz",
    "pango",
    "qt",
    "vtk",
    "paraview",
    "adios2",
    "c-blosc",
    "snappy",
    "protobuf",
    "abseil-cpp",
    "re2",
    "googletest",
    "benchmark",
    "tcl",
    "tk",
    "lua",
    "lmod",
    "gawk",
    "findutils",
    "sed",
    "grep",
    "bison",
    "flex",
    "texinfo",
    "help2man",
    "ninja",
    "meson",
    "go",
    "rust",
    "openjdk",
    "squashfs",
    "cryptsetup",
    "lvm2",
    "libaio",
    "popt",
    "libseccomp",
    "shadow",
    "libgpg-error",
    "libgcrypt",
    "gperf",
)
_PREFIXES = ("", "py-", "r-", "perl-", "lua-", "rust-", "go-")
_VARIANTS = (
    ("shared", (True, False)),
    ("pic", (True, False)),
    ("debug", (False, True)),
    ("mpi", (True, False)),
    ("openmp", (False, True)),
    ("cuda", (False,)),
    ("build_type", ("Release", "RelWithDebInfo", "Debug")),
    ("fortran", (True, False)),
    ("python", (False, True)),
    ("static", (False, True)),
    ("optimize", (True,)),
    ("threads", ("none", "pthreads", "openmp")),
    ("ipo", (False,)),
)
_FLAGS = ("cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs")
_DEPTYPES = (
    ["build", "link"],
    ["build", "link"],
    ["build", "link"],
    ["build"],
    ["build"],
    ["build", "link", "run"],
    ["run"],
    ["link"],
)
_TARGETS = {
    "icelake": ("GenuineIntel", ["cascadelake", "cannonlake"]),
    "skylake_avx512": ("GenuineIntel", ["skylake"]),
    "zen3": ("AuthenticAMD", ["zen2"]),
    "zen2": ("AuthenticAMD", ["zen"]),
}
_FEATURES = (
    "adx",
    "aes",
    "avx",
    "avx2",
    "avx512bw",
    "avx512cd",
    "avx512dq",
    "avx512f",
    "avx512vl",
    "bmi1",
    "bmi2",
    "clflushopt",
    "clwb",
    "f16c",
    "fma",
    "mmx",
    "movbe",
    "pclmulqdq",
    "popcnt",
    "rdrand",
    "rdseed",
    "sha_ni",
    "sse",
    "sse2",
    "sse4_1",
    "sse4_2",
    "ssse3",
    "xsavec",
    "xsaveopt",
)
_COMPILERS = (("gcc", "12.2.0"), ("gcc", "11.4.0"), ("clang", "16.0.6"), ("oneapi", "2024.0.0"))
_CC_WRAPPER = {"gcc": "gcc/gcc", "clang": "clang/clang", "oneapi": "oneapi/icx"}
_OSES = ("debian12", "ubuntu22.04", "rhel8", "centos7")
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def spec_hash(*parts: Any) -> str:
    """A deterministic 32-character base32 (``a-z2-7``) hash of ``parts``, like Spack's."""
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()
    return base64.b32encode(digest).decode()[:32].lower()


def _names(n: int, rng: random.Random, root_name: str | None) -> list[str]:
    pool = list(_PACKAGES)
    rng.shuffle(pool)
    names: list[str] = [root_name] if root_name else []
    seen = set(names)
    round_ = 0
    while len(names) < n:
        prefix = _PREFIXES[round_ % len(_PREFIXES)]
        suffix = "" if round_ < len(_PREFIXES) else f"-{round_ // len(_PREFIXES) + 1}"
        for base in pool:
            name = prefix + (base[3:] if prefix and base.startswith("py-") else base) + suffix
            if name not in seen:
                seen.add(name)
                names.append(name)
                if len(names) == n:
                    break
        round_ += 1
    return names


def _version(rng: random.Random) -> str:
    style = rng.random()
    if style < 0.6:
        return f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 15)}"
    if style < 0.85:
        return f"{rng.randint(1, 9)}.{rng.randint(0, 99)}"
    if style < 0.95:
        return f"20{rng.randint(18, 26)}.{rng.randint(1, 12):02d}"
    return f"{rng.randint(1, 5)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}"


def _target(name: str) -> dict:
    vendor, parents = _TARGETS[name]
    return {
        "name": name,
        "vendor": vendor,
        "features": list(_FEATURES),
        "generation": 0,
        "parents": list(parents),
    }


def _layered_dag(n: int, rng: random.Random) -> list[list[tuple[int, list[str]]]]:
    """deps[i] = [(j, deptypes)] with j > i; every node j >= 1 has a parent before it."""
    deps: list[list[tuple[int, list[str]]]] = [[] for _ in range(n)]
    for j in range(1, n):
        # the mandatory parent: nearer layers more often, so the DAG gets depth
        lo = max(0, j - max(8, j // 3)) if rng.random() < 0.7 else 0
        parents = {rng.randrange(lo, j)}
        while rng.random() < 0.45 and len(parents) < j:
            parents.add(rng.randrange(0, j))
        for i in parents:
            deps[i].append((j, rng.choice(_DEPTYPES)))
    for d in deps:
        d.sort()
    return deps


def generate_spec_document(
    n_nodes: int, era: str = "v4", seed: int = 0, root_name: str | None = None
) -> dict:
    """A realistic spec document of ``n_nodes`` concrete nodes in format ``era``.

    ``era`` is one of :data:`ERAS`. The result is what ``spack spec --json`` of that era
    writes: ``{"spec": [...]}`` for ``"list"``, ``{"spec": {"_meta": {"version": N},
    "nodes": [...]}}`` otherwise. For ``"v4"`` and later a build-only ``gmake`` is an
    external; for ``"v5"``/``"v6"`` the compiler (``gcc``), ``compiler-wrapper`` and an
    external ``glibc`` are nodes of the DAG (counted in ``n_nodes``, which must then be >= 4).
    """
    if era not in ERAS:
        raise ValueError(f"era must be one of {', '.join(ERAS)}, not {era!r}")
    node_list = era in ("v5", "v6")
    if n_nodes < (4 if node_list else 1):
        raise ValueError(f"n_nodes must be at least {4 if node_list else 1} for era {era}")
    rng = random.Random(f"spec-{seed}-{era}-{n_nodes}-{root_name}")
    n_pkgs = n_nodes - 3 if node_list else n_nodes
    names = _names(n_pkgs, rng, root_name)
    if node_list:
        names = [n if n not in ("gcc", "compiler-wrapper", "glibc") else f"{n}-pkg" for n in names]
    deps = _layered_dag(n_pkgs, rng)
    comp_name, comp_version = _COMPILERS[seed % len(_COMPILERS)]
    target_name = list(_TARGETS)[seed % len(_TARGETS)]
    os_name = _OSES[seed % len(_OSES)]
    target = _target(target_name)
    external = [False] * n_pkgs
    if era not in ("list", "v2", "v3"):
        for i in range(1, n_pkgs):
            if not deps[i] and rng.random() < 0.1:  # externals are leaves (system packages)
                external[i] = True
    versions = [_version(rng) for _ in range(n_pkgs)]
    variants = []
    for _ in range(n_pkgs):
        chosen = rng.sample(_VARIANTS, rng.randint(0, 4))
        v = {k: rng.choice(vals) for k, vals in sorted(chosen)}
        variants.append(v)
    tag = f"{seed}-{era}-{n_nodes}"
    hashes = []
    for i, name in enumerate(names):
        dag = spec_hash(tag, name, versions[i], "hash")
        hashes.append(
            {
                "hash": dag,
                "full_hash": spec_hash(tag, name, versions[i], "full"),
                "build_hash": dag if not deps[i] else spec_hash(tag, name, versions[i], "build"),
                "package_hash": spec_hash(tag, name, versions[i], "package"),
            }
        )
    arch = {"platform": "linux", "platform_os": os_name, "target": target}
    meta_version = {"v2": 2, "v3": 3, "v4": 4, "v5": 5, "v6": 6}.get(era)

    if era == "list":
        nodes_out: list = []
        for i, name in enumerate(names):
            body: dict[str, Any] = {
                "version": versions[i],
                "arch": arch,
                "compiler": {"name": comp_name, "version": comp_version},
                "namespace": "builtin",
                "parameters": {**variants[i], **{f: [] for f in _FLAGS}},
            }
            if deps[i]:
                body["dependencies"] = {
                    names[j]: {"hash": hashes[j]["build_hash"], "type": t} for j, t in deps[i]
                }
            body["hash"] = hashes[i]["hash"]
            body["full_hash"] = hashes[i]["full_hash"]
            body["build_hash"] = hashes[i]["build_hash"]
            nodes_out.append({name: body})
        return {"spec": nodes_out}

    nodes_out = []
    if node_list:
        cc_key = spec_hash(tag, "gcc", comp_version, "hash")
        wrapper_key = spec_hash(tag, "compiler-wrapper", "1.0", "hash")
        libc_key = spec_hash(tag, "glibc", "2.36", "hash")
    for i, name in enumerate(names):
        body = {"name": name, "version": versions[i], "arch": arch}
        if not node_list:
            body["compiler"] = {"name": comp_name, "version": comp_version}
        body["namespace"] = "builtin"
        body["parameters"] = {**variants[i], **{f: [] for f in _FLAGS}}
        if external[i]:
            body["external"] = {"path": "/usr", "module": None, "extra_attributes": {}}
        if era != "v2":
            body["package_hash"] = hashes[i]["package_hash"]
        if node_list:
            body["annotations"] = {"original_specfile_version": meta_version}
        entries: list[dict[str, Any]] = []
        for j, t in deps[i]:
            if era == "v2":
                entries.append({"name": names[j], "build_hash": hashes[j]["build_hash"], "type": t})
            elif era == "v3":
                entries.append({"name": names[j], "hash": hashes[j]["hash"], "type": t})
            else:
                entries.append(
                    {
                        "name": names[j],
                        "hash": hashes[j]["hash"],
                        "parameters": {"deptypes": t, "virtuals": []},
                    }
                )
        if node_list and not external[i]:
            entries.append(
                {
                    "name": "compiler-wrapper",
                    "hash": wrapper_key,
                    "parameters": {"deptypes": ["build"], "virtuals": []},
                }
            )
            entries.append(
                {
                    "name": "gcc",
                    "hash": cc_key,
                    "parameters": {"deptypes": ["build"], "virtuals": ["c", "cxx"]},
                }
            )
            entries.append(
                {
                    "name": "glibc",
                    "hash": libc_key,
                    "parameters": {"deptypes": ["link"], "virtuals": ["libc"]},
                }
            )
        if entries:
            entries.sort(key=lambda e: e["name"])
            body["dependencies"] = entries
        body["hash"] = hashes[i]["hash"]
        if era == "v2":
            body["full_hash"] = hashes[i]["full_hash"]
            body["build_hash"] = hashes[i]["build_hash"]
        nodes_out.append(body)
    if node_list:
        ann = {"original_specfile_version": meta_version}
        ext: dict[str, Any] = {"path": "/usr", "module": None, "extra_attributes": {}}
        gcc_node = {
            "name": "gcc",
            "version": comp_version,
            "arch": arch,
            "namespace": "builtin",
            "parameters": {"languages": ["c", "c++", "fortran"], **{f: [] for f in _FLAGS}},
            "external": {
                **ext,
                "extra_attributes": {
                    "compilers": {
                        "c": "/usr/bin/gcc",
                        "cxx": "/usr/bin/g++",
                        "fortran": "/usr/bin/gfortran",
                    }
                },
            },
            "package_hash": spec_hash(tag, "gcc", "package"),
            "annotations": ann,
            "hash": cc_key,
        }
        if era == "v6":
            gcc_node["provided_virtuals"] = ["c", "cxx", "fortran"]
        nodes_out.append(gcc_node)
        nodes_out.append(
            {
                "name": "compiler-wrapper",
                "version": "1.0",
                "arch": arch,
                "namespace": "builtin",
                "parameters": {f: [] for f in _FLAGS},
                "package_hash": spec_hash(tag, "compiler-wrapper", "package"),
                "annotations": ann,
                "hash": wrapper_key,
            }
        )
        nodes_out.append(
            {
                "name": "glibc",
                "version": "2.36",
                "arch": arch,
                "namespace": "builtin",
                "parameters": {f: [] for f in _FLAGS},
                "external": ext,
                "package_hash": spec_hash(tag, "glibc", "package"),
                "annotations": ann,
                "hash": libc_key,
            }
        )
    return {"spec": {"_meta": {"version": meta_version}, "nodes": nodes_out}}


# ---------------------------------------------------------------------------------------------
# save-local runs

_PHASES = ("autoreconf", "configure", "build", "check", "install", "installcheck")
_ERRORS = (
    (
        "{f}.c: In function '{fn}':\n{f}.c:{ln}:3: error: expected ',' or ';' before 'return'\n"
        "   {ln} |   return {fn}_impl(x);\n      |   ^~~~~~\n"
    ),
    (
        "{f}.c:{ln}:10: fatal error: {h}.h: No such file or directory\n   {ln} | #include <{h}.h>\n"
        "      |          ^~~~~~~~\ncompilation terminated.\n"
    ),
    (
        "{f}.c: In function '{fn}':\n{f}.c:{ln}:12: error: implicit declaration of function "
        "'{fn}_helper' [-Wimplicit-function-declaration]\n"
    ),
    (
        "/usr/bin/ld: {f}.o: in function `{fn}':\n{f}.c:(.text+0x1a): undefined reference to "
        "`{h}_init'\ncollect2: error: ld returned 1 exit status\n"
    ),
)


def _dump(path: Path, obj: Any) -> None:
    # Spack 0.17.1 writes json.dumps(..., indent=2) without a trailing newline
    path.write_text(json.dumps(obj, indent=2))


def _ts(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%d-%H:%M:%S.%f")


def generate_save_local(
    directory: str | Path,
    n_builds: int,
    phases_per_build: int = 5,
    seed: int = 0,
    failure_rate: float = 0.0,
    spack_version: str = "0.17.1",
    tags: str | None = "synthetic",
    naming: str = "md5",
    root_size: int = 40,
) -> Path:
    """Write a ``--monitor-save-local`` run of ``n_builds`` builds into ``directory``.

    The builds are the nodes of ``ceil(n_builds / root_size)`` synthetic DAGs, one
    ``spec-<name>-<version>-config.json`` per root; every node gets a
    ``build-metadata-<id>.json``. A build that succeeds writes ``phases_per_build`` phase
    files and a ``SUCCESS`` status. Each build whose dependencies all succeeded fails with
    probability ``failure_rate``: it writes its phases up to an ``ERROR`` phase (a realistic
    compiler error) and no status file; every build depending on it, directly or not,
    writes only a ``FAILED`` status. ``naming`` ``"md5"`` names builds by a 32-hex id
    (Spack 0.17.1), ``"full_hash"`` by the spec's full hash (older 0.17 clients).
    Returns ``directory``.
    """
    if n_builds < 1:
        raise ValueError("n_builds must be at least 1")
    if phases_per_build < 1:
        raise ValueError("phases_per_build must be at least 1")
    if naming not in ("md5", "full_hash"):
        raise ValueError("naming must be 'md5' or 'full_hash'")
    if not 0.0 <= failure_rate <= 1.0:
        raise ValueError("failure_rate must be between 0 and 1")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"save-local-{seed}-{n_builds}-{phases_per_build}-{failure_rate}")
    phases = list(_PHASES[:phases_per_build])
    phases += [f"post-install-{i}" for i in range(len(phases), phases_per_build)]
    clock = _dt.datetime(2026, 11, 28, 6, 0, 0) + _dt.timedelta(seconds=seed % 86400)
    target_name = list(_TARGETS)[seed % len(_TARGETS)]
    os_name = _OSES[seed % len(_OSES)]
    comp_name, comp_version = _COMPILERS[seed % len(_COMPILERS)]
    base = f"/home/builder/spack/v{spack_version}"

    remaining = n_builds
    part = 0
    while remaining > 0:
        size = min(root_size, remaining)
        remaining -= size
        doc = generate_spec_document(size, era="v2", seed=seed * 1000 + part)["spec"]
        part += 1
        nodes = doc["nodes"]
        for node in nodes:  # the monitor client sends 0.17.1 monitor-style nodes
            node["arch"]["platform_os"] = os_name
            node["arch"]["target"] = _target(target_name)
            node["compiler"] = {"name": comp_name, "version": comp_version}
            keys = list(node)
            node["package_hash"] = spec_hash("package", node["hash"])
            order = [
                k for k in keys if k not in ("dependencies", "hash", "full_hash", "build_hash")
            ]
            order += ["package_hash", "dependencies", "hash", "full_hash", "build_hash"]
            full_of = {}
            for k in order:
                if k in node:
                    full_of[k] = node.pop(k)
            node.update(full_of)
        by_build_hash = {n["build_hash"]: n for n in nodes}
        for node in nodes:
            for dep in node.get("dependencies", []):
                child = by_build_hash[dep.pop("build_hash")]
                typ = dep.pop("type")
                dep["full_hash"] = child["full_hash"]
                dep["type"] = typ
        root = nodes[0]
        _dump(
            out / f"spec-{root['name']}-{root['version']}-config.json",
            {"spec": doc, "spack_version": spack_version},
        )

        # build order: dependencies first (the generator only points forward in the list)
        failed: set[str] = set()
        for node in reversed(nodes):
            full = node["full_hash"]
            build_id = (
                hashlib.md5(f"{seed}-{part}-{full}".encode()).hexdigest()  # noqa: S324
                if naming == "md5"
                else full
            )
            meta = {
                "host_os": os_name,
                "platform": "linux",
                "host_target": target_name,
                "hostname": "vm",
                "spack_version": spack_version,
                "kernel_version": "#1 SMP PREEMPT_DYNAMIC @0",
                "full_hash": full,
            }
            if tags:
                meta["tags"] = tags
            _dump(out / f"build-metadata-{build_id}.json", meta)
            dep_hashes = [d["full_hash"] for d in node.get("dependencies", [])]
            if any(h in failed for h in dep_hashes):
                failed.add(full)
                _dump(
                    out / f"build-{build_id}-status.json",
                    {"build_id": build_id, "status": "FAILED"},
                )
                continue
            fails = failure_rate > 0 and rng.random() < failure_rate
            fail_at = (
                (
                    phases.index("build")
                    if "build" in phases and rng.random() < 0.7
                    else rng.randrange(len(phases))
                )
                if fails
                else -1
            )
            name, version = node["name"], node["version"]
            prefix = (
                f"{base}/opt/spack/linux-{os_name}-{target_name}/{comp_name}-{comp_version}/"
                f"{name}-{version}-{node['hash']}"
            )
            cc = f"{base}/lib/spack/env/{_CC_WRAPPER[comp_name]}"
            for p, phase in enumerate(phases):
                clock += _dt.timedelta(milliseconds=rng.randint(3, 4000))
                lines = [f"==> {name}: Executing phase: '{phase}'"]
                error = p == fail_at
                lines += _phase_lines(
                    rng, phase, name, version, prefix, cc, clock, error, base, node
                )
                if not error:
                    clock += _dt.timedelta(milliseconds=rng.randint(1, 300))
                    lines.append(
                        f"==> [{_ts(clock)}] Running on_phase_success {name}, phase {phase}"
                    )
                _dump(
                    out / f"build-{build_id}-phase-{phase}.json",
                    {
                        "build_id": build_id,
                        "status": "ERROR" if error else "SUCCESS",
                        "output": "\n".join(lines) + "\n",
                        "phase_name": phase,
                    },
                )
                if error:
                    break
            if fail_at >= 0:
                failed.add(full)
            else:
                _dump(
                    out / f"build-{build_id}-status.json",
                    {"build_id": build_id, "status": "SUCCESS"},
                )
    return out


def _phase_lines(
    rng: random.Random,
    phase: str,
    name: str,
    version: str,
    prefix: str,
    cc: str,
    clock: _dt.datetime,
    error: bool,
    base: str,
    node: dict,
) -> list[str]:
    src = name.replace("-", "_")
    stage = f"{base}/stage/spack-stage-{name}-{version}-{node['hash']}/spack-src"
    if phase == "autoreconf":
        lines: list[str] = []
    elif phase == "configure":
        lines = [
            f"==> [{_ts(clock)}] '{stage}/configure' '--prefix={prefix}'",
            f"checking for C compiler... {cc}",
            "checking whether the C compiler works... yes",
            "config.status: creating Makefile",
        ]
    elif phase in ("build", "check", "installcheck"):
        target = {"build": [], "check": ["'check'"], "installcheck": ["'installcheck'"]}[phase]
        lines = [f"==> [{_ts(clock)}] " + " ".join(["'make'", "'-j2'", *target])]
        for k in range(rng.randint(1, 4)):
            lines.append(f"{cc} -O2 -fPIC -c -o {src}_{k}.o {src}_{k}.c")
    else:
        lines = [
            f"==> [{_ts(clock)}] 'make' '-j2' 'install'",
            f"mkdir -p {prefix}/lib {prefix}/include",
            f"cp lib{src}.so {prefix}/lib/",
        ]
    if error:
        template = rng.choice(_ERRORS)
        ln = rng.randint(3, 400)
        text = template.format(
            f=f"{src}_0",
            fn=f"{src}_init",
            ln=ln,
            h=rng.choice(("mpi", "zlib", "hdf5", "omp", "curl/curl", "openssl/ssl")),
        )
        if not lines:
            lines = [f"==> [{_ts(clock)}] 'make' '-j2'"]
        lines.append(f"{cc} -O2 -fPIC -c -o {src}_0.o {src}_0.c")
        lines += text.rstrip("\n").split("\n")
        lines.append(f"make: *** [Makefile:{rng.randint(5, 90)}: {src}_0.o] Error 1")
    return lines


# ---------------------------------------------------------------------------------
# a generated build history with known answers

#: base seconds (low, high) of each phase in :func:`generate_history`
_HISTORY_PHASES = (
    ("autoreconf", 1.0, 8.0),
    ("configure", 5.0, 90.0),
    ("build", 20.0, 900.0),
    ("check", 5.0, 300.0),
    ("install", 1.0, 20.0),
    ("installcheck", 1.0, 30.0),
)
#: the error a flaky build fails with (the machine, not the package), and a broken one's
_FLAKY_ERROR = "clang: error: unable to execute command: Killed"
_BROKEN_ERROR = "{name}_core.c:{line}:7: error: '{name}_api_t' has no member named 'flags'"


@dataclass
class SyntheticHistory:
    """What :func:`generate_history` made: ``data`` and the truth to score detectors with.

    ``flaky``: full hash -> its failure probability; ``broken`` / ``fixed``: full hash -> the
    1-based attempt from which it fails / succeeds for good (a change that stays);
    ``slowdowns``: ``(key, phase)`` -> the 1-based attempt from which the phase is slower
    (``key`` is the build key label of :func:`spackmon_analysis.history.attempt_table`);
    ``factors``: the same keys -> the slowdown factor.
    """

    data: Any
    flaky: dict[str, float] = field(default_factory=dict)
    broken: dict[str, int] = field(default_factory=dict)
    fixed: dict[str, int] = field(default_factory=dict)
    slowdowns: dict[tuple[str, str], int] = field(default_factory=dict)
    factors: dict[tuple[str, str], float] = field(default_factory=dict)


def generate_history(
    n_specs: int = 200,
    attempts: int = 20,
    *,
    phases_per_build: int = 6,
    seed: int = 0,
    flaky_share: float = 0.1,
    flaky_probabilities: tuple[float, ...] = (0.2, 0.3, 0.5),
    broken_share: float = 0.05,
    fixed_share: float = 0.05,
    slowdown_share: float = 0.1,
    slowdown_factors: tuple[float, float] = (2.0, 3.0),
    noise: float = 0.05,
    start: _dt.datetime | None = None,
    interval: _dt.timedelta = _dt.timedelta(hours=12),
) -> SyntheticHistory:
    """A build history of ``n_specs`` specs attempted ``attempts`` times each, with known answers.

    Round ``r`` (``0 .. attempts - 1``) is one save-local-like run, ``run-<r>`` at
    ``start + r * interval``, in which every spec is built once with the same inputs (its full
    hash does not change). Phase times are a per-spec base (``_HISTORY_PHASES`` ranges) times
    log-normal noise of ``noise``; a spec:

    * **flaky** (``flaky_share`` of them): each attempt fails, in its ``build`` phase with an
      out-of-memory kill, with one of ``flaky_probabilities`` (cycled), independently;
    * **broken** (``broken_share``): succeeds, then from a random attempt on (leaving at least
      4 before and 4 after) fails with a compiler error, every time;
    * **fixed** (``fixed_share``): the other way round;
    * **slowed** (``slowdown_share``, among the specs that never fail): one phase whose base
      is at least 20 s is ``slowdown_factors`` (uniform) times slower from a random attempt
      (after the first 6, leaving 4) on;
    * else succeeds every time.

    Everything is deterministic for a seed. The frames follow the contract; ``attempts`` x
    ``n_specs`` builds (build key ``h<spec>-<round>``), one error event per failed attempt.
    """
    import numpy as np
    import pandas as pd

    from .frames import MonitorData
    from .logs import classify, fingerprint

    if n_specs < 1 or attempts < 1:
        raise ValueError("n_specs and attempts must be at least 1")
    if not 1 <= phases_per_build <= len(_HISTORY_PHASES):
        raise ValueError(f"phases_per_build must be between 1 and {len(_HISTORY_PHASES)}")
    for name, share in (
        ("flaky_share", flaky_share),
        ("broken_share", broken_share),
        ("fixed_share", fixed_share),
        ("slowdown_share", slowdown_share),
    ):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
    rng = np.random.default_rng(seed)
    start = start or _dt.datetime(2026, 10, 1, 2, 0, 0, tzinfo=_dt.timezone.utc)
    phases = _HISTORY_PHASES[:phases_per_build]
    n_phases = len(phases)
    build_phase = next((i for i, p in enumerate(phases) if p[0] == "build"), n_phases - 1)

    names = _names(n_specs, random.Random(seed), None)
    versions = [f"{1 + i % 7}.{i % 13}.{i % 5}" for i in range(n_specs)]
    comp = [_COMPILERS[i % len(_COMPILERS)] for i in range(n_specs)]
    os_name = _OSES[seed % len(_OSES)]
    target = list(_TARGETS)[seed % len(_TARGETS)]
    hashes = [spec_hash("history", seed, i) for i in range(n_specs)]
    base = np.column_stack([rng.uniform(lo, hi, n_specs) for _, lo, hi in phases])

    # roles: a permutation, cut into flaky / broken / fixed / the rest
    order = rng.permutation(n_specs)
    n_flaky = round(n_specs * flaky_share)
    n_broken = round(n_specs * broken_share)
    n_fixed = round(n_specs * fixed_share)
    truth = SyntheticHistory(data=None)
    fails = np.zeros((n_specs, attempts), dtype=bool)
    flaky_kind = np.zeros(n_specs, dtype=bool)
    for j, i in enumerate(order[:n_flaky]):
        q = flaky_probabilities[j % len(flaky_probabilities)]
        truth.flaky[hashes[i]] = q
        fails[i] = rng.random(attempts) < q
        flaky_kind[i] = True
    low, high = 4, attempts - 4
    for i in order[n_flaky : n_flaky + n_broken]:
        if high <= low:
            break
        at = int(rng.integers(low, high + 1))
        truth.broken[hashes[i]] = at + 1
        fails[i, at:] = True
    for i in order[n_flaky + n_broken : n_flaky + n_broken + n_fixed]:
        if high <= low:
            break
        at = int(rng.integers(low, high + 1))
        truth.fixed[hashes[i]] = at + 1
        fails[i, :at] = True
    factor = np.ones((n_specs, attempts, n_phases))
    rest = order[n_flaky + n_broken + n_fixed :]
    n_slow = min(len(rest), round(n_specs * slowdown_share))
    for i in rest[:n_slow]:
        long_phases = [k for k in range(n_phases) if base[i, k] >= 20.0]
        if not long_phases or attempts - 4 <= 6:
            continue
        k = int(rng.choice(long_phases))
        at = int(rng.integers(6, attempts - 4 + 1))
        f = float(rng.uniform(*slowdown_factors))
        factor[i, at:, k] = f
        key = (
            f"{names[i]}@{versions[i]} %{comp[i][0]}@{comp[i][1]} arch={os_name}-{target}",
            phases[k][0],
        )
        truth.slowdowns[key] = at + 1
        truth.factors[key] = f

    seconds = base[:, None, :] * factor * rng.lognormal(0.0, noise, (n_specs, attempts, n_phases))
    spec_idx = np.repeat(np.arange(n_specs), attempts)
    round_idx = np.tile(np.arange(attempts), n_specs)
    failed = fails.reshape(-1)
    build_keys = np.array([f"h{i:06d}-{r:04d}" for i, r in zip(spec_idx, round_idx, strict=True)])
    run_names = np.array([f"run-{r:04d}" for r in range(attempts)])
    run_times = pd.DatetimeIndex([start + r * interval for r in range(attempts)])
    compilers = np.array([f"{c}@{v}" for c, v in comp], dtype=object)

    # phases: every phase of a succeeded attempt; a failed one stops at its ERROR build phase
    n_run = np.where(failed, build_phase + 1, n_phases)
    ph_build = np.repeat(np.arange(len(failed)), n_run)
    ph_order = np.concatenate([np.arange(n) for n in n_run]) if len(n_run) else np.array([])
    flat = seconds.reshape(len(failed), n_phases)
    ph_seconds = flat[ph_build, ph_order]
    ph_status = np.where(failed[ph_build] & (ph_order == build_phase), "ERROR", "SUCCESS")
    ph_seconds = np.where(ph_status == "ERROR", ph_seconds * 0.3, ph_seconds)
    offsets = np.cumsum(flat, axis=1) - flat  # seconds from the run start to each phase
    ph_start = run_times[round_idx[ph_build]] + pd.to_timedelta(
        offsets[ph_build, ph_order], unit="s"
    )
    phase_names = np.array([p[0] for p in phases], dtype=object)

    specs = pd.DataFrame(
        {
            "full_hash": hashes,
            "name": names,
            "version": versions,
            "compiler": compilers,
            "compiler_name": [c for c, _ in comp],
            "compiler_version": [v for _, v in comp],
            "platform": "linux",
            "os": os_name,
            "target": target,
            "namespace": "builtin",
            "external": False,
            "dag_hash": hashes,
            "variants_text": "",
        }
    )
    durations = np.bincount(ph_build, weights=ph_seconds, minlength=len(failed))
    status = np.full(len(failed), "SUCCESS", dtype=object)
    status[failed] = None  # a failed build's status is missing (its outcome says failed)
    builds = pd.DataFrame(
        {
            "build": build_keys,
            "run": run_names[round_idx],
            "run_time": run_times[round_idx],
            "full_hash": np.array(hashes, dtype=object)[spec_idx],
            "spec_name": np.array(names, dtype=object)[spec_idx],
            "spec_version": np.array(versions, dtype=object)[spec_idx],
            "compiler": compilers[spec_idx],
            "status": status,
            "outcome": np.where(failed, "failed", "succeeded"),
            "host_os": os_name,
            "platform": "linux",
            "host_target": target,
            "hostname": "vm",
            "spack_version": "0.17.1",
            "tags": [("synthetic",)] * len(failed),
            "created_at": run_times[round_idx],
            "duration": durations,
            "source": "save-local",
        }
    )
    phase_frame = pd.DataFrame(
        {
            "build": build_keys[ph_build],
            "name": phase_names[ph_order],
            "order": ph_order,
            "status": ph_status,
            "duration": ph_seconds,
            "started_at": ph_start,
            "finished_at": ph_start + pd.to_timedelta(ph_seconds, unit="s"),
        }
    )
    texts: dict[str, tuple[str, tuple[str, ...], str]] = {}
    rows: list[tuple[Any, ...]] = []
    for b in np.flatnonzero(failed):
        i = int(spec_idx[b])
        text = (
            _FLAKY_ERROR
            if flaky_kind[i]
            else _BROKEN_ERROR.format(name=names[i].replace("-", "_"), line=40 + i % 50)
        )
        if text not in texts:
            classes = classify(text)
            texts[text] = (fingerprint(text), classes, classes[0] if classes else "unclassified")
        fp, classes, primary = texts[text]
        rows.append(
            (
                build_keys[b],
                phases[build_phase][0],
                "error",
                text,
                12,
                None,
                None,
                [],
                [],
                1,
                classes,
                primary,
                fp,
            )
        )
    events = pd.DataFrame(
        rows,
        columns=[
            "build", "phase", "kind", "text", "line_no", "source_file", "source_line_no",
            "pre_context", "post_context", "repeat_count", "classes", "primary_class",
            "fingerprint",
        ],
    )  # fmt: skip
    truth.data = MonitorData(
        specs, None, builds, phase_frame, events, source=f"generate_history(seed={seed})"
    )
    return truth
