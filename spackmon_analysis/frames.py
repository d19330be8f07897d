"""``MonitorData``: every source of Spack Monitor data as the same five pandas frames.

A ``--monitor-save-local`` directory (:func:`load_save_local`), an install tree
(:func:`load_install_tree`), a server through the client
(:meth:`MonitorData.from_client`) and a server's database read directly
(:meth:`MonitorData.from_database`) all become one :class:`MonitorData` holding the
frames ``specs``, ``dependencies``, ``builds``, ``phases`` and ``events``, with the
columns and dtypes of the contract in ``docs/analysis.md`` (even when empty).
:func:`load` picks the loader from what a path is.

Build outcomes are derived the same way for every source: ``failed`` when one of the
build's own phases is ``ERROR`` (a root cause), ``succeeded`` when its status is
``SUCCESS`` and no phase errored, ``never built`` when its status is ``FAILED`` or
``CANCELLED`` without an ``ERROR`` phase (a dependent that never ran), else ``unknown``.
"""

from __future__ import annotations

import gc
import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigError,
    InstallPrefixError,
    MonitorError,
    SpackmonError,
)
from .logs import LogEvent, Rules, fingerprint, load_rules, parse_log
from .savelocal import phase_timestamps
from .spackfacts import CANONICAL_PHASES, short_hash

if TYPE_CHECKING:  # pragma: no cover
    import networkx
    import pandas

    from .buildview import BuildView
    from .records import PhaseRecord

__all__ = [
    "MonitorData",
    "load",
    "load_save_local",
    "load_install_tree",
    "OUTCOMES",
    "SOURCES",
    "FRAME_COLUMNS",
]

#: The ``builds.outcome`` categories, in this order.
OUTCOMES = ("succeeded", "failed", "never built", "unknown")
#: The ``builds.source`` categories.
SOURCES = ("save-local", "server", "install", "database")
BUILD_STATUS_CATEGORIES = ("SUCCESS", "FAILED", "NOTRUN", "CANCELLED")
PHASE_STATUS_CATEGORIES = ("SUCCESS", "ERROR")
EVENT_KINDS = ("error", "warning")
#: Outcome given by :meth:`MonitorData.graph` to a node without any build.
NOT_BUILT = "not built"

# (column, kind, fixed categories) per frame; kinds: string, category, bool, Int64,
# float64, datetime, object.
_S = "string"
_C = "category"
FRAME_COLUMNS: dict[str, list[tuple[str, str, tuple[str, ...] | None]]] = {
    "specs": [
        ("full_hash", _S, None),
        ("name", _S, None),
        ("version", _S, None),
        ("compiler", _C, None),
        ("compiler_name", _S, None),
        ("compiler_version", _S, None),
        ("platform", _C, None),
        ("os", _C, None),
        ("target", _C, None),
        ("namespace", _S, None),
        ("external", "bool", None),
        ("dag_hash", _S, None),
        ("build_hash", _S, None),
    ],
    "dependencies": [
        ("parent_hash", _S, None),
        ("child_hash", _S, None),
        ("parent_name", _S, None),
        ("child_name", _S, None),
        ("deptypes", _S, None),
    ],
    "builds": [
        ("build", _S, None),
        ("build_id", "Int64", None),
        ("run", _C, None),
        ("run_time", "datetime", None),
        ("full_hash", _S, None),
        ("dag_hash", _S, None),
        ("spec_name", _S, None),
        ("spec_version", _S, None),
        ("compiler", _C, None),
        ("status", _C, BUILD_STATUS_CATEGORIES),
        ("outcome", _C, OUTCOMES),
        ("host_os", _C, None),
        ("platform", _C, None),
        ("host_target", _C, None),
        ("hostname", _C, None),
        ("kernel_version", _C, None),
        ("spack_version", _C, None),
        ("tags", "object", None),
        ("owner", _S, None),
        ("created_at", "datetime", None),
        ("duration", "float64", None),
        ("source", _C, SOURCES),
    ],
    "phases": [
        ("build", _S, None),
        ("phase_id", "Int64", None),
        ("name", _C, None),
        ("order", "Int64", None),
        ("status", _C, PHASE_STATUS_CATEGORIES),
        ("output_size", "Int64", None),
        ("duration", "float64", None),
        ("started_at", "datetime", None),
        ("finished_at", "datetime", None),
        ("output", _S, None),
        ("build_log_first_line", "Int64", None),
    ],
    "events": [
        ("build", _S, None),
        ("phase", _C, None),
        ("kind", _C, EVENT_KINDS),
        ("text", _S, None),
        ("line_no", "Int64", None),
        ("source_file", _S, None),
        ("source_line_no", "Int64", None),
        ("pre_context", "object", None),
        ("post_context", "object", None),
        ("repeat_count", "Int64", None),
        ("classes", "object", None),
        ("primary_class", _S, None),
        ("fingerprint", _S, None),
    ],
}
_FRAMES = ("specs", "dependencies", "builds", "phases", "events")


# ---------------------------------------------------------------------------------
# dtype coercion


def _none_if_na(value: Any) -> Any:
    import pandas as pd

    if value is None:
        return None
    try:
        if value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
            return None
    except TypeError:  # pragma: no cover - exotic objects
        return value
    return value


def _to_category(series: pandas.Series, fixed: tuple[str, ...] | None) -> pandas.Series:
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in series.cat.categories]
        if fixed is None or cats == list(fixed):
            if all(isinstance(c, str) for c in series.cat.categories):
                return series
        series = series.astype(object)
    values = series.astype("string")
    present = sorted(set(values.dropna().unique()))
    if fixed is None:
        categories = present
    else:
        categories = list(fixed) + [v for v in present if v not in fixed]
    cat = pd.Categorical(values, categories=pd.Index(categories, dtype="str"))
    return pd.Series(cat, index=series.index, name=series.name)


def _to_datetime(series: pandas.Series) -> pandas.Series:
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        out = series.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(dtype):
        out = series.dt.tz_localize("UTC")
    else:
        values = series.astype(object).where(series.notna(), None)
        out = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
    return out.dt.as_unit("ns")


def _coerce(series: pandas.Series, kind: str, fixed: tuple[str, ...] | None) -> pandas.Series:
    import pandas as pd

    if kind == _S:
        if isinstance(series.dtype, pd.StringDtype) and series.dtype.na_value is pd.NA:
            return series
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        return series.astype("string")
    if kind == _C:
        return _to_category(series, fixed)
    if kind == "bool":
        if series.dtype == bool:
            return series
        return series.astype(object).where(series.notna(), False).astype(bool)
    if kind == "Int64":
        if str(series.dtype) == "Int64":
            return series
        values = series.astype(object).where(series.notna(), None)
        return pd.Series(pd.array(list(values), dtype="Int64"), index=series.index)
    if kind == "float64":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if kind == "datetime":
        if str(series.dtype) == "datetime64[ns, UTC]":
            return series
        return _to_datetime(series)
    if series.dtype != object:
        return series.astype(object)
    return series


def _conform(name: str, frame: pandas.DataFrame | None) -> pandas.DataFrame:
    """``frame`` with every contract column of frame ``name`` in order and dtype."""
    import pandas as pd

    schema = FRAME_COLUMNS[name]
    if frame is None:
        frame = pd.DataFrame()
    n = len(frame)
    index = frame.index if n else pd.RangeIndex(0)
    cols: dict[str, Any] = {}
    for column, kind, fixed in schema:
        if column in frame.columns:
            series = frame[column]
        else:
            series = pd.Series([None] * n, index=index, dtype=object)
        cols[column] = _coerce(series, kind, fixed)
    extra = [c for c in frame.columns if c not in cols]
    for column in extra:
        cols[column] = frame[column]
    return pd.DataFrame(cols, index=index)


def _object_column(values: list[Any]) -> Any:
    import numpy as np

    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


# ---------------------------------------------------------------------------------
# shared assembly: records / rows -> column lists -> frames


def _outcome(status: str | None, phase_statuses: Iterable[str | None]) -> str:
    if any(s == "ERROR" for s in phase_statuses):
        return "failed"
    if status == "SUCCESS":
        return "succeeded"
    if status in ("FAILED", "CANCELLED"):
        return "never built"
    return "unknown"


