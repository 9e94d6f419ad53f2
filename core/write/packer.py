"""Pack an environment: stream the plan into an archive, restoring prefix files on the way.

Files are read once, in worker threads (-j of them), a bounded window ahead of the writer:
small files in batches, large ones in parts. For tar outputs the workers also serialise
what they read and, where the codec allows, compress it, so the writer only puts the
results in plan order.
"""

from __future__ import annotations

import errno
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from ..archive import (
    ArchiveEntry,
    ArchiveWriter,
    InstallerInfo,
    TarWriter,
    archive_format,
    check_zip32,
    open_writer,
)
from ..errors import CondaPackageError
from ..load import Environment, open_env_file
from ..paths import fsencode
from ..plan import PackOptions, PackPlan, PackSettings, PlanEntry, plan_for, validate
from ..progress import Progress, ProgressCallback, Throttle, check_cancel
from ..threads import IOPool
from .bytecache import BytecodeCache
from .bytecode import BytecodeCompile, can_compile
from .generated import generated_entries
from .image import ImageLayout, image_layout
from .parcel import check_meta_free
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
    image: ImageLayout | None = None  # a squashfs image: where its files point
    needs_link: list[str] = field(default_factory=list)  # an image's files naming its link
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
    # The walk's verdict on the filesystem: the packer's own reads are timed beside its
    # compressing workers, which made every pack on a local disk start 64 I/O threads.
    io = IOPool(settings.io_threads, slow=env.slow_filesystem)
    try:
        return _plan_and_pack(env, options, settings, io, progress, cancel, start)
    finally:
        io.close()


def _plan_and_pack(
    env: Environment,
    options: PackOptions,
    settings: PackSettings,
    io: IOPool,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    start: float,
) -> PackResult:
    plan = plan_for(env, options, settings, io)
    if settings.parcel:
        check_meta_free(plan)
    image = image_layout(plan, settings.relocate_prefix) if settings.format == "squashfs" else None
    relocate = image.prefix if image else settings.relocate_prefix
    if not options.dry_run:  # --force: missing folders are made, as conda-pack does
        os.makedirs(os.path.dirname(settings.output), exist_ok=True)
    # An image cannot take the byte-code Python would write: it gets it at pack time.
    compile_it = settings.compile_bytecode or (image is not None and can_compile(env))
    if not compile_it or options.dry_run:
        return _pack(env, options, settings, plan, None, image, io, progress, cancel, start)
    # Beside the output: outside the environment, as the output is. Compiled while the
    # packer writes what sorts before the byte-code; groups compiled before are taken from
    # the user's cache.
    with tempfile.TemporaryDirectory(
        prefix=".conda-package-bytecode-", dir=os.path.dirname(settings.output)
    ) as into:
        cache = BytecodeCache.default()
        job = BytecodeCompile(env, plan, into, relocate, settings.threads, cache)
        try:
            return _pack(env, options, settings, plan, job, image, io, progress, cancel, start)
        finally:
            job.close()
            cache.prune()


def _pack(
    env: Environment,
    options: PackOptions,
    settings: PackSettings,
    plan: PackPlan,
    job: BytecodeCompile | None,
    image: ImageLayout | None,
    io: IOPool,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    start: float,
) -> PackResult:
    output, fmt = settings.output, settings.format
    relocate = image.prefix if image else settings.relocate_prefix  # a parcel sets it too
    compiled = job.compiled if job is not None else None
    prep = Preparer(env, replace(options, relocate_prefix=relocate), compiled, image, io)
    if job is not None and (fmt == "sh" or (fmt == "zip" and not options.zip64)):
        plan, job = job.plan(), None  # their totals are written or checked first
    if fmt == "zip" and not options.zip64:
        _check_zip32(output, plan, len(generated_entries(plan, [], relocate, env, prep)))
    result = _new_result(plan, None if options.dry_run else output, fmt, image)
    notes = _Notes(result)
    tell = _Reporter(progress, len(plan.entries), plan.total_bytes)  # byte-code: added later
    writer = None if options.dry_run else _open_output(env, plan, settings, options)
    tar = writer if isinstance(writer, TarWriter) else None
    tell("", force=True)  # the totals, before the first batch is ready
    try:
        with ThreadPoolExecutor(settings.threads) as pool:
            try:
                entries = plan.entries if job is None else job.entries()
                for run, batch in window(entries, pool, prep, tar, cancel, job):
                    if tell.estimated and job is not None and (totals := job.totals()):
                        tell.files, tell.size = totals
                        tell.estimated = False
                    if writer is not None:
                        _write(writer, prep, run, batch)
                    if batch is not None:
                        notes.take(batch)
                    if run.last:
                        result.names += [entry.name for entry in run.entries]
                    tell.step(run)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        if job is not None:
            plan = result.plan = job.plan()  # handed out whole by now
        extra = generated_entries(
            plan,
            result.relocations,
            relocate,
            env,
            prep,
            settings.parcel,
            image,
            notes.links,
            settings.label,
        )
        for archive_entry, data in extra:
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


