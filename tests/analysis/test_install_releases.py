"""Install trees of every release (issue 12): what each release leaves in a prefix or a failed
build's stage directory is read (docs/install-trees.md, "What each release leaves").

Real files: the 0.16.3, 0.17.1 and 0.22.1 prefixes and the 0.17.1 failed stage in
tests/data/installs. A 0.22 failed stage is not among them, so it is made from the stage
Spack 0.22.1 left for the real JUnit report's tinybroken (the report's ``<system-out>`` is the
stage's ``spack-build-out.txt`` plus the failure message; 0.22's installer writes one log per
phase in the stage and joins them into that file, so the phase logs are the log cut on the
markers Spack wrote at the head of each).
"""

from __future__ import annotations

import gzip
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import spackmon_analysis as sma
from spackmon_analysis.loaders.installs import read_install_prefix
from spackmon_analysis.spackfacts import split_phases

DATA = Path(__file__).resolve().parent.parent / "data"
INSTALLS = DATA / "installs"
JUNIT = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
BROKEN_22 = "zkrnssrjgjyycae3swuvljmjzdhlukeo"
GCC_ERROR = "broken.c:4:3: error: expected ',' or ';' before 'return'"


def _stage_022(folder: Path, *, phase_logs: bool = True) -> Path:
    for case in ET.parse(JUNIT).getroot().iter("testcase"):
        if case.get("classname") == "tinybroken":
            text = (case.findtext("system-out") or "")[1:].rstrip(" ").rstrip("\n")
            message = case.find("failure").get("message")  # type: ignore[union-attr]
    tail = text.rindex(message.split()[0])
    log = text[:tail]
    stage = folder / f"spack-stage-tinybroken-0.9-{BROKEN_22}"
    stage.mkdir(parents=True)
    (stage / "spack-build-out.txt").write_text(log)
    if phase_logs:
        for i, phase in enumerate(split_phases(log)[1], 1):
            (stage / f"spack-build-{i:02d}-{phase.name}-out.txt").write_text(phase.text)
    return stage


def test_a_022_failed_stage_reads_its_phase_logs(tmp_path: Path) -> None:
    stage = _stage_022(tmp_path)
    record = read_install_prefix(stage)
    assert record.kind == "stage" and record.build.status == "FAILED"
    assert [(p.name, p.status, p.source) for p in record.phases] == [
        ("edit", "SUCCESS", "spack-build-01-edit-out.txt"),
        ("build", "ERROR", "spack-build-02-build-out.txt"),
    ]
    data = sma.load(tmp_path)
    table = sma.failures(data)
    cause = table[table["role"] == "root cause"].iloc[0]
    assert cause["spec_name"] == "tinybroken" and cause["first_error"] == GCC_ERROR
    # the same answers from the combined log alone (a stage whose phase logs are gone)
    only = _stage_022(tmp_path / "combined", phase_logs=False)
    again = read_install_prefix(only)
    assert [(p.name, p.status) for p in again.phases] == [("edit", "SUCCESS"), ("build", "ERROR")]
    assert [p.output for p in again.phases] == [p.output for p in record.phases]


def test_each_release_prefix_gives_its_phases_and_files() -> None:
    """0.16: the combined log; 0.17: per-phase logs; 0.22: the gzipped combined log."""
    expected = {
        "v0.16.3": ("spack-build-out.txt", ["autoreconf", "configure", "build", "install"]),
        "v0.17.1": ("spack-build-01-edit-out.txt", ["edit", "build", "install"]),
        "v0.22.1": ("spack-build-out.txt.gz", ["edit", "build", "install"]),
    }
    for release, (source, names) in expected.items():
        (prefix,) = [p for p in (INSTALLS / release).iterdir() if (p / ".spack").is_dir()]
        record = read_install_prefix(prefix)
        assert [p.name for p in record.phases] == names, release
        assert record.phases[0].source == source, release
        assert record.build.environment_variables["SPACK_SHORT_SPEC"], release
        assert not any("test" in n for n in record.notes), release


def test_an_install_time_test_log_is_named_not_dropped(tmp_path: Path) -> None:
    prefix = tmp_path / "tinyutil-2.1-olb4tahxn3q52a56sww6ljj2kugp32jd"
    shutil.copytree(INSTALLS / "v0.22.1" / prefix.name, prefix)
    log = gzip.decompress((prefix / ".spack" / "spack-build-out.txt.gz").read_bytes())
    (prefix / ".spack" / "install-time-test-log.txt").write_bytes(log[:200])
    data = sma.load(prefix)
    notes = [m for p, m in data.notes if p == str(prefix)]
    assert any(
        m.startswith("install-time-test-log.txt: the log of the install-time") for m in notes
    )
    assert list(data.phases["name"]) == ["edit", "build", "install"]
