"""JUnit and CDash reports (Spack 0.22.1's real files in tests/data/reports/) as MonitorData."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

import spackmon_analysis as sma
from spackmon_analysis.failures import failures

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
REPORTS = DATA / "reports"
DERIVED = DATA / "derived"
JUNIT = REPORTS / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
CDASH = REPORTS / "v0.22.1-cdash-success-tinyapp"
CDASH_FAIL = DERIVED / "cdash-failure-tinybrokenapp"
CDASH_SINGLE = DERIVED / "cdash-single-tinybroken"
DAG = DERIVED / "tinybrokenapp-spack-0.22.1-zen3.json"
BROKEN = "zkrnssrjgjyycae3swuvljmjzdhlukeo"
GCC_ERROR = "broken.c:4:3: error: expected ',' or ';' before 'return'"
#: Spack 0.17.1's install tree (tinyutil's prefix, tinybroken's failed stage directory) and
#: the spec file of tinybrokenapp written by the same Spack on the same machine (same hashes)
TREE = DATA / "installs" / "v0.17.1"
TREE_DAG = (
    DATA / "save-local" / "v0.17.1-failure-tinybrokenapp" / "spec-tinybrokenapp-1.0-config.json"
)


def _by_name(data: sma.MonitorData) -> dict[str, dict]:
    return {row["spec_name"]: row for _, row in data.builds.iterrows()}


def test_junit_testcases_become_builds() -> None:
    data = sma.load_junit(JUNIT)
    rows = _by_name(data)
    assert set(rows) == {"gcc-runtime", "glibc", "gmake", "tinybase", "tinyutil", "tinybroken"}
    broken = rows["tinybroken"]
    assert broken["build"] == BROKEN and broken["dag_hash"] == BROKEN
    assert broken["status"] == "FAILED" and broken["outcome"] == "failed"
    assert broken["duration"] == pytest.approx(0.26119446754455566)
    assert broken["message"].startswith("ProcessError: Command exited with status 2:")
    assert 'installer.py", line 2483, in build_process' in broken["traceback"]
    assert broken["run"] == "junit-tinybrokenapp"
    assert broken["run_time"] == pd.Timestamp("2026-12-02 21:49:26", tz="UTC")
    assert (broken["platform"], broken["host_os"], broken["host_target"]) == (
        "linux",
        "debian12",
        "zen3",
    )
    assert broken["compiler"] == "gcc@12.2.0" and broken["source"] == "junit"
    for name in ("gcc-runtime", "glibc", "gmake", "tinybase", "tinyutil"):
        assert rows[name]["status"] == "NOTRUN" and "skipped" in rows[name]["tags"], name
    phases = data.phases[data.phases["build"] == BROKEN]
    assert list(phases["name"]) == ["edit", "build"]
    assert list(phases["status"]) == ["SUCCESS", "ERROR"]
    assert list(phases["build_log_first_line"]) == [1, 2]
    assert phases["output"].iloc[1].startswith("==> tinybroken: Executing phase: 'build'\n")
    errors = data.events[data.events["kind"] == "error"]
    assert errors["text"].iloc[0] == GCC_ERROR and errors["phase"].iloc[0] == "build"


def test_junit_failure_without_dag_says_so() -> None:
    data = sma.load_junit(JUNIT)
    table = failures(data)
    assert list(table["spec_name"]) == ["tinybroken"]  # tinybrokenapp is not in the report
    notes = [m for _, m in data.notes if m.startswith("no DAG")]
    assert len(notes) == 1 and "tinybroken failed" in notes[0]
    assert "note: " in repr(table) and "no DAG" in repr(table)
    report = sma.failure_report(data)
    assert "no DAG: the packages that never built because tinybroken failed" in report


def _answers(data: sma.MonitorData) -> dict:
    table = failures(data)
    cause = table[table["role"] == "root cause"].iloc[0]
    blocked = table[table["role"] == "blocked"]
    return {
        "root causes": list(table.loc[table["role"] == "root cause", "spec_name"]),
        "first error": cause["first_error"],
        "source": (cause["error_class"] is not None, data.events["source_file"].iloc[0]),
        "blocked": {r["spec_name"]: list(r["blocked_by"]) for _, r in blocked.iterrows()},
        "blocks": list(cause["blocked_transitive"]),
    }


EXPECTED = {
    "root causes": ["tinybroken"],
    "first error": GCC_ERROR,
    "source": (True, "broken.c"),
    "blocked": {"tinybrokenapp": ["tinybroken"]},
    "blocks": ["tinybrokenapp"],
}


@pytest.mark.parametrize(
    "load",
    [
        lambda: sma.load_junit(JUNIT, dag=DAG),
        lambda: sma.load_junit(JUNIT).with_dag(DAG),
        lambda: sma.load(JUNIT, DAG),
        lambda: sma.load_cdash(CDASH_FAIL, dag=DAG),
        lambda: sma.load_cdash(CDASH_SINGLE, dag=DAG),
        lambda: sma.load(CDASH_SINGLE, DAG),
        lambda: sma.load(DATA / "save-local" / "v0.17.1-failure-tinybrokenapp"),
        lambda: sma.load(TREE, TREE_DAG),
        lambda: sma.load(TREE).with_dag(TREE_DAG),
        lambda: sma.load_install_tree(TREE, dag=TREE_DAG),
        lambda: sma.load(TREE / "failed-stage", TREE_DAG),
    ],
    ids=["junit+dag", "junit.with_dag", "load(junit, spec)", "cdash+dag", "cdash-single+dag",
         "load(cdash, spec)", "save-local 0.17.1", "load(tree, spec)", "tree.with_dag",
         "load_install_tree(dag=)", "load(stage, spec)"],
)  # fmt: skip
def test_same_answers_from_each_source(load) -> None:
    data = load()
    answers = _answers(data)
    assert answers == EXPECTED
    table = failures(data)
    cause = table[table["role"] == "root cause"].iloc[0]
    assert cause["failed_phase"] == "build"
    source = str(data.builds["source"].iloc[0])
    if source == "junit":  # the >> N Spack printed: the line in spack-build-out.txt
        assert cause["error_build_log_line"] == 6
        assert cause["error_log"] is None  # a JUnit report does not say the release
    if source == "cdash":  # CDash keeps no build log: no line of it is claimed
        assert pd.isna(cause["error_build_log_line"]) and cause["error_log"] is None
    if source == "install":  # tinyapp's dependency tinyutil built; nothing else blocked
        outcomes = dict(zip(data.builds["spec_name"], data.builds["outcome"], strict=True))
        assert outcomes == {
            **({"tinyutil": "succeeded"} if "tinyutil" in outcomes else {}),
            "tinybroken": "failed",
            "tinybrokenapp": "never built",
        }
    assert not [m for _, m in data.notes if m.startswith("no DAG")]
    assert "note: " not in repr(table)


def test_install_tree_without_dag_says_so() -> None:
    """A failed stage directory whose package no DAG holds: a "no DAG" note, which a DAG
    given later (``with_dag``) replaces; the CLI prints it and finds the blocked package
    with --dag."""
    import contextlib
    import io

    from spackmon_analysis import cli

    data = sma.load(TREE)
    notes = [m for _, m in data.notes if m.startswith("no DAG")]
    assert len(notes) == 1 and "tinybroken" in notes[0] and "--dag PATH" in notes[0]
    assert "no DAG" in repr(failures(data))
    assert not [m for _, m in data.with_dag(TREE_DAG).notes if m.startswith("no DAG")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(["failures", str(TREE), "--dag", str(TREE_DAG), "--format", "csv"])
    assert "tinybrokenapp" in out.getvalue() and "blocked" in out.getvalue()


def test_failure_marker_takes_the_dag(tmp_path: Path) -> None:
    """An install database whose only failure marker is tinybroken's (Spack 0.17 names it
    by full hash): the spec file's DAG adds tinybrokenapp as blocked."""
    import json

    from spackmon_analysis.spec import load_spec

    graph = load_spec(TREE_DAG)
    broken = next(n for n in graph.nodes.values() if n.name == "tinybroken")
    failures_dir = tmp_path / ".spack-db" / "failures"
    failures_dir.mkdir(parents=True)
    (failures_dir / f"tinybroken-{broken.full_hash}").write_text("")
    (tmp_path / ".spack-db" / "index.json").write_text(
        json.dumps({"database": {"version": "6", "installs": {}}})
    )
    alone = sma.load(tmp_path)
    assert [m for _, m in alone.notes if m.startswith("no DAG")]
    data = sma.load(tmp_path, TREE_DAG)
    table = failures(data)
    roles = dict(zip(table["spec_name"], table["role"], strict=True))
    assert roles == {"tinybroken": "root cause", "tinybrokenapp": "blocked"}
    assert not [m for _, m in data.notes if m.startswith("no DAG")]


