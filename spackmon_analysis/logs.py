"""Build-log events: errors and warnings found in Spack build output, and failure classes.

A line is an **error** when it matches one of :data:`ERROR_PATTERNS` and none of
:data:`ERROR_EXCEPTIONS`; otherwise it is a **warning** when it matches one of
:data:`WARNING_PATTERNS` and none of :data:`WARNING_EXCEPTIONS`. These are this
project's own CTest-style rules (PROTOCOL section 8), written for the lines real
gcc, clang, ld, make, ninja, CMake, autotools, Python, Fortran and nvcc builds print.

Every event keeps its text, 1-based line number, the source file and (full) line
it points at, up to ``context`` lines before and after it, and how many times the
identical event (same kind and text) occurred. Error events are also given the
failure classes of the versioned rules file ``data/failure_classes.yaml``.

Speed: a single case-insensitive keyword scan over large blocks of text finds the
few candidate lines; only those are checked against the full rule set. Every rule
can only match a line that contains one of :data:`PREFILTER_KEYWORDS`, so the result
is the same as trying every rule on every line (:func:`scan_log_naive`, kept as the
reference the tests and the benchmark compare against). Files are read in blocks of
a few MB (plain or gzip), never whole.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import LogParseError, RulesError

__all__ = [
    "LogEvent",
    "LogEvents",
    "Rules",
    "FailureClass",
    "parse_log",
    "scan_log_naive",
    "events_frame",
    "event_columns",
    "stored_event",
    "classify",
    "summary_class",
    "load_rules",
    "fingerprint",
    "is_echo",
    "ECHO_RULES",
    "ERROR_PATTERNS",
    "CLASS_GROUPS",
    "ERROR_EXCEPTIONS",
    "WARNING_PATTERNS",
    "WARNING_EXCEPTIONS",
    "PREFILTER_KEYWORDS",
    "UNCLASSIFIED",
    "MAX_LINE_CHARS",
    "DEFAULT_MAX_EVENTS",
]

UNCLASSIFIED = "unclassified"
DEFAULT_CONTEXT = 6
_BLOCK_CHARS = 1 << 22  # characters read per block from a file (4 Mi)
#: The rules look at the first ``MAX_LINE_CHARS`` characters of a line. An event text or a
#: context line longer than that keeps those characters followed by ``" [... N more
#: characters]"``. Every rule costs time linear in what it looks at, so a log's parse costs
#: time linear in its size whatever its lines hold.
MAX_LINE_CHARS = 4096
#: Distinct events kept per kind (errors, warnings) by :func:`parse_log` unless told otherwise;
#: the lines of events beyond the cap are counted in :attr:`LogEvents.dropped`.
DEFAULT_MAX_EVENTS = 5000

# ---------------------------------------------------------------------------------
# Event rules. Each entry is (name, regex); regexes are case-sensitive unless they
# say otherwise. Every regex can only match a line containing one of
# PREFILTER_KEYWORDS (case-insensitively); tests/logs checks every rule's examples.
# ---------------------------------------------------------------------------------

# A command line that runs a compiler, linker or archiver (with its flags): it may
# mention -Werror, -Wno-error=..., error.c or warning.o without reporting anything.
_COMMAND_LINE = (
    r"^\s*(?:\[\s*\d+%\]\s+)?(?:libtool: (?:compile|link|install): +)?"
    r"(?:(?:/bin/)?(?:ba)?sh +\S*libtool +(?:--\S+ +)+)?"
    r"(?:\S*/)?(?:[\w.+-]+-)?"
    r"(?:gcc|g\+\+|cc|c\+\+|cpp|clang|clang\+\+|gfortran|f77|f90|f95|ifort|ifx|icc|icpc|icx|icpx"
    r"|nvcc|nvc|nvc\+\+|nvfortran|pgcc|pgc\+\+|pgfortran|xlc|xlc_r|xlC|xlf|xlf90|mpicc|mpicxx"
    r"|mpic\+\+|mpif77|mpif90|mpifort|hipcc|ld|ld\.bfd|ld\.gold|ld\.lld|ar|ranlib|libtool)"
    r"(?:-\d+(?:\.\d+)*)?\s+-"
)

# An error keyword as a word of its own (not in -Werror=..., not part of an identifier).
_KEYWORD = r"(?<![\w-])(?:[Ee]rror|ERROR|[Ff]atal)\b"


def _first(keyword: str) -> str:
    """``^`` + everything before the line's first match of ``keyword`` + ``keyword``: a rule
    "keyword, anything, tail" written as ``_first(keyword) + ".*tail"`` is tried from the first
    keyword only (linear in the line; ``keyword.*tail`` rescans the line from every keyword)."""
    return r"^(?:(?!" + keyword + r").)*" + keyword


ERROR_PATTERNS: tuple[tuple[str, str], ...] = (
    # compilers: file:line[:col]: [fatal ]error  (gcc, clang, gfortran, flang, nvcc host)
    ("diag-error", r":\d+(?::\d+)?:\s*(?:fatal |catastrophic )?[Ee]rror\b"),
    # file(line): error ...  (nvcc, ifort, icc, MSVC)
    ("paren-error", r"\(\d+\)\s*:\s*(?:fatal |catastrophic )?[Ee]rror\b"),
    # "tool: error: ...", "tool: fatal error: ..." (gcc, clang, configure, ld.lld, distutils)
    ("tool-error", r"^(?:\S+: )+(?:fatal |catastrophic )?error: "),
    ("tool-error-caps", r"^(?:\S+: )+(?:ERROR|Error):? "),
    ("error-line-start", r"^\s*(?:fatal )?error: "),
    ("Error-line-start", r"^(?:Error|ERROR|FATAL ERROR|Fatal Error|Fatal error)(?::| \d+:| \[)"),
    ("bracket-error", r"^\[(?:ERROR|FATAL)\]"),
    ("error-number", r"(?<![\w-])[Ee]rror[ \t]*#?\d+[ \t]*:"),
    ("nvcc-fatal", r"^nvcc fatal\s*:"),
    ("fortran-error", r"^(?:Error|Fatal Error): .* at \(\d+\)"),
    ("git-fatal", r"^fatal: "),
    ("pgi-error", r"^(?:PG|NV)\w*-[SF]-\d+-.*(?<![\w-])[Ee]rror"),
    ("cray-error", r"^(?:ftn|cc|CC)-\d+ (?:crayftn|craycc|crayCC)?:? ?ERROR"),
    ("quoted-file-error", r"^\"[^\"]+\", line \d+(?:\.\d+)?: (?:[Ee]rror|ERROR)"),
    ("internal-compiler-error", r"[Ii]nternal compiler error"),
    ("internal-error", r"[Ii]nternal error[:!]"),
    ("warnings-as-errors", r"all warnings being treated as errors"),
    ("syntax-error", r": syntax error\b"),
    # linkers
    ("undefined-reference", r"(?<!-)undefined reference to\b"),
    ("undefined-symbol", r"(?<!-)[Uu]ndefined symbols?(?: for architecture|:| \S*:)"),
    ("undefined-first-referenced", r"^Undefined\s+first referenced"),
    (
        "unresolved-external",
        _first(_KEYWORD) + r".*[Uu]nresolved (?:external|symbol)",
    ),
    (
        "unsatisfied-symbol",
        _first(_KEYWORD) + r".*Unsatisfied symbol",
    ),
    ("multiple-definition", r"multiple definition of\b|multiply defined"),
    ("ld-returned", r"(?<![\w-])error: ld returned \d+ exit status"),
    ("linker-failed", r"linker command failed with exit code"),
    (
        "ld-cannot-find",
        r"^(?:\S*/)?(?:ld|ld\.\w+|collect2)(?:\.exe)?: (?:fatal: )?(?:cannot|can't) find",
    ),
    ("ld-fatal", r"^(?:\S*/)?ld(?:\.\w+)?: fatal"),
    (
        "ld-terminated",
        r"ld terminated with signal \d+ \[(?:Killed|Segmentation fault|Aborted|Bus error)",
    ),
    ("recompile-fpic", r"recompile with -fPIC"),
    # make and ninja
    ("make-error", r"^(?:\S*/)?g?make(?:\[\d+\])?: \*\*\* .*Error \d+"),
    ("make-no-rule", r"\*\*\* No rule to make target"),
    ("make-no-targets", r"\*\*\* No targets specified and no makefile found"),
    ("make-stop", _first(r"\*\*\* ") + r".*Stop\.$"),
    ("bsd-make-error", r"^\*\*\* (?:Error code|\[.*\] Error code) \d+"),
    ("ninja-failed", r"^FAILED: "),
    ("ninja-stopped", r"^ninja: build stopped: subcommand failed"),
    # CMake and autotools
    ("cmake-error", r"^CMake Error"),
    ("cmake-incomplete", r"Configuring incomplete, errors occurred"),
    ("configure-error", r"(?:^|\.\.\. )configure: error:"),
    ("command-not-found", r": command not found$|: not found$"),
    # files and the system
    ("no-such-file", r": No such file or directory"),
    ("cannot-find", r":\s+(?:cannot|can't) find\b"),
    ("permission-denied", r"[Pp]ermission denied"),
    ("no-space", r"No space left on device"),
    ("out-of-memory", r"[Oo]ut of memory|[Cc]annot allocate memory|memory exhausted"),
    ("killed", r"^Killed\b|Killed signal terminated|\(program \S+\) killed|: Killed$"),
    (
        "signal-crash",
        r"^(?:[Ss]egmentation (?:fault|[Vv]iolation)|[Bb]us error|Aborted)\b"
        r"|(?:[Ss]egmentation fault|[Bb]us error|Aborted) \(core dumped\)",
    ),
    ("invalid-argument", r": Invalid argument$"),
    # Python
    ("python-exception", r"^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception): "),
    ("pip-error", r"^ERROR: (?:Could not|Failed|Command|No matching|Exception)"),
    (
        "subprocess-error",
        r"(?<![\w-])error: subprocess-exited-with-error|"
        + _first("error: command '")
        + ".*' failed",
    ),
    # tests
    ("ctest-failed", r"\*\*\*Failed|The following tests FAILED|^Errors while running CTest"),
    ("automake-fail", r"^(?:FAIL|ERROR): \S|^# (?:FAIL|ERROR): +[1-9]"),
    ("pytest-failed", r"^FAILED \S+::|^=+ .*\d+ failed"),
    ("mpi-abort", r"MPI_ABORT was invoked|called MPI_Abort"),
    # network and Spack
    ("curl-error", r"^curl: \(\d+\)"),
    ("connection-error", r"Connection (?:refused|timed out|reset by peer)"),
    ("spack-error", r"^==> (?:\[[^\]]*\] )?Error: "),
    (
        "command-failed",
        r"^Command .* failed with exit code|"
        + _first(r"(?<![\w-])Error: ")
        + r".*[Cc]ommand exited with status [1-9]",
    ),
)

#: The :data:`ERROR_PATTERNS` rules whose lines only say that a command failed, repeating
#: the failure up the build tool: make's ``make[2]: *** [Makefile:6: x.o] Error 1`` (and
#: ``all-recursive``), BSD make's ``*** Error code 1``, ninja's ``FAILED: <target>`` and
#: ``ninja: build stopped: subcommand failed``. They stay error events (a phase may have no
#: other clue); rankings leave them out where the phase has another error
#: (:func:`~spackmon_analysis.spackfacts.echo_errors`).
ECHO_RULES = ("make-error", "bsd-make-error", "ninja-failed", "ninja-stopped")


_ECHO = re.compile("|".join(f"(?:{rx})" for name, rx in ERROR_PATTERNS if name in ECHO_RULES))


def is_echo(text: str) -> bool:
    """Whether an error line is a build tool repeating a failure (:data:`ECHO_RULES`)."""
    return _ECHO.search(text[:MAX_LINE_CHARS]) is not None


ERROR_EXCEPTIONS: tuple[tuple[str, str], ...] = (
    ("warning", r":\s*(?:[Ww]arning|WARNING)\b|\([Ww]arning\)"),
    ("note", r":\s*note:|^\s*note:|^Note: "),
    (
        "instantiation",
        r"instantiated from|[Ii]n instantiation of|:\d+(?::\d+)?:\s+required (?:from|by) ",
    ),
    ("candidates", r"candidates? (?:are|is):|: candidate:"),
    ("ignored", r"\(ignored\)$"),
    ("compiler-command", _COMMAND_LINE),
    ("configure-check", r"^checking (?!.*configure: error:)"),
    ("zero-count", r"^# (?:FAIL|ERROR|XFAIL|XPASS):\s+0$|\b0 [Ee]rrors?\b|\b0 failed\b"),
    ("makefile-echo", r"^\s*(?:echo|printf) "),
    ("where", r":\s+Where:"),
    ("build-started", _first("------ Build started: ") + ".* ------"),
)

WARNING_PATTERNS: tuple[tuple[str, str], ...] = (
    ("diag-warning", r":\d+(?::\d+)?:\s*[Ww]arning\b"),
    ("diag-warning-caps", r":\d+(?::\d+)?:\s*WARNING\b"),
    ("paren-warning", r"\(\d+\)\s*:\s*[Ww]arning\b"),
    ("tool-warning", r"^(?:\S+: )+[Ww]arning: "),
    ("tool-warning-caps", r"^(?:\S+: )+WARNING:? "),
    ("warning-line-start", r"^\s*(?:[Ww]arning|WARNING|Warnung)(?::| \d+:| \[)"),
    ("warning-number", r"[Ww]arning[ \t]*#?\d+(?:-D)?[ \t]*:|warning [A-Z]{1,3}\d+:"),
    ("bracket-warning", r"^\[WARNING\]"),
    ("nvcc-warning", r"^nvcc warning\s*:"),
    ("quoted-file-warning", r"^\"[^\"]+\", line \d+(?:\.\d+)?: (?:[Ww]arning|WARNING)"),
    ("remark", r": remark #\d+|remark\(\d*\):|CC: REMARK"),
    ("cray-warning", r"^(?:ftn|cc|CC)-\d+ (?:crayftn|craycc|crayCC)?:? ?WARNING"),
    ("cmake-warning", r"^CMake (?:Deprecation )?Warning"),
    ("configure-warning", r"^configure: WARNING:"),
    ("spack-warning", r"^==> (?:\[[^\]]*\] )?Warning: "),
    ("python-warning", r"\b[A-Z]\w*Warning: "),
    ("deprecation", r"^DEPRECATION: "),
    ("make-ignored", r"^(?:\S*/)?g?make(?:\[\d+\])?: \[.*\] Error \d+ \(ignored\)"),
    ("ld-warning", r"^(?:\S*/)?(?:ld|ld\.\w+)(?:\.exe)?: warning"),
    ("warning-flag", r"\[-W[\w+=-]+\]$"),
    ("cxx-warning", r"^cxx: Warning:"),
)

WARNING_EXCEPTIONS: tuple[tuple[str, str], ...] = (
    (
        "clock-skew",
        r"Clock skew detected|" + _first("has modification time ") + ".* in the future",
    ),
    ("compiler-command", _COMMAND_LINE),
    ("configure-check", r"^checking (?!.*configure: error:)"),
    ("note", r":\s*note:"),
    ("dangerous-function", r"the use of [`'](?:mktemp|tmpnam|tempnam|gets)' is dangerous"),
    ("ar-modifier", r"modifier ignored since"),
    ("libtool-finish", r"remember to run [`']libtool --finish"),
    ("jobserver", r"-j\d* forced in submake|jobserver unavailable"),
    ("pip-root", r"Running pip as the 'root' user|Running pip as root"),
    ("ssh-known-hosts", _first("Permanently added ") + ".* to the list of known hosts"),
    ("msvc-noise", r"LNK4089|LNK4221|LNK4099"),
    ("bind-at-load", r"bind_at_load"),
    ("autoconf-obsolete", r"warning: The macro [`']\w+' is obsolete"),
    ("x11-ansi", _first(r"/X11/X\w+\.h:\d+: war") + r".*: ANSI C\+\+ forbids declaration"),
    ("makefile-echo", r"^\s*(?:echo|printf) "),
    ("zero-warnings", r"\b0 [Ww]arnings?\b"),
)

# Lower-case keywords: every rule above can only match a line containing one of these
# (tests/logs checks each rule's examples). An "error" directly after "-w" or "-wno-"
# (the -Werror / -Wno-error= flags of compile lines) and an "undefined" directly after
# "-" (-Wl,--no-undefined) do not make a line a candidate: the rules never match
# through such an occurrence (their lookbehinds say so where it matters).
PREFILTER_KEYWORDS: tuple[str, ...] = (
    "error",
    "warn",
    "fatal",
    "fail",
    "undefined",
    "multipl",
    "t find",
    "recompile",
    "***",
    "not found",
    "no s",
    "denied",
    "memory",
    "killed",
    "segmentation",
    "abort",
    "invalid argument",
    "exception",
    "curl",
    "connection",
    "remark",
    "deprecation: ",
    "[-w",
)


def _compile_all(rules: Sequence[tuple[str, str]]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(rx) for _, rx in rules)


_ERR = _compile_all(ERROR_PATTERNS)
_ERR_EXC = _compile_all(ERROR_EXCEPTIONS)
_WARN = _compile_all(WARNING_PATTERNS)
_WARN_EXC = _compile_all(WARNING_EXCEPTIONS)
# Both exception lists contain the command-line rule: such a line is never an event.
_COMMAND = re.compile(_COMMAND_LINE)
_PREFILTER_I = re.compile("|".join(re.escape(k) for k in PREFILTER_KEYWORDS), re.IGNORECASE)


def _line_kind(line: str) -> str | None:
    """``"error"``, ``"warning"`` or ``None`` for one line (the full rule set).

    Same answer as "an error pattern and no error exception, else a warning
    pattern and no warning exception", in a cheaper order: a command line is
    excepted from both lists, and a line an error exception covers cannot be an error.
    """
    if _COMMAND.match(line):
        return None
    for ex in _ERR_EXC:
        if ex.search(line):
            break
    else:
        for rx in _ERR:
            if rx.search(line):
                return "error"
    for rx in _WARN:
        if rx.search(line):
            for ex in _WARN_EXC:
                if ex.search(line):
                    return None
            return "warning"
    return None


# Keyword occurrences that cannot start a rule match: "error" in -Werror/-Wno-error=
# flags and "undefined" in -Wl,--no-undefined / -undefined dynamic_lookup.
def _is_flag(low: str, kw: str, i: int) -> bool:
    """Whether the keyword at ``low[i]`` is part of a compile flag no rule can match."""
    if kw == "error":  # -Werror, -Werror=..., -Wno-error=...
        return (i >= 2 and low.startswith("-w", i - 2)) or (
            i >= 5 and low.startswith("-wno-", i - 5)
        )
    if kw == "undefined":  # -Wl,--no-undefined, -undefined dynamic_lookup
        return i >= 1 and low[i - 1] == "-"
    return False


def _candidate_starts(block: str) -> list[int]:
    """Sorted start offsets of the lines of ``block`` that contain a prefilter keyword."""
    low = block.lower()
    rfind = block.rfind
    starts: set[int] = set()
    add = starts.add
    if len(low) != len(block):  # lower() changed the length (rare non-ASCII text)
        line_end = -1
        for m in _PREFILTER_I.finditer(block):
            i = m.start()
            if i <= line_end:  # this line is a candidate already
                continue
            add(rfind("\n", 0, i) + 1)
            line_end = block.find("\n", i)
            if line_end < 0:
                break
        return sorted(starts)
    lfind = low.find
    startswith = low.startswith
    for kw in PREFILTER_KEYWORDS:
        i = lfind(kw)
        if i < 0:
            continue
        if kw == "error":
            while i >= 0:
                if (i >= 2 and startswith("-w", i - 2)) or (i >= 5 and startswith("-wno-", i - 5)):
                    i = lfind(kw, i + 5)
                    continue
                add(rfind("\n", 0, i) + 1)
                e = lfind("\n", i)
                if e < 0:
                    break
                i = lfind(kw, e + 1)
        elif kw == "undefined":
            while i >= 0:
                if i >= 1 and low[i - 1] == "-":
                    i = lfind(kw, i + 9)
                    continue
                add(rfind("\n", 0, i) + 1)
                e = lfind("\n", i)
                if e < 0:
                    break
                i = lfind(kw, e + 1)
        else:
            while i >= 0:
                add(rfind("\n", 0, i) + 1)
                e = lfind("\n", i)
                if e < 0:
                    break
                i = lfind(kw, e + 1)
    return sorted(starts)


# ---------------------------------------------------------------------------------
# Source locations
# ---------------------------------------------------------------------------------

_LOCATIONS = (
    # broken.c:4:3: error ... / /path/foo.f90:1234: warning ...
    re.compile(r"^\s*(?P<file>[^\s:\"'(),]+?):(?P<line>\d+)(?::\d+)?:"),
    # foo.cu(12): error ... / foo.f90(1234): error #6404:
    re.compile(r"^\s*(?P<file>[^\s:\"'(),]+)\((?P<line>\d+)\)\s*:"),
    # "foo.c", line 12: error
    re.compile(r"^\"(?P<file>[^\"]+)\", line (?P<line>\d+)"),
    # make: *** [Makefile:6: libfoo.so] Error 1
    re.compile(r"\*\*\* \[(?P<file>[^\s:\]]+):(?P<line>\d+):"),
    # PGC-S-0035-Syntax error: ... (foo.c: 12)
    re.compile(r"\((?P<file>[^\s:()]+): (?P<line>\d+)\)\s*$"),
)


def _source_location(text: str) -> tuple[str | None, int | None]:
    for rx in _LOCATIONS:
        m = rx.search(text)
        if m:
            return m.group("file"), int(m.group("line"))
    return None, None


# ---------------------------------------------------------------------------------
# Fingerprints
# ---------------------------------------------------------------------------------

# A path starts at a drive letter or where a run of path characters starts (the lookbehind): tried
# from inside a run, the run would be rescanned from every character (quadratic on long words).
_FP_PATH = re.compile(r"(?:[A-Za-z]:|(?<![\w.+~@%=-]))(?:[\w.+~@%=-]*/)+(?=[\w.+~@%=-])")
_FP_SPACK_HASH = re.compile(r"\b[a-z2-7]{32}\b")
_FP_HEX_HASH = re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,}\b")
_FP_HEX = re.compile(r"\b0[xX][0-9a-fA-F]+\b")
_FP_NUMBER = re.compile(r"\d+")
_FP_SPACE = re.compile(r"\s+")


def _need_text(text: Any, func: str) -> None:
    """Raise :class:`LogParseError` when ``text`` is not a ``str``."""
    if not isinstance(text, str):
        hint = " (decode bytes first)" if isinstance(text, bytes | bytearray) else ""
        raise LogParseError(
            f"{func}() needs the text of a log line or event as a str, got "
            f"{type(text).__name__}{hint}"
        )


def fingerprint(text: str) -> str:
    """A stable form of an event's text for "have we seen this before".

    Directory parts of paths are dropped (the file name stays), Spack hashes
    (32 base32 characters), hex hashes (7+ hex digits), ``0x`` numbers and every
    other number are replaced by ``<hash>``, ``<hex>`` and ``N``; whitespace runs
    collapse to one space.

    >>> fingerprint("/tmp/spack-stage/x/broken.c:4:3: error: expected ';'")
    "broken.c:N:N: error: expected ';'"

    Raises:
        LogParseError: ``text`` is not a string (``None``, bytes...).
    """
    _need_text(text, "fingerprint")
    s = _FP_PATH.sub("", text)
    s = _FP_SPACK_HASH.sub("<hash>", s)
    s = _FP_HEX.sub("<hex>", s)
    s = _FP_HEX_HASH.sub("<hash>", s)
    s = _FP_NUMBER.sub("N", s)
    return _FP_SPACE.sub(" ", s).strip()


# ---------------------------------------------------------------------------------
# Failure classes (data/failure_classes.yaml)
# ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureClass:
    """One failure class of the rules file: a name, a description, its regexes and its
    group (:data:`CLASS_GROUPS`: ``"infrastructure"`` or ``"package"``)."""

    name: str
    description: str
    patterns: tuple[str, ...]
    regex: re.Pattern[str] = field(repr=False, compare=False)
    group: str = "package"

    def matches(self, text: str) -> bool:
        """Whether any of the class's patterns matches ``text``."""
        return self.regex.search(text) is not None


