"""Public reads are bounded (issue 14): pages in bytes as well as rows, outputs left out of list
pages unless asked, /all/ streamed in bounded memory; the client still gets every output."""

from __future__ import annotations

import json
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from testlib import BUILD_ENV as ENV

from spackmon_analysis import LocalMonitor, MonitorData

SPECS = Path(__file__).resolve().parents[1] / "data" / "specs"


class _Api:
    """POSTs as one user, through the real token flow."""

    def __init__(self, mon: LocalMonitor, user: str):
        self.base = mon.base_url
        self.s = mon.session()
        r = self.s.get(f"{self.base}/auth/token/", auth=(user, mon.tokens[user]))
        self.s.headers["Authorization"] = "Bearer " + r.json()["token"]

    def post(self, path: str, body: object) -> requests.Response:
        return self.s.post(f"{self.base}/{path}", data=json.dumps(body))


def _build(api) -> int:
    doc = json.loads((SPECS / "tinyapp-spack-0.17.1.json").read_text())
    r = api.post("specs/new/", {"spec": doc, "spack_version": "0.17.1"})
    root = r.json()["data"]["spec"]["full_hash"]
    r = api.post("builds/new/", {**ENV, "spack_version": "0.17.1", "full_hash": root})
    return r.json()["data"]["build"]["build_id"]


