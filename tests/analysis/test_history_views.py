"""The views of a build history (issue 13, "Views"): the explorer's timeline, new/fixed marks
and flaky list, the trend and timeline plots written with the report's, and
``plot_timeline`` without a build key. On the bundled real runs (two build keys with two
attempts: openmpi failing twice, sqlite killed then built) and a generated history with
known flaky builds."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

import spackmon_analysis as sma
from spackmon_analysis import history, palette, plots
from spackmon_analysis import report as R  # noqa: N812
from spackmon_analysis.synth import generate_history

matplotlib.use("Agg")

EXAMPLES = Path(sma.__file__).parent / "data" / "examples" / "save-local"
TINY = Path(__file__).resolve().parents[1] / "data" / "save-local" / "v0.17.1-success-tinyapp"
PNG = b"\x89PNG\r\n\x1a\n"
SQLITE = "sqlite@3.36.0 +column_metadata+fts~functions~rtree %clang@14.0.6 arch=debian12-zen3"
OPENMPI = "openmpi@4.1.1 ~static fabrics=none schedulers=none %gcc@12.2.0 arch=debian12-icelake"
KILLED = "clang: error: unable to execute command: Killed"


@pytest.fixture(scope="module")
def example() -> sma.MonitorData:
    return sma.load(EXAMPLES)


@pytest.fixture(scope="module")
def flaky_history() -> sma.MonitorData:
    return generate_history(12, 8, seed=4, flaky_share=0.4).data


def _cells(table_html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", table_html)
    cells = [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in rows
    ]
    return [c for c in cells if c]  # not the header row


def test_busiest_keys_most_attempts_then_most_failures(example: sma.MonitorData) -> None:
    # both keys have two attempts; openmpi failed in both, sqlite in one
    assert history.busiest_keys(example) == [OPENMPI, SQLITE]
    assert history.busiest_keys(example, top=1) == [OPENMPI]
    assert history.busiest_keys(sma.load(TINY)) == []


def test_explorer_shows_the_timeline_of_the_selected_build(example: sma.MonitorData) -> None:
    ex = sma.explore(example)
    assert ex.history_keys == [OPENMPI, SQLITE]
    ex.select(package="sqlite", compiler="clang")
    view = ex.history.value
    assert f"<b>History of {SQLITE}</b> (2 attempts)" in view
    rows = _cells(view[view.index("History of") :])
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1 (shown)", "2026-11-22 03:15", "x failed"),
        ("2", "2026-11-23 03:15", "+ succeeded"),
    ]
    # new errors at attempt 1, the same three fixed at attempt 2 (the last two columns)
    assert (rows[0][-2], rows[0][-1]) == ("3", "")
    assert (rows[1][-2], rows[1][-1]) == ("", "3")
    header = re.findall(r"<th>(.*?)</th>", view[view.index("History of") :])
    assert header[4:7] == ["configure", "build", "install"]
    # beside the first error: new (the key's previous attempt did not have it)
    assert re.search(r"class <code>out_of_memory_killed</code> <b[^>]*>\[new\]</b>", ex.log.value)


def test_explorer_marks_fixed_errors_of_a_later_attempt(example: sma.MonitorData) -> None:
    ex = sma.explore(example)
    ex.select(package="sqlite", compiler="clang")
    ex.build.value = ex.build.options[1][1]  # the second attempt, which built
    assert "outcome <b>succeeded</b><br>no error<br>fixed since the previous attempt:" in (
        ex.log.value
    )
    fixed = f'<span style="color:{palette.FIXED_ERROR_COLOR}">[fixed]</span> {KILLED}</li>'
    assert fixed in ex.log.value
    assert "2 (shown)" in ex.history.value


def test_timeline_marks_new_and_fixed_errors_in_the_palettes_colours(example) -> None:
    """The timeline's "N new" / "N fixed" notes take the explorer's colours: palette.py's."""
    from matplotlib.colors import to_hex

    ax = sma.plot_timeline(example, SQLITE)
    notes = {t.get_text(): to_hex(t.get_color()) for t in ax.texts}
    assert notes["3 new"] == palette.OUTCOME_COLORS["failed"]
    assert notes["3 fixed"] == palette.FIXED_ERROR_COLOR
    ax.figure.clf()


