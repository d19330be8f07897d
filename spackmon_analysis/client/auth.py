"""One ``ms1`` request: redirects, the token flow, and the answer's errors.

- redirects: 301/307/308 redirect the one request; a 302 on the server's own origin
  moves the base URL (host and prefix) for every later request (PROTOCOL section 2).
  A redirect to another origin is followed for that one request without the
  ``Authorization`` header, and never moves the base URL; a redirect without
  ``Location`` raises :class:`~spackmon_analysis.errors.RedirectError`;
- the docker-style token flow (PROTOCOL section 3): a 401 carrying ``Www-Authenticate``
  (with or without a scheme word) sends ``GET <realm>`` with HTTP Basic credentials
  (``SPACKMON_USER`` / ``SPACKMON_TOKEN``), takes ``token`` or ``access_token`` from the
  answer, retries the original request once with ``Authorization: Bearer``, keeps the
  bearer for later requests and repeats the dance when a later 401 says it expired.
  The Basic credentials go only to a realm on the server's own origin (or an origin
  named in ``auth_hosts``); the bearer only to the server's own origin;
- an answer that is not 2xx becomes the typed
  :class:`~spackmon_analysis.errors.HTTPStatusError` for its status, carrying the
  method, URL, status code and the server's message.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ..errors import (
    AuthError,
    BadRequestError,
    HTTPStatusError,
    MonitorError,
    NotFoundError,
    PayloadTooLargeError,
    RedirectError,
    ServerError,
)
from .transport import Transport, _encode_json, _server_message

MAX_REDIRECTS = 5

_AUTH_FIELD = re.compile(r'([A-Za-z_]+)\s*=\s*"([^"]*)"')


def parse_www_authenticate(header: str) -> dict[str, str]:
    """The ``key="value"`` fields of a ``Www-Authenticate`` header.

    Works with or without a leading scheme word: ``Bearer realm="...",service="..."``
    and ``realm="...",service="..."`` give the same dict (plus ``scheme`` when present).
    """
    fields = {key.lower(): value for key, value in _AUTH_FIELD.findall(header or "")}
    head = (header or "").strip().split(None, 1)
    if head and "=" not in head[0]:
        fields["scheme"] = head[0]
    return fields


def _error_class(status: int) -> type[HTTPStatusError]:
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFoundError
    if status == 413:
        return PayloadTooLargeError
    if status >= 500:
        return ServerError
    return BadRequestError


def _dig(payload: Any, *keys: str, what: str) -> Any:
    """``payload[k1][k2]...`` or a MonitorError naming the missing field."""
    value = payload
    walked = []
    for key in keys:
        walked.append(key)
        if not isinstance(value, Mapping) or key not in value:
            raise MonitorError(
                f"{what}: the server's answer has no {'.'.join(walked)!r} "
                f"(got {json.dumps(payload)[:300]})"
            )
        value = value[key]
    return value


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str, default_scheme: str = "http") -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL (or of a bare ``host[:port]``), lower-cased."""
    text = url if "://" in url else f"{default_scheme}://{url}"
    parts = urlsplit(text)
    scheme = (parts.scheme or default_scheme).lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme, 0)


def _same_site(base: str, url: str) -> bool:
    """True when ``url`` is on the origin of ``base``, or is its upgrade from http to https
    on the same host with the default ports (what a server behind TLS redirects to)."""
    a, b = _origin(base), _origin(url)
    if a == b:
        return True
    return a == ("http", b[1], 80) and b == ("https", a[1], 443)


def _show_origin(url: str) -> str:
    scheme, host, port = _origin(url)
    if _DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _challenge_error(
    message: str, challenge: requests.Response, method: str, url: str
) -> AuthError:
    """The :class:`AuthError` for a 401 ``challenge`` to ``method url`` that the client cannot
    answer (no credentials, no usable realm, a realm off the server's origin)."""
    return AuthError(
        message,
        method=method,
        url=url,
        status_code=401,
        server_message=_server_message(challenge),
        response=challenge,
    )


