"""Every SpackMonitorClient method against the real embedded monitor on a loopback port."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from client_testlib import SPECS, TINYAPP_SPEC, TINYUTIL_PREFIX

from spackmon_analysis.client import PaginatedPull, SpackMonitorClient
from spackmon_analysis.errors import (
    AuthError,
    BadRequestError,
    NotFoundError,
    SpecFormatError,
)

ENV = {
    "host_os": "debian12",
    "platform": "linux",
    "host_target": "icelake",
    "hostname": "vm",
    "kernel_version": "#1 SMP PREEMPT_DYNAMIC @0",
}


def test_service_info_is_public(shared_monitor):
    client = SpackMonitorClient(host=shared_monitor.url, username="", token="", progress=False)
    info = client.service_info()
    assert info["id"] == "spackmon" and info["status"] == "running"
    for key in (
        "name",
        "description",
        "organization",
        "contactUrl",
        "documentationUrl",
        "createdAt",
        "updatedAt",
        "environment",
        "version",
        "auth_instructions_url",
    ):
        assert key in info
    assert client.auth_count == 0


def test_protected_call_without_credentials_says_what_to_set(shared_monitor, monkeypatch):
    monkeypatch.delenv("SPACKMON_USER", raising=False)
    monkeypatch.delenv("SPACKMON_TOKEN", raising=False)
    client = SpackMonitorClient(host=shared_monitor.url, progress=False)
    with pytest.raises(AuthError, match="set SPACKMON_USER and SPACKMON_TOKEN") as info:
        client.upload_specfile(TINYAPP_SPEC, "0.17.1")
    assert info.value.status_code == 401


def test_wrong_token_is_refused(shared_monitor):
    client = SpackMonitorClient(
        host=shared_monitor.url, username="alice", token="0" * 40, progress=False
    )
    with pytest.raises(AuthError) as info:
        client.update_build(1, "SUCCESS")
    assert info.value.status_code in (401, 403)


def test_upload_specfile_created_then_present(client):
    first = client.upload_specfile(SPECS / "zlib-spack-0.19.0.json", "0.19.0")
    assert first["code"] == 201 and first["data"]["created"] is True
    spec = first["data"]["spec"]
    assert (spec["name"], spec["spack_version"]) == ("zlib", "0.19.0")
    again = client.upload_specfile(SPECS / "zlib-spack-0.19.0.json", "0.19.0")
    assert again["code"] == 200 and again["data"]["created"] is False
    # the bearer was fetched once and reused
    assert client.auth_count == 1


def test_upload_yaml_and_list_format_specs(client):
    answer = client.upload_specfile(SPECS / "zlib-spack-0.16.3.yaml", "0.16.3")
    assert answer["data"]["spec"]["name"] == "zlib"
    doc = json.loads((SPECS / "tinyapp-spack-0.16.3.json").read_text())
    answer = client.upload_spec(doc, "0.16.3")
    assert answer["data"]["spec"]["name"] == "tinyapp"
    assert set(answer["data"]["spec"]["specs"]) == {"tinybase", "tinyutil"}


def test_bad_spec_file_fails_locally_naming_the_file(client, tmp_path):
    bad = tmp_path / "broken-spec.json"
    bad.write_text('{"spec": {"nodes": [{"version": "1.0"}]}}')
    before = client.request_count
    with pytest.raises(SpecFormatError, match="broken-spec.json"):
        client.upload_specfile(bad, "0.17.1")
    assert client.request_count == before  # nothing was sent


def test_missing_spack_version_carries_the_server_message(client):
    doc = json.loads(TINYAPP_SPEC.read_text())
    with pytest.raises(BadRequestError) as info:
        client.upload_spec(doc, "")
    assert info.value.status_code == 400
    assert info.value.server_message == "A spack_version string is required"


def test_build_lifecycle(client):
    uploaded = client.upload_specfile(TINYAPP_SPEC, "0.17.1")
    full_hash = uploaded["data"]["spec"]["full_hash"]
    made = client.new_build(full_hash, "0.17.1", tags=["lifecycle", "test"], **ENV)
    build_id = made["data"]["build"]["build_id"]
    assert made["data"]["build"]["spec_name"] == "tinyapp"
    same = client.new_build(full_hash, "0.17.1", environment=ENV, tags="lifecycle,test")
    assert same["data"]["build"]["build_id"] == build_id
    assert same["data"]["build_created"] is False

    phase = client.update_phase(build_id, "build", "SUCCESS", "==> building\nok\n")
    assert phase["data"]["build_phase"]["name"] == "build"
    assert client.update_build(build_id, "SUCCESS")["message"] == "Status updated"

    row = [b for b in client.builds(full_hash=full_hash) if b["id"] == build_id][0]
    assert row["status"] == "SUCCESS" and set(row["tags"]) == {"lifecycle", "test"}
    phases = client.phases(build=build_id).to_frame()
    # list pages leave the log out by default; output=1 or the per-row fetch bring it
    assert list(phases["name"]) == ["build"] and "output" not in phases
    assert phases["output_size"][0] == len("==> building\nok\n")
    phases = client.phases(build=build_id, output=1).to_frame()
    assert list(phases["name"]) == ["build"] and phases["output"][0] == "==> building\nok\n"
    assert client.phase(int(phases["id"][0]))["output"] == "==> building\nok\n"

    with pytest.raises(BadRequestError, match="Invalid status"):
        client.update_build(build_id, "GREAT")
    with pytest.raises(NotFoundError):
        client.update_build(10**9, "SUCCESS")
    with pytest.raises(BadRequestError, match="does not exist"):
        client.new_build("a" * 32, "0.17.1", **ENV)
    with pytest.raises(BadRequestError, match="Missing required build environment"):
        client.new_build(full_hash, "0.17.1", host_os="debian12")


def test_new_build_with_spec_imports_it(client):
    doc = json.loads((SPECS / "zlib-spack-0.18.0.dev0.json").read_text())
    node = doc["spec"]["nodes"][0] if isinstance(doc.get("spec"), dict) else doc["nodes"][0]
    full_hash = node.get("full_hash") or node["hash"]
    made = client.new_build(full_hash, "0.18.0.dev0", spec=doc, **ENV)
    assert made["data"]["build"]["spec_name"] == "zlib"


def test_analyze_and_analyze_install(client):
    answer = client.analyze_install(TINYUTIL_PREFIX)
    build_id = answer["data"]["build"]["build_id"]
    assert answer["data"]["build"]["spec_name"] == "tinyutil"
    manifest = json.loads((TINYUTIL_PREFIX / ".spack" / "install_manifest.json").read_text())
    files = client.pull("installfiles", build=build_id).to_frame()
    assert len(files) == len(manifest) == 22
    assert not files["path"].str.startswith("/").any()  # stored relative to the prefix
    assert set(files["prefix"]) == {
        "/home/builder/spack/v0.17.1/opt/spack/linux-debian12-icelake/gcc-12.2.0/"
        "tinyutil-2.1-o3dvqdizwzqb5yb35aqxfy4npnx625h5"
    }
    variables = client.pull("environmentvariable", build=build_id).to_frame()
    assert len(variables) > 10
    # the build came from the prefix's own spec and install_environment.json
    row = [b for b in client.builds(spec_name="tinyutil") if b["id"] == build_id][0]
    assert (row["hostname"], row["host_target"], row["spack_version"]) == (
        "vm",
        "icelake",
        "0.17.1",
    )

    extra = client.analyze(build_id, {"environment_variables": {"CC": "gcc"}})
    assert extra["message"] == "Metadata updated"
    variables = client.pull("environmentvariable", build=build_id).to_frame()
    assert list(zip(variables["name"], variables["value"], strict=True)) == [("CC", "gcc")]


def test_get_specs_by_name(client):
    client.upload_specfile(SPECS / "zlib-spack-0.21.2.json", "0.21.2")
    found = client.get_specs_by_name("zlib")
    assert isinstance(found, list) and found
    assert {row["name"] for row in found} == {"zlib"}
    assert "0.21.2" in {row["spack_version"] for row in found}
    assert client.get_specs_by_name("no-such-package-xyz") == []


def test_paginated_pulls_are_lazy_sequences(client):
    for name in ("zlib-spack-0.17.1.json", "zlib-spack-0.22.1.json", "tinyapp-spack-0.19.0.json"):
        version = name.split("spack-")[1].rsplit(".json", 1)[0]
        client.upload_specfile(SPECS / name, version)
    everything = client.specs()
    total = len(everything)
    assert total >= 5
    small = client.pull("specs", page_size=2)
    assert isinstance(small, PaginatedPull)
    assert "not fetched yet" in repr(small)
    assert len(small) == total
    rows = list(small)  # several pages
    assert [r["id"] for r in rows] == [r["id"] for r in everything]
    assert small[-1] == rows[-1] and small[3] == rows[3]
    assert small[1:4] == rows[1:4]
    with pytest.raises(IndexError):
        small[total]
    frame = small.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == total
    assert {"name", "full_hash"} <= set(frame.columns)
    roots = client.specs(name="zlib").to_frame()
    assert set(roots["name"]) == {"zlib"}
    assert len(client.errors(build=10**9)) == 0
    assert client.warnings(build=10**9).to_frame().empty


def test_clearsigned_old_style_yaml_spec_uploads_the_document_it_checked(client):
    """A ``gpg --clearsign``ed Spack 0.16 ``spec.yaml`` (its ``- name:`` list lines are
    dash-escaped to ``- - name:``): the client checks and sends the same document, through
    every entry that takes a spec (a file, its text, a build's ``spec=``)."""
    signed = SPECS / "tinyapp-spack-0.16.3-installed.yaml.sig"
    plain = client.upload_specfile(SPECS / "tinyapp-spack-0.16.3-installed.yaml", "0.16.3")
    answer = client.upload_specfile(signed, "0.16.3")
    assert answer["code"] == 200  # the very spec uploaded from the unsigned file
    assert answer["data"]["spec"] == plain["data"]["spec"]
    assert set(answer["data"]["spec"]["specs"]) == {"tinybase", "tinyutil"}
    again = client.upload_spec(signed.read_text(), "0.16.3")
    assert again["data"]["spec"]["full_hash"] == plain["data"]["spec"]["full_hash"]
    built = client.new_build(plain["data"]["spec"]["full_hash"], "0.16.3", spec=signed, **ENV)
    assert built["data"]["build"]["spec_name"] == "tinyapp"
