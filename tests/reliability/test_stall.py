"""One upload never stalls the other clients (issue 14).

A real ``spackmon serve`` process takes uploads that froze the whole server before (a one-line
phase output of ``"error "`` x 32,000: 45 s; an error-dense log; a large spec) while another
client asks ``GET /ms1/`` and a data-API page every 50 ms. Every answer must come within a
generous bound (the target is 1 s; ``benchmarks/bench_stall.py`` measures the real figures)
and within half the time of the longest upload (a server that stalls holds an answer for about
the whole upload, so this fails on it at any machine speed, with uploads of a second or two),
every upload must be stored, and nothing may answer 5xx.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import relhelp
import requests
from testlib import BUILD_ENV

from spackmon_analysis.synth import generate_spec_document

BOUND = 5.0  # seconds; the target is 1 s (a shared 2-core machine under other test runs saw 2 s)
#: The uploads the other client waits beside: big enough that each takes a good part of a second
#: on a quiet machine (a stalling server then holds an answer for longer than twice the worst
#: answer of a server that does not stall), small enough to keep the suite fast.
SPEC_NODES = 4_000
DENSE_LINES = 30_000  # distinct error lines: more than the 5,000 a phase keeps
CLIENTS = 16  # uploading at once in the second test


def lean_spec(n_nodes: int, seed: int = 0) -> dict:
    """A spec document of ``n_nodes`` nodes whose targets are plain names (about 400 bytes a
    node: 200,000 nodes fit in the default 100 MiB body limit)."""
    doc = generate_spec_document(n_nodes, era="v4", seed=seed)
    for node in doc["spec"]["nodes"]:
        target = node["arch"]["target"]
        node["arch"]["target"] = target["name"] if isinstance(target, dict) else target
    return doc


def dense_log(n_lines: int) -> str:
    """An error-dense log: every line a distinct compiler error."""
    return "".join(
        f"src/f{i}.c:{i}:7: error: 'x{i}' undeclared (first use in this function)\n"
        for i in range(n_lines)
    )


class Uploader:
    def __init__(self, base: str, token: str):
        self.base = base
        self.s = requests.Session()
        r = self.s.get(f"{base}/auth/token/", auth=("u", token), timeout=30)
        assert r.status_code == 200, r.text
        self.s.headers["Authorization"] = "Bearer " + r.json()["token"]

    def post(self, path: str, body: dict) -> requests.Response:
        return self.s.post(f"{self.base}/{path}", data=json.dumps(body), timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("backend", relhelp.BACKENDS)
def test_uploads_do_not_stall_other_clients(backend, tmp_path):
    with relhelp.database(backend, tmp_path) as url:
        token = relhelp.cli("users", "add", "u", "--db", url).strip()
        with relhelp.ServeProcess(url, tmp_path / "serve.log") as server:
            up = Uploader(server.base, token)
            spec = lean_spec(3)  # the build's own spec, stored before the other client starts
            r = up.post("specs/new/", {"spec": spec, "spack_version": "0.22.0"})
            assert r.status_code == 201, r.text[:300]
            root = spec["spec"]["nodes"][0]["hash"]
            r = up.post("builds/new/", {**BUILD_ENV, "spack_version": "0.22.0", "full_hash": root})
            assert r.status_code == 201, r.text[:300]
            build_id = r.json()["data"]["build"]["build_id"]
            probes = [f"{server.base}/", f"{server.url}/api/builds/?limit=5"]
            uploads = {
                "one line of 'error ' x 32,000": "error " * 32_000,
                "one line of 'sh libtool --a --b error ' x 32,000": "sh libtool --a --b error "
                * 32_000,
                f"error-dense log of {DENSE_LINES:,} lines": dense_log(DENSE_LINES),
            }
            took: dict[str, float] = {}  # each upload's time, as its client saw it
            with relhelp.Prober(probes) as prober:
                for i, (what, output) in enumerate(uploads.items()):
                    body = {
                        "build_id": build_id,
                        "phase_name": f"p{i}",
                        "status": "ERROR",
                        "output": output,
                    }
                    start = time.monotonic()
                    r = up.post("builds/phases/update/", body)
                    took[what] = time.monotonic() - start
                    assert r.status_code == 200, (what, r.text[:300])
                # a large spec (new nodes) while the prober runs
                big = {"spec": lean_spec(SPEC_NODES, seed=1), "spack_version": "0.22.0"}
                start = time.monotonic()
                r = up.post("specs/new/", big)
                took[f"spec of {SPEC_NODES:,} nodes"] = time.monotonic() - start
                assert r.status_code == 201, r.text[:300]
            assert not prober.failures, prober.failures[:5]
            assert prober.sent > 10
            relhelp.record(
                f"stall [{backend}] worst GET during uploads (s)", round(prober.worst, 3)
            )
            assert prober.worst < BOUND, f"another client waited {prober.worst:.1f} s"
            longest = max(took, key=took.__getitem__)
            assert prober.worst < took[longest] / 2, (
                f"another client waited {prober.worst:.2f} s during an upload of "
                f"{took[longest]:.2f} s ({longest}): the server stalled"
            )
            # the uploads are stored, with their events (capped, and the cap is stored too)
            phases = requests.get(
                f"{server.url}/api/buildphases/", params={"limit": 10, "output": 0}, timeout=30
            ).json()
            assert phases["count"] == 3
            errors = f"{server.url}/api/builderrors/"
            count = requests.get(errors, params={"limit": 1}, timeout=30).json()["count"]
            assert count == 5_001  # the cap of distinct errors, and the row saying so
            last = requests.get(errors, params={"limit": 1, "offset": count - 1}, timeout=30)
            note = last.json()["results"][0]
            assert note["text"] == (
                f"[spackmon] {DENSE_LINES - 5_000} more error line(s) of this phase were not "
                "stored: at most 5000 distinct errors are kept per phase"
            ), note


@pytest.mark.slow
def test_many_clients_uploading_at_once_do_not_stall_the_others(tmp_path):
    """16 clients each upload an error-dense phase log of about 120 KiB at the same moment (each
    about 0.2 s of parsing and storing). Every write runs in a worker thread, so ``GET /ms1/``
    from another client still answers at once; when small writes (up to 128 KiB) ran on the
    event loop itself, they queued there one after another and ``GET /ms1/`` waited 6.4 s for
    32 such writes (about the time of the whole burst: the check against a quarter of the
    burst's time fails on that server at any machine speed). SQLite: the only backend that ever
    wrote on the event loop.

    The writes queue for the one write lock (about 3 s of work in all on a quiet machine);
    ``--db-wait 120`` keeps a write that waits past the default 15 s budget on a loaded machine
    (other test workers, other suites) from being answered 503: what is checked here is that
    the other client is never kept waiting, not the wait budget (tests/reliability/test_db_lock.py)."""
    with relhelp.database("sqlite", tmp_path) as url:
        token = relhelp.cli("users", "add", "u", "--db", url).strip()
        with relhelp.ServeProcess(url, tmp_path / "serve.log", "--db-wait", "120") as server:
            clients = [Uploader(server.base, token) for _ in range(CLIENTS)]
            spec = lean_spec(3)
            r = clients[0].post("specs/new/", {"spec": spec, "spack_version": "0.22.0"})
            assert r.status_code == 201, r.text[:300]
            root = spec["spec"]["nodes"][0]["hash"]
            r = clients[0].post(
                "builds/new/", {**BUILD_ENV, "spack_version": "0.22.0", "full_hash": root}
            )
            build_id = r.json()["data"]["build"]["build_id"]
            output = dense_log(1650)
            assert 100_000 < len(output) < 128 * 1024
            answers: list[int] = []
            start = threading.Barrier(len(clients))

            def upload(i: int) -> None:
                start.wait()
                body = {"build_id": build_id, "phase_name": f"p{i}", "status": "ERROR"}
                r = clients[i].post("builds/phases/update/", {**body, "output": output})
                answers.append(r.status_code)

            threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(clients))]
            with relhelp.Prober([f"{server.base}/"], every=0.01) as prober:
                burst = time.monotonic()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                burst = time.monotonic() - burst
            assert answers == [200] * len(clients)
            assert not prober.failures, prober.failures[:5]
            relhelp.record(
                f"stall [sqlite] worst GET during {CLIENTS} uploads at once (s)",
                round(prober.worst, 3),
            )
            # generous against the 1 s target (the figure here: about 0.06 s)
            assert prober.worst < 2.5, f"another client waited {prober.worst:.1f} s"
            assert prober.worst < burst / 4, (
                f"another client waited {prober.worst:.2f} s during {len(clients)} uploads "
                f"that took {burst:.2f} s in all: the writes queued on the event loop"
            )
            phases = requests.get(
                f"{server.url}/api/buildphases/", params={"limit": 1, "output": 0}, timeout=30
            ).json()
            assert phases["count"] == len(clients)
