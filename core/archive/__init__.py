"""Output formats: one module per format, the codecs, and the ordered compression pipeline."""

from .writers import (
    CHUNK,
    FORMATS,
    ArchiveEntry,
    ArchiveWriter,
    CompressedRun,
    TarMembers,
    default_level,
    format_from_path,
    install_output,
    open_writer,
    validate_level,
)

__all__ = [
    "CHUNK",
    "FORMATS",
    "ArchiveEntry",
    "ArchiveWriter",
    "CompressedRun",
    "TarMembers",
    "default_level",
    "format_from_path",
    "install_output",
    "open_writer",
    "validate_level",
]
