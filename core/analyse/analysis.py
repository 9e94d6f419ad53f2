"""Relocation analysis: what in an environment breaks, or leaks its origin, when it moves.

Each file that can matter is read once (ELF files, files with a prefix placeholder,
untracked and modified files); what the bytes say is cached per file stamp, so a second
look costs only the judging, which needs the file system (NEEDED resolution, symlinks).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum

from ..load import Environment, MissingFile
from ..progress import Progress, ProgressCallback, check_cancel
from ..relocate import restore_package_bytes
from ..unpack import UNLIMITED_ROOM, binary_room
from .elf import (
    ElfError,
    ElfInfo,
    expand_origin,
    is_elf,
    matches_subdir,
    origin_relative,
    read_elf,
    resolve_needed,
)

# Enough for the ELF and program headers and, in almost every file, the dynamic strings;
# a file that needs more is read to the end.
_HEAD = 64 * 1024
# Files a worker takes at a time: one future per file would cost more than the reads.
_CHUNK_FILES = 48
_CHUNK_BYTES = 8 << 20
_PROGRESS_EVERY = 0.1  # seconds
_CACHE_VERSION = 1

# glibc itself: present on every Linux machine, so needing it from the system is fine.
_BASE_LIBS = re.compile(
    r"(ld-linux[\w.-]*|ld64)\.so\.\d+|"
    r"lib(c|m|pthread|dl|rt|util|crypt|resolv|nsl|anl|mvec|BrokenLocale|thread_db|nss_\w+"
    r"|c_malloc_debug|memusage|pcprofile|SegFault)\.so(\.[\d.]+)?"
)
# Paths conda-build and friends leave behind: they exist on no user's machine.
_BUILD_DIR = re.compile(
    r"_h_env_placehold|_build_env|_placehold_|/conda-bld/|^/tmp/build(/|$)|/feedstock_root/"
)
# Cross toolchains ship their target's libraries to link against, never to load here.
_SYSROOT = re.compile(r"(^|/)sysroot/")
_TRIPLET_DIR = re.compile(r"(^|/)[\w.]+(-[\w.]+)*-linux-(gnu|musl)\w*/")


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    """One problem with one file; `code` is stable for scripts and filters."""

    code: str
    severity: Severity
    path: str
    owner: str
    message: str
    hint: str


@dataclass(frozen=True)
class FileAnalysis:
    """What the analysis learnt about one file, for display (the TUI's file view)."""

    path: str
    kind: str
    prefix_mode: str | None
    placeholder: str | None
    room: int | None
    elf: ElfInfo | None
    needed: tuple[tuple[str, str, str | None], ...] = ()


@dataclass(frozen=True)
class RelocationReport:
    prefix: str
    files: dict[str, FileAnalysis]
    findings: tuple[Finding, ...]
    room: int | None
    seconds: float
    scanned: int  # files looked at (every file and symlink of the environment)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)


# --- what one file's bytes say (cached) ---------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    kind: str  # elf, text, binary
    elf: ElfInfo | None = None
    elf_error: str | None = None
    verified: bool | None = None  # restoring the placeholder gives the record's sha256
    found_mode: str | None = None  # searched files holding the prefix: text or binary
    found_room: int | None = None
    unreadable: str | None = None  # never cached: the next look may succeed


@dataclass(frozen=True)
class _Task:
    """One regular file to look at, with what its facts depend on besides its bytes."""

    path: str
    full: str
    stamp: tuple[int, int, int]  # size, mtime_ns, inode
    placeholder: str | None
    file_mode: str | None
    sha256: str | None
    search: bool  # untracked or modified: the prefix may be anywhere in it

    @property
    def context(self) -> tuple[str | None, str | None, str | None, bool]:
        return self.placeholder, self.file_mode, self.sha256, self.search

    @property
    def size(self) -> int:
        return self.stamp[0]

    @property
    def whole(self) -> bool:
        """Placeholder and searched files are read to the end; others only their head."""
        return self.placeholder is not None or self.search

    @property
    def cost(self) -> int:
        return self.size if self.whole else min(self.size, _HEAD)


def _parse_elf(data: bytes) -> tuple[ElfInfo | None, str | None]:
    try:
        return read_elf(data), None
    except ElfError as exc:
        return None, str(exc)


def _examine(task: _Task, prefixes: tuple[bytes, ...], cancel: threading.Event | None) -> _Facts:
    """Read the file once and learn all that the judging needs from its bytes."""
    check_cancel(cancel)
    whole = task.whole
    elf = elf_error = None
    try:
        with open(task.full, "rb", buffering=0) as fh:
            data = fh.readall() if whole else fh.read(_HEAD)
            if is_elf(data):
                elf, elf_error = _parse_elf(data)
                if elf_error is not None and not whole and len(data) == _HEAD:
                    data += fh.readall()  # headers beyond the first read: rare
                    elf, elf_error = _parse_elf(data)
    except OSError as exc:
        return _Facts("binary", unreadable=exc.strerror or str(exc))
    kind = "elf" if is_elf(data) else "binary" if b"\0" in data[:_HEAD] else "text"
    verified = None
    if task.placeholder is not None and task.sha256:
        placeholder = task.placeholder.encode()
        mode = task.file_mode or "text"
        verified = restore_package_bytes(data, prefixes, placeholder, mode, task.sha256) is not None
    found_mode = found_room = None
    if task.search or verified is False:
        needle = next((p for p in prefixes if p in data), None)
        if needle is not None:
            found_mode = "binary" if b"\0" in data else "text"
            if found_mode == "binary":
                found_room = binary_room(data, needle)
    return _Facts(kind, elf, elf_error, verified, found_mode, found_room)


# --- the cache ------------------------------------------------------------------------------


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


_Entry = tuple[tuple[int, int, int], tuple, _Facts]


def _entry_to_json(entry: _Entry) -> list:
    stamp, context, f = entry
    facts = [f.kind, _elf_to_json(f.elf), f.elf_error, f.verified, f.found_mode, f.found_room]
    return [list(stamp), list(context), facts]


def _entry_from_json(raw: list) -> _Entry:
    (size, mtime_ns, inode), context, facts = raw
    kind, elf, elf_error, verified, found_mode, found_room = facts
    if len(context) != 4 or kind not in ("elf", "text", "binary"):
        raise ValueError("cache entry shape")
    return (
        (int(size), int(mtime_ns), int(inode)),
        tuple(context),
        _Facts(kind, _elf_from_json(elf), elf_error, verified, found_mode, found_room),
    )


class AnalysisCache:
    """What each file's bytes said, per (path, size, mtime_ns, inode): a second look is instant.

    In memory, and in a JSON file when given a path; a file that cannot be read or
    parsed is ignored (it is only a cache). `hits` and `misses` count files looked up.
    Safe to share between threads: a cancelled TUI worker may still be finishing with it.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.hits = 0
        self.misses = 0
        self._envs: dict[str, dict[str, _Entry]] = {}  # per prefix, per relative path
        self._dirty = False
        self._lock = threading.Lock()
        if path is not None:
            self._envs = _load_cache(path)

    def _files(self, key: str) -> dict[str, _Entry]:
        with self._lock:
            return self._envs.setdefault(key, {})

    def _get(self, files: dict[str, _Entry], task: _Task) -> _Facts | None:
        with self._lock:
            entry = files.get(task.path)
            if entry is not None and entry[0] == task.stamp and entry[1] == task.context:
                self.hits += 1
                return entry[2]
            self.misses += 1
            return None

    def _put(self, files: dict[str, _Entry], task: _Task, facts: _Facts) -> None:
        if facts.unreadable is None:
            with self._lock:
                files[task.path] = (task.stamp, task.context, facts)
                self._dirty = True

    def _retain(self, key: str, seen: set[str]) -> None:
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
            data = {
                "version": _CACHE_VERSION,
                "envs": {
                    key: {path: _entry_to_json(e) for path, e in files.items()}
                    for key, files in self._envs.items()
                },
            }
            self._dirty = False  # set again by a change made while this one is written
        directory = os.path.dirname(self.path) or "."
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".analysis-")
            try:
                with open(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, separators=(",", ":"))
                os.replace(tmp, self.path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            return


def _load_cache(path: str) -> dict[str, dict[str, _Entry]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("version") != _CACHE_VERSION:
            return {}
        return {
            str(key): {str(p): _entry_from_json(raw) for p, raw in files.items()}
            for key, files in data["envs"].items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def default_cache(prefix: str) -> AnalysisCache:
    """The persisted cache of one environment, under ${XDG_CACHE_HOME:-~/.cache}."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(os.path.abspath(prefix).encode("utf-8", "surrogateescape"))
    return AnalysisCache(
        os.path.join(base, "conda-package", f"analysis-{digest.hexdigest()[:16]}.json")
    )


# --- judging: facts and the file system into findings ---------------------------------------


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass
class _Judge:
    """Turns facts into findings; holds what every file's judgement needs of the env."""

    env: Environment
    prefixes: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)

    def owner(self, path: str) -> str:
        record = self.env.owners.get(path)
        return record.dist if record is not None else "untracked"

    def add(self, code: str, severity: Severity, path: str, message: str, hint: str) -> None:
        self.findings.append(Finding(code, severity, path, self.owner(path), message, hint))

    def in_prefix(self, path: str) -> str | None:
        """The prefix spelling `path` lies under, if any."""
        return next((p for p in self.prefixes if _inside(path, p)), None)

    def file(self, task: _Task, facts: _Facts, mode: int) -> FileAnalysis | None:
        path = task.path
        before = len(self.findings)
        if mode & 0o6000:
            bits = " and ".join(
                name for bit, name in ((0o4000, "setuid"), (0o2000, "setgid")) if mode & bit
            )
            self.add(
                "setuid-setgid",
                Severity.WARNING,
                path,
                f"has the {bits} bit (mode {stat.S_IMODE(mode):o})",
                "archives keep the bit, which unpacking as root makes live: clear it"
                " (chmod u-s,g-s) unless it is meant",
            )
        if facts.unreadable is not None:
            self.add(
                "unreadable",
                Severity.WARNING,
                path,
                f"cannot be read: {facts.unreadable}",
                "fix its permissions; it was not analysed and cannot be packed",
            )
            return FileAnalysis(path, facts.kind, None, task.placeholder, None, None)
        prefix_mode, room = self.prefix_use(task, facts)
        needed = self.elf(task, facts) if facts.kind == "elf" else ()
        shown = facts.kind == "elf" or prefix_mode is not None or len(self.findings) > before
        if not shown:
            return None
        return FileAnalysis(
            path, facts.kind, prefix_mode, task.placeholder, room, facts.elf, needed
        )

    def prefix_use(self, task: _Task, facts: _Facts) -> tuple[str | None, int | None]:
        """How the file holds the prefix, and the longest target it can take."""
        path = task.path
        # A verified restore outweighs the size check, which a symlinked prefix can fool.
        by_size = path in self.env.modified and facts.verified is not True
        modified = by_size or facts.verified is False
        if modified:
            why = (
                "its size changed since install"
                if by_size
                else "restoring the placeholder does not give the package's sha256"
            )
            name = self.env.owners[path].name
            self.add(
                "modified-file",
                Severity.WARNING,
                path,
                f"differs from its package: {why}",
                f"reinstall it (conda install --force-reinstall {name}), or accept that it is"
                " packed as is and relocated by search",
            )
        if task.placeholder is not None and not modified:
            mode = task.file_mode or "text"
            return mode, len(task.placeholder.encode()) if mode == "binary" else None
        if facts.found_mode is None:
            return (
                (task.file_mode or "text", None) if task.placeholder is not None else (None, None)
            )
        if path.endswith(".pyc"):
            self.add(
                "bytecode-holds-prefix",
                Severity.INFO,
                path,
                "byte-code holds the prefix (its source's path); it is packed as is",
                "harmless: only tracebacks show the old path; delete it to have Python rebuild it",
            )
            return facts.found_mode, None
        room = facts.found_room
        if room == UNLIMITED_ROOM:
            room = None
        if (
            facts.found_mode == "binary"
            and room is not None
            and room <= len(self.env.prefix.encode())
        ):
            self.add(
                "binary-prefix-no-room",
                Severity.ERROR,
                path,
                f"binary holds the prefix with no spare room: it can only move to a path"
                f" of at most {room} bytes",
                f"unpack at a path of at most {room} bytes, or rebuild it as a conda package"
                " (a placeholder leaves room)",
            )
        return facts.found_mode, room

    def elf(self, task: _Task, facts: _Facts) -> tuple[tuple[str, str, str | None], ...]:
        path = task.path
        info = facts.elf
        if info is None:
            self.add(
                "elf-unparsable",
                Severity.WARNING,
                path,
                f"ELF file cannot be parsed: {facts.elf_error}",
                "if it is truncated, reinstall its package; its libraries were not checked",
            )
            return ()
        subdir = self.env.subdir
        native = matches_subdir(info, subdir)
        for_target = bool(_SYSROOT.search(path) or (not native and _TRIPLET_DIR.search(path)))
        if not native and for_target:
            self.add(
                "wrong-architecture",
                Severity.INFO,
                path,
                f"{info.machine} {info.elf_class}-bit ELF, in a cross toolchain's directory",
                "nothing to do: compilers link against it, nothing here loads it",
            )
        elif not native:
            self.add(
                "wrong-architecture",
                Severity.ERROR,
                path,
                f"{info.machine} {info.elf_class}-bit ELF in a {subdir} environment",
                f"remove it, or install the build made for {subdir}",
            )
        if info.elf_type == "ET_EXEC" and not info.is_dynamic:
            self.add(
                "static-binary",
                Severity.INFO,
                path,
                "statically linked: needs no libraries",
                "nothing to do unless it holds the prefix",
            )
        full = posixpath.join(self.env.prefix, path)
        resolved = resolve_needed(info, full, (posixpath.join(self.env.prefix, "lib"),))
        needed = tuple(
            (name, self.where(name, found, path, for_target), found)
            for name, found in resolved.items()
        )
        self.search_path(task, info, resolved)
        if info.interpreter and self.in_prefix(info.interpreter):
            self.absolute_into_prefix(
                task,
                "interpreter-into-prefix",
                f"its interpreter {info.interpreter}",
                "relink it, or patchelf --set-interpreter to the system's ld.so",
            )
        return needed

    def where(self, name: str, found: str | None, path: str, for_target: bool) -> str:
        """Where a NEEDED library comes from; a worrying answer is also a finding, unless
        the file is a toolchain's target library, which only the linker reads."""
        if found is None:
            if for_target:
                return "not-found"
            self.add(
                "needed-not-found",
                Severity.ERROR,
                path,
                f"needs {name}, found neither by its search path, nor in lib/, nor on this system",
                f"install the package that provides {name}, or fix its RPATH",
            )
            return "not-found"
        root = self.in_prefix(found)
        if root is None:
            if not for_target and not _BASE_LIBS.fullmatch(name):
                self.add(
                    "needed-system-only",
                    Severity.WARNING,
                    path,
                    f"needs {name}, found only outside the environment ({found})",
                    f"install a package that provides {name}, or make sure every target"
                    " machine has it",
                )
            return "system"
        record = self.env.owners.get(posixpath.relpath(found, root))
        return f"package:{record.dist}" if record is not None else "untracked"

    def search_path(self, task: _Task, info: ElfInfo, resolved: dict[str, str | None]) -> None:
        path = task.path
        file_dir = posixpath.dirname(posixpath.join(self.env.prefix, path))
        tags = [("RPATH", e) for e in info.rpath] + [("RUNPATH", e) for e in info.runpath]
        for tag, entry in dict.fromkeys(tags):
            if not entry:
                self.add(
                    "rpath-empty",
                    Severity.WARNING,
                    path,
                    f"{tag} has an empty entry: ld.so searches the current directory",
                    "relink or patchelf --set-rpath without the empty entry",
                )
                continue
            expanded = expand_origin(entry, file_dir)
            if not posixpath.isabs(expanded):
                self.add(
                    "rpath-relative",
                    Severity.WARNING,
                    path,
                    f"{tag} entry {entry} is relative: ld.so resolves it against the current"
                    " directory",
                    "use an $ORIGIN-relative entry instead (patchelf --set-rpath)",
                )
            elif "ORIGIN" in entry:
                if self.in_prefix(expanded) is None:
                    self.add(
                        "rpath-origin-escapes",
                        Severity.WARNING,
                        path,
                        f"{tag} entry {entry} leads outside the environment, to {expanded}",
                        "keep $ORIGIN entries inside the environment and ship what they point to",
                    )
            elif (root := self.in_prefix(expanded)) is not None:
                relative = origin_relative(entry, path, root)
                self.absolute_into_prefix(
                    task,
                    "rpath-absolute-into-prefix",
                    f"{tag} entry {entry}",
                    f"pack with --fix-rpath (rewrites it to {relative} in the archive), or"
                    f" relink with -Wl,-rpath,'{relative}'",
                )
            else:
                self.outside(path, tag, entry, expanded, resolved)

    def outside(
        self, path: str, tag: str, entry: str, expanded: str, resolved: dict[str, str | None]
    ) -> None:
        """A build directory only breaks anything when this machine has it and it supplies
        a library: then the file works here and nowhere else."""
        build = _BUILD_DIR.search(entry) is not None
        supplies = sorted(n for n, f in resolved.items() if f and posixpath.dirname(f) == expanded)
        if build and supplies:
            self.add(
                "rpath-outside-prefix",
                Severity.ERROR,
                path,
                f"{tag} entry {entry} is a build directory that supplies"
                f" {', '.join(supplies)} here; other machines lack it",
                f"install the package providing {supplies[0]} into the environment",
            )
            return
        what = "a build directory" if build else "outside the environment"
        self.add(
            "rpath-outside-prefix",
            Severity.WARNING,
            path,
            f"{tag} entry {entry} is {what}",
            "harmless where the directory is absent; else ship its libraries in the"
            " environment and use an $ORIGIN-relative entry",
        )

    def absolute_into_prefix(self, task: _Task, code: str, what: str, fix: str) -> None:
        """Absolute paths into the prefix move only if a package placeholder covers them."""
        if task.placeholder is not None:
            self.add(
                code,
                Severity.INFO,
                task.path,
                f"{what} is an absolute path into the environment; its package's placeholder"
                " lets conda-unpack rewrite it",
                "nothing to do",
            )
            return
        self.add(
            code,
            Severity.ERROR,
            task.path,
            f"{what} is an absolute path into the environment that no package record"
            " relocates: it breaks when the environment moves",
            fix,
        )

    def symlink(self, path: str) -> FileAnalysis | None:
        full = posixpath.join(self.env.prefix, path)
        try:
            target = os.readlink(full)
        except OSError:
            return None
        before = len(self.findings)
        if posixpath.isabs(target):
            root = self.in_prefix(posixpath.normpath(target))
            if root is not None:
                relative = posixpath.relpath(target, posixpath.dirname(full))
                self.add(
                    "symlink-absolute-into-prefix",
                    Severity.ERROR,
                    path,
                    f"symlink to {target} by absolute path into the environment: it breaks"
                    " when the environment moves",
                    f"make it relative: ln -sfn {relative} {path}",
                )
            else:
                self.outside_link(path, target)
        else:
            lexical = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            if lexical == ".." or lexical.startswith("../"):
                self.outside_link(path, target)
        if not os.path.exists(full):
            self.add(
                "symlink-dangling",
                Severity.WARNING,
                path,
                f"symlink to {target}, which does not exist",
                "remove it, or install what it points to",
            )
        if len(self.findings) == before:
            return None
        return FileAnalysis(path, "symlink", None, None, None, None)

    def missing(self, missing: MissingFile) -> None:
        name = missing.package.name
        self.add(
            "missing-file",
            Severity.WARNING,
            missing.path,
            "listed by its package but absent: packing stops on it unless --ignore-missing-files",
            f"reinstall it (conda install --force-reinstall {name}), or pack with"
            " --ignore-missing-files",
        )

    def special(self, path: str) -> None:
        self.add(
            "special-file",
            Severity.INFO,
            path,
            "a socket, pipe or device: no archive holds one, packing leaves it out",
            "nothing to do, unless the environment needs it: then recreate it where it goes",
        )

    def outside_link(self, path: str, target: str) -> None:
        self.add(
            "symlink-outside-prefix",
            Severity.WARNING,
            path,
            f"symlink to {target}, outside the environment",
            "the archive keeps the link as it is: make sure the target exists where the"
            " environment goes, or copy it in",
        )


