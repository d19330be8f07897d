"""Spack's own facts about builds: what its log files and timers mean, release by release.

Everything here was worked out from files real Spack releases wrote (``tests/data/``:
0.16.3, 0.17.1 and 0.22.1 install trees, 0.17.1 save-local runs) and from Spack's
source history; the readers (:mod:`~spackmon_analysis.loaders.installs`,
:mod:`~spackmon_analysis.loaders.savelocal`, :mod:`~spackmon_analysis.frames`) use these
definitions instead of keeping their own copies. ``docs/install-trees.md`` has the
same facts as tables.

Phase markers
    Every release from 0.16 to 0.22 starts each phase of a build with one line in the
    combined ``spack-build-out.txt`` (and in the per-phase logs 0.17-0.21 also keep)::

        ==> tinybase: Executing phase: 'autoreconf'

    With ``spack -d`` the line may carry a ``[timestamp]`` after ``==>`` like Spack's
    other debug messages, and a log written with colour on keeps the escape codes around
    ``==>``; all these forms (and CRLF line ends) are accepted. :func:`split_phases` cuts
    a combined log on these lines.

``install_times.json``
    Written from 0.17 on (not by 0.16). :func:`phase_durations` attributes its values
    to phases; :data:`INSTALL_TIMES_MEANINGS` says what a value means in which release.

The DAG hash
    The hash a Spack user sees (prefix and stage directory names, the console,
    ``spack find -l``) is the DAG hash: the ``hash`` key of a spec node. 0.17 also
    carries a ``full_hash`` (what its monitor client sends); it appears nowhere a user
    can look a build up, so views show the DAG hash (:func:`short_hash` for the
    7-character form of ``spack find -l``) and keep the full hash as a column.

Phase names and order
    :data:`BUILD_SYSTEM_PHASES` lists the phases each of Spack's build systems runs by
    default (from the ``phases`` of Spack's package base classes and builders);
    :data:`CANONICAL_PHASES` merges them into one order consistent with every build
    system, and :func:`order_phases` places a build's phases with it where the logs carry
    no timestamps. A new phase name or build system goes into these two tables, nowhere
    else.

Phase timing
    :func:`phase_timestamps` reads the ``==> [stamp]`` lines Spack writes into phase
    output; :func:`phase_timing` turns them into a phase's start, end and duration.
    Every reader (save-local runs, install trees, server rows, the server database) uses
    these two.

A build's outcome and first error
    :func:`build_outcome` is the one rule for ``succeeded`` / ``failed`` / ``never built``
    / ``unknown``; :func:`first_error_events` picks the error every view names as a
    build's first error (see its docstring for the rule), :func:`failed_phases` the phase
    that failed, and :func:`echo_errors` marks the make/ninja lines that only repeat an
    earlier error of the same phase (left out of error rankings).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .logs import is_echo
from .records import OUTCOMES as _OUTCOMES

if TYPE_CHECKING:
    import pandas

__all__ = [
    "LOG_STAMP",
    "parse_stamp",
    "phase_timestamps",
    "first_last_stamp_texts",
    "first_last_stamp_spans",
    "parse_stamps",
    "parse_stamp_spans",
    "STAMP_WINDOW",
    "window_stamps",
    "stamp_micros",
    "PhaseTiming",
    "phase_timing",
    "BUILD_SYSTEM_PHASES",
    "PYTHON_SETUP_PY_PHASES",
    "CANONICAL_PHASES",
    "phase_rank",
    "order_phases",
    "sort_phase_names",
    "OUTCOMES",
    "build_outcome",
    "marked_failure",
    "FAILURE_MARKER_TAG",
    "SPLICED_TAG",
    "splice_links",
    "BLOCKED_TAG",
    "failed_phases",
    "echo_errors",
    "first_error_events",
    "first_errors_per_failed_phase",
    "last_line_clue",
    "PHASE_MARKER",
    "PHASE_SUCCESS_MARKER",
    "LogPhase",
    "split_phases",
    "cut_phases",
    "PhaseCut",
    "stamp_windows",
    "cut_phase_columns",
    "INSTALL_TIMES_MEANINGS",
    "PhaseDurations",
    "install_times_meaning",
    "phase_durations",
    "release",
    "NEWEST_SPECFILE_FORMAT",
    "specfile_format_note",
    "short_spec_compiler",
    "writes_phase_logs",
    "short_hash",
    "variants_text",
]

#: ``==> [2026-11-28-06:01:27.840541] 'make' '-j2'``: timestamped lines in phase logs.
LOG_STAMP = re.compile(r"^==> \[(\d{4}-\d{2}-\d{2}-\d{2}:\d{2}:\d{2}(?:\.\d+)?)\]", re.MULTILINE)


def parse_stamp(text: str) -> datetime | None:
    """A ``LOG_STAMP`` text (``YYYY-MM-DD-HH:MM:SS[.f]``) as a naive datetime, ``None``
    when it is not a valid time. Same results as ``datetime.strptime`` with
    ``%Y-%m-%d-%H:%M:%S[.%f]`` (1-6 fraction digits), by slicing: no locale lookups."""
    frac = text[20:]
    if len(text) != 19 and (text[19:20] != "." or not 1 <= len(frac) <= 6 or not frac.isdigit()):
        return None
    try:
        return datetime(
            int(text[0:4]),
            int(text[5:7]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:19]),
            int(frac.ljust(6, "0")) if frac else 0,
        )
    except ValueError:
        return None


def phase_timestamps(output: str | None) -> list[datetime]:
    """The valid ``==> [YYYY-MM-DD-HH:MM:SS.ffffff]`` stamps of a phase's output, in
    order; a stamp that is not a valid time (``2021-13-45-...``) is skipped, so it never
    hides the valid stamps after it."""
    if not output:
        return []
    stamps = []
    for text in LOG_STAMP.findall(output):
        stamp = parse_stamp(text)
        if stamp is not None:
            stamps.append(stamp)
    return stamps


_stamp_match = LOG_STAMP.match


def first_last_stamp_texts(output: str | None) -> tuple[str | None, str | None, bool]:
    """The texts of the first and last ``==> [stamp]`` lines of ``output`` and whether they
    are two different lines (the same as ``LOG_STAMP.findall(output)[0]``, ``[-1]`` and
    ``len(...) >= 2``), found with ``str.find``/``rfind`` from both ends instead of a regex
    scan of the whole log. ``(None, None, False)`` when there is none. The texts are not
    validated (:func:`parse_stamps` / :func:`phase_timestamps` do that)."""
    if not output:
        return None, None, False
    first = _stamp_match(output) if output.startswith("==> [") else None
    start = 0
    while first is None:
        start = output.find("\n==> [", start) + 1
        if not start:
            return None, None, False
        first = _stamp_match(output, start)
    end = len(output)
    while True:
        pos = output.rfind("\n==> [", start, end) + 1
        if pos <= start:
            text = first.group(1)
            return text, text, False
        last = _stamp_match(output, pos)
        if last is not None:
            return first.group(1), last.group(1), True
        end = pos + 4


#: ``==> [`` and the stamp's fixed characters (offsets from the ``[``'s next byte)
_STAMP_DIGITS = (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18)
_STAMP_SEPARATORS = ((4, 45), (7, 45), (10, 45), (13, 58), (16, 58))
#: fraction digits looked at before a stamp is left to the regex (``first_last_stamp_texts``)
_FRACTION_WINDOW = 12


def first_last_stamp_spans(buffer: Any, offsets: Any) -> tuple[Any, Any, Any, Any, Any, Any]:
    """:func:`first_last_stamp_texts` of many ASCII logs at once, without a Python string
    each: ``buffer`` the logs' bytes one after another (a uint8 array), ``offsets`` (int64,
    one more than the logs) where each log starts and ends. The same rule, ``LOG_STAMP``'s:
    a ``==> [`` at the start of a line (the log's start or after a ``\n``), the
    ``YYYY-MM-DD-HH:MM:SS`` digits and separators, an optional ``.`` and digits, ``]``, all
    inside the log.

    Returns ``(first_start, first_end, last_start, last_end, two, unsure)``: the spans of
    each log's first and last stamp texts in ``buffer`` (empty where it has none), whether
    it has two or more, and the logs whose answer this did not decide (a fraction of more
    than a few digits: :func:`first_last_stamp_texts` decides them)."""
    import numpy as np

    n = len(offsets) - 1
    size = len(buffer)
    first_start = np.zeros(n, dtype=np.int64)
    first_end = np.zeros(n, dtype=np.int64)
    last_start = np.zeros(n, dtype=np.int64)
    last_end = np.zeros(n, dtype=np.int64)
    two = np.zeros(n, dtype=bool)
    unsure = np.zeros(n, dtype=bool)
    if n <= 0 or size < 5:
        return first_start, first_end, last_start, last_end, two, unsure

    # zeros after the end: every byte looked at below is at most 5 + 20 + the fraction
    # window past a "==> [", so inside the padded buffer
    padded = np.concatenate([buffer, np.zeros(25 + _FRACTION_WINDOW + 8, dtype=np.uint8)])

    def at(where: Any) -> Any:
        """The bytes at ``where`` (0 past the end of the buffer)."""
        return padded[where]

    bracket = np.flatnonzero(buffer == 91)  # "["
    bracket = bracket[bracket >= 4]
    p = bracket - 4  # where "==> [" would start
    keep = (buffer[p] == 61) & (buffer[p + 1] == 61) & (buffer[p + 2] == 62)
    keep &= buffer[p + 3] == 32
    p = p[keep]
    row = np.searchsorted(offsets, p, side="right") - 1
    row_start, row_end = offsets[row], offsets[row + 1]
    line_start = (p == row_start) | (at(np.maximum(p - 1, 0)) == 10)
    p, row, row_end = p[line_start], row[line_start], row_end[line_start]
    q = p + 5  # the stamp text
    ok = np.ones(len(q), dtype=bool)
    for k in _STAMP_DIGITS:
        b = at(q + k)
        ok &= (b >= 48) & (b <= 57)
    for k, sep in _STAMP_SEPARATORS:
        ok &= at(q + k) == sep
    after = at(q + 19)
    plain = ok & (after == 93)  # "]"
    dotted = ok & (after == 46)  # "."
    digits = np.zeros(len(q), dtype=np.int64)
    running = dotted.copy()
    for k in range(_FRACTION_WINDOW):
        b = at(q + 20 + k)
        running &= (b >= 48) & (b <= 57)
        digits += running
    long_fraction = running  # every byte of the window a digit: not decided here
    fraction = dotted & ~long_fraction & (digits >= 1) & (at(q + 20 + digits) == 93)
    end = np.where(plain, q + 19, q + 20 + digits)  # the "]"
    valid = (plain | fraction) & (end < row_end)
    unsure[row[long_fraction & (q + 20 < row_end)]] = True
    p, row, q, end = p[valid], row[valid], q[valid], end[valid]
    if len(row):
        starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
        stops = np.r_[starts[1:], len(row)] - 1
        rows = row[starts]
        first_start[rows], first_end[rows] = q[starts], end[starts]
        last_start[rows], last_end[rows] = q[stops], end[stops]
        two[rows] = stops > starts
    return first_start, first_end, last_start, last_end, two, unsure


def parse_stamps(texts: list[str | None]) -> tuple[Any, Any]:
    """Vectorised :func:`parse_stamp`: ``(microseconds since the epoch as int64, ok mask)``
    for a list of ``LOG_STAMP`` texts (``None`` allowed). ``ok`` is False where
    :func:`parse_stamp` would give ``None``, and for years outside 1678-2261 (the
    ``datetime64[ns]`` range)."""
    import numpy as np

    n = len(texts)
    us = np.zeros(n, dtype=np.int64)
    if not n:
        return us, np.zeros(0, dtype=bool)
    try:
        raw = np.array([t or "" for t in texts], dtype="S27")
    except UnicodeEncodeError:  # non-ASCII digits: the scalar path decides
        ok = np.zeros(n, dtype=bool)
        epoch = datetime(1970, 1, 1)
        for i, text in enumerate(texts):
            stamp = parse_stamp(text) if text else None
            if stamp is not None and 1678 <= stamp.year <= 2261:
                us[i] = (stamp - epoch) // _MICROSECOND
                ok[i] = True
        return us, ok
    return _parse_stamp_rows(raw.view(np.uint8).reshape(n, 27))


def parse_stamp_spans(buffer: Any, starts: Any, ends: Any) -> tuple[Any, Any]:
    """:func:`parse_stamps` of texts given as spans of an ASCII byte buffer (``buffer`` a
    uint8 array, ``starts``/``ends`` int64 arrays; an empty span is no text), without a
    Python string each: the same ``(microseconds, ok)``."""
    import numpy as np

    n = len(starts)
    if not n or not len(buffer):  # no text at all: no stamp
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    where = starts[:, None] + np.arange(27, dtype=np.int64)
    inside = where < ends[:, None]
    m = np.where(inside, buffer[np.minimum(where, max(len(buffer) - 1, 0))], 0)
    return _parse_stamp_rows(m.astype(np.uint8, copy=False))


def _parse_stamp_rows(m: Any) -> tuple[Any, Any]:
    """The core of :func:`parse_stamps`: ``m`` an (n, 27) uint8 array, one stamp text a row
    (ASCII, zero-padded, cut at 27 bytes as numpy's ``S27`` cuts it)."""
    import numpy as np

    n = len(m)
    us = np.zeros(n, dtype=np.int64)

    def digit(k: int) -> Any:
        return m[:, k].astype(np.int64) - 48

    ok = (m[:, 4] == 45) & (m[:, 7] == 45) & (m[:, 10] == 45)
    ok &= (m[:, 13] == 58) & (m[:, 16] == 58)
    ok &= (m[:, 19] == 0) | (m[:, 19] == 46)
    ok &= m[:, 26] == 0  # at most 6 fraction digits
    values = {}
    for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        values[k] = value = digit(k)
        ok &= (value >= 0) & (value <= 9)
    frac = np.zeros(n, dtype=np.int64)
    ended = m[:, 19] == 0
    for k in range(20, 26):
        ended |= m[:, k] == 0
        value = digit(k)
        ok &= ended | ((value >= 0) & (value <= 9))
        frac = frac * 10 + np.where(ended, 0, value)
    ok &= (m[:, 19] == 0) | (m[:, 20] != 0)  # "." needs a digit after it
    v = values
    year = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3]
    month = v[5] * 10 + v[6]
    day = v[8] * 10 + v[9]
    hour = v[11] * 10 + v[12]
    minute = v[14] * 10 + v[15]
    second = v[17] * 10 + v[18]
    ok &= (year >= 1678) & (year <= 2261) & (month >= 1) & (month <= 12) & (day >= 1)
    ok &= (hour < 24) & (minute < 60) & (second < 60)
    months = np.where(ok, (year - 1970) * 12 + month - 1, 0)
    first_day = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    next_first = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    ok &= day <= next_first - first_day
    days = first_day + day - 1
    us[:] = (((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000 + frac
    us[~ok] = 0
    return us, ok


#: Characters from the ``[`` of ``==> [`` that :func:`cut_phase_columns` keeps of a stamp
#: line: the ``[``, the longest stamp :func:`parse_stamp` takes (26) and its ``]``, and one
#: more.
STAMP_WINDOW = 29


def window_stamps(
    first_windows: list[str | None], last_windows: list[str | None]
) -> tuple[Any, Any, Any, Any, Any, Any, Any]:
    """The stamps of many phases from :func:`cut_phase_columns`' windows (the text from the
    ``[`` of ``==> [`` on the first and the last line of each phase that starts so; None:
    no such line, or the first is the only one), vectorised: ``(start, start_ok, finish,
    finish_ok, found, two, decided)``: :func:`parse_stamps` of the first and last stamp
    texts, whether the phase has a stamp, whether the first and last are two lines.
    ``decided`` is False for a phase whose first or last ``==> [`` line does not match
    :data:`LOG_STAMP` (or holds a stamp longer than a window, or is not ASCII): its stamps
    are further in, if any, and only :func:`first_last_stamp_texts` of its text says which.
    Where ``decided``, the answer is that of :func:`first_last_stamp_texts` and
    :func:`parse_stamps`."""
    import numpy as np

    n = len(first_windows)
    width = STAMP_WINDOW
    windows = first_windows + last_windows
    try:
        raw = np.array([w or "" for w in windows], dtype=f"S{width}")
    except UnicodeEncodeError:
        zero, no = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        return zero, no, zero.copy(), no.copy(), no.copy(), no.copy(), no.copy()
    matrix = raw.view(np.uint8).reshape(2 * n, width)
    # a window starts with the ``[`` of its ``==> [`` (an absent one is empty)
    given = matrix[:, 0] == 91
    texts, ok = _window_texts(matrix[:, 1:])
    has_first, has_last, first_ok, last_ok = given[:n], given[n:], ok[:n], ok[n:]
    found = has_first & first_ok
    two = found & has_last & last_ok
    decided = ~has_first | (first_ok & (~has_last | last_ok))
    texts[n:][~two] = texts[:n][~two]  # one stamp: the last is the first
    micros, valid = _parse_stamp_rows(texts)
    return micros[:n], valid[:n] & found, micros[n:], valid[n:] & found, found, two, decided


def _window_texts(m: Any) -> tuple[Any, Any]:
    """The stamp text at the start of each window (``(n, 27)`` bytes, NUL-padded) and
    whether the window starts with one :data:`LOG_STAMP` takes: ``YYYY-MM-DD-HH:MM:SS``
    with ASCII digits, optionally ``.`` and digits, then ``]``."""
    import numpy as np

    n, width = m.shape
    digit = (m >= 48) & (m <= 57)
    ok = np.ones(n, dtype=bool)
    for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        ok &= digit[:, k]
    ok &= (m[:, 4] == 45) & (m[:, 7] == 45) & (m[:, 10] == 45)
    ok &= (m[:, 13] == 58) & (m[:, 16] == 58)
    # the stamp ends at 19 (``]``) or after ``.`` and one or more digits, at the first
    # byte from 20 on that is not a digit, which must be ``]``
    length = np.full(n, 19, dtype=np.int64)
    dotted = m[:, 19] == 46
    rest = ~digit[:, 20:]
    stop = np.where(rest.any(axis=1), rest.argmax(axis=1) + 20, width)
    length = np.where(dotted, stop, 19)
    ok &= np.where(dotted, (stop > 20) & (stop < width), m[:, 19] == 93)
    closing = m[np.arange(n), np.minimum(length, width - 1)]
    ok &= closing == 93
    keep = np.arange(27)[None, :] < np.where(ok, length, 0)[:, None]
    texts = np.where(keep, m[:, :27], 0).astype(np.uint8)
    return texts, ok


_MICROSECOND = timedelta(microseconds=1)


def stamp_micros(output: str | None) -> tuple[int, bool, int, bool, bool]:
    """:func:`phase_timing` in microseconds since the epoch, for column-wise readers:
    ``(first, first_ok, last, last_ok, two)`` (``two``: at least two valid stamps, so the
    phase has a duration); a stamp outside the ``datetime64[ns]`` years 1678-2261 is not
    ok."""
    stamps = phase_timestamps(output)
    epoch = datetime(1970, 1, 1)

    def micro(stamp: datetime) -> tuple[int, bool]:
        if not 1678 <= stamp.year <= 2261:
            return 0, False
        return (stamp - epoch) // _MICROSECOND, True

    if not stamps:
        return 0, False, 0, False, False
    first, first_ok = micro(stamps[0])
    last, last_ok = micro(stamps[-1])
    return first, first_ok, last, last_ok, len(stamps) >= 2


@dataclass(frozen=True)
class PhaseTiming:
    """When a phase ran, from the stamps of its output (:func:`phase_timing`).

    ``started``/``finished``: its first and last valid stamp (naive datetimes, as Spack
    writes them; None without a stamp); ``duration``: seconds between them, None unless
    the output holds at least two valid stamps (one stamp dates the phase but does not
    measure it)."""

    started: datetime | None
    finished: datetime | None
    duration: float | None


def phase_timing(output: str | None) -> PhaseTiming:
    """The start, end and duration of a phase from the ``==> [stamp]`` lines of its
    output (:func:`phase_timestamps`): the one rule every reader uses.

    Only the first and last valid stamps count, so they are looked for from both ends of
    the output (:func:`first_last_stamp_texts`, ``str.find``) and the whole output is
    scanned only when one of those two is not a valid time; the answer is the same."""
    first, last, two = first_last_stamp_texts(output)
    if first is None:
        return PhaseTiming(None, None, None)
    start = parse_stamp(first)
    end = parse_stamp(last) if two and last is not None else start
    if start is not None and end is not None:
        duration = (end - start).total_seconds() if two else None
        return PhaseTiming(start, end, duration)
    stamps = phase_timestamps(output)
    if not stamps:
        return PhaseTiming(None, None, None)
    duration = (stamps[-1] - stamps[0]).total_seconds() if len(stamps) >= 2 else None
    return PhaseTiming(stamps[0], stamps[-1], duration)


# ---------------------------------------------------------------------------------
# phase names and order

#: The phases each of Spack's build systems runs by default, in order (the ``phases`` of
#: Spack's package base classes, and of its builders from 0.19 on). A package may
#: override them (``phases = ["build", "install"]`` in a ``Package``); ``bundle`` runs
#: none. ``python`` is ``PythonPackage`` up to 0.17 (``setup.py`` commands; a package
#: could add the ones in :data:`PYTHON_SETUP_PY_PHASES`); ``python_pip`` is the pip-based
#: ``PythonPackage`` of 0.18 and later. ``lua`` is 0.19 and later (0.18's
#: ``LuaPackage`` ran ``preprocess``, ``install``). Autotools' ``check`` and
#: ``installcheck`` are tests run after ``build``/``install`` inside those phases, not
#: phases of their own.
BUILD_SYSTEM_PHASES: dict[str, tuple[str, ...]] = {
    "generic": ("install",),
    "bundle": (),
    "autotools": ("autoreconf", "configure", "build", "install"),
    "cmake": ("cmake", "build", "install"),
    "cached_cmake": ("initconfig", "cmake", "build", "install"),
    "makefile": ("edit", "build", "install"),
    "meson": ("meson", "build", "install"),
    "qmake": ("qmake", "build", "install"),
    "scons": ("build", "install"),
    "waf": ("configure", "build", "install"),
    "perl": ("configure", "build", "install"),
    "sip": ("configure", "build", "install"),
    "intel": ("configure", "install"),
    "python": ("build", "install"),
    "python_pip": ("install",),
    "r": ("install",),
    "octave": ("install",),
    "racket": ("install",),
    "oneapi": ("install",),
    "ruby": ("build", "install"),
    "maven": ("build", "install"),
    "go": ("build", "install"),
    "cargo": ("build", "install"),
    "nmake": ("build", "install"),
    "msbuild": ("build", "install"),
    "lua": ("unpack", "generate_luarocks_config", "preprocess", "install"),
}

#: The ``setup.py`` commands a ``PythonPackage`` up to 0.17 could run as phases
#: (``phases = ["build_ext", "install"]``), in the order ``setup.py build`` and
#: ``setup.py install`` run them.
PYTHON_SETUP_PY_PHASES = (
    "build_py",
    "build_clib",
    "build_ext",
    "build_scripts",
    "install_lib",
    "install_headers",
    "install_scripts",
    "install_data",
)

#: One order of every phase name above, consistent with each build system's own order
#: (tests/analysis/test_spackfacts.py checks that), plus ``bootstrap`` (the ``cmake``
#: package's first phase) and ``check``/``installcheck`` (kept for data that names them
#: as phases). Used only to place phases whose output carries no timestamp (an ``edit``
#: phase with empty output, say) and to sort phase names in tables and plots.
CANONICAL_PHASES = (
    "unpack",
    "generate_luarocks_config",
    "preprocess",
    "autoreconf",
    "bootstrap",
    "initconfig",
    "cmake",
    "meson",
    "qmake",
    "configure",
    "edit",
    "build_py",
    "build_clib",
    "build_ext",
    "build_scripts",
    "build",
    "check",
    "install_lib",
    "install_headers",
    "install_scripts",
    "install_data",
    "install",
    "installcheck",
)

_RANK = {name: i for i, name in enumerate(CANONICAL_PHASES)}

_T = TypeVar("_T")


def phase_rank(name: Any) -> int:
    """The position of a phase name in :data:`CANONICAL_PHASES`; names Spack's build
    systems do not have rank after all of them."""
    return _RANK.get(name, len(CANONICAL_PHASES)) if isinstance(name, str) else len(_RANK)


def order_phases(
    items: Iterable[_T], name: Callable[[_T], str], started: Callable[[_T], Any]
) -> list[_T]:
    """A build's phases in the order they ran.

    Phases with a start (``started(item)``, from their stamps) go by start; a phase
    without one goes before the first timed phase that ranks after it in
    :data:`CANONICAL_PHASES` (else last); untimed phases among themselves go by rank,
    then name. The one ordering rule of every reader."""
    items = list(items)
    timed = sorted((i for i in items if started(i) is not None), key=started)
    untimed = sorted(
        (i for i in items if started(i) is None), key=lambda i: (phase_rank(name(i)), name(i))
    )
    result = list(timed)
    for item in untimed:
        rank = phase_rank(name(item))
        position = len(result)
        for index, other in enumerate(result):
            if phase_rank(name(other)) > rank:
                position = index
                break
        result.insert(position, item)
    return result


def sort_phase_names(names: Iterable[str], median_order: Mapping[str, float]) -> list[str]:
    """Phase names (one per column or bar) in Spack's order: known names by
    :data:`CANONICAL_PHASES`; a name Spack's build systems do not have goes after the
    known name whose median ``order`` in the builds precedes its own (``median_order``),
    several such names by their median order, then by name."""
    names = list(names)
    known = sorted((n for n in names if n in _RANK), key=_RANK.__getitem__)

    def key(name: str) -> tuple[float, float, str]:
        if name in _RANK:
            return (float(_RANK[name]), 0.0, name)
        mine = median_order.get(name, float("inf"))
        mine = float("inf") if mine != mine else float(mine)  # NaN: unknown
        before = [_RANK[k] for k in known if median_order.get(k, float("inf")) <= mine]
        return (max(before) + 0.5 if before else -0.5, mine, name)

    return sorted(names, key=key)


# ---------------------------------------------------------------------------------
# a build's outcome

#: The outcomes of a build (``builds.outcome``), in the order views list them (the
#: vocabulary lives with the frame columns in :mod:`~spackmon_analysis.records`).
OUTCOMES = _OUTCOMES


#: The tag of a build read from a failure marker of Spack's install database
#: (``.spack-db/failures/<name>-<hash>``): Spack tried to build that spec and it failed.
#: The tag of an installed spliced spec's build row (Spack 0.23+ splicing): never built
#: itself, a rewiring of the installed build of its ``build_spec`` (docs/install-trees.md).
SPLICED_TAG = "spliced"
FAILURE_MARKER_TAG = "failure-marker"
#: The tag of a build Spack never started because a dependency failed (a marked dependent,
#: a package a report left out).
BLOCKED_TAG = "blocked"


def marked_failure(status: Any, tags: Iterable[Any] | None) -> bool:
    """True for a build whose failure only Spack's failure marker records: status
    ``FAILED``, tagged :data:`FAILURE_MARKER_TAG` and not :data:`BLOCKED_TAG`. Spack writes
    a marker for the spec that failed and for each dependent it then skipped; the loader of
    the install database tags the skipped ones ``blocked`` (a marked spec that depends on
    another marked spec), so the others are the failures themselves, though no log (no
    ``ERROR`` phase) was kept. The tags travel with the build (an upload sends them, the
    server stores them), so every reader decides alike."""
    if status != "FAILED" or not tags:
        return False
    if isinstance(tags, str):  # a stored comma-separated form
        tags = [t.strip() for t in tags.split(",")]
    seen = {str(t) for t in tags}
    return FAILURE_MARKER_TAG in seen and BLOCKED_TAG not in seen


def build_outcome(
    status: Any, phase_statuses: Iterable[Any], tags: Iterable[Any] | None = None
) -> str:
    """A build's outcome from its status, its phases' statuses and its tags.

    ``failed`` when one of its own phases is ``ERROR`` (whatever the status says: Spack
    0.17.1 writes no status for the package that failed), or when its status is
    ``FAILED`` and Spack's failure marker says it failed itself (:func:`marked_failure`:
    tag ``failure-marker`` without ``blocked``; no log was kept, so no phase); ``succeeded``
    for status ``SUCCESS``; ``never built`` for ``FAILED``/``CANCELLED`` otherwise (a
    dependent Spack never started because a dependency failed); ``unknown`` else
    (``STARTED``, ``NOTRUN``, no status). ``loaders/summary.py`` writes the same rule in
    SQL."""
    if any(s == "ERROR" for s in phase_statuses):
        return "failed"
    if status == "SUCCESS":
        return "succeeded"
    if status in ("FAILED", "CANCELLED"):
        return "failed" if marked_failure(status, tags) else "never built"
    return "unknown"


# ---------------------------------------------------------------------------------
# a build's failed phase and first error (over the frames of docs/analysis.md)


def _order_column(phases: pandas.DataFrame) -> pandas.Series:
    import pandas as pd

    if "order" not in phases.columns:
        return pd.Series(float("nan"), index=phases.index)
    return pd.to_numeric(phases["order"], errors="coerce")


def failed_phases(phases: pandas.DataFrame) -> pandas.Series:
    """Each build's failed phase: its first ``ERROR`` phase by ``order`` (index: build
    key as ``str``; builds without an ``ERROR`` phase are absent)."""
    import pandas as pd

    errored = phases[phases["status"].astype(object) == "ERROR"]
    if not len(errored):
        return pd.Series(dtype=object)
    key = pd.DataFrame(
        {
            "build": errored["build"].astype(str).values,
            "name": errored["name"].astype(object).values,
            "order": _order_column(errored).values,
            "pos": range(len(errored)),
        }
    ).sort_values(["build", "order", "pos"], kind="stable", na_position="last")
    first = key.groupby("build", sort=False).head(1)
    return pd.Series(first["name"].values, index=first["build"].values, dtype=object)


def echo_errors(events: pandas.DataFrame) -> pandas.Series:
    """True for the error events that only repeat an earlier failure: make's
    ``make[2]: *** [Makefile:6: x.o] Error 1`` and ``all-recursive`` lines, ninja's
    ``FAILED: <target>`` and ``build stopped`` (:func:`~spackmon_analysis.logs.is_echo`),
    in a phase of a build that has an error event that is not such a line (the compiler
    or tool error they repeat). A phase whose only errors are these lines keeps them:
    nothing else says what failed. Warnings are never echoes. One rule for the first
    error (:func:`first_error_events`) and for rankings of errors (``df.spack.top()``)."""
    import pandas as pd

    if not len(events):
        return pd.Series(False, index=events.index, dtype=bool)
    is_error = (events["kind"].astype(object) == "error").to_numpy()
    echo_text = pd.Series(
        [bool(e) and is_echo(str(t)) for e, t in zip(is_error, events["text"], strict=True)],
        index=events.index,
    )
    group = [
        (str(b), str(p))
        for b, p in zip(
            events["build"].astype(object),
            events["phase"].astype(object) if "phase" in events.columns else [None] * len(events),
            strict=True,
        )
    ]
    has_own = {g for g, e, echo in zip(group, is_error, echo_text, strict=True) if e and not echo}
    return pd.Series(
        [bool(echo) and g in has_own for g, echo in zip(group, echo_text, strict=True)],
        index=events.index,
        dtype=bool,
    )


def _error_keys(errors: pandas.DataFrame, phases: pandas.DataFrame) -> pandas.DataFrame:
    """Sort keys of error events: build, outside the failed phase, phase order, line."""
    import pandas as pd

    order = {
        (str(b), str(n)): o
        for b, n, o in zip(phases["build"], phases["name"], _order_column(phases), strict=True)
        if o == o
    }
    failed = failed_phases(phases)
    build = errors["build"].astype(str)
    phase = errors["phase"].astype(str)
    return pd.DataFrame(
        {
            "build": build.values,
            "phase": phase.values,
            "not_failed_phase": [failed.get(b) != p for b, p in zip(build, phase, strict=True)],
            "echo": echo_errors(errors).values,
            "order": [order.get((b, p), 0) for b, p in zip(build, phase, strict=True)],
            "line": pd.to_numeric(errors["line_no"], errors="coerce").values,
            "pos": range(len(errors)),
        },
        index=errors.index,
    )


def _first_error_labels(errors: pandas.DataFrame, phases: pandas.DataFrame) -> pandas.Series:
    """build key -> index label in ``errors`` of its first error (the rule of
    :func:`first_error_events`)."""
    import pandas as pd

    if not len(errors):
        return pd.Series(dtype=object)
    key = _error_keys(errors, phases).sort_values(
        ["build", "not_failed_phase", "echo", "order", "line", "pos"],
        kind="stable",
        na_position="last",
    )
    chosen = key.groupby("build", sort=False).head(1)
    return pd.Series(list(chosen.index), index=chosen["build"].values, dtype=object)


def first_error_events(events: pandas.DataFrame, phases: pandas.DataFrame) -> pandas.DataFrame:
    """The error event every view names as a build's first error (rows of ``events``,
    indexed by build key as ``str``; builds without error events are absent).

    The rule, for each build:

    1. its failed phase is its first ``ERROR`` phase by ``order`` (:func:`failed_phases`);
    2. the first error is the failed phase's error event with the lowest line number,
       leaving out the make/ninja lines that repeat an earlier error
       (:func:`echo_errors`);
    3. when the failed phase has no error event (or the build has no failed phase), the
       build's earliest error event by phase ``order``, then line number, same exclusion;
    4. when the build has no error event at all there is none here; :func:`failures
       <spackmon_analysis.failures.failures>` then quotes the last non-blank line of the
       failed phase (:func:`last_line_clue`).

    ``failures(data)``, ``data.build(key)``, the explorer and the reports all call this.
    """
    errors = events[events["kind"].astype(object) == "error"]
    labels = _first_error_labels(errors, phases)
    return errors.loc[list(labels.values)].set_index(labels.index.astype(str).rename(None))


def first_errors_per_failed_phase(
    events: pandas.DataFrame, phases: pandas.DataFrame
) -> pandas.DataFrame:
    """The first error of each ``ERROR`` phase (rows of ``events``, in their order): its
    error event with the lowest line number, echoes left out (:func:`echo_errors`). A
    build with ``ERROR`` phases none of which has an error event contributes its
    :func:`first_error_events` event instead, so each failure counts once, with the
    error every view names."""
    errors = events[events["kind"].astype(object) == "error"]
    errored = phases[phases["status"].astype(object) == "ERROR"]
    if not len(errors) or not len(errored):
        return errors.iloc[0:0]
    failed_pairs = set(zip(errored["build"].astype(str), errored["name"].astype(str), strict=True))
    key = _error_keys(errors, phases)
    in_failed = [(b, p) in failed_pairs for b, p in zip(key["build"], key["phase"], strict=True)]
    per_phase = (
        key[in_failed]
        .sort_values(["build", "phase", "echo", "line", "pos"], kind="stable", na_position="last")
        .groupby(["build", "phase"], sort=False)
        .head(1)
    )
    chosen = set(per_phase.index)
    uncovered = {b for b, _ in failed_pairs} - set(per_phase["build"])
    if uncovered:
        labels = _first_error_labels(errors, phases)
        chosen.update(labels[labels.index.isin(uncovered)].values)
    return errors.loc[[i for i in errors.index if i in chosen]]


def last_line_clue(output: str | None) -> tuple[str, int, str] | None:
    """For a failed phase without any error event: its last non-blank line (the best
    clue left: the command that failed, or the tool's last words), as ``(text, line
    number in the output, context: the last seven non-blank lines)``; None for an empty
    output."""
    all_lines = (output or "").splitlines()
    numbered = [(i, ln) for i, ln in enumerate(all_lines, 1) if ln.strip()]
    if not numbered:
        return None
    line_no, text = numbered[-1]
    return text.strip(), line_no, "\n".join(ln for _, ln in numbered[-7:])


#: ``==> <pkg>: Executing phase: '<name>'`` (optionally ``==> [<stamp>] <pkg>: ...``):
#: the line Spack 0.16-0.22 writes when a phase starts.
PHASE_MARKER = re.compile(
    r"^(?:\x1b\[[0-9;]*m)*==>(?:\x1b\[[0-9;]*m)* (?:\[[^\]\n]*\] )?"
    r"(?P<package>[^\s:]+): Executing phase: '(?P<phase>[^'\n]+)'[ \t\r]*$",
    re.MULTILINE,
)
#: ``==> [<stamp>] Running on_phase_success <pkg>, phase <name>``: written by the 0.17
#: and 0.18 monitor hook at the end of each phase that succeeded (only with ``--monitor``
#: or in the logs of releases that had the hook installed).
PHASE_SUCCESS_MARKER = re.compile(r"^==> (?:\[[^\]]*\] )?Running on_phase_success", re.MULTILINE)


@dataclass
class LogPhase:
    """One phase cut out of a combined build log.

    ``text`` starts with the phase's marker line and runs up to (not including) the
    next marker; ``first_line`` is the 1-based line of the marker in the combined log
    (add ``first_line - 1`` to a line number counted in ``text`` to get the line in the
    combined log); ``package`` is the name the marker carries.
    """

    name: str
    package: str
    text: str
    first_line: int


_MARKER_TEXT = "Executing phase: '"


def _phase_marks(text: str) -> list[re.Match[str]]:
    """``list(PHASE_MARKER.finditer(text))``, found faster: every marker line holds
    ``Executing phase: '``, so only the lines holding it are matched against the pattern
    (a regex scan of every line start of a long log costs several times more)."""
    marks: list[re.Match[str]] = []
    match, find, rfind = PHASE_MARKER.match, text.find, text.rfind
    pos = find(_MARKER_TEXT)
    while pos >= 0:
        found = match(text, rfind("\n", 0, pos) + 1)
        if found is not None:
            marks.append(found)
        # the next search starts past this line: a line is matched once, and a line holding
        # the text many times is not searched back from each (quadratic on a long line)
        end = find("\n", pos)
        if end < 0:
            break
        pos = find(_MARKER_TEXT, end)
    return marks


def split_phases(text: str) -> tuple[str, list[LogPhase]]:
    """Cut a combined ``spack-build-out.txt`` into phases on the phase markers.

    Returns ``(preamble, phases)``: the text before the first marker (usually empty)
    and the phases in log order. A log without markers gives ``(text, [])``. A phase
    that appears twice (a package re-running a phase) gives two entries.
    """
    preamble, cuts = cut_phases(text or "")
    return preamble, [
        LogPhase(name=name, package=package, text=chunk, first_line=line)
        for name, package, chunk, line in cuts
    ]


def cut_phases(text: str) -> tuple[str, list[tuple[str, str, str, int]]]:
    """:func:`split_phases` as plain tuples ``(name, package, text, first_line)``, for a
    reader that turns thousands of logs into columns (the same cut, no object per phase)."""
    marks = _phase_marks(text)
    if not marks:
        return text, []
    first = marks[0].start()
    preamble = text[:first]
    line = preamble.count("\n") + 1
    cuts = []
    ends = [m.start() for m in marks[1:]]
    ends.append(len(text))
    start = first
    for mark, end in zip(marks, ends, strict=True):
        chunk = text[start:end]
        name, package = mark.group("phase", "package")
        cuts.append((name, package, chunk, line))
        line += chunk.count("\n")
        start = end
    return preamble, cuts


@dataclass
class PhaseCut:
    """A combined log cut into phases, column by column (:func:`cut_phase_columns`): the
    text before the first marker, and per phase its name, text (from its marker line up to
    the next marker), the 1-based line of its marker in the log (None: not cut on a
    marker), and its stamp windows (:func:`stamp_windows`)."""

    preamble: str
    names: list[str]
    texts: list[str]
    first_lines: list[int | None]
    first_windows: list[str | None]
    last_windows: list[str | None]


def stamp_windows(
    text: str, start: int = 0, end: int | None = None
) -> tuple[str | None, str | None]:
    """Where the first and last stamps of ``text[start:end]`` (a phase, starting at a line
    start and ending after a newline or at the end of ``text``) can be: the
    :data:`STAMP_WINDOW` characters from the ``[`` of ``==> [`` on the first line and on the last line
    of it that start so (None: no such line; the last None when it is the first).
    :func:`window_stamps` tells whether they are the stamps
    :func:`first_last_stamp_texts` finds, many at a time."""
    if end is None:
        end = len(text)
    if text.startswith("==> [", start, end):
        at = start
    else:
        at = text.find("\n==> [", start, end)
        if at < 0:
            return None, None
        at += 1
    pos = text.rfind("\n==> [", at, end)
    width = STAMP_WINDOW
    first = text[at + 4 : at + 4 + width]
    return first, (text[pos + 5 : pos + 5 + width] if pos >= 0 else None)


def cut_phase_columns(text: str) -> PhaseCut:
    """:func:`cut_phases` and :func:`stamp_windows` of every phase in one pass: where each
    phase's stamps can be is looked for while it is cut, between its marker and the next
    one (``str.find`` from its start, ``str.rfind`` from its end, in the log itself: no
    phase is searched as a copy), and :func:`window_stamps` decides many at once. The same
    phases as :func:`cut_phases`, as lists (a reader that turns thousands of logs into
    columns extends its columns with them)."""
    marks = _phase_marks(text)
    names: list[str] = []
    texts: list[str] = []
    lines: list[int | None] = []
    firsts: list[str | None] = []
    lasts: list[str | None] = []
    if not marks:
        return PhaseCut(text, names, texts, lines, firsts, lasts)
    first_at = marks[0].start()
    line = text.count("\n", 0, first_at) + 1
    find, rfind, count, starts = text.find, text.rfind, text.count, text.startswith
    width = STAMP_WINDOW
    ends = [m.start() for m in marks]
    ends.append(len(text))
    k = 0
    for mark in marks:
        start = ends[k]
        k += 1
        end = ends[k]
        names.append(mark.group(2))
        texts.append(text[start:end])
        lines.append(line)
        line += count("\n", start, end)
        # stamp_windows(text, start, end), inline: a phase starts at a line start and
        # (but the last) ends after a newline
        if starts("==> [", start):
            at = start
        else:
            at = find("\n==> [", start, end)
            if at < 0:
                firsts.append(None)
                lasts.append(None)
                continue
            at += 1
        firsts.append(text[at + 4 : at + 4 + width])
        pos = rfind("\n==> [", at, end)
        lasts.append(text[pos + 5 : pos + 5 + width] if pos >= 0 else None)
    return PhaseCut(text[:first_at], names, texts, lines, firsts, lasts)


# ---------------------------------------------------------------------------------
# install_times.json

#: What the values of ``install_times.json`` mean, per release (checked against the
#: ``==> [timestamp]`` lines of the per-phase logs of the real 0.17.1 and 0.22.1 files).
#: ``meaning``: ``"next-phase"`` (the value under a phase name is the duration of the
#: phase before it) or ``"own"`` (the phase's own duration).
INSTALL_TIMES_MEANINGS: tuple[dict[str, str], ...] = (
    {
        "releases": "0.16 and older",
        "meaning": "absent",
        "shape": "no install_times.json",
        "reading": "no durations; phase times come only from log timestamps",
    },
    {
        "releases": "0.17, 0.18",
        "meaning": "next-phase",
        "shape": '{"phases": [{"name", "seconds"}], "total": {"seconds"}}',
        "reading": (
            "each phase's timer was recorded when the next phase started: the value under "
            "the first phase is the time before it (setting up the build), the value under "
            "phase N+1 is phase N's duration, and the last phase lasted total minus the sum"
        ),
    },
    {
        "releases": "0.19 and newer",
        "meaning": "own",
        "shape": (
            '0.19: same shape as 0.17; later releases: {"phases": [{"name", "path", '
            '"seconds", "count"}], "total": <seconds>, "name", "hash", "cache"}'
        ),
        "reading": (
            "each value is its phase's own duration; timers that are not build phases "
            "(stage, post-install) are left out of the phase durations"
        ),
    },
)


#: The newest spec file format (``_meta.version`` of ``spec.json``, ``specfile-version`` of a
#: ``spack.lock``) a released Spack writes: 4 in 0.22-0.23, 5 in 1.0-1.1 (compilers as build
#: dependencies; ``lib/spack/spack/spec.py`` ``SPECFILE_FORMAT_VERSION``). Spack's development
#: documentation names a version 6 without a release; it and anything newer is read as 5
#: (the keys it adds are not read) and named in ``data.notes`` (:func:`specfile_format_note`).
NEWEST_SPECFILE_FORMAT = 5


def specfile_format_note(version: Any, where: str = "spec file") -> str | None:
    """The note for a spec file format newer than :data:`NEWEST_SPECFILE_FORMAT`
    (``version``: an int, or a graph's ``format`` such as ``"v6"``); None otherwise."""
    if isinstance(version, str) and version.startswith("v") and version[1:].isdigit():
        version = int(version[1:])
    if isinstance(version, bool) or not isinstance(version, int):
        return None
    if version <= NEWEST_SPECFILE_FORMAT:
        return None
    return (
        f"{where} format {version} is newer than the newest a Spack release writes "
        f"({NEWEST_SPECFILE_FORMAT}, Spack 1.0-1.1); read as {NEWEST_SPECFILE_FORMAT}: "
        "nodes, hashes, versions and edges are read, keys it adds are not"
    )


#: A ``%`` dependency of a short spec: ``%gcc@12.2.0`` (Spack 0.x: the compiler), and in
#: 1.x the virtual assignment ``%c=gcc@12.2.0`` / ``%c,cxx=gcc@12.2.0`` or the edge
#: attribute form ``%[virtuals=c] gcc@12.2.0`` (1.0's changelog, "Virtual assignment syntax").
_SHORT_SPEC_DEP = re.compile(
    r"%(?:\[(?P<attrs>[^\]]*)\]\s*|(?P<assign>[A-Za-z0-9_,-]+)=)?"
    r"(?P<spec>[A-Za-z0-9_.+-]+@=?[^\s%~+^/\[]+)"
)
_LANGUAGES = frozenset(("c", "cxx", "fortran"))


def short_spec_compiler(text: str | None) -> str | None:
    """The compiler (``gcc@12.2.0``) of a ``SPACK_SHORT_SPEC`` value, the one place a stage
    directory (no spec file) names it: the ``%`` dependency providing C, C++ or Fortran
    when the spec assigns virtuals (1.x syntax: then a plain ``%cmake@3.27`` is a build
    dependency, not the compiler), else the first ``%name@version`` (0.x); None without one. ``@=`` (an exact version) reads as ``@``."""
    if not text:
        return None
    plain = None
    assigned = False  # 1.x syntax seen: a plain %name@version is then not the compiler
    for match in _SHORT_SPEC_DEP.finditer(text):
        spec = match.group("spec").replace("@=", "@")
        virtuals = match.group("assign")
        attrs = match.group("attrs")
        if attrs is not None:
            found = re.search(r"virtuals=([A-Za-z0-9_,-]+)", attrs)
            virtuals = found.group(1) if found else None
        if virtuals is not None:
            if _LANGUAGES & set(virtuals.split(",")):
                return spec
            assigned = True
            continue
        if plain is None:
            plain = spec
    return None if assigned else plain


def release(version: Any) -> tuple[int, ...] | None:
    """``"0.17.1"`` -> ``(0, 17, 1)``; ``"0.18.0.dev0"`` -> ``(0, 18, 0)``; None if unparsable."""
    if not isinstance(version, str):
        return None
    m = re.match(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def writes_phase_logs(spack_version: str | None) -> bool:
    """Whether that Spack release is known to write one log file per phase,
    ``spack-build-<NN>-<phase>-out.txt`` (0.17 and later; 0.16 wrote only the combined
    log). An unknown release (a stage directory records none) is not: the file might not
    exist, so none is named."""
    rel = release(spack_version)
    return rel is not None and rel[:2] >= (0, 17)


def install_times_meaning(doc: Any, spack_version: str | None) -> str:
    """``"next-phase"``, ``"own"`` or ``"unknown"`` for an ``install_times.json`` document.

    The release decides (``install_environment.json`` records it, from 0.17 on). Without
    a release, only the newer shape (a number as ``total`` or phases with ``path``/
    ``count``, written by releases after 0.19) settles it; the older shape was written both
    by 0.17/0.18 and by 0.19 with different meanings, so it stays ``"unknown"``.
    """
    rel = release(spack_version)
    if rel is not None:
        return "next-phase" if (0, 17) <= rel[:2] < (0, 19) else "own"
    if isinstance(doc, dict):
        if isinstance(doc.get("total"), int | float):
            return "own"
        for item in doc.get("phases") or []:
            if isinstance(item, dict) and ("path" in item or "count" in item):
                return "own"
    return "unknown"


@dataclass
class PhaseDurations:
    """Durations attributed from one ``install_times.json``.

    ``durations``: phase name -> seconds; ``meaning``: see :func:`install_times_meaning`;
    ``before_first``: seconds before the first phase (``next-phase`` files only);
    ``other``: timers that are not phases of the build (``stage``, ``post-install``);
    ``note``: why durations were left out, when they were.
    """

    durations: dict[str, float] = field(default_factory=dict)
    meaning: str = "unknown"
    before_first: float | None = None
    other: dict[str, float] = field(default_factory=dict)
    note: str | None = None


def _seconds(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("seconds")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def phase_durations(
    doc: Any, spack_version: str | None, phases: list[str] | None = None
) -> PhaseDurations:
    """Attribute an ``install_times.json`` document's values to the build's phases.

    ``phases``: the build's phases in order, as its logs show them (None: the file's own
    list). ``next-phase`` files (0.17/0.18) shift every value one phase back and give
    the last phase ``total`` minus the sum of the values; ``own`` files are read as
    written, keeping only names that are phases of the build (the others go to
    ``other``). An ``unknown`` file gives no durations and a ``note`` saying why.
    """
    out = PhaseDurations(meaning=install_times_meaning(doc, spack_version))
    if not isinstance(doc, dict):
        out.note = "install_times.json is not a JSON object; no durations"
        return out
    items = []
    for item in doc.get("phases") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            seconds = _seconds(item)
            if seconds is not None:
                items.append((item["name"], seconds))
    if not items:
        return out
    wanted = list(phases) if phases is not None else [name for name, _ in items]
    if out.meaning == "unknown":
        out.note = (
            "install_times.json in the 0.17-0.19 layout without a Spack release "
            "(install_environment.json); 0.17/0.18 and 0.19 give its values different "
            "meanings, so no phase durations were taken from it"
        )
        return out
    if out.meaning == "own":
        for name, seconds in items:
            if name in wanted:
                out.durations[name] = seconds
            else:
                out.other[name] = seconds
        return out
    # next-phase: the value under phase k is the time since the previous phase started
    names = [name for name, _ in items]
    out.before_first = items[0][1]
    for (prev, _), (_, seconds) in zip(items, items[1:], strict=False):
        out.durations[prev] = seconds
    total = _seconds(doc.get("total"))
    if total is not None:
        rest = total - sum(seconds for _, seconds in items)
        if rest >= 0:
            out.durations[names[-1]] = rest
    out.durations = {k: v for k, v in out.durations.items() if k in wanted}
    return out


def short_hash(value: Any, length: int = 7) -> str | None:
    """The first ``length`` characters of a hash (``spack find -l`` shows 7); None for none."""
    if not isinstance(value, str) or not value:
        return None
    return value[:length]


#: Spec parameters that are compiler flags, not variants (Spack keeps both in ``parameters``).
COMPILER_FLAG_PARAMETERS = frozenset(
    ("cflags", "cppflags", "cxxflags", "fflags", "ldflags", "ldlibs")
)


def variants_text(parameters: Any) -> str | None:
    """A spec node's variants as one canonical string, the way Spack prints them: boolean
    variants first as ``+name``/``~name``, then ``name=value`` (lists comma-joined), each part
    sorted by name, separated by spaces (``"+shared~debug build_type=Release"``).

    ``parameters`` is the node's ``parameters`` mapping as a spec file or the server holds it;
    compiler flags are left out (they are not variants). ``""`` when the node has no variant,
    None when ``parameters`` is not a mapping (unknown).
    """
    if not isinstance(parameters, dict):
        return None
    flags: list[str] = []
    valued: list[str] = []
    for name in sorted(str(k) for k in parameters):
        if name in COMPILER_FLAG_PARAMETERS:
            continue
        value = parameters[name]
        if value is True:
            flags.append(f"+{name}")
        elif value is False:
            flags.append(f"~{name}")
        elif isinstance(value, list | tuple):
            valued.append(f"{name}={','.join(str(v) for v in value)}")
        else:
            valued.append(f"{name}={value}")
    return " ".join(part for part in ("".join(flags), *valued) if part)


def splice_links(specs: Any) -> list[tuple[str, str]]:
    """``(spliced node's full_hash, its build spec's full_hash)`` per spliced row of a
    ``specs`` frame (its ``build_spec`` column; the build spec's row found by its DAG hash,
    else its hash as written). A spliced spec is installed by rewiring the installed build of
    its build spec, so for failures the link counts as a dependency: Spack's installer makes
    the build spec's task a dependency of the rewiring (``installer.py``
    ``_requeue_with_build_spec_tasks``), and a failed build spec blocks the spliced spec."""
    if specs is None or not len(specs) or "build_spec" not in specs.columns:
        return []
    built = specs["build_spec"].astype(object)
    mask = built.notna().to_numpy()
    if not mask.any():
        return []
    by_dag: dict[str, str] = {}
    for full, dag in zip(
        specs["full_hash"].astype(object), specs["dag_hash"].astype(object), strict=True
    ):
        if isinstance(dag, str) and dag:
            by_dag.setdefault(dag, str(full))
    fulls = specs["full_hash"].astype(object)[mask].tolist()
    return [(str(f), by_dag.get(str(b), str(b))) for f, b in zip(fulls, built[mask], strict=True)]
