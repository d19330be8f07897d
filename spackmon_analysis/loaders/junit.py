"""``spack install --log-format junit`` reports -> :class:`~spackmon_analysis.records.ReportRun`.

What Spack writes (``share/spack/templates/reports/junit.xml``, the same from 0.13 to 1.x):
``<testsuites>`` holding one ``<testsuite name="<root>_<7-character DAG hash>">`` per root
spec of the install command, with ``timestamp`` (UTC, ``Wed, 02 Dec 2026 21:49:26``), the
properties ``architecture`` (``linux-debian12-zen3``) and ``compiler``; one
``<testcase classname="<package>" name="<DAG hash>" time="<seconds>">`` per package the
command touched, holding

- ``<failure message="...">`` (an ``InstallError`` in the build process: the recipe failed)
  or ``<error message="...">`` (anything else), the Python traceback as text;
- ``<skipped/>`` for a package already installed or external: not a build of this run;
- ``<system-out>``: the build log (``spack-build-out.txt``; Spack appends the failure
  message to it), ``<system-err>`` (not written by any release so far, read if present).

A package that never built because a dependency failed has **no** testcase: see
:meth:`~spackmon_analysis.frames.MonitorData.with_dag`.

Decisions (written down in ``docs/todays-spack.md``):

- build key and ``full_hash``: the DAG hash (``name``); the same package listed in two
  suites (a root that is also a dependency of another root) is one build;
- status: ``SUCCESS`` (no child element), ``FAILED`` (failure or error; tag ``error`` for
  an ``<error>``), ``NOTRUN`` with tag ``skipped`` for ``<skipped/>``;
- phases: the log split on ``==> <pkg>: Executing phase: '<name>'``
  (:func:`~spackmon_analysis.spackfacts.split_phases`, as tuples: ``cut_phases``); the last phase of a failed build is
  ``ERROR``; text before the first marker belongs to the first phase; a failed build whose
  log has no marker (it failed fetching or staging) gets one ``ERROR`` phase ``stage``
  holding the log and the message;
- ``build_log_first_line``: the marker's line in the log, so ``>> N`` is the line Spack
  printed; build ``duration``: the testcase's ``time``; phase times from the log stamps.
"""

from __future__ import annotations

import re
from collections.abc import Set
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ReportError
from ..records import BuildRecord, PhaseRecord, ReportRun
from ..spackfacts import PhaseCut, cut_phase_columns, phase_timing, stamp_windows
from . import assemble
from .xmlreport import element_path, iter_xml, need_attr, number

if TYPE_CHECKING:  # pragma: no cover
    from .assemble import PhaseColumns

__all__ = [
    "read_junit",
    "read_junit_columns",
    "BuildRows",
    "is_junit_file",
    "parse_junit_timestamp",
    "split_architecture",
]

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_RFC_STAMP = re.compile(
    r"^\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})"
)


def parse_junit_timestamp(text: str | None) -> datetime | None:
    """A ``testsuite`` ``timestamp`` as an aware UTC datetime: Spack's
    ``Wed, 02 Dec 2026 21:49:26`` (written with ``time.gmtime``, so UTC), or ISO 8601 as
    other JUnit writers use; None when it is neither."""
    if not text:
        return None
    m = _RFC_STAMP.match(text)
    if m:
        day, month, year, hh, mm, ss = m.groups()
        mon = _MONTHS.get(month.lower())
        if mon is not None:
            try:
                return datetime(
                    int(year), mon, int(day), int(hh), int(mm), int(ss), tzinfo=timezone.utc
                )
            except ValueError:
                return None
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def split_architecture(text: str | None) -> tuple[str | None, str | None, str | None]:
    """``linux-debian12-zen3`` -> ``("linux", "debian12", "zen3")`` (Nones when absent)."""
    if not text or text == "None":
        return None, None, None
    parts: list[str | None] = list(text.split("-", 2))
    parts += [None] * (3 - len(parts))
    return parts[0] or None, parts[1] or None, parts[2] or None


