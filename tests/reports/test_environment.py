"""Spack environments (``spack.lock`` of every documented version) as the DAG of reports.

No real run kept a ``spack.lock``; each lockfile here is written in the shape Spack documents
for its version (``lib/spack/spack/environment/__init__.py``) around the nodes of the real
spec files in tests/data/specs (and the zen3 DAG of the JUnit run, tests/data/derived).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

import spackmon_analysis as sma
from spackmon_analysis.failures import failures

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
SPECS = DATA / "specs"
JUNIT = DATA / "reports" / "v0.22.1-junit-failure-tinybrokenapp" / "junit-tinybrokenapp.xml"
ZEN3 = DATA / "derived" / "tinybrokenapp-spack-0.22.1-zen3.json"
GCC_ERROR = "broken.c:4:3: error: expected ',' or ';' before 'return'"


def _nodes(path: Path) -> list[dict]:
    return json.loads(path.read_text())["spec"]["nodes"]


def _lock_v1(build_keys: bool = False) -> dict:
    """Versions 1/2 from Spack 0.16.3's list-format nodes: name-keyed, keyed by the (old) DAG
    hash (v1, no ``hash`` inside) or by the build hash (v2, ``hash`` inside)."""
    doc = json.loads((SPECS / "tinyapp-spack-0.16.3.json").read_text())
    concrete = {}
    for item in doc["spec"]:
        ((name, body),) = item.items()
        body = dict(body)
        if build_keys:
            concrete["b" + body["build_hash"][1:]] = {name: body}
        else:
            concrete[body.pop("hash")] = {name: body}
    root = next(iter(concrete))
    return {
        "_meta": {"file-type": "spack-lockfile", "lockfile-version": 2 if build_keys else 1},
        "roots": [{"hash": root, "spec": "tinyapp"}],
        "concrete_specs": concrete,
    }


def _lock_new(version: int, nodes: list[dict], root: str, key: str = "hash") -> dict:
    specfile = {3: 2, 4: 3, 5: 4, 6: 5, 7: 5}[version]
    roots = [{"hash": n[key], "spec": root} for n in nodes if n["name"] == root]
    if version >= 7:
        roots = [dict(r, group="default") for r in roots]
    return {
        "_meta": {
            "file-type": "spack-lockfile",
            "lockfile-version": version,
            "specfile-version": specfile,
        },
        "spack": {"version": "1.2.0.dev0", "type": "git", "commit": "0" * 40},
        "roots": roots,
        "concrete_specs": {n[key]: n for n in nodes},
    }


LOCKS = {
    1: lambda: _lock_v1(),
    2: lambda: _lock_v1(build_keys=True),
    3: lambda: _lock_new(3, _nodes(SPECS / "tinyapp-spack-0.17.1.json"), "tinyapp", "build_hash"),
    4: lambda: _lock_new(4, _nodes(SPECS / "tinyapp-spack-0.19.0.json"), "tinyapp"),
    5: lambda: _lock_new(5, _nodes(SPECS / "tinyapp-spack-0.22.1.json"), "tinyapp"),
    6: lambda: _lock_new(6, _nodes(SPECS / "tinyapp-spack-0.22.1.json"), "tinyapp"),
    7: lambda: _lock_new(7, _nodes(SPECS / "tinyapp-spack-0.22.1.json"), "tinyapp"),
}
SPEC_OF = {
    1: "0.16.3",
    2: "0.16.3",
    3: "0.17.1",
    4: "0.19.0",
    5: "0.22.1",
    6: "0.22.1",
    7: "0.22.1",
}


def _write(folder: Path, lock: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spack.lock"
    path.write_text(json.dumps(lock, indent=2))
    return path


@pytest.mark.parametrize("version", sorted(LOCKS))
def test_every_lockfile_version_gives_the_spec_files_dag(tmp_path: Path, version: int) -> None:
    path = _write(tmp_path / "env", LOCKS[version]())
    env = sma.load_environment(tmp_path / "env")  # the directory
    spec = sma.load_spec(SPECS / f"tinyapp-spack-{SPEC_OF[version]}.json")
    nodes = spec.nodes_frame()
    assert sorted(env.specs["name"]) == sorted(nodes["name"])
    assert sorted(env.specs["dag_hash"].dropna()) == sorted(nodes["dag_hash"].dropna())
    assert len(env.dependencies) == len(spec.edges_frame()) > 0
    roots = env.specs[env.specs["environment_root"].notna()]
    assert list(roots["name"]) == ["tinyapp"] and list(roots["environment_root"]) == ["tinyapp"]
    assert not len(env.builds)
    assert any(m.startswith("environment roots: tinyapp /") for _, m in env.notes)
    assert len(sma.load(path).specs) == len(env.specs)  # the file itself, through load()


def test_included_environments_add_roots_and_nodes(tmp_path: Path) -> None:
    lock = _lock_new(5, _nodes(ZEN3), "tinybrokenapp")
    other = _lock_new(4, _nodes(SPECS / "zlib-spack-0.22.1.json"), "zlib")
    lock["include_concrete"] = {
        "/envs/zlib": {"roots": other["roots"], "concrete_specs": other["concrete_specs"]}
    }
    env = sma.load_environment(_write(tmp_path, lock))
    roots = env.specs[env.specs["environment_root"].notna()]
    assert sorted(roots["name"]) == ["tinybrokenapp", "zlib"]
    assert "tinybroken" in set(env.specs["name"])


def test_two_specs_with_one_dag_hash_in_a_v2_lock_are_named(tmp_path: Path) -> None:
    lock = _lock_v1(build_keys=True)
    key, value = next(iter(lock["concrete_specs"].items()))
    twin = copy.deepcopy(value)
    next(iter(twin.values()))["build_hash"] = "x" * 32
    lock["concrete_specs"]["x" * 32] = twin
    env = sma.load_environment(_write(tmp_path, lock))
    assert (env.specs["name"] == "tinyapp").sum() == 1
    assert any("same DAG hash" in m and "x" * 32 in m for _, m in env.notes)


def _answers(data: sma.MonitorData) -> dict:
    table = failures(data)
    causes = table[table["role"] == "root cause"]
    blocked = table[table["role"] == "blocked"]
    return {
        "root causes": list(causes["spec_name"]),
        "first error": causes["first_error"].iloc[0],
        "blocked": {r["spec_name"]: list(r["blocked_by"]) for _, r in blocked.iterrows()},
    }


EXPECTED = {
    "root causes": ["tinybroken"],
    "first error": GCC_ERROR,
    "blocked": {"tinybrokenapp": ["tinybroken"]},
}


def test_an_environment_is_the_dag_that_finds_blocked_packages(tmp_path: Path) -> None:
    env = tmp_path / "env"
    lock = _write(env, _lock_new(5, _nodes(ZEN3), "tinybrokenapp"))
    folder = tmp_path / "ci"
    folder.mkdir()
    shutil.copy(JUNIT, folder)
    shutil.copytree(env, folder / "env")
    (folder / "env" / ".spack-env").mkdir()
    before = sma.load_junit(JUNIT)
    assert _answers(before)["blocked"] == {}  # no DAG: tinybrokenapp unseen
    for data in (
        sma.load_junit(JUNIT, dag=lock),
        sma.load_junit(JUNIT, dag=env),
        sma.load_junit(JUNIT).with_dag(sma.load_environment(env)),
        sma.load(JUNIT, lock),
        sma.load(folder),  # a report and an environment in one folder
    ):
        assert _answers(data) == EXPECTED
        assert not [m for _, m in data.notes if m.startswith("no DAG")]
        app = data.builds[data.builds["spec_name"] == "tinybrokenapp"].iloc[0]
        assert app["outcome"] == "never built" and "blocked" in app["tags"]


def test_cli_dag_takes_a_spack_lock(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``spackmon failures REPORT --dag spack.lock`` (its --help and the README name it)."""
    from spackmon_analysis import cli

    lock = _write(tmp_path / "env", _lock_new(5, _nodes(ZEN3), "tinybrokenapp"))
    assert cli.main(["failures", str(JUNIT), "--dag", str(lock), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    rows = {r["spec_name"]: r for r in json.loads(out)}
    assert rows["tinybroken"]["role"] == "root cause"
    assert rows["tinybrokenapp"]["role"] == "blocked"
    assert rows["tinybrokenapp"]["blocked_by"] == ["tinybroken"]
    assert "no DAG" not in err


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.pop("_meta"), "_meta"),
        (lambda d: d["_meta"].update({"lockfile-version": "four"}), "_meta"),
        (lambda d: d.update({"roots": {"a": 1}}), "roots"),
        (lambda d: d["roots"].append({"spec": "x"}), "roots[1]"),
        (lambda d: d.update({"concrete_specs": []}), "concrete_specs"),
        (lambda d: d["roots"].insert(0, {"hash": "nothere", "spec": "x"}), "roots[0]"),
    ],
)
def test_a_malformed_lockfile_names_file_and_element(tmp_path: Path, edit, where: str) -> None:
    lock = LOCKS[5]()
    edit(lock)
    path = _write(tmp_path, lock)
    with pytest.raises(sma.SpecFormatError) as err:
        sma.load_environment(path)
    assert err.value.source == str(path) and err.value.path == where
    assert str(path) in str(err.value)