def _split_host(host: str, prefix: str) -> str:
    """``host`` as scheme://netloc[/path] without a trailing ``/`` or a trailing ``prefix``.

    ``http://127.0.0.1:5000/ms1/`` with prefix ``ms1`` is ``http://127.0.0.1:5000``; a path
    before the prefix (a server behind a reverse proxy at ``/monitor/ms1/``) is kept.
    """
    host = host.strip()
    if "://" not in host:
        host = "http://" + host
    host = host.rstrip("/")
    scheme_end = host.index("://") + 3
    path_start = host.find("/", scheme_end)
    if prefix and path_start != -1:
        head, _, last = host.rpartition("/")
        if last == prefix and len(head) >= scheme_end:
            host = head.rstrip("/")
    return host


class Authenticated(Transport):
    """Requests under the ``ms1`` base with redirects and the token flow handled (module
    docstring); the answers' errors typed. ``SpackMonitorClient.__init__`` sets the
    attributes below."""

    token: str | None
    username: str | None
    auth_hosts: Sequence[str]
    bearer: str | None
    _auth_lock: threading.Lock
    auth_count: int

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        raw_body: bytes | None = None,
    ) -> requests.Response:
        """A request under the ms1 base with redirects and the token flow handled.

        Returns a 2xx response; raises a typed :class:`MonitorError` otherwise. The
        bearer goes only to the server's own origin: a redirect elsewhere is followed
        for this request without it, and only a 302 on the same origin moves the base.
        """
        url = self._url(path)
        body = raw_body
        if json_body is not None:
            body = _encode_json(json_body, method, url)
        redirects = 0
        authenticated_for_this = False
        while True:
            headers = {"Accept": "application/json"}
            bearer = self.bearer
            if bearer and _same_site(self.host, url):
                headers["Authorization"] = f"Bearer {bearer}"
            response, retries = self._send_counted(
                method, url, body=body, params=params, headers=headers
            )
            status = response.status_code
            if status in (301, 302, 303, 307, 308):
                redirects += 1
                location = response.headers.get("Location")
                response.close()
                if not location:
                    raise RedirectError(
                        f"{method} {url} answered {status} without a Location header",
                        method=method,
                        url=url,
                        status_code=status,
                        response=response,
                    )
                if redirects > MAX_REDIRECTS:
                    raise RedirectError(
                        f"{method} {url}: more than {MAX_REDIRECTS} redirects (last to {location})",
                        method=method,
                        url=url,
                        status_code=status,
                        response=response,
                    )
                target = urljoin(url, location)
                if (
                    status == 302
                    and url.startswith(self.baseurl + "/")
                    and _same_site(self.host, target)
                ):
                    url = self._move_base(url, target)
                else:  # this request only (another origin never becomes the base)
                    url = target
                continue
            if status == 401 and not authenticated_for_this:
                self._authenticate(response, method, url, stale=bearer)
                authenticated_for_this = True
                continue
            if 200 <= status < 300:
                return response
            raise self._error(response, method, url, retries)

    def _move_base(self, request_url: str, location: str) -> str:
        """Apply a 302 on the same origin: switch the prefix (and an http -> https upgrade
        of the host) for all later requests; return the new URL."""
        old_base = self.baseurl + "/"
        rest = request_url[len(old_base) :] if request_url.startswith(old_base) else ""
        rest = rest.split("?", 1)[0]
        parts = urlsplit(location)
        path = parts.path
        if rest and path.endswith("/" + rest):
            base_path = path[: -len(rest)]
        else:
            base_path = path
        with self._lock:
            new_host = f"{parts.scheme}://{parts.netloc}"
            if new_host != self.host and self._owns_session:
                self.host = new_host
                self._read_environment_settings()
            self.host = new_host
            self.prefix = base_path.strip("/")
        return self._url(rest)

    def _realm_allowed(self, realm: str) -> bool:
        """True when the Basic credentials may go to ``realm``: the server's own origin,
        or one named in ``auth_hosts`` (a URL names an origin, a bare name a host)."""
        if _same_site(self.host, realm):
            return True
        scheme, host, port = _origin(realm)
        for allowed in self.auth_hosts:
            text = str(allowed).strip().rstrip("/")
            if "://" in text or ":" in text:
                if _origin(text, default_scheme=scheme) == (scheme, host, port):
                    return True
            elif text.lower() == host:
                return True
        return False

    def _authenticate(
        self, challenge: requests.Response, method: str, url: str, stale: str | None
    ) -> None:
        """Run the token flow after a 401 (PROTOCOL section 3), one thread at a time."""
        with self._auth_lock:
            if self.bearer and self.bearer != stale:
                return  # another thread refreshed the bearer meanwhile: just retry
            self._token_flow(challenge, method, url)

    def _token_flow(self, challenge: requests.Response, method: str, url: str) -> None:
        if not (self.username and self.token):
            raise _challenge_error(
                f"{method} {url} needs credentials: {self._hints['credentials']}",
                challenge,
                method,
                url,
            )
        header = challenge.headers.get("Www-Authenticate", "")
        fields = parse_www_authenticate(header)
        realm = fields.get("realm")
        if not realm:
            raise _challenge_error(
                f"{method} {url} answered 401 without a usable Www-Authenticate realm "
                f"(header: {header!r})",
                challenge,
                method,
                url,
            )
        realm = urljoin(url, realm)
        if not self._realm_allowed(realm):
            raise _challenge_error(
                f"{method} {url} answered 401 naming the token realm {realm}, which is not "
                f"on the server's own origin ({_show_origin(self.host)}); the API token was "
                "not sent there. If that host really issues this server's tokens, name it "
                f"in auth_hosts= (e.g. auth_hosts=[{_show_origin(realm)!r}])",
                challenge,
                method,
                url,
            )
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode("ascii")
        answer = self._send(
            "GET", realm, headers={"Authorization": f"Basic {basic}", "Accept": "application/json"}
        )
        if answer.status_code != 200:
            message = _server_message(answer)
            raise AuthError(
                f"authentication as {self.username!r} at {realm} failed "
                f"({answer.status_code}): {message}",
                method="GET",
                url=realm,
                status_code=answer.status_code,
                server_message=message,
                response=answer,
            )
        try:
            payload = answer.json()
        except ValueError:
            payload = None
        token = None
        if isinstance(payload, Mapping):
            token = payload.get("token") or payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                f"the token endpoint {realm} answered without a token "
                f"(expected 'token' or 'access_token')",
                method="GET",
                url=realm,
                status_code=answer.status_code,
                server_message=(answer.text or "")[:300],
                response=answer,
            )
        with self._lock:
            self.bearer = token
            self.auth_count += 1

    def _error(
        self, response: requests.Response, method: str, url: str, retries: int = 0
    ) -> HTTPStatusError:
        """The typed error of a non-2xx answer (``retries``: attempts spent before it)."""
        status = response.status_code
        message = _server_message(response)
        cls = _error_class(status)
        text = f"{method} {url} -> {status}: {message}"
        if retries:
            text += f" (after {retries} retr{'y' if retries == 1 else 'ies'})"
        if cls is AuthError and status == 401:
            text += f" ({self._hints['credentials']})" if not (self.username and self.token) else ""
        return cls(
            text,
            method=method,
            url=url,
            status_code=status,
            server_message=message,
            response=response,
        )

    def _item_error(self, path: str, status: int, answer: Any) -> HTTPStatusError:
        """The typed error that ``POST <path>`` alone would have raised for the answer
        ``(status, JSON body)`` of one item of a batch (same class, same message)."""
        url = self._url(path)
        message = ""
        if isinstance(answer, Mapping):
            for key in ("message", "detail", "error", "errors"):
                if key in answer and answer[key] not in (None, ""):
                    value = answer[key]
                    message = value if isinstance(value, str) else json.dumps(value)
                    break
        message = message or f"HTTP {status}"
        cls = _error_class(status)
        return cls(
            f"POST {url} -> {status}: {message}",
            method="POST",
            url=url,
            status_code=status,
            server_message=message,
            response=None,
        )

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            request = response.request
            raise MonitorError(
                f"{request.method} {request.url} answered {response.status_code} "
                f"with a body that is not JSON: {(response.text or '')[:200]!r}",
                method=request.method,
                url=request.url,
                status_code=response.status_code,
                server_message=(response.text or "")[:500],
                response=response,
            ) from exc

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._request(method, path, json_body=body, params=params or None)
        return self._json(response)

    def _api_url(self, route: str) -> str:
        return f"{self.host}/api/{route.strip('/')}/"
