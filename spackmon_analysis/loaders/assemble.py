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

from ..logs import LogEvent, LogEvents, Rules, event_columns, load_rules, parse_log
from ..records import (
    EVENT_KINDS,
    FRAME_COLUMNS,
    FRAME_NAMES,
    PHASE_STATUS_CATEGORIES,
    PhaseRecord,
)
from ..spackfacts import (
    PhaseCut,
    build_outcome,
    first_last_stamp_spans,
    first_last_stamp_texts,
    parse_stamp_spans,
    parse_stamps,
    stamp_micros,
    window_stamps,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from ..spec import SpecGraph

__all__ = [
    "FrameSet",
    "Assembler",
    "PhaseColumns",
    "stamp_columns",
    "stamp_columns_joined",
    "category_array",
    "utc_from_micros",
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


def splice_note(graph: SpecGraph, spliced: dict[str, str]) -> str:
    """The ``data.notes`` text of a spec document with spliced nodes (Spack 0.23+): which
    nodes were built as which spec, and how many nodes were read as provenance only."""
    nodes = graph.nodes
    parts = []
    for key, built_as in spliced.items():
        node = nodes[key]
        target = graph.find(built_as)
        what = f"{target.name}@{target.version} " if target is not None else ""
        parts.append(f"{node.name}@{node.version} /{key[:7]} was built as {what}/{built_as[:7]}")
    extra = len(graph.provenance)
    tail = (
        f"; the build spec's {extra} node(s) written beside it are provenance, not packages "
        "of the DAG (no roots, builds or blocked packages)"
        if extra
        else ""
    )
    return f"spliced (Spack's build_spec): {'; '.join(parts)}{tail}"


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
        conversion of a spec into these frames); a node or edge seen before is kept once. A
        graph with spliced nodes adds a note (:func:`splice_note`)."""
        spec_rows, dependency_rows = graph.frame_rows()
        spliced = graph.build_specs
        if spliced:
            self.notes.append((graph.source, splice_note(graph, spliced)))
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
                "outcome": build_outcome(status, (p.get("status") for p in phases), tags),
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
        return _events_frame(self.events, self.event_build, self.event_phase)


def _events_frame(events: list[LogEvent], builds: list[str], phases: list[str]) -> pandas.DataFrame:
    import pandas as pd

    cols: dict[str, Any] = {"build": builds, "phase": phases}
    cols.update(event_columns(events))
    for name in ("pre_context", "post_context", "classes"):
        cols[name] = object_column(cols[name])
    return pd.DataFrame(cols)


#: Log texts per Arrow chunk of the ``output`` column (:meth:`Assembler._flush_outputs`).
_OUTPUT_CHUNK = 4096
#: Characters of logs :class:`PhaseColumns` holds before it finds their events (and the
#: JUnit reader before it cuts them): a few hundred typical logs, parsed in a row.
EVENT_BATCH_CHARS = 1 << 18


def _arrow_strings() -> bool:
    """Whether pandas' ``string`` dtype is Arrow-backed here (pyarrow installed)."""
    import pandas as pd

    return pd.StringDtype().storage == "pyarrow"


# ---------------------------------------------------------------------------------
# column-wise assembly: typed columns made once, no record, dict or datetime per row


def stamp_columns(
    outputs: list[Any], spans: list[tuple[str | None, str | None, bool]] | None = None
) -> tuple[Any, Any, Any, Any, Any]:
    """:func:`~spackmon_analysis.spackfacts.phase_timing`'s rule over many phase logs at once:
    ``(start, start_ok, finish, finish_ok, two)``, microseconds since the epoch (int64) of
    each log's first and last ``==> [stamp]``, whether each is a time (in the
    ``datetime64[ns]`` years), and whether the log has two stamps (so a duration). The
    stamps are found from both ends of each text
    (:func:`~spackmon_analysis.spackfacts.first_last_stamp_texts`, or ``spans`` when the
    caller found them already) and parsed vectorised; a log whose first or last stamp is
    not a valid time takes the exact path
    (:func:`~spackmon_analysis.spackfacts.stamp_micros`). A phase's duration is
    ``(finish - start) / 1e6`` where ``start_ok & finish_ok & two``."""
    import numpy as np

    if spans is None:
        spans = [first_last_stamp_texts(o) for o in outputs]
    firsts = [s[0] for s in spans]
    start, start_ok = parse_stamps(firsts)
    finish, finish_ok = parse_stamps([s[1] for s in spans])
    two = np.array([s[2] for s in spans], dtype=bool)
    for i in np.flatnonzero(
        np.array([f is not None for f in firsts], dtype=bool) & ~(start_ok & finish_ok)
    ):
        start[i], start_ok[i], finish[i], finish_ok[i], two[i] = stamp_micros(outputs[i])
    return start, start_ok, finish, finish_ok, two


def stamp_columns_joined(
    outputs: list[Any], buffer: Any, offsets: Any
) -> tuple[Any, Any, Any, Any, Any]:
    """:func:`stamp_columns` of ASCII logs given also as one byte buffer (``buffer``, uint8)
    and their ``offsets`` in it: the stamps are found and parsed in the buffer
    (:func:`~spackmon_analysis.spackfacts.first_last_stamp_spans`, no Python string per
    stamp); a log whose answer that leaves open, or whose first or last stamp is not a valid
    time, takes :func:`stamp_columns`' path. The same five columns."""
    import numpy as np

    first_start, first_end, last_start, last_end, two, unsure = first_last_stamp_spans(
        buffer, offsets
    )
    start, start_ok = parse_stamp_spans(buffer, first_start, first_end)
    finish, finish_ok = parse_stamp_spans(buffer, last_start, last_end)
    found = first_end > first_start
    for i in np.flatnonzero(unsure | (found & ~(start_ok & finish_ok))).tolist():
        one = stamp_columns([outputs[i]])
        start[i], start_ok[i], finish[i], finish_ok[i], two[i] = (c[0] for c in one)
    return start, start_ok, finish, finish_ok, two


def arrow_texts(texts: list[str]) -> Any:
    """``texts`` as one Arrow ``large_string`` array. ASCII texts (build logs almost
    always) are joined and their offsets are their lengths: one copy into Arrow's memory
    instead of a conversion per text; others go through ``pyarrow.array``.

    The joined text is copied into Arrow's memory so the Python string can go at once (the
    JUnit load holds far less than the file in Python objects: tests/reports). The server
    rows' pages (``loaders/server._string_chunk``) keep their UTF-8 bytes as the buffer
    instead, outside Arrow's allocator (a million builds' logs: tests/analysis/
    test_scale_frames.py); each test pins its own placement, so the two stay apart."""
    import numpy as np
    import pyarrow as pa

    joined = "".join(texts)
    if not joined.isascii():
        return pa.array(texts, type=pa.large_string())
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), out=offsets[1:])
    # the joined text copied once, into a buffer of Arrow's own (as pyarrow.array would)
    data = pa.array([joined], type=pa.large_string()).buffers()[2]
    del joined
    return pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(offsets), data)


