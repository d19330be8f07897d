"""The server as Spack 0.17/0.18's own monitor client sees it (PROTOCOL sections 2-3).

Spack's client (``lib/spack/spack/monitor.py``) uses only ``urllib.request``: a request with data
is a POST whose body is JSON encoded as ASCII, with no Content-Type of its own (urllib then sends
``application/x-www-form-urlencoded``). A 401 arrives as ``HTTPError``; the client reads the
``Www-Authenticate`` header, extracts ``key="value"`` pairs with the regex
``([a-zA-z]+)="(.+?)"`` (capitalizing the keys: ``Realm``, ``Service``, ``Scope``), sends
``GET <Realm>`` with ``Authorization: Basic base64(user:token)`` plus ``service``, ``Accept`` and
``User-Agent`` headers, takes ``token`` from the JSON answer and retries the original request
once with ``Authorization: Bearer <token>``; later requests carry the bearer token. Only 200 and
201 are success; the JSON answer is parsed and the client reads ``data.build.build_id``.

``SpackLikeClient`` below re-creates that behaviour (written for this test, not copied) so the
server is exercised exactly as ``spack install --monitor`` exercises it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SPECS = Path(__file__).resolve().parents[1] / "data" / "specs"
SAVE_LOCAL = Path(__file__).resolve().parents[1] / "data" / "save-local"
AUTH_PAIR = re.compile('([a-zA-z]+)="(.+?)"')  # Spack's regex, including its A-z range

#: Spack's own client speaks urllib over a real socket: the monitor runs on a loopback port.
pytestmark = pytest.mark.real_socket


class SpackLikeClient:
    """Spack 0.17's monitor client request logic over urllib.request."""

    def __init__(self, host: str, username: str, token: str, prefix: str = "ms1"):
        self.baseurl = f"{host}/{prefix}"
        self.username = username
        self.token = token
        self.headers: dict[str, str] = {}
        self.log: list[tuple[str, str, int]] = []  # (method, url, status) of every request
        self.challenges: list[dict[str, str]] = []

    def _keep_auth_only(self) -> None:
        auth = self.headers.get("Authorization")
        self.headers = {"Authorization": auth} if auth else {}

    def _request(self, endpoint: str, data: object, headers: dict | None) -> urllib.request.Request:
        self._keep_auth_only()
        headers = headers or self.headers
        url = endpoint if endpoint.startswith("http") else f"{self.baseurl}/{endpoint}"
        body = None
        if data:
            if not isinstance(data, str):
                data = json.dumps(data)
            body = data.encode("ascii")
        return urllib.request.Request(url, data=body, headers=dict(headers))

    def _open(self, request: urllib.request.Request, retry: bool = True):
        method = "POST" if request.data else "GET"
        try:
            response = urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as err:
            self.log.append((method, request.full_url, err.code))
            if err.code == 401 and retry and self._authenticate(err):
                again = self._request(
                    err.url, json.loads(request.data.decode("utf-8")), self.headers
                )
                return self._open(again, retry=False)
            raise
        self.log.append((method, request.full_url, response.status))
        return response

    def do_request(self, endpoint: str, data: object = None, headers: dict | None = None):
        response = self._open(self._request(endpoint, data, headers))
        if response.status in (200, 201):
            return json.loads(response.read().decode("utf-8"))
        return response

    def _authenticate(self, err: urllib.error.HTTPError) -> bool:
        raw = err.headers.get("Www-Authenticate")
        if not raw:
            return False
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode("utf-8")
        self.headers["Authorization"] = f"Basic {basic}"
        pairs = {key.capitalize(): value for key, value in AUTH_PAIR.findall(raw)}
        self.challenges.append(pairs)
        headers = dict(self.headers)
        headers.update(
            {"service": pairs["Service"], "Accept": "application/json", "User-Agent": "spackmoncli"}
        )
        answer = self.do_request(pairs["Realm"], headers=headers)
        token = answer.get("token")
        if not token:
            return False
        self.headers["Authorization"] = f"Bearer {token}"
        return True


@pytest.fixture
def spack(mon) -> SpackLikeClient:
    return SpackLikeClient(mon.url, "alice", mon.tokens["alice"])


def _phase_logs() -> list[str]:
    outs = []
    for path in sorted(SAVE_LOCAL.glob("*/build-*-phase-*.json")):
        out = json.loads(path.read_text()).get("output")
        if out:
            outs.append(out)
    return outs


