"""Server rows -> frames, one way for every source of them.

The data API's tables (``specs``, ``dependencies``, ``builds``, ``buildphases``,
``builderrors``, ``buildwarnings``) become frames through :class:`ServerColumns`: the rows a
client pulls (:func:`rows_frames`, for :meth:`MonitorData.from_client`) and the pages
:mod:`~spackmon_analysis.loaders.database` reads from a server's database
(:meth:`MonitorData.from_database`) fill the same columns, and one assembly turns them into
frames: phase timing (:func:`~spackmon_analysis.spackfacts.phase_timing`'s rule, vectorised),
phase order, build durations and outcomes, events placed under their phases. So the two
constructors cannot disagree. Rows the assembly cannot place (a phase of a build that is not
among the builds, an event of a phase that is not among the phases: a pull that raced a
write) are left out and named in ``notes``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from ..errors import BadRequestError, ConfigError, LogParseError, MonitorError, NotFoundError
from ..logs import LogEvent
from ..records import (
    BUILD_STATUS_CATEGORIES,
    BUILD_STATUSES,
    EVENT_KINDS,
    FRAME_COLUMNS,
    OUTCOMES,
    PHASE_STATUS_CATEGORIES,
    SOURCES,
)
from ..spackfacts import (
    BLOCKED_TAG,
    FAILURE_MARKER_TAG,
    build_outcome,
    first_last_stamp_texts,
    order_phases,
    phase_rank,
    variants_text,
)
from .assemble import Assembler, FrameSet, stamp_columns, stamp_columns_joined
from .assemble import category_array as _category
from .assemble import recoded as _recoded
from .assemble import utc_from_micros as _utc_ns

__all__ = [
    "AttemptColumns",
    "ATTEMPT_ROUTES",
    "BuildSelection",
    "COLUMN_CHOICES",
    "KEY_COLUMNS",
    "blank_unwanted",
    "check_columns",
    "route_fields",
    "client_frames",
    "rows_frames",
    "ServerColumns",
    "add_server_spec",
    "empty_to_none",
]


@dataclass(frozen=True)
class BuildSelection:
    """The build filters of ``MonitorData.from_database``/``from_client``, checked: ``since``
    and ``until`` naive UTC datetimes (``since <= created_at < until``), ``packages``, ``tags``
    and ``status`` tuples of text (a build matches any of them; an empty tuple matches none),
    ``None`` for no condition. :meth:`check` reads what a user passes."""

    since: datetime | None = None
    until: datetime | None = None
    packages: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    status: tuple[str, ...] | None = None

    @classmethod
    def check(
        cls,
        *,
        since: Any = None,
        until: Any = None,
        packages: Any = None,
        tags: Any = None,
        status: Any = None,
    ) -> BuildSelection:
        """The selection from ``since``/``until`` (ISO 8601 text, ``datetime`` or
        ``pandas.Timestamp``: naive taken as UTC; ``date``: its midnight UTC) and
        ``packages``/``tags``/``status`` (one text or several). Raises
        :class:`~spackmon_analysis.errors.ConfigError` naming the argument for a value it
        cannot use: a status other than Spack's four, ``since`` after ``until``."""
        selection = cls(
            since=_utc_time("since", since),
            until=_utc_time("until", until),
            packages=_texts("packages", packages),
            tags=_texts("tags", tags),
            status=_texts("status", status),
        )
        bad = [s for s in selection.status or () if s not in BUILD_STATUSES]
        if bad:
            raise ConfigError(
                f"status=: {', '.join(map(repr, bad))} is not a build status "
                f"({', '.join(BUILD_STATUSES)})"
            )
        if selection.since and selection.until and selection.since > selection.until:
            raise ConfigError(
                f"since= ({selection.since.isoformat()}Z) is after until= "
                f"({selection.until.isoformat()}Z)"
            )
        return selection

    @property
    def everything(self) -> bool:
        """Whether no filter is set."""
        return self == BuildSelection()

    @property
    def nothing(self) -> bool:
        """Whether an empty list of packages, tags or statuses rules out every build."""
        return any(v is not None and not v for v in (self.packages, self.tags, self.status))

    def query(self, prefix: str = "") -> dict[str, Any]:
        """The data API's build filters (``prefix`` ``"build_"`` on the routes whose rows
        belong to builds): times as ISO 8601 UTC text, several values as a list."""
        out: dict[str, Any] = {}
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None:
                out[prefix + name] = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for name, values in (
            ("spec_name", self.packages),
            ("tag", self.tags),
            ("status", self.status),
        ):
            if values is not None:
                out[prefix + name] = list(values)
        return out

    def outside(self, row: Mapping[str, Any]) -> str | None:
        """Which filter a data API ``builds`` row does not meet (None: it meets them all); a
        field the row does not carry (``fields=`` left it out) is not checked."""
        if (
            self.packages is not None
            and "spec_name" in row
            and row["spec_name"] not in self.packages
        ):
            return f"spec_name {row.get('spec_name')!r}"
        if self.status is not None and "status" in row and row["status"] not in self.status:
            return f"status {row.get('status')!r}"
        if (
            self.tags is not None
            and "tags" in row
            and not set(map(str, row.get("tags") or ())) & set(self.tags)
        ):
            return f"tags {row.get('tags')!r}"
        if (self.since is not None or self.until is not None) and "created_at" in row:
            created = _utc_time("created_at", row.get("created_at"))
            if created is None or (self.since is not None and created < self.since):
                return f"created_at {row.get('created_at')!r}"
            if self.until is not None and created >= self.until:
                return f"created_at {row.get('created_at')!r}"
        return None


