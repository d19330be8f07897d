"""The write path of the ms1 protocol: from a POST's headers and body to one transaction.

:class:`WritePath` serves the five bearer-protected writes (what each one writes is in
:mod:`.routes.protocol` and :mod:`.ingest`):

* cheap refusals come before the body: 413 for a declared size over the limit, 401 for a missing
  or invalid bearer; a refused body is read and thrown away when it is small (the connection stays
  open) and not read at all otherwise (the connection is closed), so an unauthenticated body never
  occupies memory;
* the body is decoded and the transaction runs in a worker thread (:data:`WRITE_THREADS`), never
  on the event loop; a large body is decoded with the garbage collector paused and an object hook
  that lets the loop's thread in between objects;
* transactions are serialised by one lock over one long-lived connection; a write waits at most
  ``db_wait`` seconds in all for that lock and the database, then answers 503 with
  ``Retry-After`` and nothing is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ..spec.graph import _no_gc
from . import validate
from .auth import Identity, TokenIssuer
from .batch import BATCH_PATH, BatchLimits, Refused, parse_batch, run_items
from .responses import INTERNAL_ERROR, RawAnswer, drain, raw_answer, too_large
from .tables import Store, set_lock_wait
from .validate import TOO_DEEP, RequestError

__all__ = ["WritePath", "Handler", "is_lock_wait", "WRITE_THREADS", "DRAIN_LIMIT"]

#: A refused write's body of at most this many bytes is read and discarded (the connection stays
#: open for the next request); a larger or chunked one is not read and the connection is closed.
DRAIN_LIMIT = 1 << 20
#: Threads that decode bodies and run write transactions (transactions are serialised by a lock;
#: a second thread decodes the next body meanwhile).
WRITE_THREADS = 2
#: Bodies larger than this are decoded with the garbage collector paused and an object hook.
_BIG_BODY = 1 << 20

#: What one write does inside its transaction: ``(conn, body, identity) -> (message, data,
#: status)``, raising :class:`RequestError` to refuse (the transaction then rolls back).
Handler = Callable[[Connection, Any, Identity], tuple[str, Any, int]]

log = logging.getLogger("spackmon_analysis.server")


class _Busy(RequestError):
    """The database (or the write lock) stayed busy past the request's wait budget: 503."""

    def __init__(self, message: str, retry_after: str):
        super().__init__(503, message)
        self.retry_after = retry_after


def _refusal(exc: RequestError | RecursionError) -> RawAnswer:
    """The answer to a write (or batch) refused as a whole: 503 with ``Retry-After`` when the
    database stayed busy, the request error's own status, or 400 for a body nested too deeply
    for the reader (a spec document, say)."""
    if isinstance(exc, _Busy):
        return raw_answer(
            503,
            {"message": exc.message, "code": 503},
            [(b"retry-after", exc.retry_after.encode())],
        )
    if isinstance(exc, RequestError):
        return raw_answer(exc.status, exc.body())
    return raw_answer(400, {"message": TOO_DEEP, "code": 400})


