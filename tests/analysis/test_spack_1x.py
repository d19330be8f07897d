"""Spack 0.23 and 1.x (issue 12): install trees, stage directories, the install database,
``spack.lock``, JUnit and CDash reports of those releases give the same answers as the real
0.16.3-0.22.1 files.

No real 0.23 or 1.x file exists here: tests/data/spack-1.x holds hand-made trees written by
its ``make_fixtures.py`` in the shape Spack's source gives each file (docs/install-trees.md,
"Spack 0.23 to 1.x"). The scenario is the real fixtures' one: ``spack install tinyapp``, then
``spack install tinybrokenapp``, whose dependency tinybroken fails in its build phase.
"""

from __future__ import annotations

import filecmp
import gzip
import importlib.util
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testlib import uploaded_and_offline

import spackmon_analysis as sma
from spackmon_analysis.errors import InstallPrefixError, ReportError, SpecFormatError
from spackmon_analysis.loaders.installs import read_install_prefix
from spackmon_analysis.spackfacts import short_spec_compiler

DATA = Path(__file__).resolve().parent.parent / "data"
FIXTURES = DATA / "spack-1.x"
RELEASES = ("0.23.1", "1.1.1")
GCC_ERROR = "broken.c:4:3: error: expected ',' or ';' before 'return'"
TINY = ("tinyapp", "tinyutil", "tinybase")


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _base(release: str) -> Path:
    return FIXTURES / f"v{release}"


def _sources(release: str) -> dict[str, Any]:
    base = _base(release)
    tree, lock = base / "opt" / "spack", base / "env" / "spack.lock"
    junit, cdash = (
        base / "reports" / "junit-tinybrokenapp.xml",
        base / "reports" / "cdash-tinybrokenapp",
    )
    return {
        "junit+lock": lambda: sma.load_junit(junit, dag=lock),
        "cdash+lock": lambda: sma.load_cdash(cdash, dag=lock),
        "tree+stage+lock": lambda: sma.load(tree, base / "stage", base / "env"),
        "tree+junit": lambda: sma.load(tree, junit, base / "env"),
        "stage+lock": lambda: sma.load(base / "stage", lock),
    }  # fmt: skip


def _answers(data: Any) -> dict[str, Any]:
    table = sma.failures(data)
    causes = table[table["role"] == "root cause"]
    blocked = table[table["role"] == "blocked"]
    return {
        "root causes": list(causes["spec_name"]),
        "first error": list(causes["first_error"]),
        "failed phase": list(causes["failed_phase"]),
        "blocked": {r["spec_name"]: list(r["blocked_by"]) for _, r in blocked.iterrows()},
    }


def test_the_fixtures_are_what_make_fixtures_writes(tmp_path: Path) -> None:
    _generator().main(tmp_path)
    theirs = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    ours = sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.name != "README.md")
    ours = [p for p in ours if p.parts[0] != "make_fixtures.py" and "__pycache__" not in p.parts]
    assert theirs == ours
    for rel in theirs:
        mine, made = FIXTURES / rel, tmp_path / rel
        if made.is_symlink():
            assert os.readlink(mine) == os.readlink(made), rel
        elif made.is_file():
            assert filecmp.cmp(mine, made, shallow=False), rel


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("source", ["junit+lock", "cdash+lock", "tree+stage+lock", "tree+junit"])
def test_same_answers_as_the_real_releases(release: str, source: str) -> None:
    data = _sources(release)[source]()
    assert _answers(data) == {
        "root causes": ["tinybroken"],
        "first error": [GCC_ERROR],
        "failed phase": ["build"],
        "blocked": {"tinybrokenapp": ["tinybroken"]},
    }
    assert not [m for _, m in data.notes if m.startswith("no DAG")]


