"""Spack's facts about builds are defined once (``spackfacts``) and every view follows them:
phase order per build system, a build's first error, the make/ninja echo lines, the outcome
palette and the report's plots (issue 11)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

import spackmon_analysis as sma
from spackmon_analysis import palette, plots, report, spackfacts
from spackmon_analysis.demo import example_data_dir
from spackmon_analysis.failures import error_fingerprints, first_errors


@pytest.fixture(scope="module")
def data() -> sma.MonitorData:
    return sma.load_save_local(example_data_dir() / "save-local")


def _openmpi(data: sma.MonitorData) -> str:
    failed = data.builds.spack.failed()
    return str(failed[failed["spec_name"] == "openmpi"]["build"].iloc[0])


# ---------------------------------------------------------------------------------
# phase names and order


def test_canonical_order_agrees_with_every_build_system() -> None:
    rank = {name: i for i, name in enumerate(spackfacts.CANONICAL_PHASES)}
    assert len(rank) == len(spackfacts.CANONICAL_PHASES)  # no name twice
    for system, phases in spackfacts.BUILD_SYSTEM_PHASES.items():
        assert all(p in rank for p in phases), system
        assert [rank[p] for p in phases] == sorted(rank[p] for p in phases), system
    legacy = ("build", *spackfacts.PYTHON_SETUP_PY_PHASES[:4], "install")
    assert all(p in rank for p in legacy)
    assert spackfacts.BUILD_SYSTEM_PHASES["bundle"] == ()
    assert spackfacts.BUILD_SYSTEM_PHASES["python_pip"] == ("install",)


def test_untimed_phases_of_any_build_system_are_placed_in_spack_order() -> None:
    """Phases whose output has no stamp (``spack install`` without ``-d``) are ordered by
    the build system's own order, Lua's four phases and CachedCMake's initconfig included
    (before, only the autotools/cmake names were known and the rest went last by name)."""
    for system, phases in spackfacts.BUILD_SYSTEM_PHASES.items():
        shuffled = list(reversed(phases))
        ordered = spackfacts.order_phases(shuffled, name=lambda p: p, started=lambda p: None)
        assert ordered == list(phases), system
    # a timed phase keeps its place; an untimed one goes before the first that follows it
    items = [("install", 3.0), ("preprocess", None), ("unpack", 1.0)]
    ordered = spackfacts.order_phases(items, name=lambda i: i[0], started=lambda i: i[1])
    assert [n for n, _ in ordered] == ["unpack", "preprocess", "install"]


def test_phase_tables_and_plots_use_spack_order() -> None:
    names = ["install", "generate_luarocks_config", "zz-custom", "unpack", "preprocess"]
    medians = {"unpack": 0, "generate_luarocks_config": 1, "preprocess": 2, "zz-custom": 2.5}
    assert spackfacts.sort_phase_names(names, medians) == [
        "unpack",
        "generate_luarocks_config",
        "preprocess",
        "zz-custom",
        "install",
    ]
    builds = pd.DataFrame(
        {"build": ["b"], "spec_name": ["lua-x"], "status": ["SUCCESS"], "full_hash": ["h"]}
    )
    phases = pd.DataFrame(
        {
            "build": ["b"] * 4,
            "name": ["install", "preprocess", "generate_luarocks_config", "unpack"],
            "order": [None, None, None, None],
            "status": ["SUCCESS"] * 4,
            "duration": [4.0, 3.0, 2.0, 1.0],
        }
    )
    times = sma.phase_times(sma.MonitorData(builds=builds, phases=phases))
    assert list(times["phase"]) == ["unpack", "generate_luarocks_config", "preprocess", "install"]


# ---------------------------------------------------------------------------------
# a build's first error


def test_every_view_names_the_same_first_error_when_the_failed_phase_has_none(data) -> None:
    """openmpi's build phase failed; here it has no error event, while autoreconf (line 30)
    and configure (line 2) printed error lines. failures() took the lowest line number of
    any phase (configure's), data.build() the earliest phase (autoreconf's): now one rule,
    phase order then line, in every view."""
    key = _openmpi(data)
    events = data.events
    template = events[(events["build"] == key) & (events["kind"] == "error")].iloc[[0]]
    strays = []
    for phase, line, text in (
        ("autoreconf", 30, "autoreconf: error: m4 macro AC_FOO not found"),
        ("configure", 2, "conftest.c:2:1: error: unknown type name 'foo'"),
    ):
        row = template.copy()
        row["phase"], row["line_no"], row["text"] = phase, line, text
        row["fingerprint"] = sma.fingerprint(text)
        strays.append(row)
    kept = events[~((events["build"] == key) & (events["phase"] == "build"))]
    noisy_events = pd.concat([kept, *strays], ignore_index=True)
    noisy = sma.MonitorData(data.specs, data.dependencies, data.builds, data.phases, noisy_events)
    expected = "autoreconf: error: m4 macro AC_FOO not found"
    found = sma.failures(noisy)
    row = found[found["build"] == key].iloc[0]
    assert (row["failed_phase"], row["first_error"]) == ("build", expected)
    assert noisy.build(key).first_error["text"] == expected
    assert expected in repr(noisy.build(key))
    table = sma.explore(noisy).select(package="openmpi")
    assert table.loc[table["build"] == key, "first_error"].iloc[0] == expected
    mine = first_errors(noisy)
    assert list(mine.loc[mine["build"] == key, "text"]) == [expected]
    prints = error_fingerprints(noisy).set_index("fingerprint")
    assert prints.loc[sma.fingerprint(expected), "count"] == 1


# ---------------------------------------------------------------------------------
# make/ninja echo lines


def test_top_leaves_out_the_make_lines_error_fingerprints_leaves_out(data) -> None:
    top = data.events.spack.errors().spack.top(50)
    assert not any(re.search(r"\*\*\* .*Error N", fp) for fp in top.index), list(top.index)
    assert not top.index.str.contains("all-recursive").any()
    # every error the failure view counts is ranked
    assert set(error_fingerprints(data)["fingerprint"]) <= set(top.index)
    # the compiler error still leads, found in both runs
    assert "PMIX_MODEL_LIBRARY_NAME" in top["example"].iloc[0]


def test_a_make_line_alone_in_its_phase_is_the_error(data) -> None:
    """A phase whose only error is make's line keeps it: nothing else says what failed."""
    text = "make: *** [Makefile:3: all] Error 2"
    events = pd.DataFrame(
        {
            "build": ["b1", "b1", "b2"],
            "phase": ["build", "build", "build"],
            "kind": ["error", "error", "error"],
            "text": ["x.c:1:1: error: boom", text, text],
            "line_no": [3, 4, 9],
            "fingerprint": [sma.fingerprint("x.c:1:1: error: boom"), sma.fingerprint(text)] * 1
            + [sma.fingerprint(text)],
            "repeat_count": [1, 1, 1],
        }
    )
    top = events.spack.top()
    assert list(top["builds"]) == [1, 1] and set(top["example"]) == {"x.c:1:1: error: boom", text}
    assert top.loc[sma.fingerprint(text), "events"] == 1  # only b2's, the one alone


