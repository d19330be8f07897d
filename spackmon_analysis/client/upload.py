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

Decisions (``docs/client.md``, "Uploading today's Spack data"):

- spec documents: one per root of what a run's builds need, in the spec-file format of
  Spack 0.22 (``_meta.version`` 4). Each node goes as its source wrote it (every hash,
  parameters, patches, external path, the edges' types and virtuals; the sources' spec
  files, prefixes' ``spec.json``, ``spack.lock`` and install database are read again by
  :func:`source_graphs`: the frames keep only what analysis needs), so the server's check
  of a spec against the one it holds for the same hash passes. A node no such source
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError, SpackmonError
from ..records import BUILD_STATUSES, BuildRecord, PhaseRecord
from ..spackfacts import short_hash
from .replay import replay_runs
from .summary import ReplaySummary

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from ..loaders.assemble import FrameSet
    from .endpoints import SpackMonitorClient

__all__ = ["upload_sources", "upload_runs", "source_graphs", "UNKNOWN"]

#: What a build environment field or Spack version the source does not carry is sent as.
UNKNOWN = "unknown"
_ENV_FIELDS = ("host_os", "platform", "host_target", "hostname", "kernel_version")


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


def source_graphs(paths: Sequence[Any]) -> list[Any]:
    """The spec graphs of the spec sources among ``paths`` and in the folders they name
    (spec files, save-local runs' spec files, install prefixes' ``spec.json``,
    ``spack.lock`` files, install databases), read again so that an upload sends each node
    as its source wrote it (parameters, patches, external paths, every hash): the frames
    keep only what analysis needs. A source that cannot be read here was read (or named)
    by :func:`~spackmon_analysis.loaders.detect.load` already, and its nodes are written
    from the frames."""
    graphs: list[Any] = []
    for path in paths:
        if hasattr(path, "nodes") and hasattr(path, "edges"):  # a SpecGraph given as DAG
            graphs.append(path)
        elif isinstance(path, str | os.PathLike):
            graphs.extend(_graphs_of(Path(path).expanduser()))
    return graphs


def spec_file_documents(paths: Sequence[Any]) -> list[tuple[str, Any, Any]]:
    """``(path, document, graph)`` of each spec file among ``paths`` and in the folders they
    name (the files :func:`~spackmon_analysis.loaders.detect.load` reads as spec files; a
    save-local run's own spec files are the run's), read under the upload rules; a file
    that cannot be read is left out here (the loader named it in ``notes``)."""
    from ..loaders import detect
    from ..spec import load_spec
    from .specfiles import read_spec_document

    found: list[tuple[Path, Path | None]] = []
    for path in paths:
        if not isinstance(path, str | os.PathLike):
            continue
        target = Path(path).expanduser()
        if target.is_file() and detect.is_spec_file(target):
            found.append((target, None))
        elif target.is_dir() and not detect.is_report(target):
            try:
                inputs = detect.find_inputs(target)
            except _READ_ERRORS:
                continue
            found += [(f, target) for f in inputs.get(detect.SPECFILES.name, [])]
    out: list[tuple[str, Any, Any]] = []
    for spec_file, root in found:
        try:
            document = read_spec_document(spec_file, within=root)
            out.append((str(spec_file), document, load_spec(document, name=str(spec_file))))
        except _READ_ERRORS:
            continue
    return out


def _graphs_of(target: Path) -> list[Any]:
    from ..loaders import detect
    from ..loaders.junit import is_junit_file
    from ..spec import load_spec

    try:
        if target.is_file():
            if target.name == "spack.lock":
                return _environment_graphs([target])
            if target.name == "index.json" and target.parent.name == ".spack-db":
                return _database_graphs([target.parent])
            if target.suffix.lower() in _SPEC_SUFFIXES and not is_junit_file(target):
                return [load_spec(target)]
            return []
        if not target.is_dir():
            return []
        found = detect.find_inputs(target)
    except _READ_ERRORS:
        return []
    graphs: list[Any] = []
    graphs += _save_local_graphs(found.get(detect.SAVE_LOCAL.name, []))
    graphs += _prefix_graphs(found.get(detect.INSTALLS.name, []))
    graphs += _environment_graphs(found.get(detect.ENVIRONMENT.name, []))
    graphs += _database_graphs(found.get(detect.DATABASE.name, []))
    graphs += [graph for _, _, graph in spec_file_documents([target])]
    return graphs


