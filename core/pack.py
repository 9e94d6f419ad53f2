"""Pack an environment: stream the plan into an archive, restoring prefix files on the way.

Files are read once, in worker threads, a bounded window ahead of the writer; the writer
(and the compressor's own threads) consume them in plan order.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from . import __version__
from .activation import activate_scripts
from .archive import ArchiveEntry, default_level, format_from_path, open_writer, validate_level
from .elf import ElfError, is_elf, origin_relative, read_elf, rewrite_rpath
from .environment import Environment, open_env_file
from .errors import CondaPackageError, OutputExists, OutputInsideEnvironment, UsageError
from .plan import STATE_DIR, PackPlan, PlanEntry, make_plan
from .progress import Progress, ProgressCallback, check_cancel
from .relocation import (
    MANIFEST_NAME,
    PREFIX_STATE_NAME,
    binary_room,
    relocate_bytes,
    unpack_script_source,
)
from .restore import restore_package_bytes
from .subdirs import subdir_from_options

SMALL_FILE = 1 << 20  # read ahead in a worker; larger copies stream from disk in the writer
WINDOW_BYTES = 64 << 20  # bytes read ahead of the writer, at most (bounded memory)
WINDOW_ENTRIES = 512
BATCH_FILES = 64
BATCH_BYTES = 4 << 20
RECORD_CACHE_KEYS = ("extracted_package_dir", "package_tarball_full_path")
# Write errors that mean the output does not fit where it goes.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass(frozen=True)
class PackOptions:
    output: str | None = None
    format: str | None = None
    level: int | None = None
    threads: int = 0
    force: bool = False
    ignore_missing_files: bool = False
    ignore_editable_packages: bool = False
    arch: str | None = None
    platform: str | None = None
    relocate_prefix: str | None = None
    fix_rpath: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class Prepared:
    """What a worker made of one entry: its bytes (None: stream from disk) and notes."""

    content: bytes | None = None
    relocation: dict | None = None
    finding: str | None = None
    verified: bool = False
    rpath_fixes: tuple[tuple[str, str], ...] = ()


@dataclass
class PackResult:
    output: str | None
    format: str
    plan: PackPlan
    names: list[str] = field(default_factory=list)
    relocations: list[dict] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    restored: int = 0
    rpath_fixes: list[tuple[str, str, str]] = field(default_factory=list)  # path, old, new
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0

    @property
    def room(self) -> int | None:
        """Longest target prefix that fits every binary file packed."""
        rooms = [r["room"] for r in self.relocations if r.get("room")]
        return min(rooms) if rooms else None


def resolve_output(env: Environment, options: PackOptions) -> tuple[str, str]:
    """Output path and format from -o / --format / the default, with the checks a user needs."""
    fmt = options.format
    if options.output:
        inferred = format_from_path(options.output)
        fmt = fmt or inferred
        if fmt is None:
            raise UsageError(
                f"{options.output}: cannot tell the format from the extension;"
                " use .tar.gz, .tar.zst, .tar.bz2, .tar.xz, .tar, .zip or --format"
            )
        output = os.path.abspath(options.output)
    else:
        fmt = fmt or "tar.gz"
        output = os.path.abspath(f"{env.name}{'' if fmt == 'dir' else '.' + fmt}")
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        raise UsageError(f"{parent}: output directory does not exist; create it first")
    real_parent = os.path.realpath(parent)
    real_prefix = env.real_prefix
    if real_parent == real_prefix or real_parent.startswith(real_prefix + os.sep):
        raise OutputInsideEnvironment(
            f"{output}: the archive would be written inside the environment it packs;"
            " choose an output outside it"
        )
    real_output = os.path.join(real_parent, os.path.basename(output))
    if real_output == real_prefix or real_prefix.startswith(real_output.rstrip(os.sep) + os.sep):
        raise OutputInsideEnvironment(
            f"{output}: holds the environment it packs, and writing the output there would"
            " delete it; choose an output outside it"
        )
    if os.path.lexists(output) and not options.force and not options.dry_run:
        raise OutputExists(f"{output}: already exists; use --force to overwrite it")
    if fmt != "dir" and os.path.isdir(output) and not os.path.islink(output):
        raise OutputExists(
            f"{output}: is a directory, and --force replaces archives, not directories;"
            " choose another output or remove it yourself"
        )
    return output, fmt


def _record_bytes(path: str) -> bytes:
    """A conda-meta record without this machine's package-cache paths."""
    with open(path, "rb") as fh:
        data = json.load(fh)
    for key in RECORD_CACHE_KEYS:
        if key in data:
            data[key] = ""
    if isinstance(data.get("link"), dict):
        data["link"]["source"] = ""
    return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode()