def _compiler(text: str | None) -> str | None:
    """The ``compiler`` property (``gcc@=12.2.0``) as ``gcc@12.2.0``; None for none."""
    if not text or text == "None" or "@" not in text:
        return None
    name, _, version = text.partition("@")
    return f"{name}@{version.lstrip('=')}"


def is_junit_file(path: Path) -> bool:
    """Whether ``path`` looks like a JUnit report (an ``.xml`` file whose first kilobytes
    open ``<testsuites>`` or ``<testsuite``), without parsing it."""
    if not path.is_file() or path.suffix.lower() != ".xml":
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b"<testsuites" in head or b"<testsuite " in head or b"<testsuite>" in head


def _log_text(text: str | None) -> str:
    """The text of ``<system-out>`` without the newline and indentation the template puts
    around it."""
    if not text:
        return ""
    if text.startswith("\r\n"):
        text = text[2:]
    elif text.startswith("\n"):
        text = text[1:]
    stripped = text.rstrip(" \t")
    if stripped.endswith("\n"):
        stripped = stripped[:-1]
    return stripped


def _cut_columns(log: str, failed: bool, message: str | None) -> PhaseCut:
    """The phases of a testcase's log as columns, in log order (decisions in the module
    docstring): cut on the phase markers with where each phase's stamps can be
    (:func:`~spackmon_analysis.spackfacts.cut_phase_columns`), text before the first marker
    joined to the first phase (its first line then 1); without a marker, one ``stage``
    phase for a failed build (the message added when the log lacks it, first line None),
    one ``install`` phase for a log of a build that succeeded, none for no log. The
    ``preamble`` of the result is always empty (it went into the first phase or was
    blank)."""
    cut = cut_phase_columns(log)
    if not cut.names:
        if not failed and not log.strip():
            return PhaseCut("", [], [], [], [], [])
        text = (
            log if not failed or not message or message in log else f"{log}\n{message}".lstrip("\n")
        )
        first, last = stamp_windows(text)
        return PhaseCut("", ["stage" if failed else "install"], [text], [None], [first], [last])
    if cut.preamble.strip():
        text = cut.texts[0] = cut.preamble + cut.texts[0]
        cut.first_lines[0] = 1
        cut.first_windows[0], cut.last_windows[0] = stamp_windows(text)
    cut.preamble = ""
    return cut


def _cut(log: str, failed: bool, message: str | None) -> list[tuple[str, str, int | None]]:
    """:func:`_cut_columns` as ``(name, text, first line in the log or None)`` per phase."""
    cut = _cut_columns(log, failed, message)
    return list(zip(cut.names, cut.texts, cut.first_lines, strict=True))


def _phases(
    key: str, log: str, failed: bool, message: str | None, source: str
) -> list[PhaseRecord]:
    pieces = _cut(log, failed, message)
    records: list[PhaseRecord] = []
    last = len(pieces) - 1
    for order, (name, text, first_line) in enumerate(pieces):
        timing = phase_timing(text)
        records.append(
            PhaseRecord(
                build_key=key,
                name=name,
                status="ERROR" if failed and order == last else "SUCCESS",
                output=text,
                order=order,
                duration=timing.duration,
                started_at=timing.started,
                finished_at=timing.finished,
                source=source,
                first_line=first_line,
            )
        )
    return records


