"""One set of input limits for every write, checked before the database sees the values.

SQLite and PostgreSQL disagree on what they accept (SQLite ignores ``VARCHAR`` lengths and stores
``NaN`` in JSON text; PostgreSQL refuses both and cannot hold NUL), so the server decides here,
the same way for both backends:

- **Request bodies** are decoded by :func:`decode_json`: nesting deeper than
  :data:`MAX_JSON_DEPTH` is a 400; ``NaN``, ``Infinity``, ``-Infinity`` and number literals too
  large for a double (``1e999``) are a 400 naming the field (JSON has no such numbers, and a
  stored one would make every later read invalid JSON); a NUL character or a lone UTF-16
  surrogate (``"\\ud800"``, or the surrogate's UTF-8 bytes) in any string or object key is
  replaced by U+FFFD, the replacement character (a build log read by Spack with
  ``surrogateescape`` must still be stored; no database can hold such text as it is).
- **Strings stored in sized columns** (names, versions, hashes, host fields) longer than the
  column are a 400 naming the field and the limit (:func:`check_lengths`).
- **Every answer** is encoded by :func:`dumps`, which writes any lone surrogate that is already
  stored (e.g. by an older version, in a JSON column) as U+FFFD: no read fails because of what is
  stored.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import String, Table

__all__ = [
    "RequestError",
    "MAX_JSON_DEPTH",
    "decode_json",
    "clean_json",
    "clean_text",
    "check_lengths",
    "dumps",
]

#: Deepest nesting of arrays and objects accepted in a request body (and in a json_value).
MAX_JSON_DEPTH = 200
#: The answer to a body nested deeper than the readers can follow (a write's whole body).
TOO_DEEP = (
    f"The request body is nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays "
    "and objects)."
)

REPLACEMENT = "\ufffd"


class RequestError(Exception):
    """A request the server refuses: HTTP ``status``, a ``message`` naming the problem and,
    optionally, ``data`` for the answer's envelope (e.g. what is stored, on a 409)."""

    def __init__(self, status: int, message: str, data: Any = None):
        self.status = status
        self.message = message
        self.data = data
        super().__init__(message)

    def body(self) -> dict:
        """The JSON answer: ``{"message", "code"}`` plus ``data`` when there is some."""
        out: dict[str, Any] = {"message": self.message, "code": self.status}
        if self.data is not None:
            out["data"] = self.data
        return out


# ---------------------------------------------------------------------------------------------
# strings

_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
#: A JSON escape of a surrogate (``\ud800``-``\udfff``), or a surrogate's UTF-8 bytes.
_RAW_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
#: In a str document: a NUL or surrogate, or the escape of either.
_STR_SUSPECT = re.compile("[\x00\ud800-\udfff]|\\\\u(?:0000|[dD][89a-fA-F])")


def clean_text(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (a valid pair is one character
    in a Python string, so every surrogate left is a lone one)."""
    if text.isascii():
        return text.replace("\x00", REPLACEMENT) if "\x00" in text else text
    return _BAD_CHARS.sub(REPLACEMENT, text)


def _replace_unencodable(exc: UnicodeError) -> tuple[bytes, int]:
    # bytes, not str: the UTF-8 encoder accepts only ASCII text from an error handler
    if isinstance(exc, UnicodeEncodeError):
        return REPLACEMENT.encode("utf-8") * (exc.end - exc.start), exc.end
    raise exc


codecs.register_error("spackmon-replace", _replace_unencodable)


def dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON of ``data``; lone surrogates become U+FFFD, never an error.

    A non-finite float (only an older version can have stored one) is written as ``null``, so
    the answer stays valid JSON.
    """
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "spackmon-replace")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# decoding