@dataclass(frozen=True)
class Rules:
    """A validated failure-class rules file.

    ``classes`` keeps the file's order; ``precedence`` lists every class once, the
    first being the one reported as a build's summary when several match.
    """

    version: str
    classes: dict[str, FailureClass]
    precedence: tuple[str, ...]
    source: str = "<rules>"

    def classify(self, text: str) -> tuple[str, ...]:
        """Every class whose patterns match ``text``, in precedence order
        (:class:`~spackmon_analysis.errors.LogParseError` when ``text`` is not a str)."""
        _need_text(text, "classify")
        return tuple(name for name in self.precedence if self.classes[name].matches(text))

    def summary(self, classes: Iterable[str]) -> str | None:
        """The class of highest precedence among ``classes`` (None when empty)."""
        present = set(classes)
        for name in self.precedence:
            if name in present:
                return name
        return None

    def group(self, name: str | None) -> str:
        """The group of class ``name``: ``"infrastructure"`` or ``"package"``, and
        ``"unclassified"`` for :data:`UNCLASSIFIED`, None or a class these rules lack."""
        rule = self.classes.get(name) if name else None
        return rule.group if rule is not None else UNCLASSIFIED


#: The groups a failure class can be in (the ``group`` key of the rules file): the machine,
#: network or scheduler failed the build, or the package (its source or recipe) did.
CLASS_GROUPS = ("infrastructure", "package")

