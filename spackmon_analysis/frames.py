"""``MonitorData``: every source of Spack Monitor data as the same five pandas frames.

A ``--monitor-save-local`` directory (:func:`load_save_local`), an install tree
(:func:`load_install_tree`), a server through the client
(:meth:`MonitorData.from_client`) and a server's database read directly
(:meth:`MonitorData.from_database`) all become one :class:`MonitorData` holding the
frames ``specs``, ``dependencies``, ``builds``, ``phases`` and ``events``, with the
columns and dtypes of the contract in ``docs/analysis.md`` (even when empty).
:func:`load` picks the loader from what a path is. The loaders themselves live in
:mod:`spackmon_analysis.loaders` (one module per source, each returning a
:class:`~spackmon_analysis.loaders.assemble.FrameSet`); this module holds the dtype rules of
the frame contract (the columns are :data:`~spackmon_analysis.records.FRAME_COLUMNS`) and
:class:`MonitorData`, whose constructors call the loaders.

Build outcomes are derived the same way for every source: ``failed`` when one of the
build's own phases is ``ERROR`` (a root cause), ``succeeded`` when its status is
``SUCCESS`` and no phase errored, ``never built`` when its status is ``FAILED`` or
``CANCELLED`` without an ``ERROR`` phase (a dependent that never ran), else ``unknown``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import accessor  # noqa: F401  (registers the df.spack accessor on import)
from .buildview import BuildView
from .errors import ConfigError
from .loaders import detect, environment, installs, reports, savelocal, server
from .loaders.assemble import FrameSet, concat_frames, decategorize, fill_dag_hashes
from .logs import Rules
from .records import (
    ATTEMPT_FRAMES,
    BUILD_STATUS_CATEGORIES,
    EVENT_KINDS,
    FRAME_COLUMNS,
    OUTCOMES,
    PHASE_STATUS_CATEGORIES,
    SOURCES,
)
from .spec import spec_digraph

if TYPE_CHECKING:  # pragma: no cover
    import networkx
    import pandas

__all__ = [
    "MonitorData",
    "load",
    "load_save_local",
    "load_install_tree",
    "load_junit",
    "load_cdash",
    "load_environment",
    "OUTCOMES",
    "SOURCES",
    "FRAME_COLUMNS",
    "BUILD_STATUS_CATEGORIES",
    "PHASE_STATUS_CATEGORIES",
    "EVENT_KINDS",
]

#: Outcome given by :meth:`MonitorData.graph` to a node without any build.
NOT_BUILT = "not built"


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

    if kind == "string":
        if isinstance(series.dtype, pd.StringDtype) and series.dtype.na_value is pd.NA:
            return series
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        return series.astype("string")
    if kind == "category":
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


def _missing(kind: str, fixed: tuple[str, ...] | None, index: Any) -> pandas.Series:
    """A column the frame lacks: all missing in its contract dtype, made at once (no Python
    object per row: a million-build frame lacks a few such columns)."""
    import numpy as np
    import pandas as pd

    n = len(index)
    values: Any
    if kind == "string":
        values = pd.array(np.full(n, None, dtype=object), dtype="string")
    elif kind == "category":
        categories = pd.Index(list(fixed or ()), dtype="str")
        values = pd.Categorical.from_codes(
            np.full(n, -1, dtype=np.int8), dtype=pd.CategoricalDtype(categories)
        )
    elif kind == "bool":
        values = np.zeros(n, dtype=bool)
    elif kind == "Int64":
        values = pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))
    elif kind == "float64":
        values = np.full(n, np.nan)
    elif kind == "datetime":
        values = pd.array(np.full(n, np.datetime64("NaT"), dtype="M8[ns]")).tz_localize("UTC")
    else:
        values = np.full(n, None, dtype=object)
    return pd.Series(values, index=index)


def _in_contract(dtype: Any, kind: str, fixed: tuple[str, ...] | None) -> bool:
    """Whether a column of ``dtype`` is already what :func:`_coerce` makes of a column of
    ``kind`` (so it would return it unchanged)."""
    import numpy as np
    import pandas as pd

    if kind == "string":
        return isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA
    if kind == "category":
        if not isinstance(dtype, pd.CategoricalDtype):
            return False
        categories = list(dtype.categories)
        return all(isinstance(c, str) for c in categories) and (
            fixed is None or categories == list(fixed)
        )
    if kind == "bool":
        return isinstance(dtype, np.dtype) and dtype.kind == "b"
    if kind == "Int64":
        return str(dtype) == "Int64"
    if kind == "float64":
        return isinstance(dtype, np.dtype) and dtype == np.float64
    if kind == "datetime":
        return str(dtype) == "datetime64[ns, UTC]"
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


#: Each frame's empty contract form, made once (a loader leaves whole frames out: JUnit
#: reports have no specs); :func:`_conform` hands out shallow copies.
_EMPTY: dict[str, pandas.DataFrame] = {}


def _conform(name: str, frame: pandas.DataFrame | None) -> pandas.DataFrame:
    """``frame`` with every contract column of frame ``name`` in order and dtype.

    A frame that already holds every contract column first, in order and in its dtype
    (what the column-wise loaders make) is checked column by column and returned as a
    shallow copy (copy-on-write keeps it apart from the caller's): the same frame the
    column-by-column conversion gives, without building it again."""
    import pandas as pd

    schema = FRAME_COLUMNS[name]
    if frame is None:
        empty = _EMPTY.get(name)
        if empty is None:
            empty = _EMPTY[name] = _conform(name, pd.DataFrame())
        return empty.copy(deep=False)
    if len(frame) and len(frame.columns) >= len(schema) and frame.columns.is_unique:
        names = list(frame.columns[: len(schema)])
        dtypes = list(frame.dtypes.iloc[: len(schema)])
        if all(
            have == column and _in_contract(dtype, kind, fixed)
            for have, dtype, (column, kind, fixed) in zip(names, dtypes, schema, strict=True)
        ):
            return frame.copy(deep=False)
    n = len(frame)
    index = frame.index if n else pd.RangeIndex(0)
    cols: dict[str, Any] = {}
    for column, kind, fixed in schema:
        if column in frame.columns:
            cols[column] = _coerce(frame[column], kind, fixed)
        else:
            cols[column] = _missing(kind, fixed, index)
    extra = [c for c in frame.columns if c not in cols]
    for column in extra:
        cols[column] = frame[column]
    # no copy of the columns (a dict of Series is copied by default, and a million builds'
    # logs are GBs); copy-on-write keeps the caller's frame and this one apart
    return pd.DataFrame(cols, index=index, copy=False)


# ---------------------------------------------------------------------------------
# MonitorData


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

    The history frames ``attempts``, ``attempt_phases`` and ``attempt_events`` hold every
    attempt of every build. A source that keeps one attempt per build row (save-local runs,
    install trees, a server without history) leaves them out and they are derived from
    ``builds``, ``phases`` and ``events`` on first use (attempt key = build key); a source
    that keeps every attempt gives them (``attempts=`` a dict of the three frames).
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
        attempts: Mapping[str, pandas.DataFrame | None] | None = None,
    ):
        self.specs = _conform("specs", specs)
        self.dependencies = _conform("dependencies", dependencies)
        self.builds = _conform("builds", builds)
        self.phases = _conform("phases", phases)
        self.events = _conform("events", events)
        self.source = source
        self.rules = rules
        self.problems = list(problems or [])
        self.notes = list(notes or [])
        fill_dag_hashes(self.builds, self.specs)
        self._attempts: dict[str, pandas.DataFrame] | None = None
        self._attempts_given = attempts is not None
        if attempts is not None:
            self._attempts = {n: _conform(n, attempts.get(n)) for n in ATTEMPT_FRAMES}

    # -- the history frames -----------------------------------------------------------------
    @property
    def has_attempt_rows(self) -> bool:
        """Whether the source gave its own attempt rows (a server keeping every attempt),
        rather than one attempt per build derived from the build rows."""
        return self._attempts_given

    def _attempt_frames(self) -> dict[str, pandas.DataFrame]:
        if self._attempts is None:
            self._attempts = _derive_attempts(self)
        return self._attempts

    @property
    def attempts(self) -> pandas.DataFrame:
        """One row per attempt of a build (``attempt``, ``build``, ``number``,
        ``started_at``, ``finished_at``, ``status``, ``outcome``, ``duration``, ``latest``)."""
        return self._attempt_frames()["attempts"]

    @property
    def attempt_phases(self) -> pandas.DataFrame:
        """One row per phase of an attempt (``attempt``, ``name``, ``order``, ``status``,
        ``duration``, ``started_at``)."""
        return self._attempt_frames()["attempt_phases"]

    @property
    def attempt_events(self) -> pandas.DataFrame:
        """One row per error/warning event of an attempt (``attempt``, ``phase``, ``kind``,
        ``text``, ``line_no``, ``primary_class``, ``fingerprint``)."""
        return self._attempt_frames()["attempt_events"]

    # -- constructors --------------------------------------------------------------------
    @classmethod
    def empty(cls, source: str = "") -> MonitorData:
        """An object whose five frames are empty (with every contract column and dtype)."""
        return cls(source=source)

    @classmethod
    def from_frames(cls, frames: FrameSet) -> MonitorData:
        """A loader's :class:`~spackmon_analysis.loaders.assemble.FrameSet` as an object
        (every public loader returns this)."""
        return cls(
            specs=frames.specs,
            dependencies=frames.dependencies,
            builds=frames.builds,
            phases=frames.phases,
            events=frames.events,
            source=frames.source,
            rules=frames.rules,
            problems=frames.problems,
            notes=frames.notes,
            attempts=frames.attempts,
        )

    @classmethod
    def concat(cls, items: Iterable[MonitorData]) -> MonitorData:
        """Join several objects into one.

        Specs and dependencies are de-duplicated (by ``full_hash`` and by edge);
        builds are all kept: when a build key is already taken by an earlier object,
        the keys of the later object are prefixed with ``"<its source>:"`` (and
        ``"<position>:"`` if that is still not unique) in builds, phases and events.
        When any object has attempt rows of its own, the history frames of all are joined
        (each object's, derived or given), with the same prefixes.
        """
        items = list(items)
        joined = cls.from_frames(concat_frames(items))
        if any(getattr(item, "has_attempt_rows", False) for item in items):
            joined._attempts = _concat_attempts(items, joined.builds)
            joined._attempts_given = True
        return joined

    @classmethod
    def from_client(
        cls,
        client: Any,
        *,
        keep_output: bool = True,
        progress: bool = False,
        since: Any = None,
        until: Any = None,
        packages: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        status: str | Iterable[str] | None = None,
        columns: Iterable[str] | None = None,
    ) -> MonitorData:
        """Pull everything a server holds through a :class:`~spackmon_analysis.client.
        SpackMonitorClient` (data API routes specs, dependencies, builds, buildphases,
        builderrors, buildwarnings).

        ``keep_output=False`` asks the server to leave the log text out of the phases
        (phase durations then stay unknown: they come from the output's timestamps).
        Events are the server's stored ``builderrors``/``buildwarnings``. Rows missing
        a field raise :class:`~spackmon_analysis.errors.MonitorError` naming it. A server that
        keeps every attempt of a build fills the history frames (``attempts``,
        ``attempt_phases``, ``attempt_events``; :attr:`has_attempt_rows` True): the five frames
        show each build's latest attempt.

        ``since``, ``until``, ``packages``, ``tags``, ``status``: only the matching builds,
        as in :meth:`from_database`, asked of the server with the data API's build filters
        (``docs/server.md``): rows left out are never sent. A server that does not know
        those filters and answers with other builds raises
        :class:`~spackmon_analysis.errors.MonitorError`.

        ``columns``: the ``builds``/``phases`` columns to fill, as in :meth:`from_database`
        (the same frames); the server is asked only for the fields they need (the data
        API's ``fields=``: the others are never sent). The phases' logs still travel for
        their timestamps unless ``keep_output=False``, and are kept only when ``output`` is
        named. A server without ``fields=`` answers 400 (ask it without ``columns=``).
        (Loader: :mod:`spackmon_analysis.loaders.server`.)
        """
        selection = server.BuildSelection.check(
            since=since, until=until, packages=packages, tags=tags, status=status
        )
        return cls.from_frames(
            server.client_frames(
                client,
                keep_output=keep_output,
                progress=progress,
                selection=selection,
                columns=columns,
            )
        )

    @classmethod
    def from_database(
        cls,
        url: Any,
        *,
        keep_output: bool = True,
        since: Any = None,
        until: Any = None,
        packages: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        status: str | Iterable[str] | None = None,
        columns: Iterable[str] | None = None,
    ) -> MonitorData:
        """Read a monitor server's database directly (SQLite or PostgreSQL URL, or an
        SQLAlchemy ``Engine``): the same frames as :meth:`from_client` on that server,
        without HTTP, for large pulls. Raises
        :class:`~spackmon_analysis.errors.ConfigError` for an unusable URL or argument and
        :class:`~spackmon_analysis.errors.SchemaVersionError` for another schema.

        Filters, applied by the database (rows left out are never read):

        - ``since``, ``until``: builds created at or after ``since`` and before ``until``
          (ISO 8601 text, ``datetime``/``pandas.Timestamp``, naive taken as UTC, or a
          ``date``: its midnight UTC);
        - ``packages``: builds of these package names; ``tags``: builds carrying at least
          one of these tags; ``status``: builds with one of these statuses (``SUCCESS``,
          ``FAILED``, ``NOTRUN``, ``CANCELLED``). One text or several; an empty list
          matches no build.

        The filters combine (all must hold). Phases and events are those of the matching
        builds; specs are the matching builds' specs and everything they depend on, with the
        edges among them (each build's whole DAG). ``columns``: the ``builds``/``phases``
        columns to fill (e.g. ``["spec_name", "status", "outcome", "duration"]``); the
        others stay in the frames, all missing, and are not read (``output``: the log text
        is read chunk by chunk for its timestamps but only kept when named). The keys
        (``build``, ``build_id``, ``full_hash``, a phase's ``build``, ``phase_id``,
        ``name``, ``order``) are always filled.
        (Loader: :mod:`spackmon_analysis.loaders.database`.)"""
        # imported here, not above: it needs the ``server`` extra (SQLAlchemy), which the
        # other loaders do not
        from .loaders import database

        selection = server.BuildSelection.check(
            since=since, until=until, packages=packages, tags=tags, status=status
        )
        return cls.from_frames(
            database.database_frames(
                url, keep_output=keep_output, selection=selection, columns=columns
            )
        )

    @classmethod
    def from_parquet(cls, directory: str | os.PathLike[str]) -> MonitorData:
        """Read a folder written by :meth:`to_parquet`: the same frames (columns, dtypes,
        categories in their order, tuples and lists), history frames, ``source``,
        ``problems``, ``notes`` and rules file. Needs ``pyarrow`` (the ``parquet`` extra).

        Raises:
            ConfigError: no such folder, no ``manifest.json`` (not written by
                ``to_parquet``), another format version, a missing or damaged file (named),
                or pyarrow missing.
        """
        from .parquet import read_parquet

        return cls(**read_parquet(directory))

    def to_parquet(self, directory: str | os.PathLike[str]) -> Path:
        """Write the frames into ``directory`` (created) as Parquet files, one per frame
        (``specs``, ``dependencies``, ``builds``, ``phases``, ``events``, ``attempts``,
        ``attempt_phases``, ``attempt_events``), plus ``manifest.json`` (source, problems,
        notes, dtypes), for DuckDB, Polars or Spark and for :meth:`from_parquet`. Tuples and
        lists (``builds.tags``, ``events.classes``, the context lines) are JSON text in the
        files. Every file is written completely before any replaces one already there.
        Returns the folder. Needs ``pyarrow`` (the ``parquet`` extra); see ``docs/analysis.md``
        for querying the folder from DuckDB.

        Raises:
            ConfigError: the path is a file, the folder cannot be written, or pyarrow is
                missing.
        """
        from .parquet import write_parquet

        frames = {
            "specs": self.specs,
            "dependencies": self.dependencies,
            "builds": self.builds,
            "phases": self.phases,
            "events": self.events,
            "attempts": self.attempts,
            "attempt_phases": self.attempt_phases,
            "attempt_events": self.attempt_events,
        }
        return write_parquet(
            frames,
            directory,
            source=self.source,
            problems=self.problems,
            notes=self.notes,
            rules=self.rules,
            attempts_given=self.has_attempt_rows,
        )

    def with_dag(self, *sources: Any) -> MonitorData:
        """This data with a dependency DAG (spec files, install trees, environments:
        paths, ``SpecGraph`` or ``MonitorData``; none: the specs it holds) and the packages
        its JUnit/CDash reports leave out because a dependency failed, as blocked builds
        (see :func:`spackmon_analysis.loaders.reports.with_dag_frames`; decisions in
        ``docs/todays-spack.md``)."""
        return MonitorData.from_frames(reports.with_dag_frames(self, *sources))

    # -- views -------------------------------------------------------------------------------
    @property
    def runs(self) -> list[str]:
        """The save-local run names present in ``builds`` (sorted)."""
        return sorted({str(r) for r in self.builds["run"].dropna().unique()})

    def build(self, key: Any) -> BuildView:
        """One build as a :class:`~spackmon_analysis.buildview.BuildView` (HTML card in Jupyter).

        ``key``: a build key, a unique prefix of one, or a server build id (int).
        """
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
        attempts = None
        if self.has_attempt_rows:
            attempts = _attempts_of_builds(self._attempt_frames(), keys)
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
            attempts=attempts,
        )

    def graph(self, run: str | None = None) -> networkx.DiGraph:
        """The dependency DAG: nodes keyed by ``full_hash``, edges dependent -> dependency.

        Node attributes: every ``specs`` column, plus ``status`` and ``outcome`` of the
        node's latest build (by ``run_time``, then ``build``); ``outcome`` is
        ``"not built"`` for a node without a build. ``run`` restricts the builds to one
        save-local run. Builds whose spec is not in ``specs`` become nodes too.
        Edges carry ``deptypes`` (the comma-joined string). Built by
        :func:`~spackmon_analysis.spec.spec_digraph`, like ``SpecGraph.to_networkx()``: a
        node's ``specs`` columns are the attributes that graph gives the same node.
        """
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
        nodes: list[dict[str, Any]] = []
        for values in self.specs.itertuples(index=False, name=None):
            attrs = {c: _plain(v) for c, v in zip(columns, values, strict=True)}
            status, outcome, _ = latest.get(attrs["full_hash"], (None, NOT_BUILT, None))
            attrs["status"] = _plain(status)
            attrs["outcome"] = _plain(outcome)
            nodes.append(attrs)
        seen = {attrs["full_hash"] for attrs in nodes}
        for key, (status, outcome, (name, version, compiler)) in latest.items():
            if key in seen:
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
            nodes.append(attrs)
        deps = self.dependencies
        edges = (
            {"parent_hash": p, "child_hash": c, "deptypes": _plain(d)}
            for p, c, d in zip(
                deps["parent_hash"], deps["child_hash"], deps["deptypes"], strict=True
            )
        )
        graph = spec_digraph(nodes, edges)
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


# ---------------------------------------------------------------------------------
# loaders (each a MonitorData around a loader's frame set)


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
    return MonitorData.from_frames(
        savelocal.save_local_frames(path, keep_output=keep_output, rules=rules, strict=strict)
    )


def load_install_tree(
    path: str | os.PathLike[str],
    *,
    dag: Any = None,
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

    ``dag``: spec files, install trees or environments (one or a list) giving the DAG, with
    the prefixes' own ``spec.json``: every package that depends on a failed stage directory
    and has no prefix here becomes a blocked build (as for :func:`load_junit`); when no DAG
    holds a failed build, ``notes`` says so ("no DAG ...", repeated by ``failures``).

    Raises:
        InstallPrefixError: the path does not exist or holds no prefix/stage directory.
    """
    tree = installs.install_tree_frames(path, keep_output=keep_output, rules=rules, strict=strict)
    sources = [] if dag is None else list(dag) if isinstance(dag, list | tuple) else [dag]
    return MonitorData.from_frames(reports.with_dag_frames(tree, *sources))


def load(path: str | os.PathLike[str], *more: str | os.PathLike[str], **kwargs: Any) -> MonitorData:
    """Load ``path`` with the right loader: a save-local run or directory of runs
    (:func:`load_save_local`), a JUnit report file or a folder of them (:func:`load_junit`),
    a CDash report directory (:func:`load_cdash`), an install tree, prefix or stage directory
    (:func:`load_install_tree`), or a folder holding both kinds, at any depth: then
    every run and every prefix/stage directory is loaded into one object, the folders
    next to them that hold neither are named in ``notes``, and a build seen by both a
    run and a directory (same DAG hash, same phase logs: the same attempt) is counted
    once, as the run's build (a note says so). Keyword arguments go to the loaders.
    (Detection and merge: :mod:`spackmon_analysis.loaders.detect`.)

    Several paths (``load(report, spec_file, install_tree)``) are loaded each with its
    loader into one object, except spec files (``.json``/``.yaml``), which only give the
    DAG; the DAG of the spec files and of the install trees then finds the packages the
    reports leave out because a dependency failed (:meth:`MonitorData.with_dag`).

    Raises:
        ConfigError: ``path`` is neither (the message names the path); its
            ``path`` attribute holds it.
    """
    return MonitorData.from_frames(detect.load(path, *more, **kwargs))


def load_junit(
    path: str | os.PathLike[str],
    *,
    dag: Any = None,
    keep_output: bool = True,
    rules: Rules | str | os.PathLike[str] | None = None,
    strict: bool = True,
) -> MonitorData:
    """Load a JUnit report of ``spack install --log-format junit`` (a file, or a folder of
    them: one run per file, named after the file) into a :class:`MonitorData`.

    One build per ``testcase`` (key, ``full_hash`` and ``dag_hash``: the DAG hash), status
    ``SUCCESS``, ``FAILED`` (``<failure>``/``<error>``; their message and traceback are the
    extra ``builds`` columns ``message`` and ``traceback``) or ``NOTRUN`` with the tag
    ``skipped`` (already installed or external; with a DAG also ``external`` or
    ``installed``); phases cut from ``<system-out>`` on Spack's phase markers, the last one
    of a failed build ``ERROR``; events from :func:`~spackmon_analysis.logs.parse_log`;
    ``duration`` the testcase's ``time``. ``dag``: spec files, install trees or environments
    (paths, a ``SpecGraph`` or a ``MonitorData``, or a list of them) giving the DAG that
    finds the packages the report leaves out (:meth:`MonitorData.with_dag`). ``strict`` is
    accepted for :func:`load`'s sake: a malformed report always raises.
    Decisions: ``docs/todays-spack.md``. (Loader: :mod:`spackmon_analysis.loaders.junit`.)

    Raises:
        ReportError: a malformed or truncated report (names the file and element).
    """
    return MonitorData.from_frames(
        reports.junit_frames(path, dag=dag, keep_output=keep_output, rules=rules, strict=strict)
    )


def load_cdash(
    path: str | os.PathLike[str],
    *,
    dag: Any = None,
    keep_output: bool = True,
    rules: Rules | str | os.PathLike[str] | None = None,
    strict: bool = True,
) -> MonitorData:
    """Load a CDash report directory of ``spack install --log-format cdash`` (or a folder of
    them) into a :class:`MonitorData`: one build per package (per-package files and the
    single-package form), phases ``configure`` (with its log) and ``build`` (with the
    report's ``<Error>``/``<Warning>`` entries as events), Spack's version from
    ``Generator``. ``dag`` as for :func:`load_junit`; with it, builds the report names only
    by package name get their DAG hash and version. Decisions: ``docs/todays-spack.md``.
    (Loader: :mod:`spackmon_analysis.loaders.cdash`.)

    Raises:
        ReportError: no CDash report files, or a malformed/truncated one (names the file
            and element).
    """
    return MonitorData.from_frames(
        reports.cdash_frames(path, dag=dag, keep_output=keep_output, rules=rules, strict=strict)
    )


def load_environment(path: str | os.PathLike[str]) -> MonitorData:
    """Load a Spack environment: a ``spack.lock`` (every documented lockfile version, 1 to
    7: Spack 0.12 to 1.2, with the ``include_concrete`` environments of version 5+) or the
    environment directory holding it, as a :class:`MonitorData` with its full DAG in
    ``specs``/``dependencies`` and no builds. The roots are the ``specs`` column
    ``environment_root`` (the abstract spec written in ``spack.yaml``; ``<NA>`` for the
    other nodes) and a note. Give it to a report as its DAG (``load_junit(report,
    dag=lock)``, ``data.with_dag(lock)``, ``load(report, lock)`` or the two in one folder)
    to find the packages the report leaves out because a dependency failed.
    Decisions: ``docs/todays-spack.md``. (Loader: :mod:`spackmon_analysis.loaders.environment`.)

    Raises:
        ConfigError: the path does not exist, or is a directory without ``spack.lock``.
        SpecFormatError: the lockfile is malformed (names the file and the JSON path).
    """
    return MonitorData.from_frames(environment.environment_frames(path))


# ---------------------------------------------------------------------------------
# the history frames


def _derive_attempts(data: MonitorData) -> dict[str, pandas.DataFrame]:
    """The history frames of a source that keeps one attempt per build row: each build is
    one attempt (key = build key, ``number`` 1, ``latest`` True), dated by its run
    (``run_time``; ``created_at`` when it has none), its phases and events its own."""
    import pandas as pd

    builds = data.builds
    started = builds["run_time"].where(builds["run_time"].notna(), builds["created_at"])
    finished = data.phases.groupby("build", sort=False, observed=True)["finished_at"].max()
    attempts = pd.DataFrame(
        {
            "attempt": builds["build"],
            "build": builds["build"],
            "number": pd.array([1] * len(builds), dtype="Int64"),
            "started_at": started,
            "finished_at": pd.Series(
                finished.reindex(builds["build"].astype(object)).array, index=builds.index
            ),
            "status": builds["status"],
            "outcome": builds["outcome"],
            "duration": builds["duration"],
            "latest": True,
        }
    )
    phases = data.phases
    attempt_phases = pd.DataFrame(
        {
            "attempt": phases["build"],
            "name": phases["name"],
            "order": phases["order"],
            "status": phases["status"],
            "duration": phases["duration"],
            "started_at": phases["started_at"],
        }
    )
    events = data.events
    attempt_events = pd.DataFrame(
        {
            "attempt": events["build"],
            "phase": events["phase"],
            "kind": events["kind"],
            "text": events["text"],
            "line_no": events["line_no"],
            "primary_class": events["primary_class"],
            "fingerprint": events["fingerprint"],
        }
    )
    return {
        "attempts": _conform("attempts", attempts),
        "attempt_phases": _conform("attempt_phases", attempt_phases),
        "attempt_events": _conform("attempt_events", attempt_events),
    }


def _attempts_of_builds(
    frames: Mapping[str, pandas.DataFrame], keys: set[str]
) -> dict[str, pandas.DataFrame]:
    """The history frames restricted to the attempts of the builds ``keys``."""
    attempts = frames["attempts"]
    kept = attempts[attempts["build"].isin(keys)].reset_index(drop=True)
    names = set(kept["attempt"])
    return {
        "attempts": kept,
        "attempt_phases": _rows_of(frames["attempt_phases"], names),
        "attempt_events": _rows_of(frames["attempt_events"], names),
    }


def _rows_of(frame: pandas.DataFrame, attempts: set[str]) -> pandas.DataFrame:
    return frame[frame["attempt"].isin(attempts)].reset_index(drop=True)


def _concat_attempts(
    items: list[Any], joined_builds: pandas.DataFrame
) -> dict[str, pandas.DataFrame]:
    """The history frames of ``items`` joined, with the build keys ``concat`` gave them:
    ``concat`` keeps every build in order, so item ``i``'s builds are the next
    ``len(item.builds)`` rows of ``joined_builds`` and their new keys are read from there
    (an attempt key that was its build key, or that starts with it, gets the same prefix)."""
    import pandas as pd

    parts: dict[str, list[pandas.DataFrame]] = {n: [] for n in ATTEMPT_FRAMES}
    offset = 0
    new_keys = joined_builds["build"].astype(object).to_numpy()
    for item in items:
        old = item.builds["build"].astype(object).to_numpy()
        renamed = dict(zip(old, new_keys[offset : offset + len(old)], strict=True))
        offset += len(old)
        frames = item._attempt_frames()
        prefix = {
            k: v[: len(v) - len(k)] for k, v in renamed.items() if isinstance(k, str) and v != k
        }
        attempts = frames["attempts"]
        owner = list(attempts["build"].astype(object))
        mapping = {
            a: prefix.get(b, "") + a
            for a, b in zip(attempts["attempt"].astype(object), owner, strict=True)
        }
        for name in ATTEMPT_FRAMES:
            frame = frames[name].copy()
            frame["attempt"] = [mapping.get(a, a) for a in frame["attempt"].astype(object)]
            if name == "attempts":
                frame["build"] = [renamed.get(b, b) for b in owner]
            parts[name].append(decategorize(frame))
    return {
        name: _conform(name, pd.concat(chunks, ignore_index=True)) for name, chunks in parts.items()
    }