class _Phases:
    """Where a reader puts each testcase's build and phases: records in ``run.builds`` and
    ``run.phases`` (:func:`read_junit`), or rows of plain tuples (:class:`BuildRows`) and
    the columns of a :class:`~.assemble.PhaseColumns` (:func:`read_junit_columns`, under
    the build's key in the frames: its DAG hash, or ``<run>/<DAG hash>`` when an earlier
    report of the folder took that key)."""

    def __init__(self, columns: PhaseColumns | None = None, taken: Set[str] = frozenset()):
        self.columns = columns
        self.taken = taken
        self.rows = BuildRows()
        #: the column path's logs still to cut: ``(key, log, failed, message)``
        self._logs: list[tuple[str, str, bool, str | None]] = []
        self._chars = 0

    def drain(self) -> None:
        """Cut the logs read since the last batch into ``columns``: logs are cut a batch at
        a time (:data:`~.assemble.EVENT_BATCH_CHARS`), apart from the XML reading, as their
        events are found (cheaper than one at a time in between)."""
        logs, self._logs, self._chars = self._logs, [], 0
        columns = self.columns
        if columns is None:
            return
        for key, log, failed, message in logs:
            columns.add_log(key, log, _cut_columns(log, failed, message), failed)

    def key(self, run: ReportRun, dag_hash: str) -> str:
        return dag_hash if dag_hash not in self.taken else f"{run.name}/{dag_hash}"

    def add_build(
        self,
        suite: _Suite,
        fields: tuple[str, str, str, tuple[str, ...], float | None, str | None, str | None],
        log: str,
        seen: dict[str, int],
    ) -> bool:
        """The build of one testcase (``fields``: DAG hash, package, status, tags,
        seconds, message, traceback) and its phases cut out of ``log``; False when the
        DAG hash was read already (kept: the first, or the one that built when the first
        was skipped)."""
        dag_hash, name, status, tags, seconds, message, traceback = fields
        run = suite.run
        columns = self.columns
        index = seen.get(dag_hash)
        if index is not None:
            previous = run.builds[index].status if columns is None else self.rows.rows[index]
            if columns is not None:
                previous = previous[2] if previous is not None else None
            if previous != "NOTRUN" or status == "NOTRUN":
                return False
            # a build listed as skipped under one root and built under another: the
            # build wins (a skipped build has no phases to drop)
            if columns is None:
                run.builds.pop(index)
                seen.clear()
                seen.update({b.key: k for k, b in enumerate(run.builds)})
            else:
                self.rows.rows[index] = None
        root = run.build_roots.setdefault(dag_hash, suite.root_name)
        failed = status == "FAILED"
        if columns is None:
            platform, os_name, target, compiler = suite.env
            record = BuildRecord(
                key=dag_hash,
                full_hash=dag_hash,
                spec_name=name,
                status=status,
                platform=platform,
                host_os=os_name,
                host_target=target,
                tags=tags,
                run=run.name,
                source=suite.filename,
                created_at=suite.stamp,
                compiler=compiler,
                duration=seconds,
                message=message,
                traceback=traceback,
            )
            seen[dag_hash] = len(run.builds)
            run.builds.append(record)
            suite.records.append(record)
            if status != "NOTRUN":
                run.phases.extend(_phases(dag_hash, log, failed, message, suite.filename))
            return True
        rows = self.rows.rows
        seen[dag_hash] = len(rows)
        rows.append((*fields, suite.number, root))
        if status != "NOTRUN":
            self._logs.append((self.key(run, dag_hash), log, failed, message))
            self._chars += len(log)
            if self._chars >= assemble.EVENT_BATCH_CHARS:
                self.drain()
        return True


class BuildRows:
    """The builds :func:`read_junit_columns` read, as plain rows (no record per build):
    ``rows`` holds ``(DAG hash, package, status, tags, seconds, message, traceback, suite
    number, root)`` per testcase in report order (None for a skipped build a later
    testcase built); ``suites`` holds, per ``<testsuite>`` in order, ``(platform, host_os,
    host_target, compiler, timestamp)``: its properties as they stood at its end (every
    build of a suite gets them, as :func:`read_junit`'s records do)."""

    __slots__ = ("rows", "suites")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...] | None] = []
        self.suites: list[tuple[Any, ...]] = []


_DAG_HASH = re.compile(r"[A-Za-z0-9]{1,64}").fullmatch
_SUITE_HASH = re.compile(r"[a-z2-7]{7}").fullmatch  # dag_hash(length=7)
_INF = float("inf")


