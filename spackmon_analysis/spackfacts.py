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
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "LOG_STAMP",
    "parse_stamp",
    "CANONICAL_PHASES",
    "PHASE_MARKER",
    "PHASE_SUCCESS_MARKER",
    "LogPhase",
    "split_phases",
    "INSTALL_TIMES_MEANINGS",
    "PhaseDurations",
    "install_times_meaning",
    "phase_durations",
    "release",
    "writes_phase_logs",
    "short_hash",
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


#: Usual order of Spack's build-system phases, used only to place phases whose
#: output carries no timestamp (an ``edit`` phase with empty output, say).
CANONICAL_PHASES = (
    "autoreconf",
    "bootstrap",
    "cmake",
    "meson",
    "qmake",
    "configure",
    "edit",
    "build_ext",
    "build",
    "check",
    "install",
    "installcheck",
)

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


def split_phases(text: str) -> tuple[str, list[LogPhase]]:
    """Cut a combined ``spack-build-out.txt`` into phases on the phase markers.

    Returns ``(preamble, phases)``: the text before the first marker (usually empty)
    and the phases in log order. A log without markers gives ``(text, [])``. A phase
    that appears twice (a package re-running a phase) gives two entries.
    """
    text = text or ""
    marks = list(PHASE_MARKER.finditer(text))
    if not marks:
        return text, []
    preamble = text[: marks[0].start()]
    phases = []
    line = preamble.count("\n") + 1
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        chunk = text[mark.start() : end]
        phases.append(
            LogPhase(
                name=mark.group("phase"),
                package=mark.group("package"),
                text=chunk,
                first_line=line,
            )
        )
        line += chunk.count("\n")
    return preamble, phases


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
