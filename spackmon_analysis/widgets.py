"""An ipywidgets explorer over a ``MonitorData``: filter builds, read the first error, see the DAG.

    explorer = sma.explore(data)
    explorer                                  # shows the widgets in Jupyter
    explorer.select(package="sqlite", compiler="clang")   # same filter from code: a DataFrame

Everything is computed in Python and pushed into plain widgets (``HTML`` tables, an ``Image``
holding the DAG as PNG), so the explorer works headless (tests, nbval) exactly as it does in
a browser; nothing needs a frontend until the widget box is displayed.
"""

from __future__ import annotations

import html
import io
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, UnknownKeyError
from .history import OUTCOME_MARKS
from .palette import FAILURE_PATH_COLOR, FIXED_ERROR_COLOR, OUTCOME_COLORS, OUTCOME_ORDER
from .spackfacts import failed_phases, first_error_events, short_hash

if TYPE_CHECKING:
    import pandas

    from .frames import MonitorData

__all__ = ["Explorer", "explore", "ALL"]

#: The dropdown choice that does not filter.
ALL = "(all)"

_TABLE_COLUMNS = [
    "run",
    "spec_name",
    "spec_version",
    "compiler",
    "dag_hash",
    "host_target",
    "status",
    "outcome",
    "failed_phase",
    "first_error",
    "duration",
    "full_hash",
    "build",
]


def _text(value: Any) -> str | None:
    import pandas as pd

    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _options(values: Any) -> list[str]:
    return [ALL] + sorted({t for t in (_text(v) for v in values) if t is not None})


