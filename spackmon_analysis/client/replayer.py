"""The replay of one save-local run, request by request: its specs, then each build's chain of
requests (``builds/new``, phases, status), chains of different builds in parallel;
:class:`_Replayer` also decides which errors condemn one file and which the whole replay, and
what a run's ``run_time`` is on the wire (:func:`iso_utc`)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    AuthError,
    ConfigError,
    MonitorError,
    RedirectError,
    SpecFormatError,
    TransportError,
)
from ..records import ENVIRONMENT_FIELDS
from ..safetext import printable
from .auth import _dig
from .pulls import PaginatedPull
from .summary import BuildChange, ReplaySummary

if TYPE_CHECKING:  # for annotations only: endpoints imports the replay at run time
    from .endpoints import SpackMonitorClient


#: The fields that make a build environment unique on the server (plus Spack's version).
ENVIRONMENT_KEY = (*ENVIRONMENT_FIELDS, "spack_version")


#: Errors that condemn one file, not the whole replay.
_FATAL_ERRORS = (TransportError, AuthError, RedirectError)


def _file_error(exc: BaseException) -> bool:
    """True for an error that condemns one file (the replay goes on), False for one
    that condemns the whole replay (no server, refused credentials, broken redirects)."""
    return isinstance(exc, MonitorError | SpecFormatError) and not isinstance(exc, _FATAL_ERRORS)


class _Stopped(Exception):
    """A chain found the replay stopped (a fatal error elsewhere) before sending."""


class _Replayer:
    """Replays one save-local run: specs, then each build's chain of requests.

    Specs go one at a time on the calling thread. Each build is one *chain* run on a
    worker thread: ``builds/new``, then (for a build that already existed) a read of
    its server state, then its phases in order, then its status. A chain starts as
    soon as a spec document holding its spec (same Spack version) is on the server, so
    builds, phases and statuses of early specs overlap the upload of later ones; the
    first build to start in a build environment goes alone until it has answered (it
    may create the environment row). Up to ``workers`` chains run at once.
    """

    def __init__(
        self, client: SpackMonitorClient, run: Any, summary: ReplaySummary, bar: Any, workers: int
    ):
        self.client = client
        self.run = run
        self.summary = summary
        self.bar = bar
        self.workers = workers
        self.base = str(Path(run.path))
        #: Set on a fatal error (or an interruption): chains not yet running send nothing.
        self.stop = threading.Event()
        self.env_lock = threading.Lock()
        #: Build environments the server holds (a builds/new in them answered).
        self.env_ready: set[tuple[str, ...]] = set()
        #: Build environments whose first builds/new is in flight -> set when it answers.
        self.env_busy: dict[tuple[str, ...], threading.Event] = {}
        from ..loaders.savelocal import run_date

        #: The run's date (the offline loader's rule), sent with every write: the server keeps
        #: one attempt per run of a build, dated by it (docs/server.md, "Attempts").
        when = run_date(run)
        self.run_time = iso_utc(when) if when is not None else None
        #: Build key -> the server's id of this run's attempt (a server that keeps attempts).
        self.attempt_ids: dict[str, int] = {}

    def dated(self, body: Any) -> Any:
        """A write's body with the run's date (``run_time``), when the run has one."""
        if self.run_time is None or not isinstance(body, Mapping):
            return body
        return {**body, "run_time": self.run_time}

    def where(self, filename: str) -> str:
        if os.sep in filename or (os.altsep and os.altsep in filename):
            return str(Path(self.base) / filename)
        return os.path.join(self.base, filename)

    def problem(self, kind: str, filename: str, message: str) -> None:
        self.summary.problems.append((self.where(filename), message))
        if kind:
            self.summary.add(kind, "skipped")

    def refused(self, kind: str, filename: str, result: Any) -> bool:
        """True when ``result`` is the error of one file's request (counted as a problem of
        ``kind``); an error that condemns the whole replay is raised; False for an answer."""
        if not isinstance(result, BaseException):
            return False
        if not _file_error(result):
            raise result
        self.problem(kind, filename, str(result))
        return True

    def skip_unbuilt(self, key: str, phases: list[Any], status_file: str | None) -> None:
        """Count the phase and status files of a build the server did not create."""
        for phase in phases:
            self.problem("phases", phase.source, f"skipped: build {key} was not created")
        if status_file is not None:
            self.problem("statuses", status_file, f"skipped: build {key} was not created")

    def replay(self) -> None:
        from ..loaders.savelocal import _kind

        kind_names = {"spec": "specs", "build": "builds", "phase": "phases", "status": "statuses"}
        for filename, message in self.run.problems:
            self.problem(kind_names.get(_kind(filename) or "", ""), filename, message)
            self.bar.update(1)
        self.bar.set_postfix_str(printable(self.run.name, keep=""))
        first_change = len(self.summary.changes)
        first_problem = len(self.summary.problems)
        try:
            self.replay_files()
        finally:
            # chains run in parallel: list this run's changes and problems in a stable order
            # (changes by build; problems by file: specs, builds, phases, statuses)
            self.summary.changes[first_change:] = sorted(
                self.summary.changes[first_change:],
                key=lambda c: (c.name, c.build_id, c.item == "status", c.item),
            )
            if len(self.summary.problems) > first_problem:
                order = self.file_order()
                self.summary.problems[first_problem:] = sorted(
                    self.summary.problems[first_problem:],
                    key=lambda p: order.get(p[0], len(order)),
                )

    def file_order(self) -> dict[str, int]:
        run = self.run
        names = [name for _doc, _version, name in run.spec_documents]
        names += [run.build(key).source for key in run.build_documents]
        names += [phase.source for phase in run.phases]
        names += list(run.status_files.values())
        order: dict[str, int] = {}
        for index, name in enumerate(names):
            order.setdefault(self.where(name), index)
        return order

    def phases_by_build(self) -> dict[str, list[Any]]:
        """Each build's phase files in file order; the phase and status files of a build
        without a usable metadata file are named as skipped (the reader reports these
        already; this keeps every file with exactly one outcome)."""
        run = self.run
        phases_by_build: dict[str, list[Any]] = {}
        for phase in run.phases:
            phases_by_build.setdefault(phase.build_key, []).append(phase)
        for key, phases in phases_by_build.items():
            if key not in run.build_documents:
                for phase in phases:
                    self.problem("phases", phase.source, f"skipped: build {key} was not created")
                    self.bar.update(1)
        for key, filename in run.status_files.items():
            if key not in run.build_documents:
                self.problem("statuses", filename, f"skipped: build {key} was not created")
                self.bar.update(1)
        return phases_by_build

    def replay_files(self) -> None:
        run = self.run
        phases_by_build = self.phases_by_build()
        waiting = self.spec_gates()
        pool = ThreadPoolExecutor(max_workers=self.workers)
        jobs: list[tuple[Any, int]] = []
        drained = 0

        def start(keys: list[str]) -> None:
            for key in keys:
                phases = phases_by_build.get(key, [])
                status_file = run.status_files.get(key)
                files = 1 + len(phases) + (status_file is not None)
                jobs.append((pool.submit(self.chain, key, phases, status_file), files))

        try:
            for index, (doc, version, filename) in enumerate(run.spec_documents):
                uploaded = self.upload_spec(doc, version, filename)
                ready = waiting.pop(index, [])
                if uploaded:
                    start(ready)
                else:  # that spec is not on the server: wait for all the others
                    waiting.setdefault(None, []).extend(ready)
                while drained < len(jobs) and jobs[drained][0].done():
                    self.bar.update(jobs[drained][1])
                    drained += 1
            order = {key: i for i, key in enumerate(run.build_documents)}
            start(sorted((k for keys in waiting.values() for k in keys), key=order.__getitem__))
            self.collect(jobs[drained:])
        except BaseException:
            self.stop.set()  # chains still queued send nothing; running ones stop early
            raise
        finally:
            pool.shutdown(wait=True)

    def spec_gates(self) -> dict[int | None, list[str]]:
        """Build keys by the index of the spec document whose upload lets them start
        (the first that holds the build's hash for the build's Spack version); ``None``:
        after every spec."""
        names = [name for _doc, _version, name in self.run.spec_documents]
        # run.specs and run.spec_documents are filled together by the reader
        aligned = len(self.run.specs) == len(names) and all(
            spec[2] == name for spec, name in zip(self.run.specs, names, strict=False)
        )
        waiting: dict[int | None, list[str]] = {}
        for key, body in self.run.build_documents.items():
            gate = None
            full_hash = body.get("full_hash") if isinstance(body, Mapping) else None
            version = body.get("spack_version") if isinstance(body, Mapping) else None
            if aligned and isinstance(full_hash, str) and isinstance(version, str):
                full_hash, version = full_hash.strip(), version.strip()
                for index, (graph, spec_version, _name) in enumerate(self.run.specs):
                    if spec_version == version and full_hash in graph:
                        gate = index
                        break
            waiting.setdefault(gate, []).append(key)
        return waiting

    def upload_spec(self, doc: Any, version: str | None, filename: str) -> bool:
        """Upload one spec file's document (validated by the reader); True when the server
        holds it."""
        try:
            result: Any = self.client._upload(doc, version)
        except (MonitorError, SpecFormatError) as exc:
            result = exc
        return self.spec_result(filename, result)

    def spec_result(self, filename: str, result: Any) -> bool:
        """Count a spec file's answer (an envelope, or the error its request raised); True
        when the server holds the spec. A fatal error is raised."""
        if self.refused("specs", filename, result):
            self.bar.update(1)
            return False
        created = _created(result, "created")
        self.summary.add("specs", "created" if created else "present", 1, self.where(filename))
        self.bar.update(1)
        return True

    def chain(self, key: str, phases: list[Any], status_file: str | None) -> None:
        """One build's requests in order: builds/new, its phases, then its status."""
        try:
            if self.stop.is_set():
                return
            try:
                is_new = self.create_build(key)
            except _Stopped:
                return
            if is_new is None:
                self.skip_unbuilt(key, phases, status_file)
                return
            state = None
            if not is_new:
                if self.stop.is_set():
                    return
                state = self.server_state(key)
            for phase in phases:
                if self.stop.is_set():
                    return
                self.send_phase(key, phase, state)
            if status_file is not None and not self.stop.is_set():
                self.send_status(key, status_file, state)
        except BaseException:
            self.stop.set()
            raise

    def create_build(self, key: str) -> bool | None:
        """``builds/new`` from the build's own metadata file: build_created, or None when
        the server rejected it (named in the problems)."""
        body = self.run.build_documents[key]
        env = tuple(
            str(body.get(name)) if isinstance(body, Mapping) else "" for name in ENVIRONMENT_KEY
        )
        mine = None  # set when this build is the first in its environment
        while True:
            with self.env_lock:
                if env in self.env_ready:
                    break
                gate = self.env_busy.get(env)
                if gate is None:
                    mine = self.env_busy[env] = threading.Event()
                    break
            gate.wait()
        answered = False
        try:
            if self.stop.is_set():
                raise _Stopped
            try:
                result: Any = self.client._call("POST", "builds/new/", self.dated(body))
                answered = True
            except (MonitorError, SpecFormatError) as exc:
                result = exc
            return self.build_result(key, result)
        finally:
            if mine is not None:
                with self.env_lock:
                    del self.env_busy[env]
                    if answered:
                        self.env_ready.add(env)
                mine.set()

    def build_result(self, key: str, result: Any) -> bool | None:
        """Count a build's ``builds/new`` answer (an envelope, or the error its request
        raised): build_created, or None when the server rejected it (named in the
        problems). A fatal error is raised."""
        record = self.run.build(key)
        try:
            if isinstance(result, BaseException):
                raise result
            build_id = int(_dig(result, "data", "build", "build_id", what="builds/new"))
        except (MonitorError, SpecFormatError) as exc:
            if not _file_error(exc):
                raise
            self.problem("builds", record.source, str(exc))
            return None
        is_new = _created(result, "build_created")
        attempt = _attempt_of(result)
        if attempt is not None:  # this run's attempt: new (nothing to compare) or found again
            self.attempt_ids[key] = attempt[0]
            is_new = is_new or attempt[1]
        self.summary.build_ids[key] = build_id
        self.summary.add("builds", "created" if is_new else "present", 1, self.where(record.source))
        return is_new

    def collect(self, jobs: list[tuple[Any, int]]) -> None:
        first_fatal = None
        for job, files in jobs:
            try:
                job.result()
            except MonitorError as exc:  # transport/auth: stop after the running chains
                first_fatal = first_fatal or exc
            self.bar.update(files)
        if first_fatal is not None:
            raise first_fatal

    def server_state(self, key: str) -> tuple[dict[str, str] | None, str | None]:
        """What the server holds for an existing build (for this run's attempt, on a server
        that keeps attempts): phase name -> status, status."""
        build_id = self.summary.build_ids[key]
        attempt_id = self.attempt_ids.get(key)
        if attempt_id is not None:
            return self.attempt_state(build_id, attempt_id)
        phases = self.pull_phases("buildphases", "build", build_id)
        record = self.run.build(key)
        status = self.pull_status(
            "builds",
            {"full_hash": record.full_hash},
            lambda row: _same_id(row.get("id", row.get("build_id")), build_id),
        )
        return phases, status

    def attempt_state(
        self, build_id: int, attempt_id: int
    ) -> tuple[dict[str, str] | None, str | None]:
        """What the server holds for this run's attempt: phase name -> status, status."""
        phases = self.pull_phases("attemptphases", "attempt", attempt_id)
        status = self.pull_status(
            "attempts", {"build": build_id}, lambda row: _same_id(row.get("id"), attempt_id)
        )
        return phases, status

    def pull_phases(self, route: str, owner: str, owner_id: int) -> dict[str, str] | None:
        """Phase name -> status of the rows of ``route`` that belong to ``owner`` (``build``
        or ``attempt``) ``owner_id``; None when the server answers with a file error (the
        state is then unknown, and the phases are sent as they are)."""
        try:
            rows = PaginatedPull(self.client, route, {owner: owner_id, "output": 0}, progress=False)
            return {
                str(row.get("name")): str(row.get("status"))
                for row in rows
                if _same_id(row.get(owner), owner_id)
            }
        except MonitorError as exc:
            if not _file_error(exc):
                raise
            return None

    def pull_status(
        self, route: str, params: dict[str, Any], match: Callable[[dict[str, Any]], bool]
    ) -> str | None:
        """The status of the last row of ``route`` that ``match`` picks (None when none
        does, or when the server answers with a file error)."""
        status: str | None = None
        try:
            for row in PaginatedPull(self.client, route, params, progress=False):
                if match(row):
                    status = row.get("status")
        except MonitorError as exc:
            if not _file_error(exc):
                raise
            return None
        return status

    def send_phase(
        self, key: str, phase: Any, state: tuple[dict[str, str] | None, str | None] | None
    ) -> None:
        body = self.phase_body(key, phase, state)
        if body is None:
            return
        try:
            result: Any = self.client.update_phase(
                body["build_id"],
                body["phase_name"],
                body["status"],
                body["output"],
                run_time=body.get("run_time"),
            )
        except (MonitorError, SpecFormatError) as exc:
            result = exc
        self.phase_result(key, phase, state, result)

    def phase_body(
        self, key: str, phase: Any, state: tuple[dict[str, str] | None, str | None] | None
    ) -> dict[str, Any] | None:
        """The ``builds/phases/update`` body of a phase file, or None when the server holds
        that phase with that status already (counted as present: nothing to send)."""
        server_phases = state[0] if state else {}
        if server_phases is not None and server_phases.get(phase.name) == phase.status:
            self.summary.add("phases", "present", 1, self.where(phase.source))
            return None
        return self.dated(
            {
                "build_id": self.summary.build_ids[key],
                "phase_name": phase.name,
                "status": phase.status,
                "output": phase.output,
            }
        )

    def phase_result(
        self,
        key: str,
        phase: Any,
        state: tuple[dict[str, str] | None, str | None] | None,
        result: Any,
    ) -> None:
        """Count a phase file's answer (an envelope, or the error its request raised)."""
        if self.refused("phases", phase.source, result):
            return
        server_phases = state[0] if state else {}
        if server_phases is None:
            outcome = "present" if state is not None else "created"
        elif phase.name in server_phases:
            outcome = "updated"
            self.changed(key, f"{phase.name} phase", server_phases[phase.name], phase.status)
        else:
            outcome = "created"
        self.summary.add("phases", outcome, 1, self.where(phase.source))

    def send_status(
        self, key: str, filename: str, state: tuple[dict[str, str] | None, str | None] | None
    ) -> None:
        body = self.status_body(key, filename, state)
        if body is None:
            return
        try:
            result: Any = self.client.update_build(
                body["build_id"], body["status"], run_time=body.get("run_time")
            )
        except (MonitorError, SpecFormatError) as exc:
            result = exc
        self.status_result(key, filename, state, result)

    def status_body(
        self, key: str, filename: str, state: tuple[dict[str, str] | None, str | None] | None
    ) -> dict[str, Any] | None:
        """The ``builds/update`` body of a status file, or None when the server holds that
        status already (counted as present)."""
        status = self.run.build(key).status
        server_status = state[1] if state else None
        if server_status == status:
            self.summary.add("statuses", "present", 1, self.where(filename))
            return None
        return self.dated({"build_id": self.summary.build_ids[key], "status": status})

    def status_result(
        self,
        key: str,
        filename: str,
        state: tuple[dict[str, str] | None, str | None] | None,
        result: Any,
    ) -> None:
        """Count a status file's answer (an envelope, or the error its request raised)."""
        if self.refused("statuses", filename, result):
            return
        status = self.run.build(key).status
        server_status = state[1] if state else None
        fresh = state is None or server_status in (None, "NOTRUN")
        if not fresh:
            self.changed(key, "status", str(server_status), str(status))
        self.summary.add("statuses", "created" if fresh else "updated", 1, self.where(filename))

    def changed(self, key: str, item: str, before: str, after: str) -> None:
        """Note that this replay overwrote the server's state of an existing build."""
        record = self.run.build(key)
        name = record.spec_name or (record.full_hash or key)[:7]
        if record.spec_version:
            name = f"{name}@{record.spec_version}"
        change = BuildChange(name, self.summary.build_ids[key], item, before, after, self.run.name)
        self.summary._add_change(change)


