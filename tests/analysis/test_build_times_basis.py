"""What build times cover: the plot says it, and the measured gap to Spack's own timer (the
figures in docs/analysis.md, "What build times cover") holds on the real Spack 0.17.1 files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spackmon_analysis import plots
from spackmon_analysis.frames import load, load_save_local

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "tests" / "data" / "save-local" / "v0.17.1-success-tinyapp"
TREE = ROOT / "tests" / "data" / "installs" / "v0.17.1"
TINYUTIL = "faaa403a977ea2c06ac9304cc1928c4f"  # the same build in the run and in the prefix


def test_save_local_build_times_say_what_they_cover() -> None:
    ax = plots.plot_build_times(load_save_local(RUN))
    label = " ".join(ax.get_xlabel().split())
    assert "inside the phases only" in label
    assert "staging, environment setup, the gaps between phases and post-install" in label
    assert "Spack's own 'Build:' time is longer" in label


def test_install_tree_build_times_name_install_times_json() -> None:
    ax = plots.plot_build_times(load(TREE))
    label = " ".join(ax.get_xlabel().split())
    assert "install_times.json" in label and "inside the phases only" not in label


def test_measured_gap_to_spacks_timer() -> None:
    data = load_save_local(RUN)
    phases = data.phases[data.phases["build"] == TINYUTIL].sort_values("order")
    inside = phases["duration"].sum()
    span = (phases["finished_at"].max() - phases["started_at"].min()).total_seconds()
    prefix = next(TREE.glob("tinyutil-*"))
    total = json.loads((prefix / ".spack" / "install_times.json").read_text())["total"]["seconds"]
    # the prefix's logs are the run's phase outputs: the same build
    assert (prefix / ".spack" / "spack-build-02-build-out.txt").read_text() == phases.loc[
        phases["name"] == "build", "output"
    ].iloc[0]
    assert inside == pytest.approx(0.0600, abs=0.0005)
    assert inside / total == pytest.approx(0.65, abs=0.01)  # docs: 65% of Spack's total
    assert (span - inside) == pytest.approx(0.0152, abs=0.0005)  # between phases
    assert (total - span) == pytest.approx(0.0176, abs=0.0005)  # before / after the stamps
