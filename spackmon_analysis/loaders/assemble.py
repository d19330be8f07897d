"""What every loader shares: records and rows -> the frame contract's columns.

A loader turns its input into a :class:`FrameSet`: the five frames ``specs``,
``dependencies``, ``builds``, ``phases`` and ``events`` with the columns of
:data:`~spackmon_analysis.records.FRAME_COLUMNS` (dtypes are not enforced here:
:class:`~spackmon_analysis.frames.MonitorData` conforms them), plus the source label, the
failure-class rules used, ``problems`` (inputs that could not be used) and ``notes`` (inputs
left out on purpose). :class:`Assembler` collects spec graphs, builds and phases (as the
records of :mod:`~spackmon_analysis.records` give them) and parses phase logs into events.
Nothing here imports :mod:`~spackmon_analysis.frames`: ``MonitorData`` calls the loaders.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..logs import LogEvent, Rules, event_columns, load_rules, parse_log
from ..records import FRAME_COLUMNS, FRAME_NAMES, PhaseRecord
from ..spackfacts import build_outcome

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from ..spec import SpecGraph

__all__ = [
    "FrameSet",
    "Assembler",
    "concat_frames",
    "fill_dag_hashes",
    "phase_dict",
    "utc",
    "resolve_rules",
    "object_column",
]


@dataclass
class FrameSet:
    """What a loader returns: the five frames (contract columns, dtypes not yet conformed;
    ``None`` for an empty frame), a label of the source, the rules used for the events,
    ``problems`` and ``notes`` as ``(input, message)`` pairs.
    ``MonitorData.from_frames`` turns it into a :class:`~spackmon_analysis.frames.MonitorData`."""

    specs: pandas.DataFrame | None = None
    dependencies: pandas.DataFrame | None = None
    builds: pandas.DataFrame | None = None
    phases: pandas.DataFrame | None = None
    events: pandas.DataFrame | None = None
    source: str = ""
    rules: Rules | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    #: The history frames (``attempts``, ``attempt_phases``, ``attempt_events``) of a source
    #: that keeps every attempt of a build (a server), a dict of them; None: one attempt per
    #: build row. (Typed ``Any``: loaders build a FrameSet with ``**frames``, a dict of frames.)
    attempts: Any = None

    def frames(self) -> dict[str, pandas.DataFrame | None]:
        """The five frames by name."""
        return {name: getattr(self, name) for name in FRAME_NAMES}


def object_column(values: list[Any]) -> Any:
    import numpy as np

    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def utc(value: Any) -> Any:
    """A naive datetime taken as UTC (Spack's log stamps carry no zone)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def resolve_rules(rules: Rules | str | os.PathLike[str] | None) -> Rules | None:
    if rules is None or isinstance(rules, Rules):
        return rules
    return load_rules(rules)


class Assembler:
    """Collects spec nodes, edges, builds, phases and events as column lists."""

    def __init__(self, *, keep_output: bool, rules: Rules | None, parse_events: bool = True):
        self.keep_output = keep_output
        self.rules = rules
        self.parse_events = parse_events
        self.specs: dict[str, tuple] = {}
        self.edges: dict[tuple[str, str], tuple] = {}
        self.hash_index: dict[str, str] = {}
        self.builds: list[dict[str, Any]] = []
        self.build_keys: set[str] = set()
        self.phases: list[tuple] = []
        #: the phases' log texts, apart from their rows (:meth:`_output_column`): the
        #: texts not yet turned into an Arrow chunk, and the chunks
        self._outputs: list[str | None] = []
        self._output_chunks: list[Any] = []
        self._arrow = _arrow_strings()
        self.events: list[LogEvent] = []
        self.event_build: list[str] = []
        self.event_phase: list[str] = []
        self.problems: list[tuple[str, str]] = []
        #: ``(build/phase, message)`` for phase logs whose events were capped by parse_log
        self.notes: list[tuple[str, str]] = []

    # -- specs ---------------------------------------------------------------------
    def add_spec_row(self, key: str, row: tuple, hashes: Iterable[str | None]) -> None:
        if key not in self.specs:
            self.specs[key] = row
        for value in hashes:
            if value:
                self.hash_index.setdefault(value, key)
        self.hash_index.setdefault(key, key)

    def add_graph(self, graph: SpecGraph) -> None:
        """The spec and dependency rows of ``graph`` (``SpecGraph.frame_rows``, the one
        conversion of a spec into these frames); a node or edge seen before is kept once."""
        spec_rows, dependency_rows = graph.frame_rows()
        for row in spec_rows:
            key = row[0]
            if key not in self.specs:
                self.specs[key] = row
            self.hash_index.setdefault(key, key)
        for value, key in graph.hash_index().items():
            self.hash_index.setdefault(value, key)
        for row in dependency_rows:
            pair = (row[0], row[1])
            if pair not in self.edges:
                self.edges[pair] = row

    def resolve(self, full_hash: str | None) -> str | None:
        if not full_hash:
            return full_hash
        return self.hash_index.get(full_hash, full_hash)

    # -- builds and phases -----------------------------------------------------------
    def add_build(
        self,
        *,
        key: str,
        build_id: int | None,
        run: str | None,
        run_time: Any,
        full_hash: str | None,
        spec_name: str | None,
        spec_version: str | None,
        status: str | None,
        env: Mapping[str, Any],
        tags: Iterable[str],
        owner: str | None,
        created_at: Any,
        source: str,
        phases: list[dict[str, Any]],
        compiler: str | None = None,
        dag_hash: str | None = None,
    ) -> None:
        """``phases``: dicts with name, status, output, duration, started_at,
        finished_at, phase_id, output_size, order, first_line (the line of the combined
        ``spack-build-out.txt`` where the output starts, when cut from it) and optionally events
        (a list of LogEvent; else the output is parsed); ``dag_hash``: the build's DAG
        hash (default: its spec's)."""
        if key in self.build_keys:
            self.problems.append((key, "duplicate build key; later copy skipped"))
            return
        self.build_keys.add(key)
        durations = []
        for index, phase in enumerate(phases):
            output = phase.get("output")
            size = phase.get("output_size")
            if size is None:
                size = len(output) if output is not None else 0
            duration = phase.get("duration")
            if duration is not None:
                durations.append(float(duration))
            order = phase.get("order")
            self.phases.append(
                (
                    key,
                    phase.get("phase_id"),
                    phase["name"],
                    index if order is None else order,
                    phase.get("status"),
                    size,
                    duration,
                    utc(phase.get("started_at")),
                    utc(phase.get("finished_at")),
                    None,  # the output: kept apart, in self._outputs
                    phase.get("first_line"),
                )
            )
            self._outputs.append(output if self.keep_output else None)
            if self._arrow and len(self._outputs) >= _OUTPUT_CHUNK:
                self._flush_outputs()
            events = phase.get("events")
            if events is None and self.parse_events and output:
                events = parse_log(output, rules=self.rules)
                if events.dropped:
                    self.notes.append((f"{key}/{phase['name']}", events.note() or ""))
            for event in events or ():
                self.events.append(event)
                self.event_build.append(key)
                self.event_phase.append(phase["name"])
        self.builds.append(
            {
                "build": key,
                "build_id": build_id,
                "run": run,
                "run_time": utc(run_time),
                "full_hash": full_hash,
                "dag_hash": dag_hash,
                "spec_name": spec_name,
                "spec_version": spec_version,
                "status": status,
                "outcome": build_outcome(status, (p.get("status") for p in phases)),
                "host_os": env.get("host_os"),
                "platform": env.get("platform"),
                "host_target": env.get("host_target"),
                "hostname": env.get("hostname"),
                "kernel_version": env.get("kernel_version"),
                "spack_version": env.get("spack_version"),
                "tags": tuple(tags or ()),
                "owner": owner,
                "created_at": utc(created_at),
                "duration": sum(durations) if durations else float("nan"),
                "source": source,
                "compiler": compiler,
            }
        )

    # -- frames ------------------------------------------------------------------------
    def result(self, source: str, *, notes: list[tuple[str, str]] | None = None) -> FrameSet:
        """The collected frames as a :class:`FrameSet` labelled ``source``; ``notes`` go
        before the notes collected here (capped event lists)."""
        return FrameSet(
            **self.frames(),
            source=source,
            rules=self.rules,
            problems=list(self.problems),
            notes=[*(notes or ()), *self.notes],
        )

    def frames(self) -> dict[str, pandas.DataFrame]:
        import pandas as pd

        spec_cols = [c for c, _, _ in FRAME_COLUMNS["specs"]]
        specs = pd.DataFrame.from_records(list(self.specs.values()), columns=spec_cols)
        dep_cols = [c for c, _, _ in FRAME_COLUMNS["dependencies"]]
        deps = pd.DataFrame.from_records(list(self.edges.values()), columns=dep_cols)

        build_cols = [c for c, _, _ in FRAME_COLUMNS["builds"]]
        compilers = {k: row[3] for k, row in self.specs.items()}
        data: dict[str, Any] = {c: [b.get(c) for b in self.builds] for c in build_cols}
        data["compiler"] = [compilers.get(b["full_hash"]) or b["compiler"] for b in self.builds]
        data["tags"] = object_column([b["tags"] for b in self.builds])
        for column in ("run_time", "created_at"):
            data[column] = pd.Series(data[column], dtype=object)
        builds = pd.DataFrame({c: data[c] for c in build_cols})

        phase_cols = [c for c, _, _ in FRAME_COLUMNS["phases"]]
        phases = pd.DataFrame.from_records(self.phases, columns=phase_cols)
        for column in ("started_at", "finished_at"):
            phases[column] = phases[column].astype(object)
        phases["output"] = self._output_column()

        events = self._events_frame()
        return {
            "specs": specs,
            "dependencies": deps,
            "builds": builds,
            "phases": phases,
            "events": events,
        }

    def _flush_outputs(self) -> None:
        """The pending log texts as one Arrow chunk; the Python strings go (a loader that
        drops its records as it goes then holds each log once, not twice)."""
        import pyarrow as pa

        self._output_chunks.append(pa.array(self._outputs, type=pa.large_string()))
        self._outputs = []

    def _output_column(self) -> Any:
        """The ``output`` column (``string`` dtype): Arrow chunks when the ``string`` dtype
        is Arrow-backed (built as the phases came), else the texts as they are."""
        import pandas as pd

        if not self._arrow:
            return pd.array(self._outputs, dtype="string")
        import pyarrow as pa

        if self._outputs or not self._output_chunks:
            self._flush_outputs()
        return pd.arrays.ArrowStringArray(pa.chunked_array(self._output_chunks))

    def _events_frame(self) -> pandas.DataFrame:
        """The event records as columns (:func:`~spackmon_analysis.logs.event_columns`, the
        one record -> columns step), with their build and phase."""
        import pandas as pd

        cols: dict[str, Any] = {"build": self.event_build, "phase": self.event_phase}
        cols.update(event_columns(self.events))
        for name in ("pre_context", "post_context", "classes"):
            cols[name] = object_column(cols[name])
        return pd.DataFrame(cols)


#: Log texts per Arrow chunk of the ``output`` column (:meth:`Assembler._flush_outputs`).
_OUTPUT_CHUNK = 4096


def _arrow_strings() -> bool:
    """Whether pandas' ``string`` dtype is Arrow-backed here (pyarrow installed)."""
    import pandas as pd

    return pd.StringDtype().storage == "pyarrow"


def phase_dict(p: PhaseRecord) -> dict[str, Any]:
    """A :class:`~spackmon_analysis.records.PhaseRecord` as ``Assembler.add_build`` takes it."""
    return {
        "name": p.name,
        "status": p.status,
        "output": p.output,
        "order": p.order,
        "duration": p.duration,
        "started_at": p.started_at,
        "finished_at": p.finished_at,
        "phase_id": p.phase_id,
        "first_line": p.first_line,
    }


def fill_dag_hashes(builds: pandas.DataFrame, specs: pandas.DataFrame | None) -> None:
    """Fill missing ``builds.dag_hash`` from the spec of each build (``specs.dag_hash``),
    in place: every source shows the hash a Spack user sees. The one place this is done
    (``MonitorData.__init__`` calls it for every frame set; :func:`concat_frames`'s callers
    that need the hash before that, the folder merge, call it too)."""
    if specs is None or not len(builds) or not len(specs):
        return
    missing = builds["dag_hash"].isna()
    if not missing.any():
        return
    known = specs.dropna(subset=["full_hash", "dag_hash"])
    if not len(known):
        return
    lookup = dict(zip(known["full_hash"].astype(str), known["dag_hash"].astype(str), strict=True))
    filled = builds.loc[missing, "full_hash"].astype(object).map(lookup)
    builds.loc[missing, "dag_hash"] = filled.astype("string")


def decategorize(frame: pandas.DataFrame) -> pandas.DataFrame:
    import pandas as pd

    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return frame
    return frame.assign(**{c: frame[c].astype(object) for c in cats})


def concat_frames(items: Iterable[Any]) -> FrameSet:
    """Join frame sets (or ``MonitorData`` objects: anything with the five frames, ``source``,
    ``rules``, ``problems`` and ``notes``) into one :class:`FrameSet`.

    Specs and dependencies are de-duplicated (by ``full_hash`` and by edge); builds are all
    kept: when a build key is already taken by an earlier item, the keys of the later item
    are prefixed with ``"<its source>:"`` (and ``"<position>:"`` if that is still not
    unique) in builds, phases and events.
    """
    import pandas as pd

    items = list(items)
    if not items:
        return FrameSet()
    seen: set[str] = set()
    parts: dict[str, list[pandas.DataFrame]] = {name: [] for name in FRAME_NAMES}
    for position, item in enumerate(items):
        frames = {name: frame_or_empty(name, getattr(item, name)) for name in FRAME_NAMES}
        builds, phases, events = frames["builds"], frames["phases"], frames["events"]
        keys = set(builds["build"].dropna())
        if keys & seen:
            prefix = f"{item.source or 'data'}:"
            renamed = {prefix + k for k in keys}
            if renamed & seen or len(renamed) != len(keys):
                prefix = f"{position}:{prefix}"
            # (object: an empty frame's column may be float)
            frames["builds"] = builds.assign(build=prefix + builds["build"].astype(object))
            frames["phases"] = phases.assign(build=prefix + phases["build"].astype(object))
            frames["events"] = events.assign(build=prefix + events["build"].astype(object))
            keys = set(frames["builds"]["build"].dropna())
        seen |= keys
        for name in FRAME_NAMES:
            parts[name].append(decategorize(frames[name]))
    out: dict[str, pandas.DataFrame] = {}
    for name in FRAME_NAMES:
        non_empty = [f for f in parts[name] if len(f)]
        out[name] = pd.concat(non_empty, ignore_index=True) if non_empty else parts[name][0]
    out["specs"] = out["specs"].drop_duplicates("full_hash", ignore_index=True)
    out["dependencies"] = out["dependencies"].drop_duplicates(
        ["parent_hash", "child_hash"], ignore_index=True
    )
    sources = []
    for item in items:
        if item.source and item.source not in sources:
            sources.append(item.source)
    return FrameSet(
        **out,
        source=" + ".join(sources),
        rules=items[0].rules,
        problems=[p for item in items for p in item.problems],
        notes=[n for item in items for n in item.notes],
    )


def frame_or_empty(name: str, frame: pandas.DataFrame | None) -> pandas.DataFrame:
    """``frame``, or an empty frame with the contract's column names when it is None."""
    import pandas as pd

    if frame is not None:
        return frame
    return pd.DataFrame({column: pd.Series(dtype=object) for column, _, _ in FRAME_COLUMNS[name]})