class Explorer:
    """Dropdowns (package, compiler, run, outcome), the matching builds, the selected build's
    first error with context, and the dependency graph of the selected run; where the data
    has a build history (a build key with two attempts or more), the flaky builds, the
    timeline of the selected build's key and new/recurring/fixed marks beside its errors.

    Attributes: ``package``, ``compiler``, ``run``, ``outcome`` (``Dropdown``), ``build``
    (``Dropdown`` of the matching builds), ``table`` (``HTML``), ``log`` (``HTML``), ``dag``
    (``Image``, PNG), ``history`` (``HTML``: empty without a history), ``history_keys`` (the
    build keys with a history, most attempts first), ``widget`` (the ``VBox`` holding them),
    ``data``.
    """

    def __init__(self, data: MonitorData) -> None:
        import ipywidgets as w

        missing = [f for f in ("builds", "phases", "events", "graph") if not hasattr(data, f)]
        if data is None or missing:
            raise ConfigError(
                "explore(data=...): data must be a MonitorData (for example "
                f"sma.load_save_local(path)), not {type(data).__name__}"
            )
        self.data = data
        # what every view calls the first error (spackfacts.first_error_events)
        self._first_errors = first_error_events(data.events, data.phases)
        self.builds = self._builds_table(data, self._first_errors)
        self._dag_cache: dict[str | None, bytes] = {}
        self._updating = False
        layout = w.Layout(width="260px")
        style = {"description_width": "70px"}
        b = self.builds
        self.package = w.Dropdown(
            options=_options(b["spec_name"]), description="package", layout=layout, style=style
        )
        compilers = _options(b["compiler"])
        names = sorted({c.split("@")[0] for c in compilers[1:] if "@" in c})
        extra = [n for n in names if sum(c.startswith(n + "@") for c in compilers) > 1]
        self.compiler = w.Dropdown(
            options=[ALL, *extra, *compilers[1:]],
            description="compiler",
            layout=layout,
            style=style,
        )
        self.run = w.Dropdown(
            options=_options(b["run"]), description="run", layout=layout, style=style
        )
        self.outcome = w.Dropdown(
            options=[ALL] + [o for o in _outcome_order(b["outcome"])],
            description="outcome",
            layout=layout,
            style=style,
        )
        self.build = w.Dropdown(
            options=[], description="build", layout=w.Layout(width="640px"), style=style
        )
        self.summary = w.HTML()
        self.table = w.HTML()
        self.log = w.HTML()
        self.dag = w.Image(format="png", layout=w.Layout(max_width="900px"))
        self.history = w.HTML()
        self._load_history(data)
        for dd in (self.package, self.compiler, self.run, self.outcome):
            dd.observe(self._on_filter, names="value")
        self.build.observe(self._on_build, names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.package, self.compiler, self.run, self.outcome]),
                self.summary,
                self.table,
                self.build,
                w.HBox([self.log, self.dag]),
                self.history,
            ]
        )
        self._refresh()

    def _load_history(self, data: MonitorData) -> None:
        """The history answers the explorer shows, computed once: build keys with two
        attempts or more (:func:`~spackmon_analysis.history.busiest_keys`), their
        timelines, new/recurring/fixed errors and the flaky builds; nothing when no build
        key has a history."""
        from .history import one_attempt_table

        with one_attempt_table():  # each answer below starts from the same attempt table
            self._load_history_answers(data)

    def _load_history_answers(self, data: MonitorData) -> None:
        from .history import busiest_keys, history_summary, latest_attempt_of, timeline

        self.history_keys: list[str] = busiest_keys(data) if hasattr(data, "attempts") else []
        self._summary = None
        self._timeline = None
        self._key_of: dict[str, str] = {}
        self._latest: dict[str, str] = {}
        if not self.history_keys:
            return
        from .history import attempt_table

        self._summary = history_summary(data)
        self._timeline = timeline(data, self.history_keys)
        self._latest = latest_attempt_of(data)
        table = attempt_table(data)
        self._key_of = dict(
            zip(table["attempt"].astype(object), table["key"].astype(object), strict=True)
        )

    # -- data ---------------------------------------------------------------------------------

    @staticmethod
    def _builds_table(data: MonitorData, first: pandas.DataFrame) -> pandas.DataFrame:
        """``data.builds`` plus ``failed_phase`` and ``first_error`` per build, by run time."""
        import pandas as pd

        b = data.builds.copy()
        failed = failed_phases(data.phases)
        key = b["build"].astype(str)
        b["failed_phase"] = key.map(failed).astype("string")
        b["first_error"] = key.map(first["text"] if len(first) else pd.Series(dtype=object)).astype(
            "string"
        )
        sort = [c for c in ("run_time", "run", "spec_name", "build") if c in b]
        return b.sort_values(sort, kind="stable").reset_index(drop=True)

    def filtered(self) -> pandas.DataFrame:
        """The builds matching the current dropdown values (every ``builds`` column, plus
        ``failed_phase`` and ``first_error``), in run order."""
        b = self.builds
        mask = b["build"].notna()
        if self.package.value != ALL:
            mask &= b["spec_name"].astype("object") == self.package.value
        if self.compiler.value != ALL:
            mask &= b["compiler"].astype("string").fillna("").str.startswith(self.compiler.value)
        if self.run.value != ALL:
            mask &= b["run"].astype("object") == self.run.value
        if self.outcome.value != ALL:
            mask &= b["outcome"].astype("object") == self.outcome.value
        return b[mask].reset_index(drop=True)

    # -- from code ----------------------------------------------------------------------------

    def select(
        self,
        package: str | None = None,
        compiler: str | None = None,
        run: str | None = None,
        outcome: str | None = None,
    ) -> pandas.DataFrame:
        """Set the four dropdowns (``None``: no filter) and return the matching builds.

        ``compiler`` may be a prefix (``"clang"`` matches ``clang@14.0.6``); ``run`` may be a
        prefix of a run directory name (``"2026-11-22"``). Raises ``UnknownKeyError`` for a value
        that matches nothing, naming the choices. Text columns are ``string`` dtype, so a
        missing value (e.g. the ``status`` Spack 0.17 does not write for the package whose
        phase failed) shows as ``<NA>`` like every other.
        """
        self._updating = True  # one refresh at the end, not one per dropdown
        try:
            values = {
                self.package: _pick(self.package, package, "package", prefix=False),
                self.compiler: _pick(self.compiler, compiler, "compiler", prefix=True),
                self.run: _pick(self.run, run, "run", prefix=True),
                self.outcome: _pick(self.outcome, outcome, "outcome", prefix=False),
            }
            for dd, value in values.items():
                dd.value = value
        finally:
            self._updating = False
        self._refresh()
        rows = self.filtered()[[c for c in _TABLE_COLUMNS + ["run_time"] if c in self.builds]]
        return _as_text_columns(rows)

    # -- views --------------------------------------------------------------------------------

    def _on_filter(self, change: dict) -> None:
        if not self._updating:
            self._refresh()

    def _on_build(self, change: dict) -> None:
        if not self._updating:
            self._show_build(change["new"])

    def _refresh(self) -> None:
        rows = self.filtered()
        total = len(self.builds)
        counts = rows["outcome"].astype("object").value_counts()
        parts = ", ".join(f"{n} {o}" for o, n in counts.items())
        self.summary.value = f"<b>{len(rows)}</b> of {total} builds match" + (
            f" ({html.escape(parts)})" if parts else ""
        )
        shown = rows[[c for c in _TABLE_COLUMNS if c in rows]]
        self.table.value = (
            '<div style="max-height:260px;overflow:auto">'
            + shown.to_html(index=False, na_rep="", max_rows=200, escape=True)
            + "</div>"
            if len(rows)
            else "<i>no build matches</i>"
        )
        options = [(_build_label(r), str(r["build"])) for r in rows.to_dict("records")]
        self._updating = True
        try:
            self.build.options = options
            # the first failure is the most useful default, else the first build
            pick = next(
                (v for (_, v), r in zip(options, rows.to_dict("records"), strict=True)
                 if r["outcome"] == "failed"),
                options[0][1] if options else None,
            )  # fmt: skip
            self.build.value = pick
        finally:
            self._updating = False
        self._show_build(pick)

    def _show_build(self, key: str | None) -> None:
        if key is None:
            self.log.value = "<i>no build selected</i>"
            self.history.value = self.history_view(None)
            self._show_dag(None if self.run.value == ALL else self.run.value)
            return
        row = self.builds[self.builds["build"].astype(str) == key].iloc[0]
        self.log.value = self.error_view(key)
        self.history.value = self.history_view(key)
        run = self.run.value if self.run.value != ALL else _text(row.get("run"))
        self._show_dag(run)

    def _error_at(self, build: str, event: Any) -> str:
        """Where an error is, naming the file its line counts in (as the report says)."""
        from .failures import describe_error_at

        phases = self.data.phases
        mine = phases[phases["build"].astype(str) == build]
        row = self.builds[self.builds["build"].astype(str) == build].iloc[0]
        version = row.get("spack_version") if "spack_version" in row else None
        return describe_error_at(mine, event, version)

    def error_view(self, build: str) -> str:
        """HTML: the build's first error event with its context (or why there is none)."""
        b = self.builds
        row = b[b["build"].astype(str) == build].iloc[0]
        head = (
            f"<b>{html.escape(_build_label(row))}</b><br>"
            f"status {html.escape(_text(row['status']) or 'none recorded')}, outcome "
            f"<b>{html.escape(str(_text(row['outcome'])))}</b>"
        )
        first = self._first_errors
        if build in first.index:
            e = first.loc[build]
            pre = (
                [str(x) for x in (e.get("pre_context") or ())]
                if _is_seq(e.get("pre_context"))
                else []
            )
            post = (
                [str(x) for x in (e.get("post_context") or ())]
                if _is_seq(e.get("post_context"))
                else []
            )
            line = self._error_at(build, e)
            cls = _text(e.get("primary_class")) or "unclassified"
            lines = [html.escape(x) for x in pre]
            lines.append(
                f'<span style="color:{FAILURE_PATH_COLOR};font-weight:bold">'
                f"{html.escape(str(e['text']))}</span>"
            )
            lines += [html.escape(x) for x in post]
            return (
                f"{head}<br>first error in phase <b>{html.escape(str(_text(e.get('phase'))))}</b>"
                + (f" ({html.escape(line)})" if line else "")
                + f", class <code>{html.escape(cls)}</code>"
                + self._error_mark(build, _text(e.get("fingerprint")))
                + '<pre style="font-size:11px;max-height:300px;overflow:auto">'
                + "\n".join(lines)
                + "</pre>"
                + self._fixed_view(build)
            )
        outcome = _text(row["outcome"])
        if outcome == "failed":
            ph = self.data.phases
            failed = _text(row.get("failed_phase"))  # spackfacts.failed_phases
            bad = ph[(ph["build"].astype(str) == build) & (ph["name"].astype("object") == failed)]
            out = _text(bad["output"].iloc[0]) if len(bad) and "output" in bad else None
            tail = "\n".join(out.splitlines()[-15:]) if out else "(no log text kept)"
            return (
                f"{head}<br>no error event was extracted; the end of the failed phase's output:"
                f'<pre style="font-size:11px">{html.escape(tail)}</pre>'
            )
        if outcome == "never built":
            culprits = self._failed_dependencies(row)
            why = (
                "blocked by " + ", ".join(f"<b>{html.escape(c)}</b>" for c in culprits)
                if culprits
                else "a dependency did not build"
            )
            return f"{head}<br>never built: {why}"
        return f"{head}<br>no error" + self._fixed_view(build)

    # -- history ------------------------------------------------------------------------------

    def _attempt_of(self, build: str) -> str:
        return self._latest.get(build, build)

    def _error_mark(self, build: str, fingerprint: str | None) -> str:
        """`` [new]`` / `` [recurring since <time>]`` beside a first error, from its build
        key's history (nothing when the key has no history)."""
        if self._summary is None or fingerprint is None:
            return ""
        found = self._summary.marks.get((self._attempt_of(build), fingerprint))
        if found is None:
            return ""
        status, first = found
        if status == "new":
            return (
                f' <b style="color:{FAILURE_PATH_COLOR}" title="the previous attempt of this '
                'build key did not have it">[new]</b>'
            )
        return f" <b>[recurring since {html.escape(_stamp(first))} UTC]</b>"

    def _fixed_view(self, build: str) -> str:
        """The errors the previous attempt of the build's key had and this one has not."""
        if self._summary is None:
            return ""
        errors = self._summary.errors
        fixed = errors[
            (errors["attempt"].astype(object) == self._attempt_of(build))
            & (errors["status"] == "fixed")
        ]
        if not len(fixed):
            return ""
        items = "".join(
            f'<li><span style="color:{FIXED_ERROR_COLOR}">[fixed]</span> {html.escape(str(t))}</li>'
            for t in fixed["text"].astype(object).head(10)
        )
        more = f"<li>... and {len(fixed) - 10} more</li>" if len(fixed) > 10 else ""
        return f"<br>fixed since the previous attempt:<ul>{items}{more}</ul>"

    def flaky_view(self) -> str:
        """HTML: the flaky builds (outcome changes with the same inputs), with their
        evidence; empty when no build key has a history."""
        if self._summary is None:
            return ""
        flaky = self._summary.flaky
        head = f"<b>Flaky with the same inputs ({len(flaky)})</b>"
        if not len(flaky):
            return f"{head}: none among {len(self.history_keys)} build key(s) with a history"
        rows = []
        for _, r in flaky.iterrows():
            label = (
                f"{r['spec_name']}@{r['spec_version']} %{r['compiler']} /"
                f"{short_hash(_text(r['full_hash']) or '')}"
            )
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(str(v))}</td>"
                    for v in (
                        label,
                        int(r["attempts"]),
                        int(r["failed"]),
                        int(r["transitions"]),
                        f"{float(r['flip_rate']):.2f}",
                        "yes" if bool(r["passed_on_retry"]) else "no",
                    )
                )
                + _evidence_cell(r["evidence"])
                + "</tr>"
            )
        return (
            f"{head}<table><tr><th>build</th><th>attempts</th><th>failed</th>"
            "<th>changes</th><th>flip rate</th><th>passed on retry</th>"
            "<th>outcomes, oldest first</th></tr>" + "".join(rows) + "</table>"
        )

    def history_view(self, build: str | None) -> str:
        """HTML: the flaky list, then the timeline of the selected build's key (one row per
        attempt: outcome, time, phase seconds, new and fixed errors); says so when the key
        has one attempt. Empty when no build key of the data has a history."""
        if self._summary is None or self._timeline is None:
            return ""
        parts = [self.flaky_view()]
        key = self._key_of.get(self._attempt_of(build)) if build is not None else None
        frame = self._timeline[self._timeline["key"] == key] if key is not None else None
        if key is None or frame is None or len(frame) < 2:
            label = html.escape(key) if key else "this build"
            parts.append(f"<i>{label}: one attempt, no history</i>")
            return "<br>".join(parts)
        fixed = {"key", "attempt", "seq", "started_at", "outcome", "duration"}
        phases = [c for c in frame.columns if c not in fixed | {"new_errors", "fixed_errors"}]
        phases = [c for c in phases if frame[c].notna().any()]
        header = ["attempt", "started (UTC)", "outcome", "seconds", *phases, "new", "fixed"]
        mine = self._attempt_of(build) if build is not None else None
        rows = []
        for r in frame.to_dict("records"):
            outcome = str(r["outcome"])
            mark = OUTCOME_MARKS.get(outcome, "?")
            color = OUTCOME_COLORS.get(outcome, OUTCOME_COLORS["unknown"])
            cells = [
                f"{r['seq']}" + (" (shown)" if r["attempt"] == mine else ""),
                _stamp(r["started_at"]),
                f'<span style="color:{color}">{mark} {html.escape(outcome)}</span>',
                _seconds(r["duration"]),
                *(_seconds(r[p]) for p in phases),
                str(r["new_errors"] or ""),
                str(r["fixed_errors"] or ""),
            ]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append(
            f"<b>History of {html.escape(key)}</b> ({len(frame)} attempts)"
            + "<table><tr>"
            + "".join(f"<th>{html.escape(h)}</th>" for h in header)
            + "</tr>"
            + "".join(rows)
            + "</table>"
        )
        return "<br>".join(parts)

    def _failed_dependencies(self, row: Any) -> list[str]:
        """name@version of the failed (root-cause) dependencies of a build in its run."""
        import networkx as nx

        run = _text(row.get("run"))
        try:
            g = self.data.graph(run=run) if run is not None else self.data.graph()
        except Exception:  # noqa: BLE001 - an explanation is optional
            return []
        node = row["full_hash"]
        if node not in g:
            return []
        return sorted(
            f"{g.nodes[n].get('name')}@{g.nodes[n].get('version')}"
            for n in nx.descendants(g, node)
            if g.nodes[n].get("outcome") == "failed"
        )

    def _show_dag(self, run: str | None) -> None:
        if run not in self._dag_cache:
            self._dag_cache[run] = self._render_dag(run)
        self.dag.value = self._dag_cache[run]

    def _render_dag(self, run: str | None) -> bytes:
        from matplotlib.figure import Figure

        from .plots import plot_dependency_graph

        fig = Figure(figsize=(9, 6), dpi=80)
        ax = fig.subplots()
        try:
            plot_dependency_graph(self.data, run=run, ax=ax)
        except Exception as exc:  # noqa: BLE001 - show why instead of breaking the explorer
            ax.text(0.5, 0.5, f"no graph: {exc}", ha="center", va="center", transform=ax.transAxes)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()

    # -- display ------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        chosen = [
            f"{name}={dd.value}"
            for name, dd in (
                ("package", self.package),
                ("compiler", self.compiler),
                ("run", self.run),
                ("outcome", self.outcome),
            )
            if dd.value != ALL
        ]
        runs = self.builds["run"].dropna().nunique() if "run" in self.builds else 0
        return (
            f"<Explorer: {len(self.builds)} builds in {runs} runs; "
            + (" ".join(chosen) if chosen else "no filter")
            + f" -> {len(self.filtered())} builds>"
        )


