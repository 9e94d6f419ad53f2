"""Prefix bytes shared by analyse, write and condapkg: restore a file to its package bytes."""

from .restore import (
    restore_package_bytes,
)
from .stream import (
    MAX_CARRY,
    Scan,
    StringTooLong,
    Transform,
    measure,
    read_chunks,
    relocator,
    replacer,
    restores,
    run,
    scan,
)

__all__ = [
    "MAX_CARRY",
    "Scan",
    "StringTooLong",
    "Transform",
    "measure",
    "read_chunks",
    "relocator",
    "replacer",
    "restore_package_bytes",
    "restores",
    "run",
    "scan",
]
