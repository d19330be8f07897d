"""Write the hand-made Spack 0.23.1 and 1.1.1 fixture trees of this folder (README.md).

No Spack 0.23 or 1.x ever ran here: every file is written by this script in the shape the
named Spack source files give it (docs/install-trees.md, "Spack 0.23 to 1.x"), around the
same tiny packages as the real 0.16.3-0.22.1 files of tests/data. Run it from anywhere;
``tests/analysis/test_spack_1x.py`` checks that the committed files are what it
writes. Everything is deterministic (hashes are derived from the release and name).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent
RELEASES = ("0.23.1", "1.1.1")
COMMIT = {"0.23.1": "2bfcc69fa870d3c6919be87593f22647981b648a", "1.1.1": "7a1b2c3d" * 5}
RUN1 = 1796247600  # 2026-12-02 21:40:00 UTC: spack install tinyapp
RUN2 = 1796248166  # 2026-12-02 21:49:26 UTC: spack install --log-format junit tinybrokenapp
ARCH = {"platform": "linux", "platform_os": "debian12", "target": "icelake"}
GCC = "12.2.0"
GCC_ERROR = "broken.c:4:3: error: expected ',' or ';' before 'return'"

#: name -> (version, build system, phases, link/build deps among the tiny packages)
PACKAGES = {
    "tinybase": ("1.0", "autotools", ["autoreconf", "configure", "build", "install"], []),
    "tinyutil": ("2.1", "makefile", ["edit", "build", "install"], ["tinybase"]),
    "tinyapp": ("0.3", "makefile", ["edit", "build", "install"], ["tinyutil"]),
    "tinybroken": ("0.9", "makefile", ["edit", "build", "install"], ["tinybase"]),
    "tinybrokenapp": ("1.0", "makefile", ["edit", "build", "install"], ["tinybroken", "tinyutil"]),
}


def dag_hash(release: str, name: str) -> str:
    digest = hashlib.sha256(f"{release}:{name}".encode()).digest()
    return base64.b32encode(digest).decode().lower()[:32]


def is_1x(release: str) -> bool:
    return release.startswith("1.")


def _dep(release: str, name: str, deptypes: list[str], virtuals: list[str]) -> dict:
    return {
        "name": name,
        "hash": dag_hash(release, name),
        "parameters": {"deptypes": deptypes, "virtuals": virtuals},
    }


def _node(release: str, name: str, version: str, parameters: dict, deps: list[dict], **extra):
    node: dict = {"name": name, "version": version, "arch": dict(ARCH)}
    if not is_1x(release):
        # 0.23, spec file v4: the compiler is an attribute of the node
        node["compiler"] = {"name": "gcc", "version": GCC}
    node["namespace"] = extra.pop("namespace", "tinyrepo")
    node["parameters"] = parameters
    node.update(extra)
    node["package_hash"] = dag_hash(release, "package-" + name)[:32] + "===="
    if deps:
        node["dependencies"] = sorted(deps, key=lambda d: d["name"])
    if is_1x(release):
        node["annotations"] = {"original_specfile_version": 5}
    node["hash"] = dag_hash(release, name)
    return node


def nodes(release: str) -> dict[str, dict]:
    """Every node of the environment (tinyapp and tinybrokenapp), by name."""
    flags = {k: [] for k in ("cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs")}
    out: dict[str, dict] = {}
    external = {"module": None, "extra_attributes": {}}
    out["glibc"] = _node(
        release, "glibc", "2.36", {"build_system": "autotools", **flags}, [],
        namespace="builtin", external={"path": "/usr", **external},
    )  # fmt: skip
    out["gmake"] = _node(
        release, "gmake", "4.3", {"build_system": "generic", "guile": False, **flags}, [],
        namespace="builtin", external={"path": "/usr", **external},
    )  # fmt: skip
    runtime_deps = [_dep(release, "glibc", ["link"], ["libc"])]
    if is_1x(release):
        # 1.0: the compiler is a node (an external gcc here) reached by build edges whose
        # virtuals name the languages; compiler-wrapper is a built node of its own
        compilers = {"c": "/usr/bin/gcc", "cxx": "/usr/bin/g++", "fortran": "/usr/bin/gfortran"}
        out["gcc"] = _node(
            release, "gcc", GCC,
            {"binutils": False, "build_system": "autotools", "languages": ["c", "c++", "fortran"],
             **flags},
            [], namespace="builtin",
            external={"path": "/usr", "module": None,
                      "extra_attributes": {"compilers": compilers}},
        )  # fmt: skip
        out["compiler-wrapper"] = _node(
            release, "compiler-wrapper", "1.0", {"build_system": "generic", **flags}, [],
            namespace="builtin",
        )  # fmt: skip
        runtime_deps.append(_dep(release, "gcc", ["build"], []))
    out["gcc-runtime"] = _node(
        release, "gcc-runtime", GCC, {"build_system": "generic", **flags}, runtime_deps,
        namespace="builtin",
    )  # fmt: skip
    for name, (version, system, _phases, tiny_deps) in PACKAGES.items():
        deps = [
            _dep(release, "gcc-runtime", ["link"], []),
            _dep(release, "glibc", ["link"], ["libc"]),
            _dep(release, "gmake", ["build"], []),
            *(_dep(release, d, ["build", "link"], []) for d in tiny_deps),
        ]
        if is_1x(release):
            deps += [
                _dep(release, "compiler-wrapper", ["build"], []),
                _dep(release, "gcc", ["build"], ["c"]),
            ]
        params = {"build_system": system, **flags}
        if system == "makefile":
            params["debug"] = False
        out[name] = _node(release, name, version, params, deps)
    return out


def spec_document(release: str, root: str, all_nodes: dict[str, dict]) -> dict:
    """``spec.json`` of ``root``: the root first, then its dependencies (Spack's order)."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        order.append(name)
        for dep in all_nodes[name].get("dependencies", []):
            visit(dep["name"])

    visit(root)
    rest = sorted(order[1:])
    return {
        "spec": {
            "_meta": {"version": 5 if is_1x(release) else 4},
            "nodes": [all_nodes[n] for n in [root, *rest]],
        }
    }


def _prefix_root(release: str, tree: Path, name: str, version: str) -> Path:
    h = dag_hash(release, name)
    if is_1x(release):  # 1.x projection: {platform}-{target}/{name}-{version}-{hash}
        return tree / "linux-icelake" / f"{name}-{version}-{h}"
    return tree / "linux-debian12-icelake" / f"gcc-{GCC}" / f"{name}-{version}-{h}"


def _log(release: str, name: str, phases: list[str], spack_root: str, *, broken: bool) -> str:
    lines = []
    stamp = f"2026-12-02-21:4{'9' if broken else '0'}:26.985287"
    wrapper = (
        f"{spack_root}/opt/spack/linux-icelake/compiler-wrapper-1.0-"
        f"{dag_hash(release, 'compiler-wrapper')}/libexec/spack/gcc/gcc"
        if is_1x(release)
        else f"{spack_root}/lib/spack/env/gcc/gcc"
    )
    for phase in phases:
        lines.append(f"==> {name}: Executing phase: '{phase}'")
        if phase == "configure":
            lines.append(f"==> [{stamp}] '{spack_root}/stage/spack-src/configure' '--prefix=/p'")
            lines.append("checking for gcc... " + wrapper)
        if phase == "build":
            lines.append(f"==> [{stamp}] 'make' '-j2'")
            lines.append(f"{wrapper} -O2 -fPIC -shared  -o lib{name}.so {name}.c")
            if broken:
                lines += [
                    "broken.c: In function 'tinybroken_value':",
                    GCC_ERROR,
                    "    4 |   return undefined_symbol_xyz + x;",
                    "      |   ^~~~~~",
                    "make: *** [Makefile:6: libtinybroken.so] Error 1",
                ]
                break
        if phase == "install" and name.startswith("tiny"):
            lines.append(f"==> [{stamp}] 'make' '-j2' 'install'")
    return "\n".join(lines) + "\n"


def _build_env(release: str, name: str, version: str, spack_root: str) -> str:
    h7 = dag_hash(release, name)[:7]
    system = PACKAGES[name][1] if name in PACKAGES else "generic"
    variants = "~debug build_system=makefile" if system == "makefile" else f"build_system={system}"
    if is_1x(release):
        # 1.x: only a node with a c/cxx/fortran build edge has a compiler (tiny* here)
        compiler = f" %c=gcc@{GCC}" if name in PACKAGES else ""
        short = f"{name}@{version} {variants} arch=linux-debian12-icelake{compiler}/{h7}"
    else:
        short = f"{name}@{version}%gcc@{GCC}{variants} arch=linux-debian12-icelake/{h7}"
    return (
        "export LC_ALL=C;\n"
        f"export SPACK_ROOT={spack_root};\n"
        f'export SPACK_SHORT_SPEC="{short}";\n'
        "unset CFLAGS;\n"
    )


def _times(release: str, name: str, phases: list[str]) -> dict:
    each = [
        {"name": "stage", "path": "stage", "seconds": 0.125, "count": 1},
        *(
            {"name": p, "path": p, "seconds": round(0.01 * (i + 1), 4), "count": 1}
            for i, p in enumerate(phases)
        ),
        {"name": "post-install", "path": "post-install", "seconds": 0.005, "count": 1},
    ]
    total = round(sum(p["seconds"] for p in each) + 0.05, 6)
    return {
        "total": total,
        "phases": each,
        "name": name,
        "hash": dag_hash(release, name),
        "cache": False,
    }


def write_prefix(release: str, tree: Path, spack_root: str, name: str, all_nodes: dict) -> Path:
    node = all_nodes[name]
    version = node["version"]
    prefix = _prefix_root(release, tree, name, version)
    meta = prefix / ".spack"
    meta.mkdir(parents=True)
    phases = PACKAGES[name][2] if name in PACKAGES else ["install"]
    (meta / "spec.json").write_text(json.dumps(spec_document(release, name, all_nodes)))
    log = _log(release, name, phases, spack_root, broken=False)
    # installer.archive_install_logs (0.22+): only a gzipped copy of the combined log,
    # written without a file name or time in the gzip header
    with open(meta / "spack-build-out.txt.gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=6, mtime=0, fileobj=raw) as gz:
            gz.write(log.encode())
    (meta / "install_times.json").write_text(json.dumps(_times(release, name, phases)))
    env = {
        "host_os": "debian12",
        "platform": "linux",
        "host_target": "icelake",
        "hostname": "vm",
        "spack_version": release,
        "kernel_version": "#1 SMP PREEMPT_DYNAMIC @0",
    }
    (meta / "install_environment.json").write_text(json.dumps(env))
    (meta / "spack-build-env.txt").write_text(_build_env(release, name, version, spack_root))
    original = f"{spack_root}/opt/spack/{prefix.relative_to(tree)}"
    manifest = {
        f"{original}/.spack": {"mode": 16877, "owner": 0, "group": 0, "type": "dir"},
        f"{original}/lib": {"mode": 16877, "owner": 0, "group": 0, "type": "dir"},
    }
    if name.startswith("tiny"):
        manifest[f"{original}/lib/lib{name}.so"] = {
            "mode": 33261, "owner": 0, "group": 0, "type": "file",
            "hash": hashlib.sha256(name.encode()).hexdigest(),
        }  # fmt: skip
    (meta / "install_manifest.json").write_text(json.dumps(manifest))
    if name == "tinybase":  # autotools: configure arguments and the archived config.log
        (meta / "spack-configure-args.txt").write_text("--enable-shared --disable-static\n")
        archived = meta / "archived-files" / "spack-src"
        archived.mkdir(parents=True)
        (archived / "config.log").write_text("This file contains any messages produced by...\n")
    return prefix


def write_stage(release: str, stage_root: Path, spack_root: str, all_nodes: dict) -> Path:
    """The stage the failed tinybroken build leaves (the default installer of every release
    here: one log per phase up to the failing one, joined into spack-build-out.txt)."""
    h = dag_hash(release, "tinybroken")
    stage = stage_root / f"spack-stage-tinybroken-0.9-{h}"
    stage.mkdir(parents=True)
    log = _log(release, "tinybroken", PACKAGES["tinybroken"][2], spack_root, broken=True)
    (stage / "spack-build-out.txt").write_text(log)
    pieces = log.split("==> tinybroken: Executing phase: ")[1:]
    for i, piece in enumerate(pieces, 1):
        phase = piece.split("'")[1]
        text = "==> tinybroken: Executing phase: " + piece
        (stage / f"spack-build-{i:02d}-{phase}-out.txt").write_text(text)
    env = _build_env(release, "tinybroken", "0.9", spack_root)
    (stage / "spack-build-env.txt").write_text(env.replace("export ", "").replace(";\n", "\n"))
    (stage / "spack-build-env-mods.txt").write_text(env)
    return stage


def write_new_installer_stage(release: str, stage_root: Path, spack_root: str) -> Path:
    """1.1's experimental installer (config:installer:new): the build log is a file in the
    stage root, spack-stage-<name>-<version>-<hash>-<random>.log, and the stage's
    spack-build-out.txt is a symbolic link to it; no per-phase logs."""
    h = dag_hash(release, "tinybroken")
    stage = stage_root / f"spack-stage-tinybroken-0.9-{h}"
    stage.mkdir(parents=True)
    log_name = f"spack-stage-tinybroken-0.9-{h}-k3x9q2ab.log"
    log = _log(release, "tinybroken", PACKAGES["tinybroken"][2], spack_root, broken=True)
    (stage_root / log_name).write_text(log + "Traceback (most recent call last):\n")
    os.symlink(f"../{log_name}", stage / "spack-build-out.txt")
    return stage


def _record(node: dict, path: str | None, explicit: bool, stamp: float) -> dict:
    return {
        "spec": node,
        "ref_count": 0 if explicit else 1,
        "path": path,
        "installed": True,
        "explicit": explicit,
        "installation_time": stamp,
    }


def write_database(release: str, tree: Path, spack_root: str, all_nodes: dict) -> None:
    """.spack-db/index.json after run 1 (tinyapp and what it needs installed) and the
    failures/ markers run 2 left for tinybroken and the dependent it skipped (files named
    <name>-<DAG hash> holding the spec as JSON: database.py FailureTracker.mark)."""
    db = tree / ".spack-db"
    (db / "failures").mkdir(parents=True)
    installed = ["glibc", "gmake", "gcc-runtime", "tinybase", "tinyutil", "tinyapp"]
    if is_1x(release):
        installed[2:2] = ["gcc", "compiler-wrapper"]
    installs = {}
    for i, name in enumerate(installed):
        node = dict(all_nodes[name])
        node.pop("hash")  # the record's key is the hash (database.py adds it back on read)
        ext = node.get("external")
        path = (
            ext["path"]
            if ext
            else f"{spack_root}/opt/spack/"
            + str(_prefix_root(release, tree, name, node["version"]).relative_to(tree))
        )
        installs[dag_hash(release, name)] = _record(node, path, name == "tinyapp", RUN1 + 10 * i)
    version = "8" if is_1x(release) else "7"
    (db / "index.json").write_text(
        json.dumps({"database": {"version": version, "installs": installs}})
    )
    # installer.py _update_failed(dep_task, mark): the dependent it skipped is marked too
    for name in ("tinybroken", "tinybrokenapp"):
        marker = db / "failures" / f"{name}-{dag_hash(release, name)}"
        marker.write_text(json.dumps(spec_document(release, name, all_nodes)))


def write_environment(release: str, folder: Path, all_nodes: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "spack.yaml").write_text(
        "spack:\n  specs:\n  - tinyapp\n  - tinybrokenapp\n  view: false\n"
    )
    lock = {
        "_meta": {
            "file-type": "spack-lockfile",
            "lockfile-version": 6 if is_1x(release) else 5,
            "specfile-version": 5 if is_1x(release) else 4,
        },
        "spack": {"version": release, "type": "git", "commit": COMMIT[release]},
        "roots": [
            {"hash": dag_hash(release, "tinyapp"), "spec": "tinyapp"},
            {"hash": dag_hash(release, "tinybrokenapp"), "spec": "tinybrokenapp"},
        ],
        "concrete_specs": {n["hash"]: n for n in sorted(all_nodes.values(), key=_by_name)},
    }
    (folder / "spack.lock").write_text(json.dumps(lock, indent=2))


def _by_name(node: dict) -> str:
    return node["name"]


def write_junit(release: str, path: Path, spack_root: str, all_nodes: dict) -> None:
    """spack install --log-format junit tinybrokenapp (run 2), share/spack/templates/reports/
    junit.xml: 1.x names the suite after the root alone and has no compiler property
    (lib/spack/spack/report.py RequestRecord); 0.23 is written like the real 0.22.1 report."""
    root = "tinybrokenapp"
    skipped = ["gcc-runtime", "glibc", "gmake", "tinybase", "tinyutil"]
    if is_1x(release):
        skipped[:0] = ["compiler-wrapper", "gcc"]
        name, props = root, [("architecture", "linux-debian12-icelake")]
    else:
        name = f"{root}_{dag_hash(release, root)[:7]}"
        props = [("architecture", "linux-debian12-icelake"), ("compiler", f"gcc@={GCC}")]
    log = _log(release, "tinybroken", PACKAGES["tinybroken"][2], spack_root, broken=True)
    message = "ProcessError: Command exited with status 2:\n    'make' '-j2'"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<testsuites>",
        f'    <testsuite name="{name}" errors="0" tests="{len(skipped) + 1}" failures="1"'
        f' time="0.25" timestamp="Wed, 02 Dec 2026 21:49:26" >',
        "        <properties>",
        *(f'            <property name="{k}" value="{v}" />' for k, v in props),
        "        </properties>",
    ]
    for dep in skipped:
        out += [
            f'        <testcase classname="{dep}" name="{dag_hash(release, dep)}" time="0.0">',
            "            <skipped />",
            "        </testcase>",
        ]
    trace = (
        "Traceback (most recent call last):\n"
        f'  File "{spack_root}/lib/spack/spack/installer.py", line 2448, in _real_install\n'
        "    phase_fn.execute()\n"
        f"spack.util.executable.ProcessError: {message}\n"
    )
    out += [
        f'        <testcase classname="tinybroken" name="{dag_hash(release, "tinybroken")}"'
        ' time="0.25">',
        f"            <failure message={quoteattr(message)}>",
        escape(trace),
        "            </failure>",
        "            <system-out>",
        escape(log + message),
        "            </system-out>",
        "        </testcase>",
        "    </testsuite>",
        "</testsuites>",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))