def _utc_time(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise ConfigError(
                f"{name}=: {text!r:.80} is not an ISO 8601 date or time "
                "(2026-11-01, 2026-11-01T06:00:00Z)"
            ) from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif not isinstance(value, datetime):
        raise ConfigError(f"{name}=: expected a date or time, got {type(value).__name__}")
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime()
    return value


def _texts(name: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    try:
        items = list(values)
    except TypeError:
        raise ConfigError(
            f"{name}=: expected a text or a list of texts, got {value!r:.80}"
        ) from None
    bad = [v for v in items if not isinstance(v, str) or "\x00" in v]
    if bad:
        raise ConfigError(f"{name}=: {bad[0]!r:.80} is not a text the server can hold")
    return tuple(dict.fromkeys(items))


#: Columns ``columns=`` may name (``from_database``, ``from_client``): those of the ``builds``
#: and ``phases`` frames.
COLUMN_CHOICES = tuple(
    dict.fromkeys(c for frame in ("builds", "phases") for c, _, _ in FRAME_COLUMNS[frame])
)
#: Columns every read fills, named or not (the keys that tie the frames together).
KEY_COLUMNS = {
    "builds": ("build", "build_id", "full_hash", "dag_hash", "run", "source"),
    "phases": ("build", "phase_id", "name", "order"),
}


def check_columns(columns: Iterable[str] | None, keep_output: bool) -> set[str] | None:
    """The ``columns=`` of ``from_database``/``from_client`` checked (None: every column).
    Raises :class:`~spackmon_analysis.errors.ConfigError` naming a column that is no
    ``builds``/``phases`` column, or ``output`` with ``keep_output=False``."""
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [columns]
    names = [str(c) for c in columns]
    unknown = [c for c in names if c not in COLUMN_CHOICES]
    if unknown:
        raise ConfigError(
            f"columns=: no builds or phases column {', '.join(map(repr, unknown))} "
            f"(columns: {', '.join(COLUMN_CHOICES)})"
        )
    if "output" in names and not keep_output:
        raise ConfigError("columns= names 'output' but keep_output=False leaves the logs out")
    return set(names)


#: The data API fields of a ``builds`` row each ``builds`` frame column is made from (the
#: frame's other columns come from the specs, the phases, or the loader).
_BUILD_FIELDS = {
    "spec_name": "spec_name",
    "spec_version": "spec_version",
    "status": "status",
    "outcome": "status",
    "host_os": "host_os",
    "platform": "platform",
    "host_target": "host_target",
    "hostname": "hostname",
    "kernel_version": "kernel_version",
    "spack_version": "spack_version",
    "owner": "owner",
    "tags": "tags",
    "created_at": "created_at",
    "run_time": "created_at",
}


def route_fields(route: str, wanted: set[str] | None, keep_output: bool) -> list[str] | None:
    """The data API fields ``from_client`` asks of ``route`` for the ``columns=`` ``wanted``
    (None: every field): the keys, what the named columns are made from, and the phases'
    log when ``keep_output`` (read for its stamps, as ``from_database`` reads it, kept only
    when ``output`` is named)."""
    if wanted is None:
        return None
    if route == "builds":
        named = {_BUILD_FIELDS[c] for c in wanted if c in _BUILD_FIELDS}
        if "outcome" in wanted:  # a failure marker's tags decide it too (build_outcome)
            named.add("tags")
        return ["id", "full_hash", *sorted(named)]
    if route in ("buildphases", "attemptphases"):
        fields = ["id", "build", "attempt", "name", "status", "output_size"]
        return [*fields, "output"] if keep_output else fields
    if route == "attempts":
        return ["id", "build", "number", "status", "latest", "started_at"]
    if route == "specs":  # what the specs frame is made from
        return [
            "id", "name", "version", "full_hash", "hash", "build_hash", "dag_hash",
            "namespace", "compiler_name", "compiler_version", "platform", "os", "target",
            "parameters", "external", "build_spec",
        ]  # fmt: skip
    if route == "dependencies":
        return ["id", "spec_full_hash", "dependency_full_hash", "spec_name", "dependency_name",
                "deptypes"]  # fmt: skip
    if route in ("builderrors", "buildwarnings", "attempterrors", "attemptwarnings"):
        return [
            "id", "phase", "attempt", "kind", "text", "line_no", "source_file",
            "source_line_no", "pre_context", "post_context", "repeat_count", "classes",
        ]  # fmt: skip
    return None


def blank_unwanted(frames: FrameSet, wanted: set[str]) -> None:
    """The builds and phases columns neither named nor keys, all missing (their dtypes kept):
    a column derived from others (``outcome``, ``duration``, ``compiler``) is filled only when
    named, as a stored one is."""
    import numpy as np
    import pandas as pd

    for name in ("builds", "phases"):
        frame = getattr(frames, name)
        n = len(frame)
        for column in list(frame.columns):
            if column in wanted or column in KEY_COLUMNS[name]:
                continue
            series = frame[column]
            values: Any
            if isinstance(series.dtype, pd.CategoricalDtype):
                values = pd.Categorical.from_codes(
                    np.full(n, -1, dtype=np.int8), dtype=series.dtype
                )
            elif series.dtype == object:
                values = np.full(n, None, dtype=object)
            else:  # string, Int64, float64, datetime: the dtype's missing value
                values = series.iloc[:0].reindex(frame.index).array
            frame[column] = values


def client_frames(
    client: Any,
    *,
    keep_output: bool = True,
    progress: bool = False,
    selection: BuildSelection | None = None,
    columns: Iterable[str] | None = None,
) -> FrameSet:
    """Everything a server holds, pulled through ``client`` (a
    :class:`~spackmon_analysis.client.SpackMonitorClient`; data API routes specs,
    dependencies, builds, buildphases, builderrors, buildwarnings), as a frame set (see
    :meth:`~spackmon_analysis.frames.MonitorData.from_client`); with ``selection``, only the
    matching builds and what belongs to them, asked of the server with the data API's build
    filters (a server that answers with a build outside them raises
    :class:`~spackmon_analysis.errors.MonitorError`: it does not know the filters); with
    ``columns``, only the fields those columns need are asked for (the data API's
    ``fields=``: the server sends no other field) and the frames are those of
    ``from_database(columns=...)``."""
    selection = selection or BuildSelection()
    empty = selection.nothing
    wanted = check_columns(columns, keep_output)

    label = getattr(client, "baseurl", None) or getattr(client, "host", "") or "server"
    notes: list[tuple[str, str]] = []

    def pull(route: str, **filters: Any) -> list[dict[str, Any]]:
        if empty:
            return []
        query = selection.query("" if route == "builds" else "build_")
        fields = route_fields(route, wanted, keep_output)
        if fields is None:
            got = list(client.pull(route, progress=progress, **query, **filters))
            notes.extend(absent_field_notes(route, got, str(label)))
            return got
        asked = {**query, "fields": ",".join(fields), **filters}
        try:
            return list(client.pull(route, progress=progress, **asked))
        except BadRequestError as exc:
            known = server_fields(exc, route)
            if known is None:
                raise
            # an older server: ask for the fields it has, the others stay empty (noted)
            kept = [f for f in fields if f in known]
            notes.extend(
                (str(label), older_server_note(route, f)) for f in fields if f not in known
            )
            asked["fields"] = ",".join(kept)
            return list(client.pull(route, progress=progress, **asked))

    # list pages leave phase outputs out unless asked (the server bounds each page in bytes)
    phase_filters = {"output": bool(keep_output)}
    rows = {
        "specs": pull("specs"),
        "dependencies": pull("dependencies"),
        "builds": pull("builds"),
    }
    try:  # a server that keeps every attempt: each phase and event pulled once, with them
        rows["attempts"] = pull("attempts")
    except NotFoundError:  # a server before attempts: the latest state of each build
        rows["buildphases"] = pull("buildphases", **phase_filters)
        rows["builderrors"] = pull("builderrors")
        rows["buildwarnings"] = pull("buildwarnings")
    else:
        # every attempt's phases, with their logs unless keep_output=False (as the phases:
        # their times come from the logs' stamps, so without them durations stay unknown)
        rows["attemptphases"] = pull("attemptphases", **phase_filters)
        rows["attempterrors"] = pull("attempterrors")
        rows["attemptwarnings"] = pull("attemptwarnings")
    if not selection.everything:
        for row in rows["builds"]:
            missed = selection.outside(row) if isinstance(row, Mapping) else None
            if missed is not None:
                raise MonitorError(
                    f"the server answered the filtered builds pull with build "
                    f"{row.get('id')!r} ({missed}), which the filters leave out: it does not "
                    "know the data API's build filters (since, until, spec_name, tag, status)"
                )
    frames = rows_frames(rows, source="server", label=str(label), keep_output=keep_output)
    frames.notes.extend(notes)
    if wanted is not None:
        blank_unwanted(frames, wanted)
    return frames


#: The data API fields a server of an earlier release lacks, and what their absence leaves
#: empty: ``from_client`` reads such a server all the same (asking only for the fields it
#: has) and says so in ``data.notes``.
NEWER_FIELDS: dict[tuple[str, str], str] = {
    ("specs", "build_spec"): (
        "the specs' build_spec column is empty, so a spliced spec (Spack 0.23+) the server "
        "keeps is not known as spliced (the field came with server schema 3)"
    ),
}


def older_server_note(route: str, field: str) -> str:
    """The ``data.notes`` text for a data API ``field`` of ``route`` the server lacks."""
    what = NEWER_FIELDS.get((route, field), "the column made from it is empty")
    return f"/api/{route}/ has no field {field!r} (a server of an earlier release): {what}"


def absent_field_notes(route: str, rows: list[dict[str, Any]], label: str) -> list[tuple[str, str]]:
    """A note per newer field (:data:`NEWER_FIELDS`) of ``route`` the rows of a server asked
    for every field do not carry (a server of an earlier release sends no such field)."""
    if not rows or not isinstance(rows[0], Mapping):
        return []
    return [
        (label, older_server_note(r, f)) for r, f in NEWER_FIELDS if r == route and f not in rows[0]
    ]


_QUOTED = r"""(?:'[^'\n]*'|"[^"\n]*")"""
#: Our server's wording (server/queries/filters.check_fields), each part delimited, so the
#: search stays linear whatever a server answers; only the message's first 4,096 characters
#: are searched (a field list is far shorter).
_UNKNOWN_FIELDS = re.compile(
    rf"unknown fields? {_QUOTED}(?:, {_QUOTED})* for /api/(\w+)/ \(fields: ([^)\n]*)\)"
)


def server_fields(error: BadRequestError, route: str) -> set[str] | None:
    """The fields of ``route`` a server's 400 to ``fields=`` lists (ours names the unknown
    field and lists the route's: ``unknown field 'x' for /api/specs/ (fields: id, ...)``);
    None when the 400 is about something else."""
    text = getattr(error, "server_message", None) or str(error)
    found = _UNKNOWN_FIELDS.search(text[:4096])
    if found is None or found.group(1) != route:
        return None
    return {f.strip() for f in found.group(2).split(",") if f.strip()}


#: The data API routes of every attempt (a server that keeps them): with them, the phases and
#: events of each build's latest attempt are those of ``buildphases``/``builderrors``/...
ATTEMPT_ROUTES = ("attempts", "attemptphases", "attempterrors", "attemptwarnings")


def rows_frames(
    rows: Mapping[str, list[dict[str, Any]]], *, source: str, label: str, keep_output: bool
) -> FrameSet:
    """The data API's rows (``rows[route]`` for the six routes) as a frame set labelled
    ``label`` whose builds have ``source`` (``"server"``; another source's rows raise
    :class:`~spackmon_analysis.errors.ConfigError` instead of
    :class:`~spackmon_analysis.errors.MonitorError` for a row missing a field).

    With the rows of :data:`ATTEMPT_ROUTES` (a server that keeps every attempt) in place of
    ``buildphases``, ``builderrors`` and ``buildwarnings``: the latest attempt's phases and
    events fill the five frames and every attempt fills the history frames
    (:class:`AttemptColumns`; ``FrameSet.attempts``)."""
    error: type[Exception] = MonitorError if source == "server" else ConfigError
    history: AttemptColumns | None = None
    if "attempts" in rows:
        history = AttemptColumns()
        history.add_attempts(
            (
                _need_int(row, "id", "attempts", error),
                _need_int(row, "build", "attempts", error),
                _need_int(row, "number", "attempts", error),
                row.get("status"),
                bool(row.get("latest")),
                row.get("started_at"),
            )
            for row in rows["attempts"]
        )
        # the latest attempts' phases and events are the five frames'; the earlier ones'
        # go to the history alone
        every_phase = rows["attemptphases"]
        owner = [_need_int(r, "attempt", "attemptphases", error) for r in every_phase]
        earlier = history.is_earlier(owner).tolist()
        old = [r for r, e in zip(every_phase, earlier, strict=True) if e]
        history.add_phases(
            [_need_int(r, "id", "attemptphases", error) for r in old],
            [a for a, e in zip(owner, earlier, strict=True) if e],
            [_need(r, "name", "attemptphases", error) for r in old],
            [r.get("status") for r in old],
            [_size(r) for r in old],
            outputs=[r.get("output") for r in old],
        )
        phases = [r for r, e in zip(every_phase, earlier, strict=True) if not e]
        if not keep_output:
            phases = [{**r, "output": None} for r in phases]
        split = {}
        for route in ("attempterrors", "attemptwarnings"):
            events = rows[route]
            early = history.is_earlier([r.get("attempt") for r in events]).tolist()
            split[route] = [r for r, e in zip(events, early, strict=True) if not e]
            for row, e in zip(events, early, strict=True):
                if e:
                    history.cols.add_event(*_event_fields(row, route, error))
        rows = {
            **rows,
            "buildphases": phases,
            "builderrors": split["attempterrors"],
            "buildwarnings": split["attemptwarnings"],
        }
    cols = ServerColumns(keep_output=keep_output)
    for row in rows["specs"]:
        cols.add_spec(
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
            row.get("parameters"),
            row.get("build_spec"),
        )
    for row in rows["dependencies"]:
        cols.add_edge(
            _need(row, "spec_full_hash", "dependencies", error),
            _need(row, "dependency_full_hash", "dependencies", error),
            row.get("spec_name"),
            row.get("dependency_name"),
            row.get("deptypes"),
        )
    seen: set[int] = set()
    builds = []
    for row in rows["builds"]:
        build_id = _need_int(row, "id", "builds", error)
        full_hash = _need(row, "full_hash", "builds", error)
        if build_id in seen:
            cols.problems.append((str(build_id), "duplicate build key; later copy skipped"))
            continue
        seen.add(build_id)
        builds.append(
            (
                build_id,
                full_hash,
                row.get("spec_name"),
                row.get("spec_version"),
                row.get("status"),
                row.get("host_os"),
                row.get("platform"),
                row.get("host_target"),
                row.get("hostname"),
                row.get("kernel_version"),
                row.get("spack_version"),
                row.get("owner"),
                row.get("tags"),
                row.get("created_at"),
            )
        )
    cols.add_builds(builds)
    phases = rows["buildphases"]
    ids = [_need_int(row, "id", "buildphases", error) for row in phases]
    owners = [_need_int(row, "build", "buildphases", error) for row in phases]
    names = [_need(row, "name", "buildphases", error) for row in phases]
    outputs = [row.get("output") for row in phases]
    sizes = [_size(row) for row in phases]
    cols.add_phases(
        ids, owners, names, [row.get("status") for row in phases], sizes, outputs=outputs
    )
    for route in ("builderrors", "buildwarnings"):
        for row in rows[route]:
            cols.add_event(*_event_fields(row, route, error))
    frames = cols.frames(source=source, label=label)
    if history is not None:
        frames.attempts = history.frames(frames, cols)
    return frames


def _size(row: Mapping[str, Any]) -> int:
    size = row.get("output_size")
    return size if isinstance(size, int) else len(row.get("output") or "")


def _event_fields(row: Any, route: str, error: type[Exception]) -> tuple[Any, ...]:
    """The arguments of :meth:`ServerColumns.add_event` from a data API event row."""
    return (
        _need(row, "phase", route, error),
        _need(row, "kind", route, error),
        _need(row, "text", route, error),
        row.get("line_no"),
        row.get("source_file"),
        row.get("source_line_no"),
        row.get("pre_context"),
        row.get("post_context"),
        row.get("repeat_count"),
        row.get("classes"),
        row.get("fingerprint"),
    )


class AttemptColumns:
    """Every attempt of a server's builds -> the history frames (``attempts``,
    ``attempt_phases``, ``attempt_events``). Used by the data API's rows (:func:`rows_frames`)
    and a database's (:mod:`~spackmon_analysis.loaders.database`).

    The latest attempt of a build is what its build row shows: its phases and events are the
    five frames' rows of that build, so they are read once, into the five frames, and its
    history rows are made from those frames (no second copy of the phases or their logs is
    read or parsed). Only the earlier attempts' phases and events are added here
    (:meth:`add_phases`, ``cols.add_event``; their logs read for their stamps, never kept),
    and assembled by the one assembly of :class:`ServerColumns`, each attempt as a build of
    its own (phase timing, order, outcome, duration: the rules the builds frame follows).
    An attempt is named ``"<build>#<number>"`` (``number``: its place in the build's history
    by start) and tied to its build; rows are ordered by build id, then number.

    Fill: :meth:`add_attempts` (every attempt row, before the phases), then the phases of the
    attempts :meth:`is_earlier` picks, then :meth:`frames` once, after the five frames.
    """

    def __init__(self) -> None:
        self.cols = ServerColumns(keep_output=False)
        self._ids: list[Any] = []
        self._builds: list[Any] = []
        self._numbers: list[Any] = []
        self._latest: list[Any] = []
        self._started: list[Any] = []
        self._status = _Codes()
        self._earlier: Any = None

    def add_attempt(
        self, attempt: int, build: int, number: int, status: Any, latest: bool, started: Any
    ) -> None:
        """One ``attempts`` row (``started``: ISO text or ``datetime``, naive taken as UTC)."""
        self.add_attempts([(attempt, build, number, status, latest, started)])

    def add_attempts(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """``attempts`` rows as tuples: id, build id, number, status, latest, started
        (ISO text or ``datetime``, naive taken as UTC)."""
        import numpy as np

        rows = list(rows)
        if not rows:
            return
        ids, builds, numbers, statuses, latest, started = zip(*rows, strict=True)
        self._ids.append(np.array(ids, dtype=np.int64))
        self._builds.append(np.array(builds, dtype=np.int64))
        self._numbers.append(np.array(numbers, dtype=np.int64))
        self._latest.append(np.array([bool(v) for v in latest], dtype=bool))
        self._status.add(list(statuses))
        self._started.append(_times(list(started)).asi8)
        self._earlier = None

    def _joined(self, parts: list[Any], dtype: Any) -> Any:
        import numpy as np

        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def earlier_ids(self) -> Any:
        """The sorted ids of the attempts that are not the latest of their build."""
        import numpy as np

        if self._earlier is None:
            ids = self._joined(self._ids, np.int64)
            self._earlier = np.sort(ids[~self._joined(self._latest, bool)])
        return self._earlier

    def is_earlier(self, attempts: Iterable[Any]) -> Any:
        """A boolean array: which of ``attempts`` (attempt ids) are earlier attempts, whose
        phases and events go to :meth:`add_phases` and ``cols.add_event`` (the others are
        the five frames')."""
        import numpy as np

        earlier = self.earlier_ids()
        values = np.array([-1 if a is None else a for a in attempts], dtype=np.int64)
        if not len(earlier):
            return np.zeros(len(values), dtype=bool)
        where = np.minimum(np.searchsorted(earlier, values), len(earlier) - 1)
        return earlier[where] == values

    def add_phases(
        self,
        ids: Iterable[int],
        attempts: Iterable[int],
        names: Iterable[Any],
        statuses: Iterable[Any],
        sizes: Iterable[int],
        *,
        outputs: list[Any] | None,
    ) -> None:
        """One page of phases of earlier attempts (``attempts``: each phase's attempt id);
        ``outputs`` are read for the phases' times and not kept."""
        self.cols.add_phases(ids, attempts, names, statuses, sizes, outputs=outputs)

    def frames(self, frameset: FrameSet, five: ServerColumns) -> dict[str, Any]:
        """The three history frames of the attempts of the builds in ``frameset`` (the five
        frames ``five`` assembled; an attempt of a build the frame set left out is left
        out too)."""
        import numpy as np
        import pandas as pd

        aid = self._joined(self._ids, np.int64)
        abuild = self._joined(self._builds, np.int64)
        anumber = self._joined(self._numbers, np.int64)
        alatest = self._joined(self._latest, bool)
        astarted = self._joined(self._started, np.int64)
        astatus_codes = self._status.codes()
        astatus = self._status.decoded()
        builds = frameset.builds
        phases = frameset.phases
        assert builds is not None and phases is not None  # ServerColumns always makes them
        build_ids = five.build_ids
        nb = len(build_ids)
        # each attempt's build, by position in the builds frame (-1: not among them)
        by_id = np.argsort(build_ids, kind="stable")
        found = np.minimum(np.searchsorted(build_ids[by_id], abuild), max(nb - 1, 0))
        apos = np.where(
            (build_ids[by_id][found] == abuild) if nb else np.zeros(len(aid), dtype=bool),
            by_id[found] if nb else -1,
            -1,
        )
        kept = apos >= 0
        # the attempts in history order: by build id, then number
        order = np.flatnonzero(kept)
        order = order[np.lexsort((anumber[order], abuild[order]))]
        aid, abuild, anumber, alatest = aid[order], abuild[order], anumber[order], alatest[order]
        astarted, astatus, apos = astarted[order], astatus[order], apos[order]
        astatus_codes = astatus_codes[order]
        m = len(aid)
        keys = _attempt_keys(abuild, anumber, five._arrow)

        # the earlier attempts: assembled as builds of their own
        early = np.flatnonzero(~alatest)
        self.cols.add_builds(
            (int(aid[i]), None, None, None, astatus[i], *(None,) * 8, None) for i in early
        )
        self.cols._build_times = [astarted[early]]
        fs = self.cols.frames(source="server", label="")
        assert fs.builds is not None and fs.phases is not None
        for where, message in fs.notes:
            frameset.notes.append((f"attempts {where}", message))
        # the earlier attempts were added in history order: the assembly's build i is
        # attempt early[i]
        e_rank = early
        e_phase_rank = e_rank[self.cols.phase_owner]

        # the latest attempts: the five frames' rows of their builds
        late = np.flatnonzero(alatest)
        rank_of_build = np.full(nb, -1, dtype=np.int64)
        rank_of_build[apos[late]] = late
        l_phase_rank = rank_of_build[five.phase_owner]
        l_phases = np.flatnonzero(l_phase_rank >= 0)

        # attempts: status and start from the attempt rows, the rest from the assembly
        finished = np.full(m, np.iinfo(np.int64).min, dtype=np.int64)
        finished[late] = _group_max(phases["finished_at"].array.asi8, five.phase_owner, nb)[
            apos[late]
        ]
        finished[e_rank] = _group_max(
            fs.phases["finished_at"].array.asi8, self.cols.phase_owner, len(e_rank)
        )
        duration = np.full(m, np.nan)
        duration[late] = builds["duration"].to_numpy(dtype=float)[apos[late]]
        duration[e_rank] = fs.builds["duration"].to_numpy(dtype=float)
        errored = np.zeros(m, dtype=bool)
        errored[late] = five.build_errored[apos[late]]
        errored[e_rank] = self.cols.build_errored
        # one outcome per distinct (status, errored, marked) triple, as the builds frame's;
        # a failure marker's tags are the build's (its every attempt carries them)
        marked = five.build_marked[apos] if len(apos) else np.zeros(0, dtype=bool)
        outcome_of, outcome_codes = _outcome_codes(
            astatus_codes, self._status.values, errored, marked
        )
        outcome = outcome_of[outcome_codes]
        attempts = pd.DataFrame(
            {
                "attempt": keys,
                "build": _attempt_keys(abuild, None, five._arrow),
                "number": pd.array(anumber, dtype="Int64"),
                "started_at": _utc_ns_i8(astarted),
                "finished_at": _utc_ns_i8(finished),
                "status": _category(astatus, BUILD_STATUS_CATEGORIES),
                "outcome": _category(outcome, OUTCOMES),
                "duration": duration,
                "latest": alatest,
            },
            copy=False,
        )

        # phases and events of every attempt, in history order (stable: each attempt's own
        # rows keep their order)
        def history_rows(
            late: Any, late_rank: Any, early: Any, early_rank: Any, names: tuple[str, ...]
        ) -> Any:
            ranks = np.concatenate([late_rank, early_rank]).astype(np.int64, copy=False)
            perm = np.argsort(ranks, kind="stable")
            out: dict[str, Any] = {"attempt": _take_keys(keys, ranks[perm], five._arrow)}
            del ranks
            # where each row goes: the late rows' and the early rows' places in the output,
            # so each column is written into place once (not joined, then taken)
            place = np.empty(len(perm), dtype=np.int64)
            place[perm] = np.arange(len(perm), dtype=np.int64)
            del perm
            nl = len(late_rank)
            for name in names:
                out[name] = _placed(
                    late[name], early[name], place[:nl], place[nl:], fixed_categories.get(name, ())
                )
            return pd.DataFrame(out, copy=False)

        phase_names = ("name", "order", "status", "duration", "started_at")
        fixed_categories = {"status": PHASE_STATUS_CATEGORIES, "kind": EVENT_KINDS}
        # only the columns the history keeps are taken (the phases' logs are not copied), and
        # only when some phases have no attempt row (else they are all, in order)
        late_phases = phases[list(phase_names)]
        if len(l_phases) != len(phases):
            late_phases = late_phases.iloc[l_phases]
        attempt_phases = history_rows(
            late_phases,
            l_phase_rank[l_phases],
            fs.phases,
            e_phase_rank,
            phase_names,
        )
        events = frameset.events
        if events is None or "build" not in events.columns:
            return {"attempts": attempts, "attempt_phases": attempt_phases}
        event_names = ("phase", "kind", "text", "line_no", "primary_class", "fingerprint")
        where = pd.Index(builds["build"].astype(object)).get_indexer(events["build"].astype(object))
        ev_rank = np.where(where >= 0, rank_of_build[where], -1)
        ev_keep = np.flatnonzero(ev_rank >= 0)
        e_events = fs.events
        if e_events is None or "build" not in e_events.columns or not len(e_events):
            e_events = events.iloc[:0]
            ee_rank = np.zeros(0, dtype=np.int64)
        else:
            place = pd.Index(self.cols.build_ids.astype(str).astype(object)).get_indexer(
                e_events["build"].astype(object)
            )
            ee_rank = early[place]
        attempt_events = history_rows(
            events[list(event_names)].iloc[ev_keep],
            ev_rank[ev_keep],
            e_events,
            ee_rank,
            event_names,
        )
        return {
            "attempts": attempts,
            "attempt_phases": attempt_phases,
            "attempt_events": attempt_events,
        }


def _concat_take(first: Any, second: Any, perm: Any, fixed: tuple[str, ...] = ()) -> Any:
    """Two columns joined, then taken in order ``perm``; two categoricals stay one
    categorical (categories ``fixed`` first, then the others present, sorted, as
    :func:`_category` makes them)."""
    import numpy as np
    import pandas as pd

    a, b = first.array, second.array
    if not len(b):
        joined = a
    elif isinstance(a, pd.Categorical) and isinstance(b, pd.Categorical):
        present = {str(c) for c in a.categories} | {str(c) for c in b.categories}
        merged = list(fixed) + sorted(present - set(fixed))
        dtype = pd.CategoricalDtype(pd.Index(merged, dtype="str"))
        codes = np.concatenate(
            [
                pd.Categorical(a, dtype=dtype).codes,
                pd.Categorical(b, dtype=dtype).codes,
            ]
        )
        joined = pd.Categorical.from_codes(codes, dtype=dtype)
    else:
        joined = pd.concat(
            [pd.Series(a, copy=False), pd.Series(b, copy=False)], ignore_index=True
        ).array
    if len(perm) == len(joined) and (
        not len(perm) or (perm[0] == 0 and bool((np.diff(perm) == 1).all()))
    ):
        return joined
    return joined.take(perm)


def _placed(first: Any, second: Any, at_first: Any, at_second: Any, fixed: tuple[str, ...]) -> Any:
    """The rows of two columns put in their places of one: ``first``'s row i at
    ``at_first[i]``, ``second``'s at ``at_second[i]`` (together every place once). Floats,
    ``Int64``, UTC times and categoricals (categories as :func:`_concat_take` makes them) are
    written into one array; any other column is joined and taken."""
    import numpy as np
    import pandas as pd

    a, b = first.array, second.array
    m = len(a) + len(b)
    if not len(b) and bool((at_first == np.arange(m)).all()):
        return a
    if isinstance(a, pd.Categorical) and isinstance(b, pd.Categorical):
        present = {str(c) for c in a.categories} | {str(c) for c in b.categories}
        merged = list(fixed) + sorted(present - set(fixed))
        dtype = pd.CategoricalDtype(pd.Index(merged, dtype="str"))
        a_codes = pd.Categorical(a, dtype=dtype).codes
        b_codes = pd.Categorical(b, dtype=dtype).codes
        codes = np.empty(m, dtype=np.result_type(a_codes, b_codes))
        codes[at_first], codes[at_second] = a_codes, b_codes
        return pd.Categorical.from_codes(codes, dtype=dtype)
    if a.dtype == b.dtype and a.dtype == np.float64:
        values = np.empty(m, dtype=np.float64)
        values[at_first], values[at_second] = np.asarray(a), np.asarray(b)
        return values
    if a.dtype == b.dtype and str(a.dtype) == "Int64":
        data = np.empty(m, dtype=np.int64)
        mask = np.empty(m, dtype=bool)
        data[at_first] = a.to_numpy(dtype=np.int64, na_value=0)
        data[at_second] = b.to_numpy(dtype=np.int64, na_value=0)
        mask[at_first], mask[at_second] = a.isna(), b.isna()
        return pd.arrays.IntegerArray(data, mask)
    if a.dtype == b.dtype and str(a.dtype) == "datetime64[ns, UTC]":
        ns = np.empty(m, dtype=np.int64)
        ns[at_first], ns[at_second] = a.asi8, b.asi8
        return _utc_ns_i8(ns)
    perm = np.empty(m, dtype=np.int64)
    perm[at_first] = np.arange(len(a))
    perm[at_second] = np.arange(len(a), m)
    return _concat_take(first, second, perm, fixed)


def _group_max(values: Any, owner: Any, n: int) -> Any:
    """Per group ``0..n-1`` the largest of ``values`` (int64; ``owner[i]``: row i's group,
    rows of a group contiguous); a group without rows gets int64's minimum (NaT)."""
    import numpy as np

    out = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    if len(owner):
        starts = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1])))
        out[owner[starts]] = np.maximum.reduceat(values, starts)
    return out