def window_stamp_columns(
    outputs: list[str], first_windows: list[str | None], last_windows: list[str | None]
) -> tuple[Any, Any, Any, Any, Any]:
    """:func:`stamp_columns` of phase logs whose stamp windows were found as they were cut
    (:func:`~spackmon_analysis.spackfacts.cut_phase_columns`): the windows decide most
    phases at once (:func:`~spackmon_analysis.spackfacts.window_stamps`); a phase they do
    not decide (a ``==> [`` line that is not a stamp at either end) is searched by
    :func:`~spackmon_analysis.spackfacts.first_last_stamp_texts`, and one whose first or
    last stamp is not a valid time takes the exact path
    (:func:`~spackmon_analysis.spackfacts.stamp_micros`), as in :func:`stamp_columns`."""
    import numpy as np

    start, start_ok, finish, finish_ok, found, two, decided = window_stamps(
        first_windows, last_windows
    )
    redo = np.flatnonzero(~decided)
    if len(redo):
        texts = [outputs[i] for i in redo]
        spans = [first_last_stamp_texts(t) for t in texts]
        s, s_ok, f, f_ok, t2 = stamp_columns(texts, spans)
        start[redo], start_ok[redo], finish[redo], finish_ok[redo], two[redo] = s, s_ok, f, f_ok, t2
        found[redo] = [span[0] is not None for span in spans]
    for i in np.flatnonzero(found & ~(start_ok & finish_ok)):
        start[i], start_ok[i], finish[i], finish_ok[i], two[i] = stamp_micros(outputs[i])
    return start, start_ok, finish, finish_ok, two


