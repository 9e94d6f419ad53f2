"""binary_room()'s walk over data fed in chunks, and the prefix scan built on it.

It holds no more than a needle's length of the data, whatever the length of a string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from ..unpack import UNLIMITED_ROOM

_NON_NUL = re.compile(b"[^\x00]")


class _State(Enum):
    SEEK = "seek"  # between strings, looking for the needle
    STRING = "string"  # inside a string holding it, looking for its terminator
    NULS = "nuls"  # in the NULs after that terminator


class StringWalk:
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
        buf, told = self._after_tail(chunk)
        position: tuple[int, int] | None = (told, 0)
        while position is not None:
            if self._state is _State.SEEK:
                position = self._seek(buf, *position)
            elif self._state is _State.STRING:
                position = self._to_terminator(buf, *position)
            else:
                position = self._through_nuls(buf, *position)

    def _after_tail(self, chunk: bytes) -> tuple[bytes, int]:
        """The bytes to walk (the tail, if an occurrence may begin there, and the chunk), and
        how many of them subclasses already heard of."""
        tail = self._tail
        seam = len(self.needle) - 1
        if tail and len(chunk) >= seam and self.needle not in tail + chunk[:seam]:
            if self._state is _State.SEEK:
                self._between(tail, 0, len(tail))
            tail = b""
        told = len(tail) if self._state is _State.STRING else 0
        return (tail + chunk if tail else chunk), told

    # Each step goes from (told, at) in buf to the next, or returns None at its end; `told`:
    # bytes before it were handed on; `at`: where the search goes on.
    def _seek(self, buf: bytes, told: int, at: int) -> tuple[int, int] | None:
        start = buf.find(self.needle, at)
        if start < 0:
            cut = max(at, len(buf) - len(self.needle) + 1)
            self._between(buf, told, cut)
            self._tail = buf[cut:]
            return None
        self._between(buf, told, start)
        self.count += 1
        self._in_string = 1
        self._state = _State.STRING
        return start, start + len(self.needle)

    def _to_terminator(self, buf: bytes, told: int, at: int) -> tuple[int, int] | None:
        nul = buf.find(b"\0", at)
        stop = nul if nul >= 0 else len(buf)
        found, at = self._matches(buf, at, stop)
        self.count += found
        self._in_string += found
        self._inside(buf, told, stop)
        if nul < 0:
            self._tail = buf[max(at, len(buf) - len(self.needle) + 1) :]
            return None
        self._terminated(self._in_string)
        self._state, self._run = _State.NULS, 0
        return nul + 1, nul + 1

    def _through_nuls(self, buf: bytes, _told: int, at: int) -> tuple[int, int] | None:
        found = _NON_NUL.search(buf, at)
        stop = found.start() if found else len(buf)
        self._run += stop - at
        self._nuls(stop - at)
        if found is None:
            self._tail = b""
            return None
        self._end_run()
        return stop, stop

    def end(self) -> None:
        """The end of the data: it ends a run of NULs, and leaves a string unterminated."""
        if self._state is _State.SEEK:
            self._between(self._tail, 0, len(self._tail))
        elif self._state is _State.STRING:
            self._unterminated()
        else:
            self._end_run()
        self._tail = b""

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
        self._walks = tuple(StringWalk(needle) for needle in needles)
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
