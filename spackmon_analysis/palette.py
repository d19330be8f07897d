"""The one palette of every view: build outcomes and phase statuses.

Plots (:mod:`~spackmon_analysis.plots`), the build card (``data.build(key)``), the
explorer and the HTML report all colour an outcome the same way: succeeded green, failed
(a root cause: one of its own phases is ``ERROR``) red, never built (blocked by a failed
dependency) orange, unknown grey; a spec in a graph without a build of its own
(``not built``, ``no build data``) light grey. A new colour goes here, nowhere else.
"""

from __future__ import annotations

__all__ = [
    "OUTCOME_COLORS",
    "OUTCOME_ORDER",
    "PHASE_STATUS_COLORS",
    "FAILURE_PATH_COLOR",
    "EDGE_COLOR",
    "FIXED_ERROR_COLOR",
    "outcome_color",
    "phase_status_color",
]

#: Colour of each build outcome (``builds.outcome`` plus the graph's ``"not built"``).
OUTCOME_COLORS: dict[str, str] = {
    "succeeded": "#2ca02c",
    "failed": "#d62728",
    "never built": "#ff7f0e",
    "unknown": "#8c8c8c",
    "not built": "#cfcfcf",
    "no build data": "#cfcfcf",
}
#: The order legends and menus list outcomes in.
OUTCOME_ORDER = ("succeeded", "failed", "never built", "unknown", "not built", "no build data")
#: Colour of a phase by its status (``SUCCESS``, ``ERROR``; anything else is ``other``).
PHASE_STATUS_COLORS: dict[str, str] = {
    "SUCCESS": OUTCOME_COLORS["succeeded"],
    "ERROR": OUTCOME_COLORS["failed"],
    "other": OUTCOME_COLORS["unknown"],
}
#: Colour of the edges from root-cause failures up to their blocked dependents.
FAILURE_PATH_COLOR = "#b2182b"
#: Colour of the other edges of a dependency graph.
EDGE_COLOR = "#9a9a9a"
#: Colour of an error fixed since the previous attempt of a build (the history views: the
#: timeline plot's ``N fixed`` notes, the explorer's ``[fixed]`` items); a new error is
#: ``OUTCOME_COLORS["failed"]``.
FIXED_ERROR_COLOR = "#1b7837"


def outcome_color(outcome: object) -> str:
    """The colour of an outcome; ``unknown``'s for a value that is not one."""
    return OUTCOME_COLORS.get(str(outcome), OUTCOME_COLORS["unknown"])


def phase_status_color(status: object) -> str:
    """The colour of a phase status; ``other``'s for one that is not SUCCESS/ERROR."""
    return PHASE_STATUS_COLORS.get(str(status), PHASE_STATUS_COLORS["other"])
