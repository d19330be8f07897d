"""``spack install --log-format cdash`` report directories -> :class:`~spackmon_analysis.records.ReportRun`.

What Spack writes (``lib/spack/spack/reporters/cdash.py`` and
``share/spack/templates/reports/cdash/``, 0.19 to 1.x): for each package it built (not the
ones already installed, external or taken from a binary cache), ``<pkg>_Build.xml``,
``<pkg>_Configure.xml`` (only when one of the package's phases maps to CDash's configure
step) and ``<pkg>_Update.xml``. When the run built a single package the files have no
prefix (``Build.xml`` ...) and the build name is the install command alone, so the package
is named only in the Configure log (``configure output for <pkg>:``).

- ``Build.xml`` / ``Configure.xml``: a ``<Site>`` with ``BuildName`` (``<command> - <pkg>``),
  ``BuildStamp``, ``Name`` (the site), ``Generator`` (``spack-0.22.1 (<commit>)``),
  ``OSName``, ``OSRelease``, ``VendorString`` (the target); ``<Build>`` holds
  ``StartBuildTime``/``EndBuildTime`` (epoch seconds) and up to 50 ``<Warning>`` and 50
  ``<Error>`` entries (``BuildLogLine``, ``Text``, ``SourceFile``, ``SourceLineNumber``,
  ``PreContext``, ``PostContext``; a package that succeeded has its errors written as
  warnings); ``<Configure>`` holds the configure log (``Log``) and ``ConfigureStatus``.
- ``Update.xml``: ``Revision`` (Spack's git commit); ``UpdateReturnStatus`` when
  concretization failed (then nothing was built).
- ``<pkg>_<hash>_Testing.xml`` / ``Test.xml`` are ``spack test`` reports, not builds.

Decisions (``docs/todays-spack.md``): phases are CDash's, ``configure`` (Spack's
autoreconf/cmake/configure/edit/... phases) and ``build`` (build and install), because the
report keeps no finer split; ``configure`` is ``ERROR`` when ``ConfigureStatus`` is not 0
or the log holds Spack's "Pre-configure errors" dump, ``build`` when it lists an
``<Error>``; the build's status is ``FAILED`` when a phase is ``ERROR``, else ``SUCCESS``.
The build phase's events are the report's ``<Error>``/``<Warning>`` entries (the report
holds no build log); Spack escaped their text twice, so it is unescaped once. The DAG hash
and version come from the ``spack-stage-<name>-<version>-<hash>`` path in the Configure
log when it shows one; otherwise the build key is the package name and the hash is found
with a DAG (:meth:`~spackmon_analysis.frames.MonitorData.with_dag`). Start and end times
are the whole install command's (Spack writes the run's start and duration for every
package), so phases get no duration.
"""

from __future__ import annotations

import re
import xml.sax.saxutils
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ReportError
from ..logs import LogEvent, classify, fingerprint
from ..records import BuildRecord, PhaseRecord, ReportRun
from .xmlreport import number, parse_xml

__all__ = ["read_cdash", "is_cdash_dir", "CDASH_STEPS"]

#: the report files of one package, by CDash step
CDASH_STEPS = ("Build", "Configure", "Update")
#: The tag of a single-package form's build whose package name is BuildName's (a guess:
#: :func:`~spackmon_analysis.loaders.reports.with_dag_frames` checks it against a DAG).
NAME_FROM_BUILDNAME = "name-from-buildname"
#: How the note on such a build begins.
NAME_FROM_BUILDNAME_NOTE = "package name taken from BuildName:"
_FILE = re.compile(r"^(?:(?P<pkg>.+)_)?(?P<step>Build|Configure|Update|Test|Testing)\.xml$")
_CONFIGURE_HEADER = re.compile(r"^configure output for (?P<pkg>[A-Za-z0-9_.+-]+):", re.MULTILINE)
_PRE_CONFIGURE = "Pre-configure errors occured"
_GENERATOR = re.compile(r"^spack-(?P<version>[^\s(]+)(?:\s*\((?P<commit>[0-9a-fA-F]+)\))?")
_SPEC_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)")


def is_cdash_dir(path: Path) -> bool:
    """Whether ``path`` is a directory holding CDash report files (``[<pkg>_]Build.xml``,
    ``Configure.xml`` or ``Update.xml``)."""
    if not path.is_dir():
        return False
    try:
        for child in path.iterdir():
            m = _FILE.match(child.name)
            if m and m.group("step") in CDASH_STEPS and child.is_file():
                return True
    except OSError:
        return False
    return False


def _unescape(text: str | None) -> str:
    """Undo the second escaping Spack applies to ``<Error>``/``<Warning>`` text."""
    return xml.sax.saxutils.unescape(text or "")