def write_cdash(release: str, folder: Path, spack_root: str) -> None:
    """spack install --log-format cdash tinybrokenapp (run 2): tinybroken is the only package
    with output, so Spack names the files without a package prefix (reporters/cdash.py)."""
    folder.mkdir(parents=True)
    generator = f"spack-{release} ({COMMIT[release]})"
    site = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Site BuildName="tinybrokenapp"\n      BuildStamp="20261202-2149-Experimental"\n'
        f'      Name="vm"\n      Generator="{generator}"\n      Hostname=""\n'
        '      OSName="Linux"\n      OSRelease="6.1.0"\n      VendorString="icelake"\n>'
    )
    log = _log(release, "tinybroken", PACKAGES["tinybroken"][2], spack_root, broken=True)
    build_lines = ["build output for tinybroken:"] + log.split("'build'\n", 1)[1].splitlines()
    n = build_lines.index(GCC_ERROR)
    (folder / "Build.xml").write_text(
        site + "  <Build>\n    <StartBuildTime>1796248166</StartBuildTime>\n"
        "    <BuildCommand>tinybrokenapp</BuildCommand>\n    <Error>\n"
        f"      <BuildLogLine>{n + 1}</BuildLogLine>\n      <Text>{escape(GCC_ERROR)}</Text>\n"
        "      <SourceFile>broken.c</SourceFile>\n      <SourceLineNumber>4</SourceLineNumber>\n"
        f"      <PreContext>{escape(escape(chr(10).join(build_lines[:n])))}</PreContext>\n"
        f"      <PostContext>{escape(escape(chr(10).join(build_lines[n + 1 :])))}</PostContext>\n"
        "    </Error>\n    <EndBuildTime>1796248167</EndBuildTime>\n"
        "    <ElapsedMinutes>0</ElapsedMinutes>\n  </Build>\n</Site>"
    )
    (folder / "Configure.xml").write_text(
        site + "  <Configure>\n    <StartConfigureTime>1796248166</StartConfigureTime>\n"
        "    <ConfigureCommand>tinybrokenapp</ConfigureCommand>\n"
        "    <Log>configure output for tinybroken:</Log>\n"
        "    <ConfigureStatus>0</ConfigureStatus>\n"
        "    <EndConfigureTime>1796248167</EndConfigureTime>\n  </Configure>\n</Site>"
    )
    (folder / "Update.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Update>\n  <Site>vm</Site>\n'
        "  <BuildName>tinybrokenapp</BuildName>\n"
        "  <BuildStamp>20261202-2149-Experimental</BuildStamp>\n"
        "  <StartTime>1796248166</StartTime>\n  <UpdateCommand></UpdateCommand>\n"
        f"  <UpdateType>GIT</UpdateType>\n  <Revision>{COMMIT[release]}</Revision>\n"
        "  <EndTime>1796248167</EndTime>\n</Update>"
    )


