"""Reading local files that may be uploaded: one rule for symlinks and sizes.

A save-local run directory, an install prefix and a spec file are read to be sent to a
monitor, where anyone may read them on the public data API. So every reader that takes
files from such a folder goes through :func:`read_local`:

- **no way out of the folder**: a file whose real path (every symbolic link resolved)
  is not inside the real path of the folder being read (the run directory, the install
  prefix or stage directory) is not read. A symlinked ``spack-configure-args.txt``
  pointing at ``~/.ssh/id_rsa`` stays home. Links *within* the folder are fine.
- **bounded sizes**: a file larger than ``max_bytes`` (default :data:`MAX_FILE_BYTES`)
  is not read, and a gzip file is decompressed only up to ``max_decoded`` (default
  :data:`MAX_DECODED_BYTES`); a small compressed bomb costs nothing.
- only regular files (no FIFOs or devices that would block or never end).

A file refused by these rules raises :class:`UnsafeFileError` (a
:class:`~spackmon_analysis.errors.SpackmonError`) with the reason; the readers skip
the file and name it with that reason (``SaveLocalRun.problems``/``skipped`` and the
replay summary, ``InstallRecord.skipped``; every loader also in ``MonitorData.notes``).
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from pathlib import Path
from typing import BinaryIO

from .errors import SpackmonError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_DECODED_BYTES",
    "UnsafeFileError",
    "read_local",
    "open_local",
    "LocalFile",
]

#: The largest local file read for upload (bytes; a monitor accepts 100 MiB bodies).
MAX_FILE_BYTES = 256 * 1024 * 1024
#: The most a gzip file is decompressed to (bytes).
MAX_DECODED_BYTES = 256 * 1024 * 1024


class UnsafeFileError(SpackmonError, ValueError):
    """A local file that the upload rules refuse to read (outside its folder, too big,
    not a regular file). ``path`` names the file, ``reason`` says why."""

    def __init__(self, reason: str, *, path: str | os.PathLike[str]):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def read_local(
    path: str | os.PathLike[str],
    within: str | os.PathLike[str] | None,
    *,
    max_bytes: int | None = None,
    max_decoded: int | None = None,
    decompress: bool | None = None,
) -> bytes:
    """The bytes of ``path`` (decompressed when it is gzip data), under the rules above.

    ``within`` is the folder the file must stay inside after resolving links (``None``:
    a file the user named directly, where only the size rules apply). ``max_bytes`` and
    ``max_decoded`` default to the module's :data:`MAX_FILE_BYTES` and
    :data:`MAX_DECODED_BYTES` (read at each call). ``decompress``: ``True``/``False`` to
    force, ``None`` to decompress gzip data (by its magic bytes).

    Raises:
        UnsafeFileError: outside ``within``, not a regular file, or over a size cap.
        OSError: the file cannot be read (missing, no permission).
    """
    max_decoded = MAX_DECODED_BYTES if max_decoded is None else max_decoded
    with open_local(path, within, max_bytes=max_bytes) as fh:
        data = fh.read()
    if decompress or (decompress is None and data[:2] == b"\x1f\x8b"):
        data = _gunzip(data, max_decoded, Path(path))
    return data


class LocalFile:
    """A regular file opened under :func:`read_local`'s rules (:func:`open_local`), read
    in pieces: ``read(n)`` raises :class:`UnsafeFileError` once more than ``max_bytes``
    came out (a file that grew while being read). A context manager; ``close()`` closes it."""

    def __init__(self, handle: BinaryIO, max_bytes: int, path: Path, size: int = 0) -> None:
        self._handle = handle
        self.max_bytes = max_bytes
        self.path = path
        #: the size the file had when it was opened
        self.size = size
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        """At most ``size`` bytes (``-1``: the rest, up to the cap; asked for in the size
        the file had, not the cap, so no buffer of the cap's size is ever allocated)."""
        if size is not None and size >= 0:
            return self._count(self._handle.read(size))
        parts = []
        want = max(self.size - self.read_bytes, 0) + 1  # one more: did it grow?
        while want > 0:
            chunk = self._count(self._handle.read(want))
            if not chunk:
                break
            parts.append(chunk)
            want = min(1 << 20, self.max_bytes + 1 - self.read_bytes)
        return b"".join(parts) if len(parts) != 1 else parts[0]

    def _count(self, data: bytes) -> bytes:
        self.read_bytes += len(data)
        if self.read_bytes > self.max_bytes:  # grew while being read
            raise UnsafeFileError(f"more than {self.max_bytes:,} bytes; not read", path=self.path)
        return data

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> LocalFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_local(
    path: str | os.PathLike[str],
    within: str | os.PathLike[str] | None,
    *,
    max_bytes: int | None = None,
) -> LocalFile:
    """``path`` opened for reading in pieces under the rules of :func:`read_local` (inside
    ``within`` after resolving links, a regular file, at most ``max_bytes``, default
    :data:`MAX_FILE_BYTES`); no decompression. For readers that stream a big file (a JUnit
    report near the cap) instead of holding its bytes.

    Raises:
        UnsafeFileError: outside ``within``, not a regular file, or over the size cap
            (also while reading, from :meth:`LocalFile.read`).
        OSError: the file cannot be opened (missing, no permission).
    """
    max_bytes = MAX_FILE_BYTES if max_bytes is None else max_bytes
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = _open_inside(path, within, flags) if within is not None else None
    if fd is None:  # the full check: every link on the path resolved first
        real = path.resolve(strict=True)
        if within is not None:
            root = Path(within).resolve()
            if real != root and root not in real.parents:
                raise UnsafeFileError(
                    f"a symbolic link to {real}, outside {Path(within)}; not read "
                    "(files for upload must stay inside the folder being read)",
                    path=path,
                )
        fd = os.open(real, flags)
        if within is not None:
            try:
                _check_opened(fd, root, path)
            except BaseException:
                os.close(fd)
                raise
    fh = os.fdopen(fd, "rb")
    try:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError("not a regular file; not read", path=path)
        if info.st_size > max_bytes:
            raise UnsafeFileError(
                f"{info.st_size:,} bytes, over the cap of {max_bytes:,} bytes for a file "
                "read for upload; not read",
                path=path,
            )
    except BaseException:
        fh.close()
        raise
    return LocalFile(fh, max_bytes, path, info.st_size)


def _open_inside(path: Path, within: str | os.PathLike[str], flags: int) -> int | None:
    """The quick form of the folder rule for a file directly inside the folder (a replay
    reads thousands of them): the folder is opened, then the file by its bare name relative
    to that open folder, without following a link. What is opened is then that folder's own
    entry, inside it by construction. None when the quick form does not apply (a file in a
    sub-folder, a file that is a link, a system without ``O_NOFOLLOW``/``dir_fd``, any
    error): the caller runs the full check, which also says what went wrong."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    directory = getattr(os, "O_DIRECTORY", 0)
    if not (flags & nofollow and directory and os.open in os.supports_dir_fd):
        return None
    name = path.name
    if not name or name in (".", "..") or os.path.abspath(path.parent) != os.path.abspath(within):
        return None
    try:
        folder = os.open(within, os.O_RDONLY | directory)
    except OSError:
        return None
    try:
        return os.open(name, flags, dir_fd=folder)
    except OSError:
        return None  # a link (ELOOP), missing, ...: the full check says what
    finally:
        os.close(folder)


def _check_opened(fd: int, root: Path, path: Path) -> None:
    """Where the file was really opened from, where the system says so (Linux ``/proc``):
    a folder on the path swapped for a link out between the check above and the open
    is refused too."""
    try:
        opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return  # no /proc: the check on the resolved path stands
    if opened != root and root not in opened.parents:
        raise UnsafeFileError(
            f"opened as {opened}, outside {root} (a folder on its path was replaced by a "
            "symbolic link while it was being read); not read",
            path=path,
        )


def _gunzip(data: bytes, limit: int, path: Path) -> bytes:
    """Decompress gzip ``data`` (several members too) to at most ``limit`` bytes."""
    out: list[bytes] = []
    total = 0
    rest = data
    try:
        while rest:
            decoder = zlib.decompressobj(wbits=31)
            chunk = decoder.decompress(rest, limit - total + 1)
            while True:
                total += len(chunk)
                if total > limit:
                    raise UnsafeFileError(
                        f"decompresses to more than {limit:,} bytes (the cap for a file read "
                        "for upload); not read",
                        path=path,
                    )
                out.append(chunk)
                if decoder.eof or not decoder.unconsumed_tail:
                    break
                chunk = decoder.decompress(decoder.unconsumed_tail, limit - total + 1)
            if not decoder.eof:
                raise gzip.BadGzipFile("compressed file ended before the end-of-stream marker")
            rest = decoder.unused_data.lstrip(b"\0")
    except zlib.error as exc:
        raise gzip.BadGzipFile(f"invalid gzip data: {exc}") from exc
    return b"".join(out)
