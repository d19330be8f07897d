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
from ..spackfacts import cut_phases, phase_timing
from .xmlreport import element_path, iter_xml, need_attr, number

if TYPE_CHECKING:  # pragma: no cover
    from .assemble import PhaseColumns

__all__ = [
    "read_junit",
    "read_junit_columns",
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


def _cut(log: str, failed: bool, message: str | None) -> list[tuple[str, str, int | None]]:
    """The phases of a testcase's log as ``(name, text, first line in the log)``, in log
    order (decisions in the module docstring): cut on the phase markers, text before the
    first marker joined to the first phase (its first line then 1); without a marker, one
    ``stage`` phase for a failed build (the message added when the log lacks it, first line
    None), one ``install`` phase for a log of a build that succeeded, none for no log."""
    preamble, cut = cut_phases(log)
    if not cut:
        if not failed and not log.strip():
            return []
        text = (
            log if not failed or not message or message in log else f"{log}\n{message}".lstrip("\n")
        )
        return [("stage" if failed else "install", text, None)]
    pieces: list[tuple[str, str, int | None]] = [(name, text, line) for name, _, text, line in cut]
    if preamble.strip():
        name, text, _first = pieces[0]
        pieces[0] = (name, preamble + text, 1)
    return pieces


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
    """Where a reader puts each testcase's phases: records in ``run.phases``
    (:func:`read_junit`), or the columns of a :class:`~.assemble.PhaseColumns`
    (:func:`read_junit_columns`, under the build's key in the frames: its DAG hash, or
    ``<run>/<DAG hash>`` when an earlier report of the folder took that key)."""

    def __init__(self, columns: PhaseColumns | None = None, taken: Set[str] = frozenset()):
        self.columns = columns
        self.taken = taken

    def key(self, run: ReportRun, dag_hash: str) -> str:
        return dag_hash if dag_hash not in self.taken else f"{run.name}/{dag_hash}"

    def add(self, run: ReportRun, record: BuildRecord, log: str, source: str) -> None:
        failed = record.status == "FAILED"
        if self.columns is None:
            run.phases.extend(_phases(record.key, log, failed, record.message, source))
        else:
            pieces = _cut(log, failed, record.message)
            self.columns.add_log(self.key(run, record.key), log, pieces, failed)


class _Suite:
    """One ``<testsuite>`` as it is read: its attributes at its start, its properties and
    testcases as each ends (so a testcase's element can be dropped once read)."""

    def __init__(
        self, suite: Any, where: str, filename: str, run: ReportRun, phases: _Phases
    ) -> None:
        self.where, self.filename, self.run, self.phases = where, filename, run, phases
        suite_name = need_attr(suite, "name", filename, where)
        root, sep, prefix = suite_name.rpartition("_")
        if sep and root and re.fullmatch(r"[a-z2-7]{7}", prefix):  # dag_hash(length=7)
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
        #: the builds this suite added (their environment is the suite's properties)
        self.records: list[BuildRecord] = []
        self._env = self._environment()

    def _environment(self) -> tuple[str | None, str | None, str | None, str | None]:
        platform, os_name, target = split_architecture(self.props.get("architecture"))
        return platform, os_name, target, _compiler(self.props.get("compiler"))

    def add_property(self, prop: Any) -> None:
        pwhere = element_path(self.where, "properties", f"property[{self.n_props}]")
        self.n_props += 1
        self.props[need_attr(prop, "name", self.filename, pwhere)] = prop.get("value", "")
        self._env = self._environment()

    def end(self) -> None:
        """Every build of the suite gets the suite's properties (the last value of each
        name), also those read before a property that came after them."""
        platform, os_name, target, compiler = self._env
        for record in self.records:
            record.platform, record.host_os, record.host_target = platform, os_name, target
            record.compiler = compiler

    def add_case(self, case: Any, cwhere: str, seen: dict[str, int]) -> None:
        filename, run = self.filename, self.run
        name = need_attr(case, "classname", filename, cwhere).strip()
        dag_hash = need_attr(case, "name", filename, cwhere).strip()
        if not name:
            raise ReportError(
                "the package name (classname) is empty",
                filename=filename,
                element=cwhere + "@classname",
            )
        if not re.fullmatch(r"[A-Za-z0-9]{1,64}", dag_hash):
            raise ReportError(
                f"{dag_hash[:40]!r} is not a DAG hash", filename=filename, element=cwhere + "@name"
            )
        seconds = number(case.get("time"), filename, cwhere + "@time")
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
        if dag_hash in seen:
            previous = run.builds[seen[dag_hash]]
            if previous.status == "NOTRUN" and status != "NOTRUN":
                # a build listed as skipped under one root and built under another: the
                # build wins (a skipped build has no phases to drop)
                run.builds.pop(seen[dag_hash])
                seen.clear()
                seen.update({b.key: k for k, b in enumerate(run.builds)})
            else:
                return
        platform, os_name, target, compiler = self._env
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
            source=filename,
            created_at=self.stamp,
            compiler=compiler,
            duration=seconds,
            message=message,
            traceback=traceback,
        )
        seen[dag_hash] = len(run.builds)
        run.builds.append(record)
        self.records.append(record)
        run.build_roots.setdefault(dag_hash, self.root_name)
        if status != "NOTRUN":
            self.phases.add(run, record, log, filename)
        elif log.strip():
            run.notes.append(
                (f"{filename} <{cwhere}>", f"skipped {name} carries a log; not read as a build")
            )


def read_junit(path: str | Path) -> ReportRun:
    """Read one JUnit report file written by ``spack install --log-format junit``.

    The phases are :class:`~spackmon_analysis.records.PhaseRecord` s in ``run.phases``
    (``load_junit`` reads with :func:`read_junit_columns` instead: the same phases as
    columns).

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
) -> ReportRun:
    """:func:`read_junit`, with each testcase's phases and their events put into
    ``columns`` as the file is read (``run.phases`` stays empty): no record per phase, and
    a report near the size cap holds its logs once, as Arrow text. A build whose DAG hash
    is in ``taken`` (the keys of the folder's earlier reports) is keyed
    ``<run>/<DAG hash>`` in the columns, as in ``load_junit``'s frames.

    Raises:
        ReportError: as :func:`read_junit`.
    """
    return _read(Path(path), _Phases(columns, taken))


def _read(file: Path, phases: _Phases) -> ReportRun:
    filename = str(file)
    run = ReportRun(name=file.stem, path=filename, format="junit")
    seen: dict[str, int] = {}
    elements: list[Any] = []  # the open elements, the root first
    suite: _Suite | None = None
    suite_depth = 0
    suites = 0
    for event, elem, where in iter_xml(file):
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
            if elem.tag == "testsuite" and len(elements) == suite_depth:
                suite = _Suite(elem, where, filename, run, phases)
                suites += 1
            elements.append(elem)
            continue
        elements.pop()
        if suite is None:
            continue
        depth = len(elements)  # the ended element's parent is elements[-1]
        if elem.tag == "property" and depth > suite_depth:
            suite.add_property(elem)
        elif elem.tag == "testcase" and depth == suite_depth + 1:
            suite.add_case(elem, where, seen)
            elements[-1].remove(elem)  # read: its log is in the records now
        elif depth == suite_depth and elem.tag == "testsuite":
            suite.end()
            suite = None
            if elements:
                elements[-1].remove(elem)
    if not suites:
        run.notes.append((filename, "the report holds no testsuite (no spec was installed)"))
    return run
