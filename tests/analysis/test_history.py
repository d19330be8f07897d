"""Build history (spackmon_analysis.history): attempts from every source, new/recurring/fixed
errors, flaky builds, changes that stayed, slower phases, trends, failure cost and failure
groups, on real Spack runs (copied as later runs, loaded in several orders) and on generated
histories with known answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from testlib import copy_run

import spackmon_analysis as sma
from spackmon_analysis import history
from spackmon_analysis.errors import ConfigError
from spackmon_analysis.frames import MonitorData, load_install_tree, load_save_local
from spackmon_analysis.synth import generate_history

DATA = Path(__file__).resolve().parents[1] / "data"
SAVE_LOCAL = DATA / "save-local"
SUCCESS = SAVE_LOCAL / "v0.17.1-success-tinyapp"
FAILURE = SAVE_LOCAL / "v0.17.1-failure-tinybrokenapp"
EXAMPLES = Path(sma.__file__).parent / "data" / "examples"


T0 = datetime(2026, 11, 28, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def real_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real Spack 0.17.1 runs as a history: tinyapp built, then tinybrokenapp failing
    three times (tinybroken's error each time, tinybrokenapp never built)."""
    folder = tmp_path_factory.mktemp("monitor")
    copy_run(SUCCESS, folder, T0)
    for day in (1, 2, 3):
        copy_run(FAILURE, folder, T0 + timedelta(days=day))
    return folder


# ---------------------------------------------------------------------------------
# attempts from every source


def test_save_local_runs_are_attempts_dated_by_their_run(real_history: Path) -> None:
    data = load_save_local(real_history)
    attempts = data.attempts
    assert len(attempts) == len(data.builds) == 3 + 3 * 2
    assert list(attempts["attempt"]) == list(data.builds["build"])
    assert attempts["latest"].all() and (attempts["number"] == 1).all()
    assert not data.has_attempt_rows
    table = history.attempt_table(data)
    broken = table[table["spec_name"] == "tinybroken"]
    assert list(broken["seq"]) == [1, 2, 3]
    assert [t.to_pydatetime() for t in broken["started_at"]] == [
        T0 + timedelta(days=d) for d in (1, 2, 3)
    ]
    assert set(broken["key"]) == {"tinybroken@0.9 %gcc@12.2.0 arch=debian12-icelake"}
    tinybase = table[table["spec_name"] == "tinybase"]
    assert tinybase["key"].iloc[0] == "tinybase@1.0 +shared %gcc@12.2.0 arch=debian12-icelake"
    # a dependent that never built did not run: it has no say in error or time history
    assert not table.loc[table["spec_name"] == "tinybrokenapp", "ran"].any()
    assert len(data.attempt_phases) == len(data.phases)
    assert len(data.attempt_events) == len(data.events)


def test_install_trees_give_one_attempt_per_prefix_or_stage() -> None:
    data = load_install_tree(DATA / "installs" / "v0.17.1")
    attempts = data.attempts
    assert len(attempts) == len(data.builds) == 2
    outcomes = dict(zip(data.builds["spec_name"], attempts["outcome"], strict=True))
    assert outcomes == {"tinyutil": "succeeded", "tinybroken": "failed"}
    assert attempts["started_at"].notna().all()


