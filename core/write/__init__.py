"""The packer: scheduling, workers that read, restore and verify, and the generated files."""

from .packer import (
    PackResult,
    pack,
)
from .prepare import (
    FileMode,
    Relocation,
)

__all__ = [
    "FileMode",
    "PackResult",
    "Relocation",
    "pack",
]
