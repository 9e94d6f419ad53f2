"""The packer: scheduling, workers that read, restore and verify, and the generated files."""

from .image import (
    ImageLayout,
)
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
    "ImageLayout",
    "PackResult",
    "Relocation",
    "pack",
]
