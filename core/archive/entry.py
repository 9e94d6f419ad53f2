"""ArchiveEntry: one member described fully, and its content read in bounded pieces."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ..errors import CondaPackageError

KINDS: tuple[str, ...] = ("file", "dir", "symlink", "hardlink")

CHUNK = 1 << 20  # read size for streamed content, and the write buffer size

Buffer = bytes | bytearray | memoryview


class Readable(Protocol):
    """What a file's content may be read from: an open file, or bytes made as they are read."""

    def read(self, size: int = -1, /) -> bytes: ...


Content = Buffer | Readable | None


def check_name(name: str, what: str) -> None:
    """Refuse a name that could land outside the output once extracted."""
    parts = name.split("/")
    if not name or name[0] == "/" or "\0" in name or "" in parts or "." in parts or ".." in parts:
        raise ValueError(f"{what} {name!r} is not a plain relative path")


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One member, described fully so that writers never consult the filesystem.

    size is the content length of a "file". target is the link text of a "symlink", or
    for a "hardlink" the archive name of an earlier "file" (or "hardlink") entry.
    """

    name: str
    kind: str
    mode: int
    mtime: int = 0
    size: int = 0
    target: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "archive name")
        if self.kind not in KINDS:
            raise ValueError(f"{self.name!r}: unknown kind {self.kind!r}")
        if self.size < 0:
            raise ValueError(f"{self.name!r}: negative size {self.size}")
        if self.kind == "symlink" and not self.target:
            raise ValueError(f"{self.name!r}: symlink without a target")
        if self.kind == "hardlink":
            check_name(self.target, f"{self.name!r}: hard link target")
        object.__setattr__(self, "mode", self.mode & 0o7777)


def content_pieces(name: str, content: Content, size: int) -> Iterator[Buffer]:
    """The content in pieces of at most CHUNK bytes; exactly `size` bytes or an error."""
    if content is None:
        content = b""
    if isinstance(content, (bytes, bytearray, memoryview)):
        if memoryview(content).nbytes != size:
            raise ValueError(f"{name!r}: {memoryview(content).nbytes} bytes given for size {size}")
        yield content
        return
    left = size
    while left:
        piece = content.read(min(left, CHUNK))
        if not piece:
            raise CondaPackageError(f"{name} shrank while it was being packed")
        left -= len(piece)
        yield piece
    if content.read(1):
        raise CondaPackageError(f"{name} grew while it was being packed")