def test_spack_install_monitor_sequence(spack, mon, bulk):
    # service info: what `spack install --monitor` asks first
    info = spack.do_request("")
    assert info["id"] == "spackmon" and info["status"] == "running"

    # specs/new: the first protected request gets the challenge, then Basic -> Bearer
    spec = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    spec = spec.get("spec", spec)
    answer = spack.do_request(
        "specs/new/", data=json.dumps({"spec": spec, "spack_version": "0.17.1"})
    )
    assert [s for _, _, s in spack.log[1:4]] == [401, 200, 201]
    (challenge,) = spack.challenges
    assert challenge["Realm"] == f"{mon.base_url}/auth/token/"
    assert challenge["Realm"].startswith("http")  # Spack requires it
    assert challenge["Service"] == mon.base_url
    assert challenge["Scope"] == "build"
    assert spack.log[2][:2] == ("GET", f"{mon.base_url}/auth/token/")
    assert spack.headers["Authorization"].startswith("Bearer ")
    assert answer["code"] == 201 and answer["message"] == "success"
    root = answer["data"]["spec"]["full_hash"]
    assert answer["data"]["spec"]["name"] == "tinyapp"
    assert answer["data"]["created"] is True

    # builds/new with the build environment Spack collects
    env = {
        "host_os": "ubuntu20.04",
        "platform": "linux",
        "host_target": "x86_64",
        "hostname": "node1",
        "kernel_version": "#58-Ubuntu SMP Thu Oct 13 08:03:55 UTC 2022",
        "spack_version": "0.17.1",
        "full_hash": root,
    }
    answer = spack.do_request("builds/new/", data=json.dumps(env))
    assert answer["code"] == 201
    build_id = answer["data"]["build"]["build_id"]  # what Spack reads
    assert isinstance(build_id, int)
    assert answer["data"]["build"]["spec_full_hash"] == root

    # phases with real Spack logs, then the status
    logs = _phase_logs()
    for i, phase in enumerate(("autoreconf", "configure", "build", "install")):
        data = {
            "build_id": build_id,
            "status": "SUCCESS",
            "output": logs[i % len(logs)],
            "phase_name": phase,
        }
        answer = spack.do_request("builds/phases/update/", data=json.dumps(data))
        assert answer["code"] == 200
        assert answer["message"] == f"Phase {phase} was successfully updated."
    answer = spack.do_request(
        "builds/update/", data=json.dumps({"build_id": build_id, "status": "SUCCESS"})
    )
    assert answer == {
        "message": "Status updated",
        "data": {"build": {"build_id": build_id, "spec_full_hash": root, "spec_name": "tinyapp"}},
        "code": 200,
    }
    # one challenge for the whole run: the bearer token is kept across requests
    assert len(spack.challenges) == 1
    assert sum(1 for _, _, s in spack.log if s == 401) == 1
    assert all(s in (200, 201) for _, _, s in spack.log if s != 401)
    (build,) = bulk("builds")
    assert build["status"] == "SUCCESS" and build["owner"] == "alice"
    assert len(bulk("buildphases")) == 4


def test_spack_sees_existing_spec_and_build_as_200(spack):
    spec = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    spec = spec.get("spec", spec)
    body = json.dumps({"spec": spec, "spack_version": "0.17.1"})
    first = spack.do_request("specs/new/", data=body)
    again = spack.do_request("specs/new/", data=body)
    assert (first["code"], again["code"]) == (201, 200)
    assert again["data"]["created"] is False
    env = {
        "host_os": "ubuntu20.04",
        "platform": "linux",
        "host_target": "x86_64",
        "hostname": "node1",
        "kernel_version": "5.15",
        "spack_version": "0.17.1",
        "full_hash": first["data"]["spec"]["full_hash"],
    }
    a = spack.do_request("builds/new/", data=json.dumps(env))
    b = spack.do_request("builds/new/", data=json.dumps(env))
    assert (a["code"], b["code"]) == (201, 200)
    assert a["data"]["build"]["build_id"] == b["data"]["build"]["build_id"]