def write_release(release: str, out: Path) -> None:
    spack_root = f"/home/builder/spack/v{release}"
    all_nodes = nodes(release)
    tree = out / "opt" / "spack"
    built = ["gcc-runtime", "tinybase", "tinyutil", "tinyapp"]
    if is_1x(release):
        built.insert(0, "compiler-wrapper")
    for name in built:
        write_prefix(release, tree, spack_root, name, all_nodes)
    write_database(release, tree, spack_root, all_nodes)
    write_stage(release, out / "stage", spack_root, all_nodes)
    write_environment(release, out / "env", all_nodes)
    write_junit(release, out / "reports" / "junit-tinybrokenapp.xml", spack_root, all_nodes)
    write_cdash(release, out / "reports" / "cdash-tinybrokenapp", spack_root)


# ---------------------------------------------------------------------------------------------
# Spack 0.23 splicing (v0.23.1-splice/): what a spliced spec leaves in each file

SPLICE = "0.23.1"


def _splice_hash(name: str) -> str:
    return dag_hash(SPLICE, "splice:" + name)


def _franken(new: str, built_as: str) -> str:
    """spec.py ``Spec.spec_hash``: a spliced spec's hash keeps the last 7 characters of the
    hash of the spec it was built as ("frankenhashes", so that relocation keeps lengths)."""
    return new[:-7] + built_as[-7:]


