"""Files the packer adds to every archive: the relocation manifest and the shipped scripts
(and a parcel's meta/ files)."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import replace

from .. import __version__
from ..archive import ArchiveEntry
from ..load import Environment
from ..paths import fsencode
from ..plan import STATE_DIR, ArchiveLabel, PackPlan, Parcel
from ..unpack import (
    IMAGE_ID_NAME,
    LABEL_NAME,
    MANIFEST_NAME,
    NEEDS_LINK_NAME,
    PREFIX_STATE_NAME,
    image_scripts,
    shipped_files,
)
from .image import ImageLayout
from .parcel import parcel_files
from .prepare import Preparer, Relocation


def displaced_entries(
    plan: PackPlan, prep: Preparer, relocations: list[Relocation]
) -> list[tuple[ArchiveEntry, bytes]]:
    """The package files whose place a shipped script takes (a conda package's bin/activate),
    restored and verified like every package file, under their other name; their relocations
    join `relocations` so that conda-unpack moves them with the rest."""
    theirs = {c.path: c.theirs for c in plan.clashes}
    out: list[tuple[ArchiveEntry, bytes]] = []
    for entry in plan.displaced:
        name = theirs[entry.name]
        if entry.kind == "symlink":
            out.append((ArchiveEntry(name, "symlink", 0o777, entry.mtime, 0, entry.target), b""))
            continue
        prepared = prep(entry)
        if prepared.relocation is not None:
            relocations.append(replace(prepared.relocation, path=name))
        data = prepared.content
        out.append((ArchiveEntry(name, "file", entry.mode, entry.mtime, len(data)), data))
    return out


# Where the self-relocation hook goes: Python 3's site-packages (the hook needs 3.7+).
_SITE_PACKAGES = re.compile(r"lib/python3\.[0-9]+t?/site-packages")


def _site_packages(env: Environment) -> str | None:
    return next((d for d in sorted(env.dirs) if _SITE_PACKAGES.fullmatch(d)), None)


def generated_entries(
    plan: PackPlan,
    relocations: list[Relocation],
    relocate_prefix: str | None,
    env: Environment,
    prep: Preparer,
    parcel: Parcel | None = None,
    image: ImageLayout | None = None,
    needs_link: list[str] | None = None,
    label: ArchiveLabel | None = None,
) -> list[tuple[ArchiveEntry, bytes]]:
    """The manifest and the scripts (conda's own, where ours take their place); a parcel's
    meta/ files; for an image, its launcher, id and the files that need its link, with
    activation that links instead of relocating."""
    displaced = displaced_entries(plan, prep, relocations)  # before the manifest lists them
    # No self-relocation hook in an image: read-only, it is made for where it is mounted.
    hook_into = None if image is not None else _site_packages(env)
    manifest = {
        "version": 1,
        "created_by": f"conda-package {__version__}",
        "source_prefix": env.prefix,
        "subdir": plan.subdir,
        "package": (label or ArchiveLabel(env.name)).as_dict(),  # what the archive is called
        "files": [r.manifest_entry() for r in relocations],
    }
    out: list[tuple[ArchiveEntry, bytes]] = [
        (ArchiveEntry(STATE_DIR, "dir", 0o755), b""),
    ]
    parents: set[str] = set()
    for entry, _ in displaced:
        parent = posixpath.dirname(entry.name)
        while parent != STATE_DIR:
            parents.add(parent)
            parent = posixpath.dirname(parent)
    out += [(ArchiveEntry(parent, "dir", 0o755), b"") for parent in sorted(parents)]
    out += displaced
    ours = {c.path: c.ours for c in plan.clashes}
    files = {
        f"{STATE_DIR}/{MANIFEST_NAME}": ((json.dumps(manifest, indent=1) + "\n").encode(), 0o644),
        **{ours.get(name, name): data for name, data in shipped_files(hook_into).items()},
    }
    files[f"{STATE_DIR}/{LABEL_NAME}"] = (
        fsencode(f"{(label or ArchiveLabel(env.name)).stem}\n"),
        0o644,
    )
    # Always shipped, empty when every file still holds its own placeholder: extracting the
    # archive again over a copy that was relocated resets this record with the files.
    state = fsencode(f"{relocate_prefix}\n") if relocate_prefix else b""
    files[f"{STATE_DIR}/{PREFIX_STATE_NAME}"] = (state, 0o644)
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
