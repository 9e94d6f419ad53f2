"""Prefix bytes shared by analyse, write and condapkg: restore, search and replace, streamed."""

from .restore import (
    restore_package_bytes,
)
from .scan import (
    NeedleCount,
    PrefixScan,
    ScanResult,
    scan,
)
from .stream import (
    CHUNK_SIZE,
    MAX_STRING,
    FileMode,
    StreamReplace,
    StringTooLongError,
    read_chunks,
    restore_verified,
    restored_spelling,
)

__all__ = [
    "CHUNK_SIZE",
    "MAX_STRING",
    "FileMode",
    "NeedleCount",
    "PrefixScan",
    "ScanResult",
    "StreamReplace",
    "StringTooLongError",
    "read_chunks",
    "restore_package_bytes",
    "restore_verified",
    "restored_spelling",
    "scan",
]
