"""Text that is safe to show in a terminal, and CSV cells that are safe to open.

File names, package names and build-log lines come from builds, often from other people's
machines. Printed raw, a name holding ``ESC ] 0 ; ... BEL`` retitles the terminal, ``ESC [2J``
clears it, and a right-to-left override reorders what the reader sees. So everything the
``spackmon`` commands print and every text report goes through :func:`printable`:

- colour and erase-in-line sequences (``ESC [ ... m``, ``ESC [ K``, as compilers and CMake
  write them) are removed: they carry no text, and with them goes any "concealed" text trick;
- every other control character (C0 and C1, DEL) and the bidirectional overrides and isolates
  (U+202A-U+202E, U+2066-U+2069) are shown escaped, as ``\\x1b`` or ``\\u202e``;
- newlines and tabs are kept where the text is multi-line (``keep``).

A spreadsheet treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return) as a formula, so :func:`csv_safe` prefixes such cells of a CSV export with
``'`` (the OWASP advice): ``=HYPERLINK(...)`` is written as ``'=HYPERLINK(...)``. Only text
cells change; numbers (negative ones included) stay numbers.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["printable", "csv_safe", "CSV_FORMULA_STARTS"]

_SGR = re.compile(r"\x1b\[[0-9;:]*[mK]")
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: First characters that make a spreadsheet read a cell as a formula.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any, *, keep: str = "\n\t") -> str:
    """``text`` (``str()`` of it) with colour codes removed and every other control
    character escaped, except those in ``keep`` (newline and tab by default; ``""`` for
    a one-line name)."""
    text = text if isinstance(text, str) else str(text)
    if "\x1b" in text:
        text = _SGR.sub("", text)
    if not _UNSAFE.search(text):
        return text
    if not keep:
        return _UNSAFE.sub(_escape, text)
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS):
        return "'" + value
    return value


def csv_safe(frame: Any) -> Any:
    """A copy of a DataFrame whose text cells cannot start a spreadsheet formula."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object or str(values.dtype) in ("string", "str"):
            frame[column] = values.map(_safe_cell)
    return frame


class PrintableStream:
    """A text stream that passes everything written through :func:`printable` (keeping
    newlines, tabs and carriage returns, which progress bars use); the ``spackmon``
    command wraps stdout and stderr in it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text, keep="\n\t\r"))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
