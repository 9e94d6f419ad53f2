"""The byte rules of unpack/relocate.py, fed a file in chunks: memory stays bounded whatever
the file's size, and the results are exactly those of the whole-buffer functions.

A file is scanned once (PrefixScan: how often the prefix occurs, whether it is binary, the
room its strings have) and, when it must change, transformed in a second pass (Transform).
Only a binary string that holds the prefix is carried whole until its NUL, up to MAX_CARRY.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from ..unpack import (
    UNLIMITED_ROOM,
    PrefixTooLongError,
    RelocationError,
    fix_shebang,
)

CHUNK = 1 << 20
MAX_CARRY = 16 << 20  # a string holding the prefix longer than this is not relocated
_NON_NUL = re.compile(b"[^\x00]")

FileMode = Literal["text", "binary"]


class StringTooLong(RelocationError):
    """A string that must be rewritten as a whole is longer than MAX_CARRY."""


def read_chunks(fd: int, size: int = CHUNK) -> Iterator[bytes]:
    """A file's bytes from its current offset to its end, in pieces of `size`."""
    while piece := os.read(fd, size):
        yield piece


@dataclass(frozen=True)
class Scan:
    """What one pass over a file tells of a prefix in it."""

    count: int  # occurrences, counted as bytes.replace() replaces them
    binary: bool  # the file holds a NUL byte
    room: int  # as unpack.binary_room() over the whole file

    @property
    def mode(self) -> FileMode:
        return "binary" if self.binary else "text"


