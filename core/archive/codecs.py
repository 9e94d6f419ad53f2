"""Block codecs: each compressed tar format as blocks compressed apart on any thread,
joined in order into one stream that the format's own tools read whole."""

from __future__ import annotations

import bz2
import lzma
import os
import struct
import zlib
from collections.abc import Callable
from typing import Protocol

from zlib_ng import zlib_ng

from .entry import CHUNK, Buffer

BlockResult = tuple[bytes, int, int]  # what compress() gives emit(); for most, data, check, size


class BlockCodec(Protocol):
    """A compressed format cut into blocks: each compressed on any thread, then emitted in
    order between the stream's head and tail."""

    block_size: int
    history: int  # how many bytes before a block its compression may refer to
    # Whether a run of members compressed on its own, without the history before it,
    # costs little: then the packer's workers compress the runs they read.
    apart: bool

    def head(self) -> bytes: ...

    def compress(self, history: bytes, block: Buffer) -> BlockResult: ...

    def emit(self, result: BlockResult) -> bytes: ...

    def tail(self) -> bytes: ...


def deflate(level: int, history: bytes, block: Buffer, final: bool) -> BlockResult:
    """Raw deflate of one block, primed with the 32 KiB before it (like pigz).

    A fresh compressor per block makes the result independent of which thread ran it.
    """
    compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15, zdict=history)
    data = compressor.compress(block)
    data += compressor.flush(zlib_ng.Z_FINISH if final else zlib_ng.Z_SYNC_FLUSH)
    return data, zlib_ng.crc32(block), len(block)


class GzipCodec:
    """gzip as a sequence of raw deflate blocks, compressed apart."""

    history = 1 << 15
    apart = True  # a run starting without its 32 KiB of history: a few bytes lost

    def __init__(self, level: int) -> None:
        self._level = level
        self.block_size = CHUNK
        self._crc = 0
        self._size = 0

    def head(self) -> bytes:
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown

    def compress(self, history: bytes, block: Buffer) -> BlockResult:
        return deflate(self._level, history, block, False)

    def emit(self, result: BlockResult) -> bytes:
        data, crc, size = result
        self._crc = zlib_ng.crc32_combine(self._crc, crc, size)
        self._size += size
        return data

    def tail(self) -> bytes:
        # An empty final block ends the deflate stream, then CRC and size (mod 2**32).
        return b"\x03\x00" + struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)


_XZ_FLAGS = b"\x00\x01"  # check type CRC32
_XZ_DICT_LOG2 = (18, 20, 21, 22, 22, 23, 23, 24, 25, 26)  # LZMA2 dictionary size per preset


def _le32(value: int) -> bytes:
    return struct.pack("<I", value)


def _vli(value: int) -> bytes:
    """xz variable-length integer."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class XzCodec:
    """One .xz stream of LZMA2 blocks compressed apart, laid out as `xz -T` does."""

    history = 0
    apart = False  # runs are smaller than a dictionary: each would start with none

    def __init__(self, preset: int) -> None:
        log2 = _XZ_DICT_LOG2[preset]
        self.block_size = max(3 << log2, CHUNK)  # xz's own default: three dictionaries
        self._filters = [{"id": lzma.FILTER_LZMA2, "preset": preset}]
        self._filter_flags = b"\x21\x01" + bytes([2 * (log2 - 12)])  # LZMA2, dict size
        self._index = bytearray()
        self._count = 0

    def head(self) -> bytes:
        return b"\xfd7zXZ\x00" + _XZ_FLAGS + _le32(zlib.crc32(_XZ_FLAGS))

    def compress(self, history: bytes, block: Buffer) -> BlockResult:
        data = lzma.compress(block, format=lzma.FORMAT_RAW, filters=self._filters)
        # Flags: one filter, both sizes present (lets xz decompress blocks in parallel).
        body = b"\xc0" + _vli(len(data)) + _vli(len(block)) + self._filter_flags
        body += bytes(-(len(body) + 1) % 4)
        header = bytes([(len(body) + 1) // 4]) + body
        header += _le32(zlib.crc32(header))
        check = _le32(zlib.crc32(block))
        out = b"".join((header, data, bytes(-len(data) % 4), check))
        return out, len(header) + len(data) + len(check), len(block)

    def emit(self, result: BlockResult) -> bytes:
        out, unpadded, size = result
        self._index += _vli(unpadded) + _vli(size)
        self._count += 1
        return out

    def tail(self) -> bytes:
        index = b"\x00" + _vli(self._count) + self._index
        index += bytes(-len(index) % 4)
        index += _le32(zlib.crc32(index))
        backward = _le32(len(index) // 4 - 1) + _XZ_FLAGS
        return index + _le32(zlib.crc32(backward)) + backward + b"YZ"


def xz_threads(threads: int, preset: int) -> int:
    """Fewer threads when their memory would pass a quarter of the RAM, as xz -T0 does.

    Each thread needs about 20 dictionaries: the compressor, and blocks in and out.
    """
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on this platform
        return threads
    return max(1, min(threads, ram // 4 // (20 << _XZ_DICT_LOG2[preset])))


_BZ_END = 0x177245385090  # bzip2 end-of-stream marker
_MASK48 = (1 << 48) - 1


class Bz2Codec:
    """One bzip2 stream whose blocks are compressed apart and joined bit by bit.

    Each piece is small enough to become exactly one bzip2 block (the first run-length
    step can grow input by 5/4), so its stream is: 32-bit header, the block, 48-bit end
    marker, 32-bit CRC, 0-7 padding bits. The stream CRC is folded from block CRCs.
    """

    history = 0
    apart = True  # bzip2 blocks are independent anyway

    def __init__(self, level: int) -> None:
        self._level = level
        self.block_size = (100_000 * level - 20) * 4 // 5
        self._crc = 0
        self._bits = 0  # bits not yet written, fewer than 8
        self._nbits = 0

    def head(self) -> bytes:
        return b"BZh%d" % self._level

    def compress(self, history: bytes, block: Buffer) -> BlockResult:
        data = bz2.compress(block, self._level)
        tail = int.from_bytes(data[-11:], "big")
        pad = next(p for p in range(8) if (tail >> (p + 32)) & _MASK48 == _BZ_END)
        nbits = len(data) * 8 - 32 - 80 - pad
        bits = (int.from_bytes(data, "big") >> (pad + 80)) & ((1 << nbits) - 1)
        crc = (tail >> pad) & 0xFFFFFFFF
        return bits.to_bytes((nbits + 7) // 8, "big"), nbits, crc

    def emit(self, result: BlockResult) -> bytes:
        data, nbits, crc = result
        self._crc = ((self._crc << 1 | self._crc >> 31) & 0xFFFFFFFF) ^ crc
        return self._push(int.from_bytes(data, "big"), nbits)

    def _push(self, bits: int, nbits: int) -> bytes:
        acc = self._bits << nbits | bits
        total = self._nbits + nbits
        self._nbits = total % 8
        self._bits = acc & ((1 << self._nbits) - 1)
        return (acc >> self._nbits).to_bytes(total // 8, "big")

    def tail(self) -> bytes:
        out = self._push(_BZ_END << 32 | self._crc, 80)
        if self._nbits:
            out += bytes([self._bits << (8 - self._nbits)])
        return out


CODECS: dict[str, Callable[[int], BlockCodec]] = {
    "tar.gz": GzipCodec,
    "tar.bz2": Bz2Codec,
    "tar.xz": XzCodec,
}