def splice_nodes() -> dict[str, dict]:
    """The nodes of the splice scenario, by label.

    Run 1 (``spack install tinyapp``) built ``tinyapp`` against ``tinyutil`` (``util1``).
    Run 2 rebuilt ``tinyutil`` with ``+fast`` (``util2``) and, with
    ``concretizer:splice:automatic``, reused the installed tinyapp by splicing ``util2`` in:
    ``app_spliced`` (its ``build_spec`` names ``app``). Run 3 (``spack install
    tinybrokenapp``) spliced ``util2`` into a tinybrokenapp no cache held
    (``brokenapp_spliced``, built as ``brokenapp``): Spack queued the build spec's build
    (installer.py ``_requeue_with_build_spec_tasks``), its dependency tinybroken failed, and
    Spack skipped ``brokenapp`` and, through it, ``brokenapp_spliced``.
    """
    base = nodes(SPLICE)
    out = {k: base[k] for k in ("glibc", "gmake", "gcc-runtime", "tinybase", "tinybroken")}

    def tiny(name: str, h: str, deps: list[tuple[str, str]], fast: bool = False, **extra):
        version, system, _phases, _deps = PACKAGES[name]
        dep_entries = [
            _dep(SPLICE, "gcc-runtime", ["link"], []),
            _dep(SPLICE, "glibc", ["link"], ["libc"]),
            _dep(SPLICE, "gmake", ["build"], []),
            *({"name": n, "hash": dh, "parameters": {"deptypes": ["build", "link"],
               "virtuals": []}} for n, dh in deps),
        ]  # fmt: skip
        params = dict(base[name]["parameters"])
        if fast:
            params["fast"] = True
        node = _node(SPLICE, name, version, params, dep_entries)
        node.pop("hash")
        node.update(extra)  # build_spec: after the dependencies (spec.py to_node_dict)
        node["hash"] = h
        return node

    tb, broken = base["tinybase"]["hash"], base["tinybroken"]["hash"]
    util1, util2 = _splice_hash("tinyutil-1"), _splice_hash("tinyutil-2")
    app = _splice_hash("tinyapp")
    app_spliced = _franken(_splice_hash("tinyapp*"), app)
    brokenapp = _splice_hash("tinybrokenapp")
    brokenapp_spliced = _franken(_splice_hash("tinybrokenapp*"), brokenapp)
    out["util1"] = tiny("tinyutil", util1, [("tinybase", tb)])
    out["util2"] = tiny("tinyutil", util2, [("tinybase", tb)], fast=True)
    out["app"] = tiny("tinyapp", app, [("tinyutil", util1)])
    out["app_spliced"] = tiny(
        "tinyapp", app_spliced, [("tinyutil", util2)],
        build_spec={"name": "tinyapp", "hash": app},
    )  # fmt: skip
    out["brokenapp"] = tiny(
        "tinybrokenapp", brokenapp, [("tinybroken", broken), ("tinyutil", util1)]
    )
    out["brokenapp_spliced"] = tiny(
        "tinybrokenapp", brokenapp_spliced, [("tinybroken", broken), ("tinyutil", util2)],
        build_spec={"name": "tinybrokenapp", "hash": brokenapp},
    )  # fmt: skip
    return out


