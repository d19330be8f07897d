"""The bundled example data: rebuilt byte for byte by its generator, shaped like Spack's files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"
PACKAGED = ROOT / "spackmon_analysis" / "data" / "examples"
REAL_RUN = ROOT / "tests" / "data" / "save-local" / "v0.17.1-failure-tinybrokenapp"


def _files(top: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(top)): p.read_bytes()
        for p in sorted(top.rglob("*"))
        if p.is_file() and p.name != "generate.py" and "__pycache__" not in p.parts
    }


def test_generator_rebuilds_the_committed_data(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("example_generate", EXAMPLES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while loading
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    module.generate(tmp_path)
    assert _files(tmp_path) == _files(EXAMPLES)


def test_packaged_copy_matches_examples() -> None:
    """The wheel's copy holds the runs and the manifest, identical to examples/data."""
    expected = {k: v for k, v in _files(EXAMPLES).items() if not k.startswith("installs/")}
    assert _files(PACKAGED) == expected


def _runs() -> list[Path]:
    return sorted(p for p in (EXAMPLES / "save-local").iterdir() if p.is_dir())


def test_files_have_the_real_key_order_and_indentation() -> None:
    """Each kind of file matches the real 0.17.1 file's keys, order and 2-space indent."""
    real = {
        "metadata": json.loads(next(REAL_RUN.glob("build-metadata-*.json")).read_text()),
        "phase": json.loads(next(REAL_RUN.glob("build-*-phase-*.json")).read_text()),
        "status": json.loads(next(REAL_RUN.glob("build-*-status.json")).read_text()),
        "spec": json.loads(next(REAL_RUN.glob("spec-*-config.json")).read_text()),
    }
    for run in _runs():
        for path in run.iterdir():
            text = path.read_text()
            doc = json.loads(text)
            assert text == json.dumps(doc, indent=2), path
            if path.name.startswith("build-metadata-"):
                kind = "metadata"
            elif "-phase-" in path.name:
                kind = "phase"
            elif path.name.endswith("-status.json"):
                kind = "status"
            else:
                kind = "spec"
            assert list(doc) == list(real[kind]), path
            if kind == "spec":
                for node in doc["spec"]["nodes"]:
                    assert {"hash", "full_hash", "build_hash"} <= set(node), path
                    assert list(node)[:4] == ["name", "version", "arch", "compiler"]


def test_the_story_is_in_the_files() -> None:
    """A failure with blocked dependents, a flaky package, a warning-heavy success."""
    errored, never_built, killed, warnings = set(), set(), set(), 0
    succeeded_after_kill = False
    for run in _runs():
        names = {}
        for meta in run.glob("build-metadata-*.json"):
            build_id = meta.name[len("build-metadata-") : -len(".json")]
            names[build_id] = json.loads(meta.read_text())["full_hash"]
        for build_id, full_hash in names.items():
            phases = [json.loads(p.read_text()) for p in run.glob(f"build-{build_id}-phase-*.json")]
            status_file = run / f"build-{build_id}-status.json"
            status = json.loads(status_file.read_text())["status"] if status_file.exists() else None
            if any(p["status"] == "ERROR" for p in phases):
                assert status is None  # Spack writes no status for the failed package
                errored.add((run.name, full_hash))
                if any("Killed" in (p["output"] or "") for p in phases):
                    killed.add(full_hash)
            if status == "FAILED":
                assert phases == []  # its dependents never ran a phase
                never_built.add((run.name, full_hash))
            if status == "SUCCESS" and full_hash in killed:
                succeeded_after_kill = True
            for p in phases:
                if p["status"] == "SUCCESS":
                    warnings = max(warnings, (p["output"] or "").count(": warning: "))
    assert len(errored) == 3 and len(never_built) == 3
    assert killed and succeeded_after_kill
    assert warnings >= 10


@pytest.mark.parametrize("run", _runs(), ids=lambda p: p.name)
def test_run_directory_names_and_timestamps(run: Path) -> None:
    stamp, epoch = run.name.rsplit("-", 1)
    assert len(stamp) == len("2026-11-20-02-00-11") and epoch.isdigit()
    for phase in run.glob("build-*-phase-*.json"):
        output = json.loads(phase.read_text())["output"]
        assert output.startswith("==> ") and "==> [2026-11-" in output