def _attempt_keys(builds: Any, numbers: Any, arrow: bool) -> Any:
    """``"<build>#<number>"`` (or the build's key alone, ``numbers`` None) as the ``string``
    dtype, made by Arrow when the dtype is Arrow-backed (no Python string per row)."""
    import pandas as pd

    if not arrow:
        if numbers is None:
            return pd.array(builds.astype(str).astype(object), dtype="string")
        return pd.array(
            [f"{b}#{n}" for b, n in zip(builds.tolist(), numbers.tolist(), strict=True)],
            dtype="string",
        )
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(builds).cast(pa.large_string())
    if numbers is not None:
        text = pc.binary_join_element_wise(
            text, pa.array(numbers).cast(pa.large_string()), pa.scalar("#", pa.large_string())
        )
    return pd.arrays.ArrowStringArray(text)


def _take_keys(keys: Any, ranks: Any, arrow: bool) -> Any:
    """``keys[ranks]`` (a ``string`` array), by Arrow's take when Arrow-backed."""
    import pandas as pd

    if not arrow:
        return pd.array(keys.to_numpy(dtype=object)[ranks], dtype="string")
    import pyarrow as pa

    return pd.arrays.ArrowStringArray(keys._pa_array.take(pa.array(ranks)))


def _need(row: Any, name: str, route: str, error: type[Exception]) -> Any:
    if not isinstance(row, Mapping):
        raise _make_error(error, f"{route}: expected a JSON object per row, got {row!r:.80}")
    if name not in row:
        ident = row.get("id", "?")
        raise _make_error(error, f"{route} row id={ident}: missing field {name!r}")
    return row[name]


