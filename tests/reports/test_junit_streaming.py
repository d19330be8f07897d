"""A JUnit report is read as it is parsed (issue 12: reports near the 256 MiB cap): the
reader never holds the file's bytes nor its whole tree, only the records it made.

Python allocations are counted with ``tracemalloc`` (not a time: the figure does not depend
on the machine's load). Before the change, ``read_junit`` held the bytes, the tree and the
records at once (and asked for a buffer the size of the cap): ``benchmarks/README.md``."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from xml.sax.saxutils import escape

import spackmon_analysis as sma
from spackmon_analysis.loaders.junit import read_junit

_DIGITS = str.maketrans("0123456789", "abcdefghij")


def _write_report(path: Path, packages: int) -> None:
    """A report as Spack writes one, whose build logs are most of its size."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
        '<testsuite name="root_abcdefg" timestamp="Wed, 02 Dec 2026 21:49:26">\n'
        '<properties><property name="architecture" value="linux-debian12-zen3" />'
        '<property name="compiler" value="gcc@=12.2.0" /></properties>\n'
    ]
    for i in range(packages):
        log = "".join(
            f"==> pkg{i}: Executing phase: '{phase}'\n"
            + "".join(
                f"==> [2026-12-02-21:49:{j % 60:02d}.000001] 'make' '-j2' target{j}\n"
                f"gcc -O2 -c file{j}.c -o file{j}.o -Iinclude -DVALUE={j}\n"
                for j in range(15)
            )
            for phase in ("configure", "build", "install")
        )
        dag_hash = f"{i:032d}".translate(_DIGITS)
        parts.append(
            f'<testcase classname="pkg{i}" name="{dag_hash}" time="1.0">\n'
            f"<system-out>\n{escape(log)}\n</system-out>\n</testcase>\n"
        )
    parts.append("</testsuite>\n</testsuites>\n")
    path.write_text("".join(parts), encoding="utf-8")


def test_reading_a_report_holds_it_about_once(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    _write_report(path, 600)
    size = path.stat().st_size
    assert size > 2_500_000
    tracemalloc.start()
    try:
        run = read_junit(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(run.builds) == 600 and len(run.phases) == 1800
    assert run.builds[0].platform == "linux" and run.builds[0].compiler == "gcc@12.2.0"
    # the records hold the logs once (about 1.3x the file with their objects); the bytes
    # and the whole tree on top of them were 3x and more
    assert peak < 2.0 * size, peak / size


def test_properties_after_the_testcases_still_apply(tmp_path: Path) -> None:
    """The JUnit schema puts ``<properties>`` first (Spack does); a writer that puts them
    last still gives every testcase of the suite its architecture and compiler."""
    path = tmp_path / "late.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<testsuites><testsuite name="app_abcdefg">'
        '<testcase classname="app" name="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" time="1"/>'
        '<properties><property name="architecture" value="linux-rhel8-zen2"/></properties>'
        "</testsuite></testsuites>\n",
        encoding="utf-8",
    )
    data = sma.load_junit(path)
    row = data.builds.iloc[0]
    assert (row["platform"], row["host_os"], row["host_target"]) == ("linux", "rhel8", "zen2")
