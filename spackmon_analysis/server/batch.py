"""The batch extension of the ms1 protocol: many writes in one request and one transaction.

Not part of the Spack Monitor protocol; our server advertises it in its service info
(``GET /ms1/`` -> ``"extensions": {"batch": {"path": "batch/", "max_items": N, "max_bytes":
M}}``) and our client uses it only when it is advertised (any other server gets plain ms1).

``POST /ms1/batch/`` (bearer, like every write) with the body::

    {"items": [{"path": "builds/phases/update/", "body": "<the JSON text of that request>"},
               ...]}

``path`` is one of the five ms1 writes (with or without the leading ``/``), ``body`` the JSON
text the single request would carry, as a string: each item is decoded by the same rules as a
single request's body (NaN, NUL, depth) and written by the same handler
(:data:`~.routes.protocol.WRITES`), so its answer is the one the single request would get.

The items run in order in **one** transaction. Each item runs inside a savepoint: an item the
single request would refuse (400, 403, 404, 409 ...) is rolled back to its savepoint, answers
what the single request would have answered, and the batch goes on; the rows written are those
the single requests would have written, one after another. The answer is 200::

    {"message": "...", "code": 200,
     "data": {"results": [{"status": 201, "body": {"message", "data", "code"}}, ...]}}

one result per item, in order. The batch as a whole is refused, with nothing written, for a body
over ``max_bytes`` (413, naming the limit), a malformed batch (400 naming the item and field:
not JSON, no ``items`` list, more than ``max_items`` items, an unknown ``path``, a ``body`` that
is not a string), a missing or invalid bearer (401 with the same challenge as any write) and a
database that stays busy (503 with ``Retry-After``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from .auth import Identity
from .responses import INTERNAL_ERROR
from .validate import TOO_DEEP, RequestError

__all__ = [
    "BATCH_PATH",
    "DEFAULT_BATCH_MAX_ITEMS",
    "DEFAULT_BATCH_MAX_BYTES",
    "BatchLimits",
    "parse_batch",
    "run_items",
    "Refused",
]

#: Where the batch endpoint lives under the protocol prefix.
BATCH_PATH = "/batch/"
#: Most items in one batch by default.
DEFAULT_BATCH_MAX_ITEMS = 1000
#: Largest batch body by default (bytes); never more than the server's single-request limit.
DEFAULT_BATCH_MAX_BYTES = 16 * 1024 * 1024

log = logging.getLogger("spackmon_analysis.server")

#: One write: ``(conn, decoded body, identity) -> (message, data, status)``.
Handler = Callable[[Connection, Any, Identity], tuple[str, Any, int]]


class BatchLimits:
    """The limits of one server's batch endpoint (what the service info advertises)."""

    def __init__(self, max_items: int, max_bytes: int):
        if max_items < 1 or max_bytes < 1:
            raise ValueError("batch limits must be >= 1 (pass batch_max_items=0 to disable)")
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)

    def advertised(self) -> dict[str, Any]:
        """The ``extensions.batch`` entry of the service info."""
        return {
            "path": BATCH_PATH.lstrip("/"),
            "max_items": self.max_items,
            "max_bytes": self.max_bytes,
        }

    def too_large(self, length: int | None) -> str:
        size = f"of {length} bytes" if length is not None else f"larger than {self.max_bytes} bytes"
        return (
            f"Batch body {size} exceeds the batch limit of {self.max_bytes} bytes "
            "(extensions.batch.max_bytes of the service info); send fewer items per batch."
        )


def parse_batch(
    value: Any, limits: BatchLimits, handlers: dict[str, Handler]
) -> list[tuple[str, Handler, str]]:
    """The decoded batch body -> ``[(path, handler, item JSON text), ...]``, or
    :class:`RequestError` (400) naming what is wrong."""
    if not isinstance(value, dict) or not isinstance(value.get("items"), list):
        raise RequestError(
            400, 'A batch body is a JSON object {"items": [{"path": ..., "body": ...}, ...]}.'
        )
    items = value["items"]
    if not items:
        raise RequestError(400, "The batch has no items.")
    if len(items) > limits.max_items:
        raise RequestError(
            400,
            f"The batch has {len(items)} items; at most {limits.max_items} are accepted "
            "(extensions.batch.max_items of the service info).",
        )
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError(400, f"items[{index}] must be an object {{path, body}}.")
        path = item.get("path")
        key = "/" + path.strip("/") + "/" if isinstance(path, str) else None
        handler = handlers.get(key) if key else None
        if handler is None:
            raise RequestError(
                400,
                f"items[{index}].path must be one of the ms1 writes "
                f"({', '.join(p.strip('/') + '/' for p in handlers)}), got {path!r}.",
            )
        body = item.get("body")
        if not isinstance(body, str):
            raise RequestError(
                400,
                f"items[{index}].body must be a string holding the request's JSON text, "
                f"got {type(body).__name__}.",
            )
        out.append((key or "", handler, body))
    return out


class Refused(Exception):
    """Raised by :func:`run_items` without savepoints at the first item that is refused: the
    caller rolls the transaction back and runs the batch again with a savepoint per item."""


def run_items(
    conn: Connection,
    items: list[tuple[str, Handler, Any]],
    ident: Identity,
    *,
    savepoints: bool = True,
) -> list[dict[str, Any]]:
    """Run decoded items in order inside ``conn``'s transaction.

    An item is ``(path, handler, body)`` where ``body`` is the decoded body or the
    :class:`RequestError` its decoding raised (answered as is, like a single request that never
    reached the database). Returns one ``{"status", "body"}`` per item.

    With ``savepoints`` each item runs inside a savepoint, and an item that is refused is rolled
    back to it alone. Without, the first refused item raises :class:`Refused` (the caller rolls
    the whole transaction back and runs the batch again with savepoints): a batch in which every
    item succeeds, the common case, pays for no savepoint. Errors that condemn the whole
    transaction (a unique-key race, a lock wait, a lost connection) propagate: the caller
    retries or refuses the whole batch, as it would a single request.
    """
    results: list[dict[str, Any]] = []
    # the pool's proxy opens the cursor on the DBAPI connection (the one in this transaction)
    cursor = conn.connection.cursor() if savepoints else None
    for path, handler, body in items:
        if isinstance(body, RequestError):
            results.append({"status": body.status, "body": body.body()})
            continue
        if cursor is not None:
            cursor.execute("SAVEPOINT spackmon_item")
        try:
            message, data, status = handler(conn, body, ident)
        except (IntegrityError, OperationalError):
            raise
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise
            text = f"The database rejected the request: {exc.orig}"
            answer = {"status": 400, "body": {"message": text, "code": 400}}
        except RequestError as exc:
            answer = {"status": exc.status, "body": exc.body()}
        except RecursionError:
            answer = {"status": 400, "body": {"message": TOO_DEEP, "code": 400}}
        except Exception:  # noqa: BLE001 - one item's 500, as its single request would answer
            if cursor is not None:
                log.exception("unexpected error in a batch item POST %s", path)
            answer = {"status": 500, "body": {"message": INTERNAL_ERROR, "code": 500}}
        else:
            if cursor is not None:
                cursor.execute("RELEASE SAVEPOINT spackmon_item")
            results.append(
                {"status": status, "body": {"message": message, "data": data, "code": status}}
            )
            continue
        if cursor is None:
            raise Refused(path)
        cursor.execute("ROLLBACK TO SAVEPOINT spackmon_item")
        cursor.execute("RELEASE SAVEPOINT spackmon_item")
        results.append(answer)
    return results
