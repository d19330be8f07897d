"""Write specs/singularity-3.6.4.json (Spack 0.16 list format) and singularity-3.8.0.json
(Spack 0.17 ``_meta.version`` 2 node list).

The DAG follows the dependencies the Spack packages of those releases declare (default
variants, gcc 9.3.0 on ubuntu20.04/skylake). The root and its eight direct dependencies carry
the full hashes the Spack Monitor API tutorial prints for the upload of singularity 3.6.4;
every other hash is derived deterministically from the package name and version (32 base32
characters, as Spack writes them). Run: ``python specs/make_specs.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# full hashes from the API tutorial's upload answer (root + the 8 direct dependencies)
TUTORIAL_FULL_HASHES = {
    "singularity": "p64nmszwer36ly7pnch5fznni4cnmndg",
    "cryptsetup": "tmi4pf6umhalop7mi6zyiv7xjpalyzgb",
    "go": "dehg3ddu6gacrmnoexbxhjv2i2d76yq6",
    "libgpg-error": "4cvsg42wxksiup6x74mlabu6un55wjzc",
    "libseccomp": "kfx6zyjxzudw77e3xk6i73bcgi2cavgh",
    "pkgconf": "al2hlnux3cchfhwiv2sbejnxvnogibac",
    "shadow": "aozeq6ybtsnrs5phtonutwes7fe6yhcy",
    "squashfs": "vpemhhpzqqf7mvpzdvcg6szfah6mwt2q",
    "util-linux-uuid": "g362jjpzlfp3qhfm7gdery6v3xgeh3lg",
}

FLAGS = {"cflags": [], "cppflags": [], "cxxflags": [], "fflags": [], "ldflags": [], "ldlibs": []}

# name: (version, variants, [(dep, types)])  -- Spack 0.16 packages, default variants
PACKAGES_0_16 = {
    "singularity": (
        "3.6.4",
        {"network": True, "suid": True},
        [
            ("cryptsetup", ["build", "link"]),
            ("go", ["build"]),
            ("libgpg-error", ["build", "link"]),
            ("libseccomp", ["build", "link"]),
            ("pkgconf", ["build"]),
            ("shadow", ["run"]),
            ("squashfs", ["run"]),
            ("util-linux-uuid", ["build", "link"]),
        ],
    ),
    "cryptsetup": (
        "2.3.4",
        {},
        [
            ("autoconf", ["build"]),
            ("automake", ["build"]),
            ("gettext", ["build", "link"]),
            ("json-c", ["build", "link"]),
            ("libtool", ["build"]),
            ("lvm2", ["build", "link"]),
            ("m4", ["build"]),
            ("pkgconf", ["build"]),
            ("popt", ["build", "link"]),
            ("util-linux", ["build", "link"]),
        ],
    ),
    "autoconf": ("2.69", {}, [("m4", ["build", "run"]), ("perl", ["build", "run"])]),
    "m4": (
        "1.4.18",
        {
            "patches": [
                "3877ab548f88597ab2327a2230ee048d2d07ace1062efe81fc92e91b7f39cd00",
                "fc9b61654a3ba1a8d6cd78ce087e7c96366c290bc8d2c299f09828d793b853c8",
            ],
            "sigsegv": True,
        },
        [("libsigsegv", ["build", "link"])],
    ),
    "libsigsegv": ("2.12", {}, []),
    "perl": (
        "5.32.0",
        {"cpanm": True, "shared": True, "threads": True},
        [("berkeley-db", ["build", "link"]), ("gdbm", ["build", "link"])],
    ),
    "berkeley-db": ("18.1.40", {}, []),
    "gdbm": ("1.18.1", {}, [("readline", ["build", "link"])]),
    "readline": ("8.0", {}, [("ncurses", ["build", "link"])]),
    "ncurses": ("6.2", {"symlinks": False, "termlib": True}, [("pkgconf", ["build"])]),
    "pkgconf": ("1.7.3", {}, []),
    "automake": ("1.16.2", {}, [("autoconf", ["build"]), ("perl", ["build", "run"])]),
    "gettext": (
        "0.21",
        {
            "bzip2": True,
            "curses": True,
            "git": True,
            "libunistring": False,
            "libxml2": True,
            "tar": True,
            "xz": True,
        },
        [
            ("bzip2", ["build", "link"]),
            ("libiconv", ["build", "link"]),
            ("libxml2", ["build", "link"]),
            ("ncurses", ["build", "link"]),
            ("tar", ["build", "link"]),
            ("xz", ["build", "link"]),
        ],
    ),
    "bzip2": ("1.0.8", {"shared": True}, [("diffutils", ["build"])]),
    "diffutils": ("3.7", {}, [("libiconv", ["build", "link"])]),
    "libiconv": ("1.16", {}, []),
    "libxml2": (
        "2.9.10",
        {"python": False},
        [
            ("libiconv", ["build", "link"]),
            ("pkgconf", ["build"]),
            ("xz", ["build", "link"]),
            ("zlib", ["build", "link"]),
        ],
    ),
    "xz": ("5.2.5", {"pic": False}, []),
    "zlib": ("1.2.11", {"optimize": True, "pic": True, "shared": True}, []),
    "tar": ("1.32", {}, []),
    "json-c": ("0.15", {}, [("cmake", ["build"])]),
    "cmake": (
        "3.18.4",
        {
            "build_type": "Release",
            "doc": False,
            "ncurses": True,
            "openssl": True,
            "ownlibs": True,
            "qt": False,
        },
        [("ncurses", ["build", "link"]), ("openssl", ["build", "link"])],
    ),
    "openssl": (
        "1.1.1h",
        {"certs": "system", "systemcerts": True},
        [("perl", ["build"]), ("zlib", ["build", "link"])],
    ),
    "libtool": ("2.4.6", {}, [("m4", ["build"])]),
    "lvm2": (
        "2.03.05",
        {"pkgconfig": True},
        [("libaio", ["build", "link"]), ("pkgconf", ["build"])],
    ),
    "libaio": ("0.3.110", {}, []),
    "popt": ("1.16", {}, [("libiconv", ["build", "link"])]),
    "util-linux": ("2.35.1", {"bash": False}, [("pkgconf", ["build"])]),
    "go": ("1.15.5", {}, [("go-bootstrap", ["build"])]),
    "go-bootstrap": ("1.4-bootstrap-20171003", {}, []),
    "libgpg-error": ("1.37", {}, [("gawk", ["build"])]),
    "gawk": ("5.1.0", {}, [("gettext", ["build", "link"]), ("libsigsegv", ["build", "link"])]),
    "libseccomp": (
        "2.3.3",
        {},
        [
            ("autoconf", ["build"]),
            ("automake", ["build"]),
            ("libtool", ["build"]),
            ("m4", ["build"]),
        ],
    ),
    "shadow": ("4.8.1", {}, []),
    "squashfs": (
        "4.4",
        {
            "default_compression": "gzip",
            "gzip": True,
            "lz4": False,
            "lzo": False,
            "xz": False,
            "zstd": False,
        },
        [("zlib", ["build", "link"])],
    ),
    "util-linux-uuid": ("2.36", {}, [("pkgconf", ["build"])]),
}


def _changes_for_0_17(packages: dict) -> dict:
    """singularity 3.8.0 as concretized by Spack 0.17: newer versions, squashfs +zstd."""
    pk = {k: (v[0], dict(v[1]), list(v[2])) for k, v in packages.items()}

    def bump(name: str, version: str) -> None:
        pk[name] = (version, pk[name][1], pk[name][2])

    bump("singularity", "3.8.0")
    bump("go", "1.16.6")
    bump("cryptsetup", "2.3.5")
    bump("libseccomp", "2.5.1")
    bump("squashfs", "4.5")
    bump("openssl", "1.1.1l")
    bump("cmake", "3.21.4")
    bump("util-linux-uuid", "2.36.2")
    bump("perl", "5.34.0")
    bump("pkgconf", "1.8.0")
    pk["singularity"][1]["network"] = False
    pk["squashfs"][1]["zstd"] = True
    pk["squashfs"][2].append(("zstd", ["build", "link"]))
    pk["zstd"] = ("1.5.0", {"programs": False}, [])
    # 3.8 no longer needs libgpg-error at build time
    pk["singularity"] = (
        pk["singularity"][0],
        pk["singularity"][1],
        [d for d in pk["singularity"][2] if d[0] != "libgpg-error"],
    )
    del pk["libgpg-error"]
    del pk["gawk"]  # only libgpg-error needed it
    return pk


TARGET = {
    "name": "skylake",
    "vendor": "GenuineIntel",
    "features": [
        "adx",
        "aes",
        "avx",
        "avx2",
        "bmi1",
        "bmi2",
        "clflushopt",
        "f16c",
        "fma",
        "mmx",
        "movbe",
        "pclmulqdq",
        "popcnt",
        "rdrand",
        "rdseed",
        "sse",
        "sse2",
        "sse4_1",
        "sse4_2",
        "ssse3",
        "xsavec",
        "xsaveopt",
    ],
    "generation": 0,
    "parents": ["broadwell"],
}


def _h(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return base64.b32encode(digest).decode()[:32].lower()


def _order(packages: dict, root: str) -> list[str]:
    """Pre-order traversal with sorted children, as Spack writes its node lists."""
    seen: list[str] = []

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.append(name)
        for dep, _types in sorted(packages[name][2]):
            visit(dep)

    visit(root)
    return seen


def _has_build_edge(packages: dict, name: str, memo: dict) -> bool:
    if name not in memo:
        deps = packages[name][2]
        memo[name] = any("build" in t and t == ["build"] for _d, t in deps) or any(
            _has_build_edge(packages, d, memo) for d, _t in deps
        )
    return memo[name]


def _hashes(packages: dict, era: str, fixed: dict[str, str]) -> dict[str, dict[str, str]]:
    out = {}
    memo: dict = {}
    for name, (version, _v, _d) in packages.items():
        build_hash = _h(era, name, version, "build")
        # the DAG hash leaves build-only dependencies out, so it equals build_hash when the
        # node's sub-DAG has no build-only edge
        dag = (
            build_hash
            if not _has_build_edge(packages, name, memo)
            else _h(era, name, version, "dag")
        )
        full = fixed.get(name) or _h(era, name, version, "full")
        out[name] = {"hash": dag, "full_hash": full, "build_hash": build_hash}
    return out


def _node_body(name: str, packages: dict) -> dict:
    version, variants, _deps = packages[name]
    return {
        "version": version,
        "arch": {"platform": "linux", "platform_os": "ubuntu20.04", "target": TARGET},
        "compiler": {"name": "gcc", "version": "9.3.0"},
        "namespace": "builtin",
        "parameters": {**variants, **FLAGS},
    }


def list_format(packages: dict, hashes: dict) -> dict:
    nodes = []
    for name in _order(packages, "singularity"):
        body = _node_body(name, packages)
        deps = sorted(packages[name][2])
        if deps:
            body["dependencies"] = {
                d: {"hash": hashes[d]["build_hash"], "type": t} for d, t in deps
            }
        body.update(hashes[name])
        nodes.append({name: body})
    return {"spec": nodes}


def node_list_format(packages: dict, hashes: dict) -> dict:
    nodes = []
    for name in _order(packages, "singularity"):
        body = {"name": name, **_node_body(name, packages)}
        deps = sorted(packages[name][2])
        if deps:
            body["dependencies"] = [
                {"name": d, "build_hash": hashes[d]["build_hash"], "type": t} for d, t in deps
            ]
        body.update(hashes[name])
        nodes.append(body)
    return {"spec": {"_meta": {"version": 2}, "nodes": nodes}}


def main() -> None:
    old = PACKAGES_0_16
    (HERE / "singularity-3.6.4.json").write_text(
        json.dumps(list_format(old, _hashes(old, "0.16", TUTORIAL_FULL_HASHES)), indent=1) + "\n"
    )
    new = _changes_for_0_17(old)
    (HERE / "singularity-3.8.0.json").write_text(
        json.dumps(node_list_format(new, _hashes(new, "0.17", {})), indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