def test_junit_and_cdash_reports_give_one_attempt_per_package() -> None:
    junit = sma.load_junit(DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp")
    cdash = sma.load_cdash(DATA / "reports" / "v0.22.1-cdash-success-tinyapp")
    for data in (junit, cdash):
        assert list(data.attempts["attempt"]) == list(data.builds["build"])
        assert data.attempts["started_at"].notna().all()
    broken = history.attempt_table(junit).set_index("spec_name").loc["tinybroken"]
    assert broken["outcome"] == "failed" and broken["ran"]
    errors = history.error_history(junit)
    assert set(errors.loc[errors["spec_name"] == "tinybroken", "status"]) == {"new"}


def test_the_same_history_whatever_order_the_runs_are_loaded_in(real_history: Path) -> None:
    runs = sorted(p for p in real_history.iterdir())
    parts = [load_save_local(p) for p in runs]
    answers = []
    for order in ([0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]):
        data = MonitorData.concat([parts[i] for i in order])
        errors = history.error_history(data)
        answers.append(
            (
                history.attempt_table(data)[["attempt", "key", "seq"]].to_dict("records"),
                errors[["attempt", "status", "fingerprint"]].to_dict("records"),
                history.failure_cost(data)[["spec_name", "attempts_failed", "blocked"]].to_dict(
                    "records"
                ),
            )
        )
    assert answers[0] == answers[1] == answers[2]


# ---------------------------------------------------------------------------------
# new, recurring and fixed errors


def test_a_real_error_is_new_then_recurring(real_history: Path) -> None:
    data = load_save_local(real_history)
    errors = history.error_history(data)
    broken = errors[errors["spec_name"] == "tinybroken"]
    first = broken[broken["seq"] == 1]
    assert set(first["status"]) == {"new"}
    assert "broken.c:N:N: error: expected ',' or ';' before 'return'" in set(first["fingerprint"])
    assert first["previous_attempt"].isna().all()
    later = broken[broken["seq"] > 1]
    assert set(later["status"]) == {"recurring"}
    assert sorted(later["times_seen"].unique()) == [2, 3]
    # recurring rows name the attempt they are compared with and when the error first showed
    seq2 = later[later["seq"] == 2]
    assert set(seq2["previous_attempt"]) == set(first["attempt"])
    assert (later["first_seen"] == first["started_at"].iloc[0]).all()
    assert not (errors["spec_name"] == "tinybrokenapp").any()


def test_an_error_that_disappears_is_fixed_and_a_new_one_is_new() -> None:
    data = sma.load(EXAMPLES)
    errors = history.error_history(data)
    sqlite = errors[errors["spec_name"] == "sqlite"]
    # sqlite%clang failed (out of memory) then built: the errors of the failure are fixed
    assert list(sqlite["status"].unique()) == ["new", "fixed"]
    fixed = sqlite[sqlite["status"] == "fixed"]
    assert len(fixed) == 3 and (fixed["outcome"] == "succeeded").all()
    assert "clang: error: unable to execute command: Killed" in set(fixed["fingerprint"])
    # openmpi%gcc failed with one compiler error in two runs with a success (clang) between:
    # a different build key, so the second gcc failure is recurring
    openmpi = errors[(errors["spec_name"] == "openmpi") & (errors["compiler"] == "gcc@12.2.0")]
    assert list(openmpi.groupby("seq")["status"].agg(set)) == [{"new"}, {"recurring"}]
    with pytest.raises(ConfigError, match="kind='fatal'"):
        history.error_history(data, kind="fatal")


# ---------------------------------------------------------------------------------
# generated histories with known answers: precision and recall at the defaults


def _precision_recall(found: set, truth: set) -> tuple[float, float]:
    hit = len(found & truth)
    return (hit / len(found) if found else 1.0), (hit / len(truth) if truth else 1.0)


@pytest.fixture(scope="module")
def generated() -> list:
    return [generate_history(300, 20, seed=seed) for seed in (0, 1, 2)]


def test_flaky_detector_precision_and_recall_at_defaults(generated: list) -> None:
    found: set = set()
    truth: set = set()
    for g in generated:
        flaky = history.flaky_builds(g.data)
        assert flaky["flaky"].all()
        found |= {(g.data.source, h) for h in flaky["full_hash"]}
        truth |= {(g.data.source, h) for h in g.flaky}
        # the changes that stayed are never called flaky
        assert not set(flaky["full_hash"]) & (set(g.broken) | set(g.fixed))
    precision, recall = _precision_recall(found, truth)
    assert len(truth) == 90
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def test_flaky_rows_carry_their_evidence(generated: list) -> None:
    g = generated[0]
    flaky = history.flaky_builds(g.data)
    row = flaky.iloc[0]
    assert row["attempts"] == 20 == len(row["evidence"])
    outcomes = [o for _, _, o in row["evidence"]]
    assert outcomes.count("failed") == row["failed"]
    flips = sum(a != b for a, b in zip(outcomes, outcomes[1:], strict=False))
    assert row["transitions"] == flips and row["flip_rate"] == pytest.approx(flips / 19)
    assert row["passed_on_retry"] == sum(
        a == "failed" and b == "succeeded" for a, b in zip(outcomes, outcomes[1:], strict=False)
    )
    scores = history.flaky_builds(g.data, all_scores=True)
    assert len(scores) == 300 and scores["flaky"].sum() == len(flaky)
    # a smaller window sees fewer attempts
    assert (history.flaky_builds(g.data, window=5, all_scores=True)["attempts"] <= 5).all()


def test_changes_that_stayed_are_broken_or_fixed_since_an_attempt(generated: list) -> None:
    for g in generated:
        changes = history.outcome_changes(g.data)
        broken = changes[changes["change"] == "broken"]
        fixed = changes[changes["change"] == "fixed"]
        assert set(broken["full_hash"]) == set(g.broken)
        assert set(fixed["full_hash"]) == set(g.fixed)
        table = history.attempt_table(g.data).set_index("attempt")
        for _, row in broken.iterrows():
            assert table.loc[row["since"], "seq"] == g.broken[row["full_hash"]]
            assert table.loc[row["last_good"], "outcome"] == "succeeded"


def test_slowdown_detector_precision_and_recall_at_defaults(generated: list) -> None:
    found: set = set()
    truth: set = set()
    for g in generated:
        slow = history.slow_phases(g.data)
        alarms = slow[slow["alarm"]]
        for key, phase, seq in zip(alarms["key"], alarms["phase"], alarms["seq"], strict=True):
            start = g.slowdowns.get((key, phase))
            # an alarm counts when it comes within the attempts after the slowdown started
            hit = start is not None and start <= seq <= start + 5
            found.add((g.data.source, key, phase, hit))
        truth |= {(g.data.source, k, p, True) for k, p in g.slowdowns}
    alarmed = {(s, k, p) for s, k, p, _ in found}
    correct = {(s, k, p) for s, k, p, hit in found if hit}
    precision = len(correct) / len(alarmed)
    recall = len(correct) / len(truth)
    assert len(truth) == 90
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def _one_key_history(seconds: list[float]) -> MonitorData:
    """One spec built len(seconds) times, one day apart, its build phase taking ``seconds``."""
    n = len(seconds)
    keys = [f"b{i:02d}" for i in range(n)]
    times = [T0 + timedelta(days=i) for i in range(n)]
    builds = pd.DataFrame(
        {
            "build": keys,
            "run": [f"run{i:02d}" for i in range(n)],
            "run_time": times,
            "full_hash": "h" * 32,
            "spec_name": "zlib",
            "spec_version": "1.3",
            "compiler": "gcc@12.2.0",
            "status": "SUCCESS",
            "outcome": "succeeded",
            "source": "save-local",
        }
    )
    phases = pd.DataFrame(
        {"build": keys, "name": "build", "order": 0, "status": "SUCCESS", "duration": seconds}
    )
    return MonitorData(builds=builds, phases=phases)


def test_slow_phases_follow_cdash_rules_and_every_parameter_can_be_set() -> None:
    steady = [100.0, 101.0, 99.0, 100.0, 100.5, 99.5, 100.0]
    data = _one_key_history(steady + [130.0, 131.0, 129.0, 130.0, 130.5])
    slow = history.slow_phases(data)
    # three flags in a row raise the alarm; then the new speed is the baseline
    assert list(slow["seq"]) == [8, 9, 10]
    assert list(slow["flags_in_a_row"]) == [1, 2, 3]
    assert list(slow["alarm"]) == [False, False, True]
    first = slow.iloc[0]
    assert first["limit"] == pytest.approx(first["mean"] + 4 * max(first["deviation"], 1.0))
    assert list(history.slow_phases(data, alarm_after=2)["alarm"]) == [False, True]
    assert history.slow_phases(data, multiplier=40).empty
    assert history.slow_phases(data, min_deviation=10).empty  # 100 + 4 x 10 > 131
    # slow attempts inside the warm-up only train the baseline: nothing to flag after it
    assert history.slow_phases(data, warmup=9).empty
    # a single slow attempt is flagged but raises no alarm
    once = history.slow_phases(_one_key_history(steady + [130.0] + steady))
    assert list(once["seq"]) == [8] and not once["alarm"].any()
    for bad in ({"weight": 0}, {"alarm_after": 0}, {"multiplier": -1}, {"warmup": 0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            history.slow_phases(data, **bad)


# ---------------------------------------------------------------------------------
# trends, cost, groups


def test_failure_trends_per_day_and_week() -> None:
    data = sma.load(EXAMPLES)
    daily = history.failure_trends(data, freq="D", by="spec_name")
    row = daily[(daily["spec_name"] == "openmpi") & (daily["failed"] > 0)]
    assert len(row) == 2 and (row["failure_rate"] == 1.0).all()
    assert daily["attempts"].sum() == len(data.builds)
    weekly = history.failure_trends(data, freq="week", by=None)
    assert weekly["attempts"].sum() == len(data.builds)
    assert weekly["failed"].sum() == 3
    assert all(p.weekday() == 0 for p in weekly["period"])
    by_tag = history.failure_trends(data, by="tags")
    assert by_tag["attempts"].sum() == sum(len(t) or 1 for t in data.builds["tags"])
    with pytest.raises(ConfigError, match="freq='month'"):
        history.failure_trends(data, freq="month")
    with pytest.raises(ConfigError, match="by='nope'"):
        history.failure_trends(data, by="nope")


def test_failure_cost_counts_blocked_time_and_attempts() -> None:
    data = sma.load(EXAMPLES)
    cost = history.failure_cost(data)
    openmpi = cost[cost["spec_name"] == "openmpi"].iloc[0]
    assert openmpi["attempts_failed"] == 2
    assert openmpi["blocked"] == ["hdf5"] and openmpi["blocked_builds"] == 2
    hdf5 = data.builds[
        (data.builds["spec_name"] == "hdf5") & (data.builds["outcome"] == "succeeded")
    ]
    assert openmpi["blocked_seconds"] == pytest.approx(2 * hdf5["duration"].median())
    assert openmpi["error_class"] == "compiler_error"
    sqlite = cost[cost["spec_name"] == "sqlite"].iloc[0]
    assert sqlite["blocked"] == ["python"] and sqlite["attempts_failed"] == 1
    assert list(cost["spec_name"]) == ["openmpi", "sqlite"]  # most costly first


def test_failure_cost_names_blocked_packages_without_history(real_history: Path) -> None:
    data = load_save_local(real_history)
    cost = history.failure_cost(data)
    row = cost.iloc[0]
    assert row["spec_name"] == "tinybroken" and row["attempts_failed"] == 3
    assert row["blocked"] == ["tinybrokenapp"] and row["blocked_builds"] == 3
    # tinybrokenapp never built anywhere: no time to take, named instead of counted as 0 s
    assert row["no_history"] == ["tinybrokenapp"] and row["blocked_seconds"] == 0


def test_failure_groups_separate_infrastructure_from_package(generated: list) -> None:
    groups = history.failure_groups(sma.load(EXAMPLES))
    assert list(groups["group"]) == ["infrastructure", "package"]
    assert list(groups["error_class"]) == ["out_of_memory_killed", "compiler_error"]
    assert groups.attrs["groups"] == {"infrastructure": 1, "package": 2, "unclassified": 0}
    g = generated[0]
    generated_groups = history.failure_groups(g.data).set_index("error_class")
    flaky_failures = sum(
        (history.attempt_table(g.data).query("outcome == 'failed'")["full_hash"]).isin(g.flaky)
    )
    # the flaky builds fail by an out-of-memory kill (infrastructure), the broken by the compiler
    assert generated_groups.loc["out_of_memory_killed", "attempts"] == flaky_failures
    assert generated_groups.loc["compiler_error", "group"] == "package"


# ---------------------------------------------------------------------------------
# attempt rows a source gives itself


def _with_attempts() -> MonitorData:
    """A server-like build with three attempts: failed, failed, succeeded (latest)."""
    base = _one_key_history([10.0])
    attempts = pd.DataFrame(
        {
            "attempt": ["b00#1", "b00#2", "b00"],
            "build": "b00",
            "number": [1, 2, 3],
            "started_at": [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)],
            "status": ["FAILED", "FAILED", "SUCCESS"],
            "outcome": ["failed", "failed", "succeeded"],
            "latest": [False, False, True],
        }
    )
    phases = pd.DataFrame(
        {
            "attempt": ["b00#1", "b00#2", "b00"],
            "name": "build",
            "order": 0,
            "status": ["ERROR", "ERROR", "SUCCESS"],
            "duration": [3.0, 3.0, 10.0],
        }
    )
    events = pd.DataFrame(
        {
            "attempt": ["b00#1", "b00#2"],
            "phase": "build",
            "kind": "error",
            "text": "x.c:1:1: error: boom",
            "fingerprint": "x.c:N:N: error: boom",
            "primary_class": "compiler_error",
        }
    )
    return MonitorData(
        base.specs,
        base.dependencies,
        base.builds,
        base.phases,
        base.events,
        source="server",
        attempts={"attempts": attempts, "attempt_phases": phases, "attempt_events": events},
    )


def test_attempt_rows_given_by_a_source_are_kept_through_filter_and_concat() -> None:
    data = _with_attempts()
    assert data.has_attempt_rows and len(data.attempts) == 3
    errors = history.error_history(data)
    assert list(errors["status"]) == ["new", "recurring", "fixed"]
    assert len(data.filter(package="zlib").attempts) == 3
    assert len(data.filter(package="other").attempts) == 0
    joined = MonitorData.concat([data, _one_key_history([10.0, 11.0])])
    assert joined.has_attempt_rows
    assert len(joined.attempts) == 3 + 2
    # the second part's build keys were prefixed, its attempts with them
    assert set(joined.attempts["build"]) == set(joined.builds["build"])
    cost = history.failure_cost(data)
    assert cost.iloc[0]["attempts_failed"] == 2


def test_history_functions_refuse_what_is_not_monitor_data() -> None:
    for function in (
        history.attempt_table,
        history.error_history,
        history.flaky_builds,
        history.outcome_changes,
        history.slow_phases,
        history.failure_trends,
        history.failure_cost,
        history.failure_groups,
        history.timeline,
    ):
        with pytest.raises(ConfigError, match="MonitorData"):
            function(None)


def test_empty_data_gives_empty_answers() -> None:
    empty = MonitorData.empty()
    assert history.error_history(empty).empty
    assert history.flaky_builds(empty).empty
    assert history.slow_phases(empty).empty
    assert history.failure_trends(empty).empty
    assert history.failure_cost(empty).empty
    assert history.failure_groups(empty).empty
    assert history.timeline(empty).empty


# ---------------------------------------------------------------------------------
# views


def test_timeline_and_trend_plots(generated: list) -> None:
    matplotlib.use("Agg")
    from spackmon_analysis import plots

    g = generated[0]
    (key, phase), start = next(iter(g.slowdowns.items()))
    frame = history.timeline(g.data, key)
    assert list(frame["seq"]) == list(range(1, 21)) and phase in frame.columns
    assert frame[phase].iloc[start - 1] > 1.5 * frame[phase].iloc[: start - 1].median()
    ax = plots.plot_timeline(g.data, key)
    assert ax.get_title().startswith("History of")
    assert "!" in [t.get_text() for t in ax.texts]
    ax = plots.plot_failure_trends(g.data, by="compiler", top=2)
    assert len(ax.get_lines()) == 2 and "not shown" in ax.get_title()
    ax = plots.plot_failure_trends(MonitorData.empty())
    assert "no dated attempts" in [t.get_text() for t in ax.texts]
    with pytest.raises(ConfigError):
        plots.plot_failure_trends(None)


def test_reports_show_the_history(tmp_path: Path) -> None:
    from spackmon_analysis import report

    data = sma.load(EXAMPLES)
    text = report.failure_report(data)
    part = text[text.index("Build history (") :]
    assert part.startswith("Build history (2 build keys with more than one attempt)")
    sqlite = next(ln for ln in part.splitlines() if ln.startswith("* sqlite@3.36.0"))
    assert sqlite.endswith(": x +")  # failed, then built
    assert "    attempt 2: fixed: clang: error: unable to execute command: Killed" in part
    assert "failed attempts: infrastructure 1, package 2, unclassified 0" in part
    assert "failed 2 attempt(s), blocked 2 build(s) (hdf5)" in part
    # the root cause's first error says whether its build key had it before
    first = next(ln for ln in text.splitlines() if ln.startswith("  first error in run"))
    assert "[new]: " in first and "PMIX_MODEL_LIBRARY_NAME" in first
    page = report.write_html_report(data, tmp_path / "r.html").read_text()
    assert "<h2>Build history (2 build keys with more than one attempt)</h2>" in page
    assert "<h3>Flaky with the same inputs (0)</h3>" in page and "[new]: <code>" in page


def test_reports_show_flaky_builds_and_slow_phases_of_a_long_history() -> None:
    from spackmon_analysis import report

    # 60 specs x 20 attempts (1,200 builds: 6 flaky, 6 slowed) hold every section the check
    # reads; the 300-spec histories of ``generated`` took five times as long to report
    g = generate_history(60, 20, seed=1)
    assert len(g.flaky) >= 3 and len(g.slowdowns) >= 3
    text = report.failure_report(g.data, context=False)
    flaky = text[text.index("Flaky with the same inputs (") :]
    assert flaky.startswith(f"Flaky with the same inputs ({len(g.flaky)})")
    slow = text[text.index("Slower phases (") :]
    assert slow.startswith(
        f"Slower phases ({len(history.slow_phases(g.data).query('alarm'))} alarms)"
    )
    (key, phase), start = next(iter(g.slowdowns.items()))
    assert f"* {key} {phase}: attempt " in slow


def test_a_report_without_history_says_so(real_history: Path) -> None:
    from spackmon_analysis import report

    text = report.failure_report(load_save_local(SUCCESS))
    assert "No build key (package, version, variants, compiler, target, OS) has more" in text
    assert "[new]" not in text


def test_a_report_and_the_explorer_work_out_the_attempt_table_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The history questions of a report (or the explorer) all start from the attempt table:
    it is worked out once per data object (history.one_attempt_table), not once a question,
    and each question gets a copy of its own."""
    from spackmon_analysis import report

    data = sma.load(EXAMPLES)
    made: list[int] = []
    real = history._attempt_table
    monkeypatch.setattr(history, "_attempt_table", lambda d: made.append(id(d)) or real(d))
    text = report.failure_report(data)
    assert made == [id(data)] and "Build history (2 build keys" in text
    made.clear()
    sma.explore(data)
    assert made == [id(data)]
    made.clear()
    summary = history.history_summary(data)
    assert made == [id(data)] and summary.flaky.equals(history.flaky_builds(data))
    # outside a block, each call works it out; inside, a change to one copy stays there
    history.attempt_table(data)
    assert len(made) == 3  # the call above and flaky_builds'
    with history.one_attempt_table():
        first = history.attempt_table(data)
        first["key"] = "changed"
        again = history.attempt_table(data)
        other = history.attempt_table(load_save_local(SUCCESS))
    assert len(made) == 5 and (again["key"] != "changed").all() and len(other) == 3
