"""Every rule costs time linear in the line it looks at (issue 14).

A rule such as ``keyword.*tail`` is quadratic: on a line repeating its keyword, the engine
rescans the rest of the line from every keyword (32,000 repetitions of ``"error "`` or of
``"sh libtool --a --b error "`` took minutes). Each event rule, exception, failure-class
pattern, source-location and fingerprint regex is tried here on long lines repeating a piece
of text: hand-made pathological pieces and the first part of every rule's own example. A
linear regex scans such a line in about a millisecond; the bound is generous (a quadratic one
takes seconds). Then the whole parser on the lines of the issue. Times are the CPU time of the
searching thread (``time.thread_time``): the other test worker or another program on a busy
machine delays a search but does not add to it (wall-clock bounds failed under a load of 10+).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from spackmon_analysis import logs
from spackmon_analysis.logs import MAX_LINE_CHARS, parse_log, scan_log_naive

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rule_examples import (  # noqa: E402
    ERROR_EXAMPLES,
    ERROR_EXCEPTION_EXAMPLES,
    WARNING_EXAMPLES,
    WARNING_EXCEPTION_EXAMPLES,
)

LINE = 30_000  # characters per pathological line
BOUND = 0.25  # seconds for one regex search on one such line (linear: about 0.001)

PIECES = [
    "error ",
    "sh libtool --a --b error ",
    "*** ",
    "Error: ",
    "fatal ",
    "error: command '",
    "make: *** [",
    "relocation x against ",
    "autoreconf: ",
    "has modification time ",
    "Permanently added ",
    "------ Build started: ",
    "/X11/Xa.h:1: war",
    "(program ",
    "a/",
    "a:",
    "a-",
    "a.",
    ":1",
    "(1)",
    "A",
    "1",
    " ",
    '"',
    "[-W",
    "Command ",
    "==> ",
    '"a", line 1',
]


def _examples() -> list[str]:
    out = []
    for table in (
        ERROR_EXAMPLES,
        ERROR_EXCEPTION_EXAMPLES,
        WARNING_EXAMPLES,
        WARNING_EXCEPTION_EXAMPLES,
    ):
        for value in table.values():
            out.append(value[0] if isinstance(value, tuple) else value)
    return out


def _pieces() -> list[str]:
    pieces = list(PIECES)
    for example in _examples():
        pieces.append(example[: max(1, len(example) // 2)] + " ")
    return sorted(set(pieces))


def _regexes() -> list[tuple[str, str]]:
    out = []
    for table in (
        logs.ERROR_PATTERNS,
        logs.ERROR_EXCEPTIONS,
        logs.WARNING_PATTERNS,
        logs.WARNING_EXCEPTIONS,
    ):
        out += list(table)
    for cls in logs.load_rules().classes.values():
        out += [(f"class {cls.name}", rx) for rx in cls.patterns]
    out += [(f"location {i}", rx.pattern) for i, rx in enumerate(logs._LOCATIONS)]
    for name in ("_FP_PATH", "_FP_SPACK_HASH", "_FP_HEX_HASH", "_FP_HEX", "_FP_NUMBER"):
        out.append((f"fingerprint {name}", getattr(logs, name).pattern))
    out.append(("command line", logs._COMMAND_LINE))
    return out


def test_every_regex_is_linear_on_repetitive_lines():
    pieces = _pieces()
    lines = [(piece * (LINE // len(piece) + 1))[:LINE] for piece in pieces]
    slow = []
    for name, rx in _regexes():
        search = re.compile(rx).search
        for piece, line in zip(pieces, lines, strict=True):
            start = time.thread_time()
            search(line)
            took = time.thread_time() - start
            if took > BOUND:
                slow.append(f"{name} on {piece!r} x {LINE // len(piece)}: {took:.2f} s")
    assert not slow, "quadratic rules:\n" + "\n".join(slow)


@pytest.mark.parametrize(
    "piece", ["error ", "sh libtool --a --b error ", "*** ", "Error: error: command '"]
)
def test_pathological_one_line_log_parses_fast(piece):
    """The lines of the issue (32,000 repetitions; 207 s before) parse in well under a second."""
    line = piece * 32_000
    start = time.thread_time()
    events = parse_log(line + "\nnext line\n")
    took = time.thread_time() - start
    assert took < 2.0, f"{took:.1f} s"
    assert len(events) <= 1
    for ev in events:  # the event keeps the first MAX_LINE_CHARS characters and says so
        more = len(line) - MAX_LINE_CHARS
        assert ev.text == line[:MAX_LINE_CHARS] + f" [... {more} more characters]"
        assert ev.post_context == ["next line"]


def test_long_lines_judged_by_their_start_same_as_naive():
    """A long line is judged by its first MAX_LINE_CHARS characters, in both scans."""
    tail = " x" * MAX_LINE_CHARS
    log = "\n".join(
        [
            "src/a.c:1:2: error: first" + tail,  # an error at the start: kept, cut
            "x" * MAX_LINE_CHARS + " src/a.c:1:2: error: late",  # beyond the window: no event
            "src/b.c:3:4: warning: unused" + tail,
            "short context line",
        ]
    )
    fast = parse_log(log)
    naive = scan_log_naive(log)
    assert [e.to_dict() for e in fast] == [e.to_dict() for e in naive]
    assert [(e.kind, e.line_no) for e in fast] == [("error", 1), ("warning", 3)]
    assert fast[0].text.endswith(
        f" [... {len(log.splitlines()[0]) - MAX_LINE_CHARS} more characters]"
    )
    # the context lines are cut the same way
    assert fast[0].post_context[0].startswith("x" * 100)
    assert fast[0].post_context[0].endswith("more characters]")


def _dense_log(n_lines: int) -> str:
    """An error-dense log: every line a distinct error, a warning every third line."""
    lines = []
    for i in range(n_lines):
        if i % 3 == 2:
            lines.append(f"src/w{i}.c:{i}:1: warning: unused variable 'v{i}' [-Wunused-variable]")
        else:
            lines.append(f"src/f{i}.c:{i}:7: error: 'x{i}' undeclared (first use in this function)")
    return "\n".join(lines) + "\n"


def test_events_per_kind_are_capped_and_the_cap_is_reported():
    log = _dense_log(3_000)  # 2,000 distinct errors, 1,000 distinct warnings
    events = parse_log(log, max_events=500)
    naive = scan_log_naive(log, max_events=500)
    assert [e.to_dict() for e in events] == [e.to_dict() for e in naive]
    assert naive.dropped == events.dropped == {"error": 1_500, "warning": 500}
    assert sum(e.kind == "error" for e in events) == 500
    assert sum(e.kind == "warning" for e in events) == 500
    assert not events.complete
    assert events.note() == (
        "1500 error line(s), 500 warning line(s) not kept: at most 500 distinct events of each "
        "kind are kept per log"
    )
    # a repeat of a kept event still counts in its repeat_count once the cap is reached
    again = parse_log(log + log.splitlines()[0] + "\n", max_events=500)
    assert again[0].repeat_count == 2
    # no cap: everything
    everything = parse_log(log, max_events=None)
    assert len(everything) == 3_000 and everything.complete and everything.note() is None
    # the default cap applies to the library too
    assert parse_log(log).max_events == logs.DEFAULT_MAX_EVENTS


def test_max_events_must_be_a_count():
    from spackmon_analysis.errors import LogParseError

    for bad in (-1, 1.5, "10", True):
        with pytest.raises(LogParseError, match="max_events"):
            parse_log("error: x\n", max_events=bad)


DENSE_LINES = 400_000  # an error-dense log of 31.8 MB

MEMORY_SCRIPT = r"""
import sys
from pathlib import Path
from spackmon_analysis.logs import parse_log