@pytest.mark.parametrize("release", RELEASES)
def test_the_whole_folder_tinyapp_built_tinybroken_failed_tinybrokenapp_blocked(
    release: str,
) -> None:
    data = sma.load(_base(release))
    rows = data.builds[data.builds["source"] == "install"].set_index("spec_name")
    for name in TINY:
        assert rows.loc[name, "status"] == "SUCCESS" and rows.loc[name, "outcome"] == "succeeded"
        assert rows.loc[name, "compiler"] == "gcc@12.2.0"
        assert rows.loc[name, "spack_version"] == release
    assert rows.loc["tinyapp", "explicit"] and not rows.loc["tinyutil", "explicit"]
    # one report run each (JUnit and CDash of the same command): the same answer per run
    answers = _answers(data)
    assert answers["root causes"] == ["tinybroken", "tinybroken"]
    assert set(answers["first error"]) == {GCC_ERROR}
    assert answers["blocked"] == {"tinybrokenapp": ["tinybroken"]}
    # the failed stage is the report's build (same DAG hash, same log), counted once
    junit = data.builds[
        (data.builds["source"] == "junit") & (data.builds["spec_name"] == "tinybroken")
    ]
    assert len(junit) == 1 and junit["configure_args"].isna().all()
    assert any("same build log" in m for _, m in data.notes)
    # the install database's markers matched the report's builds: no third tinybroken
    assert list(data.builds["spec_name"]).count("tinybroken") == 2


@pytest.mark.parametrize("release", RELEASES)
def test_the_install_database_alone_tells_root_cause_and_blocked_by_its_markers(
    release: str,
) -> None:
    data = sma.load(_base(release) / "opt" / "spack" / ".spack-db")
    rows = data.builds.set_index("spec_name")
    broken, app = rows.loc["tinybroken"], rows.loc["tinybrokenapp"]
    assert broken["outcome"] == "failed" and broken["spec_version"] == "0.9"  # from the marker
    assert app["outcome"] == "never built" and "blocked" in app["tags"]
    assert _answers(data) == {
        "root causes": ["tinybroken"],
        "first error": [None],
        "failed phase": [None],
        "blocked": {"tinybrokenapp": ["tinybroken"]},
    }
    installed = set(data.builds.loc[data.builds["outcome"] == "succeeded", "spec_name"])
    expected = {*TINY, "gcc-runtime"} | ({"compiler-wrapper"} if release.startswith("1") else set())
    assert installed == expected


def test_a_marker_whose_content_is_not_a_spec_is_named_not_fatal(tmp_path: Path) -> None:
    db = tmp_path / ".spack-db"
    shutil.copytree(_base("1.1.1") / "opt" / "spack" / ".spack-db", db)
    (broken,) = (db / "failures").glob("tinybroken-*")
    (app,) = (db / "failures").glob("tinybrokenapp-*")
    broken.write_text('{"spec": {"_meta": {"version": 5}, "nodes": [')  # cut short
    app.write_text("")  # hand-made: no content
    data = sma.load(db)
    assert any("content is not a spec file" in m and str(broken) == w for w, m in data.notes)
    rows = data.builds.set_index("spec_name")
    assert rows.loc["tinybroken", "status"] == "FAILED" and pd.isna(
        rows.loc["tinybroken", "spec_version"]
    )
    # without the dependent's spec, the index's DAG (which lacks both) cannot place it: two
    # failures, each its own root cause, as an empty marker always was
    assert sorted(_answers(data)["root causes"]) == ["tinybroken", "tinybrokenapp"]


def test_compilers_as_dependencies_are_not_builds_and_keep_the_compiler_column() -> None:
    """1.0: gcc is a node (an external here), reached by build edges whose virtuals name the
    languages; it is never a build that ran, and each package's compiler stays gcc@12.2.0."""
    base = _base("1.1.1")
    lock = base / "env" / "spack.lock"
    for data in (
        sma.load(base),
        sma.load_junit(base / "reports" / "junit-tinybrokenapp.xml", dag=lock),
        sma.load_cdash(base / "reports" / "cdash-tinybrokenapp", dag=lock),
        sma.load(base / "opt" / "spack"),
        sma.load_environment(lock),
    ):
        gcc = data.builds[data.builds["spec_name"] == "gcc"]
        assert not gcc["outcome"].isin(["succeeded", "failed", "never built"]).any()
        assert set(gcc["tags"].map(tuple).sum() or ()) <= {"skipped", "external"}
        specs = data.specs.set_index("name")
        assert bool(specs.loc["gcc", "external"])
        for name in ("tinyutil", "tinybroken", "tinybrokenapp"):
            assert specs.loc[name, "compiler"] == "gcc@12.2.0"
        if len(data.builds):  # an environment holds no builds
            tiny = data.builds[data.builds["spec_name"].astype(str).str.startswith("tiny")]
            assert set(tiny["compiler"]) == {"gcc@12.2.0"}, tiny[["spec_name", "compiler"]]
    # a stage directory has no spec: its compiler comes from SPACK_SHORT_SPEC's 1.x form
    stage = sma.load(base / "stage")
    assert list(stage.builds["compiler"]) == ["gcc@12.2.0"]


