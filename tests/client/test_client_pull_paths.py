"""``spackmon pull -o`` with an unusable output path: a one-line error, nothing pulled."""

from __future__ import annotations

import re

import pytest

from spackmon_analysis.cli import main


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing/x.csv", "the folder .*missing does not exist"),
        ("missing/x.parquet", "the folder .*missing does not exist"),
        ("missing/x.json", "the folder .*missing does not exist"),
        (".", "is a directory; give a file name such as"),
    ],
)
def test_pull_output_path_errors(monitor, tmp_path, capsys, name, expected):
    output = tmp_path / name
    argv = ["pull", "builds", "--format", output.suffix.lstrip(".") or "csv", "-o", str(output)]
    code = main([*argv, "--host", monitor.url, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("spackmon pull: error: -o ")
    assert re.search(expected, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "missing").exists()