def _utc(value: Any) -> Any:
    """A naive datetime taken as UTC (Spack's log stamps carry no zone)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _resolve_rules(rules: Rules | str | os.PathLike[str] | None) -> Rules | None:
    if rules is None or isinstance(rules, Rules):
        return rules
    return load_rules(rules)


def _phase_rank(name: str) -> int:
    try:
        return CANONICAL_PHASES.index(name)
    except ValueError:
        return len(CANONICAL_PHASES)


def _order_by_time(items: list[tuple[str, Any, Any]]) -> list[Any]:
    """Order ``(name, first_stamp, payload)`` the way the save-local reader orders phases:
    timestamped phases by first stamp; the others before the first timestamped phase
    that usually comes after them (by :data:`CANONICAL_PHASES`)."""
    timed = sorted((i for i in items if i[1] is not None), key=lambda i: i[1])
    untimed = sorted((i for i in items if i[1] is None), key=lambda i: (_phase_rank(i[0]), i[0]))
    result = list(timed)
    for item in untimed:
        rank = _phase_rank(item[0])
        position = len(result)
        for index, other in enumerate(result):
            if _phase_rank(other[0]) > rank:
                position = index
                break
        result.insert(position, item)
    return [i[2] for i in result]


class _Assembler:
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

    def add_graph(self, graph: Any) -> None:
        for node in graph.nodes.values():
            hashes = node.hashes
            row = (
                node.key,
                node.name,
                node.version,
                node.compiler,
                node.compiler_name,
                node.compiler_version,
                node.platform,
                node.os,
                node.target,
                node.namespace,
                bool(node.external),
                hashes.get("hash") or hashes.get("dag_hash"),
                hashes.get("build_hash"),
            )
            self.add_spec_row(node.key, row, hashes.values())
        nodes = graph.nodes
        for edge in graph.edges:
            pair = (edge.parent, edge.child)
            if pair not in self.edges:
                self.edges[pair] = (
                    edge.parent,
                    edge.child,
                    nodes[edge.parent].name,
                    nodes[edge.child].name,
                    ",".join(sorted(edge.deptypes)),
                )

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
                    _utc(phase.get("started_at")),
                    _utc(phase.get("finished_at")),
                    output if self.keep_output else None,
                    phase.get("first_line"),
                )
            )
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
                "run_time": _utc(run_time),
                "full_hash": full_hash,
                "dag_hash": dag_hash,
                "spec_name": spec_name,
                "spec_version": spec_version,
                "status": status,
                "outcome": _outcome(status, (p.get("status") for p in phases)),
                "host_os": env.get("host_os"),
                "platform": env.get("platform"),
                "host_target": env.get("host_target"),
                "hostname": env.get("hostname"),
                "kernel_version": env.get("kernel_version"),
                "spack_version": env.get("spack_version"),
                "tags": tuple(tags or ()),
                "owner": owner,
                "created_at": _utc(created_at),
                "duration": sum(durations) if durations else float("nan"),
                "source": source,
                "compiler": compiler,
            }
        )

    # -- frames ------------------------------------------------------------------------
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
        data["tags"] = _object_column([b["tags"] for b in self.builds])
        for column in ("run_time", "created_at"):
            data[column] = pd.Series(data[column], dtype=object)
        builds = pd.DataFrame({c: data[c] for c in build_cols})

        phase_cols = [c for c, _, _ in FRAME_COLUMNS["phases"]]
        phases = pd.DataFrame.from_records(self.phases, columns=phase_cols)
        for column in ("started_at", "finished_at"):
            phases[column] = phases[column].astype(object)

        events = self._events_frame()
        return {
            "specs": specs,
            "dependencies": deps,
            "builds": builds,
            "phases": phases,
            "events": events,
        }

    def _events_frame(self) -> pandas.DataFrame:
        import pandas as pd

        evs = self.events
        cols: dict[str, Any] = {
            "build": self.event_build,
            "phase": self.event_phase,
            "kind": [e.kind for e in evs],
            "text": [e.text for e in evs],
            "line_no": [e.line_no for e in evs],
            "source_file": [e.source_file for e in evs],
            "source_line_no": [e.source_line_no for e in evs],
            "pre_context": _object_column([list(e.pre_context) for e in evs]),
            "post_context": _object_column([list(e.post_context) for e in evs]),
            "repeat_count": [e.repeat_count for e in evs],
            "classes": _object_column([tuple(e.classes) for e in evs]),
            "primary_class": [e.classes[0] if e.classes else None for e in evs],
            "fingerprint": [e.fingerprint for e in evs],
        }
        return pd.DataFrame(cols)


# ---------------------------------------------------------------------------------
# MonitorData


def _fill_dag_hashes(builds: pandas.DataFrame, specs: pandas.DataFrame) -> None:
    """Fill missing ``builds.dag_hash`` from the spec of each build (``specs.dag_hash``),
    in place: every source shows the hash a Spack user sees. The one place this is done
    (every loader's frames pass through ``MonitorData.__init__``)."""
    if not len(builds) or not len(specs):
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


def _as_set(value: Any) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value}


