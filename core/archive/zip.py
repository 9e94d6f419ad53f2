"""zip, written by hand so members compress on every core in 1 MiB blocks, with Unix
modes and symlinks stored as Info-ZIP does and zip64 fields where sizes need them."""

from __future__ import annotations

import functools
import stat
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from zlib_ng import zlib_ng

from ..errors import CondaPackageError, ZipNeedsZip64
from ..paths import fsencode
from .base import FileWriter
from .codecs import BlockResult, deflate
from .entry import CHUNK, ArchiveEntry, Buffer, Content, content_pieces
from .pipeline import Pipeline

_DOS_FIRST = 315532800  # 1980-01-01 00:00:00 UTC, the first time zip can hold
_DOS_LAST = 4354819198  # 2107-12-31 23:59:58 UTC, the last
_ZIP64_LIMIT = 0xFFFFFFFF  # sizes and offsets from here on need zip64 fields
_ZIP_COUNT_LIMIT = 0xFFFF  # as many entries need a zip64 end record
_MADE_BY = 3 << 8 | 45  # Unix, so unzip restores modes and symlinks; zip spec 4.5

_Job = Callable[[bytes, Buffer, bool], BlockResult]  # data, CRC-32 and length of the input


def _store(history: bytes, block: Buffer, final: bool) -> BlockResult:
    """The zip level 0 counterpart of deflate."""
    return bytes(block), zlib_ng.crc32(block), len(block)


def _big(size: int) -> bool:
    """Whether a member of `size` bytes takes zip64 fields (room for deflate's worst case)."""
    return size * 21 > _ZIP64_LIMIT * 20


def _refuse(path: str, why: str) -> ZipNeedsZip64:
    return ZipNeedsZip64(
        f"{path}: {why}, which needs ZIP64 extensions, and --no-zip-64 turns them off;"
        " drop --no-zip-64 or choose a tar format"
    )


def check_zip32(path: str, count: int, largest: str, size: int) -> None:
    """Refuse, before writing, a zip without ZIP64 that is sure to need it: too many entries
    (`count`) or a member too large (`largest`, of `size` bytes)."""
    if count >= _ZIP_COUNT_LIMIT:
        raise _refuse(path, f"{count} entries is more than a zip holds without them")
    if _big(size):
        raise _refuse(path, f"{largest} is {size} bytes")


def _run_batch(jobs: list[tuple[_Job, bytes]]) -> list[BlockResult]:
    return [job(b"", data, True) for job, data in jobs]


@dataclass(slots=True)
class _ZipMember:
    """What the central directory needs; offset, crc and csize fill in as data is written."""

    name: bytes
    flags: int
    method: int
    dos: tuple[int, int]  # DOS time, date
    extra: bytes  # extended timestamp
    attr: int
    size: int
    zip64: bool
    offset: int = 0  # of the local header
    data: int = 0  # offset of the stored data
    crc: int = 0
    csize: int = 0


def _member(entry: ArchiveEntry, file_type: int, method: int, size: int, zip64: bool) -> _ZipMember:
    """A member's fixed fields: its name as zip stores it, its times and its Unix mode."""
    name = entry.name + "/" if entry.kind == "dir" else entry.name
    try:
        raw_name = name.encode()
        flags = 0 if name.isascii() else 0x800  # UTF-8 name
    except UnicodeEncodeError:  # undecodable bytes: stored as they are
        raw_name, flags = fsencode(name), 0
    attr = (file_type | entry.mode) << 16
    if entry.kind == "dir":
        attr |= 0x10  # and the MS-DOS directory bit
    dos, extra = _dos_time(entry.mtime), _timestamp(entry.mtime)
    return _ZipMember(raw_name, flags, method, dos, extra, attr, size, zip64)


def _dos_time(mtime: int) -> tuple[int, int]:
    """DOS time and date, in UTC (they have no zone), clamped to the years zip can hold."""
    t = time.gmtime(min(max(mtime, _DOS_FIRST), _DOS_LAST))
    return (
        t.tm_hour << 11 | t.tm_min << 5 | t.tm_sec // 2,
        (t.tm_year - 1980) << 9 | t.tm_mon << 5 | t.tm_mday,
    )


