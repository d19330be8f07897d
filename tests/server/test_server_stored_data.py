"""Stored data never breaks reads; one set of input limits on SQLite and PostgreSQL (issue 14).

Every test runs on both backends (the ``mon`` fixture) with the same inputs and expects the same
answers, message for message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from sqlalchemy import insert, update
from testlib import BUILD_ENV as ENV

from spackmon_analysis.server.queries import ROUTES, read_rows
from spackmon_analysis.server.tables import attributes, builds, specs

SPECS = Path(__file__).resolve().parents[1] / "data" / "specs"
LONE = "\ud800"  # a lone high surrogate
FFFD = "\ufffd"


def _tinyapp() -> dict:
    return json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())


@pytest.fixture
def build_id(alice) -> int:
    r = alice.post("specs/new/", {"spec": _tinyapp(), "spack_version": "0.17.1"})
    root = r.json()["data"]["spec"]["full_hash"]
    r = alice.post("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": root})
    return r.json()["data"]["build"]["build_id"]


def strict_json(r: requests.Response) -> object:
    """The body as strict JSON: UTF-8 without surrogates, no NaN/Infinity."""

    def no_constant(text: str) -> None:
        raise AssertionError(f"{r.url}: {text} in the answer")

    return json.loads(r.content.decode("utf-8"), parse_constant=no_constant)


def every_read_is_valid(mon) -> dict[str, list]:
    """Every data API page and every /all/ stream answers 200 with strict JSON; the rows."""
    rows = {}
    http = mon.session()
    for route in ROUTES:
        params = {"limit": 1000, **({"output": 1} if route == "buildphases" else {})}
        page = http.get(f"{mon.url}/api/{route}/", params=params)
        assert page.status_code == 200, (route, page.text[:300])
        results = strict_json(page)["results"]
        bulk = http.get(f"{mon.url}/api/{route}/all/")
        assert bulk.status_code == 200, (route, bulk.text[:300])
        lines = [
            json.loads(line) for line in bulk.content.decode("utf-8").split("\n") if line.strip()
        ]
        assert len(lines) == len(results), route  # the stream is not cut
        for row in results:
            one = http.get(f"{mon.url}/api/{route}/{row['id']}/")
            assert one.status_code == 200 and strict_json(one)["id"] == row["id"], route
        rows[route] = results
    return rows


# ------------------------------------------------------------------ lone surrogates


def test_lone_surrogates_are_stored_as_replacement_characters(alice, build_id, mon):
    """A lone surrogate (escaped, or as raw UTF-8 bytes) in tags, spec parameters, phase names
    and outputs, metadata and json_value is stored as U+FFFD; every read stays valid JSON."""
    doc = _tinyapp()
    node = doc["spec"]["nodes"][0]
    node["parameters"]["cflags"] = [f"-O2{LONE}"]
    node["parameters"][f"k{LONE}"] = "v"
    node["name"] = "tinyapp"  # unchanged, a new spack version keeps it a new node
    r = alice.post("specs/new/", {"spec": doc, "spack_version": "0.17.1-surrogate"})
    assert r.status_code == 201, r.text
    root = strict_json(r)["data"]["spec"]["full_hash"]
    r = alice.post(
        "builds/new/",
        {**ENV, "spack_version": "0.17.1-surrogate", "full_hash": root, "tags": f"a{LONE},b"},
    )
    assert r.status_code == 201, r.text
    new_build = r.json()["data"]["build"]["build_id"]
    r = alice.post(
        "builds/phases/update/",
        {
            "build_id": build_id,
            "phase_name": f"bu{LONE}ild",
            "status": "ERROR",
            "output": f"src/a.c:3:1: error: bad {LONE} byte\n",
        },
    )
    assert r.status_code == 200, r.text
    assert strict_json(r)["data"]["build_phase"]["name"] == f"bu{FFFD}ild"
    # the same surrogate as raw UTF-8 bytes (what a careless client encodes with surrogatepass)
    raw = json.dumps(
        {"build_id": build_id, "phase_name": "install", "status": "SUCCESS", "output": "x"},
        ensure_ascii=False,
    ).replace('"x"', f'"x{LONE}y"')
    r = alice.post("builds/phases/update/", data=raw.encode("utf-8", "surrogatepass"))
    assert r.status_code == 200, r.text
    metadata = {
        "config_args": f"--with-{LONE}",
        "environment_variables": {f"A{LONE}": f"v{LONE}"},
        "an": [{"name": "n", "json_value": json.dumps({f"k{LONE}": [f"v{LONE}"]})}],
    }
    r = alice.post("analyze/builds/", {"build_id": build_id, "metadata": metadata})
    assert r.status_code == 200, r.text

    rows = every_read_is_valid(mon)
    builds_by_id = {b["id"]: b for b in rows["builds"]}
    assert builds_by_id[new_build]["tags"] == [f"a{FFFD}", "b"]
    assert builds_by_id[build_id]["config_args"] == f"--with-{FFFD}"
    params = [s["parameters"] for s in rows["specs"] if s["spack_version"].endswith("surrogate")]
    assert {"cflags": [f"-O2{FFFD}"], f"k{FFFD}": "v"}.items() <= params[0].items()
    phases = {p["name"]: p for p in rows["buildphases"]}
    assert phases[f"bu{FFFD}ild"]["output"] == f"src/a.c:3:1: error: bad {FFFD} byte\n"
    assert phases["install"]["output"] == f"x{FFFD}y"
    assert rows["attributes"][0]["json_value"] == {f"k{FFFD}": [f"v{FFFD}"]}
    assert rows["environmentvariable"][0] == {**rows["environmentvariable"][0], "name": "A" + FFFD}


def test_rows_stored_by_older_versions_do_not_break_reads(alice, build_id, mon):
    """Lone surrogates already in JSON columns (tags, parameters, json_value) are answered as
    U+FFFD on every page and stream; a NaN an older SQLite server stored is answered as null."""
    r = alice.post(
        "analyze/builds/",
        {"build_id": build_id, "metadata": {"an": [{"name": "n", "value": "1"}]}},
    )
    assert r.status_code == 200, r.text
    with mon.store.write.begin() as conn:
        conn.execute(update(builds).values(tags=[f"t{LONE}"]))
        conn.execute(update(specs).values(parameters={f"p{LONE}": f"v{LONE}"}))
        conn.execute(update(attributes).values(json_value={"k": f"v{LONE}"}))
        if conn.dialect.name == "sqlite":  # PostgreSQL's json type never held a NaN
            conn.execute(
                insert(attributes).values(
                    build_id=build_id, analyzer="an", name="nan", json_value=float("nan")
                )
            )
    rows = every_read_is_valid(mon)
    assert rows["builds"][0]["tags"] == [f"t{FFFD}"]
    assert rows["specs"][0]["parameters"] == {f"p{FFFD}": f"v{FFFD}"}
    values = {a["name"]: a["json_value"] for a in rows["attributes"]}
    assert values["n"] == {"k": f"v{FFFD}"}
    if "nan" in values:
        assert values["nan"] is None
    # read straight from the database (MonitorData.from_database): the same values
    for route in ("builds", "specs", "attributes"):
        assert list(read_rows(mon.store.read, route)) == rows[route], route


def test_a_json_value_that_is_a_json_string_is_read_back(alice, build_id, mon):
    """An analyzer result whose json_value is the JSON text of a string or a number: stored as
    that value, and every read answers it (a string used to break every attributes page)."""
    results = [
        {"name": "s", "json_value": '"hello"'},
        {"name": "n", "json_value": "42"},
        {"name": "l", "json_value": ["already", "decoded"]},
    ]
    r = alice.post("analyze/builds/", {"build_id": build_id, "metadata": {"an": results}})
    assert r.status_code == 200, r.text
    rows = every_read_is_valid(mon)
    values = {a["name"]: a["json_value"] for a in rows["attributes"]}
    assert values == {"s": "hello", "n": 42, "l": ["already", "decoded"]}


# ------------------------------------------------------------------ NaN and Infinity

NON_FINITE = [
    (
        "analyze/builds/",
        '{"build_id": BID, "metadata": {"an": [{"name": "n", "json_value": "[1, NaN]"}]}}',
        "Field metadata.an[0].json_value[1]: NaN is not a JSON number",
    ),
    (
        "analyze/builds/",
        '{"build_id": BID, "metadata": {"install_files": {"/p/.spack/f": {"size": Infinity}}}}',
        "Field metadata.install_files./p/.spack/f.size: Infinity is not a JSON number",
    ),
    (
        "analyze/builds/",
        '{"build_id": BID, "metadata": {"an": [{"name": "n", "json_value": {"x": -Infinity}}]}}',
        "Field metadata.an[0].json_value.x: -Infinity is not a JSON number",
    ),
    (
        "builds/phases/update/",
        '{"build_id": BID, "phase_name": "p", "status": "SUCCESS", "output": "o", "t": 1e999}',
        "Field t: 1e999 is not a JSON number",
    ),
]


@pytest.mark.parametrize("endpoint,body,message", NON_FINITE, ids=["nan", "inf", "-inf", "1e999"])
def test_non_finite_numbers_are_400_naming_the_field(
    alice, build_id, counts, endpoint, body, message
):
    before = counts()
    r = alice.post(endpoint, data=body.replace("BID", str(build_id)))
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith(message)
    assert counts() == before


def test_nan_in_spec_parameters_is_400(alice, counts):
    doc = json.dumps({"spec": _tinyapp(), "spack_version": "0.17.1"})
    doc = doc.replace('"cflags": []', '"cflags": NaN', 1)
    assert "NaN" in doc
    before = counts()
    r = alice.post("specs/new/", data=doc)
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith("Field spec.spec.nodes[")
    assert ".parameters.cflags: NaN is not a JSON number" in r.json()["message"]
    assert counts() == before


# ------------------------------------------------------------------ one set of limits

LONG = "x" * 300


def _long_cases(build_id: int) -> list[tuple[str, dict, str]]:
    doc = _tinyapp()
    doc["spec"]["nodes"][0]["name"] = LONG
    doc2 = _tinyapp()
    doc2["spec"]["nodes"][1]["compiler"]["name"] = LONG
    return [
        ("specs/new/", {"spec": doc, "spack_version": "0.17.1"}, f"spec node {LONG[:60]!r}: name"),
        ("specs/new/", {"spec": doc2, "spack_version": "0.17.1-b"}, "compiler_name is 300"),
        ("specs/new/", {"spec": _tinyapp(), "spack_version": LONG}, "The request: spack_version"),
        (
            "builds/new/",
            {**ENV, "hostname": LONG, "spack_version": "0.17.1", "full_hash": "abc"},
            "The build environment: hostname is 300 characters long; the limit is 250",
        ),
        (
            "builds/phases/update/",
            {"build_id": build_id, "phase_name": LONG, "status": "SUCCESS", "output": ""},
            "The phase: name is 300 characters long; the limit is 250",
        ),
        (
            "analyze/builds/",
            {"build_id": build_id, "metadata": {LONG: [{"name": "n", "value": "v"}]}},
            "metadata: analyzer is 300 characters long; the limit is 250",
        ),
        (
            "analyze/builds/",
            {"build_id": build_id, "metadata": {"install_files": {"/p/.spack/f": {"hash": LONG}}}},
            "metadata.install_files['/p/.spack/f']: hash is 300 characters long; the limit is 128",
        ),
        (
            "analyze/builds/",
            {"build_id": build_id, "metadata": {"install_files": {"/p/.spack/f": {"type": 7}}}},
            None,
        ),
    ]


@pytest.mark.parametrize("case", range(8))
def test_same_limits_on_both_backends(alice, build_id, counts, case):
    """Over-long names are a 400 naming the field on SQLite as on PostgreSQL (SQLite used to
    store them: 201), checked before the database sees them; a non-string file type is stored
    as text on both."""
    endpoint, body, message = _long_cases(build_id)[case]
    before = counts()
    r = alice.post(endpoint, body)
    if message is None:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 400, r.text
    assert message in r.json()["message"]
    assert "database rejected" not in r.json()["message"]
    assert counts() == before
