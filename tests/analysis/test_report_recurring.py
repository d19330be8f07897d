"""The text/HTML report prints a recurring failure once, names each run's Spack release and
says which file an error's line number counts in (real fixtures and the bundled example)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from spackmon_analysis.frames import MonitorData, load, load_save_local

F = importlib.import_module("spackmon_analysis.failures")
R = importlib.import_module("spackmon_analysis.report")
ROOT = Path(__file__).resolve().parents[2]
SAVE_LOCAL = ROOT / "spackmon_analysis" / "data" / "examples" / "save-local"
TINY = ROOT / "tests" / "data" / "save-local"
STAGE = next((ROOT / "tests" / "data" / "installs" / "v0.17.1" / "failed-stage").iterdir())
OPENMPI_ERROR = "pmix3x_client.c:117:17: error: 'PMIX_MODEL_LIBRARY_NAME' undeclared"


@pytest.fixture(scope="module")
def example() -> MonitorData:
    return load_save_local(SAVE_LOCAL)


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n\n", start)
    return text[start : end if end >= 0 else None]


def test_recurring_failure_printed_once_with_its_runs(example: MonitorData) -> None:
    text = R.failure_report(example)
    runs = sorted(set(F.failures(example).query("spec_name == 'openmpi'")["run"]))
    assert len(runs) == 2  # the example's openmpi fails the same way in two runs
    causes = _section(text, "Root causes (")
    assert causes.startswith("Root causes (3, 2 distinct)")
    assert causes.count("* openmpi@4.1.1%gcc@12.2.0") == 1
    assert causes.count(OPENMPI_ERROR) == 2  # the first-error line and its context, once each
    assert causes.count("make: *** [Makefile:1901: all-recursive] Error 1") == 1
    header = causes[causes.index("* openmpi@") :].splitlines()
    dag = F.failures(example).query("spec_name == 'openmpi'")["dag_hash"].iloc[0][:7]
    assert header[0] == f"* openmpi@4.1.1%gcc@12.2.0 /{dag}: the same failure in 2 runs"
    assert header[1] == "  runs: " + ", ".join(f"run {r} (Spack 0.17.1)" for r in runs)
    blocked = _section(text, "Blocked dependents, never built (")
    assert blocked.count("hdf5@1.10.7%gcc@12.2.0") == 1
    assert "in 2 runs: " + ", ".join(f"run {r} (Spack 0.17.1)" for r in runs) in blocked
    # the summary still comes after the root causes and counts every occurrence
    assert text.index("Root causes (") < text.index("Root causes per run")
    assert "3 failed (root causes), 3 never built" in text


def test_each_run_shows_its_spack_version(example: MonitorData) -> None:
    table = R.runs_table(example)
    assert set(table["spack_version"]) == {"0.17.1"}
    per_run = _section(R.failure_report(example), "Root causes per run")
    for run in example.runs:
        assert f"  {run} (Spack 0.17.1): " in per_run


def test_html_prints_a_recurring_failure_once(example: MonitorData, tmp_path: Path) -> None:
    page = R.write_html_report(example, tmp_path / "r.html").read_text()
    causes = page[page.index("<h2>Root causes") : page.index("<h2>Blocked dependents")]
    assert causes.count("<h3><code>openmpi@4.1.1%gcc@12.2.0 /") == 1
    assert "the same failure in 2 runs" in causes and "(Spack 0.17.1)" in causes


def test_error_line_names_its_file_and_matches_the_combined_log() -> None:
    """The stage of a real failed Spack 0.17.1 build: the line number the report prints is
    the line of the file it names (``>> 8`` is what Spack printed for spack-build-out.txt).
    A stage directory does not record its Spack release, so no per-phase file is named."""
    text = R.failure_report(load(STAGE.parent))
    match = re.search(
        r'first error \(line (\d+) of spack-build-out.txt, Spack\'s ">> (\d+)"\): (.*)', text
    )
    assert match, text
    combined, shown, error = match.groups()
    assert combined == shown == "8"
    assert (STAGE / "spack-build-out.txt").read_text().splitlines()[7] == error


def test_combined_log_only_stage(tmp_path: Path) -> None:
    """A stage with only the combined log (as Spack 0.16 leaves it): the phases are cut
    from it and the error's line is still the combined log's ``>> 8``."""
    stage = tmp_path / STAGE.name
    stage.mkdir()
    for name in ("spack-build-out.txt", "spack-build-env.txt"):
        (stage / name).write_bytes((STAGE / name).read_bytes())
    found = F.failures(load(tmp_path))
    cause = found[found["role"] == F.ROOT_CAUSE].iloc[0]
    assert cause["error_build_log_line"] == 8 and cause["error_log"] is None
    lines = (stage / "spack-build-out.txt").read_text().splitlines()
    assert lines[7] == cause["first_error"]
    text = R.failure_report(load(tmp_path))
    assert 'first error (line 8 of spack-build-out.txt, Spack\'s ">> 8"): broken.c:4:3' in text


def test_combined_log_with_text_before_first_phase(tmp_path: Path) -> None:
    """A combined log with lines before its first phase marker (a wrapper's banner, a
    build started with ``spack -d``): the error's line still counts in the whole file, so
    it is the ``>> N`` of that file, in failures, the report and the build card."""
    stage = tmp_path / STAGE.name
    stage.mkdir()
    preamble = "==> [2026-11-28-06:01:29.860000] Installing tinybroken\nsetting up\nmore setup\n"
    log = preamble + (STAGE / "spack-build-out.txt").read_text()
    (stage / "spack-build-out.txt").write_text(log)
    (stage / "spack-build-env.txt").write_bytes((STAGE / "spack-build-env.txt").read_bytes())
    data = load(tmp_path)
    found = F.failures(data)
    cause = found[found["role"] == F.ROOT_CAUSE].iloc[0]
    assert cause["error_build_log_line"] == 11
    assert log.splitlines()[10] == cause["first_error"]
    text = R.failure_report(data)
    assert 'first error (line 11 of spack-build-out.txt, Spack\'s ">> 11"): broken.c:4:3' in text
    card = data.build(cause["build"]).first_error_at
    assert card.startswith('line 11 of spack-build-out.txt, Spack\'s ">> 11"')
    # keep_output=False keeps the position: the start of each phase is a column
    light = load(tmp_path, keep_output=False)
    assert light.phases["build_log_first_line"].dropna().tolist() == [4, 7]
    light_cause = F.failures(light).iloc[0]
    assert light_cause["error_build_log_line"] == 11
    # the lines before the first marker are in no phase: said, not dropped silently
    assert any("3 line(s) before the first phase marker" in str(n) for n in data.notes)


def test_save_local_error_line_names_the_phase_log() -> None:
    """Spack 0.17.1 sent ``output: null`` for the edit phase, so the combined-log line is
    unknown; the line is given in the phase log Spack wrote (same name as in the stage)."""
    found = F.failures(load_save_local(TINY))
    cause = found[found["role"] == F.ROOT_CAUSE].iloc[0]
    assert cause["error_log"] == "spack-build-02-build-out.txt"
    assert pd_na(cause["error_build_log_line"])
    text = R.failure_report(load_save_local(TINY))
    line = next(ln for ln in text.splitlines() if ln.startswith("  first error"))
    assert line.startswith("  first error (line 5 of spack-build-02-build-out.txt): broken.c:4:3")
    assert (STAGE / "spack-build-02-build-out.txt").read_text().splitlines()[4] in line


def test_example_combined_line_is_the_concatenated_phase_logs(example: MonitorData) -> None:
    found = F.failures(example)
    causes = found[found["role"] == F.ROOT_CAUSE]
    assert len(causes) == 3
    for _, cause in causes.iterrows():
        phases = example.phases[example.phases["build"] == cause["build"]].sort_values("order")
        combined = "".join(phases["output"]).splitlines()
        assert combined[int(cause["error_build_log_line"]) - 1] == cause["first_error"]
        n = int(phases.loc[phases["name"] == cause["failed_phase"], "order"].iloc[0]) + 1
        assert cause["error_log"] == f"spack-build-{n:02d}-{cause['failed_phase']}-out.txt"


def test_error_log_position_releases() -> None:
    example = load_save_local(SAVE_LOCAL)
    b = F.failures(example)["build"].iloc[0]
    phases = example.phases[example.phases["build"] == b]
    log, line = F.error_log_position(phases, "build", 10, "0.17.1")
    assert log == "spack-build-03-build-out.txt" and line is not None and line > 10
    # Spack 0.16 wrote only the combined log, an unknown release may not have: no file named
    assert F.error_log_position(phases, "build", 10, "0.16.3") == (None, line)
    assert F.error_log_position(phases, "build", 10, None) == (None, line)
    # an earlier phase without output: the combined line cannot be known
    gone = phases.assign(output=phases["output"].where(phases["name"] != "configure"))
    assert F.error_log_position(gone, "build", 10, "0.17.1") == (log, None)


def pd_na(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_build_card_and_explorer_name_the_log_file(example: MonitorData) -> None:
    """Every view that shows a first error's line says which file it counts in."""
    found = F.failures(example)
    cause = found[(found["role"] == F.ROOT_CAUSE) & (found["spec_name"] == "openmpi")].iloc[0]
    n, log = int(cause["error_build_log_line"]), cause["error_log"]
    where = f'line {n} of spack-build-out.txt, Spack\'s ">> {n}"; line 10 of {log}'
    card = example.build(cause["build"])
    assert card.first_error_at == where
    assert f"  first error ({where}): " in repr(card)
    assert "first error, build phase (line " in card._repr_html_()
    pytest.importorskip("ipywidgets")
    from spackmon_analysis.widgets import Explorer

    view = Explorer(example).error_view(cause["build"])
    assert "spack-build-out.txt, Spack&#x27;s &quot;&gt;&gt; " in view and log in view
