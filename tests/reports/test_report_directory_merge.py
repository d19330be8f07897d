"""``load(paths...)``: a JUnit or CDash report's build and the install prefix or stage
directory of the same build are one build (issue 12).

The real report and install folders in tests/data come from two machines (their hashes
differ), so each pair here is made from real files by the code path Spack uses:

- a **JUnit report written from a real install prefix**: Spack's reporter
  (``spack/report.py``, ``fetch_log``) puts the log it reads from the prefix
  (``.spack/spack-build-out.txt``, gzipped from 0.22 on) into the package's
  ``<system-out>``; the testsuite/testcase layout is the one of
  ``share/spack/templates/reports/junit.xml`` (as in the real report of tests/data);
- the **stage directory a real JUnit report's failed build left**: Spack writes each
  phase's log in the stage (``spack-build-NN-<phase>-out.txt``), joins them into
  ``spack-build-out.txt``, and reports that file with the failure message appended; the
  stage is rebuilt from the real report's log of tinybroken (the message taken off, the
  log cut on the phase markers Spack wrote at the head of each phase log).
"""

from __future__ import annotations

import gzip
import shutil
import xml.sax.saxutils
from pathlib import Path

import pandas as pd

import spackmon_analysis as sma
from spackmon_analysis.spackfacts import split_phases

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
INSTALLS = DATA / "installs"
JUNIT = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
CDASH_SINGLE = DATA / "derived" / "cdash-single-tinybroken"
DAG = DATA / "derived" / "tinybrokenapp-spack-0.22.1-zen3.json"
BROKEN = "zkrnssrjgjyycae3swuvljmjzdhlukeo"
TINYUTIL_22 = "olb4tahxn3q52a56sww6ljj2kugp32jd"
TINYBASE_16 = "oy5qlozs7m6g7luvusunksrymcj2wbb4"
PREFIX_22 = INSTALLS / "v0.22.1" / f"tinyutil-2.1-{TINYUTIL_22}"
PREFIX_16 = INSTALLS / "v0.16.3" / f"tinybase-1.0-{TINYBASE_16}"
GCC_ERROR = "broken.c:4:3: error: expected ',' or ';' before 'return'"


def _prefix_log(prefix: Path) -> str:
    meta = prefix / ".spack"
    gz = meta / "spack-build-out.txt.gz"
    if gz.exists():
        return gzip.decompress(gz.read_bytes()).decode()
    return (meta / "spack-build-out.txt").read_text()


def write_junit_from_prefix(path: Path, prefix: Path, seconds: float) -> None:
    """The JUnit report ``spack install --log-format junit`` writes for the one package it
    built into ``prefix`` (name ``<pkg>-<version>-<hash>``)."""
    name, _version, dag_hash = prefix.name.rsplit("-", 2)
    esc = xml.sax.saxutils.escape
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
        f'    <testsuite name="{name}_{dag_hash[:7]}" errors="0" tests="1" failures="0" '
        f'time="{seconds}" timestamp="Sat, 28 Nov 2026 06:16:45" >\n'
        "        <properties>\n"
        '            <property name="architecture" value="linux-debian12-icelake" />\n'
        '            <property name="compiler" value="gcc@=12.2.0" />\n'
        "        </properties>\n"
        f'        <testcase classname="{name}"\n                  name="{dag_hash}"\n'
        f'                  time="{seconds}">\n'
        f"            <system-out>\n{esc(_prefix_log(prefix))}\n            </system-out>\n"
        "        </testcase>\n    </testsuite>\n</testsuites>\n",
        encoding="utf-8",
    )


def _junit_case(package: str) -> tuple[str, str]:
    import xml.etree.ElementTree as ET

    for case in ET.parse(JUNIT).getroot().iter("testcase"):
        if case.get("classname") == package:
            failure = case.find("failure")
            message = failure.get("message") if failure is not None else ""
            return (case.findtext("system-out") or "")[1:], message or ""
    raise KeyError(package)


def write_stage_from_junit(folder: Path, log_change: str | None = None) -> Path:
    """The stage directory Spack 0.22.1 left for the real report's failed tinybroken."""
    text, message = _junit_case("tinybroken")
    text = text.rstrip(" ").rstrip("\n")
    # the reporter appended the message to the log; the attribute's newlines read as spaces
    tail = text.rindex(message.split()[0])
    assert text[tail:].split() == message.split()
    log = text[:tail]  # the stage's spack-build-out.txt, as the reporter read it
    if log_change is not None:
        log = log.replace("Error 1", log_change)
    stage = folder / f"spack-stage-tinybroken-0.9-{BROKEN}"
    stage.mkdir(parents=True)
    preamble, phases = split_phases(log)
    assert not preamble
    for i, phase in enumerate(phases, 1):
        (stage / f"spack-build-{i:02d}-{phase.name}-out.txt").write_text(phase.text)
    (stage / "spack-build-out.txt").write_text(log)
    return stage


def _rows(data: sma.MonitorData) -> dict[str, pd.Series]:
    return {str(row["dag_hash"]): row for _, row in data.builds.iterrows()}