def test_blocked_build_is_shaped_like_monitor_data() -> None:
    data = sma.load_junit(JUNIT, dag=DAG)
    app = _by_name(data)["tinybrokenapp"]
    assert app["status"] == "FAILED" and app["outcome"] == "never built"
    assert app["run"] == "junit-tinybrokenapp" and app["spec_version"] == "1.0"
    assert app["dag_hash"].startswith("2sa24ew") and "blocked" in app["tags"]
    assert set(data.builds["root"]) == {"tinybrokenapp"}  # the testsuite each was under
    assert not len(data.phases[data.phases["build"] == app["build"]])
    rows = _by_name(data)
    assert "external" in rows["glibc"]["tags"] and "external" in rows["gmake"]["tags"]
    assert "installed" in rows["tinybase"]["tags"] and "installed" in rows["tinyutil"]["tags"]
    assert any("tinybrokenapp /2sa24ew" in m for _, m in data.notes)


def test_a_dag_without_the_failed_package_keeps_the_warning() -> None:
    data = sma.load_junit(JUNIT, dag=DATA / "specs" / "tinyapp-spack-0.22.1.json")
    notes = [m for _, m in data.notes if m.startswith("no DAG")]
    assert len(notes) == 1 and "tinybroken" in notes[0] and "does not hold it" in notes[0]
    assert list(failures(data)["spec_name"]) == ["tinybroken"]


