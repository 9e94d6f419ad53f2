"""What the screens derive from a loaded environment, computed once in the loading worker."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from conda_package.core import (
    Environment,
    FileStat,
    IOPool,
    PackageDiagnosis,
    PackageRecord,
    PathEntry,
    check_prefix,
    diagnose,
    is_demo,
    read_records,
)

# How often the Files tree is redrawn while the walk goes on (a redraw sorts every folder),
# and how often the count of files and folders is told (for the progress bar).
WALK_REDRAW_S = 0.25
WALK_COUNT_S = 0.1


def file_size(st: FileStat) -> int:
    """Bytes a file adds to its folder's total: symlinks and special files count as 0."""
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


@dataclass(frozen=True)
class FileIndex:
    """Folder sizes summed once, so the Files tree opens any folder without walking it.

    Paths are relative to the prefix; "" is the prefix itself.
    """

    sizes: dict[str, int]
    children: dict[str, list[str]]
    counts: dict[str, int]  # files below each folder

    @classmethod
    def build(
        cls,
        files: Mapping[str, FileStat],
        dirs: Iterable[str],
        paths: Iterable[str] | None = None,
        known: FileIndex | None = None,
    ) -> FileIndex:
        """Index every file (paths=None, empty folders included) or only `paths`, taking
        their sizes from `known` (the whole index) when given."""
        sizes: dict[str, int] = {"": 0}
        children: dict[str, list[str]] = {"": []}
        counts: dict[str, int] = {"": 0}

        def add_dir(path: str) -> None:
            """Register a folder and, first, any ancestor not seen yet."""
            if path in children:
                return
            parent = path.rpartition("/")[0]
            add_dir(parent)
            children[path] = []
            sizes[path] = counts[path] = 0
            children[parent].append(path)

        if paths is None:
            for d in dirs:
                add_dir(d)
            paths = files
        # Files grouped by folder in one tight loop; then each folder's files are summed
        # and its folders add up to their parents, deepest first: per file, one step.
        by_folder: dict[str, list[str]] = {}
        for path in paths:
            parent = path.rpartition("/")[0]
            found = by_folder.get(parent)
            if found is None:
                by_folder[parent] = [path]
            else:
                found.append(path)
        size_of: Mapping[str, int] = (
            known.sizes
            if known is not None
            else {path: file_size(st) for path, st in files.items()}
        )
        for folder, names in by_folder.items():
            add_dir(folder)
            children[folder] += names
            file_sizes = list(map(size_of.__getitem__, names))
            sizes.update(zip(names, file_sizes, strict=True))
            sizes[folder] += sum(file_sizes)
            counts[folder] += len(names)
        for folder in sorted(children, key=lambda d: d.count("/"), reverse=True):
            if folder:
                parent = folder.rpartition("/")[0]
                sizes[parent] += sizes[folder]
                counts[parent] += counts[folder]
        return cls(sizes, children, counts)

    def is_dir(self, path: str) -> bool:
        return path in self.children

    def listing(self, folder: str) -> list[str]:
        """A folder's entries, largest first (as ncdu shows them), then by name."""
        return sorted(self.children.get(folder, ()), key=lambda p: (-self.sizes[p], p))


@dataclass(frozen=True)
class WalkState:
    """How far the walk is: folders read of those found so far is its progress (the total
    is not known before the end); `index`, when set, holds the files found so far."""

    files: int
    folders_done: int
    folders_found: int
    index: FileIndex | None = None


@dataclass(frozen=True)
class LoadedEnvironment:
    """An environment plus the lookups its views need; built off the UI thread."""

    env: Environment
    index: FileIndex
    path_entries: dict[str, PathEntry]
    package_sizes: dict[str, int]
    demo: bool = False
    size: int = 0  # bytes on disk (env.size walks every file: once, here)
    diagnosis: tuple[PackageDiagnosis, ...] = ()  # packages with missing or changed files
    # (path, bytes, pip distribution or None) of each untracked file: the Untracked table
    untracked_rows: tuple[tuple[str, int, object], ...] = ()

    @classmethod
    def load(
        cls,
        prefix: str,
        on_records: Callable[[tuple[PackageRecord, ...]], None],
        on_walk: Callable[[WalkState], None],
    ) -> LoadedEnvironment:
        """Records first (the package table needs nothing else), then the walk: `on_walk`
        hears how far it is every WALK_COUNT_S, with the files so far indexed every
        WALK_REDRAW_S (or less often as they add up); these callbacks may raise to stop
        the load."""
        prefix = check_prefix(prefix)
        with IOPool() as pool:
            records = read_records(prefix, pool)
        on_records(records)
        files: dict[str, FileStat] = {}
        dirs: list[str] = []
        shown = counted = time.monotonic()
        cost = 0.0
        done = 0

        def walked(folder: str, entries: dict[str, FileStat]) -> None:
            nonlocal shown, counted, cost, done
            done += 1
            for path, st in entries.items():
                if stat.S_ISDIR(st.st_mode):
                    dirs.append(path)
                else:
                    files[path] = st
            now = time.monotonic()
            if now - shown > max(WALK_REDRAW_S, 4 * cost):
                index = FileIndex.build(files, dirs)
                on_walk(WalkState(len(files), done, len(dirs) + 1, index))
                shown = counted = time.monotonic()
                cost = shown - now  # an index costs more as files add up: space them out
            elif now - counted > WALK_COUNT_S:
                on_walk(WalkState(len(files), done, len(dirs) + 1))
                counted = now

        env = Environment.load(prefix, records=records, on_directory=walked)
        entries = {entry.path: entry for record in env.records for entry in record.paths}
        sizes = dict.fromkeys((r.name for r in env.records), 0)
        for path, record in env.owners.items():
            st = env.files.get(path)
            if st is not None:
                sizes[record.name] += file_size(st)
        index = FileIndex.build(env.files, env.dirs)
        pip = env.pip_owners
        untracked = tuple((p, file_size(env.files[p]), pip.get(p)) for p in env.untracked)
        return cls(env, index, entries, sizes, is_demo(prefix), env.size, diagnose(env), untracked)

    def __repr__(self) -> str:
        """Short: textual puts a worker's arguments in its description (a repr of every
        file took 1.8 s at 126,000 files)."""
        return f"LoadedEnvironment({self.env.prefix!r}, {len(self.env.files):,} files)"