def test_short_spec_compiler_reads_both_syntaxes() -> None:
    assert (
        short_spec_compiler("tinybroken@0.9%gcc@12.2.0 arch=linux-debian12-icelake/bgd6kv3")
        == "gcc@12.2.0"
    )
    assert short_spec_compiler("tinyutil@2.1 ~debug arch=l %c=gcc@12.2.0/abc1234") == "gcc@12.2.0"
    assert short_spec_compiler("x@1 %gmake@4.3 %c,cxx=clang@18.1.0") == "clang@18.1.0"
    assert short_spec_compiler("x@1 %[virtuals=c] gcc@=13.1.0") == "gcc@13.1.0"
    assert short_spec_compiler("x@1 %[deptypes=build] cmake@3.2 %c=gcc@1") == "gcc@1"
    assert short_spec_compiler("x@1 %cmake@3.27 %fortran=gcc@13") == "gcc@13"
    assert short_spec_compiler("compiler-wrapper@1.0 build_system=generic") is None


@pytest.mark.parametrize(
    ("release", "db", "lock", "spec"),
    [("0.23.1", "7", 5, 4), ("1.1.1", "8", 6, 5)],
)
def test_each_file_says_its_version(release: str, db: str, lock: int, spec: int) -> None:
    base = _base(release)
    index = json.loads((base / "opt/spack/.spack-db/index.json").read_text())
    assert index["database"]["version"] == db
    meta = json.loads((base / "env/spack.lock").read_text())["_meta"]
    assert (meta["lockfile-version"], meta["specfile-version"]) == (lock, spec)
    (prefix,) = (base / "opt" / "spack").rglob("tinyutil-2.1-*")
    record = read_install_prefix(prefix)
    assert record.spec.format == f"v{spec}" and record.build.spack_version == release
    assert [p.name for p in record.phases] == ["edit", "build", "install"]
    assert record.phases[0].source == "spack-build-out.txt.gz"
    # install_times.json of 0.20 and later: each value is its phase's own duration
    assert [round(p.duration, 4) for p in record.phases] == [0.01, 0.02, 0.03]
    assert set(record.phase_times.other) == {"stage", "post-install"}
    env = sma.load_environment(base / "env")
    roots = env.specs[env.specs["environment_root"].notna()]
    assert sorted(roots["name"]) == ["tinyapp", "tinybrokenapp"]
    assert not [m for _, m in env.notes if "newer" in m]


def test_newer_formats_load_what_is_understood_and_say_so(tmp_path: Path) -> None:
    base = _base("1.1.1")
    tree = tmp_path / "opt" / "spack"
    shutil.copytree(base / "opt" / "spack", tree)
    index = tree / ".spack-db" / "index.json"
    doc = json.loads(index.read_text())
    doc["database"]["version"] = "9"
    index.write_text(json.dumps(doc))
    (prefix,) = tree.rglob("tinyutil-2.1-*")
    spec_file = prefix / ".spack" / "spec.json"
    spec = json.loads(spec_file.read_text())
    spec["spec"]["_meta"]["version"] = 6
    spec["spec"]["nodes"][0]["a_key_of_the_future"] = {"x": 1}
    spec_file.write_text(json.dumps(spec))
    data = sma.load(tree)
    notes = [m for _, m in data.notes]
    assert any("database version 9 is newer than 8" in m for m in notes)
    assert any("spec.json format 6 is newer" in m and "read as 5" in m for m in notes)
    assert set(data.builds.loc[data.builds["outcome"] == "succeeded", "spec_name"]) >= set(TINY)

    lock = json.loads((base / "env" / "spack.lock").read_text())
    lock["_meta"].update({"lockfile-version": 8, "specfile-version": 6})
    (tmp_path / "spack.lock").write_text(json.dumps(lock))
    env = sma.load_environment(tmp_path / "spack.lock")
    notes = [m for _, m in env.notes]
    assert any("lockfile-version 8 is newer than the newest documented (7)" in m for m in notes)
    assert any("specfile-version: the spec format 6 is newer" in m for m in notes)
    assert "tinybrokenapp" in set(env.specs["name"])


