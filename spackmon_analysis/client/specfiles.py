"""Spec documents for upload: the client's one place that turns a spec file, document
text or a parsed document into the document it sends (:func:`spec_document`), always
through :func:`~spackmon_analysis.spec.decode_spec_document`."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SpecFormatError


def read_spec_document(path: str | Path, *, within: str | Path | None = None) -> Any:
    """The parsed document of a spec file (JSON, YAML, clearsigned ``.sig``, gzip).

    Read under the upload rules of :mod:`~spackmon_analysis.localfiles`: at most
    ``MAX_FILE_BYTES``, decompressed to at most ``MAX_DECODED_BYTES``, and, with
    ``within`` (the install prefix it comes from), never through a symbolic link out of
    that folder; decoded and checked by
    :func:`~spackmon_analysis.spec.decode_spec_document`, the reader of ``load_spec``. A
    refused or malformed file raises :class:`SpecFormatError` naming it and the reason.
    """
    return _spec_file_document(path, within)


def _spec_file_document(path: str | Path, within: str | Path | None = None) -> Any:
    """The checked document of a spec file, read once under the upload rules."""
    from ..spec import decode_spec_document

    doc, _graph = decode_spec_document(_spec_bytes(path, within), name=str(path))
    return doc


def spec_document(value: Any) -> Any:
    """The document an upload sends for ``value``, checked: a spec file (a ``Path`` or a
    one-line path string, read under the upload rules), or a parsed document or JSON/YAML
    text, decoded by :func:`~spackmon_analysis.spec.decode_spec_document` (the reader of
    ``load_spec``: what was checked is what is sent). A malformed one raises
    :class:`SpecFormatError`."""
    if _looks_like_path(value):
        return _spec_file_document(value)
    from ..spec import decode_spec_document

    doc, _graph = decode_spec_document(value)
    return doc


def _spec_bytes(path: str | Path, within: str | Path | None = None) -> bytes:
    """A spec file's bytes (gunzipped) under the upload rules; ``SpecFormatError`` naming
    the file when they refuse it or it cannot be read."""
    from ..localfiles import UnsafeFileError, read_local

    try:
        return read_local(path, within)  # gunzipped (to at most MAX_DECODED_BYTES) when gzip
    except UnsafeFileError as exc:
        raise SpecFormatError(exc.reason, source=str(path)) from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise SpecFormatError(f"bad gzip data: {exc}", source=str(path)) from exc
    except OSError as exc:
        raise SpecFormatError(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc


def _looks_like_path(value: Any) -> bool:
    """A ``Path``, or a one-line string that is not JSON/YAML document text."""
    if isinstance(value, Path):
        return True
    if not isinstance(value, str):
        return False
    text = value.strip()
    return (
        bool(text)
        and "\n" not in text
        and not text.startswith(("{", "[", "-----"))
        and len(text) < 4096
    )


def _unwrap_upload_body(doc: Any) -> tuple[Any, str | None]:
    """``(spec document, spack_version)`` from an upload body ``{"spec", "spack_version"}``."""
    if isinstance(doc, Mapping) and "spack_version" in doc and "spec" in doc:
        version = doc.get("spack_version")
        return doc["spec"], version if isinstance(version, str) and version else None
    return doc, None


def _with_source(exc: SpecFormatError, filename: str | Path) -> SpecFormatError:
    """``exc`` naming the file as the caller gave it (``sub/x.json``, not ``x.json``)."""
    given = str(filename)
    if exc.source in (None, given) or exc.source not in (Path(given).name, str(Path(given))):
        return exc
    return SpecFormatError(exc.reason, source=given, path=exc.path)


def _install_spec_document(prefix: Path) -> Any | None:
    for folder in (prefix / ".spack", prefix):
        for name in ("spec.json", "spec.yaml", "spec.json.gz"):
            candidate = folder / name
            if candidate.is_file():
                return read_spec_document(candidate, within=prefix)
    return None
