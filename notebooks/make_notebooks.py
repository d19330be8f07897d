#!/usr/bin/env python3
"""Write and execute the six notebooks (their sources live here, their outputs in the .ipynb).

    python notebooks/make_notebooks.py [01 02 ...]

(with the Python of the environment the package is installed in). Each notebook is built
from the cell lists below, executed top to bottom in this Python's own kernel (the same
environment nbval's ``--nbval-current-env`` uses), and saved with its outputs, which
``tests/notebooks/test_notebooks.py`` then compares with nbval. Notebooks that draw put
``%matplotlib inline`` in their setup cell (``PLOT_SETUP``), so the figures are stored as
PNG whatever ``MPLBACKEND`` says (nbval does not compare ``image/png``, only the figure's
``text/plain`` line); outputs never print paths of this checkout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.manager import start_new_kernel

HERE = Path(__file__).resolve().parent


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, *tags: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def checked(text: str) -> nbformat.NotebookNode:
    """A code cell whose output nbval compares even under ``--nbval-lax``.

    nbval reads its markers from cell tags (``nbval-check-output``, ``nbval-ignore-output``),
    so the code a reader copies carries no test comments.
    """
    return code(text, "nbval-check-output")


def unchecked(text: str) -> nbformat.NotebookNode:
    """A code cell whose output truly varies between runs (ports, concurrent ids): not compared."""
    return code(text, "nbval-ignore-output")


def needs(module: str, text: str) -> nbformat.NotebookNode:
    """A code cell left out when ``spackmon_analysis.<module>`` cannot be imported."""
    cell = code(text)
    cell.metadata["spackmon_needs"] = module  # read by _available, removed before writing
    return cell


SETUP = """
import pandas as pd

import spackmon_analysis as sma

pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 12)
"""

#: Setup of the notebooks that draw: figures are shown inline (stored as PNG in the
#: notebook) at a modest resolution.
PLOT_SETUP = """
%matplotlib inline
import matplotlib.pyplot as plt

plt.rcParams["figure.dpi"] = 80
""" + SETUP

NB01 = [
    md("""
# 01 · Uploading a spec to a Spack Monitor

**Question:** if the same spec file is uploaded twice, does the monitor store it once, and can
we find it again by package name and read it back as a table?

We use `specs/singularity-3.6.4.json`, the spec of the Spack Monitor API tutorial
(root `singularity@3.6.4`, full hash `p64nmszwer36ly7pnch5fznni4cnmndg`, 8 direct
dependencies). The server is the embedded monitor on a free loopback port with a temporary
database, unless `SPACKMON_HOST` (plus `SPACKMON_USER` and `SPACKMON_TOKEN`) points at
another one.
"""),
    code(SETUP + """
import os
from pathlib import Path

from spackmon_analysis import LocalMonitor
from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.spec import load_spec

SPEC_FILE = Path("..") / "specs" / "singularity-3.6.4.json"
SPACK_VERSION = "0.16.0-1379-7a5351d495"  # the list format carries no version: give it, as the tutorial does
"""),
    md("## A server, a user and a token"),
    unchecked("""
if os.environ.get("SPACKMON_HOST"):
    monitor = None
    client = SpackMonitorClient(progress=False)  # SPACKMON_HOST / _USER / _TOKEN
else:
    monitor = LocalMonitor().start()
    token = monitor.add_user("notebook")
    client = monitor.client("notebook", progress=False)
print(monitor)
print(client)
"""),
    checked("""
info = client.service_info()
{key: info[key] for key in ("id", "status", "name")}
"""),
    md("## Upload the same file twice"),
    checked("""
first = client.upload_specfile(SPEC_FILE, SPACK_VERSION)
print(first["code"], first["data"]["created"], first["message"])
{key: first["data"]["spec"][key] for key in ("name", "version", "full_hash", "spack_version")}
"""),
    checked("""
second = client.upload_specfile(SPEC_FILE, SPACK_VERSION)
print(second["code"], second["data"]["created"], second["message"])
"""),
    checked("""
sorted(first["data"]["spec"]["specs"])
"""),
    md("## Look it up by name and pull it back as frames"),
    checked("""
rows = client.get_specs_by_name("singularity")
[(row["name"], row["version"], row["full_hash"]) for row in rows]
"""),
    checked("""
