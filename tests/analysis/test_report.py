"""report.py and the ``spackmon failures`` / ``spackmon report`` commands on real data.

Expected names come from the raw save-local files and the example manifest.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest
from testlib import spackmon_script

from spackmon_analysis import cli
from spackmon_analysis.errors import ConfigError
from spackmon_analysis.frames import MonitorData, load_save_local

R = importlib.import_module("spackmon_analysis.report")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "spackmon_analysis" / "data" / "examples"
SAVE_LOCAL = EXAMPLES / "save-local"
MANIFEST = json.loads((EXAMPLES / "manifest.json").read_text())
TINY = ROOT / "tests" / "data" / "save-local"
PNG = b"\x89PNG\r\n\x1a\n"


def manifest_labels() -> tuple[set[str], set[str]]:
    """``name@version%compiler`` of the manifest's root causes and blocked builds."""
    versions = {}
    for run in SAVE_LOCAL.iterdir():
        for spec_file in run.glob("spec-*-config.json"):
            for node in json.loads(spec_file.read_text())["spec"]["nodes"]:
                versions[node["name"]] = node["version"]
    causes, blocked = set(), set()
    for run in MANIFEST["runs"]:
        for name, build in run["builds"].items():
            text = f"{name}@{versions[name]}%{run['compiler']}"
            if "failure" in build:
                causes.add(text)
            elif build["status"] == "FAILED":
                blocked.add(text)
    return causes, blocked


@pytest.fixture(scope="module")
def example() -> MonitorData:
    return load_save_local(SAVE_LOCAL)


# The example's reports, made once for the module (each is a few seconds of tables and plots);
# every test that reads them checks its own part, as it did with a report of its own.
@pytest.fixture(scope="module")
def example_text(example: MonitorData) -> str:
    return R.failure_report(example)