def test_a_truncated_lockfile_and_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "spack.lock"
    path.write_text(json.dumps(LOCKS[4]())[:300])
    with pytest.raises(sma.SpecFormatError, match="spack.lock: not JSON"):
        sma.load_environment(path)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "spack.yaml").write_text("spack:\n  specs: [zlib]\n")
    with pytest.raises(sma.ConfigError, match="never concretized: no spack.lock"):
        sma.load_environment(tmp_path / "new")


def test_a_newer_lockfile_version_is_read_and_noted(tmp_path: Path) -> None:
    lock = LOCKS[7]()
    lock["_meta"]["lockfile-version"] = 9
    env = sma.load_environment(_write(tmp_path, lock))
    assert "tinyapp" in set(env.specs["name"])
    assert any("lockfile-version 9 is newer" in m for _, m in env.notes)


def test_an_oversize_lockfile_or_a_fifo_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """spack.lock is read under the local-file rule: over the size cap, or a FIFO named
    spack.lock, is a SpecFormatError naming the file (no unbounded read, no hang)."""
    import os

    from spackmon_analysis import localfiles

    path = _write(tmp_path / "env", LOCKS[5]())
    assert sma.load_environment(path).specs.shape[0] > 0  # the real lock loads
    monkeypatch.setattr(localfiles, "MAX_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(sma.SpecFormatError, match="over the cap") as err:
        sma.load_environment(path)
    assert err.value.source == str(path)
    monkeypatch.undo()
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "spack.lock")
    with pytest.raises(sma.SpecFormatError, match="not a regular file"):
        sma.load_environment(tmp_path / "fifo" / "spack.lock")


def test_a_deeply_nested_lockfile_is_a_spec_format_error(tmp_path: Path) -> None:
    """JSON nested past the parser's recursion limit is a SpecFormatError naming the file,
    not a RecursionError."""
    path = tmp_path / "spack.lock"
    path.write_text('{"roots": ' + "[" * 200_000)
    with pytest.raises(sma.SpecFormatError, match="nested too deeply") as err:
        sma.load_environment(path)
    assert err.value.source == str(path)
