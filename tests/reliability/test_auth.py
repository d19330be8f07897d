"""Auth hardening: every write endpoint (analyze included) refuses bad bearer tokens and other
users' builds without changing anything; API tokens are stored hashed and compared in constant
time; the token endpoint refuses an address after repeated failures (429 + Retry-After)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time

import jwt
import pytest
import relhelp
from sqlalchemy import select
from testlib import BUILD_ENV as ENV

from spackmon_analysis.server import LocalMonitor
from spackmon_analysis.server.tables import users

WRITES = [
    "specs/new/",
    "builds/new/",
    "builds/update/",
    "builds/phases/update/",
    "analyze/builds/",
]
OWNED = ["builds/update/", "builds/phases/update/", "analyze/builds/"]


def _token(mon, user):
    r = mon.session().get(f"{mon.base_url}/auth/token/", auth=(user, mon.tokens[user]))
    assert r.status_code == 200, r.text
    return r.json()["token"]


@pytest.fixture(scope="module", params=relhelp.BACKENDS)
def mon(request, tmp_path_factory):
    with relhelp.database(request.param, tmp_path_factory.mktemp("auth")) as url:
        with LocalMonitor(url, in_process=True) as m:
            m.add_user("alice")
            m.add_user("bob")
            s = m.session()
            s.headers["Authorization"] = "Bearer " + _token(m, "alice")
            doc = json.loads((relhelp.TESTS / "data/specs/tinyapp-spack-0.17.1.json").read_text())
            r = s.post(f"{m.base_url}/specs/new/", json={"spec": doc, "spack_version": "0.17.1"})
            m.root = r.json()["data"]["spec"]["full_hash"]
            r = s.post(
                f"{m.base_url}/builds/new/",
                json={**ENV, "spack_version": "0.17.1", "full_hash": m.root},
            )
            m.build_id = r.json()["data"]["build"]["build_id"]
            m.spec_doc = doc
            yield m


def _bodies(mon) -> dict[str, dict]:
    b = mon.build_id
    return {
        "specs/new/": {"spec": mon.spec_doc, "spack_version": "0.99"},
        "builds/new/": {**ENV, "hostname": "h2", "spack_version": "0.17.1", "full_hash": mon.root},
        "builds/update/": {"build_id": b, "status": "SUCCESS"},
        "builds/phases/update/": {
            "build_id": b,
            "phase_name": "install",
            "status": "SUCCESS",
            "output": "x",
        },
        "analyze/builds/": {"build_id": b, "metadata": {"environment_variables": {"A": "1"}}},
    }


def _bad_tokens(mon) -> dict[str, str | None]:
    real = _token(mon, "alice")
    claims = jwt.decode(real, options={"verify_signature": False})
    now = int(time.time())
    expired = {**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 60}
    return {
        "missing": None,
        "empty": "Bearer ",
        "malformed": "Bearer not.a.jwt",
        "garbage": "Bearer " + "x" * 500,
        "wrong scheme": "Token " + real,
        "basic instead of bearer": "Basic "
        + base64.b64encode(f"alice:{mon.tokens['alice']}".encode()).decode(),
        "expired": "Bearer " + jwt.encode(expired, mon.store.secret, algorithm="HS256"),
        "forged (wrong signature)": "Bearer "
        + jwt.encode(
            claims, "an-attacker-secret-of-plenty-of-length-0123456789", algorithm="HS256"
        ),
        "unsigned (alg none)": "Bearer " + jwt.encode(claims, None, algorithm="none"),
        "tampered payload": "Bearer " + _tamper(real),
        "wrong issuer": "Bearer "
        + jwt.encode({**claims, "iss": "someone-else"}, mon.store.secret, algorithm="HS256"),
    }


def _tamper(token: str) -> str:
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"], claims["uid"] = "bob", claims["uid"] + 1
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{raw}.{sig}"


@pytest.mark.parametrize("endpoint", WRITES)
def test_bad_bearer_tokens_rejected(mon, endpoint):
    body = json.dumps(_bodies(mon)[endpoint])
    before = relhelp.raw_dump(mon.store.read)
    for kind, header in _bad_tokens(mon).items():
        headers = {"Authorization": header} if header is not None else {}
        r = mon.session().post(f"{mon.base_url}/{endpoint}", data=body, headers=headers)
        assert r.status_code == 401, (endpoint, kind, r.status_code, r.text)
        assert r.headers["Www-Authenticate"].startswith('Bearer realm="http'), kind
        relhelp.add("auth: bad-token requests refused (401)", 1)
    assert relhelp.raw_dump(mon.store.read) == before


@pytest.mark.parametrize("endpoint", OWNED)
def test_other_users_token_refused(mon, endpoint):
    """Bob's valid token cannot touch alice's build (403), and nothing changes."""
    s = mon.session()
    s.headers["Authorization"] = "Bearer " + _token(mon, "bob")
    before = relhelp.raw_dump(mon.store.read)
    r = s.post(f"{mon.base_url}/{endpoint}", data=json.dumps(_bodies(mon)[endpoint]))
    assert r.status_code == 403 and "own" in r.json()["message"], r.text
    assert relhelp.raw_dump(mon.store.read) == before
    relhelp.add("auth: other-user requests refused (403)", 1)


def test_other_user_builds_new_keeps_ownership(mon):
    """builds/new of alice's build by bob answers the existing build and changes nothing."""
    s = mon.session()
    s.headers["Authorization"] = "Bearer " + _token(mon, "bob")
    before = relhelp.raw_dump(mon.store.read)
    body = {**ENV, "spack_version": "0.17.1", "full_hash": mon.root}
    r = s.post(f"{mon.base_url}/builds/new/", data=json.dumps(body))
    assert r.status_code == 200 and r.json()["data"]["build_created"] is False
    assert r.json()["data"]["build"]["build_id"] == mon.build_id
    assert relhelp.raw_dump(mon.store.read) == before


