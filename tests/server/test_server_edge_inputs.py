"""Inputs at the edges: ids beyond 64 bits, deeply nested JSON, NUL characters, unexpected errors.

Every case runs on SQLite and PostgreSQL and must give the same answer on both.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from testlib import BUILD_ENV as ENV

from spackmon_analysis.server import responses, validate
from spackmon_analysis.server.ingest import buildwrites
from spackmon_analysis.server.routes import data as data_routes

SPECS = Path(__file__).resolve().parents[1] / "data" / "specs"
BUILD_ID_ENDPOINTS = {
    "builds/update/": {"status": "SUCCESS"},
    "builds/phases/update/": {"phase_name": "build", "status": "SUCCESS", "output": "ok\n"},
    "analyze/builds/": {"metadata": {"config_args": "--prefix=/x"}},
}
DEEP = 100_000


def _new_build(api) -> int:
    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    r = api.post("specs/new/", {"spec": doc, "spack_version": "0.17.1"})
    root = r.json()["data"]["spec"]["full_hash"]
    r = api.post("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": root})
    return r.json()["data"]["build"]["build_id"]


@pytest.fixture
def build_id(alice) -> int:
    return _new_build(alice)


@pytest.fixture(scope="module")
def module_build_id(module_alice) -> int:
    """A build on ``module_mon``, for the tests of refused requests (which write nothing)."""
    return _new_build(module_alice)


@pytest.mark.parametrize("endpoint", list(BUILD_ID_ENDPOINTS))
@pytest.mark.parametrize(
    "value",
    [2**63, -(2**70), "9" * 25, "0" * 30 + "9" * 20],
    ids=["2^63", "-2^70", "9x25", "0s9x20"],
)
def test_build_id_beyond_64_bits_is_400(
    module_alice, module_build_id, module_counts, endpoint, value
):
    before = module_counts()
    r = module_alice.post(endpoint, {**BUILD_ID_ENDPOINTS[endpoint], "build_id": value})
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith("build_id must be an integer within 64 bits, got ")
    assert module_counts() == before


@pytest.mark.parametrize("endpoint", list(BUILD_ID_ENDPOINTS))
@pytest.mark.parametrize("value", [2**40, 2**63 - 1, -(2**63), "00042"])
def test_build_id_within_64_bits_is_404_on_both_backends(
    module_alice, module_build_id, module_counts, endpoint, value
):
    before = module_counts()
    r = module_alice.post(endpoint, {**BUILD_ID_ENDPOINTS[endpoint], "build_id": value})
    assert r.status_code == 404, r.text
    assert module_counts() == before
    assert r.json()["message"] == f"Build {int(value)} does not exist."


@pytest.mark.parametrize("value", ["²", "١", "1.0", "-1 "])
def test_build_id_not_ascii_digits_is_400(module_alice, module_build_id, module_counts, value):
    before = module_counts()
    r = module_alice.post("builds/update/", {"build_id": value, "status": "SUCCESS"})
    assert r.status_code == 400, r.text
    assert module_counts() == before
    assert r.json()["message"].startswith("build_id must be an integer, got ")


@pytest.mark.parametrize("field", ["size", "mode", "owner", "group"])
def test_install_file_ints(alice, build_id, counts, bulk, field):
    before = counts()
    for value in (2**63, -(2**63) - 1, 1e300):
        body = {
            "build_id": build_id,
            "metadata": {"install_files": {"/p/.spack/f": {field: value}}},
        }
        r = alice.post("analyze/builds/", body)
        assert r.status_code == 400, r.text
        assert r.json()["message"].startswith(
            f"metadata.install_files['/p/.spack/f'].{field} must be an integer within 64 bits"
        )
        assert counts() == before
    # a 5 GiB file and a uid above 2^31 are stored on both backends (64-bit columns)
    body = {"build_id": build_id, "metadata": {"install_files": {"/p/.spack/f": {field: 5 << 30}}}}
    assert alice.post("analyze/builds/", body).status_code == 200
    assert bulk("installfiles")[0][field] == 5 << 30


def test_huge_source_line_number_in_a_log(alice, build_id, bulk):
    """A log line such as ``a.c:99999999999999999999:3: error:`` is stored, without the number."""
    out = "src/a.c:99999999999999999999:3: error: boom\nsrc/b.c:12:1: error: bang\n"
    body = {"build_id": build_id, "phase_name": "build", "status": "ERROR", "output": out}
    r = alice.post("builds/phases/update/", body)
    assert r.status_code == 200, r.text
    errors = bulk("builderrors")
    assert [e["source_line_no"] for e in errors] == [None, 12]


@pytest.mark.parametrize("endpoint", ["specs/new/", "builds/new/", *BUILD_ID_ENDPOINTS])
@pytest.mark.parametrize("shape", ["array", "object", "just-over"])
def test_deeply_nested_body_is_400(module_alice, module_counts, endpoint, shape):
    before = module_counts()
    if shape == "array":
        raw = "[" * DEEP + "]" * DEEP
    elif shape == "object":
        raw = '{"a":' * DEEP + "1" + "}" * DEEP
    else:  # parses, but deeper than the limit
        depth = validate.MAX_JSON_DEPTH + 1
        raw = '{"build_id": 1, "x": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    r = module_alice.post(endpoint, data=raw)
    assert r.status_code == 400, r.text[:300]
    assert "nested too deeply" in r.json()["message"]
    assert module_counts() == before


def test_nesting_at_the_limit_is_accepted(alice, build_id, bulk):
    value = 1
    for _ in range(validate.MAX_JSON_DEPTH - 4):  # body > metadata > analyzer list > item > value
        value = [value]
    item = {"name": "deep", "json_value": value}
    r = alice.post("analyze/builds/", {"build_id": build_id, "metadata": {"an": [item]}})
    assert r.status_code == 200, r.text[:300]
    assert bulk("attributes")[0]["json_value"] == value


def test_deeply_nested_json_value_is_400(alice, build_id, counts):
    before = counts()
    for text in ("[" * DEEP + "]" * DEEP, "[" * 300 + "]" * 300):
        item = {"name": "n", "json_value": text}
        r = alice.post("analyze/builds/", {"build_id": build_id, "metadata": {"an": [item]}})
        assert r.status_code == 400, r.text[:300]
        assert r.json()["message"].startswith("metadata.an[0].json_value is nested too deeply")
    assert counts() == before


def test_nul_characters_are_stored_as_replacement_characters(alice, build_id, bulk):
    """A stray NUL in a log or in metadata is stored as U+FFFD, the same on both backends."""
    log = "==> Building\nsrc/a.c:3:1: error: bad\x00byte\nmake: *** [all] Error 1\n"
    r = alice.post(
        "builds/phases/update/",
        {"build_id": build_id, "phase_name": "bu\x00ild", "status": "ERROR", "output": log},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["build_phase"]["name"] == "bu\ufffdild"
    metadata = {
        "config_args": "--with-x=\x00",
        "environment_variables": {"A\x00": "v\x00"},
        "install_files": {"/p/.spack/f\x00": {"type": "file", "hash": "h\x00", "extra": "e\x00"}},
        "an\x00": [
            {"name": "n\x00", "value": "v\x00", "json_value": '{"k\\u0000": "v\\u0000"}'},
            {"name": "b", "binary_value": "\x00\x01\xff"},
        ],
    }
    r = alice.post("analyze/builds/", {"build_id": build_id, "metadata": metadata})
    assert r.status_code == 200, r.text
    (phase,) = bulk("buildphases")
    assert phase["output"] == log.replace("\x00", "\ufffd")
    assert phase["name"] == "bu\ufffdild"
    assert "bad\ufffdbyte" in bulk("builderrors")[0]["text"]
    assert bulk("builds")[0]["config_args"] == "--with-x=\ufffd"
    assert [(e["name"], e["value"]) for e in bulk("environmentvariable")] == [
        ("A\ufffd", "v\ufffd")
    ]
    (f,) = bulk("installfiles")
    assert (f["path"], f["hash"], f["extra"]) == (".spack/f\ufffd", "h\ufffd", {"extra": "e\ufffd"})
    attrs = {a["name"]: a for a in bulk("attributes")}
    assert attrs["n\ufffd"]["analyzer"] == "an\ufffd"
    assert attrs["n\ufffd"]["value"] == "v\ufffd"
    assert attrs["n\ufffd"]["json_value"] == {"k\ufffd": "v\ufffd"}
    assert attrs["b"]["binary_value"] == "\x00\x01\xff"  # bytes: kept as sent


def test_nul_in_a_utf16_body(alice, build_id, bulk):
    """JSON in UTF-16 (which json.loads accepts) with an escaped NUL is cleaned too."""
    body = {"build_id": build_id, "phase_name": "p", "status": "SUCCESS", "output": "a\x00b"}
    r = alice.post("builds/phases/update/", data=json.dumps(body).encode("utf-16"))
    assert r.status_code == 200, r.text
    assert bulk("buildphases")[0]["output"] == "a\ufffdb"


def test_unexpected_error_is_a_generic_500_logged_server_side(
    alice, build_id, monkeypatch, caplog, mon, http
):
    def boom(*_args, **_kwargs):
        raise RuntimeError("secret detail /etc/spackmon password=hunter2")

    monkeypatch.setattr(buildwrites, "update_build", boom)
    monkeypatch.setattr(data_routes, "read_page", boom)
    with caplog.at_level(logging.ERROR, logger="spackmon_analysis.server"):
        fast = alice.post("builds/update/", {"build_id": build_id, "status": "SUCCESS"})
        routed = http.get(f"{mon.url}/api/builds/")
    for r in (fast, routed):
        assert r.status_code == 500
        assert r.json() == {"message": responses.INTERNAL_ERROR, "code": 500}
        assert "hunter2" not in r.text and "RuntimeError" not in r.text
    logged = [rec for rec in caplog.records if rec.name == "spackmon_analysis.server"]
    assert len(logged) == 2
    assert all(rec.exc_info and "hunter2" in str(rec.exc_info[1]) for rec in logged)
