"""tar.zst as one zstd frame, compressed by zstd's own threads, its content size filled in.

One frame, because python-zstandard's one-shot decompress() (what conda-pack's tests read
tar.zst with) stops at the end of the first frame without an error: several frames in a
row would read as a truncated tar. The size in the header lets decompress() read it with
no max_output_size, and `zstd -l` show it; zstd checks it against what it decompresses.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, cast

import zstandard

from .entry import Buffer
from .pipeline import BackgroundStream

_MAGIC = b"\x28\xb5\x2f\xfd"
_HEADER_MAX = 18  # ZSTD_FRAMEHEADERSIZE_MAX: magic, descriptor, window, dictionary id, size
_SIZE_8 = 0xC0  # Frame_Content_Size_flag 3: an 8-byte content size field


class _SizedHeader:
    """Between zstandard's writer and the file: the frame header it writes (streamed, so
    without a content size) gets an 8-byte size field, filled in by fill() at the end."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._head = bytearray()
        self._field = -1  # where the size field is in the file, once written

    def write(self, data: Buffer) -> int:
        if self._field >= 0:
            return self._raw.write(data)
        self._head += data
        if len(self._head) >= _HEADER_MAX:
            self._rewrite()
        return len(data)

    def _rewrite(self) -> None:
        head = bytes(self._head)
        length = zstandard.frame_header_size(head)
        descriptor = head[4]
        # A streamed frame: no size, no single segment (so a window byte), no dictionary.
        assert head[:4] == _MAGIC and descriptor & 0xE3 == 0 and length == 6, head[:length]
        self._field = self._raw.tell() + length
        self._raw.write(head[:4] + bytes([descriptor | _SIZE_8]) + head[5:length] + bytes(8))
        self._raw.write(head[length:])

    def fill(self, size: int) -> None:
        assert self._field >= 0  # a tar has 10240 bytes at least: 22 compressed, or more
        end = self._raw.tell()
        self._raw.seek(self._field)
        self._raw.write(struct.pack("<Q", size))
        self._raw.seek(end)


class ZstdFrameStream(BackgroundStream):
    """One zstd frame with a checksum and its content size, from zstd's threads.

    Its jobs share their windows, so the frame is as small as `zstd -T` makes it, and
    the same bytes whatever the number of threads (from one on).
    """

    def __init__(self, raw: BinaryIO, level: int, threads: int) -> None:
        self._header = _SizedHeader(raw)
        compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        sink = cast(BinaryIO, self._header)  # zstandard calls only its write()
        super().__init__(compressor.stream_writer(sink, closefd=False))
        self._size = 0

    def write(self, data: Buffer) -> int:
        self._size += len(data)
        return super().write(data)

    def close(self) -> None:
        super().close()
        self._header.fill(self._size)
