"""``spackmon demo --out TMP`` through the installed console script, checked against the raw files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAVE_LOCAL = ROOT / "spackmon_analysis" / "data" / "examples" / "save-local"
ENV_FIELDS = ("host_os", "platform", "host_target", "hostname", "kernel_version", "spack_version")


def _spackmon() -> str:
    here = Path(sys.executable).parent / "spackmon"
    found = str(here) if here.exists() else shutil.which("spackmon")
    if not found:
        pytest.fail("the spackmon console script is not installed next to this Python")
    return found


def expected_from_files() -> dict:
    """What the server must hold after replaying every run, from the files alone.

    A server build is one (full hash, build environment); a later run's files for the
    same build overwrite the earlier ones. Spack writes an ``ERROR`` phase and no
    status file for the package that failed, and a ``FAILED`` status with no phases
    for each dependent that never built.
    """
    names: dict[str, str] = {}
    for run in sorted(SAVE_LOCAL.iterdir()):
        for spec_file in run.glob("spec-*-config.json"):
            for node in json.loads(spec_file.read_text())["spec"]["nodes"]:
                names[node["full_hash"]] = node["name"]
    state: dict[tuple, tuple[str, str]] = {}
    for run in sorted(SAVE_LOCAL.iterdir()):  # directory names sort by time
        for meta_file in run.glob("build-metadata-*.json"):
            build_id = meta_file.name[len("build-metadata-") : -len(".json")]
            meta = json.loads(meta_file.read_text())
            key = (meta["full_hash"], *(meta[f] for f in ENV_FIELDS))
            status_file = run / f"build-{build_id}-status.json"
            phases = [json.loads(p.read_text()) for p in run.glob(f"build-{build_id}-phase-*.json")]
            if status_file.exists():
                outcome = json.loads(status_file.read_text())["status"]
            elif any(p["status"] == "ERROR" for p in phases):
                outcome = "ERROR"
            else:
                outcome = "unknown"
            state[key] = (names[meta["full_hash"]], outcome)
    outcomes = [o for _, o in state.values()]
    return {
        "runs": len([p for p in SAVE_LOCAL.iterdir() if p.is_dir()]),
        "builds": len(state),
        "succeeded": outcomes.count("SUCCESS"),
        "failed": outcomes.count("ERROR"),
        "never_built": outcomes.count("FAILED"),
        "root_causes": sorted({n for n, o in state.values() if o == "ERROR"}),
        "blocked": sorted({n for n, o in state.values() if o == "FAILED"}),
    }


def test_demo_command(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("SPACKMON_HOST", None)
    proc = subprocess.run(
        [_spackmon(), "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    expected = expected_from_files()
    assert expected["failed"] >= 1 and expected["never_built"] >= 1  # the data has the story

    summary = re.search(
        r"summary: (\d+) runs, (\d+) builds, (\d+) succeeded, (\d+) failed, (\d+) never built",
        text,
    )
    assert summary, text
    runs, builds, succeeded, failed, never_built = map(int, summary.groups())
    assert runs == expected["runs"]
    assert builds == expected["builds"]
    assert succeeded == expected["succeeded"]
    assert failed == expected["failed"]
    assert never_built == expected["never_built"]

    report = (out / "report.txt").read_text()
    assert report.strip() and report.strip() in text  # the printed report is the saved one
    for name in expected["root_causes"] + expected["blocked"]:
        assert name in report, name
    assert "error" in report.lower()

    html = (out / "report.html").read_text()
    assert html.lstrip().lower().startswith(("<!doctype html", "<html"))
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?://", html)  # self-contained
    for name in expected["root_causes"]:
        assert name in html
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= 2, sorted(p.name for p in out.iterdir())
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, png.name
    assert "server stopped" in text
