"""PROTOCOL section 3 (in-process application, real database): challenge, Basic -> bearer, expiry, forgery, rotation."""

from __future__ import annotations

import base64
import re
import time

import jwt
import requests

from spackmon_analysis.server import LocalMonitor

CHALLENGE = re.compile(r'([a-zA-z]+)="(.+?)"')  # the reference clients' parser


def _challenge(r: requests.Response) -> dict:
    assert r.status_code == 401, r.text
    header = r.headers["Www-Authenticate"]
    assert header.startswith("Bearer ")
    return dict(CHALLENGE.findall(header))


def test_no_token_gets_challenge(mon, counts, http):
    before = counts()
    for path in (
        "specs/new/",
        "builds/new/",
        "builds/update/",
        "builds/phases/update/",
        "analyze/builds/",
    ):
        r = http.post(f"{mon.base_url}/{path}", data='{"build_id": 1}')
        fields = _challenge(r)
        assert fields == {
            "realm": f"{mon.base_url}/auth/token/",
            "service": mon.base_url,
            "scope": "build",
        }
        assert fields["realm"].startswith("http") and "message" in r.json()
    assert counts() == before


def test_basic_to_bearer(mon, http):
    r = http.get(f"{mon.base_url}/auth/token/", auth=("alice", mon.tokens["alice"]))
    assert r.status_code == 200
    body = r.json()
    assert body["expires_in"] == 6000 and re.match(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body["issued_at"]
    )
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 6000
    for k in ("iss", "nbf", "jti", "access"):
        assert k in claims
    r = http.post(
        f"{mon.base_url}/builds/update/",
        data="{}",
        headers={"Authorization": f"Bearer {body['token']}"},
    )
    assert r.status_code == 400  # authenticated, then the body is judged


def test_bad_credentials_are_403(mon, http):
    url = f"{mon.base_url}/auth/token/"
    assert http.get(url).status_code == 403
    assert http.get(url, auth=("alice", mon.tokens["bob"])).status_code == 403
    assert http.get(url, auth=("nobody", mon.tokens["bob"])).status_code == 403
    assert http.get(url, headers={"Authorization": "Basic !!!"}).status_code == 403
    garbage = base64.b64encode(b"no-colon").decode()
    r = http.get(url, headers={"Authorization": f"Basic {garbage}"})
    assert r.status_code == 403 and r.json()["message"]


def test_forged_and_garbage_bearer(mon, http):
    real = http.get(f"{mon.base_url}/auth/token/", auth=("alice", mon.tokens["alice"])).json()[
        "token"
    ]
    claims = jwt.decode(real, options={"verify_signature": False})
    forged = jwt.encode(
        claims, "not-the-secret-but-just-as-long-as-a-real-one-0123456789", algorithm="HS256"
    )
    unsigned = jwt.encode(claims, None, algorithm="none")
    tampered = real[:-3] + ("AAA" if not real.endswith("AAA") else "BBB")
    for token in (forged, unsigned, tampered, "garbage"):
        r = http.post(
            f"{mon.base_url}/specs/new/", data="{}", headers={"Authorization": f"Bearer {token}"}
        )
        _challenge(r)
        assert "invalid or expired" in r.json()["message"]


def test_expired_token_then_reauth(db_url):
    with LocalMonitor(db_url, token_lifetime=2, in_process=True) as m:
        tok = m.add_user("u")
        s = m.session()
        bearer = s.get(f"{m.base_url}/auth/token/", auth=("u", tok)).json()["token"]
        s.headers["Authorization"] = f"Bearer {bearer}"
        assert s.post(f"{m.base_url}/builds/update/", data="{}").status_code == 400
        time.sleep(3.2)  # exp counts from the whole second the token was issued in
        fields = _challenge(s.post(f"{m.base_url}/builds/update/", data="{}"))
        bearer = s.get(fields["realm"], auth=("u", tok)).json()["token"]
        s.headers["Authorization"] = f"Bearer {bearer}"
        assert s.post(f"{m.base_url}/builds/update/", data="{}").status_code == 400


def test_rotated_token_replaces_old(mon, http):
    old = mon.tokens["alice"]
    new = mon.rotate_token("alice")
    assert re.fullmatch(r"[0-9a-f]{40}", new) and new != old
    url = f"{mon.base_url}/auth/token/"
    assert http.get(url, auth=("alice", old)).status_code == 403
    assert http.get(url, auth=("alice", new)).status_code == 200


def test_tokens_are_stored_hashed(mon):
    from sqlalchemy import select

    from spackmon_analysis.server.tables import users

    with mon.store.read.connect() as conn:
        stored = dict(conn.execute(select(users.c.username, users.c.token_hash)).all())
    assert stored["alice"] != mon.tokens["alice"] and mon.tokens["alice"] not in stored.values()
    assert len(stored["alice"]) == 64
