"""The coalescing transport under uvicorn's httptools protocol: one send per response."""

from __future__ import annotations

import asyncio

import pytest
import requests

from spackmon_analysis.server import LocalMonitor
from spackmon_analysis.server.local import _CoalescingTransport, _http_impl


class FakeTransport:
    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else default


def test_writes_of_one_loop_turn_leave_together():
    async def run() -> FakeTransport:
        raw = FakeTransport()
        t = _CoalescingTransport(raw, asyncio.get_running_loop())
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"")
        t.write(b"{}")
        assert raw.writes == []  # nothing sent before the loop turns
        await asyncio.sleep(0)
        assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        t.write(b"last")
        t.close()  # sends what is buffered, then closes
        assert raw.writes[-1] == b"last" and raw.closed
        assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is delegated
        await asyncio.sleep(0)
        assert len(raw.writes) == 2
        return raw

    asyncio.run(run())


def test_one_send_per_response(monkeypatch):
    """Under the real server every response (GET and the write fast path) is one transport write."""
    if _http_impl() == "h11":
        pytest.skip("httptools is not installed")
    sent: list[bytes] = []
    original = _CoalescingTransport._flush

    def counting_flush(self):
        sent.extend(self._chunks and [b"".join(self._chunks)])
        original(self)

    monkeypatch.setattr(_CoalescingTransport, "_flush", counting_flush)
    with LocalMonitor() as mon:
        mon.add_user("alice")
        s = requests.Session()
        tok = s.get(f"{mon.base_url}/auth/token/", auth=("alice", mon.tokens["alice"])).json()
        s.headers["Authorization"] = "Bearer " + tok["token"]
        sent.clear()
        for _ in range(10):
            assert s.get(f"{mon.base_url}/").status_code == 200
            r = s.post(f"{mon.base_url}/builds/update/", data=b'{"build_id": 7, "status": "X"}')
            assert r.status_code == 400
    assert len(sent) == 20
    assert all(chunk.startswith(b"HTTP/1.1 ") and chunk.endswith(b"}") for chunk in sent)