def test_the_experimental_installers_stage_log_is_read_through_its_link(tmp_path: Path) -> None:
    """1.1 ``config:installer:new`` keeps the log beside the stage directory and links the
    stage's spack-build-out.txt to it: that one link is followed, no other."""
    stage_root = FIXTURES / "v1.1.1-new-installer" / "stage"
    data = sma.load(stage_root)
    assert _answers(data)["root causes"] == ["tinybroken"]
    assert _answers(data)["first error"] == [GCC_ERROR]
    assert any("Spack 1.1's experimental installer" in m for _, m in data.notes)
    # a link to any other file stays refused (the local-file rule), and is named
    copy = tmp_path / "stage"
    shutil.copytree(stage_root, copy, symlinks=True)
    (stage,) = [p for p in copy.iterdir() if p.is_dir()]
    (tmp_path / "elsewhere.log").write_text((copy / f"{stage.name}-k3x9q2ab.log").read_text())
    (stage / "spack-build-out.txt").unlink()
    (stage / "spack-build-out.txt").symlink_to(tmp_path / "elsewhere.log")
    record = read_install_prefix(stage)
    assert not record.phases and record.skipped and "symbolic link" in record.skipped[0][1]


def test_a_mixed_tree_of_real_022_and_handmade_1x_files() -> None:
    real_prefix = DATA / "installs" / "v0.22.1"
    real_junit = (
        DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
    )
    real_dag = DATA / "derived" / "tinybrokenapp-spack-0.22.1-zen3.json"
    data = sma.load(real_prefix, real_junit, real_dag, _base("1.1.1"))
    versions = set(data.builds.loc[data.builds["source"] == "install", "spack_version"])
    assert versions == {"0.22.1", "1.1.1"}
    answers = _answers(data)
    # one failure of each release's run (0.22.1 JUnit; 1.1.1 JUnit and CDash), each blocking
    # its own tinybrokenapp
    assert answers["root causes"] == ["tinybroken"] * 3
    assert set(answers["first error"]) == {GCC_ERROR}
    table = sma.failures(data)
    blocked = table[table["role"] == "blocked"]
    assert list(blocked["spec_name"]) == ["tinybrokenapp"] * 3
    assert blocked["dag_hash"].nunique() == 2  # the 0.22.1 and the 1.1.1 tinybrokenapp
    assert not [m for _, m in data.notes if m.startswith("no DAG")]


# ------------------------------------------------------------------------------------------
# truncated files of the new formats: a typed error naming the file, never a partial load

_SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _cut(text: str, at: int) -> str:
    body = text.rstrip()
    return body[: 1 + at % (len(body) - 1)]


@pytest.mark.parametrize("release", RELEASES)
@_SETTINGS
@given(at=st.integers(min_value=0, max_value=10**6))
def test_a_truncated_index_names_the_file(tmp_path: Path, release: str, at: int) -> None:
    db = tmp_path / f"{release}-{at}" / ".spack-db"
    db.mkdir(parents=True)
    text = (_base(release) / "opt/spack/.spack-db/index.json").read_text()
    (db / "index.json").write_text(_cut(text, at))
    with pytest.raises(SpecFormatError) as err:
        sma.load(db)
    assert str(db / "index.json") in str(err.value)


@pytest.mark.parametrize("release", RELEASES)
@_SETTINGS
@given(at=st.integers(min_value=0, max_value=10**6))
def test_a_truncated_lockfile_names_the_file(tmp_path: Path, release: str, at: int) -> None:
    lock = tmp_path / f"{release}-{at}" / "spack.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(_cut((_base(release) / "env/spack.lock").read_text(), at))
    with pytest.raises(SpecFormatError) as err:
        sma.load_environment(lock)
    assert str(lock) in str(err.value)


@pytest.mark.parametrize("name", ["spec.json", "install_times.json", "install_environment.json"])
@pytest.mark.parametrize("release", RELEASES)
@_SETTINGS
@given(at=st.integers(min_value=0, max_value=10**6))
def test_a_truncated_prefix_file_names_the_file(
    tmp_path: Path, release: str, name: str, at: int
) -> None:
    (prefix,) = (_base(release) / "opt" / "spack").rglob("tinyutil-2.1-*")
    copy = tmp_path / f"{at}" / prefix.name
    shutil.copytree(prefix, copy)
    target = copy / ".spack" / name
    target.write_text(_cut(target.read_text(), at))
    with pytest.raises(InstallPrefixError) as err:
        read_install_prefix(copy)
    assert str(target) in str(err.value)


