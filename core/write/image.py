"""Where a squashfs image's files point: nothing can relocate a read-only image once mounted,
so its prefix is written at pack time, to the mount point the user names or, without one, to
a short fixed path that the image's bin/cpk-run links to wherever the image is mounted."""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass

from .. import __version__
from ..plan import PackPlan

LINK_DIR = "/tmp"  # every user may make a link there, and every machine has it
_PYTHON = re.compile(rb"pythonw?(?:[0-9]+(?:\.[0-9]+)*[a-z]?)?")
_PLAIN = re.compile(rb"[A-Za-z0-9._+/-]+")  # safe unquoted-inside-quotes for sh and Python


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
    digest = hashlib.sha256(f"conda-package {__version__}\n{plan.prefix}\n".encode())
    for entry in plan.entries:
        digest.update(repr(entry[:7]).encode("utf-8", "surrogateescape"))
    image_id = digest.hexdigest()[:12]
    if mount_point:
        return ImageLayout(mount_point, image_id, False)
    return ImageLayout(f"{LINK_DIR}/cpk-{image_id}", image_id, True)


def relative_shebang(data: bytes, prefix: bytes, name: str) -> bytes:
    """A Python script's "#!PREFIX/bin/pythonX" as a launcher that finds the interpreter
    beside the script, so it runs from any mount without the link; otherwise unchanged.

    The /bin/sh exec trick, as conda uses for long prefixes: valid sh and valid Python.
    """
    start = b"#!" + prefix + b"/"
    if not data.startswith(start):
        return data
    eol = data.find(b"\n")
    line, rest = (data, b"") if eol == -1 else (data[:eol], data[eol + 1 :])
    interpreter, *args = line[2:].split()
    target = interpreter[len(prefix) + 1 :]
    if not _PYTHON.fullmatch(posixpath.basename(target)) or not all(
        _PLAIN.fullmatch(word) for word in (target, *args)
    ):
        return data
    relative = posixpath.relpath(target, posixpath.dirname(name.encode()) or b".")
    argv = b"".join(b' "%s"' % word for word in args)
    return (
        b'#!/bin/sh\n\'\'\'exec\' "$(dirname -- "$(readlink -f -- "$0")")/%s"%s "$0" "$@"\n'
        b"' '''\n" % (relative, argv)
    ) + rest