def splice_document(all_nodes: dict[str, dict], root: str) -> dict:
    """``Spec.to_dict``: the nodes in preorder from the root, each spliced node followed by
    its build spec's nodes (those not written yet): spec.py ``to_dict``."""
    by_hash = {n["hash"]: n for n in all_nodes.values()}
    order: list[str] = []

    def visit(h: str) -> None:
        if h in order:
            return
        order.append(h)
        node = by_hash[h]
        for dep in sorted(node.get("dependencies", []), key=lambda d: d["name"]):
            visit(dep["hash"])
        if "build_spec" in node:
            visit(node["build_spec"]["hash"])

    visit(all_nodes[root]["hash"])
    return {"spec": {"_meta": {"version": 4}, "nodes": [by_hash[h] for h in order]}}


def write_splice(out: Path) -> None:
    release, spack_root = SPLICE, f"/home/builder/spack/v{SPLICE}"
    all_nodes = splice_nodes()
    tree = out / "opt" / "spack"
    by_name = nodes(release)
    # run 1 and run 2 built these prefixes the ordinary way
    built = {"gcc-runtime": "gcc-runtime", "tinybase": "tinybase"}
    for label in built:
        write_prefix(release, tree, spack_root, label, by_name)
    for label in ("util1", "util2", "app"):
        node = all_nodes[label]
        prefix = _splice_prefix(tree, node)
        _write_built_prefix(prefix, node, all_nodes, spack_root)
    # run 2 rewired app into app_spliced: rewiring.rewire_node copies the build spec's prefix
    # (its build log, install_times.json, ...: a buildcache tarball of it), relocates it and
    # writes the spliced spec's spec.json; the post-install hook writes a new manifest
    source = _splice_prefix(tree, all_nodes["app"])
    target = _splice_prefix(tree, all_nodes["app_spliced"])
    shutil.copytree(source, target)
    (target / ".spack" / "spec.json").write_text(
        json.dumps(splice_document(all_nodes, "app_spliced"))
    )
    manifest = json.loads((target / ".spack" / "install_manifest.json").read_text())
    moved = {k.replace(source.name, target.name): v for k, v in manifest.items()}
    (target / ".spack" / "install_manifest.json").write_text(json.dumps(moved))
    # the database: every installed spec (app_spliced's record keeps its build_spec)
    db = tree / ".spack-db"
    (db / "failures").mkdir(parents=True)
    installs = {}
    order = ["glibc", "gmake", "gcc-runtime", "tinybase", "util1", "app", "util2", "app_spliced"]
    for i, label in enumerate(order):
        node = dict(all_nodes[label])
        h = node.pop("hash")
        ext = node.get("external")
        path = ext["path"] if ext else f"{spack_root}/opt/spack/" + str(
            _splice_prefix(tree, all_nodes[label]).relative_to(tree)
        )  # fmt: skip
        explicit = label in ("app", "app_spliced")
        installs[h] = _record(node, path, explicit, RUN1 + 10 * i)
    (db / "index.json").write_text(json.dumps({"database": {"version": "7", "installs": installs}}))
    # run 3: tinybroken failed; Spack skipped the build spec and the spliced spec after it
    for label in ("tinybroken", "brokenapp", "brokenapp_spliced"):
        node = all_nodes[label]
        marker = db / "failures" / f"{node['name']}-{node['hash']}"
        marker.write_text(json.dumps(splice_document(all_nodes, label)))
    # the environment of run 2 and 3: roots tinyapp and tinybrokenapp, both spliced; the
    # lock's concrete_specs hold the build specs' nodes too (environment.py
    # _concrete_specs_dict: every node of s.build_spec.traverse())
    env = out / "env"
    env.mkdir(parents=True)
    (env / "spack.yaml").write_text(
        "spack:\n  specs:\n  - tinyapp\n  - tinybrokenapp\n  concretizer:\n"
        "    splice:\n      automatic: true\n  view: false\n"
    )
    roots = [all_nodes["app_spliced"], all_nodes["brokenapp_spliced"]]
    concrete: dict[str, dict] = {}
    for root in roots:
        for node in splice_document(all_nodes, next(k for k, v in all_nodes.items() if v is root))[
            "spec"
        ]["nodes"]:
            concrete[node["hash"]] = node
    lock = {
        "_meta": {"file-type": "spack-lockfile", "lockfile-version": 5, "specfile-version": 4},
        "spack": {"version": release, "type": "git", "commit": COMMIT[release]},
        "roots": [{"hash": r["hash"], "spec": r["name"]} for r in roots],
        "concrete_specs": dict(sorted(concrete.items(), key=lambda kv: kv[1]["name"])),
    }
    (env / "spack.lock").write_text(json.dumps(lock, indent=2))


