"""Transport behaviour a real monitor cannot be made to show: 503s, 302 prefix moves,
301s, missing Location, a token endpoint answering ``access_token``, a server that is
down. A tiny real ``http.server`` on a loopback port plays the misbehaving server."""

from __future__ import annotations

import json

import pytest
from client_testlib import free_port
from rogue import ScriptedServer, make_client

from spackmon_analysis.client import SpackMonitorClient, parse_www_authenticate
from spackmon_analysis.errors import (
    AuthError,
    BadRequestError,
    MonitorError,
    PayloadTooLargeError,
    RedirectError,
    ServerError,
    TransportError,
)

INFO = {"id": "spackmon", "status": "running"}


def test_503_then_success_is_retried():
    answers = iter([(503, {}, {"message": "warming up"})])

    def script(method, path, headers, body):
        return next(answers, (200, {}, INFO))

    with ScriptedServer(script) as server:
        client = make_client(server.url, retries=2)
        assert client.service_info() == INFO
        assert server.paths() == [("GET", "/ms1/"), ("GET", "/ms1/")]
        assert client.retry_count == 1


def test_persistent_503_is_a_server_error_after_the_retries():
    with ScriptedServer(lambda *a: (503, {}, {"message": "maintenance"})) as server:
        client = make_client(server.url, retries=2)
        with pytest.raises(ServerError) as info:
            client.service_info()
        assert info.value.status_code == 503
        assert info.value.server_message == "maintenance"
        assert "after 2 retries" in str(info.value)
        assert len(server.seen) == 3


def test_302_moves_the_prefix_for_later_requests():
    def script(method, path, headers, body):
        if path.startswith("/ms1/"):
            return 302, {"Location": "/ms2/" + path[len("/ms1/") :]}, b""
        if path == "/ms2/":
            return 200, {}, INFO
        if path == "/ms2/builds/update/":
            return 200, {}, {"message": "Status updated", "data": json.loads(body), "code": 200}
        return 404, {}, {"message": "nope"}

    with ScriptedServer(script) as server:
        client = make_client(server.url, token="t", username="u")
        assert client.service_info() == INFO
        assert client.prefix == "ms2"
        assert client.baseurl == server.url + "/ms2"
        answer = client.update_build(7, "SUCCESS")  # goes straight to the new prefix, body intact
        assert answer["data"] == {"build_id": 7, "status": "SUCCESS"}
        assert server.paths() == [
            ("GET", "/ms1/"),
            ("GET", "/ms2/"),
            ("POST", "/ms2/builds/update/"),
        ]
        assert "ms2" in repr(client)


def test_302_to_a_bare_base_keeps_the_rest_of_the_path():
    def script(method, path, headers, body):
        if path.startswith("/ms1/"):
            return 302, {"Location": f"http://127.0.0.1:{server_port[0]}/v2/api/"}, b""
        return 200, {}, {"path": path}

    server_port = [0]
    with ScriptedServer(script) as server:
        server_port[0] = int(server.url.rsplit(":", 1)[1])
        client = make_client(server.url)
        assert client._call("GET", "specs/name/zlib/") == {"path": "/v2/api/specs/name/zlib/"}
        assert client.prefix == "v2/api"


def test_301_redirects_only_that_request():
    def script(method, path, headers, body):
        if path == "/ms1/":
            return 301, {"Location": "/elsewhere/"}, b""
        return 200, {}, {"at": path}

    with ScriptedServer(script) as server:
        client = make_client(server.url)
        assert client.service_info() == {"at": "/elsewhere/"}
        assert client.prefix == "ms1"


@pytest.mark.parametrize("status", [301, 302])
def test_redirect_without_location_is_a_redirect_error(status):
    with ScriptedServer(lambda *a: (status, {}, b"")) as server:
        client = make_client(server.url)
        with pytest.raises(RedirectError, match="without a Location") as info:
            client.service_info()
        assert info.value.status_code == status
        assert info.value.url == server.url + "/ms1/"


def test_server_down_is_a_transport_error_naming_the_url():
    port = free_port()
    client = make_client(f"http://127.0.0.1:{port}", retries=2)
    with pytest.raises(TransportError) as info:
        client.service_info()
    assert str(info.value) == (
        f"cannot connect to http://127.0.0.1:{port}/ms1/ (connection refused) after 3 "
        "attempts; is a monitor running there? Pass host= or set SPACKMON_HOST "
        "(spackmon serve listens on http://127.0.0.1:5000)"
    )
    assert info.value.status_code is None
    assert client.request_count == 3


def test_token_flow_with_access_token_and_no_scheme_word():
    def script(method, path, headers, body):
        if path == "/auth/token/":
            if headers.get("authorization") == "Basic dTp0b2s=":  # base64("u:tok")
                return 200, {}, {"access_token": "BEARER1", "expires_in": 60}
            return 403, {}, {"message": "Permission denied"}
        if headers.get("authorization") != "Bearer BEARER1":
            realm = f'realm="{server.url}/auth/token/",service="{server.url}",scope="build"'
            return 401, {"Www-Authenticate": realm}, {"message": "Unauthorized"}
        return 201, {}, {"message": "success", "data": {"ok": True}, "code": 201}

    with ScriptedServer(script) as server:
        client = make_client(server.url, username="u", token="tok")
        assert client._call("POST", "specs/new/", {"x": 1})["data"] == {"ok": True}
        assert client._call("POST", "specs/new/", {"x": 2})["code"] == 201
        assert client.auth_count == 1
        assert client.bearer == "BEARER1"
        assert server.paths() == [
            ("POST", "/ms1/specs/new/"),
            ("GET", "/auth/token/"),
            ("POST", "/ms1/specs/new/"),
            ("POST", "/ms1/specs/new/"),
        ]
        # the original body was sent again after authenticating
        assert json.loads(server.seen[2].body) == {"x": 1}

        wrong = make_client(server.url, username="u", token="bad")
        with pytest.raises(AuthError, match="Permission denied") as info:
            wrong._call("POST", "specs/new/", {})
        assert info.value.status_code == 403


