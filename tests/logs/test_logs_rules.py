"""Every event rule: its example matches it, passes the prefilter, gets the right kind."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from spackmon_analysis import logs
from spackmon_analysis.logs import parse_log, scan_log_naive

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rule_examples import (  # noqa: E402
    ERROR_EXAMPLES,
    ERROR_EXCEPTION_EXAMPLES,
    WARNING_EXAMPLES,
    WARNING_EXCEPTION_EXAMPLES,
)


def _naive_kind(line: str) -> str | None:
    events = scan_log_naive(line, classify=False)
    return events[0].kind if events else None


def test_rule_counts_follow_the_ctest_layout():
    assert len(logs.ERROR_PATTERNS) == 60
    assert len(logs.ERROR_EXCEPTIONS) == 11
    assert len(logs.WARNING_PATTERNS) == 21
    assert len(logs.WARNING_EXCEPTIONS) == 16
    for table in (
        logs.ERROR_PATTERNS,
        logs.ERROR_EXCEPTIONS,
        logs.WARNING_PATTERNS,
        logs.WARNING_EXCEPTIONS,
    ):
        names = [n for n, _ in table]
        assert len(set(names)) == len(names)


def test_every_rule_has_an_example():
    assert set(ERROR_EXAMPLES) == {n for n, _ in logs.ERROR_PATTERNS}
    assert set(WARNING_EXAMPLES) == {n for n, _ in logs.WARNING_PATTERNS}
    assert set(ERROR_EXCEPTION_EXAMPLES) == {n for n, _ in logs.ERROR_EXCEPTIONS}
    assert set(WARNING_EXCEPTION_EXAMPLES) == {n for n, _ in logs.WARNING_EXCEPTIONS}


@pytest.mark.parametrize("name,rx", logs.ERROR_PATTERNS)
def test_error_rule_example(name, rx):
    line = ERROR_EXAMPLES[name]
    assert re.search(rx, line), f"{name} does not match its example"
    assert logs._candidate_starts(line) == [0], f"prefilter misses {name}"
    assert _naive_kind(line) == "error"
    events = parse_log(line)
    assert [(e.kind, e.text) for e in events] == [("error", line)]


@pytest.mark.parametrize("name,rx", logs.WARNING_PATTERNS)
def test_warning_rule_example(name, rx):
    line = WARNING_EXAMPLES[name]
    assert re.search(rx, line), f"{name} does not match its example"
    assert logs._candidate_starts(line) == [0], f"prefilter misses {name}"
    assert [(e.kind, e.text) for e in parse_log(line)] == [("warning", line)]
    assert _naive_kind(line) == "warning"


@pytest.mark.parametrize("name,rx", logs.ERROR_EXCEPTIONS)
def test_error_exception_example(name, rx):
    line, expected = ERROR_EXCEPTION_EXAMPLES[name]
    assert re.search(rx, line), f"{name} does not match its example"
    assert any(re.search(p, line) for _, p in logs.ERROR_PATTERNS), (
        "example must look like an error"
    )
    got = parse_log(line)
    assert (got[0].kind if got else None) == expected
    assert _naive_kind(line) == expected


@pytest.mark.parametrize("name,rx", logs.WARNING_EXCEPTIONS)
def test_warning_exception_example(name, rx):
    line = WARNING_EXCEPTION_EXAMPLES[name]
    assert re.search(rx, line), f"{name} does not match its example"
    assert any(re.search(p, line) for _, p in logs.WARNING_PATTERNS), (
        "example must look like a warning"
    )
    assert not any(re.search(p, line) for _, p in logs.ERROR_PATTERNS)
    assert parse_log(line) == []
    assert _naive_kind(line) is None


def test_prefilter_keywords_are_lower_case():
    for kw in logs.PREFILTER_KEYWORDS:
        assert kw == kw.lower()


def test_flag_occurrences_do_not_make_candidates_but_real_words_do():
    cmd = "x -Werror=format-security -Wno-error=unused -Wl,--no-undefined y"
    assert logs._candidate_starts(cmd) == []
    assert logs._candidate_starts("a\n" + cmd + " error here\n") == [2]
    # a keyword at the very start of the text (no room for a flag prefix)
    assert logs._candidate_starts("error: x") == [0]
    assert logs._candidate_starts("undefined reference to `f'") == [0]


def test_configure_error_on_a_checking_line_is_an_error():
    line = "checking whether build environment is sane... configure: error: ls -t appears to fail."
    assert [e.kind for e in parse_log(line)] == ["error"]
    assert parse_log("checking for strerror_r... yes\nchecking for error_at_line... yes\n") == []


def test_more_error_lines():
    from rule_examples import MORE_ERRORS

    for line in MORE_ERRORS:
        assert [e.kind for e in parse_log(line)] == ["error"], line
        assert _naive_kind(line) == "error"
