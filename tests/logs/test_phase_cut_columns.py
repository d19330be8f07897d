"""``spackfacts.cut_phase_columns`` cuts a combined log into phases and finds where each
phase's first and last ``==> [stamp]`` can be in the same pass; ``window_stamps`` then
decides the stamps of thousands of phases at once (the JUnit loader's hot path, issue 12).
Together they must give exactly what the rules they replace give: ``cut_phases``, and
``stamp_columns`` (``phase_timing``'s rule: ``first_last_stamp_texts`` of each phase's
text, parsed). Checked on every real build log of the fixtures, on generated logs, and on
random logs built from every kind of line that can confuse either search (stamped
markers, stamps that are not times or are longer than a window, ``==> [`` lines that are
not stamps, coloured markers, non-ASCII digits, no newline at the end)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from spackmon_analysis import spackfacts
from spackmon_analysis.loaders.assemble import stamp_columns, window_stamp_columns
from spackmon_analysis.spackfacts import (
    PHASE_MARKER,
    cut_phase_columns,
    cut_phases,
    window_stamps,
)
from spackmon_analysis.synth import generate_save_local

DATA = Path(__file__).resolve().parent.parent / "data"


def _expected(text: str) -> tuple[str, list[tuple[str, str, int]], list[list[Any]]]:
    preamble, cuts = cut_phases(text)
    texts = [chunk for _name, _pkg, chunk, _line in cuts]
    return (
        preamble,
        [(name, chunk, line) for name, _pkg, chunk, line in cuts],
        [list(column) for column in stamp_columns(texts)],
    )


def _got(text: str) -> tuple[str, list[tuple[str, str, int]], list[list[Any]]]:
    cut = cut_phase_columns(text)
    rows = zip(cut.names, cut.texts, cut.first_lines, strict=True)
    stamps = window_stamp_columns(cut.texts, cut.first_windows, cut.last_windows)
    return (
        cut.preamble,
        [(name, chunk, int(line or 0)) for name, chunk, line in rows],
        [list(column) for column in stamps],
    )


def _real_logs() -> list[str]:
    logs = []
    for path in sorted(DATA.rglob("*-out.txt*")):
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        logs.append(raw.decode("utf-8", errors="replace"))
    return logs


def test_the_same_cut_and_stamps_on_every_real_log() -> None:
    logs = _real_logs()
    assert len(logs) >= 20
    assert sum(len(_expected(log)[1]) for log in logs) >= 20  # the combined logs have markers
    for log in logs:
        assert _got(log) == _expected(log)


def test_the_same_cut_and_stamps_on_generated_logs(tmp_path: Path) -> None:
    run = generate_save_local(tmp_path / "run", 40, phases_per_build=6, seed=5, failure_rate=0.2)
    outputs = sorted(run.rglob("*phase*.json"))
    import json

    logs = []
    for path in outputs:
        body = json.loads(path.read_text())
        output = body.get("output") if isinstance(body, dict) else None
        if isinstance(output, str):
            logs.append(output)
    assert logs
    combined = "".join(log.rstrip("\n") + "\n" for log in logs)
    for text in [*logs, combined, combined.rstrip("\n")]:
        assert _got(text) == _expected(text)


_LINES = st.sampled_from(
    [
        "==> a: Executing phase: 'configure'",
        "==> b: Executing phase: 'build'  ",
        "==> [2026-12-02-21:00:01.000001] c: Executing phase: 'install'",
        "==> [not a stamp] d: Executing phase: 'edit'",
        "\x1b[0;94m==>\x1b[0m e: Executing phase: 'check'",
        "  ==> f: Executing phase: 'indented, not a marker'",
        "==> [2026-12-02-21:00:05.5] 'make' '-j2'",
        "==> [2026-12-02-21:00:09] done",
        "==> [2026-13-45-21:00:09.000000] month 13",
        "==> [2026-12-02-21:00:09.1234567] seven fraction digits",
        "==> [2026-12-02-21:00:09.123456789] a stamp longer than a window",
        "==> [2026-12-02-21:00:09.] a dot without digits",
        "==> [2026-12-02-21:00:09.000001 no bracket",
        "==> [2026-02-30-21:00:09.000001] no such day",
        "==> [1500-12-02-21:00:09.000001] before pandas' years",
        "==> [\u0662026-12-02-21:00:09.000001] a non-ASCII digit",
        "==> [2026-12-02-21:00:09\x00] a NUL",
        "==> [2026-12-02-21:00] short",
        "==> [x] not a stamp",
        "==> Installing x",
        "==> [",
        "checking for gcc... yes",
        "error: something failed",
        "",
        "Executing phase: 'build'",
        "==> g: Executing phase: 'Executing phase: 'x''",
        "==> h: Executing phase: 'a' Executing phase: 'b'",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINES, max_size=30), st.booleans(), st.booleans())
def test_the_same_cut_and_stamps_on_any_mix_of_lines(
    lines: list[str], final_newline: bool, crlf: bool
) -> None:
    text = ("\r\n" if crlf else "\n").join(lines)
    if final_newline and text:
        text += "\n"
    assert _got(text) == _expected(text)
    # the markers themselves: those of a regex scan of every line (the definition)
    found = [(m.start(), m.group(2)) for m in spackfacts._phase_marks(text)]
    assert found == [(m.start(), m.group(2)) for m in PHASE_MARKER.finditer(text)]


def test_windows_that_decide_nothing_are_left_to_the_exact_search() -> None:
    """A ``==> [`` line that is not a stamp at either end of a phase: ``window_stamps``
    leaves the phase undecided (the stamps are further in), and the loader's columns
    still hold the right stamps."""
    text = (
        "==> a: Executing phase: 'build'\n==> [x] not a stamp\n"
        "==> [2026-12-02-21:00:01.5] make\n==> [2026-12-02-21:00:04] done\n==> [y]\n"
    )
    cut = cut_phase_columns(text)
    *_stamps, found, _two, decided = window_stamps(cut.first_windows, cut.last_windows)
    assert not decided[0]
    assert _got(text) == _expected(text)
    start, start_ok, finish, finish_ok, two = _got(text)[2]
    assert start_ok == finish_ok == two == [True]
    assert (finish[0] - start[0]) / 1e6 == 2.5
