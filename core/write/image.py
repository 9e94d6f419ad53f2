"""Where a squashfs image's files point: nothing can relocate a read-only image once mounted,
so its prefix is written at pack time, to the mount point the user names or, without one, to
a short fixed path that the image's bin/cpk-run links to wherever the image is mounted."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .. import __version__
from ..paths import fsencode
from ..plan import PackPlan

LINK_DIR = "/tmp"  # every user may make a link there, and every machine has it


@dataclass(frozen=True)
class ImageLayout:
    """How an image is relocated: `prefix` is written into its files at pack time."""

    prefix: str
    image_id: str  # the same for the same environment packed again: links can be shared
    mount_anywhere: bool  # prefix is a fixed path bin/cpk-run links to the mount point


def image_layout(plan: PackPlan, mount_point: str | None) -> ImageLayout:
    """The layout for a mount point, or the mount-anywhere one when none is given.

    The id hashes what the image will hold (every entry's name, kind, mode, time, size,
    link target, and the packer's version), so two images under one fixed path are the
    same bytes, and a link made by one mount serves any other mount of the same image.
    """
    digest = hashlib.sha256(fsencode(f"conda-package {__version__}\n{plan.prefix}\n"))
    for entry in plan.entries:
        digest.update(fsencode(repr(entry[:7])))
    image_id = digest.hexdigest()[:12]
    if mount_point:
        return ImageLayout(mount_point, image_id, False)
    return ImageLayout(f"{LINK_DIR}/cpk-{image_id}", image_id, True)