class _Preparer:
    """Per-entry work done in worker threads: read, restore and verify, or search."""

    def __init__(self, env: Environment, options: PackOptions):
        self.env = env
        self.prefixes = list(dict.fromkeys((env.prefix, env.real_prefix)))  # as spelt, resolved
        self.prefix_bytes = [p.encode() for p in self.prefixes]
        self.relocate_prefix = options.relocate_prefix
        self.dry_run = options.dry_run
        self.fix_rpath = options.fix_rpath

    def needs_worker(self, entry: PlanEntry) -> bool:
        if entry.kind != "file":
            return False
        if entry.action == "copy":
            return self.fix_rpath or (not self.dry_run and entry.size <= SMALL_FILE)
        return True

    def _fix_rpath(self, entry: PlanEntry, data: bytes) -> tuple[bytes, tuple]:
        """Absolute RPATH/RUNPATH entries into the prefix become $ORIGIN-relative, in the
        archived copy only; files whose record covers the prefix are left to conda-unpack."""
        if entry.action == "restore" or not is_elf(data[:4]):
            return data, ()
        try:
            info = read_elf(data)
        except ElfError:
            return data, ()
        if not any(e.startswith(p) for e in info.rpath + info.runpath for p in self.prefixes):
            return data, ()

        def to_origin(value: str) -> str:
            for prefix in self.prefixes:
                relative = origin_relative(value, entry.name, prefix)
                if relative is not None:
                    return relative
            return value

        buffer = bytearray(data)
        fixes = tuple(rewrite_rpath(buffer, to_origin))
        return (bytes(buffer), fixes) if fixes else (data, ())

    def __call__(self, entry: PlanEntry) -> Prepared:
        if entry.action == "record":
            path = os.path.join(self.env.prefix, entry.name)
            return Prepared(_record_bytes(path))
        with open_env_file(os.path.join(self.env.prefix, entry.name)) as fh:
            data = fh.read()
        fixes: tuple = ()
        if self.fix_rpath:
            data, fixes = self._fix_rpath(entry, data)
        if entry.action == "copy":
            return Prepared(data, rpath_fixes=fixes)
        prepared = self._restore(entry, data) if entry.action == "restore" else None
        prepared = prepared or self._search(entry, data)
        return replace(prepared, rpath_fixes=fixes) if fixes else prepared

    def _final(self, data: bytes, old: str, mode: str) -> bytes:
        if self.relocate_prefix is None:
            return data
        return relocate_bytes(data, old, self.relocate_prefix, mode)

    def _restore(self, entry: PlanEntry, data: bytes) -> Prepared | None:
        placeholder = entry.placeholder.encode()
        restored = restore_package_bytes(
            data, self.prefix_bytes, placeholder, entry.file_mode, entry.sha256
        )
        if restored is None:
            return None
        reloc = {"path": entry.name, "placeholder": entry.placeholder, "mode": entry.file_mode}
        if entry.file_mode == "binary":
            reloc["room"] = len(placeholder)
        content = self._final(restored, entry.placeholder, entry.file_mode)
        return Prepared(content, reloc, verified=True)

    def _search(self, entry: PlanEntry, data: bytes) -> Prepared:
        prefix = self.env.prefix
        needle = prefix.encode()
        if needle not in data:
            note = None
            if entry.action == "restore":
                note = f"{entry.name}: differs from its package and holds no prefix; packed as is"
            return Prepared(data, finding=note)
        mode = "binary" if b"\0" in data else "text"
        if entry.action == "restore":
            what = "modified after install"
        else:
            what = f"written at install by {entry.owner}" if entry.owner else "untracked"
        if entry.name.endswith(".pyc"):
            return Prepared(
                data,
                finding=f"{entry.name}: byte-code without its source holds"
                " the prefix; it cannot be relocated (reinstall from source)",
            )
        reloc = {"path": entry.name, "placeholder": prefix, "mode": mode}
        finding = None
        if mode == "binary":
            room = binary_room(data, needle)
            reloc["room"] = room
            if room <= len(needle):
                finding = (
                    f"{entry.name} ({what}): binary holds the prefix with no spare room;"
                    f" it can only move to prefixes of at most {room} bytes"
                )
        elif entry.action == "restore":
            finding = f"{entry.name}: {what}; packed as is and relocated by search"
        return Prepared(self._final(data, prefix, mode), reloc, finding)


