"""8 clients replaying the same save-local runs at once, through two servers on one database.

Every client replays all 8 runs (the bundled examples and tests/data/save-local: the same specs
and builds, so every write overlaps with seven others) starting together behind a barrier; four
go to one server and four to a second server process-equivalent (its own LocalMonitor, engine and
writer connection) on the same database, so writes race in the database itself, not only in one
server's lock. Afterwards: no answer >= 500, no replay problem, no duplicate row, and the
database equals one sequential replay table by table (ids and timestamps aside).
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import relhelp

from spackmon_analysis.client import SpackMonitorClient
from spackmon_analysis.server import LocalMonitor

CLIENTS = 8
SERVERS = 2


@pytest.mark.slow
@pytest.mark.parametrize("backend", relhelp.BACKENDS)
def test_concurrent_overlapping_replays(backend, tmp_path):
    reference = relhelp.reference_dump(tmp_path)
    with relhelp.database(backend, tmp_path) as url:
        first = LocalMonitor(url).start()
        try:
            token = first.add_user("u")
            servers = [first] + [LocalMonitor(url).start() for _ in range(SERVERS - 1)]
            statuses: Counter[int] = Counter()
            lock = threading.Lock()

            def count(response, *_a, **_k):
                with lock:
                    statuses[response.status_code] += 1

            barrier = threading.Barrier(CLIENTS)
            results: list = [None] * CLIENTS

            def worker(i: int) -> None:
                mon = servers[i % SERVERS]
                client = SpackMonitorClient(
                    mon.url, username="u", token=token, progress=False, retries=0
                )
                client.session.hooks["response"].append(count)
                try:
                    barrier.wait()
                    results[i] = relhelp.replay(client)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    results[i] = exc
                finally:
                    client.close()

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert not any(t.is_alive() for t in threads), "a replay hung"
            for i, result in enumerate(results):
                assert not isinstance(result, BaseException), f"client {i}: {result!r}"
                assert not result.problems, f"client {i}: {result.problems[:3]}"
            assert not [s for s in statuses if s >= 500], statuses
            got = relhelp.canonical(first.store.read)
        finally:
            for mon in reversed(servers if "servers" in locals() else [first]):
                mon.stop()
    relhelp.assert_no_duplicates(got)
    rows = relhelp.assert_same(got, reference, f"{CLIENTS} concurrent replays ({backend})")
    relhelp.record(f"concurrency [{backend}] clients x servers", f"{CLIENTS} x {SERVERS}")
    relhelp.record(f"concurrency [{backend}] requests", sum(statuses.values()))
    relhelp.record(f"concurrency [{backend}] status counts", dict(sorted(statuses.items())))
    relhelp.record(f"concurrency [{backend}] rows compared", rows)
