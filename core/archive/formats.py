"""The output formats, the file names that ask for them, and their compression levels."""

from __future__ import annotations

import os
from typing import Literal, cast

from ..errors import UsageError

# sh: a self-extracting installer, a shell script with a tar.gz after it (installer.py).
ArchiveFormat = Literal[
    "tar.gz", "tar.zst", "tar.bz2", "tar.xz", "tar", "zip", "dir", "sh", "squashfs"
]  # fmt: skip
# What a user can ask to pack: the archive formats, and a Cloudera parcel (a tar.gz).
PackFormat = Literal[ArchiveFormat, "parcel"]

FORMATS: tuple[ArchiveFormat, ...] = (
    "tar.gz", "tar.zst", "tar.bz2", "tar.xz", "tar", "zip", "dir", "sh", "squashfs"
)  # fmt: skip
PACK_FORMATS: tuple[PackFormat, ...] = (*FORMATS, "parcel")

# conda-pack 0.9.2's other names for them, so its command lines work unchanged.
ALIASES: dict[str, PackFormat] = {
    "tgz": "tar.gz",
    "tzst": "tar.zst",
    "tbz2": "tar.bz2",
    "txz": "tar.xz",
    "no-archive": "dir",
}

EXTENSIONS: dict[str, PackFormat] = {
    ".tar.gz": "tar.gz",
    ".tgz": "tar.gz",
    ".tar.zst": "tar.zst",
    ".tzst": "tar.zst",
    ".tar.bz2": "tar.bz2",
    ".tbz2": "tar.bz2",
    ".tar.xz": "tar.xz",
    ".txz": "tar.xz",
    ".tar": "tar",
    ".zip": "zip",
    ".sh": "sh",  # a self-extracting installer (installer.py)
    ".parcel": "parcel",
    ".no-archive": "dir",  # conda-pack's
    ".squashfs": "squashfs",
    ".sqsh": "squashfs",
    ".sqfs": "squashfs",
}

# (lowest, highest, default). tar.gz 3: zlib-ng level 3 is the fastest level whose output
# stays within 5% of stdlib zlib level 4 (conda-pack); see benchmarks/bench_gzip.py.
_LEVELS: dict[ArchiveFormat, tuple[int, int, int]] = {
    "tar.gz": (0, 9, 3),  # 0: stored, as gzip -0 (conda-pack accepts it)
    "tar.zst": (1, 22, 1),
    "tar.bz2": (1, 9, 9),
    "tar.xz": (0, 9, 3),
    "zip": (0, 9, 4),
    "sh": (1, 9, 3),  # its tar.gz
}


def pack_format(name: str) -> PackFormat | None:
    """The format a user names, by its name or conda-pack's; None for "infer" (from -o)."""
    if name == "infer":
        return None
    if name in ALIASES:
        return ALIASES[name]
    _check_format(name)
    return cast(PackFormat, name)


def archive_format(fmt: PackFormat) -> ArchiveFormat:
    """The archive a format is written as: a parcel is a tar.gz."""
    return "tar.gz" if fmt == "parcel" else fmt


def format_from_path(path: str | os.PathLike[str]) -> PackFormat | None:
    """The format a file name asks for, so users rarely need --format."""
    lower = os.fspath(path).lower()
    for ext, fmt in EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    return None


def _check_format(fmt: str) -> ArchiveFormat:
    if fmt not in PACK_FORMATS:
        raise UsageError(
            f"unknown archive format {fmt!r}; choose one of {', '.join(PACK_FORMATS)}"
            f" (or conda-pack's {', '.join(ALIASES)})"
        )
    return archive_format(fmt)


def default_level(fmt: str) -> int | None:
    """The level used when the user gives none; None for formats that do not compress, and
    for squashfs, whose levels depend on its compressor (squashfs_settings() knows them)."""
    archive = _check_format(fmt)
    return _LEVELS[archive][2] if archive in _LEVELS else None


def validate_level(fmt: str, level: int | None) -> int | None:
    """The level to use, checked here so a bad value fails before any work starts."""
    archive = _check_format(fmt)
    if archive == "squashfs":
        return level  # checked against its compressor by squashfs_settings()
    if archive not in _LEVELS:
        if level is not None:
            raise UsageError(f"the {fmt} format is not compressed; it takes no compression level")
        return None
    low, high, default = _LEVELS[archive]
    if level is None:
        return default
    if not low <= level <= high:
        raise UsageError(f"compression level {level} is out of range for {fmt} ({low}-{high})")
    return level