def category_array(values: Any, fixed: tuple[str, ...] | None = None) -> Any:
    """``values`` (object array of str, None for missing) as the contract's categorical:
    categories ``fixed`` then the other values present, sorted (as ``frames._to_category``)."""
    import pandas as pd

    codes, uniques = pd.factorize(values, sort=True)
    present = [str(u) for u in uniques]
    if fixed is None:
        return recoded(codes, present, present)
    return recoded(codes, present, list(fixed) + [v for v in present if v not in fixed])


def recoded(codes: Any, present: list[str], categories: list[str]) -> Any:
    """``codes`` (indexes into ``present``, -1 for missing) as a categorical of
    ``categories`` (in that order; each value of ``present`` among them)."""
    import numpy as np
    import pandas as pd

    if categories != present:
        where = {c: i for i, c in enumerate(categories)}
        mapping = np.array([where[v] for v in present], dtype=np.int64)
        codes = np.where(codes >= 0, mapping[codes] if len(mapping) else -1, -1)
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype="str"))
    return pd.Categorical.from_codes(codes, dtype=dtype)


def utc_from_micros(us: Any, known: Any) -> Any:
    """Microseconds since the epoch (int64) as ``datetime64[ns, UTC]`` (NaT where not known)."""
    import numpy as np
    import pandas as pd

    ns = (us * 1000).view("datetime64[ns]")
    ns[~known] = np.datetime64("NaT")
    return pd.Series(ns, dtype="datetime64[ns]").dt.tz_localize("UTC").array


def int_array(values: list[int | None]) -> Any:
    """``values`` (ints, None for missing) as the ``Int64`` dtype, made at once."""
    import numpy as np
    import pandas as pd

    missing = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    data = np.fromiter((0 if v is None else v for v in values), dtype=np.int64, count=len(values))
    return pd.arrays.IntegerArray(data, missing)


