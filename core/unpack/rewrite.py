"""Rewriting a file of an environment in place without ever leaving it half-written.

Shipped in every archive as conda-meta/conda-package/rewrite.py for bin/conda-unpack, which
runs it under the environment's Python: stdlib only, Python 3.7.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator

# Signals that would otherwise stop us between writing a file and journalling it.
_DEFERRED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
# Every open of an environment file: never through a symbolic link, never inherited.
_SAFE_OPEN = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def read_file(full: str) -> bytes:
    """The file's bytes; a symbolic link put there since it was checked is refused."""
    with open(os.open(full, os.O_RDONLY | _SAFE_OPEN), "rb") as f:
        return f.read()


def write_atomic(path: str, text: str) -> None:
    """A small state file, whole or not at all."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".conda-unpack-")
    try:
        with open(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def mapped_files() -> set[tuple[int, int]]:
    """Files this process has mapped (its interpreter, libraries): writing them in place could
    crash it, so they are replaced by a new file instead."""
    mapped = set()
    paths = {sys.executable}
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:  # not Linux
        lines = []
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/"):
            paths.add(fields[5])
    for path in paths:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            mapped.add((st.st_dev, st.st_ino))
    return mapped


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and friends while a file and its journal line are written: a rerun would
    replace a file written but not journalled a second time."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {getattr(signal, name) for name in _DEFERRED_SIGNALS if hasattr(signal, name)}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _keep_times(full: str, st: os.stat_result) -> None:
    """Keep mtime: Python checks .pyc files against their sources' mtimes."""
    os.utime(full, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def replace_file(full: str, data: bytes, st: os.stat_result) -> None:
    """Write a new file and rename it over `full`: for executables that are running."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(full), prefix=".conda-unpack-")
    try:
        with open(fd, "wb") as f:
            f.write(data)
        with contextlib.suppress(OSError):  # only root can give files away
            os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        _keep_times(tmp, st)
        os.replace(tmp, full)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(directory: str, wanted: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on `directory` while the block runs.

    The directory itself is locked, so that no lock file is left behind and a read-only
    environment locks too. Without fcntl (not POSIX) the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:
        fcntl = None  # type: ignore[assignment]
    fd = -1
    if wanted and fcntl is not None:
        with contextlib.suppress(OSError):
            fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _SAFE_OPEN)
    try:
        if fd >= 0:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        if fd >= 0:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.ftruncate(fd, len(data))


def write_file(full: str, data: bytes, st: os.stat_result, in_place: bool, original: bytes) -> None:
    """Write in place so hard links stay hard links, keeping mode and times.

    A write that fails half-way (a full disk or quota) would leave new bytes over old ones,
    which no rerun could repair: the `original` bytes are put back before the error goes on.
    """
    if not in_place:
        replace_file(full, data, st)
        return
    mode = stat.S_IMODE(st.st_mode)
    read_only = not mode & stat.S_IWUSR
    if read_only:
        os.chmod(full, mode | stat.S_IWUSR)
    try:
        try:
            fd = os.open(full, os.O_WRONLY | _SAFE_OPEN)
        except OSError as e:
            if e.errno != errno.ETXTBSY:
                raise
            replace_file(full, data, st)
            return
        try:
            _write_all(fd, data)
        except BaseException as e:
            os.lseek(fd, 0, os.SEEK_SET)
            _write_all(fd, original)  # fits: these bytes were there a moment ago
            with contextlib.suppress(OSError):
                _keep_times(full, st)
            if isinstance(e, OSError) and e.filename is None:
                e.filename = full  # so the one-line error names the file
            raise
        finally:
            os.close(fd)
        _keep_times(full, st)
    finally:
        if read_only:
            os.chmod(full, mode)


def drop_bytecode(full: str) -> None:
    """Remove the byte-code of a source about to be rewritten: it checks only the source's
    size and mtime (kept), so after a move to a prefix of the same length it would still
    load, with the old prefix in its constants."""
    folder, name = os.path.split(full)
    if not name.endswith(".py"):
        return
    cache = os.path.join(folder, "__pycache__")
    stem = name[:-3] + "."
    try:
        names = os.listdir(cache)
    except OSError:  # no byte-code here
        return
    for item in names:
        if item.startswith(stem) and item.endswith(".pyc"):
            os.unlink(os.path.join(cache, item))


def codesign(full: str) -> None:
    """Apple silicon kills binaries whose signature no longer matches; conda re-signs too."""
    import subprocess  # macOS only: not worth its import time elsewhere

    subprocess.run(
        ["/usr/bin/codesign", "-s", "-", "-f", full],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
