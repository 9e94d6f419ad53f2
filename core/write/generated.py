"""Files the packer adds to every archive: the relocation manifest and the shipped scripts
(and a parcel's meta/ files)."""

from __future__ import annotations

import json

from .. import __version__
from ..archive import ArchiveEntry
from ..load import Environment
from ..paths import fsencode
from ..plan import STATE_DIR, PackPlan, Parcel
from ..unpack import (
    IMAGE_ID_NAME,
    MANIFEST_NAME,
    NEEDS_LINK_NAME,
    PREFIX_STATE_NAME,
    image_scripts,
    shipped_files,
)
from .image import ImageLayout
from .parcel import parcel_files
from .prepare import Relocation


def generated_entries(
    plan: PackPlan,
    relocations: list[Relocation],
    relocate_prefix: str | None,
    env: Environment,
    parcel: Parcel | None = None,
    image: ImageLayout | None = None,
    needs_link: list[str] | None = None,
) -> list[tuple[ArchiveEntry, bytes]]:
    """The manifest and the scripts; a parcel's meta/ files; for an image, its launcher, id
    and the files that need its link, with activation that links instead of relocating."""
    manifest = {
        "version": 1,
        "created_by": f"conda-package {__version__}",
        "source_prefix": env.prefix,
        "subdir": plan.subdir,
        "files": [r.manifest_entry() for r in relocations],
    }
    out: list[tuple[ArchiveEntry, bytes]] = [
        (ArchiveEntry(STATE_DIR, "dir", 0o755), b""),
    ]
    files = {
        f"{STATE_DIR}/{MANIFEST_NAME}": ((json.dumps(manifest, indent=1) + "\n").encode(), 0o644),
        **shipped_files(),
    }
    if relocate_prefix:
        files[f"{STATE_DIR}/{PREFIX_STATE_NAME}"] = (fsencode(f"{relocate_prefix}\n"), 0o644)
    if parcel:
        out.append((ArchiveEntry("meta", "dir", 0o755), b""))
        files.update(parcel_files(parcel, env))
    if image is not None:
        files |= {name: (text.encode(), mode) for name, (text, mode) in image_scripts().items()}
        files[f"{STATE_DIR}/{IMAGE_ID_NAME}"] = (f"{image.image_id}\n".encode(), 0o644)
        if image.mount_anywhere:
            listed = "".join(f"{name}\n" for name in sorted(needs_link or ()))
            files[f"{STATE_DIR}/{NEEDS_LINK_NAME}"] = (fsencode(listed), 0o644)
    for name in sorted(files):
        data, mode = files[name]
        out.append((ArchiveEntry(name, "file", mode, 0, len(data)), data))
    return out