def _splice_prefix(tree: Path, node: dict) -> Path:
    return (
        tree / "linux-debian12-icelake" / f"gcc-{GCC}"
        / f"{node['name']}-{node['version']}-{node['hash']}"
    )  # fmt: skip


def _write_built_prefix(prefix: Path, node: dict, all_nodes: dict, spack_root: str) -> None:
    """An ordinary prefix of a splice scenario node (as write_prefix, for its own hash)."""
    name = node["name"]
    meta = prefix / ".spack"
    meta.mkdir(parents=True)
    label = next(k for k, v in all_nodes.items() if v is node)
    (meta / "spec.json").write_text(json.dumps(splice_document(all_nodes, label)))
    phases = PACKAGES[name][2]
    log = _log(SPLICE, name, phases, spack_root, broken=False)
    with open(meta / "spack-build-out.txt.gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=6, mtime=0, fileobj=raw) as gz:
            gz.write(log.encode())
    times = _times(SPLICE, name, phases)
    times["hash"] = node["hash"]
    (meta / "install_times.json").write_text(json.dumps(times))
    env = {
        "host_os": "debian12", "platform": "linux", "host_target": "icelake", "hostname": "vm",
        "spack_version": SPLICE, "kernel_version": "#1 SMP PREEMPT_DYNAMIC @0",
    }  # fmt: skip
    (meta / "install_environment.json").write_text(json.dumps(env))
    (meta / "spack-build-env.txt").write_text(_build_env(SPLICE, name, node["version"], spack_root))
    original = f"{spack_root}/opt/spack/linux-debian12-icelake/gcc-{GCC}/{prefix.name}"
    (meta / "install_manifest.json").write_text(
        json.dumps({f"{original}/lib/lib{name}.so": {"mode": 33261, "type": "file"}})
    )


def main(target: Path = HERE) -> None:
    for release in RELEASES:
        out = target / f"v{release}"
        if out.exists():
            shutil.rmtree(out)
        write_release(release, out)
    other = target / "v1.1.1-new-installer"
    if other.exists():
        shutil.rmtree(other)
    write_new_installer_stage("1.1.1", other / "stage", "/home/builder/spack/v1.1.1")
    splice = target / f"v{SPLICE}-splice"
    if splice.exists():
        shutil.rmtree(splice)
    write_splice(splice)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