class PhaseColumns:
    """Phases cut out of build logs, and their events, collected column by column as a
    loader reads them (a JUnit report: :func:`~spackmon_analysis.loaders.junit.
    read_junit_columns`): no record, dict or datetime per phase; the logs go into Arrow
    chunks of :data:`_OUTPUT_CHUNK` texts as they come, their stamps are parsed a chunk at
    a time (:func:`stamp_columns`), and :meth:`frame` makes each column of the contract's
    ``phases`` frame once, in its dtype. The same answers as :class:`Assembler` given the
    same phases as :class:`~spackmon_analysis.records.PhaseRecord` s (timing by
    :func:`~spackmon_analysis.spackfacts.phase_timing`'s rule, events by
    :func:`~spackmon_analysis.logs.parse_log` per phase).
    """

    def __init__(self, *, keep_output: bool, rules: Rules | None, parse_events: bool = True):
        self.keep_output = keep_output
        self.rules = rules
        self.parse_events = parse_events
        self.build: list[str] = []
        self.name: list[str] = []
        self.error: list[bool] = []  # status ERROR (else SUCCESS)
        self.order: list[int] = []
        self.size: list[int] = []
        self.first_line: list[int | None] = []
        #: ``(build key, first row, end row)`` of each log added
        self.spans: list[tuple[str, int, int]] = []
        self._texts: list[str] = []  # the texts of the chunk being filled
        self._firsts: list[str | None] = []  # their stamp windows
        self._lasts: list[str | None] = []
        self._chunks: list[Any] = []
        self._stamps: list[tuple[Any, ...]] = []
        self._arrow = _arrow_strings()
        #: logs whose events are still to be found (:meth:`_parse_pending`)
        self._pending: list[tuple[str, str, PhaseCut]] = []
        self._pending_chars = 0
        self._events: list[LogEvent] = []
        self._event_build: list[str] = []
        self._event_phase: list[str] = []
        self._capped: list[tuple[str, str, str]] = []

    def __len__(self) -> int:
        return len(self.build)

    @property
    def events(self) -> list[LogEvent]:
        """The events of every log added, in order."""
        self._parse_pending()
        return self._events

    @property
    def event_build(self) -> list[str]:
        """The build key of each of :attr:`events`."""
        self._parse_pending()
        return self._event_build

    @property
    def event_phase(self) -> list[str]:
        """The phase name of each of :attr:`events`."""
        self._parse_pending()
        return self._event_phase

    @property
    def capped(self) -> list[tuple[str, str, str]]:
        """``(build key, phase name, message)`` of phase logs whose events were capped."""
        self._parse_pending()
        return self._capped

    def add_log(self, key: str, log: str, cut: PhaseCut, failed: bool) -> None:
        """The phases ``cut`` (:func:`~spackmon_analysis.spackfacts.cut_phase_columns`, its
        preamble already placed: names, texts, first lines in the log or None, stamp
        windows) of the build ``key``, cut out of ``log``; the last one is ``ERROR`` when
        ``failed``. Their events are found with one
        :func:`~spackmon_analysis.logs.parse_log` of the whole log (:meth:`_log_events`),
        a batch of logs at a time (:data:`EVENT_BATCH_CHARS`): parsing many logs in a row,
        apart from the XML reading, costs less than one at a time in between."""
        n = len(cut.names)
        if not n:
            self.spans.append((key, len(self.build), len(self.build)))
            return
        start = len(self.build)
        self.build.extend([key] * n)
        self.name.extend(cut.names)
        self.error.extend([False] * (n - 1))
        self.error.append(failed)
        self.order.extend(range(n))
        self.size.extend(map(len, cut.texts))
        self.first_line.extend(cut.first_lines)
        self._texts.extend(cut.texts)
        self._firsts.extend(cut.first_windows)
        self._lasts.extend(cut.last_windows)
        self.spans.append((key, start, start + n))
        if self.parse_events:
            self._pending.append((key, log, cut))
            self._pending_chars += len(log)
            if self._pending_chars >= EVENT_BATCH_CHARS:
                self._parse_pending()
        if len(self._texts) >= _OUTPUT_CHUNK:
            self._flush()

    def _parse_pending(self) -> None:
        """Find the events of the logs added since the last batch."""
        pending, self._pending, self._pending_chars = self._pending, [], 0
        for key, log, cut in pending:
            self._log_events(key, log, cut)

    def _log_events(self, key: str, log: str, cut: PhaseCut) -> None:
        """The events of each phase, as :func:`~spackmon_analysis.logs.parse_log` of the
        phase's text alone gives them. Phases cut in order out of one log: one parse of the
        whole log, each event placed in its phase (line number counted from the phase's
        first line, context cut at the phase's ends); events are found line by line, so
        that is exactly the per-phase answer while no event repeats (a repeat merges across
        phases), no cap was hit, and lines end in ``\n`` only (``parse_log`` also ends a
        line at a lone ``\r``). Otherwise each phase is parsed on its own."""
        rules = self.rules
        whole: LogEvents | None = None
        if len(cut.names) > 1 and "\r" not in log and None not in cut.first_lines:
            whole = parse_log(log, rules=rules)
            if not whole:
                return
            if whole.dropped or any(e.repeat_count > 1 for e in whole):
                whole = None
        if whole is not None and self._place(key, whole, cut):
            return
        for name, text in zip(cut.names, cut.texts, strict=True):
            if not text:
                continue
            events = parse_log(text, rules=rules)
            if events.dropped:
                self._capped.append((key, name, events.note() or ""))
            for event in events:
                self._events.append(event)
                self._event_build.append(key)
                self._event_phase.append(name)

    def _place(self, key: str, events: LogEvents, cut: PhaseCut) -> bool:
        """Put the events of the whole log under their phases (see :meth:`_log_events`);
        False (nothing added) when one falls outside every phase."""
        import bisect

        starts = [int(line or 0) for line in cut.first_lines]
        lines = [t.count("\n") + (0 if t.endswith("\n") else 1) for t in cut.texts]
        placed = []
        for event in events:
            k = bisect.bisect_right(starts, event.line_no) - 1
            if k < 0 or event.line_no >= starts[k] + lines[k]:
                return False
            line = event.line_no - starts[k] + 1
            before = event.pre_context[
                len(event.pre_context) - min(line - 1, len(event.pre_context)) :
            ]
            after = event.post_context[: max(lines[k] - line, 0)]
            placed.append(
                (
                    cut.names[k],
                    LogEvent(
                        kind=event.kind,
                        text=event.text,
                        line_no=line,
                        source_file=event.source_file,
                        source_line_no=event.source_line_no,
                        pre_context=list(before),
                        post_context=list(after),
                        repeat_count=event.repeat_count,
                        classes=event.classes,
                        fingerprint=event.fingerprint,
                    ),
                )
            )
        for name, event in placed:
            self._events.append(event)
            self._event_build.append(key)
            self._event_phase.append(name)
        return True

    def _flush(self) -> None:
        """The pending chunk: its stamps parsed, its texts into one Arrow chunk (or dropped
        when the output is not kept)."""
        if not self._texts:
            return
        self._stamps.append(window_stamp_columns(self._texts, self._firsts, self._lasts))
        if self.keep_output:
            self._chunks.append(arrow_texts(self._texts) if self._arrow else self._texts)
        self._texts, self._firsts, self._lasts = [], [], []

    def _stamp_arrays(self) -> tuple[Any, ...]:
        import numpy as np

        self._flush()
        if not self._stamps:
            zero, no = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
            return zero, no, zero, no, no
        return tuple(np.concatenate([s[i] for s in self._stamps]) for i in range(5))

    def durations(self) -> Any:
        """Each row's duration in seconds (NaN when its log does not measure it)."""
        import numpy as np

        start, start_ok, finish, finish_ok, two = self._stamp_arrays()
        return np.where(start_ok & finish_ok & two, (finish - start) / 1e6, np.nan)

    def frame(self) -> pandas.DataFrame:
        """The contract's ``phases`` frame, each column made once in its dtype."""
        import numpy as np
        import pandas as pd

        start, start_ok, finish, finish_ok, _two = self._stamp_arrays()
        n = len(self.build)
        if self.keep_output and self._arrow:
            import pyarrow as pa

            output: Any = pd.arrays.ArrowStringArray(
                pa.chunked_array(self._chunks, type=pa.large_string())
            )
        elif self.keep_output:
            output = pd.array([t for chunk in self._chunks for t in chunk], dtype="string")
        else:
            output = pd.array(np.full(n, None, dtype=object), dtype="string")
        return pd.DataFrame(
            {
                "build": pd.array(self.build, dtype="string"),
                "phase_id": pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, bool)),
                "name": category_array(object_column(self.name)),
                "order": pd.arrays.IntegerArray(np.array(self.order, np.int64), np.zeros(n, bool)),
                "status": pd.Categorical.from_codes(
                    np.where(
                        np.array(self.error, dtype=bool),
                        PHASE_STATUS_CATEGORIES.index("ERROR"),
                        PHASE_STATUS_CATEGORIES.index("SUCCESS"),
                    ),
                    dtype=pd.CategoricalDtype(pd.Index(PHASE_STATUS_CATEGORIES, dtype="str")),
                ),
                "output_size": pd.arrays.IntegerArray(
                    np.array(self.size, np.int64), np.zeros(n, bool)
                ),
                "duration": self.durations(),
                "started_at": utc_from_micros(start, start_ok),
                "finished_at": utc_from_micros(finish, finish_ok),
                "output": output,
                "build_log_first_line": int_array(self.first_line),
            },
            copy=False,  # a dict of arrays is copied by default: the logs would be twice
        )

    def events_frame(self) -> pandas.DataFrame:
        """The contract's ``events`` frame (:func:`~spackmon_analysis.logs.event_columns`,
        the one record -> columns step), each column made once in its dtype."""
        import pandas as pd

        cols: dict[str, Any] = event_columns(self.events)
        n = len(self.events)
        return pd.DataFrame(
            {
                "build": pd.array(self.event_build, dtype="string"),
                "phase": category_array(object_column(self.event_phase)),
                "kind": category_array(object_column(cols["kind"]), EVENT_KINDS),
                "text": pd.array(cols["text"], dtype="string"),
                "line_no": int_array(cols["line_no"]),
                "source_file": pd.array(object_column(cols["source_file"]), dtype="string"),
                "source_line_no": int_array(cols["source_line_no"]),
                "pre_context": object_column(cols["pre_context"]),
                "post_context": object_column(cols["post_context"]),
                "repeat_count": int_array(cols["repeat_count"]),
                "classes": object_column(cols["classes"]),
                "primary_class": pd.array(object_column(cols["primary_class"]), dtype="string"),
                "fingerprint": pd.array(object_column(cols["fingerprint"]), dtype="string"),
            },
            index=pd.RangeIndex(n),
        )


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
