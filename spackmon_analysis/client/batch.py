"""The client side of our server's batch extension (``POST /ms1/batch/``).

A server that has it says so in its service info (``GET /ms1/``)::

    "extensions": {"batch": {"path": "batch/", "max_items": 1000, "max_bytes": 16777216}}

:func:`advertised_batch` reads that (any other server, the reference spack-monitor
included, has no ``extensions``: the client then speaks plain ms1). :class:`BatchSender`
packs ms1 writes into batches within those limits and hands back, per write, exactly what
the single request would have given the caller: the answer's JSON envelope for a 2xx, else
the typed :class:`~spackmon_analysis.errors.HTTPStatusError` with the same class and message
(``POST <url of the write> -> 400: <server's message>``). The server runs each batch in one
transaction and each item as its single request (docs/server.md, "The batch extension").

Whenever the batch itself is refused for a reason a single request would not have met (the
route is gone: 404/405; a proxy's smaller body limit: 413; any other 4xx but 401/403), its
writes are sent one by one instead, so the caller sees the single requests' answers. Errors
that would stop single requests as well (no answer, refused credentials) are raised.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import AuthError, HTTPStatusError, MonitorError, RedirectError, TransportError
from .transport import _encode_json

if TYPE_CHECKING:  # annotations only: endpoints imports this module
    from .endpoints import SpackMonitorClient

__all__ = ["BatchLimits", "advertised_batch", "BatchSender"]

#: Bytes of the envelope around the items (``{"items": [`` ... ``]}``), rounded up.
_ENVELOPE = 64


@dataclass(frozen=True)
class BatchLimits:
    """A server's batch endpoint: its path under the ms1 prefix and its limits."""

    path: str
    max_items: int
    max_bytes: int


def advertised_batch(info: Any) -> BatchLimits | None:
    """The batch extension a service info document advertises, or None (plain ms1)."""
    if not isinstance(info, Mapping):
        return None
    extensions = info.get("extensions")
    batch = extensions.get("batch") if isinstance(extensions, Mapping) else None
    if not isinstance(batch, Mapping):
        return None
    path = batch.get("path", "batch/")
    items, size = batch.get("max_items"), batch.get("max_bytes")
    if not isinstance(path, str) or not path.strip("/") or "://" in path or ".." in path:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (items, size)):
        return None
    assert isinstance(items, int) and isinstance(size, int)
    return BatchLimits(path.strip("/") + "/", items, size)


class BatchSender:
    """Sends ms1 writes ``(path, body)`` in batches on ``client`` (module docstring).

    ``limits`` is what the server advertised; after a batch is refused as a whole (see the
    module docstring) the writes go one by one, and after a 404/405 every later call does too.
    ``batches`` and ``singles`` count the requests sent each way.
    """

    def __init__(self, client: SpackMonitorClient, limits: BatchLimits) -> None:
        self.client = client
        self.limits: BatchLimits | None = limits
        self.batches = 0
        self.singles = 0

    def send(self, writes: Sequence[tuple[str, Any]]) -> Iterator[Any]:
        """Each write's result, in order, as its batch is answered: its answer's JSON (2xx)
        or the error the single request would have raised (a :class:`MonitorError`, yielded,
        not raised, so that the caller sees every write of a batch the server committed). An
        error that stops the whole exchange (no answer, refused credentials) is raised, after
        the results of the batches answered before it."""
        pending: list[tuple[str, bytes]] = []
        size = _ENVELOPE
        limits = self.limits
        for path, body in writes:
            url = self.client._url(path)
            item = json.dumps({"path": path, "body": _encode_json(body, "POST", url).decode()})
            encoded = item.encode()
            fits = limits is not None and len(encoded) + _ENVELOPE <= limits.max_bytes
            if not fits:
                yield from self._flush(pending)
                pending, size = [], _ENVELOPE
                yield self._single(path, body)
                continue
            assert limits is not None
            if pending and (
                len(pending) >= limits.max_items or size + len(encoded) + 1 > limits.max_bytes
            ):
                yield from self._flush(pending)
                pending, size = [], _ENVELOPE
            pending.append((path, encoded))
            size += len(encoded) + 1
        yield from self._flush(pending)

    def _single(self, path: str, body: Any) -> Any:
        self.singles += 1
        try:
            return self.client._call("POST", path, body)
        except MonitorError as exc:
            if isinstance(exc, _FATAL):
                raise
            return exc

    def _flush(self, pending: list[tuple[str, bytes]]) -> list[Any]:
        if not pending:
            return []
        limits = self.limits
        if limits is None:
            return [self._single_item(path, item) for path, item in pending]
        raw = b'{"items": [' + b",".join(item for _path, item in pending) + b"]}"
        self.batches += 1
        try:
            envelope = self.client._json(self.client._request("POST", limits.path, raw_body=raw))
        except HTTPStatusError as exc:
            if isinstance(exc, AuthError):
                raise
            if exc.status_code in (404, 405):
                self.limits = None  # the route is gone: plain ms1 from now on
            return [self._single_item(path, item) for path, item in pending]
        answers = envelope.get("data", {}).get("results") if isinstance(envelope, Mapping) else None
        if not isinstance(answers, list) or len(answers) != len(pending):
            raise MonitorError(
                f"POST {self.client._url(limits.path)}: the batch answer holds "
                f"{len(answers) if isinstance(answers, list) else 'no'} results for "
                f"{len(pending)} items",
                method="POST",
                url=self.client._url(limits.path),
            )
        return [
            self._result(path, answer)
            for (path, _item), answer in zip(pending, answers, strict=True)
        ]

    def _single_item(self, path: str, item: bytes) -> Any:
        return self._single(path, json.loads(json.loads(item)["body"]))

    def _result(self, path: str, answer: Any) -> Any:
        status = answer.get("status") if isinstance(answer, Mapping) else None
        body = answer.get("body") if isinstance(answer, Mapping) else None
        if not isinstance(status, int):
            raise MonitorError(
                f"POST {self.client._url(path)}: a batch result without a status: "
                f"{json.dumps(answer)[:200]}",
                method="POST",
                url=self.client._url(path),
            )
        if 200 <= status < 300:
            return body
        return self.client._item_error(path, status, body)


_FATAL = (TransportError, AuthError, RedirectError)