def test_spack_bad_credentials_and_error_bodies(mon):
    """A wrong token: urllib raises HTTPError 403 from the token endpoint, with a JSON message."""
    spack = SpackLikeClient(mon.url, "alice", "0" * 40)
    with pytest.raises(urllib.error.HTTPError) as exc:
        spack.do_request("builds/update/", data=json.dumps({"build_id": 1, "status": "SUCCESS"}))
    assert exc.value.code == 403
    assert json.loads(exc.value.read().decode("utf8", "ignore"))["message"]
    # a refused request: Spack prints the reason and the body it can decode
    good = SpackLikeClient(mon.url, "alice", mon.tokens["alice"])
    with pytest.raises(urllib.error.HTTPError) as exc:
        good.do_request("builds/update/", data=json.dumps({"build_id": 1, "status": "DONE"}))
    assert exc.value.code == 400
    body = json.loads(exc.value.read().decode("utf8", "ignore"))
    assert body["message"] == "Invalid status. Choices are CANCELLED,SUCCESS,NOTRUN,FAILED"


INSTALLS = Path(__file__).resolve().parents[1] / "data" / "installs" / "v0.17.1"
SPACK_018 = "0.18.0.dev0"


def _legacy_full_hash(dag_hash: str) -> str:
    """A stand-in for the legacy ``full_hash`` 0.18's monitor computes (distinct per node)."""
    digest = hashlib.sha1(f"legacy:{dag_hash}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:32]


def _spack_018_documents() -> tuple[dict, dict]:
    """(the monitor upload of ``spack install --monitor``, the prefix's installed spec.json).

    Both are Spack 0.18.0.dev0's own ``spec.json`` of tinyapp (``_meta.version`` 3, nodes carry
    only the DAG ``hash``). The monitor upload adds a legacy ``full_hash`` to every node and names
    dependencies by it (PROTOCOL section 5); the installed file is used as written.
    """
    installed = json.loads((SPECS / "tinyapp-spack-0.18.0.dev0.json").read_text())
    upload = copy.deepcopy(installed["spec"])
    legacy = {n["hash"]: _legacy_full_hash(n["hash"]) for n in upload["nodes"]}
    for node in upload["nodes"]:
        node["full_hash"] = legacy[node["hash"]]
        for dep in node.get("dependencies", []):
            dep["full_hash"] = legacy[dep.pop("hash")]
    return upload, installed


ENV_018 = {
    **json.loads(next(INSTALLS.glob("tinyutil-*/.spack/install_environment.json")).read_text()),
    "spack_version": SPACK_018,
}


def test_spack_018_analyze_attaches_to_the_installed_build(spack, bulk):
    """``spack install --monitor`` then ``spack analyze --monitor run`` of Spack 0.18.

    Analyze sends builds/new with the DAG hash and the prefix's spec.json (DAG hashes only): it
    must find the build install made, not store the specs again under their DAG hashes.
    """
    upload, installed = _spack_018_documents()
    spack.do_request("")
    answer = spack.do_request(
        "specs/new/", data=json.dumps({"spec": upload, "spack_version": SPACK_018})
    )
    assert answer["code"] == 201
    # install: one build per package, named by its DAG hash, each with its phases
    install_ids = {}
    for node in installed["spec"]["nodes"]:
        body = {**ENV_018, "full_hash": node["hash"], "tags": "live"}
        answer = spack.do_request("builds/new/", data=json.dumps(body))
        assert answer["code"] == 201
        build_id = answer["data"]["build"]["build_id"]
        install_ids[node["name"]] = build_id
        for phase in ("edit", "build", "install"):
            phase_body = {
                "build_id": build_id,
                "status": "SUCCESS",
                "output": "",
                "phase_name": phase,
            }
            spack.do_request("builds/phases/update/", data=json.dumps(phase_body))
        spack.do_request(
            "builds/update/", data=json.dumps({"build_id": build_id, "status": "SUCCESS"})
        )
    specs_before = bulk("specs")
    assert len(specs_before) == 3

    # analyze tinyutil: builds/new with its DAG hash and {"spec": <its prefix's spec.json>}
    tinyutil = next(n for n in installed["spec"]["nodes"] if n["name"] == "tinyutil")
    body = {**ENV_018, "full_hash": tinyutil["hash"], "spec": installed}
    answer = spack.do_request("builds/new/", data=json.dumps(body))
    assert answer["code"] == 200 and answer["data"]["build_created"] is False
    build = answer["data"]["build"]
    assert build["build_id"] == install_ids["tinyutil"]
    assert build["spec_full_hash"] == _legacy_full_hash(tinyutil["hash"])
    manifest = json.loads(
        next(INSTALLS.glob("tinyutil-*/.spack/install_manifest.json")).read_text()
    )
    answer = spack.do_request(
        "analyze/builds/",
        data=json.dumps({"build_id": build["build_id"], "metadata": {"install_files": manifest}}),
    )
    assert answer["code"] == 200

    # no spec stored twice, no empty second build; the files sit on the build with the phases
    assert [(s["id"], s["name"], s["full_hash"]) for s in bulk("specs")] == [
        (s["id"], s["name"], s["full_hash"]) for s in specs_before
    ]
    builds = bulk("builds")
    assert sorted(b["id"] for b in builds) == sorted(install_ids.values())
    assert {b["status"] for b in builds} == {"SUCCESS"}
    files = bulk("installfiles")
    assert len(files) == len(manifest)
    assert {f["build"] for f in files} == {install_ids["tinyutil"]}
    phased = {p["build"] for p in bulk("buildphases")}
    assert install_ids["tinyutil"] in phased


def test_installed_spec_json_first_then_monitor_upload_is_one_spec(spack, bulk):
    """The other order: the DAG-only spec.json is stored first; the upload then matches it."""
    upload, installed = _spack_018_documents()
    first = spack.do_request(
        "specs/new/", data=json.dumps({"spec": installed, "spack_version": SPACK_018})
    )
    again = spack.do_request(
        "specs/new/", data=json.dumps({"spec": upload, "spack_version": SPACK_018})
    )
    assert (first["code"], again["code"]) == (201, 200)
    assert len(bulk("specs")) == 3
    # the spec answers under the hash it was first stored by, whichever document comes later
    assert again["data"]["spec"]["name"] == "tinyapp" and again["data"]["created"] is False
    root = upload["nodes"][0]
    a = spack.do_request("builds/new/", data=json.dumps({**ENV_018, "full_hash": root["hash"]}))
    assert a["code"] == 201 and a["data"]["build"]["spec_full_hash"] == root["hash"]
    assert len(bulk("specs")) == 3 and len(bulk("builds")) == 1


def test_spack_017_nodes_sharing_a_dag_hash_stay_distinct(spack, bulk):
    """Spack 0.17's ``hash`` left out the recipe: two full hashes may share it; they stay two."""
    doc = json.loads((SPECS / "tinyapp-spack-0.17.1-installed.json").read_text())
    changed = copy.deepcopy(doc)
    root = changed["spec"]["nodes"][0]
    root["full_hash"] = _legacy_full_hash(root["full_hash"])  # a recipe edit: same hash
    for body in (doc, changed):
        spack.do_request(
            "specs/new/", data=json.dumps({"spec": body["spec"], "spack_version": "0.17.1"})
        )
    roots = [s for s in bulk("specs") if s["name"] == "tinyapp"]
    assert sorted(s["full_hash"] for s in roots) == sorted(
        [doc["spec"]["nodes"][0]["full_hash"], root["full_hash"]]
    )
    assert len(bulk("specs")) == 4


def test_builds_new_merges_tags_of_an_existing_build(spack, make_api, bulk):
    """A re-run or ``monitor upload`` sends its own tags: they are added to the build's tags."""
    spec = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    spec = spec.get("spec", spec)
    answer = spack.do_request(
        "specs/new/", data=json.dumps({"spec": spec, "spack_version": "0.17.1"})
    )
    env = {**ENV_018, "spack_version": "0.17.1", "full_hash": answer["data"]["spec"]["full_hash"]}
    first = spack.do_request("builds/new/", data=json.dumps({**env, "tags": "heldout,mixed"}))
    again = spack.do_request("builds/new/", data=json.dumps({**env, "tags": "live, rerun,mixed"}))
    plain = spack.do_request("builds/new/", data=json.dumps(env))
    assert (first["code"], again["code"], plain["code"]) == (201, 200, 200)
    (build,) = bulk("builds")
    assert build["tags"] == ["heldout", "mixed", "live", "rerun"]
    # another user gets the build's id but does not relabel alice's build
    bob = make_api("bob")
    r = bob.post("builds/new/", {**env, "tags": "bobs"})
    assert r.status_code == 200
    assert bulk("builds")[0]["tags"] == ["heldout", "mixed", "live", "rerun"]
    assert bulk("builds", tag="rerun")[0]["id"] == build["id"]
