"""The output formats, the file names that ask for them, and their compression levels."""

from __future__ import annotations

import os

from ..errors import UsageError

FORMATS: tuple[str, ...] = (
    "tar.gz",
    "tar.zst",
    "tar.bz2",
    "tar.xz",
    "tar",
    "zip",
    "dir",
    "squashfs",
)

EXTENSIONS: dict[str, str] = {
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
    ".squashfs": "squashfs",
    ".sqsh": "squashfs",
    ".sqfs": "squashfs",
}

# (lowest, highest, default). tar.gz 3: zlib-ng level 3 is the fastest level whose output
# stays within 5% of stdlib zlib level 4 (conda-pack); see benchmarks/bench_gzip.py.
_LEVELS: dict[str, tuple[int, int, int]] = {
    "tar.gz": (1, 9, 3),
    "tar.zst": (1, 22, 1),
    "tar.bz2": (1, 9, 9),
    "tar.xz": (0, 9, 3),
    "zip": (0, 9, 4),
}


def format_from_path(path: str | os.PathLike[str]) -> str | None:
    """The format a file name asks for, so users rarely need --format."""
    lower = os.fspath(path).lower()
    for ext, fmt in EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    return None


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown archive format {fmt!r}; choose one of {', '.join(FORMATS)}")


def default_level(fmt: str) -> int | None:
    """The level used when the user gives none; None for formats that do not compress, and
    for squashfs, whose levels depend on its compressor (squashfs_settings() knows them)."""
    _check_format(fmt)
    return _LEVELS[fmt][2] if fmt in _LEVELS else None


def validate_level(fmt: str, level: int | None) -> int | None:
    """The level to use, checked here so a bad value fails before any work starts."""
    _check_format(fmt)
    if fmt == "squashfs":
        return level  # checked against its compressor by squashfs_settings()
    if fmt not in _LEVELS:
        if level is not None:
            raise UsageError(f"the {fmt} format is not compressed; it takes no compression level")
        return None
    low, high, default = _LEVELS[fmt]
    if level is None:
        return default
    if not low <= level <= high:
        raise UsageError(f"compression level {level} is out of range for {fmt} ({low}-{high})")
    return level
