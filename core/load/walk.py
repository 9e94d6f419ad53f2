"""One walk of a prefix with os.scandir and lstat, noting what conda's ignore rules name.

On NFS, Lustre or GPFS each lstat and directory read is a network round trip (0.2-2 ms),
so the walk keeps many of them in flight on I/O threads; the result is then put together
in the order of a sequential depth-first walk, so the model never depends on timing.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from queue import SimpleQueue
from typing import NamedTuple

from ..errors import CondaPackageError
from ..threads import IOPool
from ..unpack.autorelocate import SHIPPED_NAME

# Top-level names conda never counts as part of an environment's files (conda's own
# `untracked` used the same list), plus what package managers leave in a prefix.
IGNORED_TOP = frozenset(
    {
        "pkgs",
        "envs",
        "conda-bld",
        "conda-meta",
        ".conda_lock",
        "users",
        "LICENSE.txt",
        "info",
        "conda-recipes",
        ".index",
        ".unionfs",
        ".nonadmin",
        "CACHEDIR.TAG",
    }
)
# conda's own entry points in bin/, and what conda-package generates into every archive. Like
# every rule here but the directories, they apply to untracked files only: a base environment's
# conda package owns bin/conda, bin/activate and bin/deactivate.
IGNORED_BIN = frozenset({"conda", "activate", "deactivate", "activate.fish", "conda-unpack"})
# The self-relocation hook every archive gets in site-packages (.pth, .py, its byte-code).
GENERATED_HOOK = SHIPPED_NAME


def is_ignored(relpath: str) -> bool:
    """conda's rules: editor backups and the names above are not environment files."""
    if relpath.endswith("~"):
        return True
    top, _, rest = relpath.partition("/")
    if not rest:
        return top in IGNORED_TOP
    return top == "bin" and "/" not in rest and rest in IGNORED_BIN


def is_walked(relpath: str) -> bool:
    """Whether the walk reaches `relpath`: neither it nor a folder on its way is ignored."""
    parts = relpath.split("/")
    return not any(is_ignored("/".join(parts[: i + 1])) for i in range(len(parts)))


class FileStat(NamedTuple):
    """What the model keeps of an lstat, named as in os.stat_result.

    A stat_result and its 15 objects take ~630 bytes, this ~255 (tracemalloc): 37 MB less
    at 100,000 files, for ~2 ms more per 10,000 in the walk.
    """

    st_mode: int
    st_size: int
    st_mtime_ns: int
    st_ino: int
    st_dev: int
    st_nlink: int

    @property
    def st_mtime(self) -> float:
        return self.st_mtime_ns / 1e9


_new = tuple.__new__  # a NamedTuple's own __new__ is a Python function: slower per file


# What an archive can carry besides directories; sockets, pipes and devices it cannot (and
# opening a pipe to read it waits for a writer that never comes).
_CARRIED = frozenset({stat.S_IFREG, stat.S_IFLNK})
_IFMT, _IFDIR = 0o170000, stat.S_IFDIR
# lstat calls in one task: enough to amortise the task on a local disk, few enough that a
# directory of 1,000 files is spread over many threads on a network filesystem.
STAT_CHUNK = 32


@dataclass(slots=True)
class Listing:
    """One directory as scanned: its entries in scandir order, each one's lstat (None when
    it vanished in between), or the error that kept the directory from being listed."""

    entries: list[os.DirEntry[str]]
    stats: list[FileStat | None]
    error: OSError | None = None


def _list(abspath: str, rel: str) -> list[os.DirEntry[str]]:
    """A directory's entries in scandir order, less the directories conda's rules ignore
    (never entered) and an extracted copy's self-relocation hook (packed anew)."""
    with os.scandir(abspath) as it:
        if rel in ("", "bin/"):  # the only levels with ignore rules by name
            return [
                e for e in it if not (is_ignored(rel + e.name) and e.is_dir(follow_symlinks=False))
            ]
        return [
            e
            for e in it
            if not (
                e.name.startswith(GENERATED_HOOK)
                or (e.name[-1] == "~" and e.is_dir(follow_symlinks=False))
            )
        ]