def _as_text_columns(frame: pandas.DataFrame) -> pandas.DataFrame:
    """``frame`` with its categorical columns (``status``, ``outcome``, ``compiler``, ...) as
    ``string`` dtype, so a missing value shows as ``<NA>`` in every text column (a
    categorical shows ``NaN``, next to the ``<NA>`` of ``failed_phase``)."""
    out = frame.copy()
    for column in out.columns:
        if str(out[column].dtype) == "category":
            out[column] = out[column].astype("string")
    return out


def _evidence_cell(evidence: Any) -> str:
    """A flaky build's attempts (``(attempt, started_at, outcome)``) as outcome marks, oldest
    first (``+ + x x +``), each attempt's date and outcome in the cell's tooltip."""
    items = list(evidence) if _is_seq(evidence) else []
    marks = " ".join(OUTCOME_MARKS.get(str(item[2]), "?") for item in items)
    tip = "; ".join(f"{_stamp(item[1])} {item[2]}" for item in items)
    return f'<td title="{html.escape(tip)}"><code>{html.escape(marks)}</code></td>'


def _stamp(when: Any) -> str:
    import pandas as pd

    try:
        stamp = pd.Timestamp(when)
    except (TypeError, ValueError):
        return "?"
    return "?" if pd.isna(stamp) else stamp.strftime("%Y-%m-%d %H:%M")


