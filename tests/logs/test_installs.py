"""read_install_prefix / find_install_prefixes on the real Spack 0.17.1 prefix and stage dir."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from spackmon_analysis.errors import InstallPrefixError
from spackmon_analysis.installs import (
    InstallRecord,
    find_install_prefixes,
    parse_build_env,
    read_install_prefix,
)

DATA = Path(__file__).resolve().parent.parent / "data"
INSTALLS = DATA / "installs"
PREFIX = INSTALLS / "v0.17.1/tinyutil-2.1-o3dvqdizwzqb5yb35aqxfy4npnx625h5"
STAGE = (
    INSTALLS / "v0.17.1/failed-stage/spack-stage-tinybroken-0.9-bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn"
)


def test_install_prefix_build_record():
    rec = read_install_prefix(PREFIX)
    assert isinstance(rec, InstallRecord) and rec.kind == "prefix" and rec.path == PREFIX
    b = rec.build
    assert b.key == "o3dvqdizwzqb5yb35aqxfy4npnx625h5"
    spec_doc = json.loads((PREFIX / ".spack/spec.json").read_text())
    assert b.full_hash == spec_doc["spec"]["nodes"][0]["full_hash"]
    assert (b.spec_name, b.spec_version, b.status) == ("tinyutil", "2.1", "SUCCESS")
    env = json.loads((PREFIX / ".spack/install_environment.json").read_text())
    assert b.environment() == {k: env[k] for k in b.environment()}
    assert rec.spec.root.name == "tinyutil" and rec.spec.root.dag_hash == b.key
    assert rec.install_times["total"]["seconds"] == pytest.approx(0.0928, abs=1e-3)


def test_install_prefix_environment_variables_and_manifest():
    b = read_install_prefix(PREFIX).build
    # `export NAME=value;` lines, quoted values unquoted, `unset` lines skipped
    assert b.environment_variables["CC"] == "/home/builder/spack/v0.17.1/lib/spack/env/gcc/gcc"
    assert b.environment_variables["SPACK_SHORT_SPEC"].startswith("tinyutil@2.1%gcc@12.2.0")
    assert "CFLAGS" not in b.environment_variables
    assert b.config_args is None  # this Makefile package wrote no spack-configure-args.txt
    manifest = json.loads((PREFIX / ".spack/install_manifest.json").read_text())
    assert len(b.install_files) == len(manifest)
    lib = b.install_files["lib/libtinyutil.so"]
    original = next(v for k, v in manifest.items() if k.endswith("/lib/libtinyutil.so"))
    assert (
        lib == original
        and lib["hash"] == "JXY26XCJ3K3S34ELYM4VREDGRS7YHALX"
        and lib["size"] == 15152
    )
    assert all(not k.startswith("/") for k in b.install_files)
    assert {"lib", "include", ".spack"} <= set(b.install_files)
    # the absolute form, as Spack wrote it (what a server's analyze/builds/ takes)
    rec = read_install_prefix(PREFIX)
    assert rec.original_prefix == (
        "/home/builder/spack/v0.17.1/opt/spack/linux-debian12-icelake/gcc-12.2.0/"
        "tinyutil-2.1-o3dvqdizwzqb5yb35aqxfy4npnx625h5"
    )
    assert rec.install_files_absolute() == manifest


def test_install_prefix_phases():
    rec = read_install_prefix(PREFIX)
    assert [(p.name, p.order, p.status) for p in rec.phases] == [
        ("edit", 0, "SUCCESS"),
        ("build", 1, "SUCCESS"),
        ("install", 2, "SUCCESS"),
    ]
    times = {p["name"]: p["seconds"] for p in rec.install_times["phases"]}
    for p in rec.phases:
        assert p.duration == times[p.name]
        assert p.build_key == rec.build.key
        assert p.output == (PREFIX / ".spack" / p.source).read_text()
    build = rec.phases[1]
    assert build.started_at == datetime(2026, 11, 28, 6, 1, 27, 568359)
    assert build.finished_at == datetime(2026, 11, 28, 6, 1, 27, 618008)
    assert all(events == [] for events in rec.events().values())


def test_dot_spack_folder_and_a_file_inside_give_the_same_record():
    a = read_install_prefix(PREFIX)
    for start in (PREFIX / ".spack", PREFIX / ".spack/spec.json"):
        b = read_install_prefix(start)
        assert b.path == PREFIX and b.build == a.build
        assert [p.name for p in b.phases] == [p.name for p in a.phases]


def test_failed_stage_directory():
    rec = read_install_prefix(STAGE)
    assert rec.kind == "stage" and rec.spec is None
    b = rec.build
    assert (b.key, b.full_hash) == (
        "bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn",
        "bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn",
    )
    assert (b.spec_name, b.spec_version, b.status) == ("tinybroken", "0.9", "FAILED")
    assert (b.platform, b.host_os, b.host_target) == ("linux", "debian12", "icelake")
    # `NAME=value; export NAME` lines with a single-quoted value
    assert (
        b.environment_variables["SPACK_SHORT_SPEC"]
        == "tinybroken@0.9%gcc@12.2.0 arch=linux-debian12-icelake/bgd6kv3"
    )
    assert (
        b.environment_variables["SPACK_TARGET_ARGS"]
        == "-march=icelake-client -mtune=icelake-client"
    )
    assert [(p.name, p.order, p.status) for p in rec.phases] == [
        ("edit", 0, "SUCCESS"),
        ("build", 1, "ERROR"),
    ]
    assert rec.phases[1].duration is None  # no install_times.json in a stage dir
    events = rec.events()["build"]
    assert [(e.source_file, e.source_line_no) for e in events if e.kind == "error"] == [
        ("broken.c", 4),
        ("Makefile", 6),
    ]


def test_gzipped_logs_of_newer_spack(tmp_path):
    copy = tmp_path / PREFIX.name
    shutil.copytree(PREFIX, copy)
    for f in list((copy / ".spack").glob("spack-build-*.txt")):
        with open(f, "rb") as src, gzip.open(f.with_name(f.name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        f.unlink()
    rec = read_install_prefix(copy)
    plain = read_install_prefix(PREFIX)
    assert [(p.name, p.output, p.duration) for p in rec.phases] == [
        (p.name, p.output, p.duration) for p in plain.phases
    ]
    assert rec.phases[0].source == "spack-build-01-edit-out.txt.gz"
    # paths in the manifest stay relative to the prefix even when it moved
    assert rec.build.install_files == plain.build.install_files


def test_find_install_prefixes():
    assert find_install_prefixes(INSTALLS) == sorted([STAGE, PREFIX])
    assert find_install_prefixes(PREFIX) == [PREFIX]


def test_bad_inputs_name_the_path(tmp_path):
    with pytest.raises(InstallPrefixError, match="nowhere"):
        read_install_prefix(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InstallPrefixError, match="empty"):
        read_install_prefix(empty)
    nospec = tmp_path / "foo-1.0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    (nospec / ".spack").mkdir(parents=True)
    with pytest.raises(InstallPrefixError, match="no spec.json"):
        read_install_prefix(nospec)
    broken = tmp_path / PREFIX.name
    shutil.copytree(PREFIX, broken)
    (broken / ".spack/install_times.json").write_text("{not json")
    with pytest.raises(InstallPrefixError, match="install_times.json"):
        read_install_prefix(broken)
    (broken / ".spack/install_times.json").write_text("{}")
    (broken / ".spack/spec.json").write_text('{"spec": {"nodes": 3}}')
    with pytest.raises(InstallPrefixError, match="spec.json"):
        read_install_prefix(broken)
    with pytest.raises(InstallPrefixError, match="not a directory"):
        find_install_prefixes(tmp_path / "nowhere")


def test_parse_build_env_styles():
    text = "\n".join(
        [
            "export A=/x/y;",
            "unset B;",
            "C='two words'; export C",
            'D="dq value"; export D',
            "E='it'\"'\"'s'; export E",
            "F=; export F",
            "# a comment",
        ]
    )
    assert parse_build_env(text) == {
        "A": "/x/y",
        "C": "two words",
        "D": "dq value",
        "E": "it's",
        "F": "",
    }
