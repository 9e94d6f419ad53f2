"""The packer: scheduling, workers that read, restore and verify, and the generated files."""

from .pack import (
    PackOptions,
    PackResult,
    pack,
    resolve_output,
)

__all__ = [
    "PackOptions",
    "PackResult",
    "pack",
    "resolve_output",
]
