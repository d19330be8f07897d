"""What a save-local replay did (:class:`ReplaySummary`), and the report of an
interrupted one."""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MonitorError
from ..safetext import printable

KINDS = ("specs", "builds", "phases", "statuses")

OUTCOMES = ("created", "updated", "present", "skipped")
#: Builds listed by name in ``repr(ReplaySummary)``'s note (the rest are counted).
MAX_SHOWN_CHANGES = 20


@dataclass(frozen=True)
class BuildChange:
    """One piece of an existing build's server state that a replay overwrote.

    ``name`` is the package (``name@version``), ``build_id`` the server's build id,
    ``item`` ``"status"`` or ``"<phase> phase"``, ``before``/``after`` the status the
    server held and the one the replayed file set, ``run`` the run the file came from.
    """

    name: str
    build_id: int
    item: str
    before: str
    after: str
    run: str

    def __str__(self) -> str:
        return (
            f"{self.name} (build {self.build_id}): {self.item} {self.before} -> {self.after} "
            f"(run {self.run})"
        )


#: The note shown when a replay changed the state of builds already on the server.
CHANGE_NOTE = (
    "a replay sets each run's attempt of a build to the state in its files (on a server "
    "without attempts, the build itself, runs oldest first)"
)


@dataclass
class ReplaySummary:
    """What a save-local replay did, per kind of file.

    ``counts[kind][outcome]`` for kinds ``specs``, ``builds``, ``phases``,
    ``statuses``; per file, exactly one outcome:

    - ``created``: specs and builds the server answered 201 for (new rows); phases and
      statuses sent for a build that did not exist before this file's run, a phase the
      server did not have yet, or a status where the server held none (``NOTRUN``);
    - ``updated``: a phase or status of a build that already existed, that the server
      held with a **different** status and that the file overwrote (each one is listed
      in :attr:`changes`);
    - ``present``: already on the server: specs and builds answered 200 (get, not
      create); phases and statuses equal to the server's, so nothing was sent (or, when
      the data API could not be read, sent again as an idempotent upsert);
    - ``skipped``: a bad file, or a file whose build could not be created (named in
      ``problems``).

    Each run is one attempt of each of its builds on a server that keeps attempts (the
    replay sends the run's date, ``run_time``): "already existed", "updated" and
    "present" then compare with that run's attempt, so an older run replayed after newer
    ones adds its attempt and changes nothing else, and replaying a build's history again
    finds every attempt as it was. A run whose files now say something else than what it
    sent before updates its attempt. On a server without attempts the build itself is set
    to the state in the files, runs oldest first (an older run sets it back). :attr:`changes`
    lists every such overwrite and ``repr(summary)`` (what ``spackmon replay`` prints) ends
    with a note naming the builds; ``str(summary)`` is the table alone.

    ``build_ids`` maps each local id (32-hex, or full hash in old runs) to the
    server's build id; ``problems`` lists ``(file path, message)``.
    """

    runs: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {kind: dict.fromkeys(OUTCOMES, 0) for kind in KINDS}
    )
    build_ids: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)
    #: Every phase or status of an existing build that the replay overwrote, in run order.
    changes: list[BuildChange] = field(default_factory=list)
    #: What an upload (:meth:`~spackmon_analysis.client.SpackMonitorClient.upload`) did not
    #: send, as ``(item, reason)``: builds the protocol cannot carry, specs no build needs.
    left_out: list[tuple[str, str]] = field(default_factory=list)
    #: ``(input, message)``: what the loaders of an upload skipped or decided (their notes
    #: and problems) and the upload's own notes (fields sent as ``"unknown"``).
    notes: list[tuple[str, str]] = field(default_factory=list)
    #: ``"Replay"`` or ``"Upload"``: how the table is headed.
    title: str = "Replay"
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)
    #: Paths of the files the server holds after this replay (for an interruption report).
    _done: set[str] = field(default_factory=set, repr=False, compare=False)

    def add(self, kind: str, outcome: str, n: int = 1, path: str | None = None) -> None:
        """Count ``n`` files of ``kind`` with ``outcome`` (thread-safe)."""
        with self._lock:
            self.counts[kind][outcome] += n
            if path is not None and outcome != "skipped":
                self._done.add(path)

    def _add_change(self, change: BuildChange) -> None:
        with self._lock:
            self.changes.append(change)

    @property
    def changed_builds(self) -> dict[str, list[BuildChange]]:
        """``"name (build id)" -> [BuildChange, ...]`` for every build whose server state
        this replay changed (the :attr:`changes` grouped by build, in run order)."""
        grouped: dict[str, list[BuildChange]] = {}
        for change in self.changes:
            grouped.setdefault(f"{change.name} (build {change.build_id})", []).append(change)
        return grouped

    @staticmethod
    def _describe(changes: list[BuildChange]) -> list[str]:
        """Lines for one build's changes (``item before -> after (run ...)``)."""
        lines = [f"{c.item} {c.before} -> {c.after} (run {c.run})" for c in changes]
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        for c in changes:
            first.setdefault(c.item, c.before)
            last[c.item] = c.after
        if len(changes) > 1 and first == last:
            lines.append("ends as it was before the replay")
        return lines

    @property
    def change_note(self) -> str:
        """The warning shown when builds already on the server changed state ('' if none)."""
        n = len(self.changed_builds)
        if not n:
            return ""
        return f"{n} build{'s' if n != 1 else ''} changed state on the server: {CHANGE_NOTE}"

    def _total(self, outcome: str) -> int:
        return sum(self.counts[kind][outcome] for kind in KINDS)

    @property
    def created(self) -> dict[str, int]:
        """Created per kind."""
        return {kind: self.counts[kind]["created"] for kind in KINDS}

    @property
    def present(self) -> dict[str, int]:
        """Already present per kind."""
        return {kind: self.counts[kind]["present"] for kind in KINDS}

    @property
    def skipped(self) -> dict[str, int]:
        """Skipped per kind."""
        return {kind: self.counts[kind]["skipped"] for kind in KINDS}

    @property
    def total_created(self) -> int:
        """Everything created or updated on the server (0 for a repeated replay)."""
        return self._total("created") + self._total("updated")

    def __str__(self) -> str:
        """The table of counts, the build-id mapping and the problems."""
        return self._table()

    def __repr__(self) -> str:
        """The table, then (when the replay changed builds already on the server) a note
        naming each of them: ``name (build id): status FAILED -> SUCCESS, ...``."""
        text = self._table()
        note = self.change_note
        if not note:
            return text
        lines = [text, f"  NOTE: {note}:"]
        grouped = list(self.changed_builds.items())
        for build, changes in grouped[:MAX_SHOWN_CHANGES]:
            described = self._describe(changes)
            if len(described) == 1:
                lines.append(f"    {build}: {described[0]}")
            else:
                lines.append(f"    {build}:")
                lines.extend(f"      {line}" for line in described)
        if len(grouped) > MAX_SHOWN_CHANGES:
            lines.append(
                f"    ... and {len(grouped) - MAX_SHOWN_CHANGES} more (see summary.changes)"
            )
        return printable("\n".join(lines), keep="\n")

    def _table(self) -> str:
        n = len(self.runs)
        named = f": {', '.join(self.runs)}" if n <= 3 else ""
        lines = [f"{self.title} of {n} run{'s' if n != 1 else ''}{named}"]
        lines.append(f"  {'':9}" + "".join(f"{o:>9}" for o in OUTCOMES))
        for kind in KINDS:
            lines.append(f"  {kind:9}" + "".join(f"{self.counts[kind][o]:>9}" for o in OUTCOMES))
        lines.append(f"  builds mapped: {len(self.build_ids)} local id(s) -> server build ids")
        if self.problems:
            lines.append(f"  problems ({len(self.problems)}):")
            lines.extend(f"    {name}: {message}" for name, message in self.problems)
        else:
            lines.append("  problems: none")
        if self.left_out:
            lines.append(f"  not sent ({len(self.left_out)}):")
            lines.extend(f"    {name}: {message}" for name, message in self.left_out)
        if self.notes:
            lines.append(f"  notes ({len(self.notes)}):")
            lines.extend(f"    {name}: {message}" for name, message in self.notes)
        return printable("\n".join(lines), keep="\n")  # file names may hold control chars

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{o}</th>" for o in OUTCOMES)
        rows = "".join(
            f"<tr><th>{kind}</th>"
            + "".join(f"<td>{self.counts[kind][o]}</td>" for o in OUTCOMES)
            + "</tr>"
            for kind in KINDS
        )
        problems = ""
        if self.problems:
            items = "".join(
                f"<li><code>{esc(name)}</code>: {esc(message)}</li>"
                for name, message in self.problems
            )
            problems = f"<p>Problems ({len(self.problems)}):</p><ul>{items}</ul>"
        if self.change_note:
            items = "".join(
                f"<li>{esc(build)}: {esc('; '.join(self._describe(changes)))}</li>"
                for build, changes in self.changed_builds.items()
            )
            problems += f"<p><strong>Note</strong>: {esc(self.change_note)}:</p><ul>{items}</ul>"
        for heading, pairs in (("Not sent", self.left_out), ("Notes", self.notes)):
            if pairs:
                items = "".join(
                    f"<li><code>{esc(name)}</code>: {esc(message)}</li>" for name, message in pairs
                )
                problems += f"<p>{heading} ({len(pairs)}):</p><ul>{items}</ul>"
        return (
            f"<div><strong>{esc(self.title)} of {len(self.runs)} run(s)</strong>: {esc(', '.join(self.runs))}"
            f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"<p>{len(self.build_ids)} local build id(s) mapped to server build ids.</p>"
            f"{problems}</div>"
        )