class MonitorData:
    """Five pandas frames describing specs, their dependencies, builds, phases and events.

    Build one with a loader (:func:`load_save_local`, :func:`load_install_tree`,
    :func:`load`, :meth:`from_client`, :meth:`from_database`) or directly from frames;
    the frames are brought to the contract's columns and dtypes either way (extra
    columns are kept after them). ``source`` says where the data came from; ``rules``
    are the failure-class rules used for the events (None: the packaged ones);
    ``problems`` lists ``(file or key, message)`` for inputs the loader skipped because
    they could not be used; ``notes`` lists ``(input, message)`` for inputs it left out on
    purpose (a stage directory superseded by an install of the same hash).
    """

    def __init__(
        self,
        specs: pandas.DataFrame | None = None,
        dependencies: pandas.DataFrame | None = None,
        builds: pandas.DataFrame | None = None,
        phases: pandas.DataFrame | None = None,
        events: pandas.DataFrame | None = None,
        source: str = "",
        rules: Rules | None = None,
        problems: list[tuple[str, str]] | None = None,
        notes: list[tuple[str, str]] | None = None,
    ):
        from . import accessor  # noqa: F401  (registers the df.spack accessor)

        self.specs = _conform("specs", specs)
        self.dependencies = _conform("dependencies", dependencies)
        self.builds = _conform("builds", builds)
        self.phases = _conform("phases", phases)
        self.events = _conform("events", events)
        self.source = source
        self.rules = rules
        self.problems = list(problems or [])
        self.notes = list(notes or [])
        _fill_dag_hashes(self.builds, self.specs)

    # -- constructors --------------------------------------------------------------------
    @classmethod
    def empty(cls, source: str = "") -> MonitorData:
        """An object whose five frames are empty (with every contract column and dtype)."""
        return cls(source=source)

    @classmethod
    def concat(cls, items: Iterable[MonitorData]) -> MonitorData:
        """Join several objects into one.

        Specs and dependencies are de-duplicated (by ``full_hash`` and by edge);
        builds are all kept: when a build key is already taken by an earlier object,
        the keys of the later object are prefixed with ``"<its source>:"`` (and
        ``"<position>:"`` if that is still not unique) in builds, phases and events.
        """
        import pandas as pd

        items = list(items)
        if not items:
            return cls.empty()
        seen: set[str] = set()
        parts: dict[str, list[pandas.DataFrame]] = {name: [] for name in _FRAMES}
        for position, item in enumerate(items):
            builds, phases, events = item.builds, item.phases, item.events
            keys = set(builds["build"].dropna())
            if keys & seen:
                prefix = f"{item.source or 'data'}:"
                renamed = {prefix + k for k in keys}
                if renamed & seen or len(renamed) != len(keys):
                    prefix = f"{position}:{prefix}"
                builds = builds.assign(build=prefix + builds["build"])
                phases = phases.assign(build=prefix + phases["build"])
                events = events.assign(build=prefix + events["build"])
                keys = set(builds["build"].dropna())
            seen |= keys
            for name, frame in (
                ("specs", item.specs),
                ("dependencies", item.dependencies),
                ("builds", builds),
                ("phases", phases),
                ("events", events),
            ):
                parts[name].append(_decategorize(frame))
        frames: dict[str, pandas.DataFrame] = {}
        for name in _FRAMES:
            non_empty = [f for f in parts[name] if len(f)]
            frames[name] = pd.concat(non_empty, ignore_index=True) if non_empty else parts[name][0]
        frames["specs"] = frames["specs"].drop_duplicates("full_hash", ignore_index=True)
        frames["dependencies"] = frames["dependencies"].drop_duplicates(
            ["parent_hash", "child_hash"], ignore_index=True
        )
        sources = []
        for item in items:
            if item.source and item.source not in sources:
                sources.append(item.source)
        problems = [p for item in items for p in item.problems]
        notes = [n for item in items for n in item.notes]
        return cls(
            **frames,
            source=" + ".join(sources),
            rules=items[0].rules,
            problems=problems,
            notes=notes,
        )

    @classmethod
    def from_client(
        cls, client: Any, *, keep_output: bool = True, progress: bool = False
    ) -> MonitorData:
        """Pull everything a server holds through a :class:`~spackmon_analysis.client.
        SpackMonitorClient` (data API routes specs, dependencies, builds, buildphases,
        builderrors, buildwarnings).

        ``keep_output=False`` asks the server to leave the log text out of the phases
        (phase durations then stay unknown: they come from the output's timestamps).
        Events are the server's stored ``builderrors``/``buildwarnings``. Rows missing
        a field raise :class:`~spackmon_analysis.errors.MonitorError` naming it.
        """

        def pull(route: str, **filters: Any) -> list[dict[str, Any]]:
            return list(client.pull(route, progress=progress, **filters))

        # list pages leave phase outputs out unless asked (the server bounds each page in bytes)
        phase_filters = {"output": bool(keep_output)}
        rows = {
            "specs": pull("specs"),
            "dependencies": pull("dependencies"),
            "builds": pull("builds"),
            "buildphases": pull("buildphases", **phase_filters),
            "builderrors": pull("builderrors"),
            "buildwarnings": pull("buildwarnings"),
        }
        label = getattr(client, "baseurl", None) or getattr(client, "host", "") or "server"
        return _from_rows(rows, source="server", label=str(label), keep_output=keep_output)

    @classmethod
    def from_database(cls, url: Any, *, keep_output: bool = True) -> MonitorData:
        """Read a monitor server's database directly (SQLite or PostgreSQL URL, or an
        SQLAlchemy ``Engine``): the same frames as :meth:`from_client` on that server,
        without HTTP, for large pulls. Raises
        :class:`~spackmon_analysis.errors.ConfigError` for an unusable URL and
        :class:`~spackmon_analysis.errors.SchemaVersionError` for another schema."""
        from .server.tables import Store, _safe

        store = None
        if isinstance(url, str | os.PathLike):
            text = os.fspath(url)
            if "://" not in text:  # a plain path to a SQLite file
                if not Path(text).expanduser().is_file():
                    raise ConfigError(f"{text}: no such database file")
                text = f"sqlite:///{Path(text).expanduser()}"
            store = Store.open(text, create=False)
            engine = store.read
            label = _safe(text)
        else:
            engine = url
            label = str(getattr(engine, "url", "database"))
        # the reader allocates a few million small objects and no cycles: the cyclic
        # collector would re-walk them over and over (about 40% of the time)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            frames = _read_database(engine, keep_output=keep_output)
        finally:
            if gc_was_enabled:
                gc.enable()
            if store is not None:
                store.dispose()
        return cls(**frames, source=label, rules=None)

    # -- views -------------------------------------------------------------------------------
    @property
    def runs(self) -> list[str]:
        """The save-local run names present in ``builds`` (sorted)."""
        return sorted({str(r) for r in self.builds["run"].dropna().unique()})

    def build(self, key: Any) -> BuildView:
        """One build as a :class:`~spackmon_analysis.buildview.BuildView` (HTML card in Jupyter).

        ``key``: a build key, a unique prefix of one, or a server build id (int).
        """
        from .buildview import BuildView

        return BuildView(self, key)

    def outcome_counts(self) -> dict[str, int]:
        """Number of builds per outcome (every outcome, zero included)."""
        counts = self.builds["outcome"].value_counts()
        return {name: int(counts.get(name, 0)) for name in OUTCOMES}

    def filter(
        self,
        package: str | Iterable[str] | None = None,
        compiler: str | Iterable[str] | None = None,
        run: str | Iterable[str] | None = None,
        outcome: str | Iterable[str] | None = None,
    ) -> MonitorData:
        """A new object restricted to the matching builds (and their phases and events).

        Each argument is a value or a list of values; ``compiler`` matches
        ``name@version`` exactly or the compiler name alone (``"gcc"``). Specs and
        dependencies are kept whole.
        """
        builds = self.builds
        mask = builds["build"].notna()
        packages = _as_set(package)
        if packages is not None:
            mask &= builds["spec_name"].isin(packages).fillna(False)
        compilers = _as_set(compiler)
        if compilers is not None:
            full = builds["compiler"].astype(object)
            names = full.map(lambda c: c.split("@", 1)[0] if isinstance(c, str) else None)
            mask &= full.isin(compilers) | names.isin(compilers)
        runs = _as_set(run)
        if runs is not None:
            mask &= builds["run"].astype(object).isin(runs)
        outcomes = _as_set(outcome)
        if outcomes is not None:
            unknown = outcomes - set(OUTCOMES)
            if unknown:
                raise ConfigError(
                    f"unknown outcome(s) {sorted(unknown)}; outcomes are {list(OUTCOMES)}"
                )
            mask &= builds["outcome"].astype(object).isin(outcomes)
        mask = mask.astype(bool)
        kept = builds[mask].reset_index(drop=True)
        keys = set(kept["build"])
        phases = self.phases[self.phases["build"].isin(keys)].reset_index(drop=True)
        events = self.events[self.events["build"].isin(keys)].reset_index(drop=True)
        return MonitorData(
            self.specs,
            self.dependencies,
            kept,
            phases,
            events,
            source=self.source,
            rules=self.rules,
            problems=self.problems,
            notes=self.notes,
        )

    def graph(self, run: str | None = None) -> networkx.DiGraph:
        """The dependency DAG: nodes keyed by ``full_hash``, edges dependent -> dependency.

        Node attributes: every ``specs`` column, plus ``status`` and ``outcome`` of the
        node's latest build (by ``run_time``, then ``build``); ``outcome`` is
        ``"not built"`` for a node without a build. ``run`` restricts the builds to one
        save-local run. Builds whose spec is not in ``specs`` become nodes too.
        Edges carry ``deptypes`` (the comma-joined string).
        """
        import networkx as nx

        graph = nx.DiGraph()
        builds = self.builds
        if run is not None:
            builds = builds[builds["run"].astype(object) == run]
        latest: dict[str, tuple[Any, Any, Any]] = {}
        if len(builds):
            ordered = builds.sort_values(["run_time", "build"], na_position="first", kind="stable")
            for full_hash, status, outcome, name, version, compiler in zip(
                ordered["full_hash"],
                ordered["status"],
                ordered["outcome"],
                ordered["spec_name"],
                ordered["spec_version"],
                ordered["compiler"],
                strict=True,
            ):
                if full_hash is None or full_hash is _pd_na():
                    continue
                latest[full_hash] = (status, outcome, (name, version, compiler))
        columns = list(self.specs.columns)
        for values in self.specs.itertuples(index=False, name=None):
            attrs = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
            key = attrs["full_hash"]
            status, outcome, _ = latest.get(key, (None, NOT_BUILT, None))
            attrs["status"] = _plain(status)
            attrs["outcome"] = _plain(outcome)
            graph.add_node(key, **attrs)
        for key, (status, outcome, (name, version, compiler)) in latest.items():
            if key in graph:
                continue
            attrs = {c: None for c in columns}
            attrs.update(
                full_hash=key,
                name=_plain(name),
                version=_plain(version),
                compiler=_plain(compiler),
                external=False,
                status=_plain(status),
                outcome=_plain(outcome),
            )
            graph.add_node(key, **attrs)
        for parent, child, deptypes in zip(
            self.dependencies["parent_hash"],
            self.dependencies["child_hash"],
            self.dependencies["deptypes"],
            strict=True,
        ):
            graph.add_edge(parent, child, deptypes=_plain(deptypes))
        return graph

    def __len__(self) -> int:
        return len(self.builds)

    def _counts_text(self) -> str:
        counts = self.outcome_counts()
        outcome_text = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        kinds = self.events["kind"].value_counts()
        return (
            f"{len(self.builds)} build(s) ({outcome_text or 'none'}), "
            f"{len(self.phases)} phase(s), {len(self.events)} event(s) "
            f"({int(kinds.get('error', 0))} error(s), {int(kinds.get('warning', 0))} "
            f"warning(s)), {len(self.specs)} spec(s)"
        )

    def __repr__(self) -> str:
        runs = self.runs
        run_text = f", {len(runs)} run(s)" if runs else ""
        return f"<MonitorData {self.source!r}: {self._counts_text()}{run_text}>"

    def _repr_html_(self) -> str:
        esc = html.escape
        counts = self.outcome_counts()
        kinds = self.events["kind"].value_counts()
        cells = "".join(f"<th>{esc(k)}</th>" for k in OUTCOMES)
        values = "".join(f"<td>{counts[k]}</td>" for k in OUTCOMES)
        runs = self.runs
        run_line = f"<br>runs: {esc(', '.join(runs))}" if runs else ""
        return (
            f"<div><strong>MonitorData</strong> <code>{esc(self.source)}</code>{run_line}"
            "<table><thead><tr><th>builds</th>"
            f"{cells}<th>phases</th><th>errors</th><th>warnings</th><th>specs</th>"
            f"</tr></thead><tbody><tr><td>{len(self.builds)}</td>{values}"
            f"<td>{len(self.phases)}</td><td>{int(kinds.get('error', 0))}</td>"
            f"<td>{int(kinds.get('warning', 0))}</td><td>{len(self.specs)}</td></tr>"
            "</tbody></table></div>"
        )


