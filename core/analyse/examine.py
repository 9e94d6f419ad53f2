"""What one file's bytes say: each file read once, in 1 MiB pieces, for the rules to judge.

Files up to a chunk are read whole; larger ones stream through the prefix scan and the
restore check, and ELF headers beyond the head are read where they lie.
"""

from __future__ import annotations

import os
import posixpath
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from ..paths import fsencode
from ..progress import check_cancel
from ..relocate import CHUNK_SIZE, FileMode, read_chunks, restore_verified, scan
from .elf import ElfError, ElfInfo, FileBytes, is_elf, read_elf

# Enough for the ELF and program headers and, in almost every file, the dynamic strings;
# the rest of an ELF file is read only where its headers point.
HEAD = 64 * 1024

FileKind = Literal["elf", "text", "binary"]


@dataclass(frozen=True)
class FileFacts:
    """What a file's bytes say; cached per file stamp, as the judging does not change them."""

    kind: FileKind
    elf: ElfInfo | None = None
    elf_error: str | None = None
    verified: bool | None = None  # restoring the placeholder gives the record's sha256
    found_mode: FileMode | None = None  # searched files holding the prefix: text or binary
    found_room: int | None = None
    unreadable: str | None = None  # never cached: the next look may succeed


@dataclass(frozen=True, slots=True)  # one per regular file: 126,000 in a large environment
class FileTask:
    """One regular file to look at, with what its facts depend on besides its bytes."""

    path: str
    prefix: str  # one string shared by every task, where a joined path each took 16 MiB
    stamp: tuple[int, int, int]  # size, mtime_ns, inode
    placeholder: str | None
    file_mode: str | None  # as the record says (text or binary) when it has a placeholder
    sha256: str | None
    search: bool  # untracked or modified: the prefix may be anywhere in it

    @property
    def full(self) -> str:
        return posixpath.join(self.prefix, self.path)

    @property
    def context(self) -> tuple[str | None, str | None, str | None, bool]:
        return self.placeholder, self.file_mode, self.sha256, self.search

    @property
    def size(self) -> int:
        return self.stamp[0]

    @property
    def whole(self) -> bool:
        """Placeholder and searched files are read to the end; others only their head."""
        return self.placeholder is not None or self.search

    @property
    def cost(self) -> int:
        return self.size if self.whole else min(self.size, HEAD)


def examine(
    task: FileTask, prefixes: tuple[bytes, ...], cancel: threading.Event | None
) -> FileFacts:
    """Learn all that the judging needs from the file's bytes; a read error is a fact too."""
    check_cancel(cancel)
    try:
        with open(task.full, "rb", buffering=0) as fh:
            return _read_facts(task, prefixes, fh.fileno(), cancel)
    except OSError as exc:
        return FileFacts("binary", unreadable=exc.strerror or str(exc))


def _read_facts(
    task: FileTask, prefixes: tuple[bytes, ...], fd: int, cancel: threading.Event | None
) -> FileFacts:
    first = os.pread(fd, min(task.size, CHUNK_SIZE) if task.whole else HEAD, 0)
    elf = elf_error = None
    if is_elf(first):
        elf, elf_error = _parse_elf(FileBytes(first, fd, os.fstat(fd).st_size))
    kind: FileKind = "elf" if is_elf(first) else "binary" if b"\0" in first[:HEAD] else "text"
    if not task.whole:
        return FileFacts(kind, elf, elf_error)

    def chunks() -> Iterator[bytes]:
        return _chunks(first, fd, cancel)

    verified = _verify(task, prefixes, chunks)
    found_mode = found_room = None
    if task.search or verified is False:  # a second pass only for files changed after install
        found_mode, found_room = _search(chunks(), prefixes)
    return FileFacts(kind, elf, elf_error, verified, found_mode, found_room)


def _parse_elf(source: FileBytes) -> tuple[ElfInfo | None, str | None]:
    try:
        return read_elf(source), None
    except ElfError as exc:
        return None, str(exc)


def _chunks(first: bytes, fd: int, cancel: threading.Event | None) -> Iterator[bytes]:
    """The whole file: the first read, then the rest; a cancelled job stops between chunks."""
    yield first
    for chunk in read_chunks(fd, len(first)):
        check_cancel(cancel)
        yield chunk


def _verify(
    task: FileTask, prefixes: tuple[bytes, ...], chunks: Callable[[], Iterable[bytes]]
) -> bool | None:
    """Whether the file restores to its package's bytes; None when there is nothing to check."""
    if task.placeholder is None or not task.sha256:
        return None
    placeholder = fsencode(task.placeholder)
    return restore_verified(chunks(), prefixes, placeholder, task.file_mode or "text", task.sha256)


def _search(
    chunks: Iterable[bytes], prefixes: tuple[bytes, ...]
) -> tuple[FileMode | None, int | None]:
    """How a searched file holds the prefix (text or binary), and a binary's room for it."""
    result = scan(chunks, prefixes)
    if result.found is None:
        return None, None
    if not result.has_nul:
        return "text", None
    return "binary", result.found.room
