"""Pack an environment: stream the plan into an archive, restoring prefix files on the way.

Files are read once, in worker threads (-j of them), a bounded window ahead of the writer:
small files in batches, large ones in parts. For tar outputs the workers also serialise
what they read and, where the codec allows, compress it, so the writer only puts the
results in plan order.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from ..archive import ArchiveEntry, ArchiveWriter, TarWriter, open_writer
from ..errors import CondaPackageError
from ..load import Environment, open_env_file
from ..plan import PackOptions, PackPlan, PackSettings, PlanEntry, make_plan, validate
from ..progress import Progress, ProgressCallback, Throttle, check_cancel
from ..threads import IOPool
from .generated import generated_entries
from .prepare import Preparer, Relocation
from .rewrite import RewriteReader
from .schedule import Batch, Run, window

# Write errors that mean the output does not fit where it goes.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass
class PackResult:
    output: str | None
    format: str
    plan: PackPlan
    names: list[str] = field(default_factory=list)
    relocations: list[Relocation] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    restored: int = 0
    rpath_fixes: list[tuple[str, str, str]] = field(default_factory=list)  # path, old, new
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0

    @property
    def room(self) -> int | None:
        """Longest target prefix that fits every binary file packed."""
        rooms = [r.room for r in self.relocations if r.room]
        return min(rooms) if rooms else None


def pack(
    env: Environment,
    options: PackOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> PackResult:
    """Pack `env` as `options` say. With dry_run, analyse and report but write nothing."""
    options = options or PackOptions()
    start = time.perf_counter()
    settings = validate(env, options)
    io = IOPool(settings.io_threads)
    try:
        plan = make_plan(
            env,
            subdir=settings.subdir,
            ignore_missing_files=options.ignore_missing_files,
            ignore_editable_packages=options.ignore_editable_packages,
            relocate_prefix=settings.relocate_prefix,
            pool=io,
        )
        return _pack(env, options, settings, plan, io, progress, cancel, start)
    finally:
        io.close()


def _pack(
    env: Environment,
    options: PackOptions,
    settings: PackSettings,
    plan: PackPlan,
    io: IOPool,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    start: float,
) -> PackResult:
    output, fmt, relocate = settings.output, settings.format, settings.relocate_prefix
    result = PackResult(None if options.dry_run else output, fmt, plan)
    result.findings += [
        f"{path}: a socket, pipe or device, left out (an archive holds no such thing)"
        for path in plan.special
    ]
    prep = Preparer(env, options, io)
    notes = _Notes(result)
    tell = _Reporter(progress, len(plan.entries), plan.total_bytes)
    writer = None
    if not options.dry_run:
        writer = open_writer(output, fmt, level=settings.level, threads=settings.threads)
    seal = writer.seal_members if isinstance(writer, TarWriter) else None
    tell("", force=True)  # the totals, before the first batch is ready
    try:
        with ThreadPoolExecutor(settings.threads) as pool:
            try:
                for run, batch in window(plan.entries, pool, prep, seal, cancel):
                    if writer is not None:
                        _write(writer, env, run, batch)
                    if batch is not None:
                        notes.take(batch)
                    if run.last:
                        result.names += [entry.name for entry in run.entries]
                    tell.step(run)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        for archive_entry, data in generated_entries(plan, result.relocations, relocate, env):
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
    result.bytes_in = plan.total_bytes
    result.seconds = time.perf_counter() - start
    tell("", force=True)
    return result


class _Notes:
    """What the workers noted about the entries, gathered into the result in plan order."""

    def __init__(self, result: PackResult) -> None:
        self.result = result
        self.relocated: dict[str, Relocation] = {}  # name -> its relocation, for hard links

    def take(self, batch: Batch) -> None:
        result = self.result
        for entry, prepared in batch.notes:
            if prepared is None:  # a hard link
                if entry.target in self.relocated:  # zip stores a copy: relocate it too
                    result.relocations.append(
                        replace(self.relocated[entry.target], path=entry.name)
                    )
                continue
            if prepared.relocation:
                result.relocations.append(prepared.relocation)
                self.relocated[entry.name] = prepared.relocation
            if prepared.finding:
                result.findings.append(prepared.finding)
            result.restored += prepared.verified
            result.rpath_fixes += [(entry.name, *fix) for fix in prepared.rpath_fixes]


class _Reporter:
    """Progress for the caller's callback, at most every PROGRESS_EVERY seconds."""

    def __init__(self, progress: ProgressCallback | None, files: int, size: int) -> None:
        self.progress = progress
        self.files, self.size = files, size
        self.done_files = self.done_bytes = 0
        self.throttle = Throttle()

    def step(self, run: Run) -> None:
        if run.last:
            self.done_files += len(run.entries)
        self.done_bytes += run.entries[0].size if run.how in ("stream", "rewrite") else run.size
        self(run.entries[-1].name)

    def __call__(self, current: str, force: bool = False) -> None:
        if self.progress is not None and self.throttle.ready(force):
            done = (self.done_files, self.files, self.done_bytes, self.size)
            self.progress(Progress("pack", *done, current))


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(
            os.lstat(os.path.join(root, f)).st_size
            for root, _, files in os.walk(path)
            for f in files
        )
    return os.path.getsize(path)


def _write(writer: ArchiveWriter, env: Environment, run: Run, batch: Batch | None) -> None:
    if batch is None:  # one large file, streamed from disk by the writer
        _stream(writer, env, run.entries[0])
        return
    if batch.rewrite is not None:  # one large file, streamed through its rewrite
        entry = run.entries[0]
        archive_entry = ArchiveEntry(
            entry.name, "file", entry.mode, entry.mtime, batch.rewrite.size
        )
        with RewriteReader(os.path.join(env.prefix, entry.name), batch.rewrite) as reader:
            writer.add(archive_entry, reader)
        return
    if batch.members is not None:
        assert isinstance(writer, TarWriter)  # only tar writers take sealed members
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