_DEFAULT_RULES = Path(__file__).resolve().parent / "data" / "failure_classes.yaml"


def load_rules(path: str | os.PathLike[str] | None = None) -> Rules:
    """Load and validate a failure-class rules file (the packaged one by default).

    The file is YAML with ``version``, ``precedence`` (a list naming every class
    once) and ``classes`` (a mapping of class name to ``description`` and a
    non-empty ``patterns`` list of regular expressions). Any problem raises
    :class:`~spackmon_analysis.errors.RulesError` naming the file and the rule.
    """
    if path is None:
        return _default_rules()
    return _load_rules(Path(path))


@lru_cache(maxsize=1)
def _default_rules() -> Rules:
    return _load_rules(_DEFAULT_RULES)


def _load_rules(path: Path) -> Rules:
    import yaml

    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{where}: cannot read the rules file ({exc.strerror or exc})") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{where}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise RulesError(
            f"{where}: the rules file must be a mapping with version, precedence and classes"
        )
    if "version" not in doc or doc["version"] in (None, ""):
        raise RulesError(f"{where}: missing 'version'")
    classes_doc = doc.get("classes")
    if not isinstance(classes_doc, dict) or not classes_doc:
        raise RulesError(f"{where}: 'classes' must be a non-empty mapping of class name to rule")
    classes: dict[str, FailureClass] = {}
    for name, rule in classes_doc.items():
        label = f"{where}: class '{name}'"
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise RulesError(f"{label}: class names are lower_snake_case identifiers")
        if name == UNCLASSIFIED:
            raise RulesError(f"{label}: '{UNCLASSIFIED}' is reserved")
        if not isinstance(rule, dict):
            raise RulesError(f"{label}: must be a mapping with description and patterns")
        unknown = set(rule) - {"description", "patterns", "group"}
        if unknown:
            raise RulesError(f"{label}: unknown key(s) {sorted(unknown)}")
        description = rule.get("description")
        if not isinstance(description, str) or not description.strip():
            raise RulesError(f"{label}: 'description' must be a non-empty string")
        patterns = rule.get("patterns")
        if not isinstance(patterns, list) or not patterns:
            raise RulesError(f"{label}: 'patterns' must be a non-empty list of regular expressions")
        for i, rx in enumerate(patterns):
            if not isinstance(rx, str) or not rx:
                raise RulesError(f"{label}: patterns[{i}] must be a non-empty string")
            try:
                re.compile(rx)
            except re.error as exc:
                raise RulesError(
                    f"{label}: patterns[{i}] {rx!r} is not a valid regex ({exc})"
                ) from exc
        group = rule.get("group", "package")
        if group not in CLASS_GROUPS:
            raise RulesError(f"{label}: 'group' must be one of {list(CLASS_GROUPS)}, not {group!r}")
        classes[name] = FailureClass(
            name=name,
            description=description.strip(),
            patterns=tuple(patterns),
            regex=re.compile("|".join(f"(?:{rx})" for rx in patterns)),
            group=group,
        )
    precedence = doc.get("precedence")
    if not isinstance(precedence, list) or not all(isinstance(p, str) for p in precedence):
        raise RulesError(f"{where}: 'precedence' must be a list of class names")
    for name in precedence:
        if name not in classes:
            raise RulesError(f"{where}: precedence names unknown class '{name}'")
    dupes = sorted({p for p in precedence if precedence.count(p) > 1})
    if dupes:
        raise RulesError(f"{where}: precedence lists class(es) {dupes} more than once")
    missing = [name for name in classes if name not in precedence]
    if missing:
        raise RulesError(f"{where}: class(es) {missing} missing from precedence")
    return Rules(
        version=str(doc["version"]), classes=classes, precedence=tuple(precedence), source=where
    )


