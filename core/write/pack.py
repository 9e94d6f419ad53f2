"""Pack an environment: stream the plan into an archive, restoring prefix files on the way.

Files are read once, in worker threads (-j of them), a bounded window ahead of the writer:
small files in batches, large ones in parts. For tar outputs the workers also serialise
what they read and, where the codec allows, compress it, so the writer only puts the
results in plan order.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from .. import __version__
from ..archive import (
    ArchiveEntry,
    ArchiveWriter,
    CompressedRun,
    TarMembers,
    default_level,
    format_from_path,
    open_writer,
    validate_level,
)
from ..errors import CondaPackageError, OutputExists, OutputInsideEnvironment, UsageError
from ..load import Environment, PackageRecord, env_file_error, open_env_file
from ..plan import STATE_DIR, PackPlan, PlanEntry, make_plan, subdir_from_options
from ..progress import Progress, ProgressCallback, check_cancel
from ..relocate import restore_package_bytes
from ..unpack import (
    MANIFEST_NAME,
    PREFIX_STATE_NAME,
    binary_room,
    relocate_bytes,
    shipped_files,
)

SMALL_FILE = 1 << 20  # read whole in a worker; larger copies go in parts (or stream)
PART_BYTES = 4 << 20  # a large file's part, read and compressed by one worker
WINDOW_BYTES = 64 << 20  # bytes read ahead of the writer, at most (bounded memory)
WINDOW_BATCHES = 8
BATCH_FILES = 128
BATCH_BYTES = 4 << 20
CHUNK_READ = 1 << 20
_Seal = Callable[[list[bytes]], "list[bytes] | CompressedRun"]
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
    """What a worker made of one entry: its bytes and notes."""

    content: bytes
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


def _record_bytes(path: str, size: int, record: PackageRecord) -> bytes:
    """A conda-meta record without this machine's package-cache paths.

    Each path is blanked where it stands, so the rest stays as its installer wrote it
    (and no JSON is re-encoded); a value spelt in a way we do not find is handled by
    parsing and writing the record anew.
    """
    data = _read(path, size)
    raw = record.raw  # parsed when the environment was loaded
    values = [raw.get(key) for key in RECORD_CACHE_KEYS]
    if isinstance(raw.get("link"), dict):
        values.append(raw["link"].get("source"))
    for value in dict.fromkeys(values):  # conda writes the same path for two of them
        if not isinstance(value, str) or not value:
            continue
        spellings = {json.dumps(value).encode(), json.dumps(value, ensure_ascii=False).encode()}
        found = [s for s in spellings if s in data]
        if not found:
            return _rewritten_record(json.loads(data))
        for spelling in found:
            data = data.replace(spelling, b'""')
    return data


def _rewritten_record(data: dict) -> bytes:
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
        self.records = {f"conda-meta/{r.record_file}": r for r in env.records}

    def path(self, entry: PlanEntry) -> str:
        return f"{self.env.prefix}/{entry.name}"

    def large(self, entry: PlanEntry) -> bool:
        """A plain copy too large to read whole: read in parts, or streamed by the writer
        (and by a dry run, which reads no plain copy at all)."""
        return (
            entry.kind == "file"
            and entry.action == "copy"
            and not self.fix_rpath
            and (self.dry_run or entry.size > SMALL_FILE)
        )

    def _fix_rpath(self, entry: PlanEntry, data: bytes) -> tuple[bytes, tuple]:
        """Absolute RPATH/RUNPATH entries into the prefix become $ORIGIN-relative, in the
        archived copy only; files whose record covers the prefix are left to conda-unpack."""
        # Imported here: pyelftools' import is a tenth of a plain pack's start-up.
        from ..analyse.elf import ElfError, is_elf, origin_relative, read_elf, rewrite_rpath

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
            record = self.records[entry.name]
            return Prepared(_record_bytes(self.path(entry), entry.size, record))
        data = _read(self.path(entry), entry.size)
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
        f"{STATE_DIR}/{MANIFEST_NAME}": ((json.dumps(manifest, indent=1) + "\n").encode(), 0o644),
        **shipped_files(),
    }
    if relocate_prefix:
        files[f"{STATE_DIR}/{PREFIX_STATE_NAME}"] = (f"{relocate_prefix}\n".encode(), 0o644)
    for name in sorted(files):
        data, mode = files[name]
        out.append((ArchiveEntry(name, "file", mode, 0, len(data)), data))
    return out


@contextlib.contextmanager
def _env_errors(path: str) -> Iterator[None]:
    """OS errors on a file of the environment, told as what to do about them."""
    try:
        yield
    except OSError as exc:
        error = env_file_error(path, exc)
        if error is exc:
            raise
        raise error from exc


def _open(path: str) -> int:
    """Without blocking: a file that became a pipe since the walk must not hang the pack."""
    with _env_errors(path):
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)


def _read(path: str, size: int) -> bytes:
    """A whole file by os.read: open() and its buffering cost more than the reading for
    the small files most of an environment is made of. Reads to the end, so a file that
    changed since the walk is packed as it is now."""
    fd = _open(path)
    try:
        try:
            data = os.read(fd, size + 1)
        except BlockingIOError:  # a pipe with a writer
            data = b""
        if len(data) == size:  # what lstat said, and the file ends there: the usual case
            return data
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CondaPackageError(
                f"{path}: became a socket, pipe or device while packing; nothing was written,"
                " run again"
            )
        chunks = [data]
        while piece := os.read(fd, CHUNK_READ):
            chunks.append(piece)
    finally:
        os.close(fd)
    return b"".join(chunks)


@dataclass
class _Batch:
    """What a worker made of a run of entries, for the writer and for the result."""

    size: int
    members: list[bytes] | CompressedRun | None = None  # the run sealed for a tar writer
    contents: list[bytes | None] = field(default_factory=list)  # else: per entry
    notes: list[tuple[PlanEntry, Prepared | None]] = field(default_factory=list)


def _noteworthy(prepared: Prepared) -> bool:
    return bool(
        prepared.relocation or prepared.finding or prepared.verified or prepared.rpath_fixes
    )


def _prepare_batch(
    prep: _Preparer, entries: list[PlanEntry], seal: _Seal | None, size: int
) -> _Batch:
    """Read and prepare a run of entries; for tar outputs, serialise (and compress) them
    here too, so that this is done in parallel and the writer gets the run in one piece."""
    batch = _Batch(size)
    members = TarMembers()
    for entry in entries:
        content = None
        if entry.kind == "file" and entry.action == "copy" and not prep.fix_rpath:
            content = _read(prep.path(entry), entry.size)  # most files: nothing more to do
        elif entry.kind == "file":
            prepared = prep(entry)
            content = prepared.content
            if _noteworthy(prepared):
                batch.notes.append((entry, prepared))
        elif entry.kind == "hardlink":
            batch.notes.append((entry, None))  # relocated when its target is
        if seal is not None:
            members.add(
                entry.name, entry.kind, entry.mode, entry.mtime, content or b"", entry.target
            )
        else:
            batch.contents.append(content)
    if seal is not None:
        batch.members = seal(members.finish())
    return batch


class _Run(NamedTuple):
    """Entries for one worker job, in plan order."""

    entries: list[PlanEntry]
    size: int  # bytes of content it holds
    how: str = "batch"  # batch, part (of one large file) or stream (the writer reads it)
    part: tuple[int, int] = (0, 0)  # a part's offset and the file's size

    @property
    def first(self) -> bool:
        """Whether the run starts its entries (a large file's later parts do not)."""
        return self.part[0] == 0

    @property
    def last(self) -> bool:
        """Whether the run ends its entries (a large file's earlier parts do not)."""
        return self.how != "part" or self.part[0] + self.size == self.part[1]


def _runs(entries: tuple[PlanEntry, ...], prep: _Preparer, parts: bool) -> Iterator[_Run]:
    """The plan in order as runs for the workers (BATCH_FILES entries or BATCH_BYTES); each
    large file alone, in parts of PART_BYTES when `parts`, else streamed."""
    run: list[PlanEntry] = []
    size = 0
    for entry in entries:
        if prep.large(entry):
            if run:
                yield _Run(run, size)
                run, size = [], 0
            if not parts:
                yield _Run([entry], 0, "stream")
                continue
            total = _current_size(prep.path(entry))  # as it is now, not when loaded
            for offset in range(0, max(total, 1), PART_BYTES):
                yield _Run([entry], min(PART_BYTES, total - offset), "part", (offset, total))
            continue
        run.append(entry)
        size += entry.size
        if len(run) >= BATCH_FILES or size >= BATCH_BYTES:
            yield _Run(run, size)
            run, size = [], 0
    if run:
        yield _Run(run, size)


def _current_size(path: str) -> int:
    with _env_errors(path):
        return os.lstat(path).st_size


def _prepare_part(prep: _Preparer, run: _Run, seal: _Seal) -> _Batch:
    """Read one part of a large file and serialise (and compress) it, like a batch."""
    entry = run.entries[0]
    offset, total = run.part
    fd = _open(prep.path(entry))
    try:
        chunks = []
        got = 0
        while got < run.size and (piece := os.pread(fd, run.size - got, offset + got)):
            chunks.append(piece)
            got += len(piece)
        if got < run.size:
            raise CondaPackageError(f"{entry.name} shrank while it was being packed")
        if run.last and os.pread(fd, 1, total):
            raise CondaPackageError(f"{entry.name} grew while it was being packed")
    finally:
        os.close(fd)
    members = TarMembers()
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    members.add_part(entry.name, entry.mode, entry.mtime, total, offset, data)
    return _Batch(run.size, seal(members.finish()))


def _window(
    entries: tuple[PlanEntry, ...],
    pool: ThreadPoolExecutor,
    prep: _Preparer,
    seal: _Seal | None,
    cancel: threading.Event | None,
) -> Iterator[tuple[_Run, _Batch | None]]:
    """Yield runs in plan order with what the workers made of them (None: a file to
    stream), at most WINDOW_BYTES and WINDOW_BATCHES ahead of the writer."""
    pending: deque[tuple[_Run, Future[_Batch] | None]] = deque()
    in_flight = 0
    runs = _runs(entries, prep, parts=seal is not None)
    exhausted = False
    while True:
        while not exhausted and len(pending) < WINDOW_BATCHES and in_flight < WINDOW_BYTES:
            run = next(runs, None)
            if run is None:
                exhausted = True
                break
            future = None
            if run.how == "part":
                assert seal is not None
                future = pool.submit(_prepare_part, prep, run, seal)
            elif run.how == "batch":
                future = pool.submit(_prepare_batch, prep, run.entries, seal, run.size)
            pending.append((run, future))
            in_flight += run.size
        if not pending:
            return
        check_cancel(cancel)
        run, future = pending.popleft()
        in_flight -= run.size
        yield run, future.result() if future is not None else None


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
    result.findings += [
        f"{path}: a socket, pipe or device, left out (an archive holds no such thing)"
        for path in plan.special
    ]
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
    seal = writer.seal_members if writer is not None and writer.takes_tar_members else None
    report("", force=True)  # the totals, before the first batch is ready
    try:
        with ThreadPoolExecutor(threads) as pool:
            try:
                for run, batch in _window(plan.entries, pool, prep, seal, cancel):
                    if batch is None:  # one large file, streamed from disk
                        if writer is not None:
                            _stream(writer, env, run.entries[0])
                    else:
                        if writer is not None:
                            _write(writer, run, batch)
                        for entry, prepared in batch.notes:
                            if prepared is None:
                                # zip has no links: the copy it stores must be relocated too
                                if entry.target in relocated:
                                    reloc = {**relocated[entry.target], "path": entry.name}
                                    result.relocations.append(reloc)
                                continue
                            if prepared.relocation:
                                result.relocations.append(prepared.relocation)
                                relocated[entry.name] = prepared.relocation
                            if prepared.finding:
                                result.findings.append(prepared.finding)
                            result.restored += prepared.verified
                            result.rpath_fixes += [(entry.name, *f) for f in prepared.rpath_fixes]
                    if run.last:
                        result.names += [entry.name for entry in run.entries]
                        done_files += len(run.entries)
                    done_bytes += run.size if run.how != "stream" else run.entries[0].size
                    report(run.entries[-1].name)
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


def _write(writer: ArchiveWriter, run: _Run, batch: _Batch) -> None:
    if batch.members is not None:
        entries = run.entries if run.first else []  # a large file's later parts: no names
        names = [entry.name for entry in entries]
        linkable = [e.name for e in entries if e.kind in ("file", "hardlink")]
        writer.add_tar_members(batch.members, names, linkable)
        return
    for entry, content in zip(run.entries, batch.contents, strict=True):
        size = len(content) if content is not None else 0
        archive_entry = ArchiveEntry(
            entry.name, entry.kind, entry.mode, entry.mtime, size, entry.target
        )
        writer.add(archive_entry, content)


def _stream(writer: ArchiveWriter, env: Environment, entry: PlanEntry) -> None:
    with open_env_file(os.path.join(env.prefix, entry.name)) as fh:
        size = os.fstat(fh.fileno()).st_size
        writer.add(ArchiveEntry(entry.name, "file", entry.mode, entry.mtime, size), fh)