class _Suite:
    """One ``<testsuite>`` as it is read: its attributes at its start, its properties and
    testcases as each ends (so a testcase's element can be dropped once read)."""

    def __init__(
        self, suite: Any, where: str, filename: str, run: ReportRun, phases: _Phases
    ) -> None:
        self.where, self.filename, self.run, self.phases = where, filename, run, phases
        self.number = len(phases.rows.suites)
        suite_name = need_attr(suite, "name", filename, where)
        root, sep, prefix = suite_name.rpartition("_")
        if sep and root and _SUITE_HASH(prefix):
            run.roots.append((root, prefix))
        else:
            run.roots.append((suite_name, None))
        self.root_name = run.roots[-1][0]
        stamp_text = suite.get("timestamp")
        self.stamp = parse_junit_timestamp(stamp_text)
        if stamp_text and self.stamp is None:
            run.notes.append(
                (
                    f"{filename} <{where}@timestamp>",
                    f"timestamp {stamp_text[:40]!r} not understood; the run has no time",
                )
            )
        if self.stamp is not None and (run.started_at is None or self.stamp < run.started_at):
            run.started_at = self.stamp
        self.props: dict[str, str] = {}
        self.n_props = 0
        self.n_cases = 0  # the testcases read so far (their index in the element path)
        #: the builds this suite added (their environment is the suite's properties)
        self.records: list[BuildRecord] = []
        self.env = self._environment()
        phases.rows.suites.append((*self.env, self.stamp))

    def _environment(self) -> tuple[str | None, str | None, str | None, str | None]:
        platform, os_name, target = split_architecture(self.props.get("architecture"))
        return platform, os_name, target, _compiler(self.props.get("compiler"))

    def add_property(self, prop: Any) -> None:
        pwhere = element_path(self.where, "properties", f"property[{self.n_props}]")
        self.n_props += 1
        self.props[need_attr(prop, "name", self.filename, pwhere)] = prop.get("value", "")
        self.env = self._environment()

    def end(self) -> None:
        """Every build of the suite gets the suite's properties (the last value of each
        name), also those read before a property that came after them."""
        platform, os_name, target, compiler = self.env
        for record in self.records:
            record.platform, record.host_os, record.host_target = platform, os_name, target
            record.compiler = compiler
        self.phases.rows.suites[self.number] = (*self.env, self.stamp)

    def add_case(self, case: Any, seen: dict[str, int]) -> None:
        filename = self.filename
        cwhere = f"{self.where}/testcase[{self.n_cases}]"
        self.n_cases += 1
        get = case.get
        name = get("classname")
        dag_hash = get("name")
        if name is None or dag_hash is None:
            need_attr(case, "classname", filename, cwhere)
            need_attr(case, "name", filename, cwhere)
        name, dag_hash = name.strip(), dag_hash.strip()
        if not name:
            raise ReportError(
                "the package name (classname) is empty",
                filename=filename,
                element=cwhere + "@classname",
            )
        if not _DAG_HASH(dag_hash):
            raise ReportError(
                f"{dag_hash[:40]!r} is not a DAG hash", filename=filename, element=cwhere + "@name"
            )
        time = get("time")
        try:  # the common case at once; number() says what is wrong with any other
            value = float(time)
        except (TypeError, ValueError):
            value = -1.0
        seconds = value if 0 <= value < _INF else number(time, filename, cwhere + "@time")
        failure = case.find("failure")
        error = case.find("error")
        skipped = case.find("skipped")
        out = case.find("system-out")
        err = case.find("system-err")
        bad = failure if failure is not None else error
        tags: tuple[str, ...] = ()
        message = traceback = None
        if bad is not None:
            status = "FAILED"
            message = bad.get("message")
            traceback = (bad.text or "").strip("\n").rstrip() or None
            if error is not None and failure is None:
                tags = ("error",)
        elif skipped is not None:
            status = "NOTRUN"
            tags = ("skipped",)
            message = skipped.get("message") or None
        else:
            status = "SUCCESS"
        if err is not None and (err.text or "").strip():
            extra = "system-err:\n" + _log_text(err.text)
            traceback = f"{traceback}\n{extra}" if traceback else extra
        log = _log_text(out.text if out is not None else None)
        fields = (dag_hash, name, status, tags, seconds, message, traceback)
        if self.phases.add_build(self, fields, log, seen) and status == "NOTRUN" and log.strip():
            self.run.notes.append(
                (f"{filename} <{cwhere}>", f"skipped {name} carries a log; not read as a build")
            )