class _NonFinite:
    """Stands in for a number JSON cannot carry, until the walk names its field."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class _Hooks:
    def __init__(self) -> None:
        self.non_finite = False

    def constant(self, text: str) -> _NonFinite:
        self.non_finite = True
        return _NonFinite(text)

    def number(self, text: str) -> float | _NonFinite:
        value = float(text)
        if math.isfinite(value):
            return value
        self.non_finite = True
        return _NonFinite(text)


def _too_deep(what: str) -> RequestError:
    return RequestError(
        400,
        f"{what} is nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and objects).",
    )


def _field(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(the whole value)"


def _find_non_finite(value: Any, path: tuple = ()) -> tuple[tuple, str] | None:
    if isinstance(value, _NonFinite):
        return path, value.text
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _find_non_finite(item, (*path, key))
        if found is not None:
            return found
    return None


def clean_json(
    value: Any,
    *,
    scrub: bool = True,
    what: str = "The request body",
    keep: frozenset = frozenset({"binary_value"}),
) -> Any:
    """Check the nesting depth of decoded JSON and (``scrub``) clean its strings.

    Every string and object key gets NUL and lone surrogates replaced by U+FFFD
    (:func:`clean_text`), except the values of the keys in ``keep`` (``binary_value`` is stored
    as bytes). Raises :class:`RequestError` (400) beyond :data:`MAX_JSON_DEPTH` levels. Without
    ``scrub`` the value is only checked and returned unchanged.
    """

    def walk(v: Any, depth: int) -> Any:
        if depth > MAX_JSON_DEPTH:
            raise _too_deep(what)
        if isinstance(v, dict):
            if scrub:
                return {
                    clean_text(k): (x if k in keep else walk(x, depth + 1)) for k, x in v.items()
                }
            for x in v.values():
                if isinstance(x, dict | list):
                    walk(x, depth + 1)
            return v
        if isinstance(v, list):
            if scrub:
                return [walk(x, depth + 1) for x in v]
            for x in v:
                if isinstance(x, dict | list):
                    walk(x, depth + 1)
            return v
        if scrub and isinstance(v, str):
            return clean_text(v)
        return v

    return walk(value, 1)


def decode_json(
    raw: bytes | str,
    *,
    what: str = "The request body",
    field: str = "",
    object_hook: Callable[[dict], Any] | None = None,
) -> Any:
    """Decode one JSON document under the rules of this module (see the module docstring).

    ``what`` names the document in messages about it as a whole; ``field`` is the dotted path of
    the document inside the request (for an analyzer's ``json_value`` string), prefixed to the
    field named in a refusal; ``object_hook`` goes to ``json.loads``. Raises
    :class:`RequestError` (400).
    """
    hooks = _Hooks()
    try:
        value = json.loads(
            raw,
            parse_constant=hooks.constant,
            parse_float=hooks.number,
            object_hook=object_hook,
        )
    except RecursionError:
        raise _too_deep(what) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"{what} is not valid JSON: {exc}") from None
    if hooks.non_finite:
        found = _find_non_finite(value)
        if found is not None:
            path, text = found
            name = _field(path)
            if field:
                sep = "" if not path or isinstance(path[0], int) else "."
                name = field + sep + _field(path) if path else field
            raise RequestError(
                400,
                f"Field {name}: {text} is not a JSON number (JSON has no NaN or Infinity, and a "
                "number must fit a double); send null or a string instead.",
            )
    if isinstance(raw, str):
        scrub = _STR_SUSPECT.search(raw) is not None
    else:
        # NUL only as the escape \u0000 (or in a UTF-16/32 body, full of zero bytes); a
        # surrogate only as an escape or as its UTF-8 bytes.
        scrub = b"\\u0000" in raw or b"\x00" in raw or _RAW_SURROGATE.search(raw) is not None
    return clean_json(value, scrub=scrub, what=what)


# ---------------------------------------------------------------------------------------------
# column limits


def check_lengths(table: Table, values: dict[str, Any], where: str) -> None:
    """Refuse (400) a string longer than its sized column of ``table`` (``VARCHAR(n)``).

    ``where`` names the record in the message, e.g. ``spec node 'zlib'``; lengths are counted in
    characters, as PostgreSQL counts them.
    """
    for key, value in values.items():
        if not isinstance(value, str):
            continue
        column = table.c.get(key)
        if column is None or not isinstance(column.type, String):
            continue
        limit = column.type.length
        if limit is not None and len(value) > limit:
            raise RequestError(
                400,
                f"{where}: {key} is {len(value)} characters long; the limit is {limit} "
                f"characters (got {value[:40]!r}...).",
            )