def test_api_tokens_hashed_and_compared_in_constant_time(mon, monkeypatch):
    with mon.store.read.connect() as conn:
        rows = {r.username: r.token_hash for r in conn.execute(select(users))}
    for name in ("alice", "bob"):
        assert rows[name] == hashlib.sha256(mon.tokens[name].encode()).hexdigest()
        assert mon.tokens[name] not in relhelp.raw_dump(mon.store.read).__repr__()
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert (
        mon.session().get(f"{mon.base_url}/auth/token/", auth=("alice", "0" * 40)).status_code
        == 403
    )
    assert (
        mon.session().get(f"{mon.base_url}/auth/token/", auth=("nobody", "0" * 40)).status_code
        == 403
    )
    assert (
        mon.session()
        .get(f"{mon.base_url}/auth/token/", auth=("alice", mon.tokens["alice"]))
        .status_code
        == 200
    )
    # every check, unknown user included, goes through one constant-time digest comparison
    assert len(calls) == 3 and all(len(a) == len(b) == 64 for a, b in calls)


def _token_request(mon, source: str, user: str, secret: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", mon.port, source_address=(source, 0))
    cred = base64.b64encode(f"{user}:{secret}".encode()).decode()
    conn.request("GET", "/ms1/auth/token/", headers={"Authorization": f"Basic {cred}"})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r


def test_token_endpoint_refuses_repeated_failures(tmp_path):
    """After N failures per window from one address: 429 + Retry-After, right credentials
    included; other addresses are unaffected; after the window the address may try again."""
    limit, window = 5, 1.5
    with LocalMonitor(auth_failure_limit=limit, auth_failure_window=window) as m:
        token = m.add_user("alice")
        for _ in range(limit):
            assert _token_request(m, "127.0.0.1", "alice", "wrong").status == 403
        refused = _token_request(m, "127.0.0.1", "alice", token)
        assert refused.status == 429
        retry = int(refused.getheader("Retry-After"))
        assert 1 <= retry <= 2
        assert _token_request(m, "127.0.0.2", "alice", token).status == 200  # another address
        time.sleep(window + 0.1)
        assert _token_request(m, "127.0.0.1", "alice", token).status == 200
    relhelp.record("auth: failures per address before 429 (test setting; default 10/min)", limit)
