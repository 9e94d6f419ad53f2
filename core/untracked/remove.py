"""Remove the files no package owns, safely: backup first, never through a symlink."""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass

from ..archive import ArchiveEntry, format_from_path, open_writer
from ..errors import CondaPackageError, UsageError
from ..load import Environment
from ..paths import inside
from ..plan import check_output


@dataclass(frozen=True)
class RemovalResult:
    removed_files: tuple[str, ...]
    removed_dirs: tuple[str, ...]
    backup: str | None


def default_backup_path(env: Environment, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return os.path.abspath(f"{env.name}-untracked-{stamp}.tar.gz")


def _inside(prefix: str, abspath: str) -> bool:
    """Whether abspath's directory really is in the prefix (symlinked parents resolved)."""
    return inside(os.path.realpath(os.path.dirname(abspath)), os.path.realpath(prefix))


def write_backup(env: Environment, paths: tuple[str, ...], backup: str) -> None:
    """Archive the files about to be removed (symlinks as symlinks), atomically."""
    fmt = format_from_path(backup)
    if fmt is None or fmt == "dir" or fmt == "parcel":
        raise UsageError(f"{backup}: unknown backup format; use .tar.gz, .tar.zst, .zip, ...")
    check_output(env, os.path.abspath(backup), what="backup")
    dirs = sorted({d for p in paths for d in _parents(p)})
    with open_writer(backup, fmt) as writer:
        for d in dirs:
            writer.add(ArchiveEntry(d, "dir", 0o755))
        for path in paths:
            st = env.files[path]
            abspath = os.path.join(env.prefix, path)
            mtime = int(st.st_mtime)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(abspath)
                writer.add(ArchiveEntry(path, "symlink", 0o777, mtime, target=target))
                continue
            with open(abspath, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                writer.add(ArchiveEntry(path, "file", stat.S_IMODE(st.st_mode), mtime, size), fh)
        writer.commit()


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def remove_untracked(env: Environment, backup: str | None) -> RemovalResult:
    """Back up then delete env.untracked, then the directories that removal left empty."""
    paths = env.untracked
    if backup is not None and paths:
        try:
            write_backup(env, paths, backup)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise
            raise CondaPackageError(
                f"{backup}: {exc.strerror} while writing the backup (the disk or your quota is"
                " full, or a file size limit applies); nothing was removed: free some space or"
                " choose another --backup"
            ) from exc
    removed: list[str] = []
    for path in paths:
        abspath = os.path.join(env.prefix, path)
        if not _inside(env.prefix, abspath):
            continue  # a parent became a symlink out of the prefix since the walk
        try:
            st = os.lstat(abspath)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        try:
            os.unlink(abspath)  # unlink never follows a symlink
        except OSError as exc:
            raise CondaPackageError(f"{abspath}: cannot remove ({exc.strerror})") from exc
        removed.append(path)
    removed_dirs: list[str] = []
    for d in sorted({p for f in removed for p in _parents(f)}, key=len, reverse=True):
        if d in env.owners or d.startswith("conda-meta"):
            continue
        try:
            os.rmdir(os.path.join(env.prefix, d))
            removed_dirs.append(d)
        except OSError:
            pass
    return RemovalResult(tuple(removed), tuple(removed_dirs), backup if removed else None)