def test_cdash_success_tinyapp_and_dependencies_built() -> None:
    data = sma.load_cdash(CDASH)
    rows = _by_name(data)
    assert set(rows) == {"gcc-runtime", "tinyapp", "tinybase", "tinyutil"}
    assert {r["outcome"] for r in rows.values()} == {"succeeded"}
    assert not len(failures(data))
    assert not [m for _, m in data.notes if m.startswith("no DAG")]
    tinybase = rows["tinybase"]
    # the DAG hash and version come from the stage path in the Configure log
    assert (
        tinybase["build"] == "fj42lltb6vhc3xubxszo74soejw5doia"
        and tinybase["spec_version"] == "1.0"
    )
    assert set(data.builds["spack_version"].astype(str)) == {"0.22.1"}
    assert set(data.builds["spack_commit"]) == {"d66dce2d668a6234504594661506cdd1eaca4adc"}
    assert set(data.builds["root"]) == {"tinyapp"}  # BuildName "tinyapp - <pkg>"
    assert set(data.builds["hostname"].astype(str)) == {"vm"}
    assert rows["tinyapp"]["created_at"] == pd.Timestamp(1796248348, unit="s", tz="UTC")
    phases = data.phases.groupby("build")["name"].apply(list).to_dict()
    assert phases["gcc-runtime"] == ["build"]  # no Configure.xml for gcc-runtime
    assert phases["tinyutil"] == ["configure", "build"]
    log = data.phases[
        (data.phases["build"] == tinybase["build"]) & (data.phases["name"] == "configure")
    ]
    assert "config.status: creating Makefile" in log["output"].iloc[0]
    assert any(w.endswith("README.md") and "not a CDash build report" in m for w, m in data.notes)