def classify(text: str, rules: Rules | None = None) -> tuple[str, ...]:
    """The failure classes (precedence order) whose patterns match ``text``.

    Raises:
        LogParseError: ``text`` is not a string (``None``, bytes...).
    """
    _need_text(text, "classify")
    return (rules or _default_rules()).classify(text)


# ---------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------


@dataclass(slots=True)
class LogEvent:
    """One error or warning found in a build log.

    ``line_no`` is 1-based (None only for a server's cap row, the note that more events of a
    phase were not stored, which points at no line); ``source_file``/``source_line_no`` are where the line
    points (``broken.c``, 4 for ``broken.c:4:3: error: ...``) or None;
    ``pre_context``/``post_context`` hold up to ``context`` neighbouring lines;
    ``repeat_count`` counts identical events (same kind and text), whose first
    occurrence gives the line number and context; ``classes`` are the failure
    classes of an error (precedence order, empty for warnings and unmatched
    errors); ``fingerprint`` is :func:`fingerprint` of the text.

    The one record of an event from the parser to the frames: :func:`parse_log` makes it
    (and computes the fingerprint, once), :meth:`to_dict` / :meth:`from_dict` carry it
    through JSON and stored rows unchanged, and :func:`event_columns` turns records into
    the columns of ``data.events``. The server stores :func:`stored_event` (every field
    but the fingerprint); a row without a fingerprint gets it computed once, in
    :meth:`from_dict`.
    """

    kind: str
    text: str
    line_no: int | None
    source_file: str | None = None
    source_line_no: int | None = None
    pre_context: list[str] = field(default_factory=list)
    post_context: list[str] = field(default_factory=list)
    repeat_count: int = 1
    classes: tuple[str, ...] = ()
    fingerprint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (lists for the sequences)."""
        return {
            "kind": self.kind,
            "text": self.text,
            "line_no": self.line_no,
            "source_file": self.source_file,
            "source_line_no": self.source_line_no,
            "pre_context": list(self.pre_context),
            "post_context": list(self.post_context),
            "repeat_count": self.repeat_count,
            "classes": list(self.classes),
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> LogEvent:
        """The event of a :meth:`to_dict` dict, a server's stored or served event row
        (``builderrors``/``buildwarnings``: extra keys such as ``id``, ``build``,
        ``phase`` are ignored) or their JSON. The ``fingerprint`` it carries is kept; a row
        without one (the server does not store it) gets :func:`fingerprint` of its text,
        computed here once.

        Raises:
            LogParseError: the row has no ``kind`` or no ``text`` string.
        """
        kind, text = row.get("kind"), row.get("text")
        if not isinstance(kind, str) or not isinstance(text, str):
            raise LogParseError(
                f"an event needs a kind and a text (str), got kind={kind!r:.40}, text={text!r:.60}"
            )
        given = row.get("fingerprint")
        return cls(
            kind=kind,
            text=text,
            line_no=row.get("line_no"),
            source_file=row.get("source_file"),
            source_line_no=row.get("source_line_no"),
            pre_context=list(row.get("pre_context") or []),
            post_context=list(row.get("post_context") or []),
            repeat_count=row.get("repeat_count") or 1,
            classes=tuple(row.get("classes") or ()),
            fingerprint=given if isinstance(given, str) and given else fingerprint(text),
        )


def stored_event(event: LogEvent) -> dict[str, Any]:
    """The fields of ``event`` a monitor server stores (``build_events`` columns): every
    field of :meth:`LogEvent.to_dict` but the fingerprint, which :meth:`LogEvent.from_dict`
    recomputes when the row is read. The server's ingest calls this, so stored rows and
    records cannot drift apart."""
    row = event.to_dict()
    del row["fingerprint"]
    return row


class LogEvents(list):
    """The events :func:`parse_log` found (a ``list`` of :class:`LogEvent`) and what it left out.

    ``dropped`` maps a kind (``"error"``, ``"warning"``) to the number of log lines of that kind
    that were not kept because ``max_events`` distinct events of the kind were kept already
    (repeats of a kept event are always counted in its ``repeat_count``); ``max_events`` is
    the cap that applied (None: no cap).
    """

    def __init__(
        self,
        events: Iterable[LogEvent] = (),
        *,
        dropped: dict[str, int] | None = None,
        max_events: int | None = None,
    ):
        super().__init__(events)
        self.dropped: dict[str, int] = {k: v for k, v in (dropped or {}).items() if v}
        self.max_events = max_events

    @property
    def complete(self) -> bool:
        """True when no event was left out by the cap."""
        return not self.dropped

    def note(self) -> str | None:
        """A one-line account of what the cap left out (None when nothing was)."""
        if not self.dropped:
            return None
        parts = ", ".join(f"{n} {kind} line(s)" for kind, n in sorted(self.dropped.items()))
        return (
            f"{parts} not kept: at most {self.max_events} distinct events of each kind are kept "
            "per log"
        )


def _clip(text: str) -> str:
    """``text``, or its first :data:`MAX_LINE_CHARS` characters and how many more it had."""
    extra = len(text) - MAX_LINE_CHARS
    if extra <= 0:
        return text
    return f"{text[:MAX_LINE_CHARS]} [... {extra} more characters]"


def _piece(block: str, s: int, e: int) -> str:
    """``_clip(block[s:e])`` without copying a long line whole."""
    if e - s <= MAX_LINE_CHARS:
        return block[s:e]
    return f"{block[s : s + MAX_LINE_CHARS]} [... {e - s - MAX_LINE_CHARS} more characters]"


class _Collector:
    """Creates events, merges repeats, applies the cap and completes post-context across blocks."""

    __slots__ = ("context", "rules", "events", "seen", "pending", "max_events", "kept", "dropped")

    def __init__(self, context: int, rules: Rules | None, max_events: int | None = None):
        self.context = context
        self.rules = rules
        self.events: list[LogEvent] = []
        self.seen: dict[tuple[str, str], LogEvent] = {}
        self.pending: list[LogEvent] = []
        self.max_events = max_events
        self.kept = {"error": 0, "warning": 0}
        self.dropped = {"error": 0, "warning": 0}

    def full(self, kind: str) -> bool:
        """Whether the cap of ``kind`` is reached (a new event of it would be dropped)."""
        return self.max_events is not None and self.kept[kind] >= self.max_events

    def result(self) -> LogEvents:
        return LogEvents(self.events, dropped=self.dropped, max_events=self.max_events)

    def add(self, kind: str, text: str, line_no: int, pre: list[str]) -> LogEvent | None:
        """Record an event; returns the new event, or None for a repeat or a dropped one."""
        key = (kind, text)
        old = self.seen.get(key)
        if old is not None:
            old.repeat_count += 1
            return None
        if self.full(kind):
            self.dropped[kind] += 1
            return None
        self.kept[kind] += 1
        src_file, src_line = _source_location(text)
        classes = self.rules.classify(text) if (self.rules is not None and kind == "error") else ()
        ev = LogEvent(
            kind=kind,
            text=text,
            line_no=line_no,
            source_file=src_file,
            source_line_no=src_line,
            pre_context=pre,
            classes=classes,
            fingerprint=fingerprint(text),
        )
        self.seen[key] = ev
        self.events.append(ev)
        return ev

    def feed_pending(self, lines: Sequence[str]) -> None:
        """Give events still short of post-context the next lines of the log."""
        if not self.pending:
            return
        still = []
        n = self.context
        for ev in self.pending:
            need = n - len(ev.post_context)
            ev.post_context.extend(lines[:need])
            if len(ev.post_context) < n:
                still.append(ev)
        self.pending = still


def _iter_blocks(source: Any) -> Iterator[str]:
    """Yield the log as blocks of whole lines ('\\n'-terminated except possibly the last)."""
    if isinstance(source, bytes | bytearray):
        source = bytes(source).decode("utf-8", errors="replace")
    if isinstance(source, os.PathLike):
        yield from _file_blocks(Path(source))
        return
    if isinstance(source, str):
        yield from _str_blocks(source)
        return
    try:
        iterator = iter(source)
    except TypeError as exc:
        raise LogParseError(
            f"parse_log needs log text, a path or an iterable of lines, not {type(source).__name__}"
        ) from exc
    buf: list[str] = []
    size = 0
    for item in iterator:
        if isinstance(item, bytes | bytearray):
            item = bytes(item).decode("utf-8", errors="replace")
        elif not isinstance(item, str):
            raise LogParseError(f"log lines must be str or bytes, not {type(item).__name__}")
        if item.endswith("\n"):
            item = item[:-1]
        if item.endswith("\r"):
            item = item[:-1]
        buf.append(item)
        size += len(item) + 1
        if size >= _BLOCK_CHARS:
            buf.append("")
            yield "\n".join(buf)
            buf, size = [], 0
    if buf:
        buf.append("")
        yield "\n".join(buf)


def _str_blocks(text: str) -> Iterator[str]:
    """Log text as blocks of about :data:`_BLOCK_CHARS` characters of whole lines (a copy of
    one block at a time, never of the whole text), line ends normalised to ``\n``."""
    n = len(text)
    start = 0
    while start < n:
        cut = text.find("\n", start + _BLOCK_CHARS) if start + _BLOCK_CHARS < n else -1
        end = n if cut < 0 else cut + 1
        block = text if (start == 0 and end == n) else text[start:end]
        start = end
        if "\r" in block:
            block = block.replace("\r\n", "\n").replace("\r", "\n")
        yield block


def _file_blocks(path: Path) -> Iterator[str]:
    try:
        if path.suffix == ".gz":
            raw: Any = gzip.open(path, "rb")
        else:
            raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise LogParseError(f"{path}: cannot open the log ({exc.strerror or exc})") from exc
    try:
        with io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None) as fh:
            carry = ""
            while True:
                try:
                    data = fh.read(_BLOCK_CHARS)
                except (OSError, EOFError, gzip.BadGzipFile) as exc:
                    raise LogParseError(f"{path}: cannot read the log ({exc})") from exc
                if not data:
                    break
                cut = data.rfind("\n")
                if cut < 0:
                    carry += data
                    continue
                block = carry + data[: cut + 1]
                carry = data[cut + 1 :]
                yield block
            if carry:
                yield carry
    finally:
        raw.close()


def _scan_block(
    block: str,
    first_line_no: int,
    tail: deque[str],
    col: _Collector,
) -> int:
    """Find the events of one block; returns the number of lines in the block."""
    context = col.context
    n = len(block)
    count = block.count
    find = block.find
    rfind = block.rfind
    seen = col.seen
    # lines at the start of the block complete the post-context of earlier events
    if col.pending:
        head: list[str] = []
        s = 0
        while len(head) < context and s < n:
            e = find("\n", s)
            if e < 0:
                e = n
            head.append(_piece(block, s, e))
            s = e + 1
        col.feed_pending(head)
    line_no = first_line_no  # number of the line starting at `counted`
    counted = 0
    for ls in _candidate_starts(block):
        le = find("\n", ls)
        if le < 0:
            le = n
        if le - ls <= MAX_LINE_CHARS:
            line = text = block[ls:le]
            kind = _line_kind(line)
        else:  # the rules look at the first MAX_LINE_CHARS characters
            kind = _line_kind(block[ls : ls + MAX_LINE_CHARS])
            text = _piece(block, ls, le) if kind is not None else ""
        if kind is None:
            continue
        line_no += count("\n", counted, ls)
        counted = ls
        old = seen.get((kind, text))
        if old is not None:
            old.repeat_count += 1
            continue
        if col.full(kind):
            col.dropped[kind] += 1
            continue
        pre: list[str] = []
        if context:
            e = ls - 1
            while len(pre) < context and e >= 0:
                s = rfind("\n", 0, e) + 1
                pre.append(_piece(block, s, e))
                e = s - 1
            if len(pre) < context and tail:
                need = context - len(pre)
                pre.extend(reversed(list(tail)[-need:]))
            pre.reverse()
        ev = col.add(kind, text, line_no, pre)
        if ev is not None and context:
            post = ev.post_context
            s = le + 1
            while len(post) < context and s < n:
                e = find("\n", s)
                if e < 0:
                    e = n
                post.append(_piece(block, s, e))
                s = e + 1
            if len(post) < context:
                col.pending.append(ev)
    lines_in_block = count("\n") + (0 if block.endswith("\n") else 1)
    if context:
        # keep the last `context` lines for the next block's pre-context
        e = n - 1 if block.endswith("\n") else n
        taken: list[str] = []
        while len(taken) < context and e >= 0:
            s = rfind("\n", 0, e) + 1
            taken.append(_piece(block, s, e))
            e = s - 1
        tail.extend(reversed(taken))
    return lines_in_block


def parse_log(
    source: Any,
    *,
    context: int = DEFAULT_CONTEXT,
    classify: bool = True,
    rules: Rules | None = None,
    max_events: int | None = DEFAULT_MAX_EVENTS,
) -> LogEvents:
    """Find the error and warning events of a build log.

    ``source`` is the log text (``str``, or ``bytes`` decoded as UTF-8), a path
    (any ``os.PathLike`` such as ``pathlib.Path``; plain or ``.gz``), or an iterable
    of lines (an open file, a list...). A ``str`` is always log text, never opened
    as a file name: a server parsing uploaded output must not read local files
    because the output happens to name one. Files are read in blocks, never whole. ``context`` lines are kept on each side of an event;
    ``classify`` adds the failure classes of ``rules`` (the packaged rules file by
    default) to error events. Events come in order of first occurrence.

    At most ``max_events`` distinct events of each kind are kept (None: no cap); the lines of
    later distinct events are counted in the result's ``dropped`` (a :class:`LogEvents`, a
    ``list``), so memory stays proportional to the log however error-dense it is. The rules
    look at the first :data:`MAX_LINE_CHARS` characters of each line, and a longer event text
    or context line is cut there (it ends with ``" [... N more characters]"``). Time is linear
    in the size of the log.

    Raises :class:`~spackmon_analysis.errors.LogParseError` when the log cannot be
    read (missing file, broken gzip, wrong type).
    """
    if not isinstance(context, int) or context < 0:
        raise LogParseError(f"context must be a non-negative int, not {context!r}")
    _check_max(max_events)
    active_rules = (rules or _default_rules()) if classify else None
    col = _Collector(context, active_rules, max_events)
    tail: deque[str] = deque(maxlen=max(context, 1))
    line_no = 1
    for block in _iter_blocks(source):
        line_no += _scan_block(block, line_no, tail, col)
    return col.result()


def _check_max(max_events: Any) -> None:
    if max_events is not None and (
        not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 0
    ):
        raise LogParseError(f"max_events must be a non-negative int or None, not {max_events!r}")


def scan_log_naive(
    source: Any,
    *,
    context: int = DEFAULT_CONTEXT,
    classify: bool = True,
    rules: Rules | None = None,
    max_events: int | None = DEFAULT_MAX_EVENTS,
) -> LogEvents:
    """The straightforward reference scan: every rule on every line, one line at a time.

    Same result as :func:`parse_log` (which the tests and the benchmark check), and
    several times slower; kept as the executable definition of the rules.
    """
    error_rules = [re.compile(rx) for _, rx in ERROR_PATTERNS]
    error_exc = [re.compile(rx) for _, rx in ERROR_EXCEPTIONS]
    warn_rules = [re.compile(rx) for _, rx in WARNING_PATTERNS]
    warn_exc = [re.compile(rx) for _, rx in WARNING_EXCEPTIONS]
    _check_max(max_events)
    active_rules = (rules or _default_rules()) if classify else None
    col = _Collector(context, active_rules, max_events)
    before: deque[str] = deque(maxlen=max(context, 1))
    waiting: list[LogEvent] = []
    line_no = 0
    for block in _iter_blocks(source):
        lines = block.split("\n")
        if block.endswith("\n"):
            lines.pop()
        for full_line in lines:
            line_no += 1
            text = _clip(full_line)
            line = full_line[:MAX_LINE_CHARS]  # what the rules look at
            for ev in waiting:
                ev.post_context.append(text)
            waiting = [ev for ev in waiting if len(ev.post_context) < context]
            kind = None
            if any(r.search(line) for r in error_rules) and not any(
                r.search(line) for r in error_exc
            ):
                kind = "error"
            elif any(r.search(line) for r in warn_rules) and not any(
                r.search(line) for r in warn_exc
            ):
                kind = "warning"
            if kind is not None:
                pre = list(before)[-context:] if context else []
                added = col.add(kind, text, line_no, pre)
                if added is not None and context:
                    waiting.append(added)
            if context:
                before.append(text)
    return col.result()


# ---------------------------------------------------------------------------------
# Summaries and frames
# ---------------------------------------------------------------------------------


def summary_class(events_or_classes: Iterable[Any], rules: Rules | None = None) -> str | None:
    """One failure class for a build, by the precedence of the rules file.

    Accepts :class:`LogEvent` objects (only errors count), per-event class tuples,
    or class names. Returns the matched class of highest precedence,
    ``"unclassified"`` when there are errors but none matched a class, and None
    when there are no errors at all.
    """
    r = rules or _default_rules()
    found: set[str] = set()
    errors = 0
    for item in events_or_classes:
        if isinstance(item, LogEvent):
            if item.kind != "error":
                continue
            errors += 1
            found.update(item.classes)
        elif isinstance(item, str):
            errors += 1
            if item != UNCLASSIFIED:
                found.add(item)
        elif isinstance(item, dict):  # an event as a dict (to_dict / JSON)
            if item.get("kind", "error") != "error":
                continue
            errors += 1
            found.update(item.get("classes") or ())
        else:
            errors += 1
            found.update(item or ())
    if not errors:
        return None
    return r.summary(found) or UNCLASSIFIED


_FRAME_COLUMNS = [
    "kind",
    "text",
    "line_no",
    "source_file",
    "source_line_no",
    "pre_context",
    "post_context",
    "repeat_count",
    "classes",
    "primary_class",
    "fingerprint",
]


def event_columns(events: Iterable[LogEvent]) -> dict[str, list[Any]]:
    """Records -> the event columns of ``data.events`` and :func:`events_frame`, as plain
    lists (:data:`_FRAME_COLUMNS` order): the one place a record becomes columns. The
    fingerprint is the record's own (never recomputed)."""
    evs = list(events)
    return {
        "kind": [e.kind for e in evs],
        "text": [e.text for e in evs],
        "line_no": [e.line_no for e in evs],
        "source_file": [e.source_file for e in evs],
        "source_line_no": [e.source_line_no for e in evs],
        "pre_context": [list(e.pre_context) for e in evs],
        "post_context": [list(e.post_context) for e in evs],
        "repeat_count": [e.repeat_count for e in evs],
        "classes": [tuple(e.classes) for e in evs],
        "primary_class": [e.classes[0] if e.classes else None for e in evs],
        "fingerprint": [e.fingerprint for e in evs],
    }


