"""failures.py on the real data, checked against the raw files and the manifest.

Every expected number below is computed here from the save-local JSON files (spec
documents, metadata, phase and status files) or from ``examples/data/manifest.json``,
never from the frames or the functions under test.
"""

from __future__ import annotations

import importlib
import json
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from spackmon_analysis.errors import ConfigError
from spackmon_analysis.frames import MonitorData, load_save_local

F = importlib.import_module("spackmon_analysis.failures")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "spackmon_analysis" / "data" / "examples"
SAVE_LOCAL = EXAMPLES / "save-local"
MANIFEST = json.loads((EXAMPLES / "manifest.json").read_text())
TINY = ROOT / "tests" / "data" / "save-local"
FAILURE_CLASS = {"compile": "compiler_error", "killed": "out_of_memory_killed"}


# ---------------------------------------------------------------------------------
# independent reading of the raw files
# ---------------------------------------------------------------------------------


def raw_runs(root: Path) -> dict[str, dict]:
    """run -> {"builds": {id: {...}}, "children": {hash: set}, "names": {hash: name}}."""
    runs = {}
    for run in sorted(p for p in root.iterdir() if p.is_dir()):
        names, versions, compilers, children = {}, {}, {}, defaultdict(set)
        for spec_file in run.glob("spec-*-config.json"):
            for node in json.loads(spec_file.read_text())["spec"]["nodes"]:
                key = node.get("full_hash") or node["hash"]
                names[key] = node["name"]
                versions[key] = node["version"]
                compilers[key] = f"{node['compiler']['name']}@{node['compiler']['version']}"
                for dep in node.get("dependencies", []):
                    children[key].add(dep.get("full_hash") or dep["hash"])
        builds = {}
        for meta_file in run.glob("build-metadata-*.json"):
            build_id = meta_file.name[len("build-metadata-") : -len(".json")]
            meta = json.loads(meta_file.read_text())
            status_file = run / f"build-{build_id}-status.json"
            phases = {
                json.loads(p.read_text())["phase_name"]: json.loads(p.read_text())
                for p in run.glob(f"build-{build_id}-phase-*.json")
            }
            builds[build_id] = {
                "full_hash": meta["full_hash"],
                "name": names[meta["full_hash"]],
                "version": versions[meta["full_hash"]],
                "compiler": compilers[meta["full_hash"]],
                "host_target": meta["host_target"],
                "status": json.loads(status_file.read_text())["status"]
                if status_file.exists()
                else None,
                "phases": phases,
            }
        runs[run.name] = {"builds": builds, "children": children, "names": names}
    return runs