class PrefixScan:
    """Counts a prefix and measures its room, fed in chunks; carries at most len(prefix)-1
    bytes, however long the strings that hold it."""

    def __init__(self, needle: bytes) -> None:
        self.needle = needle
        self.count = 0
        self.binary = False
        self.room = UNLIMITED_ROOM
        self._carry = b""
        self._state: Literal["search", "string", "nuls"] = "search"
        self._in_string = 0  # occurrences in the string being read
        self._nuls = 0  # NULs after its terminator so far

    def feed(self, chunk: bytes) -> None:
        if not self.binary and b"\0" in chunk:
            self.binary = True
        if self.needle:
            self._carry = self._scan(self._carry + chunk if self._carry else chunk)

    def result(self) -> Scan:
        if self._state == "nuls":
            self._close()
        return Scan(self.count, self.binary, self.room)

    def _close(self) -> None:
        self.room = min(self.room, len(self.needle) + self._nuls // self._in_string)
        self._state = "search"

    def _scan(self, buf: bytes) -> bytes:
        """Go through buf; return the bytes to keep for the next chunk."""
        needle, n, pos = self.needle, len(self.needle), 0
        while True:
            if self._state == "search":
                found = buf.find(needle, pos)
                if found == -1:
                    return buf[max(pos, len(buf) - n + 1) :]
                self.count += 1
                self._in_string, pos, self._state = 1, found + n, "string"
            elif self._state == "string":
                end = buf.find(b"\0", pos)
                found = buf.find(needle, pos, len(buf) if end == -1 else end)
                if found != -1:
                    self.count += 1
                    self._in_string, pos = self._in_string + 1, found + n
                elif end == -1:
                    return buf[max(pos, len(buf) - n + 1) :]
                else:
                    self._nuls, pos, self._state = 0, end + 1, "nuls"
            else:
                other = _NON_NUL.search(buf, pos)
                if other is None:
                    self._nuls += len(buf) - pos
                    return b""
                self._nuls += other.start() - pos
                pos = other.start()
                self._close()


def scan(chunks: Iterable[bytes], needle: bytes) -> Scan:
    scanner = PrefixScan(needle)
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.result()


class Transform(Protocol):
    """A byte rule fed in chunks: what feed() and finish() return, joined, is the result."""

    def feed(self, chunk: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class TextReplace:
    """unpack.replace_text(), carrying len(old)-1 bytes."""

    def __init__(self, old: bytes, new: bytes) -> None:
        self.old, self.new = old, new
        self._carry = b""

    def feed(self, chunk: bytes) -> bytes:
        return self._replace(self._carry + chunk if self._carry else chunk, final=False)

    def finish(self) -> bytes:
        return self._replace(self._carry, final=True)

    def _replace(self, buf: bytes, final: bool) -> bytes:
        old, n = self.old, len(self.old)
        if not old or old == self.new:
            self._carry = b""
            return buf
        out, pos = [], 0
        while (found := buf.find(old, pos)) != -1:
            out += [buf[pos:found], self.new]
            pos = found + n
        keep = len(buf) if final else max(pos, len(buf) - n + 1)
        out.append(buf[pos:keep])
        self._carry = buf[keep:]
        return b"".join(out)


class BinaryReplace:
    """unpack.replace_binary(): a string that holds `old` is carried to its NUL (and the
    padding a longer prefix takes), at most MAX_CARRY bytes."""

    def __init__(self, old: bytes, new: bytes) -> None:
        self.old, self.new = old, new
        self._buf = b""
        self._inside = False  # _buf starts with an occurrence of old

    def feed(self, chunk: bytes) -> bytes:
        return self._drain(self._buf + chunk if self._buf else chunk, final=False)

    def finish(self) -> bytes:
        return self._drain(self._buf, final=True)

    def _drain(self, buf: bytes, final: bool) -> bytes:
        old, n = self.old, len(self.old)
        if not old or old == self.new:
            self._buf = b""
            return buf
        out: list[bytes] = []
        pos = 0
        while True:
            if not self._inside:
                found = buf.find(old, pos)
                if found == -1:
                    keep = len(buf) if final else max(pos, len(buf) - n + 1)
                    out.append(buf[pos:keep])
                    pos = keep
                    break
                out.append(buf[pos:found])
                pos, self._inside = found, True
            region = self._string(buf, pos, final)
            if region is None:  # the string goes on in the next chunk
                if final:  # no terminator: left alone, as replace_binary does
                    out.append(buf[pos:])
                    pos = len(buf)
                break
            out.append(region[0])
            pos, self._inside = region[1], False
        self._buf = buf[pos:]
        return b"".join(out)

    def _string(self, buf: bytes, start: int, final: bool) -> tuple[bytes, int] | None:
        """The replaced string at buf[start:] and where its region ends, or None for more."""
        end = buf.find(b"\0", start + len(self.old))
        if end == -1:
            if not final and len(buf) - start > MAX_CARRY:
                raise StringTooLong(
                    f"a string holding the prefix runs for over {MAX_CARRY >> 20} MiB without"
                    " a NUL byte; a binary file's string that long is not relocated"
                )
            return None
        string = buf[start:end]
        extra = (len(self.new) - len(self.old)) * string.count(self.old)
        region_end = end + 1
        if extra > 0:
            if len(buf) < region_end + extra and not final:
                return None  # the padding it needs may be in the next chunk
            if not buf.startswith(b"\0" * extra, region_end):
                nuls = _NON_NUL.search(buf, region_end)
                run = (nuls.start() if nuls else len(buf)) - region_end
                room = len(self.old) + run // string.count(self.old)
                raise PrefixTooLongError(
                    f"{self.new.decode('utf-8', 'replace')} ({len(self.new)} bytes) does not fit"
                    f" where {self.old.decode('utf-8', 'replace')} was: there is room for"
                    f" {room} bytes",
                    [],
                    room,
                )
            region_end += extra
        replaced = string.replace(self.old, self.new)
        return replaced + b"\0" * (region_end - start - len(replaced)), region_end


class ShebangFix:
    """unpack.fix_shebang() on the first line, which is carried until its end."""

    def __init__(self, prefix: bytes) -> None:
        self.prefix = prefix
        self._head: bytes | None = b""  # None once the first line went out

    def feed(self, chunk: bytes) -> bytes:
        if self._head is None:
            return chunk
        head = self._head + chunk
        if len(head) >= 2 and not head.startswith(b"#!"):
            self._head = None  # not a script: nothing to fix
            return head
        if b"\n" not in head:
            if len(head) > MAX_CARRY:
                raise StringTooLong(f"a first line of over {MAX_CARRY >> 20} MiB")
            self._head = head
            return b""
        self._head = None
        return fix_shebang(head, self.prefix)

    def finish(self) -> bytes:
        head, self._head = self._head, None
        return fix_shebang(head, self.prefix) if head else b""


class Chain:
    """Transforms one after the other."""

    def __init__(self, *stages: Transform) -> None:
        self.stages = stages

    def feed(self, chunk: bytes) -> bytes:
        for stage in self.stages:
            chunk = stage.feed(chunk)
        return chunk

    def finish(self) -> bytes:
        out = b""
        for stage in self.stages:
            out = stage.feed(out) + stage.finish() if out else stage.finish()
        return out


def replacer(old: bytes, new: bytes, mode: FileMode) -> Transform:
    """replace_text() or replace_binary(): the rule a placeholder is put back with."""
    return BinaryReplace(old, new) if mode == "binary" else TextReplace(old, new)


def relocator(old: bytes, new: bytes, mode: FileMode) -> Transform:
    """unpack.relocate_bytes(): text files also get their #! line fixed for the new prefix."""
    if mode == "binary":
        return BinaryReplace(old, new)
    return Chain(TextReplace(old, new), ShebangFix(new))


def run(transform: Transform, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The transformed pieces (empty ones left out)."""
    for chunk in chunks:
        if out := transform.feed(chunk):
            yield out
    if out := transform.finish():
        yield out


def restores(
    chunks: Iterable[bytes], prefix: bytes, placeholder: bytes, mode: FileMode, sha256: str
) -> bool:
    """Whether putting the placeholder back gives the package's bytes (sha256), without
    holding the file; a restore that cannot be done (no room) is a no."""
    digest = hashlib.sha256()
    try:
        for piece in run(replacer(prefix, placeholder, mode), chunks):
            digest.update(piece)
    except RelocationError:
        return False
    return not sha256 or digest.hexdigest() == sha256


def measure(make: Callable[[], Transform], chunks: Iterable[bytes]) -> int:
    """How many bytes a transform makes of a file: the size a tar header must give first."""
    return sum(len(piece) for piece in run(make(), chunks))