def test_cdash_success_with_install_tree_and_save_local_same_outcome() -> None:
    saved = sma.load(DATA / "save-local" / "v0.17.1-success-tinyapp")
    cdash = sma.load_cdash(CDASH)
    for data in (saved, cdash):
        rows = _by_name(data)
        assert {rows[n]["outcome"] for n in ("tinyapp", "tinyutil", "tinybase")} == {"succeeded"}


def test_cdash_events_are_the_reports_entries() -> None:
    data = sma.load_cdash(CDASH_SINGLE)
    rows = _by_name(data)
    assert set(rows) == {"tinybroken"}  # named only in the Configure log
    errors = data.events[data.events["kind"] == "error"]
    first = errors.iloc[0]
    assert first["text"] == GCC_ERROR and first["line_no"] == 5
    assert first["source_file"] == "broken.c" and first["source_line_no"] == 4
    # Spack escaped the context twice; it reads as the log did
    assert "==> [2026-12-02-21:49:26.985287] 'make' '-j2'" in first["pre_context"]
    assert first["primary_class"] == "compiler_error"
    assert [m for _, m in data.notes if m.startswith("no DAG")]


def test_spack_commit_from_generator_and_update() -> None:
    from spackmon_analysis.loaders.cdash import read_cdash

    run = read_cdash(CDASH)
    assert run.spack_version == "0.22.1"
    assert run.spack_commit == "d66dce2d668a6234504594661506cdd1eaca4adc"
    assert run.roots == [("tinyapp", None)]


