"""Safe parsing of the XML reports Spack writes (JUnit files, CDash directories).

Reports come from CI jobs and are read by people who did not write them, so the parser
refuses what Spack never writes and what could hurt the reader: a document type
declaration (``<!DOCTYPE``, the carrier of external entities and of entity-expansion bombs
such as "billion laughs") is refused before anything is expanded (``defusedxml`` with
``forbid_dtd=True``). Every problem is a :class:`~spackmon_analysis.errors.ReportError`
naming the file and the element: for XML that is not well formed (a truncated file), the
element that was open where parsing stopped.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import defusedxml
import defusedxml.ElementTree as DET

from .. import localfiles
from ..errors import ReportError

__all__ = ["parse_xml", "iter_xml", "element_path", "text_of", "need_attr", "number"]

_DTD_REFUSED = (
    "a document type declaration (<!DOCTYPE>) is refused: Spack never writes one and "
    "it can declare external or exponentially expanding entities"
)


def _open_path(source: Any) -> str | None:
    """The path of the element open where a (not well-formed) document stops parsing,
    found again with start/end events (still with the DTD refused); ``source``: the
    document's bytes or a binary file open at its start."""
    stack: list[str] = []
    counts: list[dict[str, int]] = [{}]
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    try:
        for event, elem in DET.iterparse(source, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                seen = counts[-1]
                index = seen.get(elem.tag, 0)
                seen[elem.tag] = index + 1
                stack.append(f"{elem.tag}[{index}]" if stack else str(elem.tag))
                counts.append({})
            else:
                stack.pop()
                counts.pop()
                elem.clear()
    except (ET.ParseError, defusedxml.DefusedXmlException):
        pass
    return "/".join(stack) if stack else None


def parse_xml(path: Path, data: bytes | None = None) -> ET.Element:
    """The root element of the XML file ``path`` (its bytes ``data`` when already read).

    The file is read under :func:`~spackmon_analysis.localfiles.read_local`'s rule: a
    regular file of at most :data:`~spackmon_analysis.localfiles.MAX_FILE_BYTES` (256 MiB;
    a JUnit report of a big environment is tens of MB).

    Raises:
        ReportError: the file cannot be read, is not a regular file, is over the size
            cap, is empty, is not well-formed XML (the
            message gives the line and column and the element left open), or carries a
            document type declaration or entity declarations (refused).
    """
    name = str(path)
    if data is None:
        try:
            # the local-file rule: a regular file (a FIFO or device named like a report
            # would block or never end) of at most localfiles.MAX_FILE_BYTES
            data = localfiles.read_local(Path(path), None, decompress=False)
        except (localfiles.UnsafeFileError, OSError) as exc:
            raise _report_error(exc, name) from None
    if not data.strip():
        raise ReportError("the file is empty", filename=name)
    try:
        return DET.fromstring(data, forbid_dtd=True)
    except ET.ParseError as exc:
        raise _report_error(exc, name, _open_path(data)) from None
    except _XML_ERRORS as exc:
        raise _report_error(exc, name) from None


#: What reading and parsing a report can raise; :func:`_report_error` says what each means.
_XML_ERRORS = (
    localfiles.UnsafeFileError,
    OSError,
    defusedxml.DTDForbidden,
    defusedxml.EntitiesForbidden,
    defusedxml.ExternalReferenceForbidden,
    LookupError,
    ET.ParseError,
)


def _report_error(exc: BaseException, name: str, open_path: str | None = None) -> ReportError:
    """The :class:`ReportError` (naming the file ``name``) of one of :data:`_XML_ERRORS`;
    ``open_path``: the element open where XML that is not well-formed stopped."""
    if isinstance(exc, localfiles.UnsafeFileError):
        return ReportError(exc.reason, filename=name)
    if isinstance(exc, OSError):
        return ReportError(f"cannot read the file ({exc.strerror or exc})", filename=name)
    if isinstance(exc, defusedxml.DTDForbidden):
        return ReportError(_DTD_REFUSED, filename=name)
    if isinstance(exc, defusedxml.EntitiesForbidden | defusedxml.ExternalReferenceForbidden):
        return ReportError(f"entity declarations are refused ({exc})", filename=name)
    if isinstance(exc, LookupError):  # a damaged encoding="..." in the XML declaration
        return ReportError(
            f"the XML declaration names an unknown encoding ({exc}): a damaged report",
            filename=name,
        )
    line, column = getattr(exc, "position", (None, None))
    where = f"inside <{open_path}>" if open_path else "before the root element"
    return ReportError(
        f"not well-formed XML at line {line}, column {column} ({where}; a truncated or "
        f"damaged report): {exc}",
        filename=name,
        element=open_path,
    )


def _is_blank(path: Path) -> bool:
    """Whether the file holds nothing but white space (read in pieces, under the cap)."""
    try:
        with localfiles.open_local(path, None) as handle:
            while chunk := handle.read(1 << 20):
                if chunk.strip():
                    return False
    except (OSError, localfiles.UnsafeFileError):
        return False
    return True


def iter_xml(path: Path) -> Iterator[tuple[str, ET.Element]]:
    """The ``("start" | "end", element)`` events of the XML file ``path``, parsed as it is
    read (for a report near the size cap: the caller clears what it has read, so the whole
    tree is never held). The same rules and errors as :func:`parse_xml`: the local-file
    rule (a regular file of at most :data:`~spackmon_analysis.localfiles.MAX_FILE_BYTES`),
    a DTD or entity declaration refused before anything is expanded, and a
    :class:`ReportError` naming the file and the element left open for XML that is not
    well-formed, as a path such as ``testsuites/testsuite[0]/testcase[2]`` (the index
    counts the earlier siblings of the same tag; found by reading the file again up to the
    damage, so a good file pays nothing for it). An element's attributes are complete at
    its ``start``, its text and children at its ``end``.

    Raises:
        ReportError: as :func:`parse_xml`; raised while iterating, after the events of
            the well-formed part before the damage.
    """
    name = str(path)
    try:
        handle = localfiles.open_local(Path(path), None)
    except (localfiles.UnsafeFileError, OSError) as exc:
        raise _report_error(exc, name) from None
    with handle:
        try:
            yield from DET.iterparse(handle, events=("start", "end"), forbid_dtd=True)
        except ET.ParseError as exc:
            if _is_blank(Path(path)):
                raise ReportError("the file is empty", filename=name) from None
            raise _report_error(exc, name, _open_path_of(Path(path))) from None
        except _XML_ERRORS as exc:
            raise _report_error(exc, name) from None


def _open_path_of(path: Path) -> str | None:
    """:func:`_open_path` of the file ``path`` (read again under the local-file rule)."""
    try:
        with localfiles.open_local(path, None) as handle:
            return _open_path(handle)
    except (localfiles.UnsafeFileError, OSError):
        return None


def element_path(*parts: str) -> str:
    """``element_path("testsuites", "testsuite[0]", "testcase[2]")`` -> the joined path."""
    return "/".join(p for p in parts if p)


def text_of(elem: ET.Element | None) -> str | None:
    """An element's text (``None`` when the element is missing)."""
    if elem is None:
        return None
    return elem.text or ""


def need_attr(elem: ET.Element, attr: str, filename: str, where: str) -> str:
    """The attribute ``attr`` of ``elem``; a :class:`ReportError` naming it when missing."""
    value = elem.get(attr)
    if value is None:
        raise ReportError(f"the attribute {attr!r} is missing", filename=filename, element=where)
    return value


def number(value: Any, filename: str, where: str, *, kind: type = float) -> Any:
    """``value`` (text) as ``kind`` (``float`` or ``int``); ``None`` for empty text; a
    :class:`ReportError` naming the element for anything else (or a negative/non-finite
    number)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        result = kind(text)
    except ValueError:
        raise ReportError(
            f"{text[:40]!r} is not a number", filename=filename, element=where
        ) from None
    if kind is float and (result != result or result in (float("inf"), float("-inf"))):
        raise ReportError(f"{text[:40]!r} is not a finite number", filename=filename, element=where)
    if result < 0:
        raise ReportError(f"{text[:40]!r} is negative", filename=filename, element=where)
    return result