def _epoch(elem: Any, tag: str, filename: str, where: str) -> datetime | None:
    value = number(elem.findtext(tag), filename, f"{where}/{tag}", kind=int)
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ReportError(
            f"{value} is not a time", filename=filename, element=f"{where}/{tag}"
        ) from None


def _event(entry: Any, kind: str, filename: str, where: str, rules: Any) -> LogEvent:
    text = _unescape(entry.findtext("Text"))
    line_no = number(entry.findtext("BuildLogLine"), filename, f"{where}/BuildLogLine", kind=int)
    source_file = _unescape(entry.findtext("SourceFile")).strip() or None
    source_line = number(
        entry.findtext("SourceLineNumber"), filename, f"{where}/SourceLineNumber", kind=int
    )
    pre = _unescape(entry.findtext("PreContext"))
    post = _unescape(entry.findtext("PostContext"))
    return LogEvent(
        kind=kind,
        text=text,
        line_no=line_no if line_no is not None else 0,
        source_file=source_file,
        source_line_no=source_line if source_file else None,
        pre_context=pre.split("\n") if pre else [],
        post_context=post.split("\n") if post else [],
        classes=classify(text, rules) if kind == "error" and text else (),
        fingerprint=fingerprint(text),
    )


def _site(root: Any, filename: str) -> dict[str, Any]:
    if root.tag != "Site":
        raise ReportError(
            f"the root element is <{root.tag}>, not <Site>",
            filename=filename,
            element=str(root.tag),
        )
    return dict(root.attrib)


def read_cdash(path: str | Path, *, rules: Any = None) -> ReportRun:
    """Read a CDash report directory written by ``spack install --log-format cdash``.

    Files that are not build reports (``spack test`` reports, other files) are named in
    ``notes``.

    Raises:
        ReportError: the directory holds no CDash build report, or a file is not
            well-formed (truncated) or lacks what Spack always writes; the message names the
            file and the element.
    """
    folder = Path(path)
    dirname = str(folder)
    if not folder.is_dir():
        raise ReportError(
            "not a directory (a CDash report is the --log-file directory)", filename=dirname
        )
    groups: dict[str, dict[str, Path]] = {}
    run = ReportRun(name=folder.name, path=dirname, format="cdash")
    for child in sorted(folder.iterdir()):
        m = _FILE.match(child.name)
        if not child.is_file() or m is None:
            if not child.name.startswith("."):
                run.notes.append((str(child), "not a CDash build report file; not loaded"))
            continue
        step = m.group("step")
        if step not in CDASH_STEPS:
            run.notes.append(
                (str(child), "a `spack test` report (Test/Testing.xml), not a build; not loaded")
            )
            continue
        groups.setdefault(m.group("pkg") or "", {})[step] = child
    if not groups:
        raise ReportError(
            "no CDash build report files ([<pkg>_]Build.xml, Configure.xml, Update.xml)",
            filename=dirname,
        )
    versions: set[str] = set()
    for prefix, files in sorted(groups.items()):
        _read_package(prefix, files, run, rules, versions)
    if len(versions) > 1:
        run.notes.append((dirname, f"files from several Spack releases: {sorted(versions)}"))
    return run


