"""What ships inside the archive: conda-unpack, activate, and self-relocation."""

from .activate import (
    activate_scripts,
)
from .conda_unpack import (
    LABEL_NAME,
    MANIFEST_NAME,
    PREFIX_STATE_NAME,
)
from .image import (
    IMAGE_ID_NAME,
    NEEDS_LINK_NAME,
    image_scripts,
)
from .relocate import (
    UNLIMITED_ROOM,
    PrefixTooLongError,
    RelocationError,
    binary_room,
    fix_shebang,
    relocate_bytes,
    replace_binary,
    replace_text,
)
from .shipped import (
    entry_scripts,
    shipped_files,
    unpack_script_source,
)

__all__ = [
    "IMAGE_ID_NAME",
    "LABEL_NAME",
    "MANIFEST_NAME",
    "NEEDS_LINK_NAME",
    "PREFIX_STATE_NAME",
    "UNLIMITED_ROOM",
    "PrefixTooLongError",
    "RelocationError",
    "activate_scripts",
    "binary_room",
    "entry_scripts",
    "fix_shebang",
    "image_scripts",
    "relocate_bytes",
    "replace_binary",
    "replace_text",
    "shipped_files",
    "unpack_script_source",
]
