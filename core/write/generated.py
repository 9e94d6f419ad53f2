"""Files the packer adds to every archive: the relocation manifest and the shipped scripts."""

from __future__ import annotations

import json
import re

from .. import __version__
from ..archive import ArchiveEntry
from ..load import Environment
from ..paths import fsencode
from ..plan import STATE_DIR, PackPlan
from ..unpack import MANIFEST_NAME, PREFIX_STATE_NAME, shipped_files
from .prepare import Relocation

# Where the self-relocation hook goes: Python 3's site-packages (the hook needs 3.7+).
_SITE_PACKAGES = re.compile(r"lib/python3\.[0-9]+t?/site-packages")


def _site_packages(env: Environment) -> str | None:
    return next((d for d in sorted(env.dirs) if _SITE_PACKAGES.fullmatch(d)), None)


def generated_entries(
    plan: PackPlan, relocations: list[Relocation], relocate_prefix: str | None, env: Environment
) -> list[tuple[ArchiveEntry, bytes]]:
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
        **shipped_files(_site_packages(env)),
    }
    if relocate_prefix:
        files[f"{STATE_DIR}/{PREFIX_STATE_NAME}"] = (fsencode(f"{relocate_prefix}\n"), 0o644)
    for name in sorted(files):
        data, mode = files[name]
        out.append((ArchiveEntry(name, "file", mode, 0, len(data)), data))
    return out
