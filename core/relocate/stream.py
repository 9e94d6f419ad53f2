"""Prefix replacement and restore over a file read in chunks, in bounded memory.

The whole-buffer rules (replace_text, replace_binary, binary_room) are the reference: fed
the same bytes cut anywhere, these give the same results and raise the same errors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from typing import Literal, NoReturn

from ..unpack import RelocationError, replace_binary
from .scan import StringWalk

# What a reader hands over at a time: large enough that Python costs nothing per byte.
CHUNK_SIZE = 1 << 20
# The longest NUL-terminated string holding the prefix that binary replacement holds back
# until its terminator shows it is one (conda leaves an unterminated string alone).
MAX_STRING = 16 << 20

FileMode = Literal["text", "binary"]

# Output pieces of one chunk kept apart before they are joined: few, also for tiny strings.
_MAX_PIECES = 256


class StringTooLongError(RelocationError):
    """A string holding the prefix runs past MAX_STRING: streamed replacement stops there."""


def read_chunks(fd: int, offset: int = 0, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The bytes of an open file from `offset` to its end, `size` at a time (os.pread)."""
    while chunk := os.pread(fd, size, offset):
        yield chunk
        offset += len(chunk)


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


class _BinaryReplace(StringWalk):
    """replace_binary() in chunks: holds a string from its first `old` to its terminator."""

    _hears = True

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
        if not self._failed:
            self._hold(memoryview(buf)[start:stop])

    def _hold(self, piece: bytes | memoryview) -> None:
        """Carry a string until its terminator, to MAX_STRING bytes."""
        self._held += piece
        if len(self._held) > MAX_STRING:
            raise StringTooLongError(
                f"a string holding {self.needle.decode('utf-8', 'replace')} runs over"
                f" {MAX_STRING >> 20} MiB without a NUL: binary files are relocated only in"
                f" strings up to {MAX_STRING >> 20} MiB"
            )

    def _terminated(self, buf: bytes, start: int, stop: int, count: int) -> None:
        if self._failed:
            return
        string = buf[start:stop]
        if self._held:  # it began in an earlier chunk
            self._hold(string)
            string = bytes(self._held)
            self._held.clear()
        growth = (len(self._new) - len(self.needle)) * count
        self._put(string.replace(self.needle, self._new) + bytes(1 + max(0, -growth)))
        self._owed = max(0, growth)

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
    """Whether restore_package_bytes() would give the package's bytes back, without the file."""
    return restored_spelling(chunks, prefixes, placeholder, file_mode, sha256) is not None


def restored_spelling(
    chunks: Iterable[bytes],
    prefixes: Iterable[bytes],
    placeholder: bytes,
    file_mode: str,
    sha256: str,
) -> bytes | None:
    """The spelling of the prefix whose restore gives the package's bytes back, if any.

    Each spelling is restored alongside the others while `chunks` is read once; a spelling
    that cannot be restored (PrefixTooLongError, StringTooLongError) drops out. Without a
    recorded sha256 any restore that succeeds is trusted.
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
            return None
    for prefix, (replace, digest) in tries.items():
        try:
            digest.update(replace.finish())
        except RelocationError:
            continue
        if not sha256 or digest.hexdigest() == sha256:
            return prefix
    return None
