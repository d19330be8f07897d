"""read_install_prefix / find_install_prefixes on the real Spack 0.17.1 prefix and stage dir."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from spackmon_analysis.errors import InstallPrefixError
from spackmon_analysis.loaders.installs import (
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
PREFIX_016 = INSTALLS / "v0.16.3/tinybase-1.0-oy5qlozs7m6g7luvusunksrymcj2wbb4"
PREFIX_022 = INSTALLS / "v0.22.1/tinyutil-2.1-olb4tahxn3q52a56sww6ljj2kugp32jd"


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
    # Spack 0.17 recorded each phase's timer when the next phase started: the value under
    # "build" is edit's duration, under "install" build's; install lasted total - sum
    times = {p["name"]: p["seconds"] for p in rec.install_times["phases"]}
    total = rec.install_times["total"]["seconds"]
    assert [p.duration for p in rec.phases] == [
        times["build"],
        times["install"],
        pytest.approx(total - sum(times.values())),
    ]
    assert rec.phase_times.meaning == "next-phase"
    assert rec.phase_times.before_first == times["edit"]
    for p in rec.phases:
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
    assert find_install_prefixes(INSTALLS / "v0.17.1") == sorted([STAGE, PREFIX])
    assert find_install_prefixes(INSTALLS) == sorted([STAGE, PREFIX, PREFIX_016, PREFIX_022])
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


# ---------------------------------------------------------------------------------
# combined logs: Spack 0.16 (no per-phase logs) and 0.22 (only spack-build-out.txt.gz)


def _stage_as_016(tmp_path: Path) -> Path:
    """The real 0.17.1 failed stage directory as Spack 0.16 leaves one: the combined
    ``spack-build-out.txt`` and the build environment, no per-phase logs (0.16 writes none;
    its phase markers are the same, see the 0.16.3 prefix's log)."""
    copy = tmp_path / STAGE.name
    copy.mkdir()
    for name in ("spack-build-out.txt", "spack-build-env.txt"):
        shutil.copyfile(STAGE / name, copy / name)
    return copy


def test_split_phases_on_the_real_logs_of_every_release():
    from spackmon_analysis.spackfacts import split_phases

    # 0.17.1: the combined log cut on the markers is exactly the per-phase logs Spack wrote
    combined = (PREFIX / ".spack/spack-build-out.txt").read_text()
    preamble, cut = split_phases(combined)
    assert preamble == ""
    per_phase = sorted((PREFIX / ".spack").glob("spack-build-0*-out.txt"))
    assert [(p.name, p.package) for p in cut] == [
        ("edit", "tinyutil"),
        ("build", "tinyutil"),
        ("install", "tinyutil"),
    ]
    assert [p.text for p in cut] == [f.read_text() for f in per_phase]
    lines = combined.splitlines()
    assert [lines[p.first_line - 1] for p in cut] == [p.text.splitlines()[0] for p in cut]
    assert [p.first_line for p in cut] == [1, 4, 8]
    # 0.16.3 and 0.22.1 (gzipped)
    old = split_phases((PREFIX_016 / ".spack/spack-build-out.txt").read_text())[1]
    assert [p.name for p in old] == ["autoreconf", "configure", "build", "install"]
    with gzip.open(PREFIX_022 / ".spack/spack-build-out.txt.gz", "rt") as fh:
        new = split_phases(fh.read())[1]
    assert [p.name for p in new] == ["edit", "build", "install"]
    assert split_phases("make: nothing to do\n") == ("make: nothing to do\n", [])


def test_spack_016_failed_stage_has_its_failed_phase_and_error(tmp_path):
    rec = read_install_prefix(_stage_as_016(tmp_path))
    assert rec.build.status == "FAILED"
    assert [(p.name, p.status, p.source) for p in rec.phases] == [
        ("edit", "SUCCESS", "spack-build-out.txt"),
        ("build", "ERROR", "spack-build-out.txt"),
    ]
    errors = [e for e in rec.events()["build"] if e.kind == "error"]
    assert errors[0].text == "broken.c:4:3: error: expected ',' or ';' before 'return'"
    # the line counts in the phase's output; first_line places it in spack-build-out.txt
    lines = (STAGE / "spack-build-out.txt").read_text().splitlines()
    assert lines[rec.phases[1].first_line - 1 + errors[0].line_no - 1] == errors[0].text
    assert rec.notes == []


def test_spack_016_prefix_phases_from_the_combined_log():
    rec = read_install_prefix(PREFIX_016)
    assert [(p.name, p.order, p.status) for p in rec.phases] == [
        ("autoreconf", 0, "SUCCESS"),
        ("configure", 1, "SUCCESS"),
        ("build", 2, "SUCCESS"),
        ("install", 3, "SUCCESS"),
    ]
    assert rec.phases[2].started_at == datetime(2026, 11, 28, 6, 16, 21, 837758)
    assert all(p.duration is None for p in rec.phases)  # 0.16 writes no install_times.json
    assert "make' '-j2' 'install'" in rec.phases[3].output


def test_spack_022_prefix_phases_from_the_gzipped_combined_log():
    rec = read_install_prefix(PREFIX_022)
    times = json.loads((PREFIX_022 / ".spack/install_times.json").read_text())
    seconds = {p["name"]: p["seconds"] for p in times["phases"]}
    assert [(p.name, p.source) for p in rec.phases] == [
        ("edit", "spack-build-out.txt.gz"),
        ("build", "spack-build-out.txt.gz"),
        ("install", "spack-build-out.txt.gz"),
    ]
    # 0.22 times each phase itself: read as written
    assert [p.duration for p in rec.phases] == [seconds[n] for n in ("edit", "build", "install")]
    assert rec.phase_times.meaning == "own"
    assert rec.phase_times.other == {
        "stage": seconds["stage"],
        "post-install": seconds["post-install"],
    }


@pytest.mark.parametrize("prefix", [PREFIX, PREFIX_022], ids=["0.17.1", "0.22.1"])
def test_install_times_agree_with_the_log_timestamps(prefix):
    """Each attributed duration covers its phase's own ``==> [stamp]`` lines and ends before
    the next phase's first stamp (5 ms slack for the rounding of the stamps)."""
    rec = read_install_prefix(prefix)
    checked = 0
    for phase, following in zip(rec.phases, rec.phases[1:], strict=False):
        if phase.started_at is None or following.started_at is None:
            continue
        own = (phase.finished_at - phase.started_at).total_seconds()
        until_next = (following.started_at - phase.started_at).total_seconds()
        assert own <= phase.duration <= until_next + 0.005, phase.name
        checked += 1
    assert checked >= 1


def test_install_times_meaning_per_release():
    from spackmon_analysis.spackfacts import install_times_meaning, phase_durations

    legacy = json.loads((PREFIX / ".spack/install_times.json").read_text())
    newer = json.loads((PREFIX_022 / ".spack/install_times.json").read_text())
    assert install_times_meaning(legacy, "0.17.1") == "next-phase"
    assert install_times_meaning(legacy, "0.18.0.dev0") == "next-phase"
    assert install_times_meaning(legacy, "0.19.0") == "own"
    assert install_times_meaning(newer, None) == "own"
    # the 0.17-0.19 layout without a release cannot be read either way: a note, no numbers
    unknown = phase_durations(legacy, None, ["edit", "build", "install"])
    assert unknown.durations == {} and "0.17/0.18" in unknown.note


def test_combined_log_without_phase_markers_is_a_note(tmp_path):
    stage = tmp_path / STAGE.name
    stage.mkdir()
    (stage / "spack-build-out.txt").write_text("gcc: fatal error: no input files\n")
    rec = read_install_prefix(stage)
    assert rec.phases == [] and rec.build.status is None
    assert rec.notes and "Executing phase" in rec.notes[0]


def test_phase_marker_forms():
    """The marker as Spack writes it, with ``spack -d``'s stamp, with colour codes kept in
    the log, and with CRLF line ends; a quoted marker inside a command line is not one."""
    from spackmon_analysis.spackfacts import PHASE_MARKER

    real = (PREFIX_016 / ".spack/spack-build-out.txt").read_text().splitlines()[0]
    assert real == "==> tinybase: Executing phase: 'autoreconf'"
    forms = [
        real,
        "==> [2026-11-28-06:16:21.833049] tinybase: Executing phase: 'autoreconf'",
        "\x1b[1;34m==>\x1b[0m tinybase: Executing phase: 'autoreconf'",
        real + "\r",
    ]
    for form in forms:
        m = PHASE_MARKER.search(form + "\n")
        assert (m.group("package"), m.group("phase")) == ("tinybase", "autoreconf"), form
    assert PHASE_MARKER.search("echo \"==> x: Executing phase: 'y'\"\n") is None