def test_missing_credentials_name_the_environment_variables(monkeypatch):
    monkeypatch.delenv("SPACKMON_USER", raising=False)
    monkeypatch.delenv("SPACKMON_TOKEN", raising=False)
    header = {"Www-Authenticate": 'Bearer realm="http://x/auth/token/"'}
    with ScriptedServer(lambda *a: (401, header, {"message": "no"})) as server:
        client = make_client(server.url)
        with pytest.raises(AuthError, match="SPACKMON_USER and SPACKMON_TOKEN") as info:
            client.update_build(1, "SUCCESS")
        assert info.value.status_code == 401


def test_error_statuses_map_to_typed_errors_with_the_server_message():
    answers = {
        "/ms1/a/": (400, {}, {"message": "Missing required build id.", "code": 400}),
        "/ms1/b/": (413, {}, {"message": "too big"}),
        "/ms1/c/": (500, {}, b"<html>Internal Server Error</html>"),
        "/ms1/d/": (200, {}, b"this is not json"),
        "/ms1/e/": (422, {}, {"detail": [{"loc": ["body"], "msg": "bad"}]}),
    }
    with ScriptedServer(lambda m, path, h, b: answers[path]) as server:
        client = make_client(server.url, retries=0)
        with pytest.raises(BadRequestError) as info:
            client._call("POST", "a/", {})
        assert (info.value.status_code, info.value.server_message) == (
            400,
            "Missing required build id.",
        )
        assert info.value.method == "POST" and info.value.url.endswith("/ms1/a/")
        with pytest.raises(PayloadTooLargeError, match="too big"):
            client._call("POST", "b/", {})
        with pytest.raises(ServerError, match="Internal Server Error"):
            client._call("GET", "c/")
        with pytest.raises(MonitorError, match="not JSON"):
            client._call("GET", "d/")
        with pytest.raises(BadRequestError, match="bad"):
            client._call("POST", "e/", {})


def test_parse_www_authenticate_with_and_without_scheme():
    bare = 'realm="http://h/ms1/auth/token/",service="http://h/ms1",scope="build"'
    assert parse_www_authenticate(bare) == {
        "realm": "http://h/ms1/auth/token/",
        "service": "http://h/ms1",
        "scope": "build",
    }
    with_scheme = parse_www_authenticate("Bearer " + bare)
    assert with_scheme["scheme"] == "Bearer"
    assert with_scheme["realm"] == "http://h/ms1/auth/token/"


def test_defaults_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SPACKMON_HOST", "http://example.invalid:5000/")
    monkeypatch.setenv("SPACKMON_USER", "vsoch")
    monkeypatch.setenv("SPACKMON_TOKEN", "50445263afd8f67e59bd79bff597836ee6c05438")
    client = SpackMonitorClient()
    assert client.baseurl == "http://example.invalid:5000/ms1"
    assert (client.username, client.token) == ("vsoch", "50445263afd8f67e59bd79bff597836ee6c05438")
    assert (
        repr(client)
        == "<SpackMonitorClient http://example.invalid:5000/ms1/ user=vsoch (credentials set)>"
    )
    monkeypatch.delenv("SPACKMON_HOST")
    assert SpackMonitorClient(prefix="ms2").baseurl == "http://127.0.0.1/ms2"


def test_the_lean_send_path_keeps_hooks_bodies_and_headers():
    """The client's own session sends on its adapter directly: the body and headers arrive
    as built, the session's response hooks still run, no cookie is kept."""
    answer = {"message": "ok", "code": 200}
    with ScriptedServer(lambda *a: (200, {"Set-Cookie": "a=b; Path=/"}, answer)) as server:
        client = make_client(server.url)
        seen = []
        client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.status_code))
        client._call("POST", "builds/update/", {"build_id": 1, "status": "SUCCESS"})
        assert client.service_info() == answer
    post, _get = server.seen
    headers, body = post.headers, post.body
    assert json.loads(body) == {"build_id": 1, "status": "SUCCESS"}
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body))
    assert headers["user-agent"].startswith("spackmon-analysis/")
    assert seen == [200, 200]  # response hooks on the session still run
    assert len(client.session.cookies) == 0


def test_a_wrapped_session_send_is_still_called():
    """Wrapping ``client.session.send`` (a seam tests use to inject faults) keeps working."""
    with ScriptedServer(lambda *a: (200, {}, INFO)) as server:
        client = make_client(server.url)
        sent = []
        original = client.session.send

        def spy(request, **kwargs):
            sent.append((request.method, request.url, kwargs["allow_redirects"]))
            return original(request, **kwargs)

        client.session.send = spy
        assert client.service_info() == INFO
    assert sent == [("GET", server.url + "/ms1/", False)]
