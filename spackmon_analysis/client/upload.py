"""Upload today's Spack data (reports, install trees, databases, environments) to a server.

:func:`upload_sources` is what :meth:`SpackMonitorClient.upload
<spackmon_analysis.client.SpackMonitorClient.upload>` does: it reads the paths with the
loaders' :func:`~spackmon_analysis.loaders.detect.load` (so every kind ``load()`` detects,
in a mixed tree, with the same merges and the packages a report leaves out found from a
DAG), turns the builds into the requests of the plain ``ms1`` protocol, one
:class:`~spackmon_analysis.loaders.savelocal.SaveLocalRun` per run of the data, and sends
them through the replay engine (:func:`~.replay.replay_runs`): specs, then per build
``builds/new``, its phases in order (``builds/phases/update`` with the log as output, from
which the server derives the errors and warnings) and its status (``builds/update``).
Idempotent like the replay: a second upload of the same files creates nothing. A build
of no run (an install prefix, a stage directory, a database record) is a run of its own
date, so the server dates each attempt as the loaders date the build (``run_time``).
The spec documents it sends (read again from the sources, or written from the frames) are
made in :mod:`.uploadspecs`.

Decisions (``docs/client.md``, "Uploading today's Spack data"):

- spec documents: one per root of what a run's builds need, in the spec-file format of
  Spack 0.22 (``_meta.version`` 4). Each node goes as its source wrote it (every hash,
  parameters, patches, external path, the edges' types and virtuals; the sources' spec
  files, prefixes' ``spec.json``, ``spack.lock`` and install database are read again by
  :func:`~.uploadspecs.source_graphs`: the frames keep only what analysis needs), so the
  server's check of a spec against the one it holds for the same hash passes. A node no such source
  holds is written from the ``specs``/``dependencies`` frames (name, version,
  architecture, compiler, namespace, variants from ``variants_text``, ``external``, the
  hashes, deptypes). A build whose spec is not in any DAG (a JUnit report given alone)
  gets a one-node document from what the report carries: name, DAG hash, version when
  known, architecture and compiler; its dependencies are then unknown;
- a build the source names without a DAG hash (a CDash package that no DAG resolved) is
  not sent: the server identifies a build by its spec's hash; the summary names it;
- packages a JUnit report lists as ``<skipped/>`` (already installed, external) are not
  builds of that run and are not sent as builds (a ``NOTRUN`` build would overwrite the
  status of the build that installed them); the summary names them; their specs go up
  as dependencies of the builds that need them;
- the protocol has no field for a build time, a run's name, a JUnit ``time`` or the
  failure message and traceback of a report: those stay in the files (each run's time goes
  as the replay engine's ``run_time``: a server that keeps attempts dates the run's
  attempts by it);
- a build environment field or Spack version the source does not carry (JUnit: hostname,
  kernel version, Spack version) is taken from ``hostname=``/``kernel_version=``/
  ``spack_version=`` (they fill, never override), else sent as ``"unknown"``; the
  summary's notes say how many builds went with ``"unknown"``;
- a phase whose log the source did not keep but whose events it lists (a CDash
  ``Build.xml``: ``<Error>``/``<Warning>`` entries) is sent with an output made of those
  entries (context before, the line, context after), so the server's log parser finds
  them again.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..records import BUILD_STATUSES, ENVIRONMENT_FIELDS, BuildRecord, PhaseRecord
from ..spackfacts import short_hash
from .replay import replay_runs
from .summary import ReplaySummary
from .uploadspecs import _Dag, _text, _text_or_none, source_graphs, spec_file_documents

if TYPE_CHECKING:  # pragma: no cover
    from ..loaders.assemble import FrameSet
    from .endpoints import SpackMonitorClient

__all__ = ["upload_sources", "upload_runs", "source_graphs", "UNKNOWN"]

#: What a build environment field or Spack version the source does not carry is sent as.
UNKNOWN = "unknown"


def upload_sources(
    client: SpackMonitorClient,
    paths: Sequence[str | os.PathLike[str]],
    *,
    dag: Sequence[Any] = (),
    spack_version: str | None = None,
    hostname: str | None = None,
    kernel_version: str | None = None,
    tags: str | Iterable[str] | None = None,
    show: bool = False,
    workers: int = 4,
    batch: bool = True,
) -> ReplaySummary:
    """Load ``paths`` (anything :func:`~spackmon_analysis.loaders.detect.load` reads), add
    the DAG of ``dag`` and send the builds to ``client``'s server; see the module.
    ``batch``: use the server's batch extension when it advertises one, as the replay
    does (the same rows either way)."""
    if not paths:
        raise ConfigError("upload: give at least one path (a report, install tree, ...)")
    from ..loaders.detect import load
    from ..loaders.reports import with_dag_frames

    data = load(*paths) if len(paths) > 1 else load(paths[0])
    if dag:
        data = with_dag_frames(data, *dag)
    fill = {"spack_version": spack_version, "hostname": hostname, "kernel_version": kernel_version}
    graphs = source_graphs([*paths, *dag])
    runs, left_out, notes = upload_runs(
        data, fill=fill, tags=tags, graphs=graphs, spec_files=spec_file_documents(paths)
    )
    summary = replay_runs(client, runs, show=show, workers=workers, title="Upload", batch=batch)
    summary.left_out.extend(left_out)
    summary.notes.extend(notes)
    return summary


def upload_runs(
    data: FrameSet | Any,
    *,
    fill: Mapping[str, str | None] | None = None,
    tags: str | Iterable[str] | None = None,
    graphs: Sequence[Any] = (),
    spec_files: Sequence[tuple[str, Any, Any]] = (),
) -> tuple[list[Any], list[tuple[str, str]], list[tuple[str, str]]]:
    """The loaded ``data`` (a frame set or ``MonitorData``) as runs for the replay engine:
    ``(runs, left_out, notes)``; ``left_out`` names every build or spec not sent and why,
    ``notes`` are the loaders' notes and problems and the upload's own decisions.
    ``graphs``: the spec graphs of the sources (:func:`source_graphs`), whose nodes are
    sent as written; a node none of them holds is written from the frames."""
    import pandas as pd

    from ..loaders.assemble import fill_dag_hashes, frame_or_empty
    from ..loaders.savelocal import SaveLocalRun

    fill = dict(fill or {})
    extra_tags = _tag_list(tags)
    builds = frame_or_empty("builds", data.builds).copy()
    specs = frame_or_empty("specs", data.specs)
    deps = frame_or_empty("dependencies", data.dependencies)
    phases = frame_or_empty("phases", data.phases)
    events = frame_or_empty("events", data.events)
    if len(builds):
        fill_dag_hashes(builds, specs)
    left_out: list[tuple[str, str]] = []
    notes: list[tuple[str, str]] = [(str(i), str(m)) for i, m in data.problems]
    notes += [(str(i), str(m)) for i, m in data.notes]
    dag = _Dag(specs, deps, graphs)

    phases_of: dict[str, list[Any]] = {}
    if len(phases):
        ordered = phases.assign(_o=pd.to_numeric(phases["order"], errors="coerce"))
        for row in ordered.sort_values("_o", kind="stable").itertuples(index=False):
            phases_of.setdefault(str(row.build), []).append(row)
    events_of: dict[tuple[str, str], list[Any]] = {}
    for row in events.itertuples(index=False):
        events_of.setdefault((str(row.build), str(row.phase)), []).append(row)

    # one run per run of the data (a report, a save-local run); a build of no run (an
    # install prefix, a stage directory, a database record) is a run of its own date: the
    # server dates each run's attempts by it (``run_time``), as the loaders date the build
    groups: dict[str, list[Any]] = {}
    for row in builds.itertuples(index=False):
        group = _text(row.run)
        if group is None:
            when = _time(row.created_at)
            group = f"{_text(row.source) or 'other'} builds"
            if when is not None:
                group += f" {when.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
        groups.setdefault(group, []).append(row)

    from ..spec import load_spec

    unknown: dict[str, int] = {}
    runs: list[Any] = []
    sent: set[str] = set()
    for run_name, rows in groups.items():
        run = SaveLocalRun(path=Path(run_name), name=run_name)
        stamps = [utc for utc in (_time(r.run_time) or _time(r.created_at) for r in rows) if utc]
        run.timestamp = min(stamps) if stamps else None
        needed: dict[str, set[str]] = {}  # spack version -> spec keys this run's builds need
        for row in rows:
            key = str(row.build)
            label = _label(row)
            tag_list = tuple(str(t) for t in (row.tags or ()))
            full_hash = _text(row.full_hash)
            if "skipped" in tag_list:
                why = "already installed or external"  # what <skipped/> means; a DAG tells
                if "external" in tag_list:
                    why = "external"
                elif "installed" in tag_list:
                    why = "already installed"
                left_out.append(
                    (
                        f"{run_name}/{label}",
                        f"not sent: {why} (a report's <skipped/>), not a build of this run",
                    )
                )
                continue
            if not full_hash:
                left_out.append(
                    (
                        f"{run_name}/{label}",
                        "not sent: the source names no DAG hash for it and no DAG resolved "
                        "one (give a spec file, spack.lock or install tree that holds it)",
                    )
                )
                continue
            body: dict[str, Any] = {}
            for name in (*ENVIRONMENT_FIELDS, "spack_version"):
                value = _text(getattr(row, name)) or _text(fill.get(name))
                if value is None:
                    value = UNKNOWN
                    unknown[name] = unknown.get(name, 0) + 1
                body[name] = value
            body["full_hash"] = full_hash
            all_tags = list(dict.fromkeys([*tag_list, *extra_tags]))
            if all_tags:
                body["tags"] = ",".join(all_tags)
            version = body["spack_version"]
            node = dag.key_of(full_hash)
            if node is None:
                dag.add_minimal(full_hash, row)
                node = full_hash
            needed.setdefault(version, set()).add(node)
            status = _text(row.status)
            record = BuildRecord(
                key=key,
                full_hash=node,  # the spec's key: the full_hash the server stores and filters
                spec_name=_text(row.spec_name),
                spec_version=_text(row.spec_version),
                status=status,
                spack_version=version,
                tags=tuple(all_tags),
                run=run_name,
                source=f"{label}: build",
            )
            run.builds.append(record)
            run.build_documents[key] = body
            sent_phases = 0
            for phase in phases_of.get(key, []):
                phase_status = _text(phase.status)
                if phase_status is None:  # ms1 needs one; inventing SUCCESS would mislead
                    left_out.append(
                        (
                            f"{run_name}/{label}: {phase.name} phase",
                            "not sent: the source gives the phase no status",
                        )
                    )
                    continue
                output = _text_or_none(phase.output)
                if not output:
                    output = _events_log(events_of.get((key, str(phase.name)), [])) or output
                run.phases.append(
                    PhaseRecord(
                        build_key=key,
                        name=str(phase.name),
                        status=phase_status,
                        output=output,
                        order=sent_phases,
                        source=f"{label}: {phase.name} phase",
                    )
                )
                sent_phases += 1
            if status in BUILD_STATUSES:
                run.status_files[key] = f"{label}: status"
        if not run.builds:
            continue
        runs.append(run)
        # each run sends the specs of its own builds (as a save-local run holds its own
        # spec files): a build starts once a document holding it is on the server
        for version, keys in sorted(needed.items()):
            for root, document in dag.documents(keys):
                label = f"spec {dag.label(root)}"
                run.specs.append((load_spec(document), version, label))
                run.spec_documents.append((document, version, label))
                sent.update(dag.closure([root]))

    # spec files given (or found in a folder) whose specs no build sent: each goes to
    # specs/new as it is written, as `spackmon upload SPECFILE` sends one
    if spec_files:
        alone = SaveLocalRun(path=Path("spec files"), name="spec files")
        for where, document, graph in spec_files:
            spec_keys = [dag.key_of(k) or k for k in graph.nodes]
            if spec_keys and all(k in sent for k in spec_keys):
                continue  # sent as the DAG of a build
            version = graph.spack_version or _text(fill.get("spack_version"))
            if version is None:
                left_out.append(
                    (
                        where,
                        "not sent: the spec file carries no Spack version (pass "
                        "--spack-version / spack_version=)",
                    )
                )
                continue
            alone.specs.append((graph, version, where))
            alone.spec_documents.append((document, version, where))
            sent.update(spec_keys)
        if alone.spec_documents:
            runs.append(alone)
    unused = [k for k in dag.keys if k not in sent and not dag.is_minimal(k)]
    if unused:
        names = ", ".join(dag.label(k) for k in unused[:8]) + (", ..." if len(unused) > 8 else "")
        left_out.append(
            (
                f"{len(unused)} spec(s)",
                f"not sent: no build of this upload is of them or depends on them ({names}); "
                "the server keeps the specs of builds",
            )
        )
    for name, count in unknown.items():
        notes.append(
            (
                name,
                f"{count} build(s) sent with {name} {UNKNOWN!r}: the source does not carry it"
                + (f" (pass --{name.replace('_', '-')})" if name in fill else ""),
            )
        )
    return runs, left_out, notes


def _tag_list(tags: str | Iterable[str] | None) -> list[str]:
    if tags is None:
        return []
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    return [str(t).strip() for t in items if str(t).strip()]


def _time(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
        stamp = pd.Timestamp(value).to_pydatetime()
    except (TypeError, ValueError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _label(row: Any) -> str:
    name = _text(row.spec_name) or "?"
    version = _text(row.spec_version)
    text = f"{name}@{version}" if version else name
    hash_ = _text(row.dag_hash) or _text(row.full_hash)
    return f"{text} /{short_hash(hash_)}" if hash_ else text


def _events_log(rows: list[Any]) -> str | None:
    """A log made of the events a source lists without their log (CDash ``<Error>``
    entries): per event its context before, its line and its context after."""
    if not rows:
        return None
    lines: list[str] = []
    for row in rows:
        for part in (row.pre_context, [row.text], row.post_context):
            for line in part if isinstance(part, list | tuple) else ():
                if line is not None:
                    lines.append(str(line))
    return "\n".join(lines) + "\n" if lines else None