def _stat(entries: list[os.DirEntry[str]]) -> list[FileStat | None]:
    stats: list[FileStat | None] = []
    for entry in entries:
        try:
            full = entry.stat(follow_symlinks=False)
        except OSError:
            stats.append(None)  # removed since it was listed
            continue
        stats.append(
            _new(
                FileStat,
                (
                    full.st_mode,
                    full.st_size,
                    full.st_mtime_ns,
                    full.st_ino,
                    full.st_dev,
                    full.st_nlink,
                ),
            )
        )
    return stats


# What a task hands back: applied on the walk's own thread, it yields finished directories.
_Apply = Callable[[], Iterator[str]]


class _Scan:
    """The walk's bookkeeping, on the calling thread only: tasks run here while the
    filesystem answers fast, on the pool's threads once it proves slow, and their results
    come back through one queue."""

    def __init__(self, todo: list[tuple[str, str]], pool: IOPool | None) -> None:
        self.pool = pool
        self.done: SimpleQueue[Callable[[], tuple[_Apply, int]]] = SimpleQueue()
        self.outstanding = 0
        self.listings: dict[str, Listing] = {}
        self.remaining: dict[str, int] = {}  # lstat tasks still out, per directory
        for abspath, rel in todo:
            self.start(self.scan_dir, abspath, rel)

    def start(self, task: Callable[..., tuple[_Apply, int]], *args: str | int) -> None:
        self.outstanding += 1
        if self.pool is None or self.pool.executor is None:
            began = time.perf_counter()
            apply, calls = task(*args)
            if self.pool is not None:
                self.pool.note(time.perf_counter() - began, calls)
            self.done.put(lambda: (apply, calls))
        else:
            future = self.pool.submit(task, *args)
            future.add_done_callback(lambda f: self.done.put(f.result))

    def results(self) -> Iterator[str]:
        """Apply results as they come; yield each directory once all its lstats are in."""
        while self.outstanding:
            apply, _ = self.done.get()()  # re-raises what a task raised
            self.outstanding -= 1
            yield from apply()

    def scan_dir(self, abspath: str, rel: str) -> tuple[_Apply, int]:
        """(I/O thread) List a directory and lstat its first STAT_CHUNK entries."""
        try:
            entries = _list(abspath, rel)
        except OSError as exc:
            listing = Listing([], [], exc)
        else:
            listing = Listing(entries, _stat(entries[:STAT_CHUNK]))
        return lambda: self.listed(abspath, rel, listing), 1 + len(listing.stats)

    def listed(self, abspath: str, rel: str, listing: Listing) -> Iterator[str]:
        self.listings[rel] = listing
        count = len(listing.entries)
        listing.stats += [None] * (count - len(listing.stats))
        chunks = range(STAT_CHUNK, count, STAT_CHUNK)
        self.remaining[rel] = len(chunks)
        for at in chunks:
            self.start(self.stat_chunk, abspath, rel, at)
        return self.stated(abspath, rel, 0, min(count, STAT_CHUNK))

    def stat_chunk(self, abspath: str, rel: str, at: int) -> tuple[_Apply, int]:
        """(I/O thread) lstat the next STAT_CHUNK entries of a listed directory."""
        stats = _stat(self.listings[rel].entries[at : at + STAT_CHUNK])
        return lambda: self.chunk_done(abspath, rel, at, stats), len(stats)

    def chunk_done(
        self, abspath: str, rel: str, at: int, stats: list[FileStat | None]
    ) -> Iterator[str]:
        self.listings[rel].stats[at : at + len(stats)] = stats
        self.remaining[rel] -= 1
        return self.stated(abspath, rel, at, at + len(stats))

    def stated(self, abspath: str, rel: str, start: int, stop: int) -> Iterator[str]:
        listing = self.listings[rel]
        for entry, st in zip(listing.entries[start:stop], listing.stats[start:stop], strict=True):
            if st is not None and st[0] & _IFMT == _IFDIR:
                self.start(self.scan_dir, entry.path, f"{rel}{entry.name}/")
        if not self.remaining[rel]:
            yield rel


