"""The save-local replay engine's entry: :func:`replay_runs` sends runs, oldest first, each
through :class:`~.replayer._Replayer` (one request at a time per build chain) or, when the
server advertises the batch extension and the caller asks for it,
:class:`~.batchreplay._BatchReplayer` (the same writes packed into batches)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .batch import BatchSender
from .batchreplay import _BatchReplayer
from .progress import _progress_bar
from .replayer import _FATAL_ERRORS, _Replayer
from .summary import ReplaySummary, _interrupted

if TYPE_CHECKING:  # for annotations only: endpoints imports this module at run time
    from .endpoints import SpackMonitorClient


def replay_runs(
    client: SpackMonitorClient,
    runs: Sequence[Any],
    *,
    show: bool = False,
    workers: int = 4,
    title: str = "Replay",
    batch: bool = False,
) -> ReplaySummary:
    """Replay save-local runs (:class:`~spackmon_analysis.loaders.savelocal.SaveLocalRun`)
    to ``client``'s server, oldest first, with a progress bar when ``show``; what
    :meth:`~spackmon_analysis.client.SpackMonitorClient.upload_local_save` does once it has
    read them. A fatal error (no server, refused credentials) is re-raised with what was
    uploaded and what was not (:func:`~.summary._interrupted`). ``title``: how the summary
    and the progress bar name the operation (an upload of today's sources uses this engine
    with runs it wrote, :mod:`.upload`). With ``batch`` the server's batch extension is used
    when its service info advertises it (:mod:`.batch`); the summary is the same either
    way."""
    runs = sorted(runs, key=_replay_order)
    summary = ReplaySummary(runs=[run.name for run in runs], title=title)
    total = sum(run.n_files for run in runs)
    bar = _progress_bar(total, title.lower(), show, unit="file" if title == "Replay" else "item")
    try:
        limits = client.batch_limits() if batch and runs else None
        sender = BatchSender(client, limits) if limits is not None else None
        for run in runs:
            if sender is not None and sender.limits is not None:
                _BatchReplayer(client, run, summary, bar, max(1, int(workers)), sender).replay()
            else:
                _Replayer(client, run, summary, bar, max(1, int(workers))).replay()
    except _FATAL_ERRORS as exc:
        raise _interrupted(exc, list(runs), summary) from exc
    finally:
        bar.close()
    return summary


def _replay_order(run: Any) -> tuple[int, float, str]:
    from ..loaders.savelocal import _run_sort_key

    return _run_sort_key(run)