# ---------------------------------------------------------------------------------
# one palette, the report's plots from plots.py


def test_one_palette_for_every_view(data) -> None:
    for outcome in ("failed", "never built", "succeeded"):
        key = str(data.builds.loc[data.builds["outcome"] == outcome, "build"].iloc[0])
        card = data.build(key)._repr_html_()
        assert f"background:{palette.OUTCOME_COLORS[outcome]}" in card, outcome
    assert plots.OUTCOME_COLORS is palette.OUTCOME_COLORS
    css = report._CSS
    assert f".blocked {{ color: {palette.OUTCOME_COLORS['never built']}; }}" in css
    assert f".bad {{ color: {palette.OUTCOME_COLORS['failed']}; }}" in css


def test_report_plots_come_from_plots_and_a_failed_view_is_named(
    data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(data, ax=None, **options):
        raise RuntimeError("boom")

    monkeypatch.setattr(plots, "plot_phase_outcomes", broken)
    with pytest.warns(RuntimeWarning, match=r"plots\.plot_phase_outcomes failed.*boom"):
        path = sma.write_html_report(data, tmp_path / "report.html")
    page = Path(path).read_text()
    assert (
        "Phase outcomes: not drawn, plots.plot_phase_outcomes failed (RuntimeError: boom)" in page
    )
    assert page.count("<img") == len(report.plot_stems(data))  # every place holds a picture
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.undo()
        report.write_plots(data, tmp_path / "plots")


# ---------------------------------------------------------------------------------
# phase timestamps: one function for every reader

DATA = Path(__file__).resolve().parents[1] / "data"
STAGE = "spack-stage-tinybroken-0.9-bgd6kv3dv7wnvfjyx3ezjp5eqwkbbbdn"


def test_every_reader_gives_the_same_phase_start(tmp_path: Path) -> None:
    """A stamp that is not a valid time (hour 25) before the valid ones: the install-tree
    reader took the first stamp as is (no start) while the save-local and server readers
    skipped it (start at the next valid stamp). Now one function decides for all."""
    import shutil

    stage = tmp_path / "stage"
    shutil.copytree(DATA / "installs" / "v0.17.1" / "failed-stage", stage)
    bogus = "==> [2026-11-28-25:61:00.000000] a stamp that is not a time\n"
    for name in ("spack-build-02-build-out.txt", "spack-build-out.txt"):
        path = stage / STAGE / name
        text = path.read_text()
        marker = "==> tinybroken: Executing phase: 'build'\n"
        path.write_text(text.replace(marker, marker + bogus))
    build_text = (stage / STAGE / "spack-build-02-build-out.txt").read_text()
    expected = spackfacts.phase_timing(build_text)
    assert expected.started == pd.Timestamp("2026-11-28 06:01:29.875639").to_pydatetime()

    installed = sma.load_install_tree(stage)
    phase = installed.phases[installed.phases["name"] == "build"].iloc[0]
    assert phase["started_at"] == pd.Timestamp(expected.started, tz="UTC")

    rows = {
        "specs": [],
        "dependencies": [],
        "builds": [{"id": 1, "full_hash": "h" * 32, "status": "FAILED", "created_at": None}],
        "buildphases": [
            {"id": 7, "build": 1, "name": "build", "status": "ERROR", "output": build_text}
        ],
        "builderrors": [],
        "buildwarnings": [],
    }
    from spackmon_analysis.frames import MonitorData
    from spackmon_analysis.loaders.server import rows_frames

    served = MonitorData.from_frames(
        rows_frames(rows, source="server", label="rows", keep_output=True)
    )
    assert served.phases["started_at"].iloc[0] == pd.Timestamp(expected.started, tz="UTC")


# ---------------------------------------------------------------------------------
# where the facts sit among the layers


def _package_imports(module: str) -> set[str]:
    """The package modules ``module`` imports, at any depth (inside functions too)."""
    import ast
    import importlib

    path = Path(importlib.import_module(module).__file__ or "")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.add(node.module or "")
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = (
                [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            )
            found.update(
                n.removeprefix("spackmon_analysis.")
                for n in names
                if n and n.startswith("spackmon_analysis")
            )
    return found


def test_the_facts_and_the_palette_sit_low() -> None:
    """spackfacts is used by loaders, analysis and views, so it imports only what sits
    below them (logs, records, errors); the palette imports nothing of the package."""
    assert _package_imports("spackmon_analysis.spackfacts") <= {"logs", "records", "errors"}
    assert _package_imports("spackmon_analysis.palette") == set()


def test_stamps_found_in_a_page_buffer_follow_the_one_rule() -> None:
    """``stamp_columns_joined`` (the stamps of a page of ASCII logs found and parsed in one
    byte buffer) gives ``stamp_columns``' five columns, log for log, on logs made of every
    kind of line the rule tells apart: valid stamps, invalid dates, fractions of 0 to 18
    digits, a stamp not at a line's start, after a ``\\r`` only, cut off by the log's end,
    brackets elsewhere, empty and missing logs."""
    import random

    import numpy as np

    from spackmon_analysis.loaders.assemble import stamp_columns, stamp_columns_joined

    lines = [
        "==> [2026-11-02-06:00:07.600000] 'make' '-j2'",
        "==> [2026-11-02-06:00:09] Running on_phase_success",
        "==> [2026-11-02-06:01:00.5] short fraction",
        "==> [2026-11-02-06:01:00.] no fraction digit",
        "==> [2026-11-02-06:01:00.1234567] seven digits",
        "==> [2026-11-02-06:01:00.123456789012345678] many digits",
        "==> [2021-13-45-25:61:61.000000] not a time",
        "==> [1601-01-01-00:00:00] out of range",
        "==> [2026-11-02-06:01:00",
        "==> [2026-11-02-06:01:0x] letter",
        " ==> [2026-11-02-06:02:00] not at the start",
        "\r==> [2026-11-02-06:03:00] after a carriage return",
        "==> [",
        "==> [2026-11-02",
        "[ brackets ] [x] ==> [y]",
        "gcc -O2 -c a.c",
        "",
    ]
    rng = random.Random(5)
    outputs: list[str | None] = [
        None,
        "",
        "==> [2026-11-02-06:00:00]",
        "x==> [2026-11-02-06:00:00]",
    ]
    outputs += ["==> [2026-11-02-06:00:00.12345678901", "==> [2026-11-02-06:00:00.1]"]
    for _ in range(3000):
        k = rng.randint(0, 6)
        text = rng.choice(["\n", "\r\n"]).join(rng.choice(lines) for _ in range(k))
        if rng.random() < 0.5:
            text += "\n"
        if rng.random() < 0.2:
            text = text[: rng.randint(0, len(text))]  # cut anywhere, a stamp too
        outputs.append(text)
    texts = [o or "" for o in outputs]
    data = "".join(texts).encode()
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=offsets[1:])
    got = stamp_columns_joined(outputs, np.frombuffer(data, dtype=np.uint8), offsets)
    want = stamp_columns(outputs)
    for name, g, w in zip(
        ("start", "start_ok", "finish", "finish_ok", "two"), got, want, strict=True
    ):
        bad = np.flatnonzero(g != w)
        assert not len(bad), (name, [outputs[i] for i in bad[:3]])
    assert want[1].sum() > 800 and (want[4] & want[1]).sum() > 250  # the cases are there
    # a page without any text (missing and empty logs), and no page at all
    for page in ([None, "", None], []):
        offsets = np.zeros(len(page) + 1, dtype=np.int64)
        got = stamp_columns_joined(page, np.zeros(0, dtype=np.uint8), offsets)
        assert [list(c) for c in got] == [list(c) for c in stamp_columns(page)]
