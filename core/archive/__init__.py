"""Output formats: one module per format, the codecs, and the ordered compression pipeline.

Writers stream entries the packer already chose and ordered into one output, never looking
at the filesystem for what they pack, so the output depends only on the entries given and is
byte-identical from run to run. open_writer() picks the writer for a format.
"""

from __future__ import annotations

import os
from typing import BinaryIO

import zstandard

from ..threads import worker_count
from .base import ArchiveWriter
from .codecs import CODECS, ZstdCodec, xz_threads
from .dir import DirWriter
from .entry import CHUNK, ArchiveEntry
from .formats import FORMATS, default_level, format_from_path, validate_level
from .output import install_output, open_temp, partial_name
from .pipeline import BackgroundStream, BlockStream
from .squashfs import (
    COMPRESSORS as SQUASHFS_COMPRESSORS,
)
from .squashfs import (
    SquashfsCompressor,
    SquashfsSettings,
    SquashfsWriter,
    squashfs_settings,
)
from .tar import CompressedRun, TarMembers, TarWriter
from .zip import ZipWriter

__all__ = [
    "CHUNK",
    "FORMATS",
    "SQUASHFS_COMPRESSORS",
    "ArchiveEntry",
    "ArchiveWriter",
    "CompressedRun",
    "SquashfsCompressor",
    "SquashfsSettings",
    "SquashfsWriter",
    "TarMembers",
    "TarWriter",
    "default_level",
    "format_from_path",
    "install_output",
    "open_writer",
    "squashfs_settings",
    "validate_level",
]


def open_writer(
    path: str | os.PathLike[str],
    fmt: str,
    *,
    level: int | None = None,
    threads: int = 0,
    squashfs: SquashfsSettings | None = None,
) -> ArchiveWriter:
    """Start an output; the caller has already checked that `path` may be replaced.

    threads: compression threads, 0 for one per CPU. squashfs: how a squashfs image is
    compressed (its level is squashfs.level, not `level`).
    """
    level = validate_level(fmt, level)
    threads = worker_count(threads)
    path = os.fspath(path)
    if fmt == "squashfs":
        return SquashfsWriter(path, partial_name(path), squashfs or SquashfsSettings(), threads)
    if fmt == "dir":
        temp = partial_name(path)
        os.mkdir(temp)  # 0o777 minus the umask, like any new directory
        return DirWriter(path, temp)
    temp, raw = open_temp(path, sequential=fmt != "zip")  # zip goes back to its headers
    try:
        return _file_writer(path, temp, raw, fmt, level, threads)
    except BaseException:
        raw.close()
        os.unlink(temp)
        raise


def _file_writer(
    path: str, temp: str, raw: BinaryIO, fmt: str, level: int | None, threads: int
) -> ArchiveWriter:
    if fmt == "tar":
        return TarWriter(path, temp, raw, raw)
    assert level is not None  # every other format compresses
    if fmt == "zip":
        return ZipWriter(path, temp, raw, level, threads)
    if fmt == "tar.zst" and not ZstdCodec.frames_suit(level):
        compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        stream = BackgroundStream(compressor.stream_writer(raw, closefd=False))
        return TarWriter(path, temp, raw, stream)
    if fmt == "tar.xz":
        threads = xz_threads(threads, level)
    return TarWriter(path, temp, raw, BlockStream(raw, CODECS[fmt](level), threads))
