"""One build of a :class:`~spackmon_analysis.frames.MonitorData`, for reading in a notebook.

``data.build(key)`` returns a :class:`BuildView`: the build's row, its phases in order, its
error/warning events, the first error with its context, and the packages it depends on and
that depend on it in the same run. It renders as an HTML card in Jupyter
(``_repr_html_``) and as a few plain lines elsewhere.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from .errors import UnknownKeyError
from .palette import outcome_color, phase_status_color
from .spackfacts import first_error_events

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from .frames import MonitorData

__all__ = ["BuildView", "find_build"]


def find_build(data: MonitorData, key: Any) -> int:
    """Row position in ``data.builds`` of ``key``.

    ``key`` is a build key, a unique prefix of one (local ids are 32 hex characters), a
    server build id (int), or the DAG hash Spack shows (prefix and stage directory names,
    ``spack find -l``; a leading ``/`` is allowed) or a unique prefix of it. Build keys are
    tried first. Raises :class:`UnknownKeyError` naming the key when nothing matches, and
    listing the candidates (build key, run) when more than one build does (the same spec
    built in several runs has one DAG hash).
    """
    builds = data.builds
    if isinstance(key, int) and not isinstance(key, bool):
        hits = builds.index[builds["build_id"] == key]
    else:
        text = str(key)
        exact = builds.index[builds["build"] == text]
        hits = exact if len(exact) else builds.index[builds["build"].str.startswith(text, na=False)]
        if len(hits) == 0 and text.lstrip("/"):
            dag = text.lstrip("/")
            exact = builds.index[builds["dag_hash"] == dag]
            hits = (
                exact
                if len(exact)
                else builds.index[builds["dag_hash"].str.startswith(dag, na=False)]
            )
    if len(hits) == 0:
        raise UnknownKeyError(f"no build {key!r} in this data ({len(builds)} builds)")
    if len(hits) > 1:
        shown = [
            f"{b} (run {r})" if _present(r) else str(b)
            for b, r in zip(builds.loc[hits, "build"], builds.loc[hits, "run"], strict=True)
        ]
        raise UnknownKeyError(
            f"build key {key!r} is ambiguous: it matches {len(hits)} builds: "
            + ", ".join(shown[:10])
            + (", ..." if len(shown) > 10 else "")
        )
    position = builds.index.get_loc(hits[0])
    if not isinstance(position, int):  # a slice or mask: the frame's index repeats this label
        raise ValueError(f"the builds frame's index repeats the label {hits[0]!r}")
    return position


class BuildView:
    """A read-only view of one build; see the module docstring."""

    def __init__(self, data: MonitorData, key: Any) -> None:
        self._data = data
        self.row: pandas.Series = data.builds.iloc[find_build(data, key)]
        self.key: str = str(self.row["build"])

    # -- what a reader asks -----------------------------------------------------------
    @property
    def label(self) -> str:
        row = self.row
        text = str(row["spec_name"])
        if _present(row["spec_version"]):
            text += f"@{row['spec_version']}"
        if _present(row["compiler"]):
            text += f"%{row['compiler']}"
        return text

    @property
    def outcome(self) -> str:
        return str(self.row["outcome"])

    @property
    def phases(self) -> pandas.DataFrame:
        phases = self._data.phases
        mine = phases[phases["build"] == self.key]
        return mine.sort_values("order", na_position="last").reset_index(drop=True)

    @property
    def events(self) -> pandas.DataFrame:
        events = self._data.events
        return events[events["build"] == self.key].reset_index(drop=True)

    @property
    def first_error(self) -> pandas.Series | None:
        """The error every view names as this build's first (``None`` without errors):
        :func:`~spackmon_analysis.spackfacts.first_error_events`."""
        first = first_error_events(self.events, self.phases)
        return first.loc[self.key] if self.key in first.index else None

    @property
    def first_error_at(self) -> str:
        """Where the first error is, naming the file its line counts in: ``line 26 of
        spack-build-out.txt, Spack's ">> 26"; line 10 of spack-build-03-build-out.txt``
        (:func:`~spackmon_analysis.failures.describe_error_at`); empty without one."""
        from .failures import describe_error_at

        error = self.first_error
        if error is None:
            return ""
        return describe_error_at(self.phases, error, self.row["spack_version"])

    def _neighbours(self, column_from: str, column_to: str) -> list[str]:
        deps = self._data.dependencies
        hashes = set(deps.loc[deps[column_from] == self.row["full_hash"], column_to])
        names = self._data.specs.set_index("full_hash")["name"]
        return sorted(str(names.get(h, h)) for h in hashes)

    @property
    def dependencies(self) -> list[str]:
        """Names of the packages this build's spec depends on directly."""
        return self._neighbours("parent_hash", "child_hash")

    @property
    def dependents(self) -> list[str]:
        """Names of the packages in the data that depend on this build's spec directly."""
        return self._neighbours("child_hash", "parent_hash")

    # -- rendering ----------------------------------------------------------------------
    def __repr__(self) -> str:
        row = self.row
        dag = self.row["dag_hash"]
        shown = f" /{dag}" if _present(dag) and str(dag) != self.key else ""
        lines = [f"<Build {self.key} {self.label}{shown}: {self.outcome}"]
        where = [str(row[c]) for c in ("run", "host_os", "host_target") if _present(row[c])]
        if where:
            lines.append("  " + ", ".join(where))
        phases = self.phases
        if not phases.empty:
            lines.append(
                "  phases: "
                + ", ".join(f"{p.name} {p.status}" for p in phases.itertuples(index=False))
            )
        error = self.first_error
        if error is not None:
            at = self.first_error_at
            lines.append(f"  first error{f' ({at})' if at else ''}: {error['text']}")
        return "\n".join(lines) + ">"

    def _repr_html_(self) -> str:
        esc = html.escape
        row = self.row
        colour = outcome_color(self.outcome)
        facts = [
            ("build", self.key),
            ("server id", row["build_id"]),
            ("run", row["run"]),
            ("status recorded", row["status"]),
            ("environment", " / ".join(
                str(row[c]) for c in ("host_os", "platform", "host_target") if _present(row[c])
            )),
            ("spack", row["spack_version"]),
            ("DAG hash", row["dag_hash"]),
            ("full hash", row["full_hash"]),
            ("depends on", ", ".join(self.dependencies)),
            ("needed by", ", ".join(self.dependents)),
        ]  # fmt: skip
        parts = [
            '<div style="border:1px solid #ccc;border-radius:4px;padding:8px;font-family:sans-serif">',
            f'<b>{esc(self.label)}</b> <span style="background:{colour};color:white;'
            f'padding:1px 6px;border-radius:3px">{esc(self.outcome)}</span>',
            '<table style="margin-top:4px">',
        ]
        for name, value in facts:
            if _present(value) and str(value):
                parts.append(f"<tr><th style='text-align:left'>{esc(name)}</th>"
                             f"<td>{esc(str(value))}</td></tr>")  # fmt: skip
        parts.append("</table>")
        phases = self.phases
        if not phases.empty:
            cells = []
            for p in phases.itertuples(index=False):
                c = phase_status_color(p.status)
                cells.append(f'<span style="color:{c}">{esc(str(p.name))}</span>')
            parts.append("<div>phases: " + " &rarr; ".join(cells) + "</div>")
        error = self.first_error
        if error is not None:
            pre = list(error["pre_context"] or [])
            post = list(error["post_context"] or [])
            lines = (
                [esc(x) for x in pre] + [f"<b>{esc(error['text'])}</b>"] + [esc(x) for x in post]
            )
            at = self.first_error_at
            parts.append(
                f"<div>first error, {esc(str(error['phase']))} phase"
                + (f" ({esc(at)})" if at else "")
                + f":</div><pre style='background:#f6f6f6;padding:4px'>{chr(10).join(lines)}</pre>"
            )
        parts.append("</div>")
        return "".join(parts)


def _present(value: Any) -> bool:
    """False for None, NaN, NaT and pd.NA; True for anything else (lists included)."""
    import pandas as pd

    missing = pd.isna(value)
    return (
        not missing
        if isinstance(missing, bool) or hasattr(missing, "item") and missing.ndim == 0
        else True
    )
