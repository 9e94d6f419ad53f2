"""Where ld.so finds a file's libraries: $ORIGIN, the system's directories, DT_NEEDED.

What the environment as shipped resolves to, on this machine, for the relocation rules.
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
from collections.abc import Sequence
from functools import lru_cache

from .elf import ElfInfo

# Where glibc's ld.so looks last (its trusted directories), for both multiarch layouts.
DEFAULT_LIB_DIRS = (
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
)


# ld.so only expands a dynamic string token when no identifier character follows it.
_DST = re.compile(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))")


def expand_origin(entry: str, file_dir: str) -> str:
    """Lexical expansion: $ORIGIN is the file's directory as given, symlinks not resolved.

    $LIB becomes "lib" (conda's layout, not the multiarch one ld.so would pick) and
    $PLATFORM stays, since it depends on the CPU that runs the program.
    """
    origin = posixpath.abspath(file_dir)

    def token(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return {"ORIGIN": origin, "LIB": "lib"}.get(name, match.group(0))

    return posixpath.normpath(_DST.sub(token, entry))


def _conf_dirs(path: str, seen: set[str]) -> list[str]:
    if path in seen:
        return []
    seen.add(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    dirs: list[str] = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line.startswith("include") and line[7:8].isspace():
            for pattern in line[8:].split():
                pattern = posixpath.join(posixpath.dirname(path), pattern)
                for conf in sorted(glob.glob(pattern)):
                    dirs.extend(_conf_dirs(conf, seen))
        elif line.startswith("/"):
            dirs.append(posixpath.normpath(line))
    return dirs


@lru_cache(maxsize=1)
def system_lib_dirs() -> tuple[str, ...]:
    """ld.so.conf directories (what ld.so.cache holds), then the built-in defaults.

    Cached: the analysis resolves every file of an environment against them.
    """
    seen: set[str] = set()
    dirs = _conf_dirs("/etc/ld.so.conf", seen)
    for conf in sorted(glob.glob("/etc/ld.so.conf.d/*.conf")):
        dirs.extend(_conf_dirs(conf, seen))
    return tuple(dict.fromkeys([*dirs, *DEFAULT_LIB_DIRS]))


def resolve_needed(
    info: ElfInfo, file_path: str, search_extra: Sequence[str] = ()
) -> dict[str, str | None]:
    """Where ld.so would find each DT_NEEDED of the environment as shipped.

    Order: DT_RPATH (ignored when DT_RUNPATH exists), DT_RUNPATH, `search_extra`, then the
    system directories. LD_LIBRARY_PATH is ignored on purpose: it belongs to the user's
    shell, not to the environment. Relative search entries (including the empty entry,
    which ld.so takes as the current directory) and relative NEEDED paths depend on the
    cwd of whoever runs the program, so they never count as found. Simplifications: in
    real ld.so the DT_RPATH of the loading executable (and of each loader up the chain)
    also applies to this file's dependencies when this file has no DT_RUNPATH; and a
    candidate of the wrong class or machine would be skipped, while here the first
    existing path wins.
    """
    file_dir = posixpath.dirname(posixpath.abspath(file_path))
    entries = [*(() if info.runpath else info.rpath), *info.runpath]
    dirs = [expand_origin(entry, file_dir) for entry in entries]
    search = [
        d for d in dict.fromkeys([*dirs, *search_extra, *system_lib_dirs()]) if posixpath.isabs(d)
    ]
    found: dict[str, str | None] = {}
    for name in info.needed:
        if "/" in name:
            found[name] = name if posixpath.isabs(name) and os.path.exists(name) else None
            continue
        found[name] = next(
            (path for d in search if os.path.exists(path := posixpath.join(d, name))), None
        )
    return found
