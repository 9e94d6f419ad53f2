"""Output formats: one module per format, the codecs, and the ordered compression pipeline.

Writers stream entries the packer already chose and ordered into one output, never looking
at the filesystem for what they pack, so the output depends only on the entries given and is
byte-identical from run to run. open_writer() picks the writer for a format.
"""

from __future__ import annotations

import os
from typing import BinaryIO

from ..threads import worker_count
from .base import ArchiveWriter
from .codecs import CODECS, xz_threads
from .dir import DirWriter
from .entry import CHUNK, ArchiveEntry
from .formats import (
    ALIASES,
    FORMATS,
    PACK_FORMATS,
    ArchiveFormat,
    PackFormat,
    archive_format,
    default_level,
    format_from_path,
    pack_format,
    validate_level,
)
from .installer import InstallerInfo, installer_writer
from .output import install_output, open_temp, partial_name
from .pipeline import BlockStream
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
from .zip import ZipWriter, check_zip32
from .zstdframe import ZstdFrameStream

__all__ = [
    "ALIASES",
    "CHUNK",
    "FORMATS",
    "PACK_FORMATS",
    "SQUASHFS_COMPRESSORS",
    "ArchiveEntry",
    "ArchiveFormat",
    "ArchiveWriter",
    "CompressedRun",
    "InstallerInfo",
    "PackFormat",
    "SquashfsCompressor",
    "SquashfsSettings",
    "SquashfsWriter",
    "TarMembers",
    "TarWriter",
    "archive_format",
    "check_zip32",
    "default_level",
    "format_from_path",
    "install_output",
    "open_writer",
    "pack_format",
    "squashfs_settings",
    "validate_level",
]


def open_writer(
    path: str | os.PathLike[str],
    fmt: ArchiveFormat,
    *,
    level: int | None = None,
    threads: int = 0,
    root: str = "",
    zip64: bool = True,
    installer: InstallerInfo | None = None,
    squashfs: SquashfsSettings | None = None,
) -> ArchiveWriter:
    """Start an output; the caller has already checked that `path` may be replaced.

    threads: compression threads, 0 for one per CPU. root: a plain relative folder that
    every entry goes under (--arcroot). zip64: whether a zip may use ZIP64 extensions.
    installer: what the script of the "sh" format says and checks (by default, nothing
    but a generic name). squashfs: how a squashfs image is compressed (its level is
    squashfs.level, not `level`).
    """
    level = validate_level(fmt, level)
    threads = worker_count(threads)
    path = os.fspath(path)
    writer: ArchiveWriter
    if fmt == "dir":
        temp = partial_name(path)
        os.mkdir(temp)  # 0o777 minus the umask, like any new directory
        writer = DirWriter(path, temp)
    else:
        temp, raw = open_temp(path, sequential=fmt != "zip")  # zip goes back to its headers
        try:
            if fmt == "squashfs":
                writer = SquashfsWriter(path, temp, raw, squashfs or SquashfsSettings(), threads)
            elif fmt == "sh":
                info = installer or InstallerInfo("environment")
                assert level is not None  # it compresses
                writer = installer_writer(path, temp, raw, level, threads, info)
            else:
                writer = _file_writer(path, temp, raw, fmt, level, threads, zip64)
        except BaseException:
            raw.close()
            os.unlink(temp)
            raise
    writer.root = root
    return writer


def _file_writer(
    path: str,
    temp: str,
    raw: BinaryIO,
    fmt: ArchiveFormat,
    level: int | None,
    threads: int,
    zip64: bool,
) -> ArchiveWriter:
    if fmt == "tar":
        return TarWriter(path, temp, raw, raw)
    assert level is not None  # every other format compresses
    if fmt == "zip":
        return ZipWriter(path, temp, raw, level, threads, zip64=zip64)
    if fmt == "tar.zst":
        return TarWriter(path, temp, raw, ZstdFrameStream(raw, level, threads))
    if fmt == "tar.xz":
        threads = xz_threads(threads, level)
    return TarWriter(path, temp, raw, BlockStream(raw, CODECS[fmt](level), threads))
