"""The replay of one save-local run through the server's batch extension: the same writes as
:class:`~.replayer._Replayer`, packed into batches by :class:`~.batch.BatchSender`."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import MonitorError
from .replayer import _FATAL_ERRORS, ENVIRONMENT_KEY, _Replayer
from .summary import ReplaySummary

if TYPE_CHECKING:  # for annotations only: endpoints imports the replay at run time
    from .endpoints import SpackMonitorClient


class _BatchReplayer(_Replayer):
    """Replays one save-local run through the batch extension (:mod:`.batch`).

    The same files, bodies, order per build and outcomes as :class:`_Replayer`; the writes
    travel in batches: every spec first, then the builds in groups of :data:`GROUP` (in
    file order), each group a chain: its ``builds/new`` in one batch, then (for builds that
    already existed) a read of their server state, then every phase and status of the
    group's builds in one batch, each build's phases in file order before its status. Up
    to ``workers`` groups run at once; a group holding the first build of a build
    environment goes before any other group of that environment is sent.
    """

    #: Builds per group (one ``builds/new`` batch, then one batch of their phases/statuses).
    GROUP = 100

    def __init__(
        self,
        client: SpackMonitorClient,
        run: Any,
        summary: ReplaySummary,
        bar: Any,
        workers: int,
        sender: Any,
    ):
        super().__init__(client, run, summary, bar, workers)
        self.sender = sender

    def replay_files(self) -> None:
        run = self.run
        phases_by_build = self.phases_by_build()
        writes = []
        for doc, version, _filename in run.spec_documents:
            writes.append(("specs/new/", self.client._spec_body(doc, version)))
        names = [name for _doc, _version, name in run.spec_documents]
        self.record(names, self.sender.send(writes), self.spec_result)

        keys = list(run.build_documents)
        groups = [keys[i : i + self.GROUP] for i in range(0, len(keys), self.GROUP)]
        ready = [threading.Event() for _ in groups]
        owner: dict[tuple[str, ...], int] = {}
        waits: list[set[int]] = []
        for index, group in enumerate(groups):
            mine: set[int] = set()
            for key in group:
                first = owner.setdefault(self.environment(key), index)
                if first != index:
                    mine.add(first)
            waits.append(mine)
        pool = ThreadPoolExecutor(max_workers=self.workers)
        jobs = []
        try:
            for index, group in enumerate(groups):
                files = sum(
                    1 + len(phases_by_build.get(k, [])) + (k in run.status_files) for k in group
                )
                job = pool.submit(
                    self.group,
                    group,
                    phases_by_build,
                    [ready[i] for i in waits[index]],
                    ready[index],
                )
                jobs.append((job, files))
            self.collect_quietly(jobs)
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True)

    def environment(self, key: str) -> tuple[str, ...]:
        body = self.run.build_documents[key]
        return tuple(
            str(body.get(name)) if isinstance(body, Mapping) else "" for name in ENVIRONMENT_KEY
        )

    def collect_quietly(self, jobs: list[tuple[Any, int]]) -> None:
        """Wait for every group; raise the first fatal error (the progress bar was moved
        file by file by the groups themselves)."""
        first_fatal = None
        for job, _files in jobs:
            try:
                job.result()
            except MonitorError as exc:
                first_fatal = first_fatal or exc
        if first_fatal is not None:
            raise first_fatal

    def record(self, targets: Sequence[Any], results: Any, count: Any) -> list[Any]:
        """``count(target, result)`` for each write's result as it arrives; the first fatal
        error is raised after every result of the batches answered before it is counted."""
        fatal = None
        out = []
        for target, result in zip(targets, results, strict=False):
            try:
                out.append(count(target, result))
            except _FATAL_ERRORS as exc:
                fatal = fatal or exc
                out.append(None)
        if fatal is not None:
            raise fatal
        return out

    def group(
        self,
        keys: list[str],
        phases_by_build: dict[str, list[Any]],
        waits: list[threading.Event],
        answered: threading.Event,
    ) -> None:
        """One group's chain: builds/new, server state of existing builds, phases and
        statuses."""
        try:
            try:
                for gate in waits:
                    gate.wait()
                if self.stop.is_set():
                    return
                writes = [("builds/new/", self.dated(self.run.build_documents[k])) for k in keys]
                created = self.record(keys, self.sender.send(writes), self.build_result)
            finally:
                answered.set()  # (also when stopped: no group waits for ever)
            self.bar.update(len(keys))
            targets: list[tuple[str, str, Any, Any]] = []
            writes = []
            for key, is_new in zip(keys, created, strict=True):
                phases = phases_by_build.get(key, [])
                status_file = self.run.status_files.get(key)
                if is_new is None:
                    self.skip_unbuilt(key, phases, status_file)
                    self.bar.update(len(phases) + (status_file is not None))
                    continue
                state = None
                if not is_new:
                    if self.stop.is_set():
                        return
                    state = self.server_state(key)
                for phase in phases:
                    body = self.phase_body(key, phase, state)
                    if body is None:
                        self.bar.update(1)
                    else:
                        targets.append(("phase", key, phase, state))
                        writes.append(("builds/phases/update/", body))
                if status_file is not None:
                    body = self.status_body(key, status_file, state)
                    if body is None:
                        self.bar.update(1)
                    else:
                        targets.append(("status", key, status_file, state))
                        writes.append(("builds/update/", body))
            if self.stop.is_set() or not writes:
                return
            self.record(targets, self.sender.send(writes), self.item_result)
        except BaseException:
            self.stop.set()
            raise

    def item_result(self, target: tuple[str, str, Any, Any], result: Any) -> None:
        kind, key, item, state = target
        try:
            if kind == "phase":
                self.phase_result(key, item, state, result)
            else:
                self.status_result(key, item, state, result)
        finally:
            self.bar.update(1)