# --- the scan -------------------------------------------------------------------------------


def _tasks(env: Environment) -> Iterator[tuple[_Task, int]]:
    """Every regular file with what its facts depend on, and its mode bits."""
    items = {item["_path"]: item for record in env.records for item in record.path_items}
    search = set(env.untracked) | set(env.modified)
    for path, st in env.files.items():
        if not stat.S_ISREG(st.st_mode):
            continue
        item = items.get(path, {})
        placeholder = item.get("prefix_placeholder") or None
        yield (
            _Task(
                path,
                posixpath.join(env.prefix, path),
                (st.st_size, st.st_mtime_ns, st.st_ino),
                placeholder,
                (item.get("file_mode") or "text") if placeholder else None,
                item.get("sha256") if placeholder else None,
                path in search,
            ),
            st.st_mode,
        )


def _chunks(tasks: list[_Task]) -> Iterator[list[_Task]]:
    """Big reads first and alone, so that no worker is left with a long tail."""
    chunk: list[_Task] = []
    cost = 0
    for task in sorted(tasks, key=lambda t: -t.cost):
        chunk.append(task)
        cost += task.cost
        if len(chunk) >= _CHUNK_FILES or cost >= _CHUNK_BYTES:
            yield chunk
            chunk, cost = [], 0
    if chunk:
        yield chunk


