"""One streamed read of a file tells the package what it holds: sha256, size, whether it is
binary, where the prefix occurs and how long a prefix its strings can take."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from typing import BinaryIO, Literal

from ..archive import CHUNK
from ..load import open_env_file
from ..progress import Progress, ProgressCallback, check_cancel
from ..unpack import UNLIMITED_ROOM

_NON_NUL = re.compile(rb"[^\0]")


@dataclass(frozen=True)
class Scanned:
    sha256: str
    size: int
    holds_prefix: bool
    binary: bool
    room: int  # what unpack.binary_room() says of the whole file


class _PrefixStrings:
    """unpack.binary_room() fed chunk by chunk, so a file is never held whole.

    Walks the file as binary_room() does: find the prefix ("seek"), count its occurrences up
    to the string's NUL ("string"), then the NULs that follow ("nuls"). Only the last
    len(prefix) - 1 bytes are carried over, so a prefix split across two chunks is found.
    """

    def __init__(self, prefix: bytes) -> None:
        self._prefix = prefix
        self._keep = len(prefix) - 1
        self._carry = b""
        self._state: Literal["seek", "string", "nuls"] = "seek"
        self._count = self._nuls = 0
        self._room = UNLIMITED_ROOM
        self.found = False

    def update(self, chunk: bytes) -> None:
        buf = self._carry + chunk if self._carry else chunk
        self._carry = b""
        pos = 0
        while True:
            if self._state == "seek":
                start = buf.find(self._prefix, pos)
                if start == -1:
                    self._carry = buf[max(pos, len(buf) - self._keep) :]
                    return
                self.found = True
                self._state, self._count, pos = "string", 1, start + len(self._prefix)
            elif self._state == "string":
                end = buf.find(b"\0", pos)
                if end == -1:
                    self._carry = self._count_to_end(buf, pos)
                    return
                self._count += buf.count(self._prefix, pos, end)
                self._state, self._nuls, pos = "nuls", 0, end + 1
            else:
                other = _NON_NUL.search(buf, pos)
                if other is None:
                    self._nuls += len(buf) - pos
                    return
                self._nuls += other.start() - pos
                self._end_string()
                pos = other.start()

    def _count_to_end(self, buf: bytes, pos: int) -> bytes:
        """Count the occurrences up to the chunk's end; the carry is what may start one."""
        while (start := buf.find(self._prefix, pos)) != -1:
            self._count += 1
            pos = start + len(self._prefix)
        return buf[max(pos, len(buf) - self._keep) :]

    def _end_string(self) -> None:
        self._room = min(self._room, len(self._prefix) + self._nuls // self._count)
        self._state = "seek"

    def room(self) -> int:
        """The file's room so far; a string still open at the end has no NUL, so no say."""
        if self._state == "nuls":
            return min(self._room, len(self._prefix) + self._nuls // self._count)
        return self._room


class Scanner:
    """sha256, size, and whether the prefix and a NUL occur, from chunks as they pass."""

    def __init__(self, prefix: bytes = b"") -> None:
        self._digest = hashlib.sha256()
        self._strings = _PrefixStrings(prefix) if prefix else None
        self.size = 0
        self.binary = False

    def update(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self.size += len(chunk)
        if self._strings is not None:
            self._strings.update(chunk)
        self.binary = self.binary or b"\0" in chunk

    def result(self) -> Scanned:
        strings = self._strings
        return Scanned(
            self._digest.hexdigest(),
            self.size,
            strings is not None and strings.found,
            self.binary,
            UNLIMITED_ROOM if strings is None else strings.room(),
        )


def scan(full: str) -> Scanned:
    """Hash a file in one streamed read (files can be large): a symlink's target."""
    scanner = Scanner()
    with open_env_file(full, "packaging") as fh:
        while chunk := fh.read(CHUNK):
            scanner.update(chunk)
    return scanner.result()


class Sizer:
    """Progress over the files' bytes, reported as the writer reads them."""

    def __init__(
        self,
        phase: str,
        total_files: int,
        total_bytes: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        self.phase, self.total_files, self.total_bytes = phase, total_files, total_bytes
        self.progress, self.cancel = progress, cancel
        self.files = self.bytes = 0

    def file(self, current: str) -> None:
        check_cancel(self.cancel)
        self._report(current)
        self.files += 1

    def read(self, n: int, current: str) -> None:
        check_cancel(self.cancel)
        self.bytes += n
        self._report(current)

    def done(self) -> None:
        self._report("")

    def _report(self, current: str) -> None:
        if self.progress is not None:
            self.progress(
                Progress(
                    self.phase,
                    self.files,
                    self.total_files,
                    self.bytes,
                    self.total_bytes,
                    current,
                )
            )


class ScanningReader:
    """Hands a file to the writer and scans what it hands over: the one read of a file."""

    def __init__(self, fh: BinaryIO, path: str, sizer: Sizer, prefix: bytes = b"") -> None:
        self._fh, self._path, self._sizer = fh, path, sizer
        self.scanner = Scanner(prefix)

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.scanner.update(data)
        if data:
            self._sizer.read(len(data), self._path)
        return data