def read_junit(path: str | Path) -> ReportRun:
    """Read one JUnit report file written by ``spack install --log-format junit``.

    The phases are :class:`~spackmon_analysis.records.PhaseRecord` s in ``run.phases``
    (``load_junit`` reads with :func:`read_junit_columns` instead: the same builds and
    phases as columns).

    The file is parsed as it is read (:func:`~.xmlreport.iter_xml`), and each testcase is
    dropped from the tree once it is a record: a report near the 256 MiB cap is never held
    whole, as bytes or as a tree.

    Raises:
        ReportError: the file is not a JUnit report, is not well-formed (truncated), or an
            element lacks what Spack always writes (``testcase`` ``classname``/``name``, a
            numeric ``time``); the message names the file and the element.
    """
    return _read(Path(path), _Phases())


def read_junit_columns(
    path: str | Path, columns: PhaseColumns, taken: Set[str] = frozenset()
) -> tuple[ReportRun, BuildRows]:
    """:func:`read_junit`, with each testcase's build a row of :class:`BuildRows` and its
    phases and their events put into ``columns`` as the file is read (``run.builds`` and
    ``run.phases`` stay empty): no record per build or phase, and a report near the size
    cap holds its logs once, as Arrow text. A build whose DAG hash is in ``taken`` (the
    keys of the folder's earlier reports) is keyed ``<run>/<DAG hash>`` in the columns, as
    in ``load_junit``'s frames.

    Raises:
        ReportError: as :func:`read_junit`.
    """
    phases = _Phases(columns, taken)
    run = _read(Path(path), phases)
    phases.drain()
    return run, phases.rows


def _read(file: Path, phases: _Phases) -> ReportRun:
    filename = str(file)
    run = ReportRun(name=file.stem, path=filename, format="junit")
    seen: dict[str, int] = {}
    elements: list[Any] = []  # the open elements, the root first
    suite: _Suite | None = None
    suite_depth = 0
    suites = 0
    for event, elem in iter_xml(file):
        if event == "start":
            if not elements:
                if elem.tag == "testsuites":
                    suite_depth = 1
                elif elem.tag != "testsuite":
                    raise ReportError(
                        f"the root element is <{elem.tag}>, not <testsuites> or <testsuite>: "
                        "not a JUnit report",
                        filename=filename,
                        element=str(elem.tag),
                    )
            if len(elements) == suite_depth and elem.tag == "testsuite":
                # the element path iter_xml's errors use: the root alone, a child of
                # <testsuites> with its index among the earlier <testsuite> children
                where = "testsuite" if not suite_depth else f"testsuites/testsuite[{suites}]"
                suite = _Suite(elem, where, filename, run, phases)
                suites += 1
            elements.append(elem)
            continue
        elements.pop()
        if suite is None:
            continue
        depth = len(elements)  # the ended element's parent is elements[-1]
        tag = elem.tag
        if tag == "testcase" and depth == suite_depth + 1:
            suite.add_case(elem, seen)
            elements[-1].remove(elem)  # read: its log is in the records now
        elif tag == "property" and depth > suite_depth:
            suite.add_property(elem)
        elif depth == suite_depth and tag == "testsuite":
            suite.end()
            suite = None
            if elements:
                elements[-1].remove(elem)
    if not suites:
        run.notes.append((filename, "the report holds no testsuite (no spec was installed)"))
    return run
