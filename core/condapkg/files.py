"""Which untracked files go into the package, and what info/paths.json says of each: links
kept relative, the prefix found in one streamed read of each file."""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import threading
from dataclasses import dataclass
from typing import Literal

from ..archive import CHUNK, ArchiveEntry, ArchiveWriter
from ..load import Environment, FileStat, open_env_file, pyc_source
from ..paths import fsencode, inside
from ..progress import ProgressCallback, check_cancel
from .metadata import PackagedFile
from .scan import Scanned, ScanningReader, Sizer, scan

EMPTY_SHA256 = hashlib.sha256().hexdigest()


@dataclass(frozen=True)
class LeftOut:
    """An untracked path that is not in the package, and why."""

    path: str
    reason: str


def _unrecordable(path: str) -> str | None:
    """Why conda's metadata (line-based info/files, JSON) cannot name this path, if so."""
    if "\n" in path or "\r" in path:
        return "its name holds a line break, which info/files cannot record"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8, which conda's metadata cannot record"
    return None


def select(env: Environment) -> tuple[list[str], list[LeftOut]]:
    """Which untracked paths go in, from names and lstat alone (no contents read)."""
    kept: list[str] = []
    left_out: list[LeftOut] = []
    for path in env.untracked:
        reason = _unrecordable(path)
        if reason is None:
            kept.append(path)
        else:
            left_out.append(LeftOut(path, reason))
    left_out += [
        LeftOut(path, "not a regular file or symbolic link (a socket, pipe or device)")
        for path in env.special
        if path not in env.owners
    ]
    # Byte-code records its source's absolute path: conda's binary prefix replacement would
    # corrupt it, and Python rebuilds it from the source anyway.
    names = set(kept)
    byte_code = {p for p in kept if pyc_source(p) in names}
    left_out += [
        LeftOut(p, "byte-code of a packaged source; Python rebuilds it") for p in sorted(byte_code)
    ]
    left_out.sort(key=lambda x: x.path)
    return [p for p in kept if p not in byte_code], left_out


def regular(env: Environment, paths: list[str]) -> list[str]:
    return [p for p in paths if stat.S_ISREG(env.files[p].st_mode)]


def _symlink(env: Environment, path: str, st: FileStat, warnings: list[str]) -> PackagedFile:
    """A symlink as conda-build records it: its target's hash and size, links kept relative."""
    full = os.path.join(env.prefix, path)
    target = os.readlink(full)
    if os.path.isabs(target):
        norm = os.path.normpath(target)
        root = next((r for r in (env.prefix, env.real_prefix) if inside(norm, r)), None)
        if root is None:
            warnings.append(
                f"{path}: links to {target}, outside the environment; it dangles wherever"
                " that does not exist"
            )
        else:
            relative = os.path.relpath(norm, os.path.dirname(os.path.join(root, path)))
            warnings.append(
                f"{path}: absolute link into the environment ({target}) packed as the"
                f" relative link {relative}, so that it moves with the package"
            )
            target = relative
    elif posixpath.normpath(posixpath.join(posixpath.dirname(path), target)).startswith("../"):
        warnings.append(
            f"{path}: links to {target}, which leads out of the environment; it dangles"
            " wherever that does not exist"
        )
    sha256, size = EMPTY_SHA256, 0
    if os.path.isfile(full):
        scanned = scan(full)
        sha256, size = scanned.sha256, scanned.size
    elif not os.path.exists(full):
        warnings.append(f"{path}: dangling symbolic link to {target}; packed as it is")
    return PackagedFile(path, "symlink", size, sha256, 0o777, int(st.st_mtime), target=target)


def _packaged_file(
    env: Environment, path: str, scanned: Scanned, warnings: list[str]
) -> PackagedFile:
    """paths.json's view of a scanned file: whether and how it holds the prefix."""
    st = env.files[path]
    prefix = env.prefix
    placeholder: str | None = None
    file_mode: Literal["text", "binary"] | None = None
    room: int | None = None
    if scanned.holds_prefix and path.endswith(".pyc"):
        warnings.append(
            f"{path}: byte-code without its source names the prefix; packed as it is"
            " (Python shows that path only in tracebacks)"
        )
    elif scanned.holds_prefix:
        placeholder = prefix
        file_mode = "binary" if scanned.binary else "text"
        if scanned.binary:
            room = scanned.room
            warnings.append(
                f"{path}: binary file holding the prefix; installers replace it in place, so it"
                f" cannot move to a prefix longer than {prefix} ({len(fsencode(prefix))} bytes)"
            )
    return PackagedFile(
        path,
        "file",
        scanned.size,
        scanned.sha256,
        stat.S_IMODE(st.st_mode),
        int(st.st_mtime),
        prefix_placeholder=placeholder,
        file_mode=file_mode,
        room=room,
    )


def _editable_warnings(env: Environment, files: list[PackagedFile]) -> list[str]:
    packed = {f.path for f in files}
    return [
        f"{dist.name} {dist.version} is an editable pip install: the package holds"
        f" only a link to its source at {dist.editable_location}"
        for dist in env.editable_distributions
        if any(inside(p, dist.dist_info) for p in packed)
    ]


def add_and_scan(
    writer: ArchiveWriter | None, env: Environment, paths: list[str], sizer: Sizer
) -> tuple[list[PackagedFile], list[str]]:
    """Learn what paths.json says of each file, in one read that also writes the file when
    there is a writer (.conda: its info/ is a tarball of its own, written after the files)."""
    warnings: list[str] = []
    files: list[PackagedFile] = []
    prefix = fsencode(env.prefix)
    for path in paths:
        st = env.files[path]
        if stat.S_ISLNK(st.st_mode):
            check_cancel(sizer.cancel)
            link = _symlink(env, path, st, warnings)
            if writer is not None:
                entry = ArchiveEntry(path, "symlink", link.mode, link.mtime, target=link.target)
                writer.add(entry)
            files.append(link)
            continue
        sizer.file(path)
        with open_env_file(os.path.join(env.prefix, path), "packaging") as fh:
            reader = ScanningReader(fh, path, sizer, prefix)
            if writer is None:
                while reader.read(CHUNK):
                    pass
            else:
                entry = ArchiveEntry(
                    path, "file", stat.S_IMODE(st.st_mode), int(st.st_mtime), st.st_size
                )
                writer.add(entry, reader)
        files.append(_packaged_file(env, path, reader.scanner.result(), warnings))
    return files, warnings + _editable_warnings(env, files)


def read_files(
    env: Environment,
    paths: list[str],
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> tuple[list[PackagedFile], list[str]]:
    """Hash every file and find the ones holding the prefix, as conda-build does (for a
    dry run, and for .tar.bz2, whose info/ goes first and so must be known first)."""
    files = regular(env, paths)
    sizer = Sizer("scan", len(files), sum(env.files[p].st_size for p in files), progress, cancel)
    found = add_and_scan(None, env, paths, sizer)
    sizer.done()
    return found