def _generated(
    plan: PackPlan, relocations: list[dict], relocate_prefix: str | None, env: Environment
) -> list[tuple[ArchiveEntry, bytes]]:
    manifest = {
        "version": 1,
        "created_by": f"conda-package {__version__}",
        "source_prefix": env.prefix,
        "subdir": plan.subdir,
        "files": [{k: r[k] for k in ("path", "placeholder", "mode")} for r in relocations],
    }
    out: list[tuple[ArchiveEntry, bytes]] = [
        (ArchiveEntry(STATE_DIR, "dir", 0o755), b""),
    ]
    files = {
        f"{STATE_DIR}/{MANIFEST_NAME}": (json.dumps(manifest, indent=1) + "\n").encode(),
        "bin/conda-unpack": unpack_script_source().encode(),
    }
    if relocate_prefix:
        files[f"{STATE_DIR}/{PREFIX_STATE_NAME}"] = f"{relocate_prefix}\n".encode()
    for name, text in activate_scripts().items():
        files[name] = text.encode()
    for name in sorted(files):
        data = files[name]
        mode = 0o755 if name == "bin/conda-unpack" else 0o644
        out.append((ArchiveEntry(name, "file", mode, 0, len(data)), data))
    return out


def _prepare_batch(prep: _Preparer, batch: list[PlanEntry]) -> list[Prepared]:
    return [prep(entry) for entry in batch]


def _window(
    entries: tuple[PlanEntry, ...],
    pool: ThreadPoolExecutor,
    prep: _Preparer,
    cancel: threading.Event | None,
) -> Iterator[tuple[PlanEntry, Prepared]]:
    """Yield entries in order with what the workers made of them, a bounded window ahead.

    Worker entries go in batches (BATCH_FILES files or BATCH_BYTES): reads still overlap,
    which matters on a cold or network filesystem, without a future per small file.
    """
    # Each pending worker entry has a slot [future, index], filled when its batch goes.
    pending: deque[tuple[PlanEntry, list | None]] = deque()
    in_flight = 0
    source = iter(entries)
    exhausted = False
    batch: list[PlanEntry] = []
    slots: list[list] = []
    batch_bytes = 0

    def submit() -> None:
        nonlocal batch, slots, batch_bytes
        future = pool.submit(_prepare_batch, prep, batch)
        for slot in slots:
            slot[0] = future
        batch, slots, batch_bytes = [], [], 0

    while True:
        while not exhausted and len(pending) < WINDOW_ENTRIES and in_flight < WINDOW_BYTES:
            entry = next(source, None)
            if entry is None:
                exhausted = True
                break
            if not prep.needs_worker(entry):
                pending.append((entry, None))
                continue
            slot = [None, len(batch)]
            batch.append(entry)
            slots.append(slot)
            pending.append((entry, slot))
            batch_bytes += entry.size
            in_flight += entry.size
            if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
                submit()
        if batch:
            submit()
        if not pending:
            return
        check_cancel(cancel)
        entry, slot = pending.popleft()
        if slot is None:
            yield entry, Prepared()
            continue
        in_flight -= entry.size
        future, index = slot
        yield entry, future.result()[index]


