"""The failure-class rules file: validation, classification, one summary per build."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spackmon_analysis import logs
from spackmon_analysis.errors import RulesError
from spackmon_analysis.logs import classify, load_rules, parse_log, summary_class

DATA = Path(__file__).resolve().parent.parent / "data"
STAGE = (
    DATA
    / "installs/v0.17.1/failed-stage/spack-stage-tinybroken-0.9-bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn"
)
RULES_FILE = Path(logs.__file__).parent / "data" / "failure_classes.yaml"

# one real-looking error line per class, and the class it must get
CLASS_EXAMPLES = {
    "compiler_error": "broken.c:4:3: error: expected ',' or ';' before 'return'",
    "linker_error": "main.c:(.text+0x1a): undefined reference to `tinybase_value'",
    "missing_header_or_file": "solver.c:3:10: fatal error: hdf5.h: No such file or directory",
    "configure_failure": "configure: error: C compiler cannot create executables",
    "cmake_error": "CMake Error at CMakeLists.txt:42 (find_package):",
    "make_failure": "make[2]: *** [src/Makefile:812: libcore.la] Error 1",
    "test_failure": "FAILED tests/test_io.py::test_read_big - AssertionError",
    "fetch_network": "curl: (6) Could not resolve host: ftp.gnu.org",
    "out_of_memory_killed": "g++: fatal error: Killed signal terminated program cc1plus",
    "concretization": "==> Error: concretization failed for the following reasons:",
    "spack_error": "==> Error: ProcessError: Command exited with status 2:",
    "python_error": "ModuleNotFoundError: No module named 'setuptools'",
    "permission_denied": "mkdir: cannot create directory '/opt/shared': Permission denied",
    "disk_full": "cc1plus: fatal error: cannot write 'x.s': No space left on device",
    "lock_contention": "==> Error: Timed out waiting for a write lock after 1.2E+02 seconds",
    "timeout": "slurmstepd: error: *** JOB 4242 ON node7 CANCELLED AT 2026-11-28 DUE TO TIME LIMIT ***",
}


def test_packaged_rules_load_with_a_version_and_full_precedence():
    rules = load_rules()
    assert rules.version == yaml.safe_load(RULES_FILE.read_text())["version"]
    assert set(rules.precedence) == set(rules.classes)
    assert set(CLASS_EXAMPLES) == set(rules.classes)
    assert load_rules(RULES_FILE).precedence == rules.precedence
    for cls in rules.classes.values():
        assert cls.description and cls.patterns


@pytest.mark.parametrize("name,line", sorted(CLASS_EXAMPLES.items()))
def test_each_class_matches_its_example_as_an_event(name, line):
    (event,) = parse_log(line)
    assert event.kind == "error"
    assert name in event.classes
    assert name in classify(line)


def test_every_matching_class_is_kept_in_precedence_order():
    line = "solver.c:3:10: fatal error: hdf5.h: No such file or directory"
    assert classify(line) == ("missing_header_or_file", "compiler_error")
    oom = "g++: fatal error: Killed signal terminated program cc1plus"
    assert classify(oom)[0] == "out_of_memory_killed" and "compiler_error" in classify(oom)


def test_summary_class_precedence_on_the_real_failure():
    events = parse_log(STAGE / "spack-build-out.txt")
    assert [e.classes for e in events] == [("compiler_error",), ("make_failure",)]
    assert summary_class(events) == "compiler_error"
    # the make error alone is only a make failure
    assert summary_class(events[1:]) == "make_failure"
    assert summary_class([("make_failure",), ("linker_error", "spack_error")]) == "linker_error"
    assert summary_class(["spack_error", "missing_header_or_file"]) == "missing_header_or_file"
    assert summary_class([e.to_dict() for e in events]) == "compiler_error"


def test_unclassified_and_no_errors():
    events = parse_log("Error: the frobnicator lost its sync\nfoo.c:1:1: warning: w [-Wx]")
    assert [(e.kind, e.classes) for e in events] == [("error", ()), ("warning", ())]
    assert summary_class(events) == "unclassified"
    assert summary_class(parse_log("foo.c:1:1: warning: w [-Wx]")) is None
    assert summary_class([]) is None
    assert summary_class([()]) == "unclassified"


def _write(tmp_path: Path, doc) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return p


def _good() -> dict:
    return {
        "version": 3,
        "precedence": ["oom", "compile"],
        "classes": {
            "compile": {"description": "compiler", "patterns": [r": error:"]},
            "oom": {"description": "memory", "patterns": ["Killed"]},
        },
    }


def test_custom_rules_file_changes_classes_and_summary(tmp_path):
    rules = load_rules(_write(tmp_path, _good()))
    assert rules.version == "3"
    events = parse_log("x.c:1:1: error: Killed\n", rules=rules)
    assert events[0].classes == ("oom", "compile")
    assert summary_class(events, rules=rules) == "oom"


def test_classes_are_grouped_infrastructure_or_package(tmp_path):
    rules = load_rules()
    infrastructure = {n for n, c in rules.classes.items() if c.group == "infrastructure"}
    assert infrastructure == {
        "fetch_network",
        "disk_full",
        "out_of_memory_killed",
        "timeout",
        "lock_contention",
        "permission_denied",
    }
    assert rules.group("compiler_error") == "package"
    assert rules.group(None) == rules.group("nosuch") == "unclassified"
    # a rules file without groups puts every class in "package"
    custom = load_rules(_write(tmp_path, _good()))
    assert {c.group for c in custom.classes.values()} == {"package"}


@pytest.mark.parametrize(
    "mutate,message",
    [
        (
            lambda d: d["classes"]["compile"].update(patterns=["(unclosed"]),
            "class 'compile'.*patterns\\[0\\]",
        ),
        (lambda d: d["classes"]["compile"].update(patterns=[]), "class 'compile'.*patterns"),
        (lambda d: d["classes"]["compile"].update(patterns="x"), "class 'compile'"),
        (lambda d: d["classes"]["oom"].pop("description"), "class 'oom'.*description"),
        (lambda d: d["classes"]["oom"].update(regex=["x"]), "class 'oom'.*unknown key"),
        (lambda d: d["classes"]["oom"].update(group="system"), "class 'oom'.*'group'"),
        (lambda d: d.pop("version"), "version"),
        (lambda d: d["precedence"].append("nosuch"), "unknown class 'nosuch'"),
        (lambda d: d["precedence"].remove("oom"), "oom.*missing from precedence"),
        (lambda d: d["precedence"].append("oom"), "more than once"),
        (
            lambda d: d["classes"].update({"Bad-Name": {"description": "x", "patterns": ["x"]}}),
            "Bad-Name",
        ),
        (
            lambda d: d["classes"].update(
                {"unclassified": {"description": "x", "patterns": ["x"]}}
            ),
            "reserved",
        ),
        (lambda d: d.pop("classes"), "classes"),
    ],
)
def test_invalid_rules_files_name_the_rule(tmp_path, mutate, message):
    doc = _good()
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(RulesError, match=message) as info:
        load_rules(path)
    assert str(path) in str(info.value)


def test_unreadable_rules_files(tmp_path):
    with pytest.raises(RulesError, match="nosuch.yaml"):
        load_rules(tmp_path / "nosuch.yaml")
    with pytest.raises(RulesError, match="not valid YAML"):
        load_rules(_write(tmp_path, "version: [1\n"))
    with pytest.raises(RulesError, match="mapping"):
        load_rules(_write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize("value", [None, b"error: x", 3])
def test_classify_and_fingerprint_need_text(value) -> None:
    from spackmon_analysis.errors import LogParseError
    from spackmon_analysis.logs import classify, fingerprint, load_rules

    for call, name in (
        (lambda: classify(value), "classify"),
        (lambda: load_rules().classify(value), "classify"),
        (lambda: fingerprint(value), "fingerprint"),
    ):
        with pytest.raises(LogParseError) as info:
            call()
        message = str(info.value)
        assert f"{name}() needs" in message and type(value).__name__ in message
        if isinstance(value, bytes):
            assert "decode bytes first" in message
