"""How an image is compressed: the settings a user gives, checked before anything is read,
and the block compressor each one makes (what the kernel's squashfs reads)."""

from __future__ import annotations

import lzma
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import lz4.block
import zstandard
from zlib_ng import zlib_ng

from ...errors import UsageError
from ..entry import Buffer

SquashfsCompressor = Literal["zstd", "gzip", "lz4", "xz"]
COMPRESSORS: tuple[SquashfsCompressor, ...] = get_args(SquashfsCompressor)
DEFAULT_BLOCK_SIZE = 128 << 10  # squashfs's own default: small reads stay cheap
METADATA_SIZE = 8192  # inode and directory tables come in blocks of this much, compressed
_BLOCK_SIZES = range(12, 21)  # 4 KiB to 1 MiB, powers of two, as the format allows
# (lowest, highest, default); lz4 has no levels. zstd 3 and gzip/xz 6: each tool's own default.
_LEVELS: dict[str, tuple[int, int, int]] = {"zstd": (1, 22, 3), "gzip": (1, 9, 6), "xz": (0, 9, 6)}
# The superblock's compression id of each compressor.
_IDS: dict[SquashfsCompressor, int] = {"gzip": 1, "xz": 4, "lz4": 5, "zstd": 6}

Compress = Callable[[Buffer], bytes]
CompressAll = Callable[[list[Buffer]], list[bytes]]


@dataclass(frozen=True)
class SquashfsSettings:
    """How the image is compressed: checked by squashfs_settings(), read by the writer."""

    compressor: SquashfsCompressor = "zstd"
    level: int | None = _LEVELS["zstd"][2]
    block_size: int = DEFAULT_BLOCK_SIZE

    @property
    def compression_id(self) -> int:
        return _IDS[self.compressor]

    @property
    def options(self) -> bytes:
        """The compressor options stored after the superblock; only lz4's are required
        (the kernel refuses an lz4 image without them: version 1, the legacy format)."""
        return struct.pack("<II", 1, 0) if self.compressor == "lz4" else b""

    @property
    def _level(self) -> int:
        """The level given, else the compressor's default (lz4 has none: 0, unused)."""
        return _LEVELS.get(self.compressor, (0, 0, 0))[2] if self.level is None else self.level

    def compressor_function(self) -> Compress:
        """compress(block): the block compressed, on any thread; fresh state per block."""
        level = self._level
        if self.compressor == "zstd":
            return _zstd(level)
        if self.compressor == "gzip":
            return lambda block: zlib_ng.compress(block, level)  # zlib's format, as squashfs
        if self.compressor == "xz":
            # CRC32 (the kernel checks no other), and a dictionary no larger than what the
            # kernel allocates for an image without xz options: the block size, 8 KiB at least.
            filters = [
                {
                    "id": lzma.FILTER_LZMA2,
                    "preset": level,
                    "dict_size": max(self.block_size, METADATA_SIZE),
                }
            ]
            return lambda block: lzma.compress(
                block, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, filters=filters
            )
        return lambda block: lz4.block.compress(block, store_size=False)

    def batch_compressor(self) -> CompressAll:
        """compress_all(blocks): each block compressed apart, on any thread. zstd's does the
        whole batch in one call that holds no GIL, so the threads need it once a batch, not
        once a block, beside a main thread that is busy with Python."""
        if self.compressor == "zstd":
            return _zstd_all(self._level)
        compress = self.compressor_function()
        return lambda blocks: [compress(block) for block in blocks]


def _zstd_all(level: int) -> CompressAll:
    compressor = _zstd_compressor(level)

    def compress_all(blocks: list[Buffer]) -> list[bytes]:
        packed = compressor().multi_compress_to_buffer(blocks, 1)
        return [packed[i].tobytes() for i in range(len(packed))]

    return compress_all


def _zstd(level: int) -> Compress:
    compressor = _zstd_compressor(level)
    return lambda block: compressor().compress(block)


def _zstd_compressor(level: int) -> Callable[[], zstandard.ZstdCompressor]:
    """This thread's compressor: a ZstdCompressor is not shared between threads."""
    local = threading.local()

    def compressor() -> zstandard.ZstdCompressor:
        made = getattr(local, "compressor", None)
        if made is None:
            made = local.compressor = zstandard.ZstdCompressor(level=level)
        return made

    return compressor


def squashfs_settings(
    compressor: str | None, level: int | None, block_size: int | None
) -> SquashfsSettings:
    """The settings to build with; a bad value fails here, before anything is read."""
    chosen = compressor or "zstd"
    if chosen not in COMPRESSORS:
        raise UsageError(
            f"--squashfs-compressor {chosen!r}: unknown; choose one of {', '.join(COMPRESSORS)}"
        )
    if chosen not in _LEVELS:
        if level is not None:
            raise UsageError(f"squashfs compressor {chosen} takes no compression level")
    else:
        low, high, default = _LEVELS[chosen]
        level = default if level is None else level
        if not low <= level <= high:
            raise UsageError(
                f"compression level {level} is out of range for squashfs {chosen} ({low}-{high})"
            )
    size = DEFAULT_BLOCK_SIZE if block_size is None else block_size
    if size.bit_length() - 1 not in _BLOCK_SIZES or size & (size - 1):
        raise UsageError(
            f"--squashfs-block-size {size}: must be a power of two from 4K to 1M (4096-1048576)"
        )
    return SquashfsSettings(chosen, level, size)
