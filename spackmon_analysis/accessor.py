"""The ``df.spack`` pandas accessor: the common summaries on any ``MonitorData`` frame.

Registered when :mod:`spackmon_analysis.frames` is imported (every loader does), so any
frame a loader returns, and any slice of it, has it::

    data.builds.spack.outcomes()            # builds per outcome
    data.builds.spack.failed()              # the root causes (rows)
    data.builds.spack.rates("compiler")     # builds, failed, blocked, failure_rate
    data.builds.spack.labels()              # "openmpi@4.1.1%gcc@12.2.0" per row
    data.events.spack.errors().spack.top()  # the most frequent error fingerprints
    data.phases.spack.by_phase()            # per phase name: runs, errors, durations

Which frame a DataFrame is comes from its columns (the contract in ``docs/analysis.md``);
a method called on the wrong kind of frame raises :class:`~spackmon_analysis.errors.ConfigError`
naming the frame kind and the columns it lacks.
"""

from __future__ import annotations

import pandas as pd

from .errors import ConfigError
from .failures import failure_rates, label
from .spackfacts import echo_errors

__all__ = ["SpackAccessor", "frame_kind"]

_SIGNATURES = {
    "builds": ("build", "full_hash", "outcome", "status"),
    "phases": ("build", "name", "status", "output_size"),
    "events": ("build", "kind", "text", "fingerprint"),
    "specs": ("full_hash", "name", "version", "compiler"),
    "dependencies": ("parent_hash", "child_hash", "deptypes"),
}


def frame_kind(df: pd.DataFrame) -> str | None:
    """``builds``, ``phases``, ``events``, ``specs``, ``dependencies`` or ``None``."""
    columns = set(df.columns)
    for kind, needed in _SIGNATURES.items():
        if set(needed) <= columns:
            return kind
    return None


@pd.api.extensions.register_dataframe_accessor("spack")
class SpackAccessor:
    """Summaries of a builds, phases, events or specs frame (see the module docstring)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df
        self.kind = frame_kind(df)

    def _need(self, *kinds: str) -> pd.DataFrame:
        if self.kind not in kinds:
            wanted = " or ".join(kinds)
            missing = sorted(set(_SIGNATURES[kinds[0]]) - set(self._df.columns))
            raise ConfigError(
                f"df.spack: this needs a {wanted} frame; this frame is "
                f"{self.kind or 'not a MonitorData frame'} (missing columns: {', '.join(missing)})"
            )
        return self._df

    # -- builds and specs -------------------------------------------------------------
    def labels(self) -> pd.Series:
        """``name@version%compiler`` for each row of a builds or specs frame
        (:func:`spackmon_analysis.failures.label` per row)."""
        df = self._need("builds", "specs")
        rows = (
            df
            if self.kind == "builds"
            else df.rename(columns={"name": "spec_name", "version": "spec_version"})
        )
        return pd.Series(
            [label(row) for _, row in rows.iterrows()], index=df.index, dtype="string", name="label"
        )

    def outcomes(self) -> pd.Series:
        """Number of builds per outcome (every outcome category, zeros included)."""
        df = self._need("builds")
        return df["outcome"].value_counts(sort=False).rename("builds")

    def failed(self) -> pd.DataFrame:
        """Builds whose own phase failed (the root causes)."""
        df = self._need("builds")
        return df[df["outcome"] == "failed"]

    def blocked(self) -> pd.DataFrame:
        """Builds that never ran because a dependency failed."""
        df = self._need("builds")
        return df[df["outcome"] == "never built"]

    def succeeded(self) -> pd.DataFrame:
        df = self._need("builds")
        return df[df["outcome"] == "succeeded"]

    def rates(self, by: str | list[str] = "spec_name") -> pd.DataFrame:
        """Builds, failed, blocked, succeeded and ``failure_rate`` (failed / builds) per group,
        indexed by the group, most failing first: :func:`spackmon_analysis.failures.failure_rates`
        over this frame's builds."""
        df = self._need("builds")
        keys = [by] if isinstance(by, str) else list(by)
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise ConfigError(f"df.spack.rates: no column {missing[0]!r} in the builds frame")
        table = failure_rates(df, by=keys)
        counts = ["builds", "failed", "blocked", "succeeded", "failure_rate"]
        groups = [c for c in table.columns if c not in (*counts, "unknown")]
        return table.set_index(groups)[counts]

    # -- phases -----------------------------------------------------------------------
    def by_phase(self) -> pd.DataFrame:
        """Per phase name: count, errors, error share, total and median duration (s)."""
        df = self._need("phases")
        status = df["status"].astype("string")
        grouped = pd.DataFrame(
            {
                "name": df["name"],
                "error": (status == "ERROR").astype(int),
                "duration": df["duration"],
            }
        ).groupby("name", observed=True)
        out = pd.DataFrame(
            {
                "count": grouped.size(),
                "errors": grouped["error"].sum(),
                "total_duration": grouped["duration"].sum(min_count=1),
                "median_duration": grouped["duration"].median(),
            }
        )
        out["error_share"] = out["errors"] / out["count"]
        return out.sort_values("count", ascending=False)

    # -- events -----------------------------------------------------------------------
    def errors(self) -> pd.DataFrame:
        df = self._need("events")
        return df[df["kind"] == "error"]

    def warnings(self) -> pd.DataFrame:
        df = self._need("events")
        return df[df["kind"] == "warning"]

    def top(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` most frequent fingerprints: events (repeats counted), builds, an example.

        The make/ninja lines that only repeat an earlier error of their phase
        (``make[2]: *** [Makefile:6: x.o] Error 1``, ``all-recursive``, ninja's
        ``FAILED:``) are left out, by the rule the first errors and
        :func:`~spackmon_analysis.failures.error_fingerprints` follow
        (:func:`~spackmon_analysis.spackfacts.echo_errors`); alone in their phase they
        count."""
        df = self._need("events")
        df = df[~echo_errors(df).to_numpy()]
        if df.empty:
            return pd.DataFrame(columns=["events", "builds", "example"]).rename_axis("fingerprint")
        repeats = df["repeat_count"].fillna(1).astype(int)
        grouped = pd.DataFrame(
            {
                "fingerprint": df["fingerprint"],
                "n": repeats,
                "build": df["build"],
                "text": df["text"],
            }
        ).groupby("fingerprint", sort=False)
        out = pd.DataFrame(
            {
                "events": grouped["n"].sum(),
                "builds": grouped["build"].nunique(),
                "example": grouped["text"].first(),
            }
        )
        return out.sort_values(["events", "builds"], ascending=False).head(n)
