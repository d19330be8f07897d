"""``load_junit`` builds its frames column-wise (issue 12, the JUnit benchmark): each
testcase's phases and events go straight into columns as the report is read
(``junit.read_junit_columns`` into ``assemble.PhaseColumns``), with no record, dict or
datetime per phase. These tests pin that the frames are exactly those of the record path
(``read_junit`` records through the shared ``Assembler``), on the real report and on one
that holds every shape a testcase can take, and what the column path changed for a user:
a stamp outside pandas' years no longer stops the load, and the load holds the logs once."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pandas as pd
import pytest

import spackmon_analysis as sma
from spackmon_analysis.frames import MonitorData
from spackmon_analysis.loaders import assemble, reports
from spackmon_analysis.loaders.junit import read_junit
from spackmon_analysis.records import FRAME_NAMES

DATA = Path(__file__).resolve().parent.parent / "data"
REAL = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
ERR = "broken.c:4:3: error: expected ';' before '}' token\n"


def _hash(i: int) -> str:
    digest = hashlib.sha256(str(i).encode()).digest()
    return "".join("abcdefghijklmnopqrstuvwxyz234567"[b % 32] for b in digest)


def _stamp(second: int, month: int = 12, year: int = 2026) -> str:
    return f"==> [{year}-{month:02d}-02-21:00:{second:02d}.{second * 1000:06d}]"


def _phase(pkg: str, name: str, body: str) -> str:
    return f"==> {pkg}: Executing phase: '{name}'\n" + body


#: every shape of log a testcase can carry, and whether its build failed
LOGS: dict[str, tuple[str, str | None]] = {
    "plain": (
        _phase("a", "configure", f"{_stamp(1)} x\nchecking\n{_stamp(5)} done\n")
        + _phase("a", "build", f"{_stamp(6)} make\nwarning: unused variable 'x'\n{_stamp(9)}\n")
        + _phase("a", "install", f"{_stamp(10)} install\n"),
        None,
    ),
    "preamble": (
        "fetching\nsome error: here\n" + _phase("b", "configure", f"{_stamp(1)}\n{ERR}"),
        None,
    ),
    "blank-preamble": (
        "\n   \n" + _phase("c", "configure", f"x\n{ERR}") + _phase("c", "build", ERR[:-1] + "!\n"),
        None,
    ),
    "repeat": (_phase("d", "build", f"{ERR}x\n") + _phase("d", "install", f"{ERR}y\n"), "failure"),
    "context": (
        _phase("e", "configure", "".join(f"l{i}\n" for i in range(10)))
        + _phase("e", "build", ERR + "".join(f"m{i}\n" for i in range(3)))
        + _phase("e", "install", "".join(f"n{i}\n" for i in range(10)) + "error: final\n"),
        "failure",
    ),
    "carriage": (
        _phase("f", "configure", "10%\r50%\r100%\n") + _phase("f", "build", f"a\r\n{ERR}b\rc\n"),
        "failure",
    ),
    "bad-stamps": (
        _phase("g", "configure", f"{_stamp(1, month=13)} x\n{_stamp(2)} y\n{_stamp(4)}\n")
        + _phase("g", "build", f"{_stamp(5)}\n{_stamp(7, month=14)}\n"),
        None,
    ),
    "capped": (
        _phase("h", "configure", "ok\n")
        + _phase("h", "build", "".join(f"error: thing {i}\n" for i in range(5010)))
        + _phase("h", "install", "warning: w\n"),
        "error",
    ),
    "one-phase": (_phase("i", "install", f"{_stamp(1)}\n{ERR}{_stamp(4)}\n"), "failure"),
    "no-marker-failed": (f"==> Fetching x\n{ERR}", "failure"),
    "no-marker": ("==> Installing j\nall good\n", None),
    "empty": ("", None),
    "phase-twice": (_phase("k", "build", "a\n") + _phase("k", "build", ERR), "failure"),
    "long-lines": (
        _phase("l", "configure", "x" * 5000 + " error: long\n")
        + _phase("l", "build", "error: " + "y" * 5000 + "\n"),
        None,
    ),
}


def _case(name: str, dag_hash: str, log: str | None, kind: str | None, time: str | None) -> str:
    text = f'<testcase classname="{name}" name="{dag_hash}"'
    text += f' time="{time}">\n' if time is not None else ">\n"
    if kind == "failure":
        text += f"<failure message={quoteattr('ProcessError: exit 2')}>Traceback\n</failure>\n"
    elif kind == "error":
        text += '<error message="boom">Traceback</error>\n'
    elif kind == "skipped":
        text += "<skipped/>\n"
    if log is not None:
        text += f"<system-out>\n{escape(log)}\n</system-out>\n"
    if name == "context":
        text += "<system-err>stderr text</system-err>\n"
    return text + "</testcase>\n"


def _report(stamp: str = "Wed, 02 Dec 2026 21:49:26", capped: bool = False) -> str:
    """A report with every testcase shape; ``capped``: with the phase of 5,010 distinct
    errors too (a few seconds to parse and classify)."""
    first = [
        _case(name, _hash(i), log, kind, None if name == "plain" else "2.25")
        for i, (name, (log, kind)) in enumerate(LOGS.items())
        if capped or name != "capped"
    ]
    first += [
        _case("skipped", _hash(100), None, "skipped", "0"),
        _case("skipped-with-log", _hash(101), "a log\n", "skipped", "0"),
        _case("dup", _hash(102), None, "skipped", "0"),
    ]
    second = [
        _case("dup", _hash(102), LOGS["plain"][0], None, "3"),
        _case("plain", _hash(0), LOGS["plain"][0], None, "3"),
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
        f'<testsuite name="root_abcdefg" timestamp="{stamp}">\n<properties>'
        '<property name="architecture" value="linux-debian12-zen3"/>'
        '<property name="compiler" value="gcc@=12.2.0"/></properties>\n'
        + "".join(first)
        + '</testsuite>\n<testsuite name="other" timestamp="2026-12-01T10:00:00">\n'
        + "".join(second)
        + '<properties><property name="architecture" value="linux-rhel8-zen2"/></properties>\n'
        "</testsuite>\n</testsuites>\n"
    )


def _record_path(paths: list[Path], keep_output: bool) -> MonitorData:
    runs = [read_junit(p) for p in paths]
    return MonitorData.from_frames(
        reports._frames(runs, keep_output=keep_output, rules=None, source="s")
    )


def _column_path(paths: list[Path], keep_output: bool) -> MonitorData:
    return MonitorData.from_frames(
        reports._junit_frames(paths, keep_output=keep_output, rules=None, source="s")
    )


def _assert_same(one: MonitorData, other: MonitorData) -> None:
    for name in FRAME_NAMES:
        pd.testing.assert_frame_equal(getattr(one, name), getattr(other, name), obj=name)
    assert one.notes == other.notes
    assert one.problems == other.problems


@pytest.mark.parametrize("keep_output", [True, False])
def test_columns_give_the_record_paths_frames(tmp_path: Path, keep_output: bool) -> None:
    crafted = tmp_path / "crafted.xml"
    crafted.write_text(_report(), encoding="utf-8")
    for paths in ([REAL], [crafted]):
        _assert_same(_column_path(paths, keep_output), _record_path(paths, keep_output))
    data = _column_path([crafted], keep_output)
    # the shapes are there: events placed per phase, line numbers and context in the phase
    context = data.events[data.events["build"] == _hash(4)]
    assert list(context["phase"].astype(str)) == ["build", "install"]
    assert list(context["line_no"]) == [2, 12]
    assert list(context.iloc[0]["pre_context"]) == ["==> e: Executing phase: 'build'"]
    assert len(context.iloc[0]["post_context"]) == 3  # the phase's last three lines


@pytest.mark.slow
def test_capped_events_are_named_alike(tmp_path: Path) -> None:
    """A phase over the cap of distinct events: parsed on its own, named in ``notes``."""
    crafted = tmp_path / "capped.xml"
    crafted.write_text(_report(capped=True), encoding="utf-8")
    data = _column_path([crafted], True)
    _assert_same(data, _record_path([crafted], True))
    assert (
        f"{_hash(7)}/build",
        "10 error line(s) not kept: at most 5000 distinct events of each kind are kept per log",
    ) in data.notes


def test_a_folder_of_reports_keys_later_copies_by_run(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "one.xml").write_text(_report(), encoding="utf-8")
    (folder / "two.xml").write_text(_report("Thu, 03 Dec 2026 01:00:00"), encoding="utf-8")
    paths = sorted(folder.iterdir())
    columns = _column_path(paths, True)
    _assert_same(columns, _record_path(paths, True))
    assert f"two/{_hash(3)}" in set(columns.builds["build"])
    _assert_same(
        sma.load_junit(folder), columns.__class__.from_frames(reports.junit_frames(folder))
    )


def test_a_stamp_outside_pandas_years_is_no_time(tmp_path: Path) -> None:
    """``==> [1500-...]`` is a valid stamp to Spack's format but not a ``datetime64[ns]``;
    the phase gets no time (as from a server's rows) instead of the load stopping with
    pandas' ``OutOfBoundsDatetime``."""
    log = _phase("m", "build", f"{_stamp(1, year=1500)}\nmake\n{_stamp(9, year=1500)}\n")
    path = tmp_path / "old.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<testsuites><testsuite name="m_abcdefg">'
        + _case("m", _hash(1), log, None, "1")
        + "</testsuite></testsuites>\n",
        encoding="utf-8",
    )
    phase = sma.load_junit(path).phases.iloc[0]
    assert phase["name"] == "build"
    assert pd.isna(phase["started_at"]) and pd.isna(phase["finished_at"])
    assert pd.isna(phase["duration"])


