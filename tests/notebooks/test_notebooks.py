"""Every notebook runs with nbval: strict output comparison on 01, 02 and 04, lax on 03, 05 and 06."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = NOTEBOOKS / "nbval_sanitize.cfg"
#: Every output is compared (after sanitizing; cells tagged ``nbval-ignore-output`` aside).
STRICT = ["01-upload.ipynb", "02-save-local-replay.ipynb", "04-dependency-graphs.ipynb"]
#: Every cell must run without error; only cells tagged ``nbval-check-output`` are compared.
LAX = ["03-build-failure-analysis.ipynb", "05-explorer.ipynb", "06-todays-spack.ipynb"]


MODES = {"--nbval": STRICT, "--nbval-lax": LAX}


def _start_nbval(mode: str, notebooks: list[str], tmp: Path) -> tuple[subprocess.Popen, Path]:
    """Start nbval of ``mode`` over ``notebooks`` -> (the process, its folder: ``junit.xml``,
    ``stdout``, ``stderr``)."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env.pop("SPACKMON_HOST", None)  # notebook 01 would use a remote server otherwise
    folder = tmp / mode.strip("-")
    folder.mkdir()
    cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-q",
        "-p", "nbval",  # addopts leaves the plugin out of every other pytest process
        mode, "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE),
        "--nbval-cell-timeout", "120", f"--junitxml={folder / 'junit.xml'}",
        *[str(NOTEBOOKS / nb) for nb in notebooks],
    ]  # fmt: skip
    with open(folder / "stdout", "wb") as out, open(folder / "stderr", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
    return proc, folder


#: mode -> its nbval run, started (both at once, on first use)
_STARTED: dict[str, tuple[subprocess.Popen, Path]] = {}
#: mode -> (the nbval run, {notebook: (cells passed, cells failed or in error)})
_RUNS: dict[str, tuple[subprocess.CompletedProcess, dict[str, tuple[int, int]]]] = {}


def _nbval_cells(mode: str, tmp: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """One nbval run per mode over all of its notebooks (one pytest and nbformat start, which
    cost about as much as running a notebook, instead of one per notebook); each notebook's
    cells passed and failed, read from the run's JUnit report (once per session).

    The first call starts the runs of both modes at once (their kernels wait on each other's
    messages much of the time, so two runs side by side take less than one after the other)."""
    if not _STARTED:
        for each, notebooks in MODES.items():
            _STARTED[each] = _start_nbval(each, notebooks, tmp)
    if mode not in _RUNS:
        import xml.etree.ElementTree as ET

        started, folder = _STARTED[mode]
        try:
            returncode = started.wait(timeout=900)
        finally:
            if started.poll() is None:
                started.kill()
                started.wait()
        proc = subprocess.CompletedProcess(
            started.args,
            returncode,
            (folder / "stdout").read_text(errors="replace"),
            (folder / "stderr").read_text(errors="replace"),
        )
        junit = folder / "junit.xml"
        cells: dict[str, list[int]] = {}
        if junit.is_file():
            for case in ET.parse(junit).iter("testcase"):
                notebook = case.get("classname", "").removeprefix("notebooks.")
                bad = case.find("failure") is not None or case.find("error") is not None
                tally = cells.setdefault(notebook, [0, 0])
                tally[1 if bad else 0] += 1
        _RUNS[mode] = (proc, {k: (v[0], v[1]) for k, v in cells.items()})
    return _RUNS[mode]


@pytest.fixture(scope="module", autouse=True)
def _no_run_left_behind() -> Iterator[None]:
    """A run started but never read (only some notebooks' tests selected) is stopped."""
    yield
    for started, _folder in _STARTED.values():
        if started.poll() is None:
            started.kill()
            started.wait()


def test_every_notebook_is_tested() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(STRICT + LAX)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "notebook"),
    [("--nbval", nb) for nb in STRICT] + [("--nbval-lax", nb) for nb in LAX],
    ids=lambda value: value.split(".")[0].lstrip("-"),
)
def test_notebook(mode: str, notebook: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert (NOTEBOOKS / notebook).is_file(), f"{notebook} is missing"
    proc, cells = _nbval_cells(mode, tmp_path_factory.mktemp("nbval"))
    report = proc.stdout[-20000:] + proc.stderr[-5000:]
    # the notebook's own cells (each notebook runs in a kernel of its own; another notebook
    # of the same run failing does not fail this one)
    passed, failed = cells.get(notebook, (0, 0))
    assert passed > 0 and failed == 0, (
        f"{notebook}: {passed} cells passed, {failed} failed\n{report}"
    )


def _outputs(notebook: str) -> list[dict]:
    import json

    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    return [out for cell in cells if cell["cell_type"] == "code" for out in cell["outputs"]]


@pytest.mark.parametrize(
    "notebook", ["03-build-failure-analysis.ipynb", "04-dependency-graphs.ipynb"]
)
def test_plots_are_stored_as_png(notebook: str) -> None:
    # %matplotlib inline in the setup cell: the figures are in the committed notebook (nbval
    # compares their text/plain line, not the PNG bytes)
    pngs = [
        out["data"]["image/png"] for out in _outputs(notebook) if "image/png" in out.get("data", {})
    ]
    assert pngs, f"{notebook} stores no figure"
    assert (NOTEBOOKS / notebook).stat().st_size < 400_000


def test_outputs_hold_no_checkout_path() -> None:
    import json

    for notebook in STRICT + LAX:
        text = json.dumps(_outputs(notebook))
        assert str(ROOT) not in text, notebook
        assert "spackmon_analysis/data" not in text, notebook


def _cells(notebook: str) -> list[dict]:
    import json

    return json.loads((NOTEBOOKS / notebook).read_text())["cells"]


def test_nbval_markers_are_cell_tags_not_code() -> None:
    """A reader copies the code of a cell: it carries no test markers, the tags do."""
    for notebook in STRICT + LAX:
        cells = _cells(notebook)
        for cell in cells:
            source = "".join(cell["source"])
            assert "NBVAL" not in source.upper(), (notebook, source[:80])
            assert "# needs:" not in source, (notebook, source[:80])
            assert "spackmon_needs" not in cell.get("metadata", {}), notebook
        tags = {t for cell in cells for t in cell.get("metadata", {}).get("tags", [])}
        if notebook in LAX:  # under --nbval-lax only the tagged cells are compared
            assert "nbval-check-output" in tags, notebook
    assert "NBVAL_" not in (NOTEBOOKS / "make_notebooks.py").read_text()
    # the monitor's repr (port, temporary path) is not compared in 01
    first = [c for c in _cells("01-upload.ipynb") if "print(monitor)" in "".join(c["source"])]
    assert first and first[0]["metadata"]["tags"] == ["nbval-ignore-output"]


def test_notebook_03_explains_root_cause_and_blocked_before_using_them() -> None:
    cells = _cells("03-build-failure-analysis.ipynb")
    uses = [
        i
        for i, cell in enumerate(cells)
        if re.search(r"root.cause|blocked", "".join(cell["source"]), re.IGNORECASE)
    ]
    first = cells[uses[0]]
    text = "".join(first["source"])
    assert first["cell_type"] == "markdown", text[:200]
    assert "**root cause**" in text and "**blocked**" in text
    assert "own" in text and "never started" in text  # what each one means
    code_cells = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    assert uses[0] < code_cells[1]  # before the first use after the setup cell


def _jupyter() -> str:
    found = Path(sys.executable).with_name("jupyter")
    return str(found) if found.exists() else (shutil.which("jupyter") or "jupyter")


def test_notebooks_extra_provides_the_jupyter_front_end() -> None:
    """`pip install -e ".[dev]"` (or `[notebooks]`) gives `jupyter lab` and `jupyter nbconvert`."""
    text = (ROOT / "pyproject.toml").read_text()
    extras = re.search(r"^notebooks = \[(.*?)\]", text, re.MULTILINE | re.DOTALL)
    assert extras, "pyproject.toml has no [notebooks] extra"
    for package in ("jupyterlab", "nbconvert", "ipykernel"):
        assert f'"{package}' in extras.group(1), package
    dev = re.search(r'^dev = \[\s*"spackmon-analysis\[([^\]]*)\]"', text, re.MULTILINE)
    assert dev and "notebooks" in dev.group(1).split(","), "[dev] does not include [notebooks]"
    # both front ends at once (each start is about a second of imports)
    started = {
        sub: subprocess.Popen(
            [_jupyter(), sub, "--version"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for sub in ("lab", "nbconvert")
    }
    for sub, proc in started.items():
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"jupyter {sub}: {err[-2000:]}"


@pytest.mark.slow
def test_jupyter_nbconvert_execute_runs_a_notebook(tmp_path: Path) -> None:
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("SPACKMON_HOST", None)
    notebook = "04-dependency-graphs.ipynb"
    done = subprocess.run(
        [
            _jupyter(), "nbconvert", "--to", "notebook", "--execute",
            "--output-dir", str(tmp_path), str(NOTEBOOKS / notebook),
        ],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    import json

    cells = json.loads((tmp_path / notebook).read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code)
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
