"""squashfs images for clusters, written by our own writer: no squashfs tool needed on the
machine that packs, and no copy of the environment staged on disk."""

from .settings import COMPRESSORS, SquashfsCompressor, SquashfsSettings, squashfs_settings
from .writer import SquashfsWriter

__all__ = [
    "COMPRESSORS",
    "SquashfsCompressor",
    "SquashfsSettings",
    "SquashfsWriter",
    "squashfs_settings",
]
