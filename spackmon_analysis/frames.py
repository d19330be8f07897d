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

import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigError,
    InstallPrefixError,
    SpackmonError,
)
from .logs import LogEvent, Rules, load_rules, parse_log
from .spackfacts import OUTCOMES, build_outcome

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


def _utc(value: Any) -> Any:
    """A naive datetime taken as UTC (Spack's log stamps carry no zone)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _resolve_rules(rules: Rules | str | os.PathLike[str] | None) -> Rules | None:
    if rules is None or isinstance(rules, Rules):
        return rules
    return load_rules(rules)


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
                "outcome": build_outcome(status, (p.get("status") for p in phases)),
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
        from .loaders.server import _from_rows

        label = getattr(client, "baseurl", None) or getattr(client, "host", "") or "server"
        return _from_rows(rows, source="server", label=str(label), keep_output=keep_output)

    @classmethod
    def from_database(cls, url: Any, *, keep_output: bool = True) -> MonitorData:
        """Read a monitor server's database directly (SQLite or PostgreSQL URL, or an
        SQLAlchemy ``Engine``): the same frames as :meth:`from_client` on that server,
        without HTTP, for large pulls. Raises
        :class:`~spackmon_analysis.errors.ConfigError` for an unusable URL and
        :class:`~spackmon_analysis.errors.SchemaVersionError` for another schema."""
        from .loaders.database import read_database

        frames, label = read_database(url, keep_output=keep_output)
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
    from .loaders.savelocal import read_save_local

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
    (:func:`~spackmon_analysis.loaders.installs.read_install_prefix` decides). Phases come from
    the per-phase logs (plain or ``.gz``) with ``install_times.json`` durations; events
    from :func:`~spackmon_analysis.logs.parse_log`. ``created_at``/``run_time`` are the
    installation time of ``.spack-db/index.json`` when the tree has one, else the first
    log timestamp. A prefix that cannot be read is skipped and listed in ``problems``
    (``strict=True`` raises).

    Raises:
        InstallPrefixError: the path does not exist or holds no prefix/stage directory.
    """
    from .loaders.installs import find_install_prefixes

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
    from .loaders.installs import read_install_prefix

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


def load(path: str | os.PathLike[str], **kwargs: Any) -> MonitorData:
    """Load ``path`` with the right loader: see :func:`spackmon_analysis.loaders.detect.load`."""
    from .loaders.detect import load as detect_load

    return detect_load(path, **kwargs)