def events_frame(events: Iterable[LogEvent]) -> Any:
    """A pandas DataFrame with one row per event.

    Columns: ``kind`` (categorical error/warning), ``text``, ``line_no``,
    ``source_file``, ``source_line_no`` (nullable Int64), ``pre_context`` and
    ``post_context`` (lists of lines), ``repeat_count``, ``classes`` (tuple),
    ``primary_class`` (the first class by precedence, or None) and ``fingerprint``
    (:func:`event_columns`).
    """
    import pandas as pd

    # lists from event_columns; the three sequence columns become object arrays below
    columns: dict[str, Any] = event_columns(events)
    import numpy as np

    for name in ("pre_context", "post_context", "classes"):
        values = columns[name]
        column = np.empty(len(values), dtype=object)  # one list/tuple per cell
        for i, value in enumerate(values):
            column[i] = value
        columns[name] = column
    df = pd.DataFrame(columns, columns=_FRAME_COLUMNS)
    df["kind"] = pd.Categorical(df["kind"], categories=["error", "warning"])
    df["line_no"] = df["line_no"].astype("Int64")
    df["source_line_no"] = pd.array(
        [None if v is None or v != v else int(v) for v in df["source_line_no"]], dtype="Int64"
    )
    df["repeat_count"] = df["repeat_count"].astype("Int64")
    return df