def _run_files(run: Any) -> list[str]:
    """Every file of a save-local run, as paths (what a replay of it sends or skips)."""
    names = [name for _doc, _version, name in run.spec_documents]
    names += [run.build(key).source for key in run.build_documents]
    names += [phase.source for phase in run.phases]
    names += list(run.status_files.values())
    names += [name for name, _message in run.problems]
    return [str(Path(run.path) / name) for name in dict.fromkeys(names)]


def _interrupted(exc: MonitorError, runs: list[Any], summary: ReplaySummary) -> MonitorError:
    """The fatal error of a replay, re-raised with what was uploaded and what was not.

    Same class as ``exc`` (TransportError, AuthError or RedirectError) with ``summary``,
    ``uploaded`` and ``not_uploaded`` (file paths) attached.
    """
    done = summary._done
    skipped = {path for path, _message in summary.problems}
    uploaded, missing, lines = [], [], []
    for run in runs:
        files = _run_files(run)
        sent = [f for f in files if f in done]
        left = [f for f in files if f not in done and f not in skipped]
        uploaded += sent
        missing += left
        if left:
            shown = ", ".join(Path(f).name for f in left[:3]) + (", ..." if len(left) > 3 else "")
            lines.append(
                f"  {run.name}: {len(left)} of {len(files)} file(s) not uploaded ({shown})"
            )
        else:
            lines.append(f"  {run.name}: complete ({len(files)} file(s))")
    per_kind = ", ".join(
        f"{kind} {sum(summary.counts[kind][o] for o in ('created', 'updated', 'present'))}"
        for kind in KINDS
    )
    if not uploaded:
        message = (
            f"{summary.title} stopped before anything was uploaded: {exc}\n"
            f"Nothing is on the server yet ({len(missing)} file(s) in {len(runs)} run(s) "
            f"not uploaded); fix the cause and run the same {summary.title.lower()} again."
        )
    else:
        message = (
            f"{summary.title} interrupted: {exc}\n"
            f"Uploaded (now on the server): {len(uploaded)} file(s): {per_kind}.\n"
            f"Not uploaded: {len(missing)} file(s)"
            + (f"; skipped as bad: {len(skipped)}" if skipped else "")
            + ".\nPer run:\n"
            + "\n".join(lines)
            + f"\nRun the same {summary.title.lower()} again to upload the rest: nothing is "
            "duplicated."
        )
    new = type(exc)(
        message,
        method=exc.method,
        url=exc.url,
        status_code=exc.status_code,
        server_message=exc.server_message,
        response=exc.response,
    )
    new.summary = summary
    new.uploaded = uploaded
    new.not_uploaded = missing
    return new
