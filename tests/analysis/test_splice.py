"""Spack 0.23 splicing (issue 12): a spliced node names the spec it was built as
(``build_spec``), and that spec's nodes are written beside the spliced ones. They are
provenance, not members of the DAG: not roots, not specs of the frames, not builds, not
blocked packages. Files: tests/data/spack-1.x/v0.23.1-splice (``make_fixtures.py``
``write_splice``; the scenario is in its ``splice_nodes`` docstring).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from testlib import uploaded_and_offline

import spackmon_analysis as sma
from spackmon_analysis.errors import SpecFormatError
from spackmon_analysis.spec import load_spec

BASE = Path(__file__).resolve().parent.parent / "data" / "spack-1.x" / "v0.23.1-splice"
TREE = BASE / "opt" / "spack"
ENV = BASE / "env"
LOCK = ENV / "spack.lock"
PREFIXES = TREE / "linux-debian12-icelake" / "gcc-12.2.0"


def _prefix(name: str) -> Path:
    """The prefix of the spliced ``name`` (its spec.json has a build_spec)."""
    for p in PREFIXES.glob(f"{name}-*"):
        doc = json.loads((p / ".spack" / "spec.json").read_text())
        if "build_spec" in doc["spec"]["nodes"][0]:
            return p
    raise AssertionError(f"no spliced {name} prefix")


SPLICED = _prefix("tinyapp")
SPEC_FILE = SPLICED / ".spack" / "spec.json"
DOC = json.loads(SPEC_FILE.read_text())
APP_SPLICED = DOC["spec"]["nodes"][0]["hash"]
APP = DOC["spec"]["nodes"][0]["build_spec"]["hash"]  # the tinyapp it was built as


def _by_hash() -> dict[str, dict]:
    return {n["hash"]: n for n in DOC["spec"]["nodes"]}


def _util(node_hash: str) -> str:
    return next(d["hash"] for d in _by_hash()[node_hash]["dependencies"] if d["name"] == "tinyutil")


UTIL1, UTIL2 = _util(APP), _util(APP_SPLICED)


# ------------------------------------------------------------------------------------------
# the spec file


def test_a_spliced_spec_file_has_one_root_and_its_build_spec_as_provenance() -> None:
    graph = load_spec(SPEC_FILE)
    # Spack writes the build spec (tinyapp built against tinyutil 1) beside the spliced nodes:
    # the file holds two tinyapp and two tinyutil nodes, and one root
    assert sorted(n.name for n in graph.nodes.values()).count("tinyapp") == 2
    assert graph.roots == [APP_SPLICED]
    assert graph.provenance == {APP, UTIL1}
    assert graph.build_specs == {APP_SPLICED: APP}
    assert graph.nodes[APP_SPLICED].spliced and graph.nodes[APP_SPLICED].build_spec == APP
    rows, edges = graph.frame_rows()
    keys = [r[0] for r in rows]
    assert APP not in keys and UTIL1 not in keys and UTIL2 in keys
    assert all(APP not in e[:2] and UTIL1 not in e[:2] for e in edges)
    assert set(graph.to_networkx().nodes) == set(keys)
    frame = graph.nodes_frame()
    assert set(frame.loc[frame["provenance"], "key"]) == {APP, UTIL1}
    assert frame.set_index("key").loc[APP_SPLICED, "build_spec"] == APP
    # Spack 0.23's "frankenhash": the spliced hash keeps the build spec's last 7 characters
    assert APP_SPLICED[-7:] == APP[-7:]


def test_both_readers_read_a_spliced_spec_alike() -> None:
    import pandas as pd

    checked = copy.deepcopy(DOC)
    # a build_spec naming the hash under another key: the fast reader leaves it to the
    # checked one, which must give the same graph
    ref = checked["spec"]["nodes"][0]["build_spec"]
    ref["dag_hash"] = ref.pop("hash")
    fast, slow = load_spec(DOC), load_spec(checked)
    assert slow.roots == fast.roots and slow.provenance == fast.provenance
    assert slow.build_specs == fast.build_specs
    pd.testing.assert_frame_equal(slow.nodes_frame(), fast.nodes_frame())


def test_a_build_spec_named_but_absent_keeps_its_hash() -> None:
    # an install database records a spliced spec whose build spec it need not hold (a spliced
    # spec installed from a build cache): the hash is kept, nothing is provenance
    doc = copy.deepcopy(DOC)
    doc["spec"]["nodes"] = [n for n in doc["spec"]["nodes"] if n["hash"] not in (APP, UTIL1)]
    graph = load_spec(doc)
    assert graph.build_specs == {APP_SPLICED: APP} and graph.provenance == set()
    assert graph.roots == [APP_SPLICED]


@pytest.mark.parametrize(
    ("value", "reason"),
    [("tinyapp", "build_spec must be an object"), ({"name": "tinyapp"}, "build_spec has no hash")],
)
def test_a_malformed_build_spec_names_the_file_and_element(value: Any, reason: str) -> None:
    doc = copy.deepcopy(DOC)
    doc["spec"]["nodes"][0]["build_spec"] = value
    with pytest.raises(SpecFormatError, match=reason) as err:
        load_spec(doc, name="spliced.json")
    assert err.value.path == "spec.nodes[0].build_spec"
    assert "spliced.json" in str(err.value)


@pytest.mark.parametrize("cycle", ["itself", "through its build spec"])
def test_a_node_built_as_itself_is_refused_naming_the_file_and_element(
    cycle: str, tmp_path: Path
) -> None:
    """A ``build_spec`` that leads back to its own node (Spack never writes one) made every
    node provenance: the file loaded as a DAG with no root and no spec, silently. Both
    readers now refuse it; ``load`` names the file in its notes; the server answers 400."""
    doc = copy.deepcopy(DOC)
    nodes = _by_hash_of(doc)
    if cycle == "itself":
        nodes[APP_SPLICED]["build_spec"] = {"name": "tinyapp", "hash": APP_SPLICED}
    else:  # the spliced app built as APP, and APP as the spliced app
        nodes[APP]["build_spec"] = {"name": "tinyapp", "hash": APP_SPLICED}
    for variant in (doc, _dag_hash_refs(doc)):  # the fast reader, and the checked one
        with pytest.raises(SpecFormatError, match="built as itself") as err:
            load_spec(variant, name="spliced.json")
        assert err.value.path is not None and err.value.path.endswith(".build_spec")
        assert "spliced.json" in str(err.value)
    path = tmp_path / "spliced.json"
    path.write_text(json.dumps(doc))
    data = sma.load(path)
    assert len(data.specs) == 0
    assert any(src == str(path) and "built as itself" in note for src, note in data.notes)
    with sma.LocalMonitor(in_process=True) as mon:
        mon.add_user("ci")
        client = mon.client("ci", progress=False)
        with pytest.raises(SpecFormatError, match="built as itself"):
            client.upload_spec(doc)  # checked before any request
        # the same body from another client (Spack's own sends it unchecked): a 400
        with pytest.raises(sma.BadRequestError, match="built as itself"):
            client._call("POST", "specs/new/", {"spec": doc["spec"], "spack_version": "0.23.1"})
        assert sma.MonitorData.from_client(client).specs.empty  # nothing half-written


def _by_hash_of(doc: dict) -> dict[str, dict]:
    return {n["hash"]: n for n in doc["spec"]["nodes"]}


def _dag_hash_refs(doc: dict) -> dict:
    """``doc`` with every build_spec naming its hash as ``dag_hash`` (the fast reader leaves
    that to the checked one)."""
    out = copy.deepcopy(doc)
    for node in out["spec"]["nodes"]:
        ref = node.get("build_spec")
        if ref is not None:
            ref["dag_hash"] = ref.pop("hash")
    return out


def test_the_spec_file_alone_gives_one_package_per_member_and_a_note() -> None:
    data = sma.load(SPEC_FILE)
    assert APP not in set(data.specs["full_hash"]) and UTIL1 not in set(data.specs["full_hash"])
    row = data.specs.set_index("full_hash").loc[APP_SPLICED]
    assert row["build_spec"] == APP
    assert any("spliced" in text and APP[:7] in text for _, text in data.notes)
    g = data.graph()
    assert [n for n in g.nodes if g.in_degree(n) == 0] == [APP_SPLICED]


# ------------------------------------------------------------------------------------------
# the lock file, the install tree and its database


def test_a_spliced_lock_file_holds_the_roots_it_names_and_no_build_spec_as_a_package() -> None:
    lock = json.loads(LOCK.read_text())
    roots = [r["hash"] for r in lock["roots"]]
    built_as = {
        n["build_spec"]["hash"] for n in lock["concrete_specs"].values() if "build_spec" in n
    }
    assert built_as and built_as <= set(lock["concrete_specs"])  # written beside them
    data = sma.load_environment(ENV)
    g = data.graph()
    assert sorted(n for n in g.nodes if g.in_degree(n) == 0) == sorted(roots)
    assert not built_as & set(data.specs["full_hash"])
    assert set(data.specs.dropna(subset=["build_spec"])["full_hash"]) == set(roots)
    assert any("spliced" in text for _, text in data.notes)


def test_the_install_tree_reads_a_spliced_prefix_as_a_rewiring_not_a_build() -> None:
    data = sma.load(TREE)
    builds = data.builds.set_index("build")
    spliced = builds.loc[APP_SPLICED]
    assert "spliced" in spliced["tags"] and spliced["outcome"] == "succeeded"
    # its .spack holds the build spec's log and timers (copied by the rewiring): not its phases
    assert not len(data.phases[data.phases["build"] == APP_SPLICED])
    assert len(data.phases[data.phases["build"] == APP])  # the build spec built itself
    assert any(
        "spliced" in text and "never built itself" in text and APP[:7] in text
        for where, text in data.notes
        if SPLICED.name in where
    )
    assert data.specs.set_index("full_hash").loc[APP_SPLICED, "build_spec"] == APP


def _answers(data: Any) -> dict[str, Any]:
    table = sma.failures(data)
    return {
        (r["spec_name"], r["dag_hash"]): (r["role"], tuple(r["blocked_by"]))
        for _, r in table.iterrows()
    }


def _failure_markers() -> dict[str, str]:
    return {p.name: p.name.rsplit("-", 1)[1] for p in (TREE / ".spack-db" / "failures").iterdir()}


def test_a_failed_build_spec_blocks_the_spliced_spec() -> None:
    marked = _failure_markers()
    broken = next(h for n, h in marked.items() if n.startswith("tinybroken-"))
    apps = [h for n, h in marked.items() if n.startswith("tinybrokenapp-")]
    spliced = next(
        h
        for h in apps
        if "build_spec"
        in json.loads((TREE / ".spack-db" / "failures" / f"tinybrokenapp-{h}").read_text())["spec"][
            "nodes"
        ][0]
    )
    built_as = next(h for h in apps if h != spliced)
    answers = _answers(sma.load(TREE, ENV))
    assert answers == {
        ("tinybroken", broken): ("root cause", ()),
        # Spack queued the build spec's build and skipped it, then the rewiring
        ("tinybrokenapp", built_as): ("blocked", ("tinybroken",)),
        ("tinybrokenapp", spliced): ("blocked", ("tinybroken",)),
    }


def test_a_spliced_spec_spack_never_marked_is_found_blocked_through_its_build_spec(
    tmp_path: Path,
) -> None:
    # only the failures of tinybroken and of the build spec recorded: the lock's spliced root
    # is found blocked through its build spec, as a dependent would be
    tree = tmp_path / "spack"
    shutil.copytree(TREE, tree, symlinks=True)
    markers = tree / ".spack-db" / "failures"
    for marker in markers.glob("tinybrokenapp-*"):
        if "build_spec" in json.loads(marker.read_text())["spec"]["nodes"][0]:
            spliced = marker.name.rsplit("-", 1)[1]
            marker.unlink()
    data = sma.load(tree, LOCK)
    table = sma.failures(data)
    row = table[table["dag_hash"] == spliced]
    assert list(row["role"]) == ["blocked"] and list(row["blocked_by"].iloc[0]) == ["tinybroken"]


# ------------------------------------------------------------------------------------------
# the server


def test_upload_of_a_spliced_tree_answers_as_the_offline_loaders() -> None:
    online, offline = uploaded_and_offline(TREE, ENV)
    assert _answers(online) == _answers(offline)

    def outcomes(data: Any) -> dict[str, Any]:
        b = data.builds
        return {
            str(h): (o, "spliced" in tuple(t))
            for h, o, t in zip(b["dag_hash"], b["outcome"], b["tags"], strict=True)
        }

    assert outcomes(online) == outcomes(offline)
    assert outcomes(online)[APP_SPLICED] == ("succeeded", True)

    def spliced(data: Any) -> dict[str, str]:
        s = data.specs.dropna(subset=["build_spec"])
        return dict(zip(s["dag_hash"], s["build_spec"], strict=True))

    assert spliced(online) == spliced(offline) != {}
    assert APP_SPLICED in spliced(online)
    assert any("spliced" in text and APP_SPLICED[:7] in text for _, text in online.notes)
    assert set(online.specs["dag_hash"]) == set(offline.specs["dag_hash"])
    # the spec file alone: the nodes of the spec tinyapp was built as (written beside the
    # spliced one) become no spec of the server either
    online, offline = uploaded_and_offline(SPEC_FILE, spack_version="0.23.1")
    for data in (online, offline):
        hashes = set(data.specs["full_hash"])
        assert APP_SPLICED in hashes and APP not in hashes and UTIL1 not in hashes


def test_a_diff_against_the_spliced_spec_compares_the_members_only() -> None:
    built = load_spec(PREFIXES / f"tinyapp-0.3-{APP}" / ".spack" / "spec.json")
    diff = built.diff(load_spec(SPEC_FILE))
    table = diff.to_frame()
    # tinyutil was spliced in with +fast; no second tinyapp or tinyutil appears or vanishes
    assert not diff.added and not diff.removed
    assert "fast" in " ".join(str(v) for v in table.to_numpy().ravel())


def test_spackmon_upload_of_the_spliced_tree(capsys: pytest.CaptureFixture[str]) -> None:
    # the command a CI job runs (a real port: the command line opens its own connection)
    from spackmon_analysis.cli import main

    with sma.LocalMonitor() as mon:
        token = mon.add_user("ci")
        argv = ["upload", str(TREE), "--host", mon.url, "--user", "ci", "--token", token]
        assert main([*argv, "--no-progress"]) == 0
        client = sma.SpackMonitorClient(host=mon.url, username="ci", token=token, progress=False)
        online = sma.MonitorData.from_client(client)
    assert "problems: none" in capsys.readouterr().out
    assert _answers(online) == _answers(sma.load(TREE))
    assert online.specs.set_index("dag_hash").loc[APP_SPLICED, "build_spec"] == APP