specs = client.specs().to_frame()
print(len(specs), "spec rows on the server")
specs.sort_values(["name", "full_hash"])[["name", "version", "full_hash"]].reset_index(drop=True).head(10)
"""),
    checked("""
graph = load_spec(SPEC_FILE)
print(graph.root.name, graph.root.version, len(graph), "nodes")
assert set(specs["full_hash"]) >= {node.full_hash for node in graph}
"""),
    md("""
## Answer

The first upload answered **201** with `created: True`, the second **200** with
`created: False` (the tutorial's `upload_config.py` prints "This package already exists in
the database." for that answer): the monitor stores the spec once, and its answer lists the 8
direct dependencies of the tutorial. Looking up
`singularity` by name returns exactly one row with full hash
`p64nmszwer36ly7pnch5fznni4cnmndg`, and every node of the file is among the pulled spec rows.
"""),
    code("""
if monitor is not None:
    monitor.stop()
"""),
]

NB02 = [
    md("""
# 02 · Replaying `--monitor-save-local` runs

**Question:** when builds ran without a server (`spack install --monitor
--monitor-save-local`), can the saved runs be uploaded later so that the server ends up with
the same answers as an offline analysis of the files, and is replaying twice harmless?

The runs are the bundled example data (six runs of Spack 0.17.1 over a 20-package stack,
`gcc@12.2.0` on icelake and `clang@14.0.6` on zen3; see `docs/demo.md`).
"""),
    code(SETUP + """
from spackmon_analysis import LocalMonitor

RUNS = sma.example_data_dir() / "save-local"
sorted(p.name for p in RUNS.iterdir())
"""),
    unchecked("""
monitor = LocalMonitor().start()
monitor.add_user("analyst")
client = monitor.client("analyst", progress=False)
monitor
"""),
    md("## First replay: everything is created"),
    checked("""
first = client.upload_local_save(RUNS, progress=False)
print(first)
"""),
    md("""
Each local build id (the 32-hex name in the files) maps to a server build id. A package
rebuilt in a later run with the same spec on the same host is the same server build, so
several local ids can map to one server id; each run is one **attempt** of that build, dated
by the run (`docs/server.md`, "Attempts").
"""),
    unchecked("""
mapping = pd.Series(first.build_ids, name="server build id").rename_axis("local id").sort_index()
print(len(mapping), "local ids ->", mapping.nunique(), "server builds")
mapping.head(8)
"""),
    md("## Second replay: nothing new"),
    checked("""
before = client.builds().to_frame().sort_values("id").reset_index(drop=True)
second = client.upload_local_save(RUNS, progress=False)
print(second)
after = client.builds().to_frame().sort_values("id").reset_index(drop=True)
print("created on the second replay:", sum(second.created.values()))
print("builds before/after:", len(before), len(after))
print("same builds and statuses:", before[["id", "full_hash", "status"]].equals(after[["id", "full_hash", "status"]]))
"""),
    md("""
The second replay finds every run's attempt as it was: nothing is created or updated. These
builds' runs said different things (a failure, then a rebuild that worked); the server keeps
each run as an attempt of the build instead of playing the runs over each other, and the
build row shows the latest:
"""),
    checked("""
local = sma.load_save_local(RUNS)
b = local.builds.assign(label=local.builds["spec_name"] + "%" + local.builds["compiler"].astype(str))
phases = local.phases.merge(b[["build", "run", "label", "full_hash", "host_target"]], on="build")
keys = ["full_hash", "host_target"]
for what, frame, by in [("status", b.dropna(subset=["status"]), keys), ("phase", phases, [*keys, "name"])]:
    for _, rows in frame.sort_values("run").groupby(by, observed=True):
        if rows["status"].astype(str).nunique() > 1:
            name = rows["label"].iloc[0] + (f" phase {rows['name'].iloc[0]}" if what == "phase" else " status")
            print(name + ": " + " -> ".join(f"{s} ({r[:10]})" for r, s in zip(rows["run"], rows["status"])))
"""),
    checked("""
attempts = client.pull("attempts").to_frame()
print(len(attempts), "attempts of", attempts["build"].nunique(), "server builds;", len(local.builds), "builds in the run files")
"""),
    md("""
## Offline and online answers agree (one run)

The same question, "what happened to each package, and what was the first error?", asked of
the files directly (offline: `read_save_local` and `parse_log`) and of a fresh server after
replaying that run (online: the client's pulls of builds, phases and extracted errors).
"""),
    code("""
from spackmon_analysis.logs import parse_log
from spackmon_analysis.loaders.savelocal import read_save_local

RUN = RUNS / "2026-11-21-02-00-07-1795226407"   # gcc/icelake hdf5: openmpi fails


def outcome(status, failed_phases):
    if failed_phases:
        return "failed in " + ",".join(failed_phases)
    return {"FAILED": "never built", "SUCCESS": "succeeded"}.get(status, str(status))


(run,) = read_save_local(RUN)
offline = pd.DataFrame(
    [
        (b.spec_name, outcome(b.status, [p.name for p in run.phases_of(b.key) if p.status == "ERROR"]))
        for b in run.builds
    ],
    columns=["package", "outcome"],
).sort_values("package").reset_index(drop=True)
offline_error = next(
    e.text for p in run.phases if p.status == "ERROR" for e in parse_log(p.output) if e.kind == "error"
)
"""),
    checked("""
with LocalMonitor() as single:
    single.add_user("analyst")
    one = single.client("analyst", progress=False)
    one.upload_local_save(RUN, progress=False)
    builds = one.builds().to_frame()
    phases = one.phases(output=0).to_frame()
    server_errors = one.errors().to_frame()

failed = phases[phases["status"] == "ERROR"].groupby("build")["name"].apply(list)
online = pd.DataFrame(
    [(row.spec_name, outcome(row.status, failed.get(row.id, []))) for row in builds.itertuples()],
    columns=["package", "outcome"],
).sort_values("package").reset_index(drop=True)
online_error = server_errors.sort_values(["build", "line_no"])["text"].iloc[0]

both = offline.merge(online, on="package", suffixes=("_offline", "_online"))
both
"""),
    checked("""
print("same outcome for every package:", (both["outcome_offline"] == both["outcome_online"]).all())
print("first error offline:", offline_error)
print("first error online: ", online_error)
"""),
    md("""
## Answer

The first replay created 4 root specs, 40 builds, 146 phases and 39 statuses (44 local
builds map to 40 server builds: a rebuild of the same spec on the same host is the same
build, so its later files count as "present" or "updated"); the second created nothing,
and the builds and their statuses are exactly the same afterwards.

The "updated" counts come from the clang nights of 2026-11-22 and 2026-11-23, played onto
the same two server builds: `sqlite`'s `build` phase (`ERROR`, killed, then `SUCCESS`) and
`python`'s status (`FAILED`, blocked by sqlite, then `SUCCESS`; sqlite itself has no status
file for its failed night, as Spack 0.17.1 writes none for the package whose phase failed).
The first replay updated each once (the second night overwrote the first: 1 phase, 1
status); the second replay plays both nights again onto the final state, so each is
overwritten twice (2 phases, 2 statuses) and ends where it was. For the run
`2026-11-21-02-00-07`, the offline analysis of the files and the analysis of what the
server returns give the same status for every package and the same root cause, `openmpi`.
"""),
    code("monitor.stop()"),
]

NB03 = [
    md("""
# 03 · Why did the builds fail, and whose problem is it?

**Question:** across six nightly runs of a 20-package stack on two compilers and two
targets, which packages failed by themselves, which only never built because something they
depend on failed, what does the first error say, which failures are flaky, and which compiler
is affected?

Everything here is offline: the bundled `--monitor-save-local` runs read straight from disk.
"""),
    md("""
### Two kinds of failed build: *root cause* and *blocked*

When one package fails, Spack stops there and marks every package that depends on it as
failed too, so a run's list of failed builds mixes two very different things:

* a **root cause** is a build that failed in one of its *own* phases (Spack recorded an
  `ERROR` phase for it, e.g. `build`): its log holds the error, and it is the thing to fix;
* a **blocked** build never started: a dependency failed first, so it has no phases, no log
  and no error of its own (Spack 0.17 gives it status `FAILED`). Fixing its root cause fixes it.

`sma.failures(data)` returns one row per such build, with `role` saying which of the two it is,
`first_error` the first error of a root cause, and `blocked_by` the root causes that blocked a
blocked build.
"""),
    code(PLOT_SETUP + """
data = sma.load_save_local(sma.example_data_dir() / "save-local")
print(len(data.builds), "builds in", len(data.runs), "runs of", data.builds["spec_name"].nunique(), "packages")
print(", ".join(data.runs))
data.outcome_counts()
"""),
    md("## Root causes and the dependents they blocked"),
    code("""
found = sma.failures(data)
found
"""),
    md("## The error events, with context"),
    code("""
events = data.events
errors = events[events["kind"] == "error"]
errors
"""),
    md("## Failure classes and the package × compiler matrix"),
    code("""
sma.failure_matrix(data)
"""),
    code("""
sma.failure_rates(data, by="compiler")
"""),
    code("""
ax = sma.plot_failure_matrix(data)
"""),
    code("""
ax = sma.plot_error_classes(data)  # one class per root-cause failure
"""),
    md("## Fingerprints over runs: the same error again, or a one-off?"),
    code("""
sma.error_fingerprints(data)
"""),
    code("""
sma.flaky(data)
"""),
    md("""
## The history: new or recurring, flaky or broken, what did it cost?

Every run is an attempt of the builds in it. Per *build key* (package, version, variants,
compiler, target, OS) an error is **new** when the previous attempt did not have it and
**fixed** when it goes away; the same inputs failing and passing back and forth is
**flaky** (`sma.flaky_builds`, which needs the outcome to flip at least twice: one failure
followed by a success is a change, `sma.outcome_changes`, until it happens again).
"""),
    code("""
changes = sma.error_history(data)
changes[changes["status"] != "recurring"][["spec_name", "compiler", "seq", "status", "fingerprint"]]
"""),
    code("""
key = changes.loc[changes["spec_name"] == "sqlite", "key"].iloc[0]
sma.timeline(data, key)[["seq", "outcome", "duration", "new_errors", "fixed_errors"]]
"""),
    code("""
ax = sma.plot_timeline(data, key)
"""),
    code("""
sma.failure_cost(data)[["spec_name", "compiler", "attempts_failed", "blocked", "blocked_seconds"]]
"""),
    code("""
sma.failure_groups(data)[["group", "error_class", "attempts", "packages"]]
"""),
    md("## The answer, checked"),
    checked("""
causes = found[found["role"] == "root cause"]
blocked = found[found["role"] == "blocked"]
print("root causes:", sorted(causes["spec_name"] + "%" + causes["compiler"].astype(str)))
print("blocked:", sorted(blocked["spec_name"]))
print("openmpi fingerprints:", causes.loc[causes["spec_name"] == "openmpi", "fingerprint"].nunique())
print("flaky:", list(sma.flaky(data)["spec_name"]))
print("classes:", dict(causes.groupby("spec_name")["error_class"].first()))
print("sqlite%clang errors:", sorted(set(changes.loc[changes["spec_name"] == "sqlite", "status"])))
print("groups:", sma.failure_groups(data).attrs["groups"])
"""),
    md("""
## Answer

* `openmpi@4.1.1%gcc@12.2.0` is a **root cause** twice, with the same fingerprint (an
  undeclared identifier in `pmix3x_client.c`): a reproducible package/compiler problem.
  Its dependent `hdf5` never built in either run.
* `sqlite@3.36.0%clang@14.0.6` failed once with `Killed` (out of memory on the build host)
  and built the next night: **flaky**, a system problem; `python` was blocked that night only.
* Only gcc has a persistent failure; clang's one failure did not repeat.
* The history says the same per build key: openmpi's error is new in its first failure and
  recurring in the second; sqlite's errors are fixed in the next attempt. One failure is
  infrastructure (out of memory), two are the package (a compiler error).
"""),
]

NB04 = [
    md("""
# 04 · Dependency graphs across spec format eras

**Question:** do spec files written by Spack releases from 0.16 to 0.22 give the same kind of
DAG, and what changed between the `singularity@3.6.4` and `singularity@3.8.0` DAGs?
"""),
    code(PLOT_SETUP + """
from pathlib import Path

from spackmon_analysis.spec import load_spec

SPECS = Path("..") / "tests" / "data" / "specs"
files = ["zlib-spack-0.16.3.json", "zlib-spack-0.17.1.yaml", "tinyapp-spack-0.19.0.json",
         "tinyapp-spack-0.21.2.json", "tinyapp-spack-0.22.1.json", "tinyapp-spack-0.22.1-buildcache.spec.json"]
graphs = {name: load_spec(SPECS / name) for name in files}
pd.DataFrame(
    [(name, g.format, g.root.name, g.root.version, len(g), len(g.edges)) for name, g in graphs.items()],
    columns=["file", "format", "root", "version", "nodes", "edges"],
)
"""),
    code("""
graphs["tinyapp-spack-0.22.1.json"].nodes_frame()[["name", "version", "external"]].sort_values("name").reset_index(drop=True)
"""),
    md("## A DAG coloured by build status"),
    needs("plots", """
data = sma.load_save_local(sma.example_data_dir() / "save-local" / "2026-11-21-02-00-07-1795226407")
ax = sma.plot_dependency_graph(data)
"""),
    md("## singularity 3.6.4 → 3.8.0"),
    code("""
old = load_spec(Path("..") / "specs" / "singularity-3.6.4.json")
new = load_spec(Path("..") / "specs" / "singularity-3.8.0.json")
print(old.root.name, old.root.version, old.root.full_hash, len(old))
print(new.root.name, new.root.version, new.root.full_hash, len(new))
diff = old.diff(new)
diff
"""),
    code("""
changes = diff.to_frame()
changes["change"].value_counts().sort_index()
"""),
    md("""
## Answer

Every era (list format of 0.16, `_meta` versions 2 to 4, the buildcache wrapper) reads into
the same `SpecGraph`; the node and edge counts in the first table can be checked against the
files (the 0.22 files add `gcc-runtime` and an external `glibc`).

From `singularity@3.6.4` (36 nodes) to `singularity@3.8.0` (35 nodes): `zstd` is added
(`squashfs +zstd`), `libgpg-error` and with it `gawk` are gone, ten packages changed version
(singularity 3.6.4 -> 3.8.0, go 1.15.5 -> 1.16.6, ...), `singularity` turned `network`
off, four edges went with `libgpg-error` and `gawk`, and all 34 packages present in both DAGs
have a new hash (a change anywhere below a package changes its hash; the root goes from
`p64nmszwer36ly7pnch5fznni4cnmndg` to `zngmidedubydjsqjftyhpwgtnognnyva`).
"""),
]

NB05 = [
    md("""
# 05 · Exploring multi-run build data

**Question:** can we narrow six runs of build data interactively to one package and compiler
and see its history? `sma.explore(data)` builds an ipywidgets explorer; here we drive it from
code with `.select(...)` so the notebook can be checked without clicking.
"""),
    code(SETUP + """
data = sma.load_save_local(sma.example_data_dir() / "save-local")
explorer = sma.explore(data)
"""),
    unchecked("""
explorer
"""),
    code("""
explorer.select(package="sqlite", compiler="clang")
"""),
    checked("""
picked = explorer.select(package="sqlite", compiler="clang")
print(picked[["run", "host_target", "outcome", "failed_phase", "first_error"]].to_string(index=False))
"""),
    md("""
## Answer

Selecting `sqlite` with `clang` shows two builds of the same spec on zen3: the first run was
killed in its `build` phase, the next one succeeded.
"""),
]

NB06 = [
    md("""
# 06 · Today's Spack: a JUnit report plus an install tree

**Question:** Spack 0.19 and newer have no monitor client. From what a CI job keeps instead, a
`spack install --log-format junit` report and the install tree, can we still say what failed,
why, and what it blocked?

The report is `tests/data/reports/v0.22.1-junit-failure-tinybrokenapp/junit-tinybrokenapp.xml`:
Spack 0.22.1 ran `spack install --log-format junit tinybrokenapp` right after `tinyapp` was
installed; it exited 1. The install tree is a Spack 0.22.1 prefix of `tinyutil`.
"""),
    code(SETUP + """
from pathlib import Path

DATA = Path("..") / "tests" / "data"
REPORT = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
TREE = DATA / "installs" / "v0.22.1"
DAG = DATA / "derived" / "tinybrokenapp-spack-0.22.1-zen3.json"

report = sma.load_junit(REPORT)
report
"""),
    md("One build per `<testcase>`: packages already installed or external are kept as `NOTRUN` with the tag `skipped`."),
    checked("""
print(report.builds[["spec_name", "dag_hash", "status", "outcome", "tags", "duration"]].to_string(index=False))
"""),
    md("""
## What failed, and why

`tinybroken`'s build log (`<system-out>`) is cut into phases on Spack's
`==> tinybroken: Executing phase: '<name>'` lines; the last one failed.
"""),
    checked("""
print(report.phases[["name", "status", "build_log_first_line", "output_size"]].to_string(index=False))
"""),
    checked("""
table = sma.failures(report)
table[["spec_name", "role", "failed_phase", "error_class", "first_error", "error_build_log_line"]]
"""),
    md("""
The report does not list `tinybrokenapp`: it never built, so Spack wrote no testcase for it.
Without a dependency DAG nothing can say it was blocked, and the data says so:
"""),
    checked("""
for where, message in report.notes:
    print(message)
"""),
    md("""
## The DAG and the install tree

`sma.load(report, spec_file, install_tree)` loads each with its loader; the spec file gives
the DAG (here: the DAG of the reported run, rebuilt in `tests/data/derived/` because the run
kept no spec file). `tinybrokenapp` appears as a blocked build of the report's run, exactly as
a monitor server would record it; the install tree adds its own build of `tinyutil`, with
phase durations from `install_times.json`.
"""),
    checked("""
data = sma.load(REPORT, DAG, TREE)
print(data.builds[["spec_name", "source", "status", "outcome", "tags"]].to_string(index=False))
"""),
    checked("""
table = sma.failures(data)
print(table[["spec_name", "role", "first_error", "blocked_by", "blocked_transitive"]].to_string(index=False))
"""),
    checked("""
sma.phase_times(data.filter(package="tinyutil"))
"""),
    md("""
## Answer

* `tinybroken@0.9` is the **root cause**: its `build` phase failed with
  `broken.c:4:3: error: expected ',' or ';' before 'return'`, line 6 of its build log (the
  `>> 6` Spack printed), a `compiler_error`.
* `tinybrokenapp@1.0` was **blocked** by it: absent from the report, found through the DAG.
* `tinybase`, `tinyutil` and `gcc-runtime` were already installed (skipped), `glibc` and
  `gmake` are external; the install tree shows `tinyutil` built, with its phase times.
"""),
]

NOTEBOOKS = {
    "01": ("01-upload.ipynb", NB01),
    "02": ("02-save-local-replay.ipynb", NB02),
    "03": ("03-build-failure-analysis.ipynb", NB03),
    "04": ("04-dependency-graphs.ipynb", NB04),
    "05": ("05-explorer.ipynb", NB05),
    "06": ("06-todays-spack.ipynb", NB06),
}


def execute(nb: nbformat.NotebookNode, cwd: Path) -> None:
    """Run every code cell in a fresh kernel of this Python and store its outputs."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(cwd))
    try:
        for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), 1):
            msg_id = kc.execute(cell.source)
            outputs = []
            while True:
                try:
                    msg = kc.get_iopub_msg(timeout=180)
                except Empty as exc:
                    raise RuntimeError(f"cell {count} timed out") from exc
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "status" and content["execution_state"] == "idle":
                    break
                if kind == "stream":
                    if outputs and outputs[-1].output_type == "stream" and outputs[-1].name == content["name"]:
                        outputs[-1].text += content["text"]
                    else:
                        outputs.append(nbformat.v4.new_output("stream", name=content["name"], text=content["text"]))
                elif kind in ("execute_result", "display_data"):
                    out = nbformat.v4.new_output(kind, data=content["data"], metadata=content["metadata"])
                    if kind == "execute_result":
                        out.execution_count = count
                    outputs.append(out)
                elif kind == "error":
                    raise RuntimeError(f"cell {count} failed:\n{cell.source}\n" + "\n".join(content["traceback"]))
            cell.outputs = outputs
            cell.execution_count = count
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _available(cell: nbformat.NotebookNode) -> bool:
    """False for a cell made by :func:`needs` whose module is missing."""
    module = cell.metadata.get("spackmon_needs")
    if not module:
        return True
    import importlib.util

    return importlib.util.find_spec(f"spackmon_analysis.{module}") is not None


def main(which: list[str]) -> None:
    for key in which or sorted(NOTEBOOKS):
        filename, cells = NOTEBOOKS[key]
        cells = [c for c in cells if _available(c)]
        nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(dict(c)) for c in cells])
        for i, cell in enumerate(nb.cells):
            cell.id = f"{key}-{i:02d}"  # stable ids: rebuilding changes only what changed
            cell.metadata.pop("spackmon_needs", None)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        execute(nb, HERE)
        nbformat.write(nb, HERE / filename)
        print("wrote", filename)


if __name__ == "__main__":
    main(sys.argv[1:])
