"""Every file the packer ships from this room into an archive, with its mode."""

from __future__ import annotations

from .activate import activate_scripts
from .conda_unpack import unpack_script_source


def shipped_files() -> dict[str, tuple[bytes, int]]:
    """Archive path -> (bytes, permission bits) of the scripts that relocate and activate."""
    files = {"bin/conda-unpack": (unpack_script_source().encode(), 0o755)}
    for name, text in activate_scripts().items():
        files[name] = (text.encode(), 0o644)
    return files