_SPEC_SUFFIXES = (".json", ".yaml", ".yml", ".gz", ".sig")
#: What reading a source's spec documents again may raise (the source is then left to
#: the frames, which its loader read or named already).
_READ_ERRORS = (SpackmonError, OSError, ValueError, KeyError, TypeError)
_Item = TypeVar("_Item")


def _readable_graphs(items: Iterable[_Item], read: Callable[[_Item], Any]) -> list[Any]:
    """``read(item)`` for each item, in order; an item that cannot be read again
    (``_READ_ERRORS``) or reads as None is left out (its loader read or named it)."""
    graphs: list[Any] = []
    for item in items:
        try:
            graph = read(item)
        except _READ_ERRORS:
            continue
        if graph is not None:
            graphs.append(graph)
    return graphs


def _save_local_graphs(runs: list[Path]) -> list[Any]:
    """The graphs of the runs' spec files only (``spec-*-config.json``: upload bodies),
    under the upload rules; not the whole run again."""
    from ..loaders.savelocal import SPEC_FILE
    from ..spec import load_spec
    from .specfiles import read_spec_document

    spec_files = [
        (spec_file, run)
        for run in runs
        for spec_file in sorted(run.iterdir())
        if SPEC_FILE.match(spec_file.name) and spec_file.is_file()
    ]
    return _readable_graphs(
        spec_files, lambda found: load_spec(read_spec_document(found[0], within=found[1]))
    )


def _prefix_graphs(prefixes: list[Path]) -> list[Any]:
    from ..spec import load_spec
    from .specfiles import _install_spec_document

    def read(prefix: Path) -> Any:
        document = _install_spec_document(prefix)  # None for a stage directory
        return None if document is None else load_spec(document)

    return _readable_graphs(prefixes, read)


def _environment_graphs(locks: list[Path]) -> list[Any]:
    from ..loaders.environment import environment_graph

    return _readable_graphs(locks, lambda lock: environment_graph(lock)[0])


def _database_graphs(folders: list[Path]) -> list[Any]:
    from ..loaders.database_index import _read_index

    def read(folder: Path) -> Any:
        index = folder / "index.json"
        return _read_index(index, folder)[1] if index.is_file() else None

    return _readable_graphs(folders, read)


# ---------------------------------------------------------------------------------
# frames -> runs of requests


def _text(value: Any) -> str | None:
    """``value`` as stripped text; None for a missing value (None, NaN, ``pd.NA``) or ''."""
    raw = _text_or_none(value)
    if raw is None:
        return None
    return raw.strip() or None


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
            for name in (*_ENV_FIELDS, "spack_version"):
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


