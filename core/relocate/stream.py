"""Prefix search, replacement and restore over a file read in chunks, in bounded memory.

The whole-buffer rules (replace_text, replace_binary, binary_room) are the reference: fed
the same bytes cut anywhere, these give the same results and raise the same errors.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Literal, NoReturn

from ..unpack import UNLIMITED_ROOM, RelocationError, replace_binary

# What a reader hands over at a time: large enough that Python costs nothing per byte.
CHUNK_SIZE = 1 << 20
# The longest NUL-terminated string holding the prefix that binary replacement holds back
# until its terminator shows it is one (conda leaves an unterminated string alone).
MAX_STRING = 16 << 20

FileMode = Literal["text", "binary"]

_NON_NUL = re.compile(b"[^\x00]")
# Output pieces of one chunk kept apart before they are joined: few, also for tiny strings.
_MAX_PIECES = 256


class StringTooLongError(RelocationError):
    """A string holding the prefix runs past MAX_STRING: streamed replacement stops there."""


def read_chunks(fd: int, offset: int = 0, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The bytes of an open file from `offset` to its end, `size` at a time (os.pread)."""
    while chunk := os.pread(fd, size, offset):
        yield chunk
        offset += len(chunk)


class _State(Enum):
    SEEK = "seek"  # between strings, looking for the needle
    STRING = "string"  # inside a string holding it, looking for its terminator
    NULS = "nuls"  # in the NULs after that terminator