def _pd_na() -> Any:
    import pandas as pd

    return pd.NA


def _plain(value: Any) -> Any:
    """A frame cell as a plain Python value (``None`` for missing)."""
    value = _none_if_na(value)
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, str | tuple | list):
        try:
            return value.item()
        except (ValueError, AttributeError):  # pragma: no cover
            return value
    return value


def _decategorize(frame: pandas.DataFrame) -> pandas.DataFrame:
    import pandas as pd

    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return frame
    return frame.assign(**{c: frame[c].astype(object) for c in cats})


# ---------------------------------------------------------------------------------
# save-local directories


def load_save_local(
    path: str | os.PathLike[str],
    *,
    keep_output: bool = True,
    rules: Rules | str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> MonitorData:
    """Load a ``--monitor-save-local`` run directory, or a directory of runs
    (``~/.spack/reports/monitor/``), into a :class:`MonitorData`.

    Builds are keyed by their local 32-hex id; ``run`` is the run directory's name and
    ``run_time`` its timestamp (from the ``<%Y-%m-%d-%H-%M-%S-epoch>`` name; for other
    names, the run's earliest log timestamp). Phase order, start, end and duration
    come from Spack's ``==> [timestamp]`` lines in the outputs (taken as UTC); events
    from :func:`~spackmon_analysis.logs.parse_log` on every phase output (with
    ``rules``, a :class:`~spackmon_analysis.logs.Rules` or a rules file path).
    ``keep_output=False`` drops the log text after parsing (``output`` is ``<NA>``).
    Files that cannot be used are skipped and listed in ``problems`` (``strict=True``
    raises instead); those the upload rules of :mod:`~spackmon_analysis.localfiles`
    refuse (a symbolic link out of the run directory, over a size cap) are also named in
    ``notes``, as :func:`load_install_tree` names them.

    Raises:
        SaveLocalError: the path does not exist or holds no save-local files.
    """
    from .savelocal import read_save_local

    active_rules = _resolve_rules(rules)
    runs = read_save_local(path, strict=strict)
    asm = _Assembler(keep_output=keep_output, rules=active_rules)
    for run in runs:
        for graph, _version, _name in run.specs:
            asm.add_graph(graph)
    for run in runs:
        for filename, message in run.problems:
            asm.problems.append((f"{run.name}/{filename}", message))
        # files the upload rules left out are named in notes too, as for install trees
        asm.notes.extend((f"{run.name}/{filename}", message) for filename, message in run.skipped)
        by_build: dict[str, list[Any]] = {}
        for phase in run.phases:
            by_build.setdefault(phase.build_key, []).append(phase)
        starts = [p.started_at for p in run.phases if p.started_at is not None]
        run_time = run.timestamp or (min(starts) if starts else None)
        for record in run.builds:
            phases = by_build.get(record.key, [])
            phases.sort(key=lambda p: p.order if p.order is not None else 0)
            own = [p.started_at for p in phases if p.started_at is not None]
            full_hash = asm.resolve(record.full_hash)
            spec = asm.specs.get(full_hash)
            asm.add_build(
                key=record.key,
                build_id=record.build_id,
                run=run.name,
                run_time=run_time,
                full_hash=full_hash,
                spec_name=record.spec_name or (spec[1] if spec else None),
                spec_version=record.spec_version or (spec[2] if spec else None),
                status=record.status,
                env=record.environment(),
                tags=record.tags,
                owner=record.owner,
                created_at=record.created_at or (min(own) if own else run_time),
                source="save-local",
                phases=[_phase_dict(p) for p in phases],
            )
    return MonitorData(
        **asm.frames(),
        source=str(Path(path).expanduser()),
        rules=active_rules,
        problems=asm.problems,
        notes=asm.notes,
    )


def _phase_dict(p: PhaseRecord) -> dict[str, Any]:
    """A :class:`~spackmon_analysis.records.PhaseRecord` as ``_Assembler.add_build`` takes it."""
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


# ---------------------------------------------------------------------------------
# install trees


def _installation_times(root: Path) -> dict[str, Any]:
    """DAG hash -> installation time from the tree's ``.spack-db/index.json`` (if any)."""
    for base in (root, *root.parents[:3]):
        index = base / ".spack-db" / "index.json"
        if index.is_file():
            try:
                doc = json.loads(index.read_text(encoding="utf-8"))
                installs = doc["database"]["installs"]
            except (OSError, ValueError, KeyError, TypeError):
                return {}
            out = {}
            if isinstance(installs, dict):
                for key, entry in installs.items():
                    stamp = entry.get("installation_time") if isinstance(entry, dict) else None
                    if isinstance(stamp, int | float):
                        out[key] = datetime.fromtimestamp(stamp, tz=timezone.utc)
            return out
    return {}


#: ``tinybroken@0.9%gcc@12.2.0 arch=...``: the compiler of a stage directory's build
#: (no spec file there) from ``SPACK_SHORT_SPEC`` in its ``spack-build-env.txt``.
_SHORT_SPEC_COMPILER = re.compile(r"%([^\s%~+^/]+@[^\s%~+^/]+)")


def load_install_tree(
    path: str | os.PathLike[str],
    *,
    keep_output: bool = True,
    rules: Rules | str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> MonitorData:
    """Load an install tree (``opt/spack``), a single install prefix, its ``.spack``
    folder, a failed build's stage directory, or a folder of those.

    Builds are keyed by DAG hash; an install prefix is a ``SUCCESS`` build, a stage
    directory whose log shows an error a failed one
    (:func:`~spackmon_analysis.installs.read_install_prefix` decides). Phases come from
    the per-phase logs (plain or ``.gz``) with ``install_times.json`` durations; events
    from :func:`~spackmon_analysis.logs.parse_log`. ``created_at``/``run_time`` are the
    installation time of ``.spack-db/index.json`` when the tree has one, else the first
    log timestamp. A prefix that cannot be read is skipped and listed in ``problems``
    (``strict=True`` raises).

    Raises:
        InstallPrefixError: the path does not exist or holds no prefix/stage directory.
    """
    from .installs import find_install_prefixes

    root = Path(path).expanduser()
    if not root.exists():
        raise InstallPrefixError("no such file or directory", path=str(root))
    prefixes = find_install_prefixes(root) if root.is_dir() else []
    return _load_prefixes(root, prefixes, keep_output=keep_output, rules=rules, strict=strict)


def _load_prefixes(
    root: Path,
    prefixes: list[Path],
    *,
    keep_output: bool = True,
    rules: Rules | str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> MonitorData:
    """:func:`load_install_tree` of ``root`` once its prefixes and stage directories are
    found (``[]``: ``root`` itself is one)."""
    from .installs import read_install_prefix

    active_rules = _resolve_rules(rules)
    records = []
    problems: list[tuple[str, str]] = []
    if not prefixes:
        try:
            records.append(read_install_prefix(root))
        except InstallPrefixError as exc:
            raise InstallPrefixError(
                "no install prefixes (<prefix>/.spack/spec.json) or spack-stage-* "
                f"directories found ({exc})",
                path=str(root),
            ) from None
    for prefix in prefixes:
        try:
            records.append(read_install_prefix(prefix))
        except SpackmonError as exc:
            if strict:
                raise
            problems.append((str(prefix), str(exc)))
    # prefixes before stage directories: a stage directory of a hash that is installed is
    # an earlier failed attempt the install superseded (the prefix is the current state)
    records.sort(key=lambda r: (r.kind != "prefix", str(r.path)))
    installed = {r.build.key for r in records if r.kind == "prefix"}
    notes = [
        (
            str(r.path),
            f"stage directory of {r.build.spec_name} {r.build.key}: superseded by its install",
        )
        for r in records
        if r.kind != "prefix" and r.build.key in installed
    ]
    records = [r for r in records if r.kind == "prefix" or r.build.key not in installed]
    notes += [(str(r.path), message) for r in records for message in r.notes]
    # files the upload rules left out (symlinks out of the prefix, oversized files)
    notes += [item for r in records for item in r.skipped]
    times = _installation_times(root if root.is_dir() else root.parent)
    asm = _Assembler(keep_output=keep_output, rules=active_rules)
    asm.problems.extend(problems)
    for record in records:
        if record.spec is not None:
            asm.add_graph(record.spec)
    for record in records:
        build = record.build
        starts = [p.started_at for p in record.phases if p.started_at is not None]
        created = times.get(build.key) or (min(starts) if starts else None)
        full_hash = asm.resolve(build.full_hash)
        short = _SHORT_SPEC_COMPILER.search(build.environment_variables.get("SPACK_SHORT_SPEC", ""))
        asm.add_build(
            compiler=short.group(1) if short else None,
            key=build.key,
            dag_hash=build.key,
            build_id=None,
            run=None,
            run_time=created,
            full_hash=full_hash,
            spec_name=build.spec_name,
            spec_version=build.spec_version,
            status=build.status,
            env=build.environment(),
            tags=build.tags,
            owner=None,
            created_at=created,
            source="install",
            phases=[_phase_dict(p) for p in sorted(record.phases, key=lambda p: p.order or 0)],
        )
    return MonitorData(
        **asm.frames(),
        source=str(root),
        rules=active_rules,
        problems=asm.problems,
        notes=notes + asm.notes,
    )


# ---------------------------------------------------------------------------------
# server rows (data API / database)


def _need(row: Any, name: str, route: str, error: type[Exception]) -> Any:
    if not isinstance(row, Mapping):
        raise _make_error(error, f"{route}: expected a JSON object per row, got {row!r:.80}")
    if name not in row:
        ident = row.get("id", "?")
        raise _make_error(error, f"{route} row id={ident}: missing field {name!r}")
    return row[name]


def _make_error(error: type[Exception], message: str) -> Exception:
    return error(message)


def _empty_to_none(value: Any) -> Any:
    return None if value == "" else value


def _from_rows(
    rows: Mapping[str, list[dict[str, Any]]], *, source: str, label: str, keep_output: bool
) -> MonitorData:
    error: type[Exception] = MonitorError if source == "server" else ConfigError
    asm = _Assembler(keep_output=keep_output, rules=None, parse_events=False)

    for row in rows["specs"]:
        _add_server_spec(
            asm,
            _need(row, "full_hash", "specs", error),
            _need(row, "name", "specs", error),
            row.get("version"),
            row.get("compiler_name"),
            row.get("compiler_version"),
            row.get("platform"),
            row.get("os"),
            row.get("target"),
            row.get("namespace"),
            row.get("external"),
            row.get("hash"),
            row.get("build_hash"),
            row.get("dag_hash"),
        )
    for row in rows["dependencies"]:
        parent = _need(row, "spec_full_hash", "dependencies", error)
        child = _need(row, "dependency_full_hash", "dependencies", error)
        if (parent, child) not in asm.edges:
            deptypes = row.get("deptypes") or []
            asm.edges[(parent, child)] = (
                parent,
                child,
                row.get("spec_name"),
                row.get("dependency_name"),
                ",".join(sorted(str(d) for d in deptypes)),
            )

    # events per phase id, in stored order
    events_of: dict[Any, list[LogEvent]] = {}
    for route in ("builderrors", "buildwarnings"):
        for row in rows[route]:
            phase_id = _need(row, "phase", route, error)
            text = _need(row, "text", route, error)
            classes = tuple(row.get("classes") or ())
            event = LogEvent(
                kind=_need(row, "kind", route, error),
                text=text,
                line_no=row.get("line_no"),
                source_file=row.get("source_file"),
                source_line_no=row.get("source_line_no"),
                pre_context=list(row.get("pre_context") or []),
                post_context=list(row.get("post_context") or []),
                repeat_count=row.get("repeat_count") or 1,
                classes=classes,
                fingerprint=fingerprint(text),
            )
            events_of.setdefault(phase_id, []).append(event)

    phases_of: dict[Any, list[tuple[str, Any, dict[str, Any]]]] = {}
    for row in rows["buildphases"]:
        build_id = _need(row, "build", "buildphases", error)
        name = _need(row, "name", "buildphases", error)
        phase_id = _need(row, "id", "buildphases", error)
        output = row.get("output")
        stamps = phase_timestamps(output)
        started = stamps[0] if stamps else None
        finished = stamps[-1] if stamps else None
        duration = (finished - started).total_seconds() if len(stamps) >= 2 else None
        events = sorted(events_of.get(phase_id, []), key=lambda e: e.line_no or 0)
        phase = {
            "name": name,
            "status": row.get("status"),
            "output": output,
            "output_size": row.get("output_size"),
            "duration": duration,
            "started_at": started,
            "finished_at": finished,
            "phase_id": phase_id,
            "events": events,
        }
        phases_of.setdefault(build_id, []).append((name, started, phase))

    for row in rows["builds"]:
        build_id = _need(row, "id", "builds", error)
        full_hash = asm.resolve(_need(row, "full_hash", "builds", error))
        phases = _order_by_time(phases_of.get(build_id, []))
        for index, phase in enumerate(phases):
            phase["order"] = index
        created = row.get("created_at")
        asm.add_build(
            key=str(build_id),
            build_id=build_id,
            run=None,
            run_time=created,
            full_hash=full_hash,
            spec_name=row.get("spec_name"),
            spec_version=_empty_to_none(row.get("spec_version")),
            status=row.get("status"),
            env=row,
            tags=[str(t) for t in (row.get("tags") or [])],
            owner=row.get("owner"),
            created_at=created,
            source=source,
            phases=phases,
        )
    return MonitorData(**asm.frames(), source=label, rules=None, problems=asm.problems)


# ---------------------------------------------------------------------------------
# server database read directly (MonitorData.from_database)

#: Rows per keyset page (each page is read in its own short transaction).
_DB_PAGE = 20_000


def _db_pages(engine: Any, stmt: Any, id_col: Any) -> Iterable[list[Any]]:
    """The rows of ``stmt`` (ordered by ``id_col``, selected first) in keyset pages, as the
    DBAPI's plain tuples: raw column values (no SQLAlchemy result processing, so JSON
    may be text or decoded and times text or ``datetime`` depending on the driver)."""
    last = None
    while True:
        query = (stmt if last is None else stmt.where(id_col > int(last))).limit(_DB_PAGE)
        sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        with engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(sql)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        if rows:
            yield rows
        if len(rows) < _DB_PAGE:
            return
        last = rows[-1][0]


def _category(values: Any, fixed: tuple[str, ...] | None = None) -> Any:
    """``values`` (object array of str, None for missing) as the contract's categorical:
    categories ``fixed`` then the other values present, sorted (as ``_to_category``)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values, sort=True)
    present = [str(u) for u in uniques]
    if fixed is None:
        categories = present
    else:
        categories = list(fixed) + [v for v in present if v not in fixed]
        where = {c: i for i, c in enumerate(categories)}
        mapping = np.array([where[v] for v in present], dtype=np.int64)
        codes = np.where(codes >= 0, mapping[codes] if len(mapping) else -1, -1)
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype="str"))
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _json_values(values: list[Any]) -> list[Any]:
    """Raw JSON column values (text, or already decoded by the driver) decoded; repeated
    texts are decoded once."""
    cache: dict[str, Any] = {}
    out = []
    for value in values:
        if isinstance(value, str):
            decoded = cache.get(value)
            if decoded is None:
                decoded = cache[value] = json.loads(value)
            out.append(decoded)
        else:
            out.append(value)
    return out


def _db_times(values: list[Any]) -> Any:
    """Raw ``DateTime`` column values (SQLite: text; other drivers: ``datetime``, naive
    taken as UTC) as ``datetime64[ns, UTC]``."""
    import pandas as pd

    series = pd.Series(values, dtype=object)
    return pd.to_datetime(series, utc=True, format="ISO8601").dt.as_unit("ns").array


def _arrow_strings() -> bool:
    import pandas as pd

    return pd.StringDtype().storage == "pyarrow"


def _utc_ns(us: Any, known: Any) -> Any:
    """Microseconds since the epoch (int64) as ``datetime64[ns, UTC]`` (NaT where not known)."""
    import numpy as np
    import pandas as pd

    ns = (us * 1000).view("datetime64[ns]")
    ns[~known] = np.datetime64("NaT")
    return pd.Series(ns, dtype="datetime64[ns]").dt.tz_localize("UTC").array


def _read_database(engine: Any, *, keep_output: bool) -> dict[str, Any]:
    """The five frames of a server database, read column-wise with SQLAlchemy Core.

    Same frames as :func:`_from_rows` on the data API rows of that database, without
    building a dict per row: phases are read page by page into column arrays, their
    first/last log stamps found without scanning the whole log and parsed vectorised.
    """
    import numpy as np
    import pandas as pd
    from sqlalchemy import func, select

    from .savelocal import first_last_stamp_texts, parse_stamps
    from .server.tables import (
        build_environments,
        build_events,
        build_phases,
        builds,
        dependencies,
        specs,
        users,
    )

    asm = _Assembler(keep_output=keep_output, rules=None, parse_events=False)

    # specs and dependencies (small): the same tuples as _from_rows
    spec_stmt = select(
        specs.c.id,
        specs.c.full_hash,
        specs.c.name,
        specs.c.version,
        specs.c.compiler_name,
        specs.c.compiler_version,
        specs.c.platform,
        specs.c.os,
        specs.c.target,
        specs.c.namespace,
        specs.c.external,
        specs.c.hash,
        specs.c.build_hash,
        specs.c.dag_hash,
    ).order_by(specs.c.id)
    for rows in _db_pages(engine, spec_stmt, specs.c.id):
        for row in rows:
            _add_server_spec(asm, *row[1:])
    parent, child = specs.alias("parent"), specs.alias("child")
    dep_stmt = (
        select(
            dependencies.c.id,
            parent.c.full_hash,
            child.c.full_hash,
            parent.c.name,
            child.c.name,
            dependencies.c.deptypes,
        )
        .join(parent, parent.c.id == dependencies.c.spec_id)
        .join(child, child.c.id == dependencies.c.dependency_id)
        .order_by(dependencies.c.id)
    )
    joined_types: dict[str, str] = {}
    for rows in _db_pages(engine, dep_stmt, dependencies.c.id):
        for _id, p_hash, c_hash, p_name, c_name, deptypes in rows:
            if (p_hash, c_hash) not in asm.edges:
                key = deptypes if isinstance(deptypes, str) else None
                text = joined_types.get(key) if key is not None else None
                if text is None:
                    decoded = json.loads(deptypes) if key is not None else deptypes
                    text = ",".join(sorted(str(d) for d in decoded or []))
                    if key is not None:
                        joined_types[key] = text
                asm.edges[(p_hash, c_hash)] = (p_hash, c_hash, p_name, c_name, text)

    # builds, in id order
    build_stmt = (
        select(
            builds.c.id,
            specs.c.full_hash,
            specs.c.name,
            specs.c.version,
            builds.c.status,
            build_environments.c.host_os,
            build_environments.c.platform,
            build_environments.c.host_target,
            build_environments.c.hostname,
            build_environments.c.kernel_version,
            builds.c.spack_version,
            users.c.username,
            builds.c.tags,
            builds.c.created_at,
        )
        .join(specs, specs.c.id == builds.c.spec_id)
        .join(build_environments, build_environments.c.id == builds.c.build_environment_id)
        .join(users, users.c.id == builds.c.owner_id)
        .order_by(builds.c.id)
    )
    b_cols: list[list[Any]] = [[] for _ in range(14)]
    for rows in _db_pages(engine, build_stmt, builds.c.id):
        for column, values in zip(b_cols, zip(*rows, strict=True), strict=True):
            column.extend(values)
    (b_id, b_hash, b_name, b_version, b_status, b_host_os, b_platform, b_host_target,
     b_hostname, b_kernel, b_spack, b_owner, b_tags, b_created) = b_cols  # fmt: skip
    del b_cols
    nb = len(b_id)
    build_ids = np.array(b_id, dtype=np.int64)
    build_keys = np.array([str(i) for i in b_id], dtype=object)

    # phases, page by page into columns
    phase_cols = [
        build_phases.c.id,
        build_phases.c.build_id,
        build_phases.c.name,
        build_phases.c.status,
        func.coalesce(func.length(build_phases.c.output), 0),
    ]
    if keep_output:
        phase_cols.append(build_phases.c.output)
    phase_stmt = select(*phase_cols).order_by(build_phases.c.id)
    p_id: list[Any] = []
    p_build: list[Any] = []
    p_name: list[Any] = []
    p_status: list[Any] = []
    p_size: list[Any] = []
    p_output: list[Any] = []
    p_start: list[Any] = []
    p_start_ok: list[Any] = []
    p_finish: list[Any] = []
    p_finish_ok: list[Any] = []
    p_two: list[Any] = []
    arrow = _arrow_strings()
    for rows in _db_pages(engine, phase_stmt, build_phases.c.id):
        columns = list(zip(*rows, strict=True))
        del rows
        p_id.append(np.array(columns[0], dtype=np.int64))
        p_build.append(np.array(columns[1], dtype=np.int64))
        p_name.extend(columns[2])
        p_status.extend(columns[3])
        p_size.append(np.array(columns[4], dtype=np.int64))
        if not keep_output:
            continue
        outputs = columns[5]
        p_output.append(_string_chunk(outputs, arrow))
        spans = [first_last_stamp_texts(o) for o in outputs]
        firsts, lasts, twos = zip(*spans, strict=True) if spans else ((), (), ())
        start, start_ok = parse_stamps(list(firsts))
        finish, finish_ok = parse_stamps(list(lasts))
        two = np.array(twos, dtype=bool)
        # a stamp that is not a valid time: the exact (slow) path decides
        for i in np.flatnonzero(
            np.array([f is not None for f in firsts], dtype=bool) & ~(start_ok & finish_ok)
        ):
            start[i], start_ok[i], finish[i], finish_ok[i], two[i] = _slow_stamps(outputs[i])
        p_start.append(start)
        p_start_ok.append(start_ok)
        p_finish.append(finish)
        p_finish_ok.append(finish_ok)
        p_two.append(two)

    def joined(parts: list[Any], dtype: Any) -> Any:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    ids = joined(p_id, np.int64)
    phase_builds = joined(p_build, np.int64)
    sizes = joined(p_size, np.int64)
    n = len(ids)
    names = np.empty(n, dtype=object)
    names[:] = p_name
    statuses = np.empty(n, dtype=object)
    statuses[:] = p_status
    del p_name, p_status
    if keep_output:
        start, start_ok = joined(p_start, np.int64), joined(p_start_ok, bool)
        finish, finish_ok = joined(p_finish, np.int64), joined(p_finish_ok, bool)
        two = joined(p_two, bool)
    else:
        start = finish = np.zeros(n, dtype=np.int64)
        start_ok = finish_ok = two = np.zeros(n, dtype=bool)
    durations = np.where(start_ok & finish_ok & two, (finish - start) / 1e6, np.nan)

    # phases of known builds, each build's phases in the save-local reader's order
    pos = np.searchsorted(build_ids, phase_builds)
    pos[pos >= nb] = 0
    valid = (build_ids[pos] == phase_builds) if nb else np.zeros(n, dtype=bool)
    timed = start_ok
    name_codes, name_uniques = pd.factorize(names, sort=True)
    ranks = np.array([_phase_rank(str(u)) for u in name_uniques], dtype=np.int64)
    key1 = np.where(timed, start, ranks[name_codes] if n else 0)
    key2 = np.where(timed, 0, name_codes)
    untimed_in = np.bincount(pos[valid & ~timed], minlength=nb)
    timed_in = np.bincount(pos[valid & timed], minlength=nb)
    mixed = np.flatnonzero((untimed_in > 0) & (timed_in > 0))
    if len(mixed):
        mixed_set = set(mixed.tolist())
        members: dict[int, list[int]] = {}
        for i in np.flatnonzero(valid & np.isin(pos, mixed)).tolist():
            members.setdefault(int(pos[i]), []).append(i)
        for b in mixed_set:
            items = [(str(names[i]), start[i] if timed[i] else None, i) for i in members[b]]
            for place, i in enumerate(_order_by_time(items)):
                key1[i], key2[i] = place, 0
    keep = np.flatnonzero(valid)
    perm = keep[np.lexsort((ids[keep], key2[keep], key1[keep], pos[keep]))]
    del key1, key2
    owner_pos = pos[perm]
    m = len(perm)
    first_of_group = np.ones(m, dtype=bool)
    first_of_group[1:] = owner_pos[1:] != owner_pos[:-1]
    index = np.arange(m, dtype=np.int64)
    order = index - np.maximum.accumulate(np.where(first_of_group, index, 0))

    if keep_output:
        output_column = _string_column(p_output, perm, n, arrow)
        del p_output
    else:
        output_column = pd.array([None] * m, dtype="string")
    phase_durations = durations[perm]
    phase_status = statuses[perm]
    phases = pd.DataFrame(
        {
            "build": pd.array(build_keys[owner_pos], dtype="string"),
            "phase_id": pd.array(ids[perm], dtype="Int64"),
            "name": _category(names[perm]),
            "order": pd.array(order, dtype="Int64"),
            "status": _category(phase_status, PHASE_STATUS_CATEGORIES),
            "output_size": pd.array(sizes[perm], dtype="Int64"),
            "duration": phase_durations,
            "started_at": _utc_ns(start[perm], start_ok[perm]),
            "finished_at": _utc_ns(finish[perm], finish_ok[perm]),
            "output": output_column,
        }
    )
    del output_column

    # builds: duration = sum of known phase durations, outcome from statuses
    known = ~np.isnan(phase_durations)
    total = np.bincount(owner_pos[known], weights=phase_durations[known], minlength=nb)
    counted = np.bincount(owner_pos[known], minlength=nb)
    errored = np.bincount(owner_pos[phase_status == "ERROR"], minlength=nb) > 0
    compilers = {k: row[3] for k, row in asm.specs.items()}
    full_hashes = [asm.resolve(h) for h in b_hash]
    outcome = [
        "failed" if err else _outcome(status, ())
        for err, status in zip(errored.tolist(), b_status, strict=True)
    ]
    created = _db_times(b_created)
    tag_tuples: dict[int, tuple[str, ...]] = {}
    tags = _object_column(
        [
            tag_tuples.get(id(v)) or tag_tuples.setdefault(id(v), tuple(str(t) for t in v or ()))
            for v in _json_values(b_tags)
        ]
    )

    def text(values: list[Any]) -> Any:
        return pd.array(values, dtype="string")

    builds_frame = pd.DataFrame(
        {
            "build": pd.array(build_keys, dtype="string"),
            "build_id": pd.array(build_ids, dtype="Int64"),
            "run": _category(np.full(nb, None, dtype=object)),
            "run_time": created,
            "full_hash": text(full_hashes),
            "spec_name": text(b_name),
            "spec_version": text([_empty_to_none(v) for v in b_version]),
            "compiler": _category(_object_column([compilers.get(h) for h in full_hashes])),
            "status": _category(_object_column(b_status), BUILD_STATUS_CATEGORIES),
            "outcome": _category(_object_column(outcome), OUTCOMES),
            "host_os": _category(_object_column(b_host_os)),
            "platform": _category(_object_column(b_platform)),
            "host_target": _category(_object_column(b_host_target)),
            "hostname": _category(_object_column(b_hostname)),
            "kernel_version": _category(_object_column(b_kernel)),
            "spack_version": _category(_object_column(b_spack)),
            "tags": tags,
            "owner": text(b_owner),
            "created_at": created,
            "duration": np.where(counted > 0, total, np.nan),
            "source": _category(np.full(nb, "database", dtype=object), SOURCES),
        }
    )

    # events: the stored builderrors/buildwarnings, per phase in frame order, by line
    events_of: dict[int, list[LogEvent]] = {}
    for kind in ("error", "warning"):
        event_stmt = (
            select(
                build_events.c.id,
                build_events.c.phase_id,
                build_events.c.kind,
                build_events.c.text,
                build_events.c.line_no,
                build_events.c.source_file,
                build_events.c.source_line_no,
                build_events.c.pre_context,
                build_events.c.post_context,
                build_events.c.repeat_count,
                build_events.c.classes,
            )
            .where(build_events.c.kind == kind)
            .order_by(build_events.c.id)
        )
        for rows in _db_pages(engine, event_stmt, build_events.c.id):
            for row in rows:
                pre, post, classes = _json_values([row[7], row[8], row[10]])
                events_of.setdefault(row[1], []).append(
                    LogEvent(
                        kind=row[2],
                        text=row[3],
                        line_no=row[4],
                        source_file=row[5],
                        source_line_no=row[6],
                        pre_context=list(pre or []),
                        post_context=list(post or []),
                        repeat_count=row[9] or 1,
                        classes=tuple(classes or ()),
                        fingerprint=fingerprint(row[3]),
                    )
                )
    if events_of:
        event_phases = list(events_of)
        where = pd.Index(ids[perm]).get_indexer(event_phases)
        for place, phase_id in sorted(
            (int(w), p) for w, p in zip(where, event_phases, strict=True) if w >= 0
        ):
            for event in sorted(events_of[phase_id], key=lambda e: e.line_no or 0):
                asm.events.append(event)
                asm.event_build.append(build_keys[owner_pos[place]])
                asm.event_phase.append(names[perm[place]])

    frames = asm.frames()
    frames["builds"] = builds_frame
    frames["phases"] = phases
    return frames


def _string_chunk(values: Any, arrow: bool) -> Any:
    """One page of log texts, as an Arrow array when the ``string`` dtype is Arrow-backed
    (so the page's Python strings can be dropped at once), else as a list."""
    if not arrow:
        return list(values)
    import pyarrow as pa

    return pa.array(values, type=pa.large_string())


def _string_column(chunks: list[Any], perm: Any, n: int, arrow: bool) -> Any:
    """The ``output`` column: the pages' texts taken in frame order ``perm``."""
    import numpy as np
    import pandas as pd

    if not arrow:
        values = np.empty(n, dtype=object)
        values[:] = [v for chunk in chunks for v in chunk]
        return pd.array(values[perm], dtype="string")
    import pyarrow as pa

    column = pa.chunked_array(chunks, type=pa.large_string())
    if len(perm) != n or not np.array_equal(perm, np.arange(n)):
        column = column.take(pa.array(perm))
    return pd.arrays.ArrowStringArray(column)


def _slow_stamps(output: str) -> tuple[int, bool, int, bool, bool]:
    """First/last valid stamps of ``output`` the exact way (:func:`phase_timestamps`),
    as microseconds since the epoch (for the rare log whose stamps are not valid times)."""
    stamps = phase_timestamps(output)
    epoch = datetime(1970, 1, 1)

    def micro(stamp: datetime) -> tuple[int, bool]:
        if not 1678 <= stamp.year <= 2261:
            return 0, False
        return (stamp - epoch) // timedelta(microseconds=1), True

    if not stamps:
        return 0, False, 0, False, False
    first, first_ok = micro(stamps[0])
    last, last_ok = micro(stamps[-1])
    return first, first_ok, last, last_ok, len(stamps) >= 2


def _add_server_spec(
    asm: _Assembler,
    key: str,
    name: str,
    version: str | None,
    compiler_name: str | None,
    compiler_version: str | None,
    platform: str | None,
    os_name: str | None,
    target: str | None,
    namespace: str | None,
    external: Any,
    dag: str | None,
    build_hash: str | None,
    dag_hash: str | None,
) -> None:
    """One server ``specs`` row into ``asm`` (data API rows and database rows alike)."""
    compiler = None
    if compiler_name:
        compiler = f"{compiler_name}@{compiler_version}" if compiler_version else compiler_name
    hashes = (dag, build_hash, dag_hash, key)
    if not dag and dag_hash and dag_hash != key:
        dag = dag_hash
    spec_row = (
        key,
        name,
        _empty_to_none(version),
        compiler,
        compiler_name,
        compiler_version,
        platform,
        os_name,
        target,
        namespace,
        bool(external),
        dag,
        build_hash,
    )
    asm.add_spec_row(key, spec_row, hashes)


# ---------------------------------------------------------------------------------
# dispatch


def _walk_folder(root: Path) -> tuple[list[Path], list[Path]]:
    """``(save-local runs, install prefixes and stage directories)`` anywhere under
    ``root``, each sorted, in one walk. The walk does not descend into prefixes or stage
    directories; inside a run it looks only for those (as
    :func:`~spackmon_analysis.installs.find_install_prefixes` does), not for nested runs."""
    from .installs import is_build_directory
    from .savelocal import is_save_local_run

    runs: list[Path] = []
    builds: list[Path] = []
    for dirpath, dirnames, _files in os.walk(root):  # top-down, depth first
        here = Path(dirpath)
        in_run = bool(runs) and here.is_relative_to(runs[-1])
        if not in_run and is_save_local_run(here):
            runs.append(here)
        if is_build_directory(here):
            builds.append(here)
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if d != ".spack")
    return sorted(runs), sorted(builds)


def _same_attempt(a: pandas.DataFrame, b: pandas.DataFrame) -> bool:
    """Whether two builds' phases (rows of ``phases``) are the same attempt: at least one
    phase has a non-empty log on both sides, and every such phase has the same log (the
    text when both kept it, else its size). An empty log on one side says nothing (Spack
    0.17's save-local client writes some phases with an empty ``output``)."""
    import pandas as pd

    def logs(frame: pandas.DataFrame) -> dict[str, Any]:
        out = {}
        for name, text, size in zip(
            frame["name"], frame["output"], frame["output_size"], strict=True
        ):
            if not pd.isna(size) and int(size) > 0:
                out[str(name)] = (str(text).rstrip() if not pd.isna(text) else None, size)
        return out

    mine, theirs = logs(a), logs(b)
    shared = set(mine) & set(theirs)
    if not shared:
        return False
    for name in shared:
        (t1, s1), (t2, s2) = mine[name], theirs[name]
        if t1 is not None and t2 is not None:
            if t1 != t2:
                return False
        elif int(s1) != int(s2):
            return False
    return True


def _merge_directories_into_runs(data: MonitorData, paths: dict[str | None, str]) -> MonitorData:
    """Drop each install-tree build that is the same build as a save-local one.

    The merge key is the DAG hash plus the attempt: an install prefix or stage directory
    and a save-local build are one build when they have the same DAG hash and the logs of
    their shared phases are identical (the prefix or stage keeps the logs of exactly the
    attempt the run recorded). The save-local build stays as it is (it has the run, tags and
    local id; its durations keep their one basis, the log stamps); each merge is a note."""
    import pandas as pd

    builds, phases = data.builds, data.phases
    source = builds["source"].astype(object)
    runs = builds[source == "save-local"]
    dirs = builds[source == "install"]
    if not len(runs) or not len(dirs):
        return data
    by_dag: dict[str, list[Any]] = {}
    for _, row in runs.sort_values("run_time", ascending=False, na_position="last").iterrows():
        if not pd.isna(row["dag_hash"]):
            by_dag.setdefault(str(row["dag_hash"]), []).append(row)
    phase_build = phases["build"].astype(object)
    drop: set[str] = set()
    notes: list[tuple[str, str]] = []
    # each build's phase rows, grouped once (a mask per build made the merge quadratic)
    rows_of = phase_build.groupby(phase_build, sort=False).indices

    def phases_of(build: Any) -> pandas.DataFrame:
        return phases.iloc[rows_of.get(str(build), [])]

    for _, row in dirs.iterrows():
        candidates = by_dag.get(str(row["dag_hash"]), [])
        if not candidates:
            continue
        key = str(row["build"])
        mine = phases_of(key)
        for other in candidates:
            if not _same_attempt(mine, phases_of(other["build"])):
                continue
            drop.add(key)
            notes.append(
                (
                    paths.get(key, key),
                    f"{row['spec_name']} /{short_hash(row['dag_hash'])}: the same build as "
                    f"save-local run "
                    f"{other['run']} build {other['build']} (same DAG hash, same phase logs); "
                    "counted once, as the run's build",
                )
            )
            break
    if not drop:
        return data
    keep_b = ~builds["build"].astype(object).isin(drop)
    keep_p = ~phase_build.isin(drop)
    keep_e = ~data.events["build"].astype(object).isin(drop)
    builds = builds[keep_b].reset_index(drop=True)
    phases = phases[keep_p].reset_index(drop=True)
    return MonitorData(
        specs=data.specs,
        dependencies=data.dependencies,
        builds=builds,
        phases=phases,
        events=data.events[keep_e].reset_index(drop=True),
        source=data.source,
        rules=data.rules,
        problems=data.problems,
        notes=data.notes + notes,
    )


def _load_folder(target: Path, runs: list[Path], builds: list[Path], **kwargs: Any) -> MonitorData:
    """Every save-local run and every install prefix / stage directory under ``target``
    as one object; see :func:`load`."""
    from .installs import build_directory_hash

    parts = [load_save_local(run, **kwargs) for run in runs]
    if builds:
        parts.append(_load_prefixes(target, builds, **kwargs))
    data = MonitorData.concat(parts)
    data.source = str(target)
    sources = [*runs, *builds]
    for child in sorted(target.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        if not any(s == child or child in s.parents for s in sources):
            data.notes.append(
                (
                    str(child),
                    "holds no save-local run, install prefix or stage directory; not loaded",
                )
            )
    paths = {build_directory_hash(b): str(b) for b in builds}
    return _merge_directories_into_runs(data, paths)


def load(path: str | os.PathLike[str], **kwargs: Any) -> MonitorData:
    """Load ``path`` with the right loader: a save-local run or directory of runs
    (:func:`load_save_local`), an install tree, prefix or stage directory
    (:func:`load_install_tree`), or a folder holding both kinds, at any depth: then
    every run and every prefix/stage directory is loaded into one object, the folders
    next to them that hold neither are named in ``notes``, and a build seen by both a
    run and a directory (same DAG hash, same phase logs: the same attempt) is counted
    once, as the run's build (a note says so). Keyword arguments go to the loaders.

    Raises:
        ConfigError: ``path`` is neither (the message names the path); its
            ``path`` attribute holds it.
    """
    from .savelocal import is_save_local_run

    target = Path(path).expanduser()
    if not target.exists():
        exc = ConfigError(f"{target}: no such file or directory")
        exc.path = str(target)  # type: ignore[attr-defined]
        raise exc
    if target.is_dir():
        if is_save_local_run(target):
            return load_save_local(target, **kwargs)
        runs, builds = _walk_folder(target)
        found = bool(builds)
        if runs and (found or any(run.parent != target for run in runs)):
            return _load_folder(target, runs, builds, **kwargs)
        if runs:
            return load_save_local(target, **kwargs)
        if found or (target / ".spack").is_dir() or target.name == ".spack":
            return load_install_tree(target, **kwargs)
    exc = ConfigError(
        f"{target}: neither a --monitor-save-local directory (build-*.json, "
        "spec-*-config.json) nor an install tree, prefix or spack-stage directory"
    )
    exc.path = str(target)  # type: ignore[attr-defined]
    raise exc