# A finished directory: its path ("" or "lib/") and its entries by relative path.
DirectoryCallback = Callable[[str, dict[str, FileStat]], None]


class Walked(NamedTuple):
    """What one walk found; keys and names are relative '/'-separated paths, in the order
    of a sequential depth-first walk whatever the pool."""

    files: dict[str, FileStat]
    dirs: dict[str, FileStat]
    special: list[str]  # neither regular files nor symlinks: sockets, pipes, devices
    ignorable: list[str]  # files conda's ignore rules name: environment files only if owned


def walk_prefix(
    prefix: str,
    pool: IOPool | None = None,
    on_directory: DirectoryCallback | None = None,
) -> Walked:
    """Scan the prefix once: lstat of every non-directory and of every directory.

    Symlinks are never followed (a symlink to a directory is an entry, not a subtree).
    Directories the ignore rules name (pkgs, envs, conda-meta, ...) are not entered.
    Without a pool every call is made on this thread, with one on its threads once calls
    prove slow. `on_directory` hears of each directory as soon as all its entries are known.
    """
    found = Walked({}, {}, [], [])
    stack: list[tuple[str, str]] = [(prefix, "")]
    # Here, one directory at a time, while calls are fast (a local disk: no thread pays).
    while stack and (pool is None or pool.executor is None):
        began = time.perf_counter()
        abspath, rel = stack.pop()
        try:
            entries = _list(abspath, rel)
        except OSError as exc:
            _check_listed(abspath, exc)
            continue
        stats = _stat(entries)
        if pool is not None:
            pool.note(time.perf_counter() - began, 1 + len(entries))
        _add(rel, entries, stats, stack, found)
        if on_directory is not None:
            on_directory(rel, _found(rel, entries, stats))
    if stack:  # the calls proved slow: the rest of the tree on the pool's threads
        scan = _Scan(stack[::-1], pool)
        for rel in scan.results():
            listing = scan.listings[rel]
            if on_directory is not None and listing.error is None:
                on_directory(rel, _found(rel, listing.entries, listing.stats))
        _assemble(stack, scan.listings, found)
    return found


def _found(
    rel: str, entries: list[os.DirEntry[str]], stats: list[FileStat | None]
) -> dict[str, FileStat]:
    return {rel + e.name: st for e, st in zip(entries, stats, strict=True) if st is not None}


def _check_listed(abspath: str, error: OSError) -> None:
    """A directory gone since its parent was listed is skipped; any other error is told."""
    if not isinstance(error, (FileNotFoundError, NotADirectoryError)):
        raise CondaPackageError(
            f"{abspath}: cannot list this directory of the environment ({error.strerror});"
            " make it readable (chmod u+rx) or run as its owner"
        ) from error


def _add(
    rel: str,
    entries: list[os.DirEntry[str]],
    stats: list[FileStat | None],
    stack: list[tuple[str, str]],
    found: Walked,
) -> None:
    """One directory's entries into the result; its subdirectories onto the stack."""
    check = rel in ("", "bin/")  # the only levels with ignore rules by name
    for entry, st in zip(entries, stats, strict=True):
        if st is None:
            continue  # removed since it was listed
        relpath = rel + entry.name
        kind = st[0] & _IFMT  # st_mode's file type, without two calls per file
        if kind == _IFDIR:
            found.dirs[relpath] = st
            stack.append((entry.path, relpath + "/"))
            continue
        found.files[relpath] = st
        if kind not in _CARRIED:
            found.special.append(relpath)
        if (check and is_ignored(relpath)) or relpath[-1] == "~":
            found.ignorable.append(relpath)


def _assemble(stack: list[tuple[str, str]], listings: dict[str, Listing], found: Walked) -> None:
    """Go on with the depth-first walk from `stack` over what the threads listed: the
    order, and the first error on the way, of a walk done one directory at a time."""
    while stack:
        abspath, rel = stack.pop()
        listing = listings[rel]
        if listing.error is not None:
            _check_listed(abspath, listing.error)
            continue
        _add(rel, listing.entries, listing.stats, stack, found)
