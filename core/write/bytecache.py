"""Compiled byte-code kept between packs, so that packing an environment again (an image
after a small change, one environment for several mount points) compiles only the groups
of sources that changed: compiling is most of an image's build (1.5 of 2.8 CPU seconds on
the real environment, which ships no byte-code).

A group compiles to the same bytes while the interpreter, the prefix, the group's sources
and the byte-code already beside them are the same, so the key hashes all of these: each
file's lstat fields (size, mtime to the nanosecond, inode, device: more than Python's own
check of size and mtime) and the compiler's text. The cache is only ever an addition:
a group that cannot be stored or read from it is compiled as if it were not there, and a
full or read-only home never fails a pack. It lives under ${XDG_CACHE_HOME:-~/.cache}, in
the same folder as the analysis cache, and keeps the most recently used groups up to
LIMIT bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping

from ..load import FileStat
from ..paths import fsencode, user_cache_dir

LIMIT = 512 << 20  # bytes kept; the real environment's byte-code is 16 MiB
_RECENT = 600  # seconds: a group used this recently is never removed (a pack may read it)


def group_key(
    compiler: str,
    python: str,
    prefix: str,
    sources: Iterable[str],
    files: Mapping[str, FileStat],
    beside: Iterable[str],
) -> str | None:
    """The key of a group of `sources` (names in `files`) compiled by `python` in `prefix`,
    with the byte-code files `beside` them as they are; None if the interpreter is gone."""
    try:
        st = os.stat(python)
    except OSError:
        return None
    digest = hashlib.sha256()
    digest.update(compiler.encode())
    for part in (os.path.realpath(python), prefix):
        digest.update(b"\0" + fsencode(part))
    digest.update(f"\0{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_dev}".encode())
    for name in (*sources, "", *beside):  # "": where the sources end
        digest.update(b"\0" + fsencode(name))
        if name:
            f = files[name]
            digest.update(f":{f.st_size}:{f.st_mtime_ns}:{f.st_ino}:{f.st_dev}".encode())
    return digest.hexdigest()


class BytecodeCache:
    """Groups of compiled byte-code by key: `KEY` is the compiler's output file, `KEY.index`
    what it printed (the names and sizes in it), stored last so that it marks a whole entry."""

    def __init__(self, root: str) -> None:
        self.root = root

    @classmethod
    def default(cls) -> BytecodeCache:
        return cls(os.path.join(user_cache_dir(), "bytecode"))

    def get(self, key: str) -> tuple[str, bytes] | None:
        """The group's file and index, marked as used now; None when not cached."""
        pack = os.path.join(self.root, key)
        try:
            with open(pack + ".index", "rb") as fh:
                index = fh.read()
            os.utime(pack)
            os.utime(pack + ".index")
        except OSError:
            return None
        return pack, index

    def put(self, key: str, pack: str, index: bytes) -> None:
        """Keep a copy of a compiled group (best effort: nothing is raised)."""
        final = os.path.join(self.root, key)
        temp = os.path.join(self.root, f".{key}.{os.getpid()}.{threading.get_ident()}")
        try:
            os.makedirs(self.root, exist_ok=True)
            shutil.copyfile(pack, temp)
            os.replace(temp, final)
            with open(temp, "wb") as fh:
                fh.write(index)
            os.replace(temp, final + ".index")
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)

    def prune(self, limit: int = LIMIT) -> None:
        """Remove the least recently used groups beyond `limit` bytes, and what an
        interrupted put() left, except what was used in the last few minutes."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return
        now = time.time()
        groups: list[tuple[float, int, str]] = []
        for name in names:
            path = os.path.join(self.root, name)
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if name.startswith(".") and now - st.st_mtime > _RECENT:
                    os.unlink(path)
                elif not name.startswith(".") and not name.endswith(".index"):
                    groups.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in groups)
        for used, size, path in sorted(groups):
            if total <= limit or now - used < _RECENT:
                break
            with contextlib.suppress(OSError):
                os.unlink(path + ".index")  # first: the entry is gone before its file
                os.unlink(path)
            total -= size
