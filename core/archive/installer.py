"""The self-extracting installer (`--format sh`): a short POSIX sh script (installer.sh)
followed by the environment as tar.gz, streamed straight after it by the gzip tar writer.

gzip, not zstd: every host's tar reads gzip, while many (older GNU tar, busybox) lack zstd.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .. import __version__
from .codecs import CODECS
from .pipeline import BlockStream
from .tar import TarWriter

_TEMPLATE = Path(__file__).with_name("installer.sh")
# `uname -m` of the machines an environment's subdir runs on; others are not checked.
_MACHINES = {"linux-64": "x86_64", "linux-aarch64": "aarch64", "linux-ppc64le": "ppc64le"}
_BLOCK = 4096  # what an extracted entry may take on disk beyond its bytes, at most


@dataclass(frozen=True)
class InstallerInfo:
    """What the installer script says and checks before it extracts anything."""

    name: str  # the environment's name, shown in its messages
    subdir: str = ""  # e.g. linux-64: the script refuses another machine
    size: int = 0  # bytes of the files it holds
    entries: int = 0  # how many files, folders and links
    room: int = 0  # the longest target prefix its binary files take, 0 if unlimited


def installer_header(info: InstallerInfo) -> bytes:
    """The script, with the byte offset of the tar.gz that follows it written in."""
    plain = re.sub(r"[^A-Za-z0-9._+-]", "_", info.name) or "env"
    needs = -(-(info.size + _BLOCK * info.entries) // 1024)  # KiB, rounded up
    text = _TEMPLATE.read_text(encoding="utf-8")
    for key, value in (
        ("NAME", plain),
        ("CREATOR", f"conda-package {__version__}"),
        ("SUBDIR", info.subdir or "unknown platform"),
        ("SIZE_KIB", str(needs)),
        ("ARCH", _MACHINES.get(info.subdir, "")),
        ("ROOM", str(info.room)),
    ):
        text = text.replace(f"@{key}@", value)
    offset = 0
    while True:  # the offset counts its own digits
        header = text.replace("@OFFSET@", str(offset)).encode()
        if offset == len(header) + 1:
            return header
        offset = len(header) + 1


class InstallerWriter(TarWriter):
    """The tar.gz writer after the script; the result is executable where it is readable."""

    def _finish(self) -> None:
        super()._finish()
        mode = stat.S_IMODE(os.stat(self._temp).st_mode)  # 0o666 minus the umask
        os.chmod(self._temp, mode | (mode & 0o444) >> 2)


def installer_writer(
    path: str, temp: str, raw: BinaryIO, level: int, threads: int, info: InstallerInfo
) -> InstallerWriter:
    raw.write(installer_header(info))
    return InstallerWriter(path, temp, raw, BlockStream(raw, CODECS["tar.gz"](level), threads))