def _seconds(value: Any) -> str:
    import pandas as pd

    if value is None or pd.isna(value):
        return ""
    return f"{float(value):.1f}"


def _is_seq(value: Any) -> bool:
    return isinstance(value, list | tuple) or hasattr(value, "__array__")


def _outcome_order(values: Any) -> list[str]:
    order = list(OUTCOME_ORDER)
    present = {t for t in (_text(v) for v in values) if t is not None}
    return [o for o in order if o in present] + sorted(present - set(order))


def _build_label(row: Any) -> str:
    """``run · name@version%compiler · outcome · /dag7``: the DAG hash as Spack shows it
    (prefix and stage names, ``spack find -l``); the build key only when no DAG hash is
    known."""

    def g(name: str) -> str:
        return _text(row.get(name)) or "?"

    dag = short_hash(_text(row.get("dag_hash")))
    return (
        f"{g('run')} · {g('spec_name')}@{g('spec_version')}%{g('compiler')} "
        f"· {g('outcome')} · " + (f"/{dag}" if dag else f"build {g('build')[:8]}")
    )


def _pick(dd: Any, value: str | None, what: str, *, prefix: bool) -> str:
    """The dropdown option for ``value`` (``None`` -> ALL); a prefix adds an option if needed."""
    if value is None:
        return ALL
    value = str(value)
    options = list(dd.options)
    if value in options:
        return value
    if prefix:
        matches = [o for o in options if o != ALL and o.startswith(value)]
        if matches:
            dd.options = [*options, value]  # a prefix filters every match
            return value
    raise UnknownKeyError(
        f"no {what} {value!r}; choices: {', '.join(o for o in options if o != ALL)}"
    )


def explore(data: MonitorData) -> Explorer:
    """An :class:`Explorer` over ``data`` (a ``MonitorData``); display it, or call
    ``.select(...)`` to filter from code. ``ConfigError`` when ``data`` is not one."""
    return Explorer(data)