def _created(envelope: Any, flag: str) -> bool:
    if isinstance(envelope, Mapping):
        data = envelope.get("data")
        if isinstance(data, Mapping) and isinstance(data.get(flag), bool):
            return data[flag]
        if isinstance(envelope.get("code"), int):
            return envelope["code"] == 201
    return False


def _attempt_of(envelope: Any) -> tuple[int, bool] | None:
    """``(id, created)`` of the attempt a ``builds/new`` with ``run_time`` answered (a server
    that keeps attempts), else None."""
    data = envelope.get("data") if isinstance(envelope, Mapping) else None
    attempt = data.get("attempt") if isinstance(data, Mapping) else None
    if not isinstance(attempt, Mapping):
        return None
    ident, created = attempt.get("id"), attempt.get("created")
    if isinstance(ident, bool) or not isinstance(ident, int) or not isinstance(created, bool):
        return None
    return ident, created


def _same_id(value: Any, build_id: int) -> bool:
    try:
        return int(value) == int(build_id)
    except (TypeError, ValueError):
        return False


def iso_utc(when: Any) -> str:
    """A time as the ISO 8601 UTC text the server reads (``2026-11-28T06:00:00Z``): a
    ``datetime`` (naive taken as UTC) or text passed through."""
    if isinstance(when, str):
        return when
    if not isinstance(when, datetime):
        raise ConfigError(f"run_time must be a datetime or ISO 8601 text, got {when!r:.60}")
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.isoformat() + "Z"