def is_lock_wait(exc: Exception) -> bool:
    """Whether a database error is a lock wait that ran out (worth a later retry)."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) in ("55P03", "40001", "40P01", "57014"):
        return True  # lock_not_available, serialization failure, deadlock, statement timeout
    text = str(orig).lower()
    return "database is locked" in text or "database is busy" in text or "lock timeout" in text


def _same(obj: dict) -> dict:
    """An ``object_hook`` that changes nothing: calling it lets other threads run."""
    return obj


class WritePath:
    """The protected writes of one application: bearer check, body limits, worker threads and
    the serialised write transaction.

    ``handlers`` maps a full request path (``/ms1/builds/new/``) to its :data:`Handler`.
    """

    def __init__(
        self,
        store: Store,
        issuer: TokenIssuer,
        handlers: dict[str, Handler],
        *,
        max_body_size: int,
        db_wait: float,
        batch: BatchLimits | None = None,
        batch_path: str | None = None,
    ):
        self.store = store
        self.issuer = issuer
        self.handlers = handlers
        self.max_body_size = max_body_size
        self.db_wait = db_wait
        self.retry_after = str(max(1, math.ceil(db_wait)))
        #: The batch extension (:mod:`.batch`): its limits and full request path, or None.
        self.batch = batch if batch_path else None
        self.batch_path = batch_path if batch else None
        # Writes are serialised through one long-lived connection, used by the worker threads
        # one at a time under ``lock``: no pool checkout per request.
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        set_lock_wait(store, db_wait)
        self._pool = ThreadPoolExecutor(
            max_workers=WRITE_THREADS, thread_name_prefix="spackmon-write"
        )

    @property
    def paths(self) -> frozenset[str]:
        """The request paths served here (the batch endpoint's too, when it is on)."""
        return frozenset(self.handlers) | ({self.batch_path} if self.batch_path else set())

    # ------------------------------------------------------------------ the transaction
    def _busy(self, what: str) -> _Busy:
        return _Busy(
            f"The database stayed busy for {self.db_wait:g} s ({what}); nothing was written, "
            f"try again in {self.retry_after} s.",
            self.retry_after,
        )

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close
                pass

    def transaction(self, fn: Callable[[Connection], Any], deadline: float | None = None) -> Any:
        """Run ``fn`` in one write transaction, retrying on a unique-key race or a busy database.

        The waits for the write lock and the database end at ``deadline`` (``time.monotonic``;
        default ``db_wait`` from now): then :class:`_Busy` (503 with ``Retry-After``).
        """
        if deadline is None:
            deadline = time.monotonic() + self.db_wait
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise self._busy("other writes held the write lock")
        try:
            attempts = 5
            for attempt in range(attempts):
                conn = self._conn
                if conn is None or conn.closed:
                    conn = self._conn = self.store.write.connect()
                try:
                    with conn.begin():
                        return fn(conn)
                except IntegrityError as exc:
                    if attempt == attempts - 1:
                        raise RequestError(
                            409, f"Conflicting concurrent update: {exc.orig}"
                        ) from None
                except OperationalError as exc:
                    self._drop_connection()
                    pause = 0.05 * (attempt + 1)
                    if is_lock_wait(exc):
                        if time.monotonic() + pause >= deadline:
                            raise self._busy(f"{exc.orig}".strip()) from None
                    elif attempt == attempts - 1:
                        raise RequestError(
                            503, f"The database is busy or unreachable, try again: {exc.orig}"
                        ) from None
                    time.sleep(pause)
                except DBAPIError as exc:  # e.g. a value the database cannot hold
                    if exc.connection_invalidated:
                        self._drop_connection()
                    raise RequestError(
                        400, f"The database rejected the request: {exc.orig}"
                    ) from None
                except BaseException:
                    if conn.invalidated:
                        self._drop_connection()
                    raise
            raise self._busy("lock waits")
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the worker threads (queued writes are cancelled) and close the connection."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._drop_connection()

    # ------------------------------------------------------------------ one request
    def _decode(self, raw: bytes | str) -> Any:
        if len(raw) > self.max_body_size:
            raise RequestError(
                413,
                f"Request body of {len(raw)} bytes exceeds the limit of "
                f"{self.max_body_size} bytes.",
            )
        if not raw.strip():
            raise RequestError(400, "The request body is empty; a JSON object is required.")
        # the rules of validate.py (NaN, NUL, surrogates); for a large body an object hook that
        # lets the event loop's thread in between objects (json.loads holds the interpreter for
        # the whole document otherwise)
        return validate.decode_json(raw, object_hook=_same if len(raw) > _BIG_BODY else None)

    @staticmethod
    def challenge(authorization: str | None, base: str) -> RawAnswer:
        """The 401 answer, with its ``WWW-Authenticate`` challenge, to a request whose
        ``authorization`` header is no valid bearer."""
        why = (
            "Authentication credentials were not provided."
            if not authorization
            else "The bearer token is invalid or expired; authenticate again."
        )
        header = f'Bearer realm="{base}/auth/token/",service="{base}",scope="build"'
        return raw_answer(
            401, {"message": why, "code": 401}, [(b"www-authenticate", header.encode())]
        )

    def run(
        self,
        path: str,
        ident: Identity,
        body: bytes | list[bytes],
        deadline: float | None = None,
    ) -> RawAnswer:
        """Decode ``raw`` and run the write of ``path`` -> (status, JSON body, extra headers).

        ``raw`` may be a one-item list, emptied here: the body's bytes are then freed as soon as
        they are decoded."""
        raw: bytes = body.pop() if isinstance(body, list) else body
        del body  # a one-item list was emptied: ``raw`` holds the only reference here
        if path == self.batch_path:
            return self.run_batch(ident, raw, deadline)
        handler = self.handlers[path]
        # A large body is decoded and written with the cyclic garbage collector paused: its
        # millions of objects would make one full collection hold the interpreter for seconds
        # (a 200,000-node spec: 1.2 s), stalling every other request. They are freed by
        # reference counting when the write ends.
        paused = _no_gc() if len(raw) > _BIG_BODY else contextlib.nullcontext()
        try:
            try:
                with paused:
                    held_body = [self._decode(raw)]
                    raw = b""
                    message, data, status = self.transaction(
                        lambda conn: handler(conn, held_body[0], ident), deadline
                    )
                    held_body.clear()  # freed before the collector runs again
            except (RequestError, RecursionError) as exc:  # rolled back, nothing written
                return _refusal(exc)
            return raw_answer(status, {"message": message, "data": data, "code": status})
        except Exception:  # noqa: BLE001 - answer JSON, never an HTML 500
            log.exception("unexpected error answering POST %s", path)
            return raw_answer(500, {"message": INTERNAL_ERROR, "code": 500})

    def run_batch(self, ident: Identity, raw: bytes, deadline: float | None = None) -> RawAnswer:
        """A batch (:mod:`.batch`): every item decoded as its single request would be, then all
        of them in one transaction -> one answer per item. On SQLite the items first run
        without savepoints; at the first refused item that try is rolled back and the batch
        runs again with a savepoint per item (always so on PostgreSQL)."""
        assert self.batch is not None
        limits = self.batch
        paused = _no_gc() if len(raw) > _BIG_BODY else contextlib.nullcontext()
        try:
            try:
                with paused:
                    if len(raw) > limits.max_bytes:
                        raise RequestError(413, limits.too_large(len(raw)))
                    if not raw.strip():
                        raise RequestError(
                            400, "The batch body is empty; a JSON object is required."
                        )
                    value = validate.decode_json(raw, what="The batch body")
                    raw = b""
                    parsed = parse_batch(value, limits, self._short_handlers)
                    del value
                    items: list[tuple[str, Any, Any]] = []
                    for path, handler, text in parsed:
                        try:
                            decoded: Any = self._decode(text)
                        except RequestError as exc:
                            decoded = exc
                        except RecursionError:
                            decoded = RequestError(400, TOO_DEEP)
                        items.append((path, handler, decoded))
                    del parsed
                    # On SQLite first without savepoints (every item succeeds, the common case;
                    # a rolled-back first try changes nothing). Not on PostgreSQL: a rolled-back
                    # try would consume sequence values, and the ids would no longer be those
                    # the single requests would get.
                    results = None
                    if self.store.write.dialect.name == "sqlite":
                        try:
                            results = self.transaction(
                                lambda conn: run_items(conn, items, ident, savepoints=False),
                                deadline,
                            )
                        except Refused:  # rolled back: again, with a savepoint per item
                            pass
                    if results is None:
                        results = self.transaction(
                            lambda conn: run_items(conn, items, ident), deadline
                        )
                    items.clear()
            except (RequestError, RecursionError) as exc:  # rolled back, nothing written
                return _refusal(exc)
            n = len(results)
            message = f"{n} write{'s' if n != 1 else ''} run in one transaction."
            return raw_answer(200, {"message": message, "data": {"results": results}, "code": 200})
        except Exception:  # noqa: BLE001 - answer JSON, never an HTML 500
            log.exception("unexpected error answering POST %s", self.batch_path)
            return raw_answer(500, {"message": INTERNAL_ERROR, "code": 500})

    @property
    def _short_handlers(self) -> dict[str, Handler]:
        """The write handlers by their path under the prefix (``/builds/new/``)."""
        prefix = self.batch_path[: -len(BATCH_PATH)] if self.batch_path else ""
        return {path[len(prefix) :]: handler for path, handler in self.handlers.items()}

    async def serve(
        self, path: str, headers: dict[bytes, bytes], base: str, receive: Callable
    ) -> tuple[int, bytes, list, bool] | None:
        """A write request from its headers and ASGI ``receive`` -> (status, body, headers,
        close), or None when the client went away. Cheap refusals come before the body."""
        length = headers.get(b"content-length", b"")
        declared = int(length) if length.isdigit() else None
        limit = self.max_body_size
        if path == self.batch_path and self.batch is not None:
            limit = self.batch.max_bytes
            if declared is not None and declared > limit:
                body = {"message": self.batch.too_large(declared), "code": 413}
                return (*raw_answer(413, body), True)
        if declared is not None and declared > limit:
            return (*too_large(limit, declared), True)
        auth = headers.get(b"authorization")
        authorization = auth.decode("latin-1") if auth else None
        ident = self.issuer.verify_bearer(authorization)
        if ident is None:
            refusal = self.challenge(authorization, base)
            if declared is None or declared > DRAIN_LIMIT:
                return (*refusal, True)
            if not await drain(receive, DRAIN_LIMIT):
                return (*refusal, True)
            return (*refusal, False)
        # Count bytes as they arrive (a chunked body has no Content-Length): refuse as soon as the
        # limit is passed, without reading or holding the rest.
        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                chunks.clear()
                if path == self.batch_path and self.batch is not None:
                    body = {"message": self.batch.too_large(None), "code": 413}
                    return (*raw_answer(413, body), True)
                return (*too_large(limit), True)
            chunks.append(chunk)
            more = message.get("more_body", False)
        box = [chunks[0] if len(chunks) == 1 else b"".join(chunks)]
        chunks.clear()
        deadline = time.monotonic() + self.db_wait
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(self._pool, self.run, path, ident, box, deadline)
        except RuntimeError:  # the pool was shut down: the server is stopping
            answer = raw_answer(503, {"message": "The server is shutting down.", "code": 503})
        return (*answer, False)