def _examine_all(
    chunk: list[_Task], prefixes: tuple[bytes, ...], cancel: threading.Event | None
) -> list[tuple[_Task, _Facts]]:
    return [(task, _examine(task, prefixes, cancel)) for task in chunk]


def analyse(
    env: Environment,
    *,
    threads: int = 0,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cache: AnalysisCache | None = None,
) -> RelocationReport:
    """Find what would break or leak when `env` moves; `threads` 0 means one per core."""
    started = time.perf_counter()
    cache = cache if cache is not None else AnalysisCache()
    prefixes = tuple(dict.fromkeys([env.prefix, env.real_prefix]))
    encoded = tuple(p.encode("utf-8", "surrogateescape") for p in prefixes)
    key = "\0".join(prefixes)
    cached = cache._files(key)

    tasks = list(_tasks(env))
    facts: dict[str, _Facts] = {}
    pending: list[_Task] = []
    for task, _ in tasks:
        hit = cache._get(cached, task)
        if hit is None:
            pending.append(task)
        else:
            facts[task.path] = hit
    cache._retain(key, {task.path for task, _ in tasks})

    total_bytes = sum(task.size for task, _ in tasks)
    done_files = len(facts)
    done_bytes = sum(task.size for task, _ in tasks if task.path in facts)
    last = 0.0

    def tell(current: str, final: bool = False) -> None:
        nonlocal last
        now = time.perf_counter()
        if progress is not None and (final or now - last >= _PROGRESS_EVERY):
            last = now
            progress(Progress("analyse", done_files, len(tasks), done_bytes, total_bytes, current))

    tell("")
    workers = threads if threads > 0 else os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyse") as pool:
        futures: set[Future] = {
            pool.submit(_examine_all, chunk, encoded, cancel) for chunk in _chunks(pending)
        }
        try:
            while futures:
                done, futures = wait(futures, timeout=_PROGRESS_EVERY, return_when=FIRST_COMPLETED)
                check_cancel(cancel)
                for future in done:
                    for task, result in future.result():
                        facts[task.path] = result
                        cache._put(cached, task, result)
                        done_files += 1
                        done_bytes += task.size
                        tell(task.path)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    tell("", final=True)
    check_cancel(cancel)

    judge = _Judge(env, prefixes)
    files: dict[str, FileAnalysis] = {}
    for task, mode in tasks:
        analysis = judge.file(task, facts[task.path], mode)
        if analysis is not None:
            files[task.path] = analysis
    for path, st in env.files.items():
        if stat.S_ISLNK(st.st_mode):
            analysis = judge.symlink(path)
            if analysis is not None:
                files[path] = analysis
    for missing in env.missing:
        judge.missing(missing)
    for path in env.special:
        judge.special(path)
    rooms = [a.room for a in files.values() if a.prefix_mode == "binary" and a.room is not None]
    findings = sorted(judge.findings, key=lambda f: (_RANK[f.severity], f.path, f.code))
    return RelocationReport(
        prefix=env.prefix,
        files=dict(sorted(files.items())),
        findings=tuple(findings),
        room=min(rooms) if rooms else None,
        seconds=time.perf_counter() - started,
        scanned=len(env.files),
    )


def target_findings(env: Environment, report: RelocationReport, target: str) -> tuple[Finding, ...]:
    """Errors for the binaries a chosen target prefix does not fit (--relocate-prefix)."""
    size = len(target.encode("utf-8", "surrogateescape"))
    judge = _Judge(env, (env.prefix,))
    return tuple(
        Finding(
            "target-prefix-too-long",
            Severity.ERROR,
            a.path,
            judge.owner(a.path),
            f"{target} ({size} bytes) does not fit: this binary has room for {a.room} bytes",
            f"choose a target prefix of at most {report.room} bytes",
        )
        for a in report.files.values()
        if a.prefix_mode == "binary" and a.room is not None and a.room < size
    )
