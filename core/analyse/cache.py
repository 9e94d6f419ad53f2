"""The analysis cache: what each file's bytes said, per file stamp, in memory and as JSON
lines (one file a line: read and written a line at a time, never as one parsed document,
which at 126,000 files took 140 MiB more than the cache itself)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from typing import TypeVar

from ..paths import fsencode, user_cache_dir
from .elf import ElfInfo
from .examine import FileFacts, FileTask

_CACHE_VERSION = 2
_HEADER = '{"version":2}\n'  # then {"env": key} lines, each followed by its files' lines
_encode = json.JSONEncoder(separators=(",", ":")).encode

_Entry = tuple[tuple[int, int, int], tuple, FileFacts]
_T = TypeVar("_T")


def _elf_to_json(info: ElfInfo | None) -> list | None:
    if info is None:
        return None
    return [
        info.elf_class,
        info.little_endian,
        info.machine,
        info.elf_type,
        info.interpreter,
        info.is_dynamic,
        list(info.rpath),
        list(info.runpath),
        list(info.needed),
        info.soname,
    ]


def _elf_from_json(raw: list | None) -> ElfInfo | None:
    if raw is None:
        return None
    (elf_class, little, machine, elf_type, interp, dynamic, rpath, runpath, needed, soname) = raw
    if not all(isinstance(v, list) for v in (rpath, runpath, needed)):
        raise TypeError("ELF lists")
    return ElfInfo(
        int(elf_class),
        bool(little),
        str(machine),
        str(elf_type),
        interp,
        bool(dynamic),
        tuple(map(str, rpath)),
        tuple(map(str, runpath)),
        tuple(map(str, needed)),
        soname,
    )


def _entry_to_json(entry: _Entry) -> list:
    stamp, context, f = entry
    facts = [f.kind, _elf_to_json(f.elf), f.elf_error, f.verified, f.found_mode, f.found_room]
    return [list(stamp), list(context), facts]


def _entry_from_json(raw: list) -> _Entry:
    (size, mtime_ns, inode), context, facts = raw
    kind, elf, elf_error, verified, found_mode, found_room = facts
    if len(context) != 4 or kind not in ("elf", "text", "binary"):
        raise ValueError("cache entry shape")
    if found_mode not in (None, "text", "binary"):
        raise ValueError("cache entry prefix mode")
    return (
        (int(size), int(mtime_ns), int(inode)),
        tuple(context),
        FileFacts(kind, _elf_from_json(elf), elf_error, verified, found_mode, found_room),
    )


class AnalysisCache:
    """What each file's bytes said, per (path, size, mtime_ns, inode): a second look is instant.

    In memory, and in a JSON file when given a path; a file that cannot be read or
    parsed is ignored (it is only a cache). `hits` and `misses` count files looked up.
    Safe to share between threads: a cancelled TUI worker may still be finishing with it.
    Entries are kept per environment `key` (its prefix spellings).
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.hits = 0
        self.misses = 0
        self._envs: dict[str, dict[str, _Entry]] = {}  # per prefix, per relative path
        # One object per distinct value: most of 100,000 untracked files share the same
        # facts and context, so entries refer to one copy (25 MiB less at 126,000 files).
        self._shared: dict[object, object] = {}
        self._dirty = False
        self._lock = threading.Lock()
        if path is not None:
            self._envs = self._load(path)

    def lookup(self, key: str, task: FileTask) -> FileFacts | None:
        """The facts cached for the file, if its stamp and context are still the same."""
        with self._lock:
            entry = self._envs.get(key, {}).get(task.path)
            if entry is not None and entry[0] == task.stamp and entry[1] == task.context:
                self.hits += 1
                return entry[2]
            self.misses += 1
            return None

    def store(self, key: str, task: FileTask, facts: FileFacts) -> None:
        if facts.unreadable is None:
            with self._lock:
                entry = (task.stamp, self._share(task.context), self._share(facts))
                self._envs.setdefault(key, {})[task.path] = entry
                self._dirty = True

    def _share(self, value: _T) -> _T:
        return self._shared.setdefault(value, value)  # type: ignore[return-value]

    def retain(self, key: str, seen: set[str]) -> None:
        """Forget files that are gone, so the saved cache does not grow forever."""
        with self._lock:
            files = self._envs.setdefault(key, {})
            stale = files.keys() - seen
            for path in stale:
                del files[path]
            self._dirty = self._dirty or bool(stale)

    def save(self) -> None:
        """Write the cache atomically; a cache that cannot be written is simply not kept."""
        with self._lock:
            if self.path is None or not self._dirty:
                return
            envs = {key: dict(files) for key, files in self._envs.items()}  # entries are frozen
            self._dirty = False  # set again by a change made while this one is written
        directory = os.path.dirname(self.path) or "."
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".analysis-")
            try:
                with open(fd, "w", encoding="utf-8") as fh:
                    fh.write(_HEADER)
                    for key, files in envs.items():
                        fh.write(_encode({"env": key}) + "\n")
                        for path, entry in files.items():
                            fh.write(_encode([path, *_entry_to_json(entry)]) + "\n")
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return

    def _load(self, path: str) -> dict[str, dict[str, _Entry]]:
        """The saved entries, shared as they are read; an unreadable file is no cache."""
        envs: dict[str, dict[str, _Entry]] = {}
        files: dict[str, _Entry] | None = None
        try:
            with open(path, encoding="utf-8") as fh:
                if fh.read(len(_HEADER)) != _HEADER:  # an older format: one huge line
                    return {}
                for line in fh:
                    raw = json.loads(line)
                    if isinstance(raw, dict):
                        files = envs.setdefault(str(raw["env"]), {})
                        continue
                    stamp, context, facts = _entry_from_json(raw[1:])
                    if files is None:
                        raise ValueError("a file before its environment")
                    files[str(raw[0])] = (stamp, self._share(context), self._share(facts))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}
        return envs


def default_cache(prefix: str) -> AnalysisCache:
    """The persisted cache of one environment, under ${XDG_CACHE_HOME:-~/.cache}."""
    digest = hashlib.sha256(fsencode(os.path.abspath(prefix)))
    return AnalysisCache(os.path.join(user_cache_dir(), f"analysis-{digest.hexdigest()[:16]}.json"))
