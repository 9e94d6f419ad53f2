"""Prefix bytes shared by analyse, write and condapkg: restore a file to its package bytes."""

from .restore import (
    restore_package_bytes,
)

__all__ = [
    "restore_package_bytes",
]