def _new_result(
    plan: PackPlan, output: str | None, fmt: str, image: ImageLayout | None
) -> PackResult:
    """The result, with what the plan found worth saying before a byte is written."""
    result = PackResult(output, fmt, plan, image=image)
    result.findings += [
        f"{path}: a socket, pipe or device, left out (an archive holds no such thing)"
        for path in plan.special
    ]
    result.findings += plan.notes
    result.findings += [clash.note for clash in plan.clashes]
    return result


def _open_output(
    env: Environment, plan: PackPlan, settings: PackSettings, options: PackOptions
) -> ArchiveWriter:
    """The writer of the output; an installer's header is told the sizes and the room."""
    rooms = [len(fsencode(e.placeholder)) for e in plan.entries if e.file_mode == "binary"]
    about = InstallerInfo(
        env.name, plan.subdir, plan.total_bytes, len(plan.entries), min(rooms, default=0)
    )
    return open_writer(
        settings.output,
        archive_format(settings.format),
        level=settings.level,
        threads=settings.threads,
        root=settings.arcroot,
        zip64=options.zip64,
        installer=about,
        squashfs=settings.squashfs,
    )


class _Notes:
    """What the workers noted about the entries, gathered into the result in plan order."""

    def __init__(self, result: PackResult) -> None:
        self.result = result
        self.relocated: dict[str, Relocation] = {}  # name -> its relocation, for hard links
        self.links = result.needs_link

    def take(self, batch: Batch) -> None:
        result = self.result
        for entry, prepared in batch.notes:
            if prepared is None:  # a hard link
                if entry.target in self.relocated:  # zip stores a copy: relocate it too
                    copy = replace(self.relocated[entry.target], path=entry.name)
                    result.relocations.append(copy)
                    self.relocated[entry.name] = copy  # a link to this link is a copy too
                if entry.target in self.links:
                    self.links.append(entry.name)
                continue
            if prepared.needs_link:
                self.links.append(entry.name)
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
        self.estimated = True  # the totals lack byte-code still being compiled
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


def _check_zip32(output: str, plan: PackPlan, generated: int) -> None:
    """--no-zip-64: refuse before writing a zip that is sure to need ZIP64."""
    largest = max((e for e in plan.entries if e.kind == "file"), key=lambda e: e.size, default=None)
    count = len(plan.entries) + generated
    check_zip32(output, count, largest.name if largest else "", largest.size if largest else 0)


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(
            os.lstat(os.path.join(root, f)).st_size
            for root, _, files in os.walk(path)
            for f in files
        )
    return os.path.getsize(path)


def _write(writer: ArchiveWriter, prep: Preparer, run: Run, batch: Batch | None) -> None:
    if batch is None:  # one large file, streamed from disk by the writer
        _stream(writer, prep.path(run.entries[0]), run.entries[0])
        return
    if batch.rewrite is not None:  # one large file, streamed through its rewrite
        entry = run.entries[0]
        archive_entry = ArchiveEntry(
            entry.name, "file", entry.mode, entry.mtime, batch.rewrite.size
        )
        with RewriteReader(prep.path(entry), batch.rewrite) as reader:
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


def _stream(writer: ArchiveWriter, path: str, entry: PlanEntry) -> None:
    with open_env_file(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        writer.add(ArchiveEntry(entry.name, "file", entry.mode, entry.mtime, size), fh)