def test_junit_folder_gives_one_run_per_file(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(JUNIT.read_bytes())
    (tmp_path / "b.xml").write_bytes(JUNIT.read_bytes())
    data = sma.load_junit(tmp_path)
    assert data.runs == ["a", "b"] and len(data.builds) == 12
    assert len(failures(data)) == 2


def test_load_detects_reports() -> None:
    assert set(sma.load(JUNIT).builds["source"].astype(str)) == {"junit"}
    assert set(sma.load(CDASH).builds["source"].astype(str)) == {"cdash"}


def test_load_of_no_source_is_a_config_error_holding_the_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for path, says in ((tmp_path / "nowhere", "no such file"), (tmp_path / "empty", "neither")):
        with pytest.raises(sma.ConfigError) as info:
            sma.load(path)
        assert info.value.path == str(path) and str(path) in str(info.value)
        assert says in str(info.value)


def test_derived_files_are_current(tmp_path: Path) -> None:
    sys.path.insert(0, str(HERE))
    try:
        import derive
    finally:
        sys.path.remove(str(HERE))
    derive.write_all(tmp_path)
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            committed = DERIVED / path.relative_to(tmp_path)
            assert committed.read_bytes() == path.read_bytes(), committed


def test_newer_junit_shape(tmp_path: Path) -> None:
    """Later releases name the suite after the root alone and write no compiler property;
    a successful package carries its log too."""
    data = JUNIT.read_text()
    data = data.replace('name="tinybrokenapp_2sa24ew"', 'name="tinybrokenapp"')
    data = data.replace('            <property name="compiler" value="gcc@=12.2.0" />\n', "")
    success = (
        '        <testcase classname="tinyextra"\n'
        '                  name="abcdefghijklmnopqrstuvwxyz234567"\n'
        '                  time="1.5">\n'
        "            <system-out>\n==&gt; tinyextra: Executing phase: &#39;install&#39;\n"
        "==&gt; [2026-12-02-21:49:27.000000] &#39;make&#39; &#39;install&#39;\n"
        "==&gt; [2026-12-02-21:49:28.500000] done\n            </system-out>\n"
        "        </testcase>\n    </testsuite>"
    )
    data = data.replace("    </testsuite>", success)
    path = tmp_path / "newer.xml"
    path.write_text(data)
    from spackmon_analysis.loaders.junit import read_junit

    assert read_junit(path).roots == [("tinybrokenapp", None)]
    loaded = sma.load_junit(path, dag=DAG)
    rows = _by_name(loaded)
    extra = rows["tinyextra"]
    assert extra["status"] == "SUCCESS" and extra["outcome"] == "succeeded"
    assert extra["duration"] == 1.5
    phase = loaded.phases[loaded.phases["build"] == extra["build"]].iloc[0]
    assert phase["name"] == "install" and phase["status"] == "SUCCESS"
    assert phase["duration"] == pytest.approx(1.5)
    assert _answers(loaded) == EXPECTED


def test_suite_name_with_underscore_is_not_split_without_a_hash(tmp_path: Path) -> None:
    from spackmon_analysis.loaders.junit import read_junit

    path = tmp_path / "u.xml"
    path.write_text(JUNIT.read_text().replace('name="tinybrokenapp_2sa24ew"', 'name="my_app"'))
    assert read_junit(path).roots == [("my_app", None)]
    path.write_text(
        JUNIT.read_text().replace('name="tinybrokenapp_2sa24ew"', 'name="my_app_2sa24ew"')
    )
    assert read_junit(path).roots == [("my_app", "2sa24ew")]


def test_cli_failures_of_a_report_with_and_without_dag(capsys: pytest.CaptureFixture) -> None:
    from spackmon_analysis import cli

    assert cli.main(["failures", str(JUNIT), "--no-context"]) == 0
    out, err = capsys.readouterr()
    assert "tinybroken" in out and GCC_ERROR in out
    assert "no DAG: the packages that never built because tinybroken failed" in out + err
    assert "spackmon: --dag PATH" in err  # what to do on the command line, not only in Python
    assert cli.main(["failures", str(JUNIT), "--dag", str(DAG), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    rows = {r["spec_name"]: r for r in __import__("json").loads(out)}
    assert rows["tinybrokenapp"]["role"] == "blocked"
    assert rows["tinybrokenapp"]["blocked_by"] == ["tinybroken"]
    assert "no DAG" not in err


def test_junit_error_and_failure_before_any_phase(tmp_path: Path) -> None:
    """An <error> (outside the build process) is FAILED with the tag error; a failure whose
    log has no phase marker gets one ERROR phase 'stage' with the log and the message."""
    text = JUNIT.read_text()
    head, sep, tail = text.partition('            <failure message="ProcessError')
    body, _, rest = tail.partition("            </failure>")
    out_start = rest.index("<system-out>")
    out_end = rest.index("</system-out>")
    rest = (
        rest[:out_start]
        + "<system-out>\n==&gt; Fetching https://example.com/t.tar.gz\n"
        + rest[out_end:]
    )
    error = '            <error message="FetchError: All fetchers failed">\nTraceback (most recent call last):\nFetchError\n            </error>'
    path = tmp_path / "e.xml"
    path.write_text(head + error + rest)
    data = sma.load_junit(path)
    broken = _by_name(data)["tinybroken"]
    assert broken["status"] == "FAILED" and "error" in broken["tags"]
    assert broken["message"] == "FetchError: All fetchers failed"
    phases = data.phases[data.phases["build"] == BROKEN]
    assert list(phases["name"]) == ["stage"] and list(phases["status"]) == ["ERROR"]
    assert "Fetching https://example.com/t.tar.gz" in phases["output"].iloc[0]
    assert "FetchError: All fetchers failed" in phases["output"].iloc[0]
    table = failures(data)
    assert list(table["spec_name"]) == ["tinybroken"] and table["failed_phase"].iloc[0] == "stage"


def test_cdash_other_files_and_concretization_failure(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    shutil.copytree(CDASH, folder)
    (folder / "tinyapp_abcdefg_Testing.xml").write_text("<Site/>")
    data = sma.load_cdash(folder)
    assert any("spack test" in m for w, m in data.notes if w.endswith("Testing.xml"))
    conc = tmp_path / "conc"
    conc.mkdir()
    update = (
        (CDASH / "tinyapp_Update.xml")
        .read_text()
        .replace(
            "</Update>",
            "  <UpdateReturnStatus>Error: no version of tinyapp satisfies tinyapp@9</UpdateReturnStatus>\n</Update>",
        )
    )
    (conc / "Update.xml").write_text(update.replace("tinyapp - tinyapp", "tinyapp"))
    data = sma.load_cdash(conc)
    assert not len(data.builds)
    assert any("concretization failed" in m and "tinyapp@9" in m for _, m in data.notes)


def test_cdash_pre_configure_error_is_a_root_cause(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    conf = (CDASH / "tinyapp_Configure.xml").read_text()
    conf = conf.replace(
        "<Log>configure output for tinyapp:</Log>",
        "<Log>Pre-configure errors occured in Spack's process that terminated the build "
        "process prematurely.\nSpack output::\nFetchError: All fetchers failed for tinyapp</Log>",
    )
    (folder / "tinyapp_Configure.xml").write_text(conf)
    (folder / "tinyapp_Update.xml").write_bytes((CDASH / "tinyapp_Update.xml").read_bytes())
    data = sma.load_cdash(folder)
    row = _by_name(data)["tinyapp"]
    assert row["status"] == "FAILED" and row["outcome"] == "failed"
    table = failures(data)
    assert table["failed_phase"].iloc[0] == "configure"


def test_folder_with_a_report_and_an_install_tree_uses_the_trees_dag(tmp_path: Path) -> None:
    shutil.copy(JUNIT, tmp_path / "r.xml")
    shutil.copytree(DATA / "installs" / "v0.22.1", tmp_path / "opt")
    data = sma.load(tmp_path)
    assert set(data.builds["source"].astype(str)) == {"junit", "install"}
    # the tree's DAG (tinyutil on another machine) does not hold tinybroken: said so
    notes = [m for _, m in data.notes if m.startswith("no DAG")]
    assert len(notes) == 1 and "does not hold it" in notes[0]


def _single_without_configure(tmp_path: Path, header: bool = True) -> Path:
    """cdash-single-tinybroken without its Configure.xml (the package then named only by
    BuildName, ``tinybrokenapp``: the install command's root); ``header=False`` also drops
    Spack's ``build output for tinybroken:`` line from the error contexts."""
    folder = tmp_path / "cdash-single-no-configure"
    shutil.copytree(CDASH_SINGLE, folder)
    (folder / "Configure.xml").unlink()
    if not header:
        build = folder / "Build.xml"
        build.write_text(build.read_text().replace("build output for tinybroken:\n", ""))
    return folder


def test_cdash_single_without_configure_says_the_name_is_buildnames(tmp_path: Path) -> None:
    data = sma.load_cdash(_single_without_configure(tmp_path))
    assert list(data.builds["spec_name"]) == ["tinybrokenapp"]  # what BuildName says
    notes = [m for _, m in data.notes if m.startswith("package name taken from BuildName")]
    assert len(notes) == 1 and "'tinybrokenapp'" in notes[0] and "--dag PATH" in notes[0]


@pytest.mark.parametrize("header", [True, False], ids=["log header", "names in errors"])
def test_cdash_single_without_configure_takes_the_dags_answer(tmp_path: Path, header: bool) -> None:
    folder = _single_without_configure(tmp_path, header=header)
    for data in (sma.load_cdash(folder, dag=DAG), sma.load(folder, DAG)):
        assert _answers(data) == EXPECTED  # tinybroken built (and failed), not tinybrokenapp
        assert not [m for _, m in data.notes if m.startswith("package name taken from")]
        assert any("BuildName named tinybrokenapp" in m for _, m in data.notes)
        broken = data.builds[data.builds["spec_name"] == "tinybroken"].iloc[0]
        assert broken["dag_hash"] == BROKEN and "name-from-buildname" not in broken["tags"]


def test_cdash_single_guess_kept_when_the_dag_cannot_check_it(tmp_path: Path) -> None:
    data = sma.load_cdash(
        _single_without_configure(tmp_path), dag=DATA / "specs" / "tinyapp-spack-0.22.1.json"
    )
    assert list(data.builds["spec_name"]) == ["tinybrokenapp"]
    assert [m for _, m in data.notes if m.startswith("package name taken from BuildName")]
    assert any("holds no tinybrokenapp" in m for _, m in data.notes)