def _text_or_none(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if value is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return str(value)


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


def _variants(text: str | None) -> dict[str, Any]:
    """``parameters`` from ``variants_text`` (``"+shared~pic build_type=Release"``): the
    inverse of :func:`~spackmon_analysis.spackfacts.variants_text` (a value holding a comma
    is read as the list it was written from)."""
    params: dict[str, Any] = {}
    if not text:
        return params
    for part in text.split(" "):
        if not part:
            continue
        if "=" in part and part[0] not in "+~":
            name, _, value = part.partition("=")
            params[name] = value.split(",") if "," in value else value
            continue
        name, flag = "", None
        for char in part + "+":
            if char in "+~":
                if flag is not None and name:
                    params[name] = flag == "+"
                flag, name = char, ""
            else:
                name += char
    return params


class _Dag:
    """The loaded specs and dependencies, and the spec documents written from them."""

    def __init__(
        self, specs: pandas.DataFrame, deps: pandas.DataFrame, graphs: Sequence[Any] = ()
    ) -> None:
        #: graph key -> the node as its source wrote it; (parent, child) -> the edge
        self.written: dict[str, Any] = {}
        self.edges: dict[tuple[str, str], Any] = {}
        for graph in graphs:
            for key, spec_node in graph.nodes.items():
                self.written.setdefault(key, spec_node)
            for edge in graph.edges:
                self.edges.setdefault((edge.parent, edge.child), edge)
        self.rows: dict[str, dict[str, Any]] = {}
        self.lookup: dict[str, str] = {}
        self.minimal: set[str] = set()
        columns = [str(c) for c in specs.columns]
        for values in specs.itertuples(index=False, name=None):
            spec = dict(zip(columns, values, strict=True))
            key = _text(spec["full_hash"])
            if key is None or key in self.rows:
                continue
            self.rows[key] = spec
            for value in (key, _text(spec["dag_hash"]), _text(spec["build_hash"])):
                if value:
                    self.lookup.setdefault(value, key)
        self.children: dict[str, list[tuple[str, list[str]]]] = {}
        self.parents: dict[str, set[str]] = {}
        for row in deps.itertuples(index=False):
            parent = self.lookup.get(_text(row.parent_hash) or "")
            child = self.lookup.get(_text(row.child_hash) or "")
            if parent is None or child is None:
                continue
            types = [t for t in (_text(row.deptypes) or "").replace(",", " ").split() if t]
            if all(c != child for c, _ in self.children.get(parent, [])):
                self.children.setdefault(parent, []).append((child, types))
                self.parents.setdefault(child, set()).add(parent)

    @property
    def keys(self) -> list[str]:
        return list(self.rows)

    def key_of(self, any_hash: str) -> str | None:
        return self.lookup.get(any_hash)

    def is_minimal(self, key: str) -> bool:
        return key in self.minimal

    def add_minimal(self, full_hash: str, build: Any) -> None:
        """A one-node spec from what a build row carries (no DAG holds it)."""
        self.minimal.add(full_hash)
        compiler = _text(getattr(build, "compiler", None))
        cname, _, cversion = (compiler or "").partition("@")
        self.rows[full_hash] = {
            "full_hash": full_hash,
            "name": _text(build.spec_name) or "unknown",
            "version": _text(build.spec_version),
            "compiler_name": cname or None,
            "compiler_version": cversion or None,
            "platform": _text(build.platform),
            "os": _text(build.host_os),
            "target": _text(build.host_target),
            "namespace": None,
            "external": False,
            "dag_hash": _text(build.dag_hash) or full_hash,
            "build_hash": None,
            "variants_text": None,
        }
        self.lookup.setdefault(full_hash, full_hash)

    def label(self, key: str) -> str:
        row = self.rows.get(key, {})
        name = _text(row.get("name")) or "?"
        version = _text(row.get("version"))
        text = f"{name}@{version}" if version else name
        return f"{text} /{short_hash(_text(row.get('dag_hash')) or key)}"

    def closure(self, keys: Iterable[str]) -> list[str]:
        """``keys`` and everything they depend on, each once, parents first."""
        seen: dict[str, None] = {}
        stack = list(reversed(list(keys)))
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen[key] = None
            stack.extend(reversed([c for c, _ in self.children.get(key, [])]))
        return list(seen)

    def documents(self, keys: set[str]) -> list[tuple[str, dict[str, Any]]]:
        """One spec document per root of what ``keys`` need: ``(root key, document)``."""
        needed = set(self.closure(sorted(keys)))
        roots = [k for k in sorted(needed) if not (self.parents.get(k, set()) & needed)]
        return [(root, self.document(root)) for root in roots]

    def document(self, root: str) -> dict[str, Any]:
        return {
            "spec": {"_meta": {"version": 4}, "nodes": [self.node(k) for k in self.closure([root])]}
        }

    def _hash(self, key: str) -> str:
        """The hash a dependency entry names ``key`` by (one its document node carries)."""
        written = self.written.get(key)
        if written is not None:
            return str(written.hashes.get("hash") or written.hashes.get("full_hash") or key)
        return _text(self.rows[key].get("dag_hash")) or key

    def _dependencies(self, key: str) -> list[dict[str, Any]]:
        entries = []
        for child, types in self.children.get(key, []):
            edge = self.edges.get((key, child))
            deptypes = list(edge.deptypes) if edge is not None else types
            virtuals = list(edge.virtuals) if edge is not None else []
            entries.append(
                {
                    "name": _text(self.rows[child].get("name")) or "unknown",
                    "hash": self._hash(child),
                    "parameters": {"deptypes": deptypes, "virtuals": virtuals},
                }
            )
        return entries

    def node(self, key: str) -> dict[str, Any]:
        """The document node of ``key``: as its source wrote it (every hash, parameters,
        external path), else written from the frames' row."""
        written = self.written.get(key)
        if written is not None:
            return self._written_node(written)
        row = self.rows[key]
        node: dict[str, Any] = {"name": _text(row.get("name")) or "unknown"}
        version = _text(row.get("version"))
        if version:
            node["version"] = version
        arch = {
            "platform": _text(row.get("platform")),
            "platform_os": _text(row.get("os")),
            "target": _text(row.get("target")),
        }
        if any(arch.values()):
            node["arch"] = {k: v for k, v in arch.items() if v}
        cname, cversion = _text(row.get("compiler_name")), _text(row.get("compiler_version"))
        if cname:
            node["compiler"] = {"name": cname, "version": cversion or ""}
        namespace = _text(row.get("namespace"))
        if namespace:
            node["namespace"] = namespace
        params = _variants(_text(row.get("variants_text")))
        if params or _text(row.get("variants_text")) == "":
            node["parameters"] = params
        if _true(row.get("external")):
            node["external"] = True
        node["hash"] = self._hash(key)
        if key != node["hash"]:
            node["full_hash"] = key
        build_hash = _text(row.get("build_hash"))
        if build_hash and build_hash not in (key, node["hash"]):
            node["build_hash"] = build_hash
        dependencies = self._dependencies(key)
        if dependencies:
            node["dependencies"] = dependencies
        return node

    def _written_node(self, spec: Any) -> dict[str, Any]:
        node: dict[str, Any] = {"name": spec.name}
        if spec.version:
            node["version"] = spec.version
        arch = {"platform": spec.platform, "platform_os": spec.os, "target": spec.target}
        if any(arch.values()):
            node["arch"] = {k: v for k, v in arch.items() if v}
        if spec.compiler_name:
            node["compiler"] = {"name": spec.compiler_name, "version": spec.compiler_version or ""}
        if spec.namespace:
            node["namespace"] = spec.namespace
        node["parameters"] = dict(spec.parameters or {})
        if spec.patches and "patches" not in node["parameters"]:
            node["patches"] = list(spec.patches)
        if spec.external:
            node["external"] = {"path": spec.external_path} if spec.external_path else True
        for name in ("hash", "full_hash", "build_hash", "package_hash"):
            if spec.hashes.get(name):
                node[name] = spec.hashes[name]
        if "hash" not in node and "full_hash" not in node:
            node["hash"] = spec.key
        dependencies = self._dependencies(spec.key)
        if dependencies:
            node["dependencies"] = dependencies
        return node


def _true(value: Any) -> bool:
    """True for a true boolean cell (False for False, NA or a missing value)."""
    return _text_or_none(value) is not None and bool(value)
