"""``spackmon demo --out TMP`` (the CLI's ``main``, in-process), checked against the raw files.

The console script itself runs the demo in tests/notebooks/test_demo_serving.py (and
``spackmon failures`` in tests/analysis/test_report.py); here the CLI runs in the test's process,
which has already imported what it uses (a subprocess paid about two seconds of imports).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAVE_LOCAL = ROOT / "spackmon_analysis" / "data" / "examples" / "save-local"
TODAYS = ROOT / "spackmon_analysis" / "data" / "todays-spack"
ENV_FIELDS = ("host_os", "platform", "host_target", "hostname", "kernel_version", "spack_version")


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


FLAKY_FIELDS = ("host_os", "platform", "host_target", "spack_version")


def _first_error_key(output: str) -> str | None:
    """The first compiler/tool error line of a phase output, file path and numbers dropped."""
    for line in output.splitlines():
        if re.search(r"\berror:", line):
            text = re.sub(r"^\S*/", "", line.strip())  # ../../x/y/file.c:1:2: -> file.c:1:2:
            return re.sub(r"\d+", "N", text)
    return None


def history_from_files() -> dict:
    """The per-run history, from the files alone: what the server cannot keep.

    Per run: its builds, the packages whose own phase errored (root causes), the
    ``FAILED`` dependents without phases (never built), the ``SUCCESS`` builds. Across
    runs: specs (full hash + environment) that errored in one run and succeeded in
    another (flaky), and first error lines that came back in a later run (recurring).
    """
    labels: dict[str, str] = {}
    for run in sorted(SAVE_LOCAL.iterdir()):
        for spec_file in run.glob("spec-*-config.json"):
            for node in json.loads(spec_file.read_text())["spec"]["nodes"]:
                compiler = f"{node['compiler']['name']}@{node['compiler']['version']}"
                labels[node["full_hash"]] = f"{node['name']}@{node['version']}%{compiler}"
    runs: dict[str, dict] = {}
    outcomes_by_spec: dict[tuple, dict[str, set]] = {}
    error_runs: dict[str, set] = {}
    error_packages: dict[str, set] = {}
    for run in sorted(p for p in SAVE_LOCAL.iterdir() if p.is_dir()):
        info = {"builds": 0, "succeeded": [], "root_causes": [], "blocked": []}
        for meta_file in run.glob("build-metadata-*.json"):
            build_id = meta_file.name[len("build-metadata-") : -len(".json")]
            meta = json.loads(meta_file.read_text())
            name = labels[meta["full_hash"]]
            status_file = run / f"build-{build_id}-status.json"
            status = json.loads(status_file.read_text())["status"] if status_file.exists() else None
            phases = [json.loads(p.read_text()) for p in run.glob(f"build-{build_id}-phase-*.json")]
            errored = [p for p in phases if p["status"] == "ERROR"]
            key = (meta["full_hash"], *(meta[f] for f in FLAKY_FIELDS))
            seen = outcomes_by_spec.setdefault(key, {"failed": set(), "succeeded": set()})
            info["builds"] += 1
            if errored:
                info["root_causes"].append(name)
                seen["failed"].add(run.name)
                for phase in errored:
                    fp = _first_error_key(phase["output"])
                    error_runs.setdefault(fp, set()).add(run.name)
                    error_packages.setdefault(fp, set()).add(name.split("@")[0])
            elif status == "FAILED":
                info["blocked"].append(name)
            elif status == "SUCCESS":
                info["succeeded"].append(name)
                seen["succeeded"].add(run.name)
        runs[run.name] = info
    flaky = sorted(
        labels[key[0]] for key, v in outcomes_by_spec.items() if v["failed"] and v["succeeded"]
    )
    recurring = {fp: sorted(error_packages[fp]) for fp, r in error_runs.items() if len(r) > 1}
    return {
        "runs": runs,
        "builds": sum(r["builds"] for r in runs.values()),
        "succeeded": sum(len(r["succeeded"]) for r in runs.values()),
        "failed": sum(len(r["root_causes"]) for r in runs.values()),
        "never_built": sum(len(r["blocked"]) for r in runs.values()),
        "flaky": flaky,
        "recurring": recurring,
    }


@pytest.mark.slow
def test_demo_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from spackmon_analysis import cli

    out = tmp_path / "demo-out"
    monkeypatch.delenv("SPACKMON_HOST", raising=False)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["demo", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    text = captured.out
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

    # -- the per-run history, from the save-local files (what the server cannot keep)
    history = history_from_files()
    assert history["failed"] > expected["failed"] and history["flaky"]  # more than the server
    assert (
        f"==> {history['builds']} local builds -> {expected['builds']} server builds "
        "(a rebuild of the same spec on the same host is one server build)"
    ) in text
    assert (
        f"per-run history (save-local files, read offline): {len(history['runs'])} runs, "
        f"{history['builds']} builds, {history['succeeded']} succeeded, "
        f"{history['failed']} failed, {history['never_built']} never built, "
        f"{len(history['flaky'])} flaky, {len(history['recurring'])} error(s) seen in more "
        "than one run"
    ) in text
    server_part, marker, history_part = report.partition("Per-run history (from the save-local")
    assert marker, report
    # the server part is labelled as the current state and does not pretend "0"
    assert "latest state of each build" in server_part
    assert "Flaky builds (0)" not in server_part
    assert "Errors seen in more than one run (0)" not in server_part
    assert server_part.count("not available from server data") == 2
    assert f"{expected['builds']} builds: {expected['succeeded']} succeeded" in server_part
    # the history part: every run with its builds, root causes and blocked dependents
    assert f"Root causes per run ({len(history['runs'])} runs)" in history_part
    lines = history_part.splitlines()
    for run, info in history["runs"].items():
        # each run with the Spack release that ran it (the metadata files say 0.17.1)
        at = next(i for i, ln in enumerate(lines) if ln.startswith(f"  {run} (Spack 0.17.1): "))
        assert lines[at] == (
            f"  {run} (Spack 0.17.1): {info['builds']} builds, {len(info['succeeded'])} succeeded, "
            f"{len(info['root_causes'])} failed, {len(info['blocked'])} never built"
        )
        block = lines[at + 1 : at + 3]
        if info["root_causes"]:
            assert f"      root causes: {', '.join(sorted(info['root_causes']))}" in block
        if info["blocked"]:
            assert f"      blocked: {', '.join(sorted(info['blocked']))}" in block
    flaky_part = history_part[history_part.index(f"Flaky builds ({len(history['flaky'])})") :]
    for name in history["flaky"]:
        assert f"* {name}" in flaky_part
    recurring_part = history_part[
        history_part.index(f"Errors seen in more than one run ({len(history['recurring'])})") :
    ]
    for fp, packages in history["recurring"].items():
        runs_seen = sum(
            any(fp == _first_error_key(p) for p in _error_outputs(SAVE_LOCAL / run))
            for run in history["runs"]
        )
        assert f"  {runs_seen} runs, {', '.join(packages)}: {fp}" in recurring_part, fp
    html_history = html[html.index('id="history"') :]
    for run in history["runs"]:
        assert run in html_history

    # -- today's Spack: the bundled JUnit report and install tree, uploaded and pulled back
    check_todays_section(text, html)
    assert "==> uploaded today's Spack data" in text


def todays_from_files() -> dict:
    """What the today's-Spack section must say, from the bundled files alone: the JUnit
    report's failed testcase and the first error line of its log, its <skipped/>
    packages, the DAG nodes that depend on the failure and are not in the report, and
    the package of the install prefix."""
    import xml.etree.ElementTree as ET

    suite = ET.parse(TODAYS / "junit-tinybrokenapp.xml").getroot()
    failed, skipped = [], []
    first_error = None
    for case in suite.iter("testcase"):
        if case.find("failure") is not None:
            failed.append(case.get("classname"))
            log = case.findtext("system-out") or ""
            first_error = next(line.strip() for line in log.splitlines() if "error:" in line)
        elif case.find("skipped") is not None:
            skipped.append(case.get("classname"))
    reported = {case.get("classname") for case in suite.iter("testcase")}
    nodes = json.loads((TODAYS / "tinybrokenapp-spack-0.22.1-zen3.json").read_text())
    nodes = nodes["spec"]["nodes"]
    by_hash = {n["hash"]: n for n in nodes}
    parents: dict[str, set] = {}
    for node in nodes:
        for dep in node.get("dependencies", []):
            parents.setdefault(by_hash[dep["hash"]]["name"], set()).add(node["name"])
    blocked, todo = set(), list(failed)
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in blocked:
                blocked.add(parent)
                todo.append(parent)
    prefixes = list((TODAYS / "opt" / "spack").glob("*/*/*/.spack/spec.json"))
    built = [json.loads(p.read_text())["spec"]["nodes"][0]["name"] for p in prefixes]
    return {
        "failed": failed,
        "first_error": first_error,
        "skipped": skipped,
        "blocked": sorted(blocked - reported),
        "built": built,
    }


def check_todays_section(text: str, html: str) -> None:
    """The report's today's-Spack part names what the bundled files hold."""
    expected = todays_from_files()
    assert expected["failed"] == ["tinybroken"] and expected["blocked"] == ["tinybrokenapp"]
    assert "broken.c:4:3: error:" in expected["first_error"]
    title = "Spack 0.19 and newer: JUnit report + install tree"
    section = text[text.index(title) :]
    builds = len(expected["failed"]) + len(expected["blocked"]) + len(expected["built"])
    assert (
        f"  {builds} builds: {len(expected['built'])} succeeded, {len(expected['failed'])} "
        f"failed, {len(expected['blocked'])} never built"
    ) in section
    for name in expected["failed"]:
        line = next(ln for ln in section.splitlines() if ln.startswith(f"  root cause: {name}@"))
        assert line.endswith(f"build phase: {expected['first_error']}"), line
    for name in expected["blocked"]:
        assert f"  blocked: {name}@" in section
    for name in expected["built"]:
        assert f"  built: {name}@" in section
    assert f"  not sent ({len(expected['skipped'])}):" in section
    for name in expected["skipped"]:
        assert f"junit-tinybrokenapp/{name}@" in section
    assert "  sent a second time: 0 specs, builds, phases or statuses created" in section
    assert 'id="todays-spack"' in html and "broken.c:4:3" in html


def _error_outputs(run: Path) -> list[str]:
    phases = (json.loads(p.read_text()) for p in run.glob("build-*-phase-*.json"))
    return [p["output"] for p in phases if p["status"] == "ERROR"]
