"""Spec documents from files, bytes and text: gzip, UTF-8, OpenPGP clearsigned, JSON or YAML.

The decoding half of :func:`~spackmon_analysis.spec.load_spec`; errors are
:class:`~spackmon_analysis.errors.SpecFormatError` naming the source.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

from ..errors import SpecFormatError

_SPEC_SUFFIXES = (".json", ".yaml", ".yml", ".sig", ".gz", ".lock")
_PGP_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----"
_PGP_SIG = "-----BEGIN PGP SIGNATURE-----"

# ---------------------------------------------------------------------------------------------
# reading bytes / text / paths


def _fail(reason: str, source: str, path: str | None = None) -> SpecFormatError:
    return SpecFormatError(reason, source=source, path=path or None)


def _strip_clearsign(text: str, source: str) -> str:
    """Return the signed payload of an OpenPGP clearsigned message."""
    start = text.find(_PGP_BEGIN)
    end = text.find(_PGP_SIG, start)
    if end < 0:
        raise _fail("clearsigned message without a '-----BEGIN PGP SIGNATURE-----' line", source)
    head = text[start + len(_PGP_BEGIN) : end]
    # armor headers ("Hash: SHA256") end at the first blank line
    lines = head.split("\n")
    i = 1 if lines and lines[0].strip() == "" else 0
    while i < len(lines) and lines[i].strip() != "":
        i += 1
    if i >= len(lines):
        raise _fail("clearsigned message without a blank line after its armor headers", source)
    body = lines[i + 1 :]
    # dash-escaped lines ("- text") lose their escape (RFC 4880 section 7.1)
    body = [ln[2:] if ln.startswith("- ") else ln for ln in body]
    return "\n".join(body)


def _parse_text(text: str, source: str, hint: str = "") -> Any:
    if text.startswith("\ufeff"):
        text = text[1:]
    if _PGP_BEGIN in text[:200]:
        text = _strip_clearsign(text, source)
    stripped = text.lstrip()
    if not stripped:
        raise _fail("empty document", source)
    if stripped[0] in "{[" or hint == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            if hint == "json":
                raise _fail(f"invalid JSON: {exc}", source) from None
            json_error = exc
        except RecursionError:
            raise _fail("document nested too deeply", source) from None
        # flow-style YAML also starts with { or [; try it before giving up
        try:
            return _yaml_load(text)
        except Exception:  # noqa: BLE001 - report the JSON error, it is the likely intent
            raise _fail(f"invalid JSON: {json_error}", source) from None
    try:
        return _yaml_load(text)
    except RecursionError:
        raise _fail("document nested too deeply", source) from None
    except Exception as exc:  # yaml.YAMLError and its relatives
        raise _fail(f"invalid YAML: {exc}", source) from None


def _yaml_load(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def _parse_bytes(data: bytes, source: str, hint: str = "") -> Any:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise _fail(f"invalid gzip data: {exc}", source) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"not UTF-8 text: {exc}", source) from None
    return _parse_text(text, source, hint)


def _read_path(path: Path, source: str) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read file: {exc.strerror or exc}", source) from None
    lower = path.name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    hint = "json" if lower.endswith(".json") else ""
    return _parse_bytes(data, source, hint)


def _looks_like_path(text: str) -> bool:
    if "\n" in text or not text.strip() or text.lstrip()[:1] in "{[":
        return False
    if text.lower().endswith(_SPEC_SUFFIXES):
        return True
    try:
        return Path(text).exists()
    except (OSError, ValueError):
        return False


def decode(source: Any, name: str | None = None) -> tuple[str, Any]:
    """``(label, document)`` of a spec source: a path (``str``/``Path``), JSON/YAML text,
    ``bytes``, or an already-parsed ``dict``/``list`` (returned as it is).

    ``label`` is ``name``, else the path, ``<string>`` or ``<object>``: the ``source`` of
    every error and of the graph read from the document.
    """
    if isinstance(source, Path):
        label = name or str(source)
        return label, _read_path(source, label)
    if isinstance(source, str):
        if _looks_like_path(source):
            label = name or source
            return label, _read_path(Path(source), label)
        label = name or "<string>"
        return label, _parse_text(source, label)
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<string>"
        return label, _parse_bytes(bytes(source), label)
    if isinstance(source, (dict, list)):
        return name or "<object>", source
    raise SpecFormatError(
        f"cannot read a spec from a {type(source).__name__} (expected a path, text, bytes, "
        "dict or list)",
        source=name or "<object>",
    )
