"""Large files whose bytes change on the way in: measured by a worker, streamed by the writer.

A file that holds the prefix and is rewritten (restored, relocated, RPATH fixed) is never
read whole. A worker reads it once to decide (scan or restore check) and, where the size
changes, once more to measure the result, since an archive header needs the size first;
the writer then streams it through the same rewrite. Memory: a chunk and, in a binary
file, the one string holding the prefix being replaced (up to relocate's MAX_STRING).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..relocate import FileMode, StreamReplace, read_chunks
from .files import current_size, open_file

Patch = tuple[int, bytes]  # bytes put at an offset of the file as read: --fix-rpath
Replace = tuple[bytes, bytes, FileMode]  # old, new, how: replaced in that order


@dataclass(frozen=True)
class Rewrite:
    """How a large file's bytes become the packed bytes, and how many there are."""

    size: int
    patches: tuple[Patch, ...] = ()
    replaces: tuple[Replace, ...] = ()


def patched(chunks: Iterable[bytes], patches: tuple[Patch, ...]) -> Iterator[bytes]:
    """The chunks with each patch laid over the bytes at its offset (same length)."""
    offset = 0
    for chunk in chunks:
        end = offset + len(chunk)
        hits = [(at, raw) for at, raw in patches if at < end and at + len(raw) > offset]
        if hits:
            buffer = bytearray(chunk)
            for at, raw in hits:
                start = max(at, offset)
                stop = min(at + len(raw), end)
                buffer[start - offset : stop - offset] = raw[start - at : stop - at]
            chunk = bytes(buffer)
        offset = end
        yield chunk


def rewritten(
    chunks: Iterable[bytes], patches: tuple[Patch, ...], replaces: tuple[Replace, ...]
) -> Iterator[bytes]:
    """The packed bytes of a file read in `chunks`: patched, then replaced stage by stage.

    A binary prefix with no room raises the relocate error from its stage's finish().
    """
    stages = [StreamReplace(old, new, mode) for old, new, mode in replaces]

    def through(data: bytes, first: int) -> bytes:
        for stage in stages[first:]:
            data = stage.feed(data)
        return data

    for chunk in patched(chunks, patches):
        if out := through(chunk, 0):
            yield out
    for index, stage in enumerate(stages):
        if out := through(stage.finish(), index + 1):
            yield out


def measured_size(path: str, patches: tuple[Patch, ...], replaces: tuple[Replace, ...]) -> int:
    """The packed size, by a pass through the rewrite: a text replacement changes the size,
    and a binary prefix without room must fail here, in the worker, not half-way through
    the archive."""
    if not replaces:
        return current_size(path)
    fd = open_file(path)
    try:
        return sum(len(out) for out in rewritten(read_chunks(fd), patches, replaces))
    finally:
        os.close(fd)


class RewriteReader:
    """The packed bytes as a binary file for the archive writer, read once from disk."""

    def __init__(self, path: str, rewrite: Rewrite) -> None:
        self._fd = open_file(path)
        self._pieces = rewritten(read_chunks(self._fd), rewrite.patches, rewrite.replaces)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> RewriteReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
