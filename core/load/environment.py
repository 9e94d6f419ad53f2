"""The environment model: packages, every file and its owner, untracked/missing/modified."""

from __future__ import annotations

import os
import posixpath
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import BinaryIO

from ..errors import CondaPackageError, EnvironmentNotFound, NotAnEnvironment
from ..paths import fsencode
from ..threads import IOPool
from .pip import PipDistribution, read_distribution
from .records import PackageRecord, read_records
from .walk import DirectoryCallback, FileStat, walk_prefix

# Presence of this file labels a prefix as the demo (and lets --demo-env replace it).
DEMO_MARKER = "conda-meta/conda-package-demo.txt"
_PYC = re.compile(r"^(?P<dir>(?:.*/)?)__pycache__/(?P<stem>[^/.]+)\.[^/]+\.pyc$")
_PYTHON_LIB = re.compile(r"^lib/python(\d+\.\d+)t?/")


@dataclass(frozen=True)
class MissingFile:
    path: str
    package: PackageRecord


@dataclass
class Environment:
    """A loaded conda prefix. Build it with `Environment.load(prefix)`."""

    prefix: str
    records: tuple[PackageRecord, ...]
    files: dict[str, FileStat]
    dirs: dict[str, FileStat]
    owners: dict[str, PackageRecord] = field(repr=False)
    untracked: tuple[str, ...] = ()
    missing: tuple[MissingFile, ...] = ()
    modified: tuple[str, ...] = ()
    pip_owners: dict[str, PipDistribution] = field(default_factory=dict, repr=False)
    pip_distributions: tuple[PipDistribution, ...] = ()
    # Sockets, pipes and devices: in `files`, but never read, packed, backed up or removed.
    special: tuple[str, ...] = ()
    # Whether the walk found the filesystem slow (NFS, Lustre, GPFS): the packer then reads
    # on its I/O threads from the start (threads.IOPool).
    slow_filesystem: bool = False

    @classmethod
    def load(
        cls,
        prefix: str,
        io_threads: int = 0,
        records: tuple[PackageRecord, ...] | None = None,
        on_directory: DirectoryCallback | None = None,
    ) -> Environment:
        """Read the records and walk the prefix once; no file contents are read.

        `io_threads` calls wait on the filesystem at once (0: IO_THREADS); `records`, when
        given, are those read_records already gave; `on_directory` hears of the walk (on
        another thread).
        """
        prefix = check_prefix(prefix)
        # The walk waits on the filesystem and the records on the JSON parser: overlap them
        # (on a local disk too, where the pool keeps to the calling threads).
        with IOPool(io_threads) as pool, ThreadPoolExecutor(1) as helper:
            walked = helper.submit(walk_prefix, prefix, pool, on_directory)
            if records is None:
                records = read_records(prefix, pool)
            files, dirs, special, ignorable = walked.result()
            slow = pool.slow
        owners: dict[str, PackageRecord] = {}
        missing: list[MissingFile] = []
        modified: list[str] = []
        spellings: list[str] = []  # the prefix as files may hold it; resolved on first need
        for record in records:
            for item in record.path_items:
                path = item["_path"]
                owners[path] = record
                found = files.get(path)
                if found is None:
                    if path not in dirs and item.get("path_type") != "directory":
                        missing.append(MissingFile(path, record))
                elif found.st_size != item.get("size_in_bytes", found.st_size):
                    if not spellings:
                        spellings += dict.fromkeys((prefix, os.path.realpath(prefix)))
                    if _size_changed(item, found, spellings):
                        modified.append(path)
        # conda's ignore rules are for files nobody owns: a base environment's bin/conda is
        # its conda package's, and packed like any other.
        for path in ignorable:
            if path not in owners:
                del files[path]
        special = [p for p in special if p in files]
        skip = set(special)
        untracked = tuple(
            sorted(
                p
                for p in files
                if p not in owners and pyc_source(p) not in owners and p not in skip
            )
        )
        env = cls(
            prefix,
            records,
            files,
            dirs,
            owners,
            untracked,
            tuple(missing),
            tuple(modified),
            special=tuple(sorted(special)),
            slow_filesystem=slow,
        )
        env._attribute_pip()
        return env

    def _attribute_pip(self) -> None:
        dist_infos = {
            posixpath.dirname(p)
            for p in self.untracked
            if p.endswith(".dist-info/RECORD") and "site-packages/" in p
        }
        dists = [read_distribution(self.prefix, d) for d in sorted(dist_infos)]
        untracked = set(self.untracked)
        for dist in dists:
            for path in dist.files:
                if path in untracked:
                    self.pip_owners[path] = dist
        self.pip_distributions = tuple(dists)

    @cached_property
    def subdir(self) -> str:
        """The platform the packages were built for (linux-64, ...), from their records."""
        for record in self.records:
            if record.subdir and record.subdir != "noarch":
                return record.subdir
        return "noarch"

    @cached_property
    def python_version(self) -> str | None:
        """X.Y of the environment's Python, from the python record or lib/pythonX.Y."""
        for record in self.records:
            if record.name == "python":
                return ".".join(record.version.split(".")[:2])
        for d in self.dirs:
            m = _PYTHON_LIB.match(d + "/")
            if m and d.count("/") == 1:
                return m.group(1)
        return None

    @cached_property
    def real_prefix(self) -> str:
        return os.path.realpath(self.prefix)

    @property
    def name(self) -> str:
        return os.path.basename(self.prefix)

    @property
    def size(self) -> int:
        """Bytes on disk, counting hard-linked files once."""
        seen: set[tuple[int, int]] = set()
        total = 0
        for st in self.files.values():
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
        return total

    @property
    def editable_distributions(self) -> tuple[PipDistribution, ...]:
        return tuple(d for d in self.pip_distributions if d.editable)

    def owner(self, relpath: str) -> PackageRecord | None:
        return self.owners.get(relpath)


