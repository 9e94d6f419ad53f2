"""The packer: scheduling, workers that read, restore and verify, and the generated files."""

from .bytecode import (
    CompiledBytecode,
    CompiledFile,
    compile_bytecode,
    with_bytecode,
)
from .image import (
    ImageLayout,
)
from .modulefile import (
    ModuleSyntax,
    modulefile_syntax,
    modulefile_text,
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
    "CompiledBytecode",
    "CompiledFile",
    "FileMode",
    "ImageLayout",
    "ModuleSyntax",
    "PackResult",
    "Relocation",
    "compile_bytecode",
    "modulefile_syntax",
    "modulefile_text",
    "pack",
    "with_bytecode",
]