def test_junit_report_and_its_prefixes_are_one_build_each(tmp_path: Path) -> None:
    reports = tmp_path / "ci"
    reports.mkdir()
    write_junit_from_prefix(reports / "junit-tinyutil.xml", PREFIX_22, 0.2508)
    write_junit_from_prefix(reports / "junit-tinybase.xml", PREFIX_16, 3.5)
    shutil.copytree(INSTALLS / "v0.22.1", tmp_path / "opt" / "v0.22.1")
    shutil.copytree(INSTALLS / "v0.16.3", tmp_path / "opt" / "v0.16.3")

    data = sma.load(tmp_path)

    rows = _rows(data)
    assert sorted(rows) == sorted([TINYUTIL_22, TINYBASE_16])
    assert len(data.builds) == 2
    util, base = rows[TINYUTIL_22], rows[TINYBASE_16]
    # the report's row: its run, status and time
    assert util["source"] == "junit" and util["run"] == "junit-tinyutil"
    assert util["status"] == "SUCCESS" and util["duration"] == 0.2508
    # the prefix's build files
    assert util["build_env"]["CC"] == "/home/builder/spack/v0.22.1/lib/spack/env/gcc/gcc"
    assert base["configure_args"] == ""  # Spack 0.16.3 wrote the file empty
    assert data.builds["configure_args"].dtype == sma.load(PREFIX_16).builds["configure_args"].dtype
    assert "spack-src/removed_la_files.txt" in base["archived_files"]
    assert util["spack_version"] is not None and str(util["spack_version"]).startswith("0.22")
    # the phases of the richer side: the prefix's, with install_times.json's durations
    phases = data.phases[data.phases["build"] == util["build"]]
    assert list(phases["name"]) == ["edit", "build", "install"]
    assert phases["duration"].tolist() == [
        0.00023484230041503906,
        0.039788007736206055,
        0.008599281311035156,
    ]
    assert set(data.phases["build"]) == {util["build"], base["build"]}
    merged = [n for n in data.notes if "the same build as junit report build" in n[1]]
    assert len(merged) == 2
    assert any(str(PREFIX_22.name) in n[0] for n in merged)


def test_junit_failure_and_its_stage_directory_are_one_build(tmp_path: Path) -> None:
    shutil.copy(JUNIT, tmp_path / JUNIT.name)
    write_stage_from_junit(tmp_path / "stage")

    data = sma.load(tmp_path)

    broken = data.builds[data.builds["dag_hash"] == BROKEN]
    assert len(broken) == 1
    row = broken.iloc[0]
    assert row["source"] == "junit" and row["status"] == "FAILED"
    assert row["message"].startswith("ProcessError: Command exited with status 2:")
    phases = data.phases[data.phases["build"] == row["build"]]
    assert list(phases["name"]) == ["edit", "build"]
    assert list(phases["status"]) == ["SUCCESS", "ERROR"]
    errors = data.events[(data.events["build"] == row["build"]) & (data.events["kind"] == "error")]
    assert errors["text"].iloc[0] == GCC_ERROR
    assert len(errors[errors["text"] == GCC_ERROR]) == 1  # one build's events, not two
    table = sma.failures(data)
    assert list(table.loc[table["role"] == "root cause", "spec_name"]) == ["tinybroken"]
    assert any("the same build as junit report build" in n[1] for n in data.notes)


def test_a_stage_of_another_attempt_stays_a_second_build(tmp_path: Path) -> None:
    shutil.copy(JUNIT, tmp_path / JUNIT.name)
    write_stage_from_junit(tmp_path / "stage", log_change="Error 2")

    data = sma.load(tmp_path)

    assert (data.builds["dag_hash"] == BROKEN).sum() == 2
    assert sorted(data.builds.loc[data.builds["dag_hash"] == BROKEN, "source"]) == [
        "install",
        "junit",
    ]
    assert any(
        "not the same attempt (the logs differ); kept as two builds" in n[1] for n in data.notes
    )


def test_cdash_report_and_the_stage_of_its_run_are_one_build(tmp_path: Path) -> None:
    stage = write_stage_from_junit(tmp_path / "stage")

    # with a DAG: the CDash build's hash comes from it
    data = sma.load(CDASH_SINGLE, stage, DAG)
    broken = data.builds[data.builds["spec_name"] == "tinybroken"]
    assert len(broken) == 1
    row = broken.iloc[0]
    assert row["source"] == "cdash" and row["dag_hash"] == BROKEN and row["status"] == "FAILED"
    # the stage's phases (the build log CDash does not keep) replace CDash's two steps
    phases = data.phases[data.phases["build"] == row["build"]]
    assert list(phases["name"]) == ["edit", "build"]
    assert phases["output"].str.contains(GCC_ERROR, regex=False).any()

    # without a DAG: the stage directory is the only one of that package and version
    data = sma.load(CDASH_SINGLE, stage)
    broken = data.builds[data.builds["spec_name"] == "tinybroken"]
    assert len(broken) == 1 and broken["dag_hash"].iloc[0] == BROKEN
    assert broken["source"].iloc[0] == "cdash"


def test_cdash_report_and_a_stage_from_another_time_stay_apart(tmp_path: Path) -> None:
    stage = write_stage_from_junit(tmp_path / "stage")
    for log in stage.glob("spack-build-*out.txt"):
        log.write_text(log.read_text().replace("2026-12-02-21:49:26", "2026-12-01-09:00:00"))
    data = sma.load(CDASH_SINGLE, stage, DAG)
    assert (data.builds["spec_name"] == "tinybroken").sum() == 2
    assert any("built outside the run" in n[1] for n in data.notes)