@pytest.fixture(scope="module")
def example_html(example: MonitorData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's HTML report, written into a folder that did not exist (``sub``)."""
    return R.write_html_report(example, tmp_path_factory.mktemp("html") / "sub" / "report.html")


def test_failure_report_text(example: MonitorData, example_text: str) -> None:
    text = example_text
    causes, blocked = manifest_labels()
    assert causes and blocked
    for name in causes | blocked:
        assert name in text, name
    n_builds = len(list(SAVE_LOCAL.glob("*/build-metadata-*.json")))
    n_runs = len([p for p in SAVE_LOCAL.iterdir() if p.is_dir()])
    assert f"{n_runs} runs, {n_builds} builds" in text
    assert "3 failed (root causes), 3 never built" in text
    # the first error and its context lines
    assert "pmix3x_client.c:117:17: error: 'PMIX_MODEL_LIBRARY_NAME' undeclared" in text
    assert "    | make: *** [Makefile:1901: all-recursive] Error 1" in text
    assert "clang: error: unable to execute command: Killed" in text
    # flaky sqlite, recurring openmpi error, classes
    flaky = text[text.index("Flaky builds") :]
    assert "sqlite@3.36.0%clang@14.0.6" in flaky.splitlines()[2]
    # one fingerprint per failed phase: the openmpi compiler error, not the make lines
    assert "Errors seen in more than one run (1)" in text
    recurring = text[text.index("Errors seen in more than one run") :].splitlines()
    assert "2 runs, openmpi: pmixNx_client.c" in recurring[2]
    assert "Root causes per run (6 runs)" in text
    assert "compiler_error" in text and "out_of_memory_killed" in text
    short = R.failure_report(example, context=False)
    assert "    | " not in short and len(short) < len(text)


def test_report_on_tiny_and_empty() -> None:
    text = R.failure_report(load_save_local(TINY))
    assert "tinybroken@0.9%gcc@12.2.0" in text
    assert "tinybrokenapp@1.0%gcc@12.2.0" in text and "blocked by tinybroken" in text
    empty = R.failure_report(MonitorData.empty())
    assert "0 builds" in empty and "Root causes (0)" in empty


def test_html_report_self_contained(example: MonitorData, example_html: Path) -> None:
    assert example_html.parent.name == "sub" and example_html.is_file()
    html = example_html.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "<link" not in html and "<script" not in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == len(R.plot_stems(example))
    for encoded in images:
        assert base64.b64decode(encoded)[:8] == PNG
    causes, blocked = manifest_labels()
    for name in causes | blocked:
        assert name in html, name
    assert "PMIX_MODEL_LIBRARY_NAME" in html and "&#x27;" in html  # escaped log text


def test_write_plots(example: MonitorData, tmp_path: Path) -> None:
    paths = R.write_plots(example, tmp_path / "plots")
    assert [p.name for p in paths] == [f"{stem}.png" for stem in R.plot_stems(example)]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == PNG and len(data) > 5000, p.name


def test_each_plot_is_drawn_once_into_the_bytes_savefig_writes(
    example: MonitorData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report draws each figure once on an Agg canvas; the PNG is byte for byte what
    ``Figure.savefig(format="png", dpi=100)`` (a layout pass, then a drawing) writes."""
    import io

    from matplotlib.figure import Figure

    real, pairs, draws = R._png, [], []
    real_draw = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda fig, r: draws.append(1) or real_draw(fig, r))

    def both(draw, size):
        before = len(draws)
        once = real(draw, size)
        assert len(draws) - before == 1  # one draw of the figure, its layout inside
        fig = R._figure(size)
        returned = draw(fig.add_subplot())
        buffer = io.BytesIO()
        (getattr(returned, "figure", None) or fig).savefig(buffer, format="png", dpi=100)
        pairs.append((once, buffer.getvalue()))
        return once

    monkeypatch.setattr(R, "_png", both)
    paths = R.write_plots(example, tmp_path / "plots")
    assert len(pairs) == len(paths) == len(R.plot_stems(example)) >= 4
    for (once, saved), path in zip(pairs, paths, strict=True):
        assert once == saved == path.read_bytes(), path.name


def test_write_report_writes_what_the_three_functions_write(
    example: MonitorData,
    example_text: str,
    example_html: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """report.txt, report.html and the PNG files, as failure_report, write_html_report and
    write_plots make them, with every plot drawn once for the page and its file."""
    drawings: list[str] = []
    real = R._png
    monkeypatch.setattr(R, "_png", lambda draw, size: drawings.append("png") or real(draw, size))
    out = tmp_path / "new" / "folder"
    paths = R.write_report(example, out)
    stems = R.plot_stems(example)
    assert len(drawings) == len(stems)
    assert [p.name for p in paths] == ["report.txt", "report.html", *(f"{s}.png" for s in stems)]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    assert paths[0].read_text() == example_text
    assert paths[1].read_text() == example_html.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', paths[1].read_text())
    assert [base64.b64decode(i) for i in images] == [p.read_bytes() for p in paths[2:]]
    # the text can be given (the demo adds a section); a file that cannot be written is named
    (tmp_path / "taken" / "report.html").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"taken/report\.html: cannot write the report"):
        R.write_report(MonitorData.empty(), tmp_path / "taken", text="given\n")
    assert (tmp_path / "taken" / "report.txt").read_text() == "given\n"
    # a PNG that cannot be written is named itself, not only its folder
    stem = R.plot_stems(MonitorData.empty())[0]
    (tmp_path / "png" / f"{stem}.png").mkdir(parents=True)
    with pytest.raises(ConfigError, match=rf"png/{stem}\.png: cannot write the report"):
        R.write_report(MonitorData.empty(), tmp_path / "png", text="given\n")


def test_write_plots_of_empty_data(tmp_path: Path) -> None:
    """plots.py draws every plot of the report for empty data too (no fallback drawings:
    tests/analysis/test_spackfacts_rules.py checks a failing view is named instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        paths = R.write_plots(MonitorData.empty(), tmp_path / "empty")
    assert len(paths) == len(R.PLOTS)
    assert all(p.read_bytes()[:8] == PNG for p in paths)


# ---------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------


def test_cli_failures_formats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["failures", str(TINY), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["role"], r["spec_name"]) for r in rows} == {
        ("root cause", "tinybroken"),
        ("blocked", "tinybrokenapp"),
    }
    cause = next(r for r in rows if r["role"] == "root cause")
    assert cause["blocked_direct"] == ["tinybrokenapp"] and cause["status"] is None

    out = tmp_path / "f.csv"
    assert cli.main(["failures", str(TINY), "--format", "csv", "-o", str(out)]) == 0
    import pandas as pd

    table = pd.read_csv(out)
    assert list(table["spec_name"]) == ["tinybroken", "tinybrokenapp"]
    assert table.loc[1, "blocked_by"] == "tinybroken"

    assert cli.main(["failures", str(TINY), "--no-context"]) == 0
    text = capsys.readouterr().out
    assert "tinybroken@0.9%gcc@12.2.0" in text and "    | " not in text


def test_cli_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["failures"]) == 1
    assert "exactly one of SOURCE" in capsys.readouterr().err
    assert cli.main(["failures", str(tmp_path / "missing")]) == 1
    assert "missing" in capsys.readouterr().err
    assert cli.main(["failures", str(TINY), "--db", "x.db"]) == 1


def test_cli_report(
    example: MonitorData,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "rep"
    drawn = _graph_axes(monkeypatch)
    assert cli.main(["report", str(SAVE_LOCAL), "--out", str(out)]) == 0
    assert len(drawn) == 1  # one drawing for the page and the PNG file (was two)
    names = sorted(p.name for p in out.iterdir())
    stems = R.plot_stems(example)
    assert names == sorted(["report.txt", "report.html", *(f"{s}.png" for s in stems)])
    assert "openmpi@4.1.1%gcc@12.2.0" in (out / "report.txt").read_text()
    assert f"Wrote {len(names)} files" in capsys.readouterr().out


def test_console_script(tmp_path: Path) -> None:
    exe = spackmon_script()
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [exe, "failures", str(TINY)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "broken.c:4:3: error: expected ',' or ';' before 'return'" in proc.stdout


def test_cli_host_and_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same failures through --host (client) and --db (database) after a replay."""
    local = pytest.importorskip("spackmon_analysis.localmonitor")
    db = tmp_path / "monitor.db"
    with local.LocalMonitor(f"sqlite:///{db}") as mon:
        token = mon.add_user("tester")
        client = mon.client("tester", progress=False)
        client.upload_local_save(TINY, progress=False)
        args = ["--host", mon.url, "--user", "tester", "--token", token, "--format", "json"]
        assert cli.main(["failures", *args]) == 0
        online = json.loads(capsys.readouterr().out)
    assert cli.main(["failures", "--db", str(db), "--format", "json"]) == 0
    offline = json.loads(capsys.readouterr().out)
    for rows in (online, offline):
        assert {(r["role"], r["spec_name"], tuple(r["blocked_by"])) for r in rows} == {
            ("root cause", "tinybroken", ()),
            ("blocked", "tinybrokenapp", ("tinybroken",)),
        }
        cause = next(r for r in rows if r["role"] == "root cause")
        assert cause["first_error"] == "broken.c:4:3: error: expected ',' or ';' before 'return'"


# ---------------------------------------------------------------------------------
# server data: current state, not history; text and HTML tell the same story
# ---------------------------------------------------------------------------------

NOT_AVAILABLE = "not available from server data (it keeps the latest state of each build)"


@pytest.fixture(scope="module")
def tiny_server() -> MonitorData:
    local = pytest.importorskip("spackmon_analysis.localmonitor")
    with local.LocalMonitor() as mon:
        mon.add_user("tester")
        client = mon.client("tester", progress=False)
        client.upload_local_save(TINY, progress=False)
        return MonitorData.from_client(client)


@pytest.fixture(scope="module")
def tiny_server_html(tiny_server: MonitorData, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The HTML report of ``tiny_server``, made once for the module."""
    path = R.write_html_report(tiny_server, tmp_path_factory.mktemp("html") / "server.html")
    return path.read_text()


def _html_text(html_doc: str) -> str:
    """The visible text of an HTML page, tags dropped, entities decoded."""
    import html as html_module

    body = re.sub(r"<style>.*?</style>", "", html_doc, flags=re.S)
    return html_module.unescape(re.sub(r"<[^>]+>", " ", body))


def _html_cells(html_doc: str, heading: str) -> list[list[str]]:
    """Rows (lists of cell texts) of the first table after the <h2> starting with heading."""
    import html as html_module

    part = html_doc[html_doc.index(f"<h2>{heading}") :]
    table = part[part.index("<table>") : part.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
    return [
        [html_module.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", row, flags=re.S)]
        for row in rows
    ]


def test_server_data_report_says_what_it_cannot_show(
    tiny_server: MonitorData, tiny_server_html: str
) -> None:
    text = R.failure_report(tiny_server)
    html_doc = tiny_server_html
    visible = _html_text(html_doc)
    for page in (text, visible):
        assert "latest state of each build" in page
        # no "(0)" pretending there is no recurring error or flaky build
        assert "Errors seen in more than one run (0)" not in page
        assert "Flaky builds (0)" not in page
        assert page.count(NOT_AVAILABLE + "; analyse the save-local runs for history") == 2
    # the blocked table: who, where (build + time, not an empty run), "never built"
    rows = _html_cells(html_doc, "Blocked dependents")
    assert rows[0] == ["package", "where", "blocked_by", "outcome"]
    (package, where, blocked_by, outcome) = rows[1]
    assert package.startswith("tinybrokenapp@1.0%gcc@12.2.0")
    # the time is when the server received the build (a replay is long after the build)
    assert re.fullmatch(
        r"build \d+, reported \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(server time\)"
        r" \(Spack 0\.17\.1\)",
        where,
    ), where
    assert (blocked_by, outcome) == ("tinybroken", "never built")
    assert "FAILED" not in html_doc.split("<h2>Blocked dependents")[1].split("</table>")[0]
    # percentages: the text's rate is the HTML's rate; shares are percentages too
    n_builds = len(tiny_server.builds)
    rate = f"{1 / n_builds:.1%}"
    assert f"1 failed / {n_builds:>3} builds ({rate})" in text
    rate_rows = _html_cells(html_doc, "Root-cause failure rate by compiler")
    assert rate_rows[1][0] == "gcc@12.2.0" and rate_rows[1][-1] == rate
    class_rows = _html_cells(html_doc, "Failure classes")
    assert [r[2] for r in class_rows[1:]] == ["100.0%"]
    assert "(100.0%)" in text
    # fingerprints: a time where there is no run, never a bare build key
    fp_rows = _html_cells(html_doc, "Error fingerprints")
    assert fp_rows[0][-1] == "last reported (server time)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", fp_rows[1][-1]), fp_rows[1]
    assert "Error fingerprints (1)" in text and "Error fingerprints (1)" in visible
    # the text report says the same about its times: the server's, when it was reported
    assert re.search(
        r"1 build\(s\), last reported \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(server time\)", text
    ), text
    cause = text[text.index("* tinybroken@") :].splitlines()[1]
    assert re.match(
        r"  build \d+, reported \S+ \S+ UTC \(server time\) \(Spack 0\.17\.1\); failed phase", cause
    )
    assert "(server time)" in text[text.index("Blocked dependents") :].splitlines()[2]


def test_text_and_html_sections_agree(example_text: str, example_html: Path) -> None:
    text = example_text
    visible = _html_text(example_html.read_text())
    headings = re.findall(r"^(\S[^\n]*\(\d+(?: runs)?\))\n-+$", text, flags=re.M)
    assert "Errors seen in more than one run (1)" in headings
    assert "Flaky builds (1)" in headings and "Error fingerprints (2)" in headings
    for heading in headings:
        assert heading in visible, heading
    assert "make_failure" not in text and "make_failure" not in visible


def test_report_with_history(tiny_server: MonitorData, tmp_path: Path) -> None:
    history = load_save_local(TINY)
    text = R.failure_report(tiny_server, history=history)
    head, _, tail = text.partition("Per-run history (from the save-local files: ")
    assert tail, text
    assert "see the per-run history below, from the save-local files" in head
    n_runs = len([p for p in TINY.iterdir() if p.is_dir()])
    assert f"Root causes per run ({n_runs} runs)" in tail
    assert "Flaky builds (0)" in tail and "Errors seen in more than one run (0)" in tail
    html_doc = Path(
        R.write_html_report(tiny_server, tmp_path / "h.html", history=history)
    ).read_text()
    assert html_doc.index('id="history"') > html_doc.index('id="error-classes"')
    assert f"Root causes per run ({n_runs} runs)" in html_doc


def _corrupt_copy(tmp_path: Path) -> tuple[Path, str]:
    copy = tmp_path / "runs"
    shutil.copytree(TINY, copy)
    victim = sorted(copy.glob("*success*/build-*-phase-build.json"))[0]
    victim.write_text('{"phase_name": "build", "out')
    return copy, victim.name


def test_cli_reports_skipped_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs, name = _corrupt_copy(tmp_path)
    assert cli.main(["failures", str(runs)]) == 1
    captured = capsys.readouterr()
    assert "Skipped inputs (1)" in captured.out and name in captured.out
    assert "tinybroken@0.9%gcc@12.2.0" in captured.out  # the report is still printed
    assert "skipped 1 unreadable input(s)" in captured.err and name in captured.err
    assert cli.main(["failures", str(runs), "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) and name in captured.err
    out = tmp_path / "rep"
    assert cli.main(["report", str(runs), "--out", str(out)]) == 1
    assert name in (out / "report.txt").read_text() and name in capsys.readouterr().err
    assert name in (out / "report.html").read_text()
    assert cli.main(["failures", str(TINY)]) == 0  # clean input: exit 0
    assert "Skipped inputs" not in capsys.readouterr().out


def test_cli_output_paths_are_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    assert cli.main(["report", str(TINY), "--out", str(a_file)]) == 1
    err = capsys.readouterr().err
    assert f"spackmon report: error: --out {a_file}: exists and is not a directory" in err
    assert "Traceback" not in err and a_file.read_text() == "x"
    assert cli.main(["failures", str(TINY), "-o", str(tmp_path)]) == 1
    assert f"-o {tmp_path}: is a directory" in capsys.readouterr().err
    assert cli.main(["demo", "--out", str(a_file)]) == 1
    err = capsys.readouterr().err
    assert f"spackmon demo: error: --out {a_file}: exists and is not a directory" in err


def test_cli_no_source_names_every_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPACKMON_HOST", raising=False)
    monkeypatch.chdir(tmp_path)  # `--out x` is relative: never in the checkout
    for command in (["failures"], ["report", "--out", "x"]):
        assert cli.main(command) == 1
        err = capsys.readouterr().err
        for option in ("SOURCE", "--host", "--db", "SPACKMON_HOST"):
            assert option in err, (option, err)
    assert list(tmp_path.iterdir()) == []  # the failed report created no empty folder


def test_report_out_is_created_only_when_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-run"
    out = tmp_path / "deep" / "report"
    assert cli.main(["report", str(missing), "--out", str(out)]) == 1
    assert "no-such-run" in capsys.readouterr().err
    assert not (tmp_path / "deep").exists()
    assert cli.main(["report", str(TINY), "--out", str(out)]) == 0
    assert (out / "report.txt").is_file() and (out / "report.html").is_file()


def test_cli_falls_back_to_spackmon_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    local = pytest.importorskip("spackmon_analysis.localmonitor")
    with local.LocalMonitor() as mon:
        token = mon.add_user("tester")
        mon.client("tester", progress=False).upload_local_save(TINY, progress=False)
        monkeypatch.setenv("SPACKMON_HOST", mon.url)
        monkeypatch.setenv("SPACKMON_USER", "tester")
        monkeypatch.setenv("SPACKMON_TOKEN", token)
        assert cli.main(["failures", "--format", "json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert {(r["role"], r["spec_name"]) for r in rows} == {
            ("root cause", "tinybroken"),
            ("blocked", "tinybrokenapp"),
        }
        assert cli.main(["report", "--out", str(tmp_path / "rep")]) == 0
        text = (tmp_path / "rep" / "report.txt").read_text()
        assert mon.url in text and "tinybroken@0.9%gcc@12.2.0" in text


def test_cli_empty_database_shows_every_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = pytest.importorskip("spackmon_analysis.localmonitor")
    db = tmp_path / "empty.db"
    with local.LocalMonitor(f"sqlite:///{db}"):
        pass
    assert cli.main(["failures", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "0 builds" in text
    # an empty server database is not described as save-local files
    assert text.splitlines()[2] == "No builds in this data."
    rates = text[text.index("Root-cause failure rate by compiler") :].splitlines()
    assert rates[2] == "No builds."


# ---------------------------------------------------------------------------------
# the dependency graph of a report: caption from the data, big graphs cut to what matters
# ---------------------------------------------------------------------------------


def _as_server_data(data: MonitorData) -> MonitorData:
    """``data`` as a server returns it: the latest build of each spec, no runs, source
    ``server``."""
    builds = data.builds.sort_values(["run_time", "build"], kind="stable")
    builds = builds.drop_duplicates("full_hash", keep="last").copy()
    builds["run"] = pd.Series(pd.NA, index=builds.index, dtype=builds["run"].dtype)
    builds["source"] = pd.Categorical(["server"] * len(builds))
    keys = set(builds["build"])
    phases = data.phases[data.phases["build"].isin(keys)]
    events = data.events[data.events["build"].isin(keys)]
    return MonitorData(data.specs, data.dependencies, builds, phases, events, source="server")


def _with_unbuilt_spec(data: MonitorData, n: int = 36) -> MonitorData:
    """``data`` plus an uploaded, never built spec of ``n`` nodes (singularity and deps)."""
    template = data.specs.iloc[[0] * n].reset_index(drop=True).copy()
    hashes = [f"{i:02d}" + "s" * 30 for i in range(n)]
    template["full_hash"] = pd.array(hashes, dtype="string")
    template["dag_hash"] = pd.array(hashes, dtype="string")
    template["build_hash"] = pd.array(hashes, dtype="string")
    names = ["singularity"] + [f"sdep{i}" for i in range(1, n)]
    template["name"] = pd.array(names, dtype="string")
    template["version"] = pd.array(["3.8.5"] * n, dtype="string")
    edges = pd.DataFrame(
        {
            "parent_hash": [hashes[0]] * (n - 1),
            "child_hash": hashes[1:],
            "parent_name": [names[0]] * (n - 1),
            "child_name": names[1:],
            "deptypes": ["build,link"] * (n - 1),
        }
    ).astype("string")
    return MonitorData(
        pd.concat([data.specs, template], ignore_index=True),
        pd.concat([data.dependencies, edges], ignore_index=True),
        data.builds,
        data.phases,
        data.events,
        source=data.source,
    )


def _graph_axes(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record the axes that write_plots gets back from plots.plot_dependency_graph."""
    plots = importlib.import_module("spackmon_analysis.plots")
    real = plots.plot_dependency_graph
    drawn: list = []

    def spy(*args, **kwargs):
        drawn.append(real(*args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(plots, "plot_dependency_graph", spy)
    return drawn


def _captions(html_doc: str) -> dict[str, str]:
    import html as html_module

    found = re.findall(r'<figure id="([^"]+)">.*?<figcaption>(.*?)</figcaption>', html_doc, re.S)
    return {stem: html_module.unescape(text) for stem, text in found}


def test_graph_caption_is_built_from_the_data(
    example_html: Path, tiny_server_html: str, tmp_path: Path
) -> None:
    # every run with a root-cause failure, not only the latest run (from the manifest)
    failing = [
        run["directory"]
        for run in MANIFEST["runs"]
        if any("ERROR" in b["phases"].values() for b in run["builds"].values())
    ]
    assert len(failing) == 3
    html_doc = example_html.read_text()
    assert _captions(html_doc)["dependency-graph"] == (
        f"Dependency graph of the 3 runs with failures: {', '.join(failing)}"
    )
    caption = _captions(tiny_server_html)["dependency-graph"]
    assert caption == "Dependency graph: current state on the server"
    assert "latest run" not in caption
    one_run = load_save_local(next(p for p in TINY.iterdir() if p.is_dir()))
    html_doc = Path(R.write_html_report(one_run, tmp_path / "one.html")).read_text()
    assert _captions(html_doc)["dependency-graph"].startswith("Dependency graph of the run v0.17")


def test_report_graph_leaves_out_unbuilt_specs(
    tiny_server: MonitorData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An uploaded spec that was never built does not crowd the report's graph."""
    data = _with_unbuilt_spec(tiny_server)
    total = len(data.graph())
    built = len(set(tiny_server.builds["full_hash"]))
    assert total == built + 36 and built <= 30
    drawn = _graph_axes(monkeypatch)
    R.write_plots(data, tmp_path)
    (ax,) = drawn
    title = ax.get_title()
    assert f"showing {built} of {total} packages: 36 without any build left out" in title
    labels = [t.get_text() for t in ax.texts if getattr(t, "xy", None) is not None]
    assert len(labels) == built
    assert not any("singularity" in t or "sdep" in t for t in labels)
    assert not any("\u2026" in t for t in labels), labels  # nothing cut to "pyt…"
    # an explicit call still draws everything
    plots = importlib.import_module("spackmon_analysis.plots")
    monkeypatch.undo()
    ax = plots.plot_dependency_graph(data)
    assert len([t for t in ax.texts if getattr(t, "xy", None) is not None]) == total
    assert "showing" not in ax.get_title()


def test_report_graph_of_a_big_server_shows_the_failures(
    example: MonitorData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six runs replayed plus a never-built spec: 76 nodes; the report draws the
    failures and what they touch, readably, and says what it left out."""
    server = _as_server_data(example)
    data = _with_unbuilt_spec(server)
    g = data.graph()
    assert len(g) > 70
    drawn = _graph_axes(monkeypatch)
    R.write_plots(data, tmp_path)
    (ax,) = drawn
    title = ax.get_title()
    labels = [t.get_text() for t in ax.texts if getattr(t, "xy", None) is not None]
    names = {t.split("\n")[0] for t in labels}
    assert f"of {len(g)} packages: the failures and what they touch" in title
    assert f"showing {len(labels)} of" in title and len(labels) <= 30
    # every root cause and every blocked dependent is drawn, with its dependents
    found = R.failures(data)
    assert len(found) and set(found["spec_name"]) <= names
    assert {"hdf5", "openmpi"} <= names
    assert not names & {"singularity", "sdep1"}
    assert not any("\u2026" in t for t in labels), labels
    html_doc = Path(R.write_html_report(data, tmp_path / "r.html")).read_text()
    assert _captions(html_doc)["dependency-graph"] == (
        "Dependency graph: current state on the server"
    )