def _size_changed(item: dict, found: FileStat, spellings: list[str]) -> bool:
    """Cheap modification check from lstat alone (the packer verifies sha256 later)."""
    size = item.get("size_in_bytes")
    if size is None or item.get("path_type", "hardlink") != "hardlink":
        return False
    if not stat.S_ISREG(found.st_mode):
        return False  # softlink entries record their target's size
    placeholder = item.get("prefix_placeholder")
    if placeholder and item.get("file_mode") != "binary":
        # conda records the packaged size; every occurrence of the placeholder changed it
        # by the same amount (rattler records the installed size: equal, never here).
        # The files may spell the prefix with or without its symlinks resolved.
        for spelling in spellings:
            step = len(fsencode(spelling)) - len(fsencode(placeholder))
            if step and (found.st_size - size) % step == 0:
                return False
        return True
    return True


def pyc_source(path: str) -> str | None:
    """The .py a .pyc was compiled from (`__pycache__/x.cpython-37.pyc` or Python 2's
    `x.pyc` -> `x.py`), None for other files. Byte-code of a source that is present is
    not a file of its own: not untracked, not packed (Python rebuilds it)."""
    if not path.endswith(".pyc"):
        return None
    m = _PYC.match(path)
    if m:
        return f"{m.group('dir')}{m.group('stem')}.py"
    return path[:-1]


def is_demo(prefix: str) -> bool:
    """Whether the prefix is the demo (core.demo makes it), without importing its builder."""
    return os.path.isfile(os.path.join(prefix, DEMO_MARKER))


def shown_prefix(prefix: str) -> str:
    """The prefix as reports print it: a demo says so wherever it shows."""
    return f"{prefix} (demo environment)" if is_demo(prefix) else prefix


def env_file_error(path: str, exc: OSError, doing: str = "packing") -> OSError | CondaPackageError:
    """What to tell the user when a file of the environment cannot be opened."""
    if isinstance(exc, FileNotFoundError):
        return CondaPackageError(f"{path}: vanished while {doing}; nothing was written, run again")
    if isinstance(exc, PermissionError):
        return CondaPackageError(f"{path}: permission denied; make it readable or run as its owner")
    return exc


def open_env_file(path: str, doing: str = "packing") -> BinaryIO:
    """Open a file of the environment for reading; the errors say what to do about them."""
    try:
        return open(path, "rb")
    except OSError as exc:
        error = env_file_error(path, exc, doing)
        if error is exc:
            raise
        raise error from exc


def check_prefix(prefix: str) -> str:
    """The absolute path of an environment, or a clear error.

    Symlinks in the path are kept: files hold the prefix as it was spelt at install time.
    """
    if not prefix:
        raise EnvironmentNotFound("no environment given")
    path = os.path.abspath(os.path.expanduser(prefix))
    if not os.path.exists(path):
        raise EnvironmentNotFound(f"{prefix}: no such directory; check the path or use -n NAME")
    if not os.path.isdir(path):
        raise EnvironmentNotFound(f"{prefix}: not a directory; give the environment's prefix")
    if not os.path.isdir(os.path.join(path, "conda-meta")):
        raise NotAnEnvironment(
            f"{prefix}: not a conda environment (no conda-meta/ directory);"
            " give the environment's prefix"
        )
    return path


def find_prefix_of(path: str) -> str | None:
    """The nearest enclosing directory that has conda-meta/ (for `-w` without a prefix)."""
    current = os.path.dirname(os.path.abspath(path)) if not os.path.isdir(path) else path
    current = os.path.realpath(current)
    while True:
        if os.path.isdir(os.path.join(current, "conda-meta")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