def _timestamp(mtime: int) -> bytes:
    """The extended-timestamp field with the exact mtime, where 32 bits hold it."""
    if -(2**31) <= mtime < 2**31:
        return struct.pack("<HHBi", 0x5455, 5, 1, mtime)
    return b""


class ZipWriter(FileWriter):
    """zip with members compressed in parallel, written in order.

    Times are stored as UTC plus the exact mtime in an extended-timestamp field, so the
    output does not depend on the local time zone. A file over one block has its header
    patched with its CRC and compressed size once its data is written, so no data
    descriptors are needed.
    """

    def __init__(
        self, path: str, temp: str, raw: BinaryIO, level: int, threads: int, zip64: bool = True
    ) -> None:
        super().__init__(path, temp, raw)
        self._zip64 = zip64  # False: fail rather than write ZIP64 fields
        self._pipeline = Pipeline(threads, CHUNK)
        self._job: _Job = functools.partial(deflate, level) if level else _store
        self._method = 8 if level else 0
        self._offset = 0
        self._central = bytearray()
        self._count = 0
        self._batch: list[tuple[_ZipMember, _Job, bytes]] = []
        self._batch_size = 0
        self._members: dict[str, _ZipMember] = {}  # files, for hard links to copy
        self._reader: BinaryIO | None = None

    def _write(self, data: Buffer) -> None:
        self._raw.write(data)
        self._offset += len(data)

    def _add(self, entry: ArchiveEntry, content: Content) -> None:
        if entry.kind == "dir":
            self._batched(_member(entry, stat.S_IFDIR, 0, 0, False), _store, b"")
        elif entry.kind == "symlink":
            target = fsencode(entry.target)
            self._batched(_member(entry, stat.S_IFLNK, 0, len(target), False), _store, target)
        elif entry.kind == "hardlink":
            self._add_hardlink(entry)
        else:
            self._add_file(entry, content)

    def _add_hardlink(self, entry: ArchiveEntry) -> None:
        source = self._members[entry.target]
        member = _member(entry, stat.S_IFREG, source.method, source.size, source.zip64)
        self._members[entry.name] = member
        self._flush_batch()  # the copy must come after the data it copies
        self._pipeline.then(functools.partial(self._copy, member, source))

    def _add_file(self, entry: ArchiveEntry, content: Content) -> None:
        size = entry.size
        zip64 = _big(size)
        if zip64 and not self._zip64:
            raise _refuse(self.path, f"{entry.name} is {size} bytes")
        member = _member(entry, stat.S_IFREG, self._method, size, zip64)
        self._members[entry.name] = member
        if size <= CHUNK:
            self._batched(member, self._job, b"".join(content_pieces(entry.name, content, size)))
        else:
            self._flush_batch()
            self._blocks(entry.name, member, content, size)

    def _batched(self, member: _ZipMember, job: _Job, data: bytes) -> None:
        """Queue a member of one block; its header is complete when it is written.

        Small members go to the threads in batches: a job per file costs more in thread
        hand-offs than compressing a typical small file.
        """
        self._batch.append((member, job, data))
        self._batch_size += len(data)
        if self._batch_size >= CHUNK or len(self._batch) >= 1024:
            self._flush_batch()

    def _flush_batch(self) -> None:
        if not self._batch:
            return
        members = [member for member, _, _ in self._batch]
        jobs = [(job, data) for _, job, data in self._batch]
        then = functools.partial(self._write_batch, members)
        self._pipeline.submit(_run_batch, self._batch_size, jobs, then=then)
        self._batch = []
        self._batch_size = 0

    def _write_batch(self, members: list[_ZipMember], results: list[BlockResult]) -> None:
        for member, (data, crc, _) in zip(members, results, strict=True):
            member.crc = crc
            member.csize = len(data)
            self._start(member)
            self._write(data)
            self._record(member)

    def _blocks(self, name: str, member: _ZipMember, content: Content, size: int) -> None:
        """A member of many blocks, compressed in parallel, its header patched at the end."""
        self._pipeline.then(functools.partial(self._start, member))
        then = functools.partial(self._block, member)
        history = b""
        done = 0
        for piece in content_pieces(name, content, size):
            for start in range(0, len(piece), CHUNK):
                block = piece[start : start + CHUNK]
                done += len(block)
                last = done == size
                self._pipeline.submit(self._job, len(block), history, block, last, then=then)
                history = bytes(block[-(1 << 15) :])  # deflate's window
        self._pipeline.then(functools.partial(self._end_member, member))

    def _copy(self, member: _ZipMember, source: _ZipMember) -> None:
        """A hard link: zip has none, so it gets a copy of the linked member's stored data."""
        member.crc = source.crc
        member.csize = source.csize
        self._start(member)
        self._raw.flush()
        if self._reader is None:
            self._reader = open(self._temp, "rb")  # noqa: SIM115 (closed at the end)
        self._reader.seek(source.data)
        left = source.csize
        while left:
            piece = self._reader.read(min(left, CHUNK))
            left -= len(piece)
            self._write(piece)
        self._record(member)

    def _start(self, member: _ZipMember) -> None:
        if self._offset >= _ZIP64_LIMIT and not self._zip64:
            raise _refuse(self.path, "the archive grows past 4 GiB")
        member.offset = self._offset
        self._write(self._local_header(member))
        member.data = self._offset

    def _block(self, member: _ZipMember, result: BlockResult) -> None:
        data, crc, size = result
        member.crc = zlib_ng.crc32_combine(member.crc, crc, size)
        member.csize += len(data)
        self._write(data)

    def _end_member(self, member: _ZipMember) -> None:
        if member.csize >= _ZIP64_LIMIT and not member.zip64:
            raise CondaPackageError(f"{member.name.decode(errors='replace')}: too big for zip")
        header = self._local_header(member)
        self._raw.seek(member.offset)
        self._raw.write(header)
        self._raw.seek(self._offset)
        self._record(member)

    def _local_header(self, member: _ZipMember) -> bytes:
        extra = member.extra
        sizes = (member.csize, member.size)
        if member.zip64:
            extra += struct.pack("<HHQQ", 1, 16, member.size, member.csize)
            sizes = (0xFFFFFFFF, 0xFFFFFFFF)
        return b"".join(
            (
                struct.pack(
                    "<IHHHHHIIIHH",
                    0x04034B50,
                    45 if member.zip64 else 20,
                    member.flags,
                    member.method,
                    *member.dos,
                    member.crc,
                    *sizes,
                    len(member.name),
                    len(extra),
                ),
                member.name,
                extra,
            )
        )

    def _record(self, member: _ZipMember) -> None:
        """The member's central directory entry."""
        extra = member.extra
        big = [v for v in (member.size, member.csize) if member.zip64]
        offset = member.offset
        if offset >= _ZIP64_LIMIT:
            big.append(offset)
            offset = 0xFFFFFFFF
        if big:
            extra += struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big)
        sizes = (0xFFFFFFFF, 0xFFFFFFFF) if member.zip64 else (member.csize, member.size)
        self._central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            _MADE_BY,
            45 if big else 20,
            member.flags,
            member.method,
            *member.dos,
            member.crc,
            *sizes,
            len(member.name),
            len(extra),
            0,  # comment
            0,  # disk
            0,  # internal attributes
            member.attr,
            offset,
        )
        self._central += member.name + extra
        self._count += 1

    def _end(self) -> None:
        self._flush_batch()
        self._pipeline.drain()
        self._close_reader()
        start, size, count = self._offset, len(self._central), self._count
        self._write(self._central)
        if count >= _ZIP_COUNT_LIMIT or start >= _ZIP64_LIMIT or size >= _ZIP64_LIMIT:
            if not self._zip64:
                raise _refuse(self.path, f"{count} entries over {start + size} bytes")
            record = self._offset
            end64 = (0x06064B50, 44, _MADE_BY, 45, 0, 0, count, count, size, start)
            self._write(struct.pack("<IQHHIIQQQQ", *end64))
            self._write(struct.pack("<IIQI", 0x07064B50, 0, record, 1))
            count, size, start = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF
        self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0))

    def _stop(self) -> None:
        self._pipeline.abort()
        self._close_reader()

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
