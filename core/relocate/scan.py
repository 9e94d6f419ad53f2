"""binary_room()'s walk over data fed in chunks, and the prefix scan built on it.

It holds no more than a needle's length of the data, whatever the length of a string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..unpack import UNLIMITED_ROOM

_NON_NUL = re.compile(b"[^\x00]")


# Where the walk is: between strings, looking for the needle ("seek"); inside a string
# holding it, looking for its terminator ("string"); in the NULs after that ("nuls").
# Strings, not an Enum: the loop compares them for every string of a file.
_State = Literal["seek", "string", "nuls"]


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
        self._state: _State = "seek"
        self._tail = b""  # the last bytes fed where the needle may still begin
        self._in_string = 0  # occurrences in the current string
        self._run = 0  # NULs so far after its terminator

    def walk(self, chunk: bytes) -> None:
        """One loop over the three states, with few calls per string: a binary may hold
        thousands of strings a megabyte."""
        buf, told = self._after_tail(chunk)
        needle, hears, state, at = self.needle, self._hears, self._state, 0
        while True:
            if state == "seek":
                start = buf.find(needle, at)
                if start < 0:
                    cut = max(at, len(buf) - len(needle) + 1)
                    if hears:
                        self._between(buf, told, cut)
                    self._tail = buf[cut:]
                    break
                if hears:
                    self._between(buf, told, start)
                self.count += 1
                self._in_string = 1
                told, at, state = start, start + len(needle), "string"
            elif state == "string":
                nul = buf.find(b"\0", at)
                if nul < 0:
                    found, at = self._matches(buf, at, len(buf))
                    self.count += found
                    self._in_string += found
                    if hears:
                        self._inside(buf, told, len(buf))
                    self._tail = buf[max(at, len(buf) - len(needle) + 1) :]
                    break
                found = buf.count(needle, at, nul)  # no occurrence spans the NUL
                self.count += found
                self._in_string += found
                if hears:
                    self._terminated(buf, told, nul, self._in_string)
                self._run = 0
                told = at = nul + 1
                state = "nuls"
            else:
                other = _NON_NUL.search(buf, at)
                stop = other.start() if other else len(buf)
                self._run += stop - at
                if hears:
                    self._nuls(stop - at)
                if other is None:
                    self._tail = b""
                    break
                self._close_run()
                told = at = stop
                state = "seek"
        self._state = state

    def _after_tail(self, chunk: bytes) -> tuple[bytes, int]:
        """The bytes to walk (the tail, if an occurrence may begin there, and the chunk), and
        how many of them subclasses already heard of."""
        tail = self._tail
        seam = len(self.needle) - 1
        if tail and len(chunk) >= seam and self.needle not in tail + chunk[:seam]:
            if self._state == "seek" and self._hears:
                self._between(tail, 0, len(tail))
            tail = b""
        told = len(tail) if self._state == "string" else 0
        return (tail + chunk if tail else chunk), told

    def end(self) -> None:
        """The end of the data: it ends a run of NULs, and leaves a string unterminated."""
        if self._state == "nuls":
            self._close_run()
        elif self._hears and self._state == "seek":
            self._between(self._tail, 0, len(self._tail))
        elif self._hears:
            self._unterminated()
        self._state, self._tail = "seek", b""

    def _matches(self, buf: bytes, at: int, stop: int) -> tuple[int, int]:
        """How often the needle occurs in buf[at:stop], as count() counts, and where the last
        occurrence ends (`at` when none): by C code, not a Python loop, unless it overlaps."""
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

    def _close_run(self) -> None:
        """A string's room is the needle plus its share of the NULs after its terminator."""
        self.room = min(self.room, len(self.needle) + self._run // self._in_string)
        if self._hears:
            self._run_ended()

    # What subclasses hear, when they set _hears; buf[start:stop] is theirs to copy, not keep.
    _hears = False

    def _between(self, buf: bytes, start: int, stop: int) -> None:
        pass

    def _inside(self, buf: bytes, start: int, stop: int) -> None:
        pass

    def _terminated(self, buf: bytes, start: int, stop: int, count: int) -> None:
        """The string's last bytes, up to its terminator, and how often it holds the needle."""
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
