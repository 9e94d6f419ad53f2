"""Restore an installed prefix file to the bytes its package shipped, and verify them.

The packer archives these bytes; the analysis uses the same check to tell a file that was
changed after install from one that will relocate cleanly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from ..unpack import RelocationError, replace_binary, replace_text


def restore_package_bytes(
    data: bytes, prefixes: Iterable[bytes], placeholder: bytes, file_mode: str, sha256: str
) -> bytes | None:
    """The package's bytes, or None when no spelling of the prefix gives them back.

    `prefixes`: the prefix as installed and, if different, with symlinks resolved. Without
    a recorded sha256 the restore cannot be checked and is trusted.
    """
    replace = replace_binary if file_mode == "binary" else replace_text
    for prefix in prefixes:
        try:
            restored = replace(data, prefix, placeholder)
        except RelocationError:
            continue
        if not sha256 or hashlib.sha256(restored).hexdigest() == sha256:
            return restored
    return None