def test_explorer_marks_a_recurring_error(example: sma.MonitorData) -> None:
    ex = sma.explore(example)
    ex.select(package="openmpi")
    first, _clang, second = (value for _label, value in ex.build.options)
    assert ex.build.value == first and "[new]" in ex.log.value  # the first failure
    ex.build.value = second  # the same build key failing again, four days later
    assert "PMIX_MODEL_LIBRARY_NAME" in ex.log.value
    assert re.search(r"<b>\[recurring since 2026-11-21 02:00 UTC\]</b>", ex.log.value)


def test_explorer_says_when_a_build_key_has_one_attempt(example: sma.MonitorData) -> None:
    ex = sma.explore(example)
    ex.select(package="zlib")
    assert "Flaky with the same inputs (0)</b>: none among 2 build key(s) with a history" in (
        ex.history.value
    )
    assert re.search(r"<i>zlib@1\.2\.11 [^<]*: one attempt, no history</i>", ex.history.value)


def test_explorer_without_a_history_shows_none() -> None:
    ex = sma.explore(sma.load(TINY))
    assert ex.history_keys == [] and ex.history.value == ""
    assert "[new]" not in ex.log.value


def test_explorer_lists_the_flaky_builds(flaky_history: sma.MonitorData) -> None:
    flaky = history.flaky_builds(flaky_history)
    assert len(flaky) >= 2
    ex = sma.explore(flaky_history)
    view = ex.flaky_view()
    assert view.startswith(f"<b>Flaky with the same inputs ({len(flaky)})</b>")
    rows = _cells(view)
    assert len(rows) == len(flaky)
    for row, (_, f) in zip(rows, flaky.iterrows(), strict=True):
        assert row[0].endswith("/" + f["full_hash"][:7])
        assert row[1:4] == [str(f["attempts"]), str(f["failed"]), str(f["transitions"])]
        assert row[6] == " ".join("x" if o == "failed" else "+" for _a, _t, o in f["evidence"])
        assert "x" in row[6] and "+" in row[6]
    assert ex.history.value.startswith(view)


def test_plot_timeline_without_a_key_draws_the_busiest(example: sma.MonitorData) -> None:
    ax = plots.plot_timeline(example)
    assert ax.get_title().replace("\n", " ").startswith(f"History of {OPENMPI}")
    assert "1 other key(s) with a history" in ax.get_title().replace("\n", " ")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2"]
    # the same drawing as naming the key
    named = plots.plot_timeline(example, OPENMPI)
    assert [p.get_height() for p in ax.patches] == [p.get_height() for p in named.patches]


def test_plot_timeline_without_a_history_says_so() -> None:
    ax = plots.plot_timeline(sma.load(TINY))
    assert ax.get_title() == "Build history"
    assert "no build key has two attempts or more: no history to draw" in [
        t.get_text() for t in ax.texts
    ]


def test_write_plots_adds_the_trend_and_timeline_of_a_history(
    example: sma.MonitorData, tmp_path: Path
) -> None:
    paths = R.write_plots(example, tmp_path / "with")
    names = [p.name for p in paths]
    assert names == [f"{s}.png" for s, _, _ in R.PLOTS] + ["failure-trends.png", "timeline.png"]
    for path in paths:
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000, path.name
    page = R.write_html_report(example, tmp_path / "r.html").read_text()
    assert '<figure id="timeline">' in page and '<figure id="failure-trends">' in page
    assert f"History of {OPENMPI}, the build key with the most attempts" in page

    tiny = R.write_plots(sma.load(TINY), tmp_path / "without")
    assert [p.name for p in tiny] == [f"{s}.png" for s, _, _ in R.PLOTS]