def _log(i: int, size: int) -> str:
    line = f"==> phase {i}: compiling part of the package, all is well\n"
    return line * (size // len(line))


@pytest.fixture
def small_pages(db_url: str | None) -> Iterator[LocalMonitor]:
    """A monitor whose data API pages hold at most 100 kB of results."""
    with LocalMonitor(db_url, max_page_bytes=100_000, in_process=True) as m:
        m.add_user("alice")
        yield m


def test_list_pages_leave_outputs_out_unless_asked(alice, mon, http):
    build_id = _build(alice)
    log = _log(0, 5000)
    r = alice.post(
        "builds/phases/update/",
        {"build_id": build_id, "phase_name": "build", "status": "SUCCESS", "output": log},
    )
    assert r.status_code == 200, r.text
    (row,) = http.get(f"{mon.url}/api/buildphases/").json()["results"]
    assert "output" not in row and row["output_size"] == len(log)
    (whole,) = http.get(f"{mon.url}/api/buildphases/", params={"output": 1}).json()["results"]
    assert whole["output"] == log
    one = http.get(f"{mon.url}/api/buildphases/{row['id']}/")
    assert one.status_code == 200 and one.json() == whole
    missing = http.get(f"{mon.url}/api/buildphases/{row['id'] + 1000}/")
    assert missing.status_code == 404
    assert missing.json()["message"] == f"No row {row['id'] + 1000} in /api/buildphases/."
    for bad in (2**40, 2**70, 0, -3):  # no row has such an id, on either backend
        assert http.get(f"{mon.url}/api/buildphases/{bad}/").status_code == 404
    assert http.get(f"{mon.url}/api/buildphases/abc/").status_code == 400
    assert http.get(f"{mon.url}/api/nosuch/1/").status_code == 404


def test_a_page_is_bounded_in_bytes_and_next_continues_after_it(small_pages):
    mon = small_pages
    http = mon.session()
    alice = _Api(mon, "alice")
    build_id = _build(alice)
    logs = [_log(i, 40_000) for i in range(6)]
    for i, log in enumerate(logs):
        r = alice.post(
            "builds/phases/update/",
            {"build_id": build_id, "phase_name": f"p{i}", "status": "SUCCESS", "output": log},
        )
        assert r.status_code == 200, r.text
    url = f"{mon.url}/api/buildphases/?limit=100000&output=1"
    seen, pages = [], 0
    while url:
        r = http.get(url)
        assert r.status_code == 200, r.text
        assert len(r.content) <= 100_000 + 500  # results within the budget, plus the envelope
        page = r.json()
        assert page["count"] == 6
        assert len(page["results"]) == 2  # 2 x 40 kB fit in 100 kB, a third does not
        seen += page["results"]
        pages += 1
        url = page["next"]
        if url:
            assert parse_qs(urlparse(url).query)["offset"] == [str(len(seen))]
    assert pages == 3
    assert [p["output"] for p in seen] == logs
    # one row larger than the budget still comes, alone
    big = _log(9, 150_000)
    alice.post(
        "builds/phases/update/",
        {"build_id": build_id, "phase_name": "big", "status": "SUCCESS", "output": big},
    )
    page = http.get(f"{mon.url}/api/buildphases/", params={"offset": 6, "output": 1}).json()
    assert [p["output"] for p in page["results"]] == [big] and page["next"] is None

    # the client follows short pages to the end, and MonitorData still gets every output
    client = mon.client("alice")
    rows = list(client.phases(output=1))
    assert [p["output"] for p in rows] == [*logs, big]
    assert client.phases(output=1)[5]["output"] == logs[5]
    assert client.phase(rows[0]["id"])["output"] == logs[0]
    data = MonitorData.from_client(client)
    assert sorted(data.phases["output"].map(len)) == sorted(len(x) for x in [*logs, big])


def _peak_while(fn) -> int:
    """Peak traced Python memory (bytes) while ``fn`` runs (server thread included)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.real_socket  # streamed to a reader over a socket: the in-process adapter buffers
def test_all_and_big_pages_stream_in_bounded_memory(alice, mon, http):
    """/all/ of 6 x 4 MB outputs, and 4 concurrent limit=100000 pages asking for the outputs,
    hold about one byte budget (8 MiB) per request, not the 24 MB table (the old server held
    every row of a chunk and its JSON at once: over 100 MB here)."""
    build_id = _build(alice)
    size = 4_000_000
    for i in range(6):
        r = alice.post(
            "builds/phases/update/",
            {
                "build_id": build_id,
                "phase_name": f"p{i}",
                "status": "SUCCESS",
                "output": _log(i, size),
            },
        )
        assert r.status_code == 200, r.text

    def stream_all() -> None:
        got = 0
        with http.get(f"{mon.url}/api/buildphases/all/", stream=True) as r:
            assert r.status_code == 200
            for chunk in r.iter_content(65536):
                got += len(chunk)
        assert got > 6 * size

    peak = _peak_while(stream_all)
    print(f"/all/ peak {peak / 2**20:.1f} MiB")
    assert peak < 48 * 2**20, f"/all/ peak {peak / 2**20:.0f} MiB"

    def pages() -> None:
        answers = []

        def one() -> None:
            r = http.get(
                f"{mon.url}/api/buildphases/", params={"limit": 100000, "output": 1}, stream=True
            )
            answers.append((r.status_code, sum(len(c) for c in r.iter_content(65536))))

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [a[0] for a in answers] == [200] * 4
        assert all(a[1] <= 8 * 2**20 + 1000 for a in answers)  # 2 rows of 4 MB per page

    peak = _peak_while(pages)
    print(f"4 pages peak {peak / 2**20:.1f} MiB")
    assert peak < 120 * 2**20, f"4 pages peak {peak / 2**20:.0f} MiB"


@pytest.mark.slow
@pytest.mark.real_socket  # the big row streamed to a reader over a socket (see above)
def test_one_phase_is_streamed_in_pieces(alice, mon, monkeypatch, http):
    """GET /api/buildphases/<id>/ reads and sends the output in pieces of characters (here 1000;
    multi-byte characters cut nowhere), and holds about one piece, not the log."""
    from spackmon_analysis.server.queries import reads

    build_id = _build(alice)
    text = "".join(f'line {i}: é € 😀 "quoted" \\ tab\t\n' for i in range(3000))
    for name, output in (("build", text), ("empty", None)):
        r = alice.post(
            "builds/phases/update/",
            {"build_id": build_id, "phase_name": name, "status": "SUCCESS", "output": output},
        )
        assert r.status_code == 200, r.text
    rows = http.get(f"{mon.url}/api/buildphases/", params={"output": 1}).json()["results"]
    monkeypatch.setattr(reads, "OUTPUT_PIECE", 1000)
    for row in rows:
        one = http.get(f"{mon.url}/api/buildphases/{row['id']}/")
        assert one.status_code == 200
        assert one.json() == row  # same fields, same order of keys, same text
        assert list(one.json()) == list(row)
    assert rows[0]["output"] == text and rows[1]["output"] is None

    big = _log(1, 20_000_000)
    alice.post(
        "builds/phases/update/",
        {"build_id": build_id, "phase_name": "big", "status": "SUCCESS", "output": big},
    )
    big_id = rows[-1]["id"] + 1
    monkeypatch.setattr(reads, "OUTPUT_PIECE", 1 << 20)
    got = []

    def fetch() -> None:
        with http.get(f"{mon.url}/api/buildphases/{big_id}/", stream=True) as r:
            got.append(sum(len(c) for c in r.iter_content(1 << 16)))

    peak = _peak_while(fetch)
    assert got[0] > 20_000_000 - 100
    assert peak < 16 * 2**20, f"per-row peak {peak / 2**20:.0f} MiB for a 20 MB log"