def _make_error(error: type[Exception], message: str) -> Exception:
    return error(message)


def empty_to_none(value: Any) -> Any:
    return None if value == "" else value


def _need_int(row: Any, name: str, route: str, error: type[Exception]) -> int:
    value = _need(row, name, route, error)
    if isinstance(value, bool) or not isinstance(value, int):
        ident = row.get("id", "?")
        raise _make_error(
            error, f"{route} row id={ident}: {name!r} is not an integer: {value!r:.40}"
        )
    return value


class ServerColumns:
    """The data API's six tables as columns, filled row by row (the data API's rows) or page
    by page (a database's), and turned into frames one way (:meth:`frames`).

    Fill specs, edges and builds (:meth:`add_builds`, any order; ``from_database`` reads the
    builds first), then phases (:meth:`add_phases`, pages in any order) and events; then call
    :meth:`frames` once.
    ``keep_output=False``: phase texts are not kept (and, when not given, their times are
    unknown).
    """

    def __init__(self, *, keep_output: bool) -> None:
        self.keep_output = keep_output
        self.asm = Assembler(keep_output=keep_output, rules=None, parse_events=False)
        self.problems: list[tuple[str, str]] = []
        self.notes: list[tuple[str, str]] = []
        self._joined_types: dict[str, str] = {}
        # builds, column by column, encoded chunk by chunk: ids and times as int64 arrays,
        # every text column as codes into its distinct values (no Python object per row)
        self._build_ids: list[Any] = []
        self._build_times: list[Any] = []
        self._build_text = [_Codes() for _ in range(12)]
        self._arrow = _arrow_strings()
        self._p: dict[str, list[Any]] = {
            k: []
            for k in (
                "id", "build", "size", "output",
                "start", "start_ok", "finish", "finish_ok", "two",
            )
        }  # fmt: skip
        self._phase_names = _Codes()
        self._phase_statuses = _Codes()
        self._events: dict[int, list[LogEvent]] = {}
        # set by frames(): the builds' ids (in frame order), each phase row's build (its
        # position among the builds) and which builds have an ERROR phase
        self.build_ids: Any = None
        self.phase_owner: Any = None
        self.build_errored: Any = None
        self.build_marked: Any = None  # a failure marker's root cause (marked_failure)

    # -- filling ---------------------------------------------------------------------------
    def add_spec(self, *row: Any) -> None:
        """One ``specs`` row: full_hash, name, version, compiler_name, compiler_version,
        platform, os, target, namespace, external, hash, build_hash, dag_hash, and
        optionally parameters (a mapping or its JSON text) and build_spec."""
        add_server_spec(self.asm, *row)

    def add_edge(
        self, parent: str, child: str, parent_name: Any, child_name: Any, deptypes: Any
    ) -> None:
        """One ``dependencies`` row; ``deptypes`` a list or its JSON text (first one kept)."""
        if (parent, child) in self.asm.edges:
            return
        key = deptypes if isinstance(deptypes, str) else None
        text = self._joined_types.get(key) if key is not None else None
        if text is None:
            decoded = json.loads(deptypes) if key is not None else deptypes
            text = ",".join(sorted(str(d) for d in decoded or []))
            if key is not None:
                self._joined_types[key] = text
        self.asm.edges[(parent, child)] = (parent, child, parent_name, child_name, text)

    def add_builds(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """``builds`` rows as tuples: id (int), full_hash, spec_name, spec_version, status,
        host_os, platform, host_target, hostname, kernel_version, spack_version, owner, tags
        (a list or its JSON text), created_at (ISO text or ``datetime``, naive taken as UTC)."""
        import numpy as np

        rows = list(rows)
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        del rows
        self._build_ids.append(np.array(columns[0], dtype=np.int64))
        # tags: the stored JSON text, or the list a driver or the data API decoded
        columns[12] = tuple(json.dumps(v) if isinstance(v, list) else v for v in columns[12])
        for codes, values in zip(self._build_text, columns[1:13], strict=True):
            codes.add(values)
        self._build_times.append(_times(list(columns[13])).asi8)

    def add_phases(
        self,
        ids: Iterable[int],
        builds: Iterable[int],
        names: Iterable[Any],
        statuses: Iterable[Any],
        sizes: Iterable[int],
        *,
        outputs: list[Any] | None = None,
    ) -> None:
        """One page of ``buildphases`` columns; ``outputs`` the log texts (None: not read).
        The first and last ``==> [stamp]`` of each log are found from both ends of the text
        and parsed vectorised; a stamp that is not a valid time sends that log down the
        exact path (:func:`~spackmon_analysis.spackfacts.stamp_micros`)."""
        import numpy as np

        p = self._p
        p["id"].append(np.array(list(ids), dtype=np.int64))
        p["build"].append(np.array(list(builds), dtype=np.int64))
        self._phase_names.add(list(names))
        self._phase_statuses.add(list(statuses))
        p["size"].append(np.array(list(sizes), dtype=np.int64))
        n = len(p["id"][-1])
        joined = None
        if outputs is None:
            zero = np.zeros(n, dtype=np.int64)
            no = np.zeros(n, dtype=bool)
            start, start_ok, finish, finish_ok, two = zero, no, zero, no, no
        else:
            # the page's logs as one buffer (plain ASCII, the usual case): the stamps found
            # and parsed in it, no Python call per log; else one log at a time
            joined = _joined_texts(outputs)
            if joined is not None:
                data, offsets, _ = joined
                start, start_ok, finish, finish_ok, two = stamp_columns_joined(
                    outputs, np.frombuffer(data, dtype=np.uint8), offsets
                )
            else:
                spans = [first_last_stamp_texts(o) for o in outputs]
                start, start_ok, finish, finish_ok, two = stamp_columns(outputs, spans)
        if self.keep_output:
            texts = outputs if outputs is not None else [None] * n
            p["output"].append(_string_chunk(texts, self._arrow, joined))
        p["start"].append(start)
        p["start_ok"].append(start_ok)
        p["finish"].append(finish)
        p["finish_ok"].append(finish_ok)
        p["two"].append(two)

    def add_event(
        self,
        phase_id: Any,
        kind: str,
        text: str,
        line_no: Any,
        source_file: Any,
        source_line_no: Any,
        pre_context: Any,
        post_context: Any,
        repeat_count: Any,
        classes: Any,
        fingerprint: Any = None,
    ) -> None:
        """One ``builderrors``/``buildwarnings`` row (context and classes as lists or their
        JSON text) -> the one event record (:meth:`~spackmon_analysis.logs.LogEvent.from_dict`:
        a fingerprint the row carries is kept, else computed there, once)."""
        pre, post, cls = _json_values([pre_context, post_context, classes])
        stored = {
            "kind": kind,
            "text": text,
            "line_no": line_no,
            "source_file": source_file,
            "source_line_no": source_line_no,
            "pre_context": pre,
            "post_context": post,
            "repeat_count": repeat_count,
            "classes": cls,
            "fingerprint": fingerprint,
        }
        try:
            event = LogEvent.from_dict(stored)
        except LogParseError as exc:
            raise ConfigError(f"event row of phase {phase_id!r}: {exc}") from None
        self._events.setdefault(phase_id, []).append(event)

    # -- assembly --------------------------------------------------------------------------
    def frames(self, *, source: str, label: str) -> FrameSet:
        """The five frames; builds keep the order they were added in, each build's phases
        in the order they ran (:func:`~spackmon_analysis.spackfacts.order_phases`: timed
        phases by first stamp, the others by Spack's usual order), ties by phase id."""
        import numpy as np
        import pandas as pd

        asm = self.asm

        def joined(parts: list[Any], dtype: Any) -> Any:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        (b_hash, b_name, b_version, b_status, b_host_os, b_platform, b_host_target,
         b_hostname, b_kernel, b_spack, b_owner, b_tags) = self._build_text  # fmt: skip
        build_ids = joined(self._build_ids, np.int64)
        nb = len(build_ids)
        build_keys = build_ids.astype(str).astype(object)
        p = self._p

        # each column's chunks are dropped once joined (a million builds' phases: ~50 MB
        # per column)
        ids = joined(p.pop("id"), np.int64)
        phase_builds = joined(p.pop("build"), np.int64)
        sizes = joined(p.pop("size"), np.int64)
        n = len(ids)
        # names as codes into their distinct values, sorted (no object array per phase)
        name_values = [str(v) for v in self._phase_names.values]
        by_name = sorted(range(len(name_values)), key=name_values.__getitem__)
        sorted_names = [name_values[i] for i in by_name]
        rank_of_name = np.empty(len(name_values) + 1, dtype=np.int64)
        rank_of_name[by_name] = np.arange(len(name_values))
        rank_of_name[-1] = -1
        name_codes = rank_of_name[self._phase_names.codes()]
        start, start_ok = joined(p.pop("start"), np.int64), joined(p.pop("start_ok"), bool)
        finish, finish_ok = joined(p.pop("finish"), np.int64), joined(p.pop("finish_ok"), bool)
        two = joined(p.pop("two"), bool)
        durations = np.where(start_ok & finish_ok & two, (finish - start) / 1e6, np.nan)
        del two

        # each phase's build (by position in the builds); phases of unknown builds left out
        by_id = np.argsort(build_ids, kind="stable")
        sorted_ids = build_ids[by_id]
        found = np.searchsorted(sorted_ids, phase_builds)
        found[found >= nb] = 0
        valid = (sorted_ids[found] == phase_builds) if nb else np.zeros(n, dtype=bool)
        pos = by_id[found] if nb else np.zeros(n, dtype=np.int64)
        if not valid.all():
            orphans = sorted(set(phase_builds[~valid].tolist()))
            self.notes.append(
                (
                    "buildphases",
                    f"{int((~valid).sum())} phase(s) of build id(s) not among the builds "
                    f"({', '.join(map(str, orphans[:5]))}{', ...' if len(orphans) > 5 else ''}): "
                    "left out",
                )
            )
        del found, sorted_ids, phase_builds
        timed = start_ok
        ranks = np.array([phase_rank(u) for u in sorted_names], dtype=np.int64)
        key1 = np.where(timed, start, ranks[name_codes] if n else 0)
        key2 = np.where(timed, 0, name_codes)
        untimed_in = np.bincount(pos[valid & ~timed], minlength=nb)
        timed_in = np.bincount(pos[valid & timed], minlength=nb)
        mixed = np.flatnonzero((untimed_in > 0) & (timed_in > 0))
        if len(mixed):
            members: dict[int, list[int]] = {}
            for i in np.flatnonzero(valid & np.isin(pos, mixed)).tolist():
                members.setdefault(int(pos[i]), []).append(i)
            for b in set(mixed.tolist()):
                items = [
                    (str(sorted_names[name_codes[i]]) if name_codes[i] >= 0 else "None",
                     start[i] if timed[i] else None, i)
                    for i in members[b]
                ]  # fmt: skip
                ordered = order_phases(items, name=lambda t: t[0], started=lambda t: t[1])
                for place, (_, _, i) in enumerate(ordered):
                    key1[i], key2[i] = place, 0
        if valid.all():  # the usual case: no copies of the sort keys
            perm = np.lexsort((ids, key2, key1, pos))
        else:
            keep = np.flatnonzero(valid)
            perm = keep[np.lexsort((ids[keep], key2[keep], key1[keep], pos[keep]))]
            del keep
        del key1, key2, valid
        owner_pos = pos[perm]
        del pos
        m = len(perm)
        first_of_group = np.ones(m, dtype=bool)
        first_of_group[1:] = owner_pos[1:] != owner_pos[:-1]
        index = np.arange(m, dtype=np.int64)
        order = index - np.maximum.accumulate(np.where(first_of_group, index, 0))
        del index, first_of_group

        # the phases frame, column by column, each source array dropped once used (six
        # million phases: ~50 MB per array)
        columns: dict[str, Any] = {}
        keys_of = (lambda pos: build_keys[pos]) if not self._arrow else None
        columns["build"] = _key_strings(build_ids[owner_pos], keys_of, owner_pos, self._arrow)
        phase_ids = ids[perm]
        del ids
        columns["phase_id"] = pd.array(phase_ids, dtype="Int64")
        phase_names = name_codes[perm]
        del name_codes
        columns["name"] = _used_category(phase_names, sorted_names)
        columns["order"] = pd.array(order, dtype="Int64")
        del order
        status_values = [str(v) for v in self._phase_statuses.values]
        status_codes = self._phase_statuses.codes()[perm]
        columns["status"] = _used_category(status_codes, status_values, PHASE_STATUS_CATEGORIES)
        columns["output_size"] = pd.array(sizes[perm], dtype="Int64")
        del sizes
        phase_durations = durations[perm]
        del durations
        columns["duration"] = phase_durations
        columns["started_at"] = _utc_ns(start[perm], start_ok[perm])
        del start, start_ok
        columns["finished_at"] = _utc_ns(finish[perm], finish_ok[perm])
        del finish, finish_ok
        if self.keep_output:
            columns["output"] = _string_column(p["output"], perm, n, self._arrow)
        else:
            columns["output"] = pd.array(np.full(m, None, dtype=object), dtype="string")
        p.clear()
        # a dict of arrays is copied by default: the log text would be twice
        phases = pd.DataFrame(columns, copy=False)
        del columns

        # builds: duration = sum of known phase durations, outcome from statuses
        known = ~np.isnan(phase_durations)
        total = np.bincount(owner_pos[known], weights=phase_durations[known], minlength=nb)
        counted = np.bincount(owner_pos[known], minlength=nb)
        error_code = status_values.index("ERROR") if "ERROR" in status_values else -2
        errored = np.bincount(owner_pos[status_codes == error_code], minlength=nb) > 0
        del status_codes
        self.build_ids, self.phase_owner, self.build_errored = build_ids, owner_pos, errored
        compilers = {k: row[3] for k, row in asm.specs.items()}
        # per distinct value, not per build: the full hash a build's hash resolves to, its
        # compiler, an outcome per (status, errored) pair, a tag tuple per stored list
        hash_codes = b_hash.codes()
        resolved = [asm.resolve(h) for h in b_hash.values]
        full_hashes = _Codes.lookup(resolved)[hash_codes]
        compiler_of = _Codes.lookup([None if h is None else compilers.get(h) for h in resolved])
        # the DAG hash a user sees, from the build's spec (what ``fill_dag_hashes`` would
        # fill in per row, here once per distinct hash)
        spec_rows = [None if h is None else asm.specs.get(h) for h in resolved]
        dag_of = _Codes.lookup([None if row is None else row[11] for row in spec_rows])
        tag_lists = [tuple(str(t) for t in v or ()) for v in _json_values(b_tags.values)]
        tag_of = _Codes.lookup(tag_lists)
        tag_codes = b_tags.codes()
        # a failure marker's tags (marked_failure(): FAILED + failure-marker, not blocked)
        # make a build failed without an ERROR phase: a flag per stored tag list
        marker_of = np.array([FAILURE_MARKER_TAG in t for t in tag_lists] + [False])
        blocked_of = np.array([BLOCKED_TAG in t for t in tag_lists] + [False])
        marked = marker_of[tag_codes] & ~blocked_of[tag_codes]
        self.build_marked = marked
        status_codes = b_status.codes()
        outcome_of, pair_codes = _outcome_codes(status_codes, b_status.values, errored, marked)
        created = _utc_ns_i8(joined(self._build_times, np.int64))

        def text(values: Any) -> Any:
            return pd.array(values, dtype="string")

        builds_frame = pd.DataFrame(
            {
                "build": pd.array(build_keys, dtype="string"),
                "build_id": pd.array(build_ids, dtype="Int64"),
                "run": _category(np.full(nb, None, dtype=object)),
                "run_time": created,
                "full_hash": text(full_hashes),
                "dag_hash": text(dag_of[hash_codes]),
                "spec_name": text(b_name.decoded()),
                "spec_version": b_version.strings(empty_to_none),
                "compiler": _category(compiler_of[hash_codes]),
                "status": b_status.category(BUILD_STATUS_CATEGORIES),
                "outcome": _category(outcome_of[pair_codes], OUTCOMES),
                "host_os": b_host_os.category(),
                "platform": b_platform.category(),
                "host_target": b_host_target.category(),
                "hostname": b_hostname.category(),
                "kernel_version": b_kernel.category(),
                "spack_version": b_spack.category(),
                "tags": tag_of[b_tags.codes()],
                "owner": b_owner.strings(),
                "created_at": created,
                "duration": np.where(counted > 0, total, np.nan),
                "source": _category(np.full(nb, source, dtype=object), SOURCES),
            },
            copy=False,
        )

        # events: per phase in frame order, by line; events of unknown phases left out
        events_of = self._events
        if events_of:
            event_phases = list(events_of)
            where = pd.Index(phase_ids).get_indexer(event_phases)
            lost = [p for w, p in zip(where, event_phases, strict=True) if w < 0]
            if lost:
                count = sum(len(events_of[p]) for p in lost)
                shown = ", ".join(map(str, sorted(lost, key=str)[:5]))
                self.notes.append(
                    (
                        "builderrors/buildwarnings",
                        f"{count} event(s) of phase id(s) not among the loaded phases "
                        f"({shown}{', ...' if len(lost) > 5 else ''}): left out",
                    )
                )
            for place, phase_id in sorted(
                (int(w), p) for w, p in zip(where, event_phases, strict=True) if w >= 0
            ):
                for event in sorted(events_of[phase_id], key=lambda e: e.line_no or 0):
                    asm.events.append(event)
                    asm.event_build.append(build_keys[owner_pos[place]])
                    code = phase_names[place]
                    asm.event_phase.append(sorted_names[code] if code >= 0 else "None")

        frames = asm.frames()
        return FrameSet(
            specs=frames["specs"],
            dependencies=frames["dependencies"],
            builds=builds_frame,
            phases=phases,
            events=frames["events"],
            source=label,
            problems=[*self.problems, *asm.problems],
            notes=[*self.notes, *asm.notes, *_splice_notes(frames["specs"], label)],
        )


def _splice_notes(specs: Any, label: str) -> list[tuple[str, str]]:
    """A note per spliced spec the server keeps (its ``build_spec``), as the offline loaders
    note each spliced node of a spec document (``assemble.splice_note``)."""
    if specs is None or not len(specs) or "build_spec" not in specs.columns:
        return []
    spliced = specs[specs["build_spec"].notna()]
    return [
        (label, f"spliced (Spack's build_spec): {n}@{v} /{str(h)[:7]} was built as /{str(b)[:7]}")
        for n, v, h, b in zip(
            spliced["name"], spliced["version"], spliced["full_hash"], spliced["build_spec"],
            strict=True,
        )
    ]  # fmt: skip


def _outcome_codes(
    status_codes: Any, statuses: list[Any], errored: Any, marked: Any
) -> tuple[Any, Any]:
    """``(outcomes, codes)``: :func:`~spackmon_analysis.spackfacts.build_outcome` once per
    distinct (status, has an ``ERROR`` phase, failure-marker root cause) triple, and each
    row's index into them (``status_codes`` index ``statuses``; -1: no status)."""
    import numpy as np

    triple = ((np.asarray(status_codes, dtype=np.int64) + 1) * 2 + errored) * 2 + marked
    values, codes = np.unique(triple, return_inverse=True)
    known = [None, *statuses]
    outcomes = _Codes.lookup(
        [
            build_outcome(
                known[v // 4],
                ("ERROR",) if (v // 2) % 2 else (),
                (FAILURE_MARKER_TAG,) if v % 2 else (),
            )
            for v in values.tolist()
        ]
    )
    return outcomes, codes.reshape(-1)


class _Codes:
    """One text column filled chunk by chunk, kept as codes into its distinct values (-1 for
    a missing value): a million builds of forty hosts hold forty host names, not a million
    strings. Values must be hashable scalars (a JSON list is added as its text)."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._index: dict[Any, int] = {}
        self._chunks: list[Any] = []

    def add(self, values: Iterable[Any]) -> None:
        import numpy as np
        import pandas as pd

        items = values if isinstance(values, list | tuple) else list(values)
        column = np.empty(len(items), dtype=object)
        column[:] = items
        codes, uniques = pd.factorize(column)
        index = self._index
        mapping = np.empty(len(uniques), dtype=np.int32)
        for i, value in enumerate(uniques.tolist()):
            code = index.get(value)
            if code is None:
                code = index[value] = len(self.values)
                self.values.append(value)
            mapping[i] = code
        self._chunks.append(np.where(codes >= 0, mapping[codes] if len(mapping) else -1, -1))

    def codes(self) -> Any:
        import numpy as np

        if not self._chunks:
            return np.zeros(0, dtype=np.int32)
        return np.concatenate(self._chunks).astype(np.int32, copy=False)

    @staticmethod
    def lookup(values: list[Any]) -> Any:
        """An object array of ``values`` and a last ``None``, indexed by codes (-1: None)."""
        import numpy as np

        out = np.empty(len(values) + 1, dtype=object)
        out[:-1] = values
        out[-1] = None
        return out

    def decoded(self, convert: Callable[[Any], Any] | None = None) -> Any:
        """The column as an object array (one reference per row to a shared value)."""
        values = self.values if convert is None else [convert(v) for v in self.values]
        return self.lookup(values)[self.codes()]

    def strings(self, convert: Callable[[Any], Any] | None = None) -> Any:
        """The column as the ``string`` dtype."""
        import pandas as pd

        return pd.array(self.decoded(convert), dtype="string")

    def category(self, fixed: tuple[str, ...] | None = None) -> Any:
        """The column as the contract's categorical (as :func:`_category`), from its codes."""
        present = [str(v) for v in self.values]
        categories = sorted(present)
        if fixed is not None:
            categories = list(fixed) + [v for v in categories if v not in fixed]
        return _recoded(self.codes(), present, categories)


def _key_strings(ids: Any, keys_of: Any, where: Any, arrow: bool) -> Any:
    """Build keys (``str`` of the build ids) as the ``string`` dtype: cast by Arrow from the
    ids when the dtype is Arrow-backed (no Python string per phase), else ``keys_of(where)``
    (the keys' object array at those positions)."""
    import pandas as pd

    if not arrow:
        return pd.array(keys_of(where), dtype="string")
    import pyarrow as pa

    return pd.arrays.ArrowStringArray(pa.array(ids).cast(pa.large_string()))


def _utc_ns_i8(values: Any) -> Any:
    """int64 nanoseconds (NaT's value for missing) as ``datetime64[ns, UTC]``."""
    import pandas as pd

    return pd.Series(values.view("datetime64[ns]")).dt.tz_localize("UTC").array


def _used_category(codes: Any, values: list[str], fixed: tuple[str, ...] | None = None) -> Any:
    """``codes`` (indexes into ``values``, -1 missing) as the categorical :func:`_category`
    makes of the values they name: only the values used, ``fixed`` first, the rest sorted."""
    import numpy as np

    used: Any = np.bincount(codes[codes >= 0], minlength=len(values)) > 0
    present = [v for v, u in zip(values, used, strict=True) if u]
    where = np.full(len(values) + 1, -1, dtype=np.int64)
    where[np.flatnonzero(used)] = np.arange(len(present))
    local = where[codes]
    ordered = sorted(present)
    categories = ordered if fixed is None else list(fixed) + [v for v in ordered if v not in fixed]
    return _recoded(local, present, categories)


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


def _times(values: list[Any]) -> Any:
    """Time values (ISO text, as the data API and SQLite give them, or ``datetime``; naive
    taken as UTC) as ``datetime64[ns, UTC]`` (NaT for a value that is not a time)."""
    import pandas as pd

    series = pd.Series(values, dtype=object)
    return (
        pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce").dt.as_unit("ns").array
    )


def _arrow_strings() -> bool:
    import pandas as pd

    return pd.StringDtype().storage == "pyarrow"


def _joined_texts(values: list[Any]) -> tuple[bytes, Any, list[bool]] | None:
    """A page of texts (None for a missing one) as ``(data, offsets, missing)``: their
    UTF-8 bytes one after another, where each starts and ends (int64, one more than the
    texts), which are missing (an empty span); None when a text is not plain ASCII (its
    bytes and characters differ) or not text at all."""
    import numpy as np

    n = len(values)
    missing = [v is None for v in values]
    texts = [v if v is not None else "" for v in values] if any(missing) else values
    try:
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
        data = "".join(texts).encode()
    except (TypeError, UnicodeEncodeError):  # not all str, or a lone surrogate
        return None
    if len(data) != int(lengths.sum()):  # non-ASCII: offsets are bytes, not characters
        return None
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return data, offsets, missing


def _string_chunk(
    values: Any, arrow: bool, joined: tuple[bytes, Any, list[bool]] | None = None
) -> Any:
    """One page of log texts, as an Arrow array when the ``string`` dtype is Arrow-backed
    (so the page's Python strings can be dropped at once), else as a list.

    The page's text is one UTF-8 buffer of exactly its size (:func:`_joined_texts`, or
    ``joined`` when the caller made it), not grown by Arrow's builder: with Arrow's default
    allocator a page of a few thousand short logs kept up to 1.9x its size resident, 0.7 GB
    more for the 1.5 GB of logs of a million builds. A page with a text that is not plain
    ASCII or not encodable takes Arrow's own conversion."""
    if not arrow:
        return list(values)
    import numpy as np
    import pyarrow as pa

    items = values if isinstance(values, list) else list(values)
    if joined is None:
        joined = _joined_texts(items)
    if joined is None:
        return pa.array(items, type=pa.large_string())
    data, offsets, missing = joined
    validity = None
    if any(missing):
        validity = pa.array(np.logical_not(missing)).buffers()[1]
    return pa.LargeStringArray.from_buffers(
        len(items), pa.py_buffer(offsets), pa.py_buffer(data), validity, sum(missing)
    )


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
    if len(perm) == n and np.array_equal(perm, np.arange(n)):
        return pd.arrays.ArrowStringArray(column)
    # runs of consecutive rows (a table read from the middle, as PostgreSQL's synchronised
    # scans do, is two runs) are zero-copy slices; only a real shuffle copies the texts
    breaks = np.flatnonzero(np.diff(perm) != 1) + 1
    if len(breaks) < 4096:
        starts = np.concatenate(([0], breaks)).tolist()
        ends = np.concatenate((breaks, [len(perm)])).tolist()
        pieces = [
            piece
            for start, end in zip(starts, ends, strict=True)
            for piece in column.slice(int(perm[start]), end - start).chunks
        ]
        column = pa.chunked_array(pieces, type=pa.large_string())
    else:
        column = column.take(pa.array(perm))
    return pd.arrays.ArrowStringArray(column)


def add_server_spec(
    asm: Assembler,
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
    parameters: Any = None,
    build_spec: str | None = None,
) -> None:
    """One server ``specs`` row into ``asm`` (data API rows and database rows alike);
    ``parameters`` (the stored spec parameters, or their JSON text) give ``variants_text``;
    ``build_spec``: the DAG hash of the spec a spliced spec was built as."""
    if isinstance(parameters, str | bytes):
        parameters = json.loads(parameters)
    compiler = None
    if compiler_name:
        compiler = f"{compiler_name}@{compiler_version}" if compiler_version else compiler_name
    hashes = (dag, build_hash, dag_hash, key)
    if not dag and dag_hash and dag_hash != key:
        dag = dag_hash
    spec_row = (
        key,
        name,
        empty_to_none(version),
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
        variants_text(parameters),
        build_spec or None,
    )
    asm.add_spec_row(key, spec_row, hashes)