def test_the_load_holds_the_logs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The logs go into Arrow text a chunk of phases at a time as the report is read: the
    Python objects the load holds stay far under the file (before, every phase was a
    record holding its log until the frames were made: more than the file). Arrow's own
    buffers are not Python allocations: ``benchmarks/bench_junit_memory.py`` measures the
    whole process."""
    monkeypatch.setattr(assemble, "_OUTPUT_CHUNK", 256)
    # logs are cut and parsed a batch at a time: held twice (log and phases) for a batch
    monkeypatch.setattr(assemble, "EVENT_BATCH_CHARS", 1 << 16)
    sma.load_junit(REAL)  # the rules and caches a first load makes are not the report's
    path = tmp_path / "big.xml"
    cases = []
    for i in range(400):
        log = "".join(
            _phase(
                f"p{i}",
                phase,
                "".join(f"gcc -c file{j}.c -o file{j}.o -DV={j}\n" for j in range(40)),
            )
            for phase in ("configure", "build", "install")
        )
        cases.append(_case(f"p{i}", _hash(1000 + i), log, None, "1"))
    path.write_text(
        '<?xml version="1.0"?>\n<testsuites><testsuite name="p_abcdefg">'
        + "".join(cases)
        + "</testsuite></testsuites>\n",
        encoding="utf-8",
    )
    size = path.stat().st_size
    assert size > 1_500_000
    tracemalloc.start()
    try:
        data = sma.load_junit(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(data.phases) == 1200
    assert data.phases["output"].str.len().sum() > 0.9 * size
    # about 0.56x here (a chunk of 256 phases' texts of 1,200, and the frames' other
    # columns); the record path held 1.37x
    assert peak < 0.8 * size, peak / size
