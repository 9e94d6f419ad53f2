"""The packer's schedule: the plan cut into runs that workers read a bounded window ahead.

Small files go in batches, large ones in parts. For tar outputs the workers also serialise
what they read and, where the codec allows, compress it, so the writer only puts the results
in plan order.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Protocol

from ..archive import CompressedRun, TarMembers, TarWriter
from ..errors import CondaPackageError
from ..plan import PlanEntry
from ..progress import check_cancel
from .files import current_size, open_file
from .prepare import Prepared, Preparer
from .rewrite import Rewrite

PART_BYTES = 4 << 20  # a large file's part, read and compressed by one worker
WINDOW_BYTES = 64 << 20  # bytes read ahead of the writer, at most (bounded memory)
WINDOW_BATCHES = 8
BATCH_FILES = 128
BATCH_BYTES = 4 << 20
RunKind = Literal["batch", "part", "stream", "rewrite"]


@dataclass
class Batch:
    """What a worker made of a run of entries, for the writer and for the result."""

    size: int
    members: list[bytes] | CompressedRun | None = None  # the run sealed for a tar writer
    contents: list[bytes | None] = field(default_factory=list)  # else: per entry
    notes: list[tuple[PlanEntry, Prepared | None]] = field(default_factory=list)
    rewrite: Rewrite | None = None  # one large file, for the writer to stream so


def noteworthy(prepared: Prepared) -> bool:
    return bool(
        prepared.relocation or prepared.finding or prepared.verified or prepared.rpath_fixes
    )


def prepare_batch(
    prep: Preparer, entries: list[PlanEntry], tar: TarWriter | None, size: int
) -> Batch:
    """Read and prepare a run of entries; for tar outputs, serialise (and compress) them
    here too, so that this is done in parallel and the writer gets the run in one piece."""
    batch = Batch(size)
    members = TarMembers(tar.root if tar is not None else "")
    for entry, (content, prepared) in zip(entries, prep.read_all(entries), strict=True):
        if prepared is not None and noteworthy(prepared):
            batch.notes.append((entry, prepared))
        elif entry.kind == "hardlink":
            batch.notes.append((entry, None))  # relocated when its target is
        if tar is not None:
            members.add(
                entry.name, entry.kind, entry.mode, entry.mtime, content or b"", entry.target
            )
        else:
            batch.contents.append(content)
    if tar is not None:
        batch.members = tar.seal_members(members.finish())
    return batch


class Run(NamedTuple):
    """Entries for one worker job, in plan order."""

    entries: list[PlanEntry]
    size: int  # bytes of content it holds
    # batch; part (of one large file); stream (the writer reads it); rewrite (a worker
    # decides how a large file changes, the writer streams it so)
    how: RunKind = "batch"
    part: tuple[int, int] = (0, 0)  # a part's offset and the file's size

    @property
    def first(self) -> bool:
        """Whether the run starts its entries (a large file's later parts do not)."""
        return self.part[0] == 0

    @property
    def last(self) -> bool:
        """Whether the run ends its entries (a large file's earlier parts do not)."""
        return self.how != "part" or self.part[0] + self.size == self.part[1]


class Gate(Protocol):
    """Entries that come as they are made (byte-code being compiled): whether the next one
    can be had without waiting."""

    def ready(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> None: ...


def runs(
    entries: Iterable[PlanEntry], prep: Preparer, parts: bool, gate: Gate | None = None
) -> Iterator[Run | None]:
    """The plan in order as runs for the workers (BATCH_FILES entries or BATCH_BYTES); each
    large file alone, in parts of PART_BYTES when `parts`, else streamed. None when the
    gate says the next entry is not there yet: the run being made is kept (runs are cut
    where they would be without a gate), and asking again later goes on with it."""
    run: list[PlanEntry] = []
    size = 0
    todo = iter(entries)
    while True:
        if gate is not None and not gate.ready():
            yield None
            continue
        entry = next(todo, None)
        if entry is None:
            break
        handling = prep.handling(entry)
        if handling != "read":
            if run:
                yield Run(run, size)
                run, size = [], 0
            if handling == "rewrite":
                yield Run([entry], 0, "rewrite")
                continue
            if not parts:
                yield Run([entry], 0, "stream")
                continue
            total = current_size(prep.path(entry))  # as it is now, not when loaded
            for offset in range(0, max(total, 1), PART_BYTES):
                yield Run([entry], min(PART_BYTES, total - offset), "part", (offset, total))
            continue
        run.append(entry)
        size += entry.size
        if len(run) >= BATCH_FILES or size >= BATCH_BYTES:
            yield Run(run, size)
            run, size = [], 0
    if run:
        yield Run(run, size)


def prepare_part(prep: Preparer, run: Run, tar: TarWriter) -> Batch:
    """Read one part of a large file and serialise (and compress) it, like a batch."""
    entry = run.entries[0]
    offset, total = run.part
    fd = open_file(prep.path(entry))
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
    members = TarMembers(tar.root)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    members.add_part(entry.name, entry.mode, entry.mtime, total, offset, data)
    return Batch(run.size, tar.seal_members(members.finish()))


def prepare_rewrite(prep: Preparer, run: Run) -> Batch:
    """Decide how one large file changes on its way into the archive; nothing held."""
    entry = run.entries[0]
    prepared = prep.rewrite(entry)
    notes: list[tuple[PlanEntry, Prepared | None]] = []
    if noteworthy(prepared):
        notes.append((entry, prepared))
    return Batch(0, notes=notes, rewrite=prepared.rewrite)


def window(
    entries: Iterable[PlanEntry],
    pool: ThreadPoolExecutor,
    prep: Preparer,
    tar: TarWriter | None,
    cancel: threading.Event | None,
    gate: Gate | None = None,
) -> Iterator[tuple[Run, Batch | None]]:
    """Yield runs in plan order with what the workers made of them (None: a file to
    stream), at most WINDOW_BYTES and WINDOW_BATCHES ahead of the writer; for a tar
    writer, the workers serialise and seal the runs for it. With a gate, what is ready is
    written while the rest is awaited."""
    pending: deque[tuple[Run, Future[Batch] | None]] = deque()
    in_flight = 0
    todo = runs(entries, prep, tar is not None, gate)
    exhausted = False
    while True:
        while not exhausted and len(pending) < WINDOW_BATCHES and in_flight < WINDOW_BYTES:
            run = next(todo, _END)
            if run is None:  # not ready: hand out what is, else wait for it
                if pending:
                    break
                assert gate is not None
                check_cancel(cancel)
                gate.wait(0.1)
                continue
            if run is _END:
                exhausted = True
                break
            future = None
            if run.how == "part":
                assert tar is not None
                future = pool.submit(prepare_part, prep, run, tar)
            elif run.how == "batch":
                future = pool.submit(prepare_batch, prep, run.entries, tar, run.size)
            elif run.how == "rewrite":
                future = pool.submit(prepare_rewrite, prep, run)
            pending.append((run, future))
            in_flight += run.size
        if not pending:
            return
        check_cancel(cancel)
        run, future = pending.popleft()
        in_flight -= run.size
        yield run, future.result() if future is not None else None


_END = Run([], 0)  # window(): no runs left
