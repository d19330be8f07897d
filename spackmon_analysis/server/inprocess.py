"""The server's application driven in-process: ``requests`` -> ASGI, with no socket.

:class:`AppRunner` runs one ASGI application on an event loop of its own (a daemon thread), as
uvicorn would, and :class:`InProcessAdapter` is a ``requests`` transport adapter that hands each
request to it. Everything above the adapter is the real client stack: a ``requests.Session``
(and :class:`~spackmon_analysis.client.SpackMonitorClient` on it) prepares, sends, reads and
decodes exactly as over a socket, and the answer's body is a real ``urllib3`` response object.
What this leaves out is what lies below the application: the TCP connection, uvicorn's HTTP
parser and the transport limits of :mod:`.guard`. Tests of those run on a real port.

``LocalMonitor(in_process=True)`` uses it; the test suite's server fixtures do, which is what
makes the suite fast (no server thread, port or uvicorn start per test).
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Coroutine, Iterable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPHeaderDict
from urllib3.response import HTTPResponse

__all__ = ["AppRunner", "InProcessAdapter"]

#: The client address the application sees (what uvicorn puts in ``scope["client"]``).
CLIENT_ADDRESS = ("127.0.0.1", 40000)

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
_T = TypeVar("_T")

#: What uvicorn answers when the application fails before it answers.
_FAILED: Answer = (
    500,
    [(b"content-type", b"text/plain; charset=utf-8")],
    b"Internal Server Error",
)

log = logging.getLogger("uvicorn.error")  # where uvicorn logs an application's exception


class AppRunner:
    """One ASGI application served by an event loop in a daemon thread.

    :meth:`call` runs one HTTP request through the application and waits for the whole answer
    (status, headers, body). The loop is the application's, as under uvicorn: work the app
    hands to threads (``run_in_executor``, ``run_in_threadpool``) runs as it does when served.
    """

    def __init__(self, app: Any, name: str = "spackmon-in-process") -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def call(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes,
        timeout: float | None = None,
    ) -> Answer:
        """``(status, headers, body)`` of one request (``headers`` as the bytes on the wire);
        ``TimeoutError`` after ``timeout`` s."""
        if not self.running:
            raise ConnectionError("the in-process server is stopped")
        future = asyncio.run_coroutine_threadsafe(
            self._exchange(method, url, headers, body), self.loop
        )
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout} s") from None

    async def _exchange(
        self, method: str, url: str, headers: Iterable[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        raw_path = parts.path or "/"
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": parts.scheme or "http",
            "path": unquote(raw_path),
            "raw_path": raw_path.encode("latin-1"),
            "query_string": parts.query.encode("latin-1"),
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in headers],
            "server": (parts.hostname or "", port),
            "client": CLIENT_ADDRESS,
            "state": {},
        }
        sent_body = False
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # the client is listening until the answer is complete
            return {"type": "http.disconnect"}

        status: int | None = None
        out_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def send(message: Mapping[str, Any]) -> None:
            nonlocal status, out_headers
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
                out_headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            elif kind == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        try:
            await self.app(scope, receive, send)
        except Exception:
            # as uvicorn: logged; a 500 when nothing was sent yet, the answer when it was sent
            # whole (Starlette re-raises after its 500), a dropped connection in between
            log.exception("Exception in ASGI application")
            if status is None:
                return _FAILED
            if not done.is_set():
                raise
        finally:
            done.set()
        if status is None:  # the application answered nothing: uvicorn sends a 500 too
            return _FAILED
        if method.upper() == "HEAD":
            chunks.clear()
        return status, out_headers, b"".join(chunks)

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run a coroutine on the application's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread (pending calls are cancelled)."""
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            try:
                self.run(cancel_all(), timeout=10)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


def _body_bytes(body: Any) -> bytes:
    """A prepared request's body (bytes, text, a file or an iterable of chunks) as bytes."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body)


def _latin1(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("latin-1")


class InProcessAdapter(HTTPAdapter):
    """A ``requests`` transport adapter that answers from an :class:`AppRunner`, no socket.

    Mount it on a session for the in-process server's URL (``session.mount(url, adapter)``).
    The request gets the headers ``http.client`` would add (``Host``, and ``Content-Length``
    for a body), a read timeout becomes :class:`requests.exceptions.ReadTimeout`, a stopped
    server :class:`requests.exceptions.ConnectionError`, and the answer is a ``urllib3``
    response read through the same code as one from a socket (``stream=True`` included).
    """

    def __init__(self, runner: AppRunner) -> None:
        super().__init__(max_retries=0)
        self.runner = runner

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = request.url if isinstance(request.url, str) else str(request.url)
        body = _body_bytes(request.body)
        headers = list(request.headers.items())
        names = {k.lower() for k, _ in headers}
        if "host" not in names:
            headers.insert(0, ("Host", urlsplit(url).netloc))
        if "transfer-encoding" in names:  # a chunked body arrives whole here
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
            headers.append(("Content-Length", str(len(body))))
        elif body and "content-length" not in names:
            headers.append(("Content-Length", str(len(body))))
        # encoded as http.client does (a value outside Latin-1 raises UnicodeEncodeError here)
        wire = [(_latin1(k), _latin1(v)) for k, v in headers]
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        try:
            status, out_headers, data = self.runner.call(
                request.method or "GET", url, wire, body, read_timeout
            )
        except TimeoutError as exc:
            raise requests.exceptions.ReadTimeout(str(exc), request=request) from None
        except ConnectionError as exc:
            raise requests.exceptions.ConnectionError(str(exc), request=request) from None
        except Exception as exc:  # the application failed after it began its answer
            raise requests.exceptions.ConnectionError(
                f"the server dropped the connection mid-answer: {exc!r}", request=request
            ) from exc
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        head = HTTPHeaderDict()
        for key, value in out_headers:
            head.add(key.decode("latin-1"), value.decode("latin-1"))
        raw = HTTPResponse(
            body=io.BytesIO(data),
            headers=head,
            status=status,
            version=11,
            version_string="HTTP/1.1",
            reason=reason,
            preload_content=False,
            decode_content=True,
            request_method=request.method,
            request_url=url,
        )
        response = self.build_response(request, raw)
        if not stream:
            response.content  # noqa: B018 - read now, as HTTPAdapter does without stream
        return response

    def close(self) -> None:
        """Nothing to release (the runner belongs to its monitor)."""