def depends_on(children: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def expected_rows(root: Path) -> dict[tuple[str, str], dict]:
    """(run, build id) -> what failures() must say, from the files alone."""
    rows = {}
    for run, info in raw_runs(root).items():
        builds = info["builds"]
        causes = {
            b: v
            for b, v in builds.items()
            if any(p["status"] == "ERROR" for p in v["phases"].values())
        }
        blocked = {
            b: v
            for b, v in builds.items()
            if b not in causes and v["status"] in ("FAILED", "CANCELLED")
        }
        for b, v in blocked.items():
            deps = depends_on(info["children"], v["full_hash"])
            rows[run, b] = {
                "role": "blocked",
                "name": v["name"],
                "blocked_by": sorted(
                    {c["name"] for c in causes.values() if c["full_hash"] in deps}
                ),
            }
        for b, v in causes.items():
            direct = sorted(
                {
                    x["name"]
                    for x in blocked.values()
                    if v["full_hash"] in info["children"].get(x["full_hash"], ())
                }
            )
            transitive = sorted(
                {
                    x["name"]
                    for x in blocked.values()
                    if v["full_hash"] in depends_on(info["children"], x["full_hash"])
                }
            )
            phase = next(n for n, p in v["phases"].items() if p["status"] == "ERROR")
            output = v["phases"][phase]["output"].splitlines()
            line_no, line = next(
                (i, ln) for i, ln in enumerate(output, 1) if re.search(r"\berror\b", ln, re.I)
            )
            rows[run, b] = {
                "role": "root cause",
                "name": v["name"],
                "status": v["status"],
                "failed_phase": phase,
                "first_error": line.strip(),
                "line_no": line_no,
                "blocked_direct": direct,
                "blocked_transitive": transitive,
            }
    return rows


@pytest.fixture(scope="module")
def example() -> MonitorData:
    return load_save_local(SAVE_LOCAL)


@pytest.fixture(scope="module")
def tiny() -> MonitorData:
    return load_save_local(TINY)


@pytest.fixture(scope="module")
def found(example: MonitorData) -> pd.DataFrame:
    return F.failures(example)


# ---------------------------------------------------------------------------------
# failures() on the real data
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("root", [SAVE_LOCAL, TINY], ids=["example", "tests-data"])
def test_failures_match_raw_files(root: Path) -> None:
    found = F.failures(load_save_local(root))
    expected = expected_rows(root)
    assert list(found.columns) == F.FAILURE_COLUMNS
    assert {(r, b) for r, b in zip(found["run"], found["build"], strict=True)} == set(expected)
    for _, row in found.iterrows():
        want = expected[row["run"], row["build"]]
        assert row["role"] == want["role"]
        assert row["spec_name"] == want["name"]
        if want["role"] == "blocked":
            assert row["blocked_by"] == want["blocked_by"]
            assert row["status"] == "FAILED"
            assert row["failed_phase"] is None and row["first_error"] is None
            assert row["blocked_direct"] == [] and row["blocked_transitive"] == []
        else:
            assert row["failed_phase"] == want["failed_phase"]
            assert row["first_error"].strip() == want["first_error"]
            assert row["error_line_no"] == want["line_no"]
            assert want["first_error"] in row["error_context"]
            assert row["blocked_direct"] == want["blocked_direct"]
            assert row["blocked_transitive"] == want["blocked_transitive"]
            assert row["blocked_by"] == []
    # root causes come first within each run
    for _, group in found.groupby("run", sort=False, observed=True):
        roles = list(group["role"])
        assert roles == sorted(roles, key=lambda r: r != "root cause")


def test_plain_repr_leads_with_package_role_and_first_error(found: pd.DataFrame) -> None:
    # what `failures(data)` prints in a notebook or a REPL at pandas' usual 12 columns
    with pd.option_context("display.width", 120, "display.max_columns", 12):
        text = repr(found)
    header = text.splitlines()[0].split()
    assert header[:4] == ["spec_name", "role", "first_error", "blocked_by"]
    first = text.splitlines()[1]
    assert "openmpi" in first and "root cause" in first and "pmix3x_client" in first
    hdf5 = next(line for line in text.splitlines() if " hdf5 " in line)
    assert "blocked" in hdf5 and "[openmpi]" in hdf5


def test_plain_repr_at_pandas_defaults(found: pd.DataFrame) -> None:
    """At pandas' default 80 columns (a plain Python REPL), pandas alone would print
    ``spec_name ... build``: the repr shows the leading columns that fit and names the
    others; a wide display shows more; derived frames are plain DataFrames."""
    with pd.option_context("display.width", 80, "display.max_columns", 20):
        text = repr(found)
    lines = text.splitlines()
    assert lines[0].split() == ["spec_name", "role", "first_error"]
    assert "openmpi" in lines[1] and "root cause" in lines[1] and "pmix3x_client" in lines[1]
    assert max(len(line) for line in lines[:-1]) <= 80
    assert lines[-1].startswith(f"[{len(found)} rows x {len(found.columns)} columns; not shown: ")
    assert "blocked_by" in lines[-1] and lines[-1].endswith("full_hash, build]")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        wide = repr(found).splitlines()
    assert wide[0].split()[:5] == ["spec_name", "role", "first_error", "blocked_by", "failed_phase"]
    assert type(found[found["role"] == "blocked"]) is pd.DataFrame
    with pd.option_context("display.width", 80, "display.max_columns", None):
        assert repr(found) == repr(pd.DataFrame(found))  # every column asked for


def test_manifest_story(found: pd.DataFrame) -> None:
    """The manifest's failures: which package, which run, what kind, what it blocked."""
    expected = set()
    blocked = set()
    for run in MANIFEST["runs"]:
        for name, build in run["builds"].items():
            if "failure" in build:
                expected.add(
                    (run["directory"], name, run["compiler"], FAILURE_CLASS[build["failure"]])
                )
            elif build["status"] == "FAILED":
                blocked.add((run["directory"], name, run["compiler"]))
    causes = found[found["role"] == "root cause"]
    got = {
        (r["run"], r["spec_name"], r["compiler"], r["error_class"]) for _, r in causes.iterrows()
    }
    assert got == expected
    never = found[found["role"] == "blocked"]
    assert {(r["run"], r["spec_name"], r["compiler"]) for _, r in never.iterrows()} == blocked
    # openmpi twice with the same fingerprint; the sqlite error is the Killed line
    openmpi = causes[causes["spec_name"] == "openmpi"]
    assert len(openmpi) == 2 and openmpi["fingerprint"].nunique() == 1
    assert "PMIX_MODEL_LIBRARY_NAME" in openmpi["first_error"].iloc[0]
    sqlite = causes[causes["spec_name"] == "sqlite"].iloc[0]
    assert sqlite["first_error"] == "clang: error: unable to execute command: Killed"
    assert sqlite["blocked_direct"] == ["python"]


def test_spack_017_tinybroken(tiny: MonitorData) -> None:
    """PROTOCOL 6: the failed package has an ERROR phase and no status file; its
    dependent has FAILED and no phases; no CANCELLED."""
    run = TINY / "v0.17.1-failure-tinybrokenapp"
    broken_id = "1ab48b1b401db81a0b850246f96a0136"
    app_id = "5dc1b4dfa0a36b7fe9009965aa24e445"
    assert not (run / f"build-{broken_id}-status.json").exists()
    assert not list(run.glob(f"build-{app_id}-phase-*.json"))
    assert json.loads((run / f"build-{app_id}-status.json").read_text())["status"] == "FAILED"

    found = F.failures(tiny).set_index("build")
    assert sorted(found.index) == sorted([broken_id, app_id])
    cause, app = found.loc[broken_id], found.loc[app_id]
    assert (cause["role"], cause["spec_name"], cause["spec_version"]) == (
        "root cause",
        "tinybroken",
        "0.9",
    )
    assert cause["status"] is None  # no status file
    assert cause["failed_phase"] == "build"
    assert cause["first_error"] == "broken.c:4:3: error: expected ',' or ';' before 'return'"
    assert cause["error_class"] == "compiler_error"
    assert cause["fingerprint"] == "broken.c:N:N: error: expected ',' or ';' before 'return'"
    assert cause["blocked_direct"] == cause["blocked_transitive"] == ["tinybrokenapp"]
    assert (app["role"], app["status"], app["blocked_by"]) == ("blocked", "FAILED", ["tinybroken"])
    # the success run contributes nothing
    assert set(found["run"]) == {"v0.17.1-failure-tinybrokenapp"}


# ---------------------------------------------------------------------------------
# hand-built frames: transitive blocking, run isolation, server-like data, fallbacks
# ---------------------------------------------------------------------------------


def _data(builds, edges, phases, events=None) -> MonitorData:
    builds = pd.DataFrame(builds)
    if "spec_version" not in builds:
        builds["spec_version"] = "1.0"
    if "compiler" not in builds:
        builds["compiler"] = "gcc@12.2.0"
    if "full_hash" not in builds:
        builds["full_hash"] = builds["spec_name"] + "-hash"
    deps = pd.DataFrame(
        [(f"{p}-hash", f"{c}-hash", p, c, "build,link") for p, c in edges],
        columns=["parent_hash", "child_hash", "parent_name", "child_name", "deptypes"],
    )
    phases = pd.DataFrame(
        phases, columns=["build", "name", "order", "status", "output", "duration"]
    )
    return MonitorData(builds=builds, dependencies=deps, phases=phases, events=events)


def test_transitive_chain_and_run_isolation() -> None:
    # app -> mid -> base (base fails); other -> base; run2: base fails, nothing blocked;
    # run3: app FAILED but base built: blocked by nothing.
    builds = [
        {"build": "b1", "run": "r1", "spec_name": "base", "status": None},
        {"build": "m1", "run": "r1", "spec_name": "mid", "status": "FAILED"},
        {"build": "a1", "run": "r1", "spec_name": "app", "status": "FAILED"},
        {"build": "o1", "run": "r1", "spec_name": "other", "status": "CANCELLED"},
        {"build": "b2", "run": "r2", "spec_name": "base", "status": None},
        {"build": "a3", "run": "r3", "spec_name": "app", "status": "FAILED"},
        {"build": "b3", "run": "r3", "spec_name": "base", "status": "SUCCESS"},
    ]
    edges = [("app", "mid"), ("mid", "base"), ("other", "base")]
    phases = [
        ("b1", "build", 0, "ERROR", "make: *** [Makefile:3: all] Error 2\n", 1.0),
        ("b2", "build", 0, "ERROR", "cc: error: foo.c: No such file or directory\n", 1.0),
        ("b3", "build", 0, "SUCCESS", "ok\n", 1.0),
    ]
    found = F.failures(_data(builds, edges, phases)).set_index("build")
    assert found.loc["b1", "blocked_direct"] == ["mid", "other"]
    assert found.loc["b1", "blocked_transitive"] == ["app", "mid", "other"]
    assert found.loc["a1", "blocked_by"] == ["base"]
    assert found.loc["o1", "role"] == "blocked"  # CANCELLED, no phase: never built
    assert found.loc["b2", "blocked_transitive"] == []
    assert found.loc["a3", "blocked_by"] == []
    assert "b3" not in found.index
    # no events frame given: the first error comes from the failed phase's last line
    assert found.loc["b1", "first_error"] == "make: *** [Makefile:3: all] Error 2"
    assert found.loc["b1", "error_class"] == "make_failure"


def test_builds_without_run_form_one_group() -> None:
    builds = [
        {"build": "1", "spec_name": "base", "status": None},
        {"build": "2", "spec_name": "app", "status": "FAILED"},
    ]
    phases = [("1", "install", 0, "ERROR", "", None)]
    found = F.failures(_data(builds, [("app", "base")], phases)).set_index("build")
    assert found.loc["2", "blocked_by"] == ["base"]
    assert found.loc["1", "failed_phase"] == "install"
    assert found.loc["1", "first_error"] is None
    assert found.loc["1", "error_class"] == "unclassified"


def test_empty_data() -> None:
    empty = MonitorData.empty()
    assert list(F.failures(empty).columns) == F.FAILURE_COLUMNS
    assert F.failures(empty).empty
    assert F.flaky(empty).empty
    assert F.error_fingerprints(empty).empty
    assert F.phase_times(empty).empty
    summary = F.class_summary(empty)
    assert list(summary["class"]) == ["unclassified"] and summary.attrs["root_causes"] == 0
    assert F.failure_rates(empty, by="compiler").empty


# ---------------------------------------------------------------------------------
# summaries on the real data
# ---------------------------------------------------------------------------------


def _raw_outcomes() -> list[dict]:
    out = []
    for run, info in raw_runs(SAVE_LOCAL).items():
        for b, v in info["builds"].items():
            error = any(p["status"] == "ERROR" for p in v["phases"].values())
            out.append(
                {
                    "run": run,
                    "build": b,
                    **v,
                    "failed": error,
                    "blocked": not error and v["status"] == "FAILED",
                    "succeeded": not error and v["status"] == "SUCCESS",
                }
            )
    return out


def test_failure_rates_by_compiler_and_tags(example: MonitorData) -> None:
    raw = _raw_outcomes()
    rates = F.failure_rates(example, by="compiler").set_index("compiler")
    for compiler in {r["compiler"] for r in raw}:
        mine = [r for r in raw if r["compiler"] == compiler]
        row = rates.loc[compiler]
        assert row["builds"] == len(mine)
        assert row["failed"] == sum(r["failed"] for r in mine)
        assert row["blocked"] == sum(r["blocked"] for r in mine)
        assert row["succeeded"] == sum(r["succeeded"] for r in mine)
        assert row["failure_rate"] == pytest.approx(row["failed"] / len(mine))
    assert list(rates.index)[0] == "gcc@12.2.0"  # the persistent failure sorts first
    tags = F.failure_rates(example, by="tags").set_index("tags")
    tag_runs = {run["directory"]: run["tags"] for run in MANIFEST["runs"]}
    assert tags.loc["retry", "builds"] == sum("retry" in tag_runs[r["run"]] for r in raw)
    assert tags.loc["nightly", "builds"] == len(raw)
    by_version = F.failure_rates(example, by="spec_version")
    assert list(by_version.columns[:2]) == ["spec_name", "spec_version"]
    multi = F.failure_rates(example, by=["spec_name", "host_target"])
    assert multi[["failed"]].sum().iloc[0] == sum(r["failed"] for r in raw)
    with pytest.raises(ConfigError, match="by='no_such_column'.*choose from: .*spec_name"):
        F.failure_rates(example, by="no_such_column")


def test_failure_matrix(example: MonitorData) -> None:
    raw = _raw_outcomes()
    matrix = F.failure_matrix(example)
    assert matrix.loc["openmpi", "gcc@12.2.0"] == 2
    assert matrix.loc["sqlite", "clang@14.0.6"] == 1
    assert matrix.to_numpy().sum() == sum(r["failed"] for r in raw)
    builds = F.failure_matrix(example, value="builds")
    assert builds.to_numpy().sum() == len(raw)
    assert set(builds.index) == {r["name"] for r in raw}
    rate = F.failure_matrix(example, value="rate")
    assert rate.loc["openmpi", "gcc@12.2.0"] == pytest.approx(
        2 / sum(r["name"] == "openmpi" and r["compiler"] == "gcc@12.2.0" for r in raw)
    )


def test_phase_times(example: MonitorData) -> None:
    raw = _raw_outcomes()
    times = F.phase_times(example)
    counts = defaultdict(int)
    for r in raw:
        for phase in r["phases"]:
            counts[r["name"], phase] += 1
    got = {(r["spec_name"], r["phase"]): r["count"] for _, r in times.iterrows()}
    assert set(got) <= set(counts) and all(got[k] <= counts[k] for k in got)
    assert {k[0] for k in got} == {r["name"] for r in raw if r["phases"]}
    assert times.groupby("spec_name")["share"].sum().round(9).eq(1).all()
    assert (times["min"] <= times["median"]).all() and (times["median"] <= times["max"]).all()
    overall = F.phase_times(example, by=None)
    assert overall["total"].sum() == pytest.approx(times["total"].sum())


def test_error_fingerprints(example: MonitorData) -> None:
    prints = F.error_fingerprints(example).set_index("fingerprint")
    compile_fp = "pmixNx_client.c:N:N: error: 'PMIX_MODEL_LIBRARY_NAME' undeclared (first use in this function)"
    openmpi_runs = sorted(
        run["directory"]
        for run in MANIFEST["runs"]
        if run["builds"].get("openmpi", {}).get("failure")
    )
    row = prints.loc[compile_fp]
    assert (row["runs"], row["status"], row["packages"]) == (2, "recurring", ["openmpi"])
    assert (row["first_seen"], row["last_seen"]) == (openmpi_runs[0], openmpi_runs[-1])
    killed = prints.loc["clang: error: unable to execute command: Killed"]
    assert (killed["runs"], killed["status"], killed["primary_class"]) == (
        1,
        "new",
        "out_of_memory_killed",
    )
    assert set(prints["status"]) == {"new", "recurring"}
    assert list(prints["count"]) == sorted(prints["count"], reverse=True)


def _raw_first_error_lines() -> dict[tuple[str, str], list[int]]:
    """(run, package) -> line numbers (1-based) of the error lines of its ERROR phase,
    read from the phase files: compiler errors and the make lines that echo them."""
    out = {}
    for run, info in raw_runs(SAVE_LOCAL).items():
        for v in info["builds"].values():
            for phase in v["phases"].values():
                if phase["status"] != "ERROR":
                    continue
                lines = phase["output"].splitlines()
                out[run, v["name"]] = [
                    i
                    for i, line in enumerate(lines, 1)
                    if re.search(r"\berror\b|\*\*\* .*Error \d+", line)
                ]
    return out


def test_error_fingerprints_count_one_per_failed_phase(example: MonitorData) -> None:
    """The make cascade under a compiler error is not counted as failures of its own."""
    raw = _raw_first_error_lines()
    failed_phases = len(raw)
    assert any(len(lines) > 1 for lines in raw.values())  # the data has the cascade
    firsts = F.error_fingerprints(example)
    assert firsts["count"].sum() == failed_phases  # one per failed phase
    assert set(firsts["primary_class"]) == {"compiler_error", "out_of_memory_killed"}
    assert not firsts["fingerprint"].str.contains("all-recursive").any()
    every = F.error_fingerprints(example, events="all")
    assert every["count"].sum() > failed_phases
    assert every["fingerprint"].str.contains("all-recursive").any()
    # class counts in class_summary follow the same rule
    summary = F.class_summary(example).set_index("class")
    assert "make_failure" not in summary.index
    assert summary.loc["compiler_error", "builds"] == 2
    # the first error event per failed phase is the one failures() reports
    found = F.failures(example)
    causes = found[found["role"] == "root cause"]
    firsts_text = set(F.first_errors(example)["text"])
    assert set(causes["first_error"]) == firsts_text
    assert F.first_errors(MonitorData.empty()).empty


def test_bad_arguments_raise_config_error(example: MonitorData) -> None:
    cases = [
        (F.failure_rates, {"by": "x"}, "by='x'"),
        (F.failure_rates, {"by": []}, "by="),
        (F.failure_matrix, {"rows": "x"}, "rows='x'"),
        (F.failure_matrix, {"cols": "x"}, "cols='x'"),
        (F.failure_matrix, {"value": "x"}, "value='x'"),
        (F.phase_times, {"by": "x"}, "by='x'"),
        (F.error_fingerprints, {"kind": "bogus"}, "kind='bogus'.*'error', 'warning', None"),
        (F.error_fingerprints, {"events": "some"}, "events='some'.*'first', 'all'"),
        (F.class_summary, {"events": "some"}, "events='some'"),
        (F.flaky, {"environment": ["nosuch"]}, "environment='nosuch'.*host_os"),
    ]
    for function, kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            function(example, **kwargs)
    from spackmon_analysis.report import failure_report

    for function in (
        F.failures,
        F.failure_rates,
        F.failure_matrix,
        F.phase_times,
        F.error_fingerprints,
        F.flaky,
        F.class_summary,
        F.outcomes,
        failure_report,
    ):
        with pytest.raises(ConfigError, match="data must be a MonitorData.*got NoneType"):
            function(None)
    # a valid non-default environment is used
    by_os = F.flaky(example, environment=["host_os"])
    assert list(by_os["spec_name"]) == ["sqlite"] and "host_target" not in by_os.columns


def test_flaky(example: MonitorData) -> None:
    flaky = F.flaky(example)
    raw = _raw_outcomes()
    by_key = defaultdict(list)
    for r in raw:
        by_key[r["full_hash"], r["host_target"]].append(r)
    expected = {
        k
        for k, rs in by_key.items()
        if any(r["failed"] for r in rs) and any(r["succeeded"] for r in rs)
    }
    assert {(r["full_hash"], r["host_target"]) for _, r in flaky.iterrows()} == expected
    assert len(flaky) == 1
    row = flaky.iloc[0]
    assert (row["spec_name"], row["compiler"]) == ("sqlite", "clang@14.0.6")
    runs = [run["directory"] for run in MANIFEST["runs"]]
    killed_run = next(
        run["directory"]
        for run in MANIFEST["runs"]
        if run["builds"].get("sqlite", {}).get("failure")
    )
    assert row["failed_runs"] == [killed_run]
    assert row["succeeded_runs"] and all(
        runs.index(r) > runs.index(killed_run) for r in row["succeeded_runs"]
    )
    assert row["error_class"] == "out_of_memory_killed"
    # openmpi failed twice and built once, but with clang: a different full hash, not flaky
    assert "openmpi" not in set(flaky["spec_name"])


def test_class_summary(example: MonitorData, found: pd.DataFrame) -> None:
    summary = F.class_summary(example).set_index("class")
    kinds = [
        b["failure"] for run in MANIFEST["runs"] for b in run["builds"].values() if "failure" in b
    ]
    for kind in set(kinds):
        assert summary.loc[FAILURE_CLASS[kind], "builds"] == kinds.count(kind)
    assert summary.loc["unclassified", "builds"] == 0
    assert summary["share"].sum() == pytest.approx(1.0)
    assert summary.attrs["root_causes"] == len(kinds)
    assert summary.attrs["unclassified_rate"] == 0.0
    assert summary.loc["compiler_error", "description"]
    assert F.class_summary(example, found).equals(F.class_summary(example))


def test_public_names() -> None:
    import spackmon_analysis as sma

    for name in (
        "failures",
        "failure_rates",
        "failure_matrix",
        "phase_times",
        "error_fingerprints",
        "flaky",
        "class_summary",
    ):
        assert getattr(sma, name) is getattr(F, name)