@pytest.mark.parametrize("release", RELEASES)
@_SETTINGS
@given(at=st.integers(min_value=0, max_value=10**6))
def test_a_truncated_gzipped_log_names_the_file(tmp_path: Path, release: str, at: int) -> None:
    (prefix,) = (_base(release) / "opt" / "spack").rglob("tinyutil-2.1-*")
    copy = tmp_path / f"{at}" / prefix.name
    shutil.copytree(prefix, copy)
    log = copy / ".spack" / "spack-build-out.txt.gz"
    raw = log.read_bytes()
    log.write_bytes(raw[: 1 + at % (len(raw) - 1)])
    with pytest.raises(InstallPrefixError) as err:
        read_install_prefix(copy)
    assert str(log) in str(err.value)
    assert gzip.decompress(raw)  # the untruncated file reads


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("report", ["junit-tinybrokenapp.xml", "cdash-tinybrokenapp/Build.xml"])
@_SETTINGS
@given(at=st.integers(min_value=0, max_value=10**6))
def test_a_truncated_report_names_the_file(
    tmp_path: Path, release: str, report: str, at: int
) -> None:
    source = _base(release) / "reports" / report
    if report.startswith("cdash"):
        folder = tmp_path / f"{at}" / "cdash-tinybrokenapp"
        shutil.copytree(source.parent, folder)
        target, load = folder / "Build.xml", sma.load_cdash
    else:
        folder = tmp_path / f"{at}"
        folder.mkdir()
        target = folder / source.name
        load = sma.load_junit
    target.write_text(_cut(source.read_text(), at))
    with pytest.raises(ReportError) as err:
        load(folder if report.startswith("cdash") else target)
    assert err.value.filename is not None and Path(err.value.filename).name == target.name


# ------------------------------------------------------------------------------------------
# the server fed from 1.x files answers as the offline loaders


def test_upload_of_1x_files_answers_as_the_offline_loaders() -> None:
    base = _base("1.1.1")
    paths = [base / "opt" / "spack", base / "stage", base / "reports" / "junit-tinybrokenapp.xml"]
    paths.append(base / "env")
    online, offline = uploaded_and_offline(*paths)
    columns = ["spec_name", "role", "first_error", "failed_phase", "dag_hash"]

    def rows(data: Any) -> set[tuple]:
        table = sma.failures(data)
        return {(*(r[c] for c in columns), tuple(r["blocked_by"])) for _, r in table.iterrows()}

    assert rows(online) == rows(offline)
    assert _answers(online) == _answers(_sources("1.1.1")["junit+lock"]())

    def built(data: Any) -> dict[str, Any]:
        done = data.builds[data.builds["outcome"] == "succeeded"]
        return dict(zip(done["spec_name"], done["compiler"], strict=True))

    assert built(online) == built(offline)
    assert built(online)["tinyapp"] == "gcc@12.2.0" and "gcc" not in built(online)


def test_the_0_23_junit_suite_is_named_root_and_hash_with_a_compiler_property() -> None:
    # pinned from 0.23's report.py (InfoCollector: "{name}_{dag_hash(7)}", properties
    # architecture and compiler; docs/install-trees.md, the JUnit row of "Spack 0.23")
    import xml.etree.ElementTree as ET

    base = _base("0.23.1")
    suite = ET.parse(base / "reports" / "junit-tinybrokenapp.xml").getroot()[0]
    lock = json.loads((base / "env" / "spack.lock").read_text())
    root = next(r["hash"] for r in lock["roots"] if r["spec"] == "tinybrokenapp")
    assert suite.get("name") == f"tinybrokenapp_{root[:7]}"
    assert [p.get("name") for p in suite.iter("property")] == ["architecture", "compiler"]
    data = sma.load_junit(base / "reports" / "junit-tinybrokenapp.xml")
    assert set(data.builds["root"]) == {"tinybrokenapp"}
    assert set(data.builds["compiler"].astype(object)) == {"gcc@12.2.0"}