def _read_package(
    prefix: str, files: dict[str, Path], run: ReportRun, rules: Any, versions: set[str]
) -> None:
    site: dict[str, Any] = {}
    phases: list[PhaseRecord] = []
    starts: list[datetime] = []
    build_events: list[LogEvent] = []
    configure_log: str | None = None
    concretization: str | None = None
    build_name: str | None = None
    update_file = files.get("Update")
    if update_file is not None:
        name = str(update_file)
        root = parse_xml(update_file)
        if root.tag != "Update":
            raise ReportError(
                f"the root element is <{root.tag}>, not <Update>",
                filename=name,
                element=str(root.tag),
            )
        build_name = root.findtext("BuildName")
        revision = (root.findtext("Revision") or "").strip()
        if revision:
            run.spack_commit = run.spack_commit or revision
        concretization = (root.findtext("UpdateReturnStatus") or "").strip() or None
        site.setdefault("Name", root.findtext("Site"))
        start = _epoch(root, "StartTime", name, "Update")
        if start is not None:
            starts.append(start)
    configure_file = files.get("Configure")
    if configure_file is not None:
        name = str(configure_file)
        root = parse_xml(configure_file)
        site.update(_site(root, name))
        conf = root.find("Configure")
        if conf is None:
            raise ReportError("the <Configure> element is missing", filename=name, element="Site")
        configure_log = conf.findtext("Log") or ""
        status = number(
            conf.findtext("ConfigureStatus"), name, "Site/Configure/ConfigureStatus", kind=int
        )
        started = _epoch(conf, "StartConfigureTime", name, "Site/Configure")
        finished = _epoch(conf, "EndConfigureTime", name, "Site/Configure")
        if started is not None:
            starts.append(started)
        failed = bool(status) or _PRE_CONFIGURE in configure_log
        phases.append(
            PhaseRecord(
                build_key="",
                name="configure",
                status="ERROR" if failed else "SUCCESS",
                output=configure_log,
                started_at=started,
                finished_at=finished,
                source=name,
            )
        )
    build_file = files.get("Build")
    if build_file is not None:
        name = str(build_file)
        root = parse_xml(build_file)
        site.update(_site(root, name))
        build = root.find("Build")
        if build is None:
            raise ReportError("the <Build> element is missing", filename=name, element="Site")
        started = _epoch(build, "StartBuildTime", name, "Site/Build")
        finished = _epoch(build, "EndBuildTime", name, "Site/Build")
        if started is not None:
            starts.append(started)
        for kind, tag in (("error", "Error"), ("warning", "Warning")):
            for i, entry in enumerate(build.findall(tag)):
                build_events.append(_event(entry, kind, name, f"Site/Build/{tag}[{i}]", rules))
        errored = any(e.kind == "error" for e in build_events)
        # Spack writes an Error's BuildLogLine in the build step's log, which the report leaves out
        phases.append(
            PhaseRecord(
                build_key="",
                name="build",
                status="ERROR" if errored else "SUCCESS",
                output=None,
                started_at=started,
                finished_at=finished,
                source=name,
            )
        )
    build_name = site.get("BuildName") or build_name
    package = prefix or None
    if package is None and configure_log:
        m = _CONFIGURE_HEADER.search(configure_log)
        package = m.group("pkg") if m else None
    guessed = False
    if package is None and build_name:
        head = build_name.rsplit(" - ", 1)[-1] if " - " in build_name else build_name
        m = _SPEC_NAME.match(head)
        package = m.group(1) if m else None
        # the single-package form's BuildName is the install command's root, which need
        # not be the package built (its dependencies may be what this run built)
        guessed = package is not None and " - " not in build_name
    where = str(next(iter(files.values())))
    if package is None:
        raise ReportError(
            "no package name: not in the file name, BuildName or Configure log", filename=where
        )
    root_name: str | None
    if build_name and " - " in build_name:
        root_name = build_name.rsplit(" - ", 1)[0]
    else:
        root_name = build_name
    if root_name:
        m = _SPEC_NAME.match(root_name)
        if m and (m.group(1), None) not in run.roots:
            run.roots.append((m.group(1), None))
    gen = _GENERATOR.match(site.get("Generator") or "")
    spack_version = gen.group("version") if gen else None
    if gen and gen.group("commit"):
        run.spack_commit = run.spack_commit or gen.group("commit")
    if spack_version:
        versions.add(spack_version)
        run.spack_version = run.spack_version or spack_version
    key, dag_hash, version = package, None, None
    stage = re.search(
        rf"spack-stage-{re.escape(package)}-(?P<version>[^/\s]+)-(?P<hash>[a-z2-7]{{32}})\b",
        configure_log or "",
    )
    if stage:
        key = dag_hash = stage.group("hash")
        version = stage.group("version")
    if concretization and not phases:
        run.notes.append(
            (where, f"concretization failed, nothing was built: {concretization[:300]}")
        )
        return
    if not phases:
        run.notes.append(
            (where, f"{package}: an Update.xml only (no build or configure step); not a build")
        )
        return
    for order, phase in enumerate(sorted(phases, key=lambda p: p.name != "configure")):
        phase.build_key = key
        phase.order = order
        if phase.name == "build":
            run.events[(key, "build")] = build_events
    run.phases.extend(phases)
    failed = any(p.status == "ERROR" for p in phases)
    created = min(starts) if starts else None
    if created is not None and (run.started_at is None or created < run.started_at):
        run.started_at = created
    if any(b.key == key for b in run.builds):
        raise ReportError(f"two reports for package {package}", filename=where)
    root_spec = _SPEC_NAME.match(root_name or "")
    if root_spec:
        run.build_roots[key] = root_spec.group(1)
    if guessed:
        run.notes.append(
            (
                where,
                f"{NAME_FROM_BUILDNAME_NOTE} {package!r} (the install command's root; no "
                "Configure.xml names the package built): a guess, which a DAG checks "
                "(dag=... or data.with_dag(...); spackmon: --dag PATH)",
            )
        )
    run.builds.append(
        BuildRecord(
            key=key,
            full_hash=dag_hash or "",
            spec_name=package,
            spec_version=version,
            tags=(NAME_FROM_BUILDNAME,) if guessed else (),
            status="FAILED" if failed else "SUCCESS",
            hostname=site.get("Name") or None,
            host_os=None,
            platform=(site.get("OSName") or "").lower() or None,
            host_target=site.get("VendorString") or None,
            kernel_version=site.get("OSRelease") or None,
            spack_version=spack_version,
            run=run.name,
            source=where,
            created_at=created,
        )
    )