class _Strings:
    """binary_room()'s walk, fed in chunks: every NUL-terminated string holding `needle`.

    Keeps bytes.count() and binary_room() of all bytes fed while holding at most
    len(needle) - 1 of them. Subclasses hear of every byte once, in order: between strings,
    inside one (from the needle's first occurrence), its terminator, the NULs after it.
    The needle holds no NUL (it is a path), so no occurrence spans a terminator.
    """

    def __init__(self, needle: bytes) -> None:
        if not needle or b"\0" in needle:
            raise ValueError(f"a needle is a path: not empty and without NUL, not {needle!r}")
        self.needle = needle
        # Occurrences of a needle that cannot overlap itself are what count() counts.
        self._overlaps = any(needle[k:] == needle[: len(needle) - k] for k in range(1, len(needle)))
        self.count = 0
        self.room = UNLIMITED_ROOM
        self._state = _State.SEEK
        self._tail = b""  # the last bytes fed where the needle may still begin
        self._in_string = 0  # occurrences in the current string
        self._run = 0  # NULs so far after its terminator

    def walk(self, chunk: bytes) -> None:
        tail = self._tail
        seam = len(self.needle) - 1
        if tail and len(chunk) >= seam and self.needle not in tail + chunk[:seam]:
            # No occurrence begins in the tail: done with it, the chunk is walked alone.
            if self._state is _State.SEEK:
                self._between(tail, 0, len(tail))
            tail = b""
        buf = tail + chunk if tail else chunk
        told = len(tail) if self._state is _State.STRING else 0
        at = 0
        while True:
            if self._state is _State.NULS:
                found = _NON_NUL.search(buf, at)
                stop = found.start() if found else len(buf)
                self._run += stop - at
                self._nuls(stop - at)
                if found is None:
                    self._tail = b""
                    return
                self._end_run()
                told = at = stop
            elif self._state is _State.SEEK:
                start = buf.find(self.needle, at)
                if start < 0:
                    cut = max(at, len(buf) - len(self.needle) + 1)
                    self._between(buf, told, cut)
                    self._tail = buf[cut:]
                    return
                self._between(buf, told, start)
                told, at = start, self._occurrence(start)
            else:
                nul = buf.find(b"\0", at)
                stop = nul if nul >= 0 else len(buf)
                found, at = self._matches(buf, at, stop)
                self.count += found
                self._in_string += found
                self._inside(buf, told, stop)
                if nul < 0:
                    self._tail = buf[max(at, len(buf) - len(self.needle) + 1) :]
                    return
                self._terminated(self._in_string)
                self._state, self._run = _State.NULS, 0
                told = at = nul + 1

    def end(self) -> None:
        """The end of the data: it ends a run of NULs, and leaves a string unterminated."""
        if self._state is _State.SEEK:
            self._between(self._tail, 0, len(self._tail))
        elif self._state is _State.STRING:
            self._unterminated()
        else:
            self._end_run()
        self._tail = b""

    def _occurrence(self, start: int) -> int:
        self.count += 1
        self._in_string = 1
        self._state = _State.STRING
        return start + len(self.needle)

    def _matches(self, buf: bytes, at: int, stop: int) -> tuple[int, int]:
        """How often the needle occurs in buf[at:stop], as count() counts, and where the last
        occurrence ends (`at` when none): found by C code, not a Python loop, when it can."""
        if not self._overlaps:
            last = buf.rfind(self.needle, at, stop)
            end = at if last < 0 else last + len(self.needle)
            return buf.count(self.needle, at, stop), end
        found = 0
        start = buf.find(self.needle, at, stop)
        while start >= 0:
            found, at = found + 1, start + len(self.needle)
            start = buf.find(self.needle, at, stop)
        return found, at

    def _end_run(self) -> None:
        """A string's room is the needle plus its share of the NULs after its terminator."""
        self.room = min(self.room, len(self.needle) + self._run // self._in_string)
        self._run_ended()
        self._state = _State.SEEK

    # What subclasses hear; buf[start:stop] is theirs to copy, not to keep.
    def _between(self, buf: bytes, start: int, stop: int) -> None:
        pass

    def _inside(self, buf: bytes, start: int, stop: int) -> None:
        pass

    def _terminated(self, count: int) -> None:
        pass

    def _nuls(self, count: int) -> None:
        pass

    def _run_ended(self) -> None:
        pass

    def _unterminated(self) -> None:
        pass


@dataclass(frozen=True)
class NeedleCount:
    """How one needle occurs in the data."""

    needle: bytes
    count: int  # occurrences, as bytes.count() counts them
    room: int  # binary_room(): UNLIMITED_ROOM when no NUL-terminated string holds it


@dataclass(frozen=True)
class ScanResult:
    needles: tuple[NeedleCount, ...]  # in the order given
    has_nul: bool  # any NUL byte: the file is binary, not text

    @property
    def found(self) -> NeedleCount | None:
        """The first needle given that occurs."""
        return next((n for n in self.needles if n.count), None)


class PrefixScan:
    """Where the prefix's spellings occur in data fed in chunks, holding only a needle's length."""

    def __init__(self, needles: Iterable[bytes]) -> None:
        self._walks = tuple(_Strings(needle) for needle in needles)
        self._has_nul = False

    def feed(self, chunk: bytes) -> None:
        self._has_nul = self._has_nul or b"\0" in chunk
        for walk in self._walks:
            walk.walk(chunk)

    def finish(self) -> ScanResult:
        for walk in self._walks:
            walk.end()
        counts = tuple(NeedleCount(w.needle, w.count, w.room) for w in self._walks)
        return ScanResult(counts, self._has_nul)


def scan(chunks: Iterable[bytes], needles: Iterable[bytes]) -> ScanResult:
    """PrefixScan over all of `chunks`."""
    scanner = PrefixScan(needles)
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.finish()


class _TextReplace:
    """replace_text() in chunks: holds back the bytes where `old` may still begin."""

    def __init__(self, old: bytes, new: bytes) -> None:
        self._old, self._new = old, new
        self._tail = b""

    def feed(self, chunk: bytes) -> bytes:
        parts = (self._tail + chunk).split(self._old)  # split matches as replace() does
        last = parts[-1]
        keep = max(0, len(last) - len(self._old) + 1)
        self._tail = last[keep:]
        parts[-1] = last[:keep]
        return self._new.join(parts)

    def finish(self) -> bytes:
        tail, self._tail = self._tail, b""
        return tail


class _BinaryReplace(_Strings):
    """replace_binary() in chunks: holds a string from its first `old` to its terminator."""

    def __init__(self, old: bytes, new: bytes) -> None:
        super().__init__(old)
        self._new = new
        self._out: list[bytes | memoryview] = []
        self._joined = bytearray()  # output of a chunk with many strings, joined as it goes
        self._held = bytearray()
        self._owed = 0  # NULs the last string's growth takes from the padding after it
        self._failed = False  # a string had no room: output stops, finish() raises

    def feed(self, chunk: bytes) -> bytes:
        self.walk(chunk)
        return self._take()

    def finish(self) -> bytes:
        self.end()
        if self._failed:
            _raise_too_long(self.needle, self._new, self.room)
        return self._take()

    def _take(self) -> bytes:
        out = b"".join(self._out)
        if self._joined:
            self._joined += out
            out = bytes(self._joined)
            self._joined.clear()
        self._out.clear()
        return out

    def _put(self, piece: bytes | memoryview) -> None:
        self._out.append(piece)
        if len(self._out) >= _MAX_PIECES:
            self._joined += b"".join(self._out)
            self._out.clear()

    def _between(self, buf: bytes, start: int, stop: int) -> None:
        if not self._failed and stop > start:
            self._put(memoryview(buf)[start:stop])

    def _inside(self, buf: bytes, start: int, stop: int) -> None:
        if self._failed:
            return
        self._held += memoryview(buf)[start:stop]
        if len(self._held) > MAX_STRING:
            raise StringTooLongError(
                f"a string holding {self.needle.decode('utf-8', 'replace')} runs over"
                f" {MAX_STRING >> 20} MiB without a NUL: binary files are relocated only in"
                f" strings up to {MAX_STRING >> 20} MiB"
            )

    def _terminated(self, count: int) -> None:
        if self._failed:
            return
        growth = (len(self._new) - len(self.needle)) * count
        self._put(bytes(self._held.replace(self.needle, self._new) + bytes(1 + max(0, -growth))))
        self._owed = max(0, growth)
        self._held.clear()

    def _nuls(self, count: int) -> None:
        taken = min(count, self._owed)
        self._owed -= taken
        if not self._failed and count > taken:
            self._put(bytes(count - taken))

    def _run_ended(self) -> None:
        if self._owed:
            self._failed, self._owed = True, 0
            self._out.clear()
            self._joined.clear()

    def _unterminated(self) -> None:
        if not self._failed:
            self._put(bytes(self._held))
            self._held.clear()


def _raise_too_long(old: bytes, new: bytes, room: int) -> NoReturn:
    """replace_binary() raises the error itself, on the shortest data with the same room, so
    that its type and message are those the whole file gives (len(new) > room holds here)."""
    replace_binary(old + b"\0" * (1 + room - len(old)), old, new)
    raise AssertionError(f"{new!r} fits in {room} bytes, yet a string had no room for it")


class StreamReplace:
    """replace_text() or replace_binary() over data fed in chunks.

    The output of feed() and finish() put together is the whole-buffer result. A binary
    prefix that does not fit raises PrefixTooLongError from finish() (its room is the whole
    file's); a string holding `old` longer than MAX_STRING raises StringTooLongError.
    """

    def __init__(self, old: bytes, new: bytes, mode: FileMode) -> None:
        self._replace: _TextReplace | _BinaryReplace | None = None
        if old and old != new:
            self._replace = _BinaryReplace(old, new) if mode == "binary" else _TextReplace(old, new)

    def feed(self, chunk: bytes) -> bytes:
        return chunk if self._replace is None else self._replace.feed(chunk)

    def finish(self) -> bytes:
        return b"" if self._replace is None else self._replace.finish()


def restore_verified(
    chunks: Iterable[bytes],
    prefixes: Iterable[bytes],
    placeholder: bytes,
    file_mode: str,
    sha256: str,
) -> bool:
    """Whether restore_package_bytes() would give the package's bytes back, without the file.

    Each spelling of the prefix is restored alongside the others while `chunks` is read
    once; a spelling that cannot be restored (PrefixTooLongError, StringTooLongError) drops
    out. Without a recorded sha256 any restore that succeeds is trusted.
    """
    mode: FileMode = "binary" if file_mode == "binary" else "text"
    tries = {
        prefix: (StreamReplace(prefix, placeholder, mode), hashlib.sha256())
        for prefix in dict.fromkeys(prefixes)
    }
    for chunk in chunks:
        for prefix, (replace, digest) in list(tries.items()):
            try:
                digest.update(replace.feed(chunk))
            except RelocationError:
                del tries[prefix]
        if not tries:
            return False
    for replace, digest in tries.values():
        try:
            digest.update(replace.finish())
        except RelocationError:
            continue
        if not sha256 or digest.hexdigest() == sha256:
            return True
    return False