def pack(
    env: Environment,
    options: PackOptions = PackOptions(),
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> PackResult:
    """Pack `env` as `options` say. With dry_run, analyse and report but write nothing."""
    start = time.perf_counter()
    subdir = subdir_from_options(options.arch, options.platform)
    output, fmt = resolve_output(env, options)
    level = validate_level(fmt, options.level if options.level is not None else default_level(fmt))
    relocate = options.relocate_prefix
    if relocate is not None and (not relocate.startswith("/") or "\0" in relocate):
        raise UsageError(f"--relocate-prefix {relocate!r}: must be an absolute path")
    plan = make_plan(
        env,
        subdir=subdir,
        ignore_missing_files=options.ignore_missing_files,
        ignore_editable_packages=options.ignore_editable_packages,
        relocate_prefix=relocate,
    )
    result = PackResult(None if options.dry_run else output, fmt, plan)
    prep = _Preparer(env, options)
    total_files, total_bytes = len(plan.entries), plan.total_bytes
    done_files = done_bytes = 0
    last_report = 0.0
    relocated: dict[str, dict] = {}  # name -> its relocation, for hard links to it

    def report(current: str, force: bool = False) -> None:
        nonlocal last_report
        now = time.perf_counter()
        if progress is not None and (force or now - last_report > 0.05):
            last_report = now
            progress(Progress("pack", done_files, total_files, done_bytes, total_bytes, current))

    threads = options.threads or os.cpu_count() or 1
    writer = None if options.dry_run else open_writer(output, fmt, level=level, threads=threads)
    try:
        with ThreadPoolExecutor(max(2, threads)) as pool:
            try:
                for entry, prepared in _window(plan.entries, pool, prep, cancel):
                    if prepared.relocation:
                        result.relocations.append(prepared.relocation)
                        relocated[entry.name] = prepared.relocation
                    elif entry.kind == "hardlink" and entry.target in relocated:
                        # zip has no links: the copy it stores must be relocated too
                        result.relocations.append({**relocated[entry.target], "path": entry.name})
                    if prepared.finding:
                        result.findings.append(prepared.finding)
                    result.restored += prepared.verified
                    result.rpath_fixes += [(entry.name, *fix) for fix in prepared.rpath_fixes]
                    if writer is not None:
                        _write(writer, env, entry, prepared)
                    result.names.append(entry.name)
                    done_files += 1
                    done_bytes += entry.size
                    report(entry.name)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        for archive_entry, data in _generated(plan, result.relocations, relocate, env):
            if writer is not None:
                writer.add(archive_entry, data if archive_entry.kind == "file" else None)
            result.names.append(archive_entry.name)
        check_cancel(cancel)
        if writer is not None:
            writer.commit()
            result.bytes_out = _size(output)
    except BaseException as exc:
        if writer is not None:
            writer.abort()
            if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
                raise CondaPackageError(
                    f"{output}: {exc.strerror} while writing (the disk or your quota is full,"
                    " or a file size limit applies); nothing was written: free some space or"
                    " write elsewhere with -o"
                ) from exc
        raise
    result.bytes_in = total_bytes
    result.seconds = time.perf_counter() - start
    report("", force=True)
    return result


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(
            os.lstat(os.path.join(root, f)).st_size
            for root, _, files in os.walk(path)
            for f in files
        )
    return os.path.getsize(path)


def _write(writer, env: Environment, entry: PlanEntry, prepared: Prepared) -> None:
    if entry.kind != "file":
        writer.add(
            ArchiveEntry(entry.name, entry.kind, entry.mode, entry.mtime, target=entry.target)
        )
        return
    if prepared.content is not None:
        data = prepared.content
        writer.add(ArchiveEntry(entry.name, "file", entry.mode, entry.mtime, len(data)), data)
        return
    with open_env_file(os.path.join(env.prefix, entry.name)) as fh:
        size = os.fstat(fh.fileno()).st_size
        writer.add(ArchiveEntry(entry.name, "file", entry.mode, entry.mtime, size), fh)