def peak():  # the process's peak resident memory (VmHWM), bytes
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

text = Path(sys.argv[1]).read_text(encoding="utf-8")
# the peak is inherited from the parent through fork and kept across exec, and reading the
# file had its own: reset it to the memory in use now ("5" to clear_refs, Linux >= 4.0)
Path("/proc/self/clear_refs").write_text("5")
before = peak()
events = parse_log(text)
print(len(text), peak() - before, len(events), sum(events.dropped.values()))
"""


@pytest.mark.slow
def test_error_dense_log_memory_is_proportional(tmp_path):
    """Parsing an error-dense 32 MB log adds less than twice its size to the peak memory (so
    text plus parse stay within 3x the log); before the cap every line became an event with 12
    context lines (about 15x; 33x on a 10 MB log). The growth is about 40 MB whatever the
    log's size (the kept events): 1.2x here, 0.85x for 44 MB, 3.7x for 10 MB, so the log stays
    over 30 MB (``benchmarks/bench_stall.py`` measures a 200 MB log)."""
    import subprocess

    path = tmp_path / "dense.log"
    path.write_text(_dense_log(DENSE_LINES))
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    size, grown, kept, dropped = (int(x) for x in out)
    assert size > 30_000_000
    assert kept == 2 * logs.DEFAULT_MAX_EVENTS and dropped == DENSE_LINES - kept
    assert grown < 2 * size, f"peak grew by {grown / size:.2f}x the log"
