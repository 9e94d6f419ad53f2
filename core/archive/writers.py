"""Archive writers: stream entries the packer already chose and ordered into one output.

Writers never look at the filesystem for what they pack: each member is described by an
ArchiveEntry, so the output depends only on the entries given and is byte-identical
from run to run. Output goes to a temporary name beside the target and only appears
under the real name at commit(), so an interrupted pack never leaves a truncated
archive behind.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import io
import lzma
import os
import queue
import secrets
import shutil
import stat
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO, Protocol, TypeVar

import zstandard
from zlib_ng import zlib_ng

from ..errors import CondaPackageError, UsageError

FORMATS: tuple[str, ...] = ("tar.gz", "tar.zst", "tar.bz2", "tar.xz", "tar", "zip", "dir")

EXTENSIONS: dict[str, str] = {
    ".tar.gz": "tar.gz",
    ".tgz": "tar.gz",
    ".tar.zst": "tar.zst",
    ".tzst": "tar.zst",
    ".tar.bz2": "tar.bz2",
    ".tbz2": "tar.bz2",
    ".tar.xz": "tar.xz",
    ".txz": "tar.xz",
    ".tar": "tar",
    ".zip": "zip",
}

KINDS: tuple[str, ...] = ("file", "dir", "symlink", "hardlink")

_T = TypeVar("_T")
Buffer = bytes | bytearray | memoryview

# (lowest, highest, default). tar.gz 3: zlib-ng level 3 is the fastest level whose output
# stays within 5% of stdlib zlib level 4 (conda-pack); see benchmarks/bench_gzip.py.
_LEVELS: dict[str, tuple[int, int, int]] = {
    "tar.gz": (1, 9, 3),
    "tar.zst": (1, 22, 1),
    "tar.bz2": (1, 9, 9),
    "tar.xz": (0, 9, 3),
    "zip": (0, 9, 4),
}

CHUNK = 1 << 20  # read size for streamed content, and the write buffer size
_DIRECT = 1 << 16  # content pieces this large skip the header buffer (saves a copy)
PIPELINE_BYTES = 64 << 20  # uncompressed input held by a writer's compression threads
WRITEBACK = 8 << 20  # output handed to the disk in steps of this size


def format_from_path(path: str | os.PathLike[str]) -> str | None:
    """The format a file name asks for, so users rarely need --format."""
    lower = os.fspath(path).lower()
    for ext, fmt in EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    return None


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"unknown archive format {fmt!r}; choose one of {', '.join(FORMATS)}")


def default_level(fmt: str) -> int | None:
    """The level used when the user gives none; None for formats that do not compress."""
    _check_format(fmt)
    return _LEVELS[fmt][2] if fmt in _LEVELS else None


def validate_level(fmt: str, level: int | None) -> int | None:
    """The level to use, checked here so a bad value fails before any work starts."""
    _check_format(fmt)
    if fmt not in _LEVELS:
        if level is not None:
            raise UsageError(f"the {fmt} format is not compressed; it takes no compression level")
        return None
    low, high, default = _LEVELS[fmt]
    if level is None:
        return default
    if not low <= level <= high:
        raise UsageError(f"compression level {level} is out of range for {fmt} ({low}-{high})")
    return level


def _check_name(name: str, what: str) -> None:
    parts = name.split("/")
    if not name or name[0] == "/" or "\0" in name or "" in parts or "." in parts or ".." in parts:
        raise ValueError(f"{what} {name!r} is not a plain relative path")


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One member, described fully so that writers never consult the filesystem.

    size is the content length of a "file". target is the link text of a "symlink", or
    for a "hardlink" the archive name of an earlier "file" (or "hardlink") entry.
    """

    name: str
    kind: str
    mode: int
    mtime: int = 0
    size: int = 0
    target: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name, "archive name")
        if self.kind not in KINDS:
            raise ValueError(f"{self.name!r}: unknown kind {self.kind!r}")
        if self.size < 0:
            raise ValueError(f"{self.name!r}: negative size {self.size}")
        if self.kind == "symlink" and not self.target:
            raise ValueError(f"{self.name!r}: symlink without a target")
        if self.kind == "hardlink":
            _check_name(self.target, f"{self.name!r}: hard link target")
        object.__setattr__(self, "mode", self.mode & 0o7777)


Content = Buffer | BinaryIO | None


def _pieces(name: str, content: Content, size: int) -> Iterator[Buffer]:
    """The content in pieces of at most CHUNK bytes; exactly `size` bytes or an error."""
    if content is None:
        content = b""
    if isinstance(content, (bytes, bytearray, memoryview)):
        if memoryview(content).nbytes != size:
            raise ValueError(f"{name!r}: {memoryview(content).nbytes} bytes given for size {size}")
        yield content
        return
    left = size
    while left:
        piece = content.read(min(left, CHUNK))
        if not piece:
            raise CondaPackageError(f"{name} shrank while it was being packed")
        left -= len(piece)
        yield piece
    if content.read(1):
        raise CondaPackageError(f"{name} grew while it was being packed")


class ArchiveWriter:
    """One output being written; nothing appears at `path` before commit().

    Entries are written in the order given. Only "file" entries take content; for a
    "hardlink", zip (which has no links) copies the stored data of the member it links
    to, so the content is read once whatever the format.
    """

    # Whether seal_members() and add_tar_members() are there: tar formats take members
    # serialised (and compressed) by the caller's threads.
    takes_tar_members = False

    def __init__(self, path: str, temp: str) -> None:
        self.path = path
        self._temp = temp
        self._names: set[str] = set()
        self._files: set[str] = set()  # files and hard links: what a hard link may name
        self._state = "open"  # open | broken | committed | aborted

    def add(self, entry: ArchiveEntry, content: Content = None) -> None:
        """Append one member; a file's content is streamed, never held whole.

        content: for a "file", its entry.size bytes, or a binary file to read them from.
        """
        if self._state != "open":
            raise ValueError(f"cannot add to a {self._state} archive writer")
        if entry.name in self._names:
            raise ValueError(f"duplicate archive entry {entry.name!r}")
        if entry.kind == "hardlink" and entry.target not in self._files:
            raise ValueError(
                f"hard link {entry.name!r} points to {entry.target!r}, not an earlier file"
            )
        try:
            self._add(entry, content)
        except BaseException:
            self._state = "broken"  # a member may be half written: never commit this
            raise
        self._names.add(entry.name)
        if entry.kind in ("file", "hardlink"):
            self._files.add(entry.name)

    def commit(self) -> None:
        """Finish the output durably, then give it its real name."""
        if self._state != "open":
            raise ValueError(f"cannot commit a {self._state} archive writer")
        try:
            self._finish()
            install_output(self._temp, self.path)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"

    def abort(self) -> None:
        """Drop everything written so far; safe to call more than once."""
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        try:
            self._discard()
        finally:  # the temporary output goes even when closing it fails (a full disk)
            _remove(self._temp)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state != "committed":
            self.abort()

    def _add(self, entry: ArchiveEntry, content: Content) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


# --- installing and removing outputs -----------------------------------------------------


def _unlock(tree: str) -> None:
    """Make every directory of a tree we wrote writable, so read-only ones can be removed."""
    os.chmod(tree, 0o700)
    with os.scandir(tree) as it:
        for item in it:
            if item.is_dir(follow_symlinks=False):
                _unlock(item.path)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        _unlock(path)
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def install_output(temp: str, path: str) -> None:
    """Move a finished output onto `path`; the caller has already allowed replacing it."""
    old = None
    if os.path.isdir(path) and not os.path.islink(path):
        old = f"{path}.old-{secrets.token_hex(4)}"
        os.rename(path, old)
    elif os.path.isdir(temp) and os.path.lexists(path):
        os.unlink(path)  # rename() cannot put a directory over a file
    try:
        os.replace(temp, path)
    except BaseException:
        if old:
            os.rename(old, path)
        raise
    if old:
        _remove(old)
    if os.name == "posix":  # make the rename itself durable
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- parallel block compression ---------------------------------------------------------


class _BlockCodec(Protocol):
    block_size: int
    history: int  # how many bytes before a block its compression may refer to
    # Whether a run of members compressed on its own, without the history before it,
    # costs little: then the packer's workers compress the runs they read.
    apart: bool

    def head(self) -> bytes: ...

    def compress(self, history: bytes, block: bytearray) -> tuple[bytes, int, int]: ...

    def emit(self, result: tuple[bytes, int, int]) -> bytes: ...

    def tail(self) -> bytes: ...


class _Pipeline:
    """Jobs run on a thread pool; their results are used in submission order.

    Input in flight is bounded by bytes, not by jobs: a full block per thread and one
    more keep every thread busy, and when jobs are small files many of them can queue
    up, so a large one at the head does not leave the other threads idle. On many cores
    PIPELINE_BYTES caps it (two blocks at least). Steps queued with then() run in order
    between job results.
    """

    def __init__(self, threads: int, block_size: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="compress")
        self._budget = max(2 * block_size, min((threads + 1) * block_size, PIPELINE_BYTES))
        self._in_flight = 0
        self._queue: deque[tuple[Future[Any] | None, Callable[..., None], int]] = deque()

    def submit(
        self, job: Callable[..., _T], size: int, *args: Any, then: Callable[[_T], None]
    ) -> None:
        """Run job(*args), where `size` is how many input bytes the job holds."""
        while self._in_flight and self._in_flight + size > self._budget:
            self._step()
        self._queue.append((self._pool.submit(job, *args), then, size))
        self._in_flight += size

    def then(self, step: Callable[[], None]) -> None:
        if self._queue:
            self._queue.append((None, step, 0))
        else:
            step()

    def _step(self) -> None:
        future, step, size = self._queue.popleft()
        if future is None:
            step()
        else:
            self._in_flight -= size
            step(future.result())

    def wait(self) -> None:
        """Run every queued step, waiting for the jobs they need."""
        while self._queue:
            self._step()

    def drain(self) -> None:
        self.wait()
        self._pool.shutdown()

    def abort(self) -> None:
        self._queue.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _BlockStream:
    """Compress fixed-size blocks on a thread pool and write them back in order.

    Cutting the input at fixed offsets and compressing each block with a fresh
    compressor keeps the output one valid stream, byte-identical whatever the number
    of threads (zlib-ng's own threaded gzip writer reuses compressors, whose leftover
    state makes its output depend on the thread count).
    """

    def __init__(self, raw: BinaryIO, codec: _BlockCodec, threads: int) -> None:
        self._raw = raw
        self.codec = codec
        self._pipeline = _Pipeline(threads, codec.block_size)
        self._buf = bytearray()
        self._history = b""
        raw.write(codec.head())

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Whole blocks of read-only data go out as views of it, uncopied."""
        size = self.codec.block_size
        view = memoryview(data).cast("B")
        if not view.readonly:  # the caller may change it once we return: keep a copy
            view = memoryview(bytes(view))
        start = 0
        if self._buf:
            start = size - len(self._buf)
            self._buf += view[:start]
            if len(self._buf) < size:
                return len(view)
            self._submit(self._buf)
            self._buf = bytearray()
        while len(view) - start >= size:
            self._submit(view[start : start + size])
            start += size
        self._buf += view[start:]
        return len(view)

    def _submit(self, block: bytearray | memoryview) -> None:
        history = self._history
        self._history = bytes(block[max(0, len(block) - self.codec.history) :])
        self._pipeline.submit(self.codec.compress, len(block), history, block, then=self._emit)

    def _emit(self, result: tuple[bytes, int, int]) -> None:
        self._raw.write(self.codec.emit(result))

    def write_compressed(self, run: CompressedRun) -> None:
        """Blocks compressed by compress_run(), placed in order after what came before."""
        if self._buf:  # which ends as a shorter block
            self._submit(self._buf)
            self._buf = bytearray()
        self._history = b""  # the next block starts afresh, as the run's first did
        self._pipeline.wait()  # written, so no output piles up behind a slow block
        for result in run.blocks:
            self._emit(result)

    def close(self) -> None:
        if self._buf:
            self._submit(self._buf)
            self._buf = bytearray()
        self._pipeline.drain()
        self._raw.write(self.codec.tail())

    def abort(self) -> None:
        self._pipeline.abort()


@dataclass(frozen=True, slots=True)
class CompressedRun:
    """A run of tar members compressed in the thread that serialised them."""

    blocks: list[Any]  # the codec's results, in order
    size: int  # the tar bytes they hold


def compress_run(codec: _BlockCodec, pieces: list[bytes]) -> CompressedRun:
    """The codec's blocks of the pieces, chained within the run; safe in any thread.

    Blocks end at the end of each piece too, so they are views of the pieces, never
    copies: a run is held once while it is compressed.
    """
    blocks = []
    history = b""
    size = 0
    for piece in pieces:
        view = memoryview(piece)
        size += len(view)
        for start in range(0, len(view), codec.block_size):
            block = view[start : start + codec.block_size]
            blocks.append(codec.compress(history, block))
            if codec.history:  # the last bytes before the next block, whatever its piece
                history = (history + bytes(block[-codec.history :]))[-codec.history :]
    return CompressedRun(blocks, size)


class _BackgroundStream:
    """Feed a stream from its own thread, so building the tar overlaps compressing it.

    zstandard's writer releases the GIL but blocks its caller while its workers catch up;
    without this the main thread's per-entry work and the compression run in turn.
    """

    _DONE = object()

    def __init__(self, stream: Any, depth: int = 8) -> None:
        self._stream = stream
        self._queue: queue.Queue[Any] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="compress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            if data is self._DONE:
                return
            if self._error is None:
                try:
                    self._stream.write(data)
                except BaseException as exc:  # surfaced in the caller's thread
                    self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data: Buffer) -> int:
        self._check()
        self._queue.put(data)
        return len(data)

    def close(self) -> None:
        self._queue.put(self._DONE)
        self._thread.join()
        self._check()
        self._stream.close()

    def abort(self) -> None:
        self._error = self._error or CondaPackageError("aborted")
        self._queue.put(self._DONE)
        self._thread.join()
        self._stream.close()


def _deflate(level: int, history: bytes, block: Buffer, final: bool) -> tuple[bytes, int, int]:
    """Raw deflate of one block, primed with the 32 KiB before it (like pigz).

    A fresh compressor per block makes the result independent of which thread ran it.
    """
    compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15, zdict=history)
    data = compressor.compress(block)
    data += compressor.flush(zlib_ng.Z_FINISH if final else zlib_ng.Z_SYNC_FLUSH)
    return data, zlib_ng.crc32(block), len(block)


def _store(history: bytes, block: Buffer, final: bool) -> tuple[bytes, int, int]:
    """The zip level 0 counterpart of _deflate."""
    return bytes(block), zlib_ng.crc32(block), len(block)


_Result = tuple[bytes, int, int]  # data, CRC-32 and length of the input
_Job = Callable[[bytes, Buffer, bool], _Result]


def _run_batch(jobs: list[tuple[_Job, bytes]]) -> list[_Result]:
    return [job(b"", data, True) for job, data in jobs]


def _le32(value: int) -> bytes:
    return struct.pack("<I", value)


def _vli(value: int) -> bytes:
    """xz variable-length integer."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _GzipCodec:
    """gzip as a sequence of raw deflate blocks, compressed apart."""

    history = 1 << 15
    apart = True  # a run starting without its 32 KiB of history: a few bytes lost

    def __init__(self, level: int) -> None:
        self._level = level
        self.block_size = CHUNK
        self._crc = 0
        self._size = 0

    def head(self) -> bytes:
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown

    def compress(self, history: bytes, block: bytearray) -> tuple[bytes, int, int]:
        return _deflate(self._level, history, block, False)

    def emit(self, result: tuple[bytes, int, int]) -> bytes:
        data, crc, size = result
        self._crc = zlib_ng.crc32_combine(self._crc, crc, size)
        self._size += size
        return data

    def tail(self) -> bytes:
        # An empty final block ends the deflate stream, then CRC and size (mod 2**32).
        return b"\x03\x00" + struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)


class _ZstdCodec:
    """tar.zst as independent zstd frames, as pzstd writes it, for the fast levels.

    zstd, tar, bsdtar and zstandard's stream_reader read concatenated frames as one
    stream. At levels whose window is 1 MiB or less, frames of at most four windows cost
    0.1-0.4% of size against `zstd -T0` (see frames_suit), and need no shared state, so
    the packer's workers compress the runs they read and no thread waits on another.
    """

    history = 0
    apart = True

    def __init__(self, level: int) -> None:
        self._level = level
        self.block_size = 4 << zstandard.ZstdCompressionParameters.from_level(level).window_log
        self._local = threading.local()

    @staticmethod
    def frames_suit(level: int) -> bool:
        """Higher levels have windows of 2-128 MiB: independent frames of four windows
        cost 0.6% at level 3, 2% at level 9; there zstd's own threads, whose jobs share
        windows, compress one frame."""
        return zstandard.ZstdCompressionParameters.from_level(level).window_log <= 20

    def head(self) -> bytes:
        return b""

    def compress(self, history: bytes, block: Buffer) -> tuple[bytes, int, int]:
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:  # a compressor serves one thread at a time
            compressor = zstandard.ZstdCompressor(level=self._level, write_checksum=True)
            self._local.compressor = compressor
        return compressor.compress(block), 0, len(block)

    def emit(self, result: tuple[bytes, int, int]) -> bytes:
        return result[0]

    def tail(self) -> bytes:
        return b""


_XZ_FLAGS = b"\x00\x01"  # check type CRC32
_XZ_DICT_LOG2 = (18, 20, 21, 22, 22, 23, 23, 24, 25, 26)  # LZMA2 dictionary size per preset


class _XzCodec:
    """One .xz stream of LZMA2 blocks compressed apart, laid out as `xz -T` does."""

    history = 0
    apart = False  # runs are smaller than a dictionary: each would start with none

    def __init__(self, preset: int) -> None:
        log2 = _XZ_DICT_LOG2[preset]
        self.block_size = max(3 << log2, CHUNK)  # xz's own default: three dictionaries
        self._filters = [{"id": lzma.FILTER_LZMA2, "preset": preset}]
        self._filter_flags = b"\x21\x01" + bytes([2 * (log2 - 12)])  # LZMA2, dict size
        self._index = bytearray()
        self._count = 0

    def head(self) -> bytes:
        return b"\xfd7zXZ\x00" + _XZ_FLAGS + _le32(zlib.crc32(_XZ_FLAGS))

    def compress(self, history: bytes, block: bytearray) -> tuple[bytes, int, int]:
        data = lzma.compress(block, format=lzma.FORMAT_RAW, filters=self._filters)
        # Flags: one filter, both sizes present (lets xz decompress blocks in parallel).
        body = b"\xc0" + _vli(len(data)) + _vli(len(block)) + self._filter_flags
        body += bytes(-(len(body) + 1) % 4)
        header = bytes([(len(body) + 1) // 4]) + body
        header += _le32(zlib.crc32(header))
        check = _le32(zlib.crc32(block))
        out = b"".join((header, data, bytes(-len(data) % 4), check))
        return out, len(header) + len(data) + len(check), len(block)

    def emit(self, result: tuple[bytes, int, int]) -> bytes:
        out, unpadded, size = result
        self._index += _vli(unpadded) + _vli(size)
        self._count += 1
        return out

    def tail(self) -> bytes:
        index = b"\x00" + _vli(self._count) + self._index
        index += bytes(-len(index) % 4)
        index += _le32(zlib.crc32(index))
        backward = _le32(len(index) // 4 - 1) + _XZ_FLAGS
        return index + _le32(zlib.crc32(backward)) + backward + b"YZ"


def _xz_threads(threads: int, preset: int) -> int:
    """Fewer threads when their memory would pass a quarter of the RAM, as xz -T0 does.

    Each thread needs about 20 dictionaries: the compressor, and blocks in and out.
    """
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on this platform
        return threads
    return max(1, min(threads, ram // 4 // (20 << _XZ_DICT_LOG2[preset])))


_BZ_END = 0x177245385090  # bzip2 end-of-stream marker
_MASK48 = (1 << 48) - 1


class _Bz2Codec:
    """One bzip2 stream whose blocks are compressed apart and joined bit by bit.

    Each piece is small enough to become exactly one bzip2 block (the first run-length
    step can grow input by 5/4), so its stream is: 32-bit header, the block, 48-bit end
    marker, 32-bit CRC, 0-7 padding bits. The stream CRC is folded from block CRCs.
    """

    history = 0
    apart = True  # bzip2 blocks are independent anyway

    def __init__(self, level: int) -> None:
        self._level = level
        self.block_size = (100_000 * level - 20) * 4 // 5
        self._crc = 0
        self._bits = 0  # bits not yet written, fewer than 8
        self._nbits = 0

    def head(self) -> bytes:
        return b"BZh%d" % self._level

    def compress(self, history: bytes, block: bytearray) -> tuple[bytes, int, int]:
        data = bz2.compress(block, self._level)
        tail = int.from_bytes(data[-11:], "big")
        pad = next(p for p in range(8) if (tail >> (p + 32)) & _MASK48 == _BZ_END)
        nbits = len(data) * 8 - 32 - 80 - pad
        bits = (int.from_bytes(data, "big") >> (pad + 80)) & ((1 << nbits) - 1)
        crc = (tail >> pad) & 0xFFFFFFFF
        return bits.to_bytes((nbits + 7) // 8, "big"), nbits, crc

    def emit(self, result: tuple[bytes, int, int]) -> bytes:
        data, nbits, crc = result
        self._crc = ((self._crc << 1 | self._crc >> 31) & 0xFFFFFFFF) ^ crc
        return self._push(int.from_bytes(data, "big"), nbits)

    def _push(self, bits: int, nbits: int) -> bytes:
        acc = self._bits << nbits | bits
        total = self._nbits + nbits
        self._nbits = total % 8
        self._bits = acc & ((1 << self._nbits) - 1)
        return (acc >> self._nbits).to_bytes(total // 8, "big")

    def tail(self) -> bytes:
        out = self._push(_BZ_END << 32 | self._crc, 80)
        if self._nbits:
            out += bytes([self._bits << (8 - self._nbits)])
        return out


# --- tar ---------------------------------------------------------------------------------

_OCTAL_LIMIT = 8**11  # size and mtime fields hold 11 octal digits
_TYPEFLAGS = {"file": b"0", "hardlink": b"1", "symlink": b"2", "dir": b"5"}
_IDS = b"0000000\x00" * 2  # uid, gid
# magic, version, uname, gname, devmajor, devminor, prefix, padding to 512
_USTAR_TAIL = b"ustar\x0000" + bytes(64) + b"0000000\x00" * 2 + bytes(167)
_ZEROS = bytes(512)
_RECORD = 10240  # tar output is padded to whole records, as tar and tarfile do


_CONSTANT_SUM = sum(_IDS) + sum(b"        ") + sum(_USTAR_TAIL)  # the checksum's fixed part


def _ustar(name: bytes, mode: int, size: int, mtime: int, typeflag: bytes, link: bytes) -> bytes:
    fields = b"%07o\x00%011o\x00%011o\x00" % (mode, size, mtime)
    # Summing only the variable bytes: NUL padding adds nothing (a per-entry hot path).
    checksum = _CONSTANT_SUM + sum(name) + sum(fields) + sum(typeflag) + sum(link)
    return b"".join(
        (
            name.ljust(100, b"\x00"),
            fields[:8],
            _IDS,
            fields[8:],
            b"%06o\x00 " % checksum,
            typeflag,
            link.ljust(100, b"\x00"),
            _USTAR_TAIL,
        )
    )


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" %s=%s\n" % (key, value)
    length = len(body) + 1
    while len(body) + len(str(length)) != length:
        length = len(body) + len(str(length))
    return b"%d%s" % (length, body)


class TarMembers:
    """Members serialised away from the writer (the packer's workers, in parallel).

    Members are joined into pieces (bytes.join copies without the GIL from 1 MiB on);
    contents of 1 MiB or more stay the caller's bytes, never copied. The caller vouches
    for what ArchiveEntry would check: plain relative names, known kinds.
    """

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self._small: list[bytes] = []

    def add(
        self, name: str, kind: str, mode: int, mtime: int, content: bytes = b"", target: str = ""
    ) -> None:
        size = len(content)
        self._small.append(tar_header(name, kind, mode & 0o7777, mtime, size, target))
        self._content(content)
        if size % 512:
            self._small.append(_ZEROS[: -size % 512])

    def add_part(
        self, name: str, mode: int, mtime: int, size: int, offset: int, data: bytes
    ) -> None:
        """`data` of a large file of `size` bytes, from `offset`: the header goes with the
        first part, the padding with the last, so parts can be serialised apart."""
        if offset == 0:
            self._small.append(tar_header(name, "file", mode & 0o7777, mtime, size, ""))
        self._content(data)
        if offset + len(data) == size and size % 512:
            self._small.append(_ZEROS[: -size % 512])

    def _content(self, data: bytes) -> None:
        if len(data) >= CHUNK:
            self._flush()
            self.pieces.append(data)
        elif data:
            self._small.append(data)

    def _flush(self) -> None:
        if self._small:
            self.pieces.append(b"".join(self._small))
            self._small = []

    def finish(self) -> list[bytes]:
        self._flush()
        return self.pieces


def tar_header(name: str, kind: str, mode: int, mtime: int, size: int, target: str) -> bytes:
    """A ustar header, preceded by a pax header when a field does not fit ustar.

    The same rule as tarfile's PAX format: plain entries cost one 512-byte block and
    no per-entry work in tarfile's slower generic code.
    """
    name = name + "/" if kind == "dir" else name
    link = target if kind in ("symlink", "hardlink") else ""
    if (
        name.isascii()
        and len(name) <= 100
        and link.isascii()
        and len(link) <= 100
        and size < _OCTAL_LIMIT
        and 0 <= mtime < _OCTAL_LIMIT
    ):
        return _ustar(name.encode(), mode, size, mtime, _TYPEFLAGS[kind], link.encode())
    records = []
    binary = False
    fields = []
    for key, text in ((b"path", name), (b"linkpath", link)):
        try:
            raw = text.encode()
        except UnicodeEncodeError:  # undecodable bytes kept as surrogates by os.fsdecode
            raw = text.encode("utf-8", "surrogateescape")
            binary = True
        if not text.isascii() or len(raw) > 100:
            records.append(_pax_record(key, raw))
        fields.append(raw[:100])
    if size >= _OCTAL_LIMIT:
        records.append(_pax_record(b"size", b"%d" % size))
        size = 0
    if not 0 <= mtime < _OCTAL_LIMIT:
        records.append(_pax_record(b"mtime", b"%d" % mtime))
        mtime = 0
    if binary:
        records.insert(0, _pax_record(b"hdrcharset", b"BINARY"))
    pax = b"".join(records)
    return b"".join(
        (
            _ustar(b"././@PaxHeader", 0o644, len(pax), 0, b"x", b""),
            pax,
            _ZEROS[: -len(pax) % 512],
            _ustar(fields[0], mode, size, mtime, _TYPEFLAGS[kind], fields[1]),
        )
    )


class _Stream(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...

    def close(self) -> None: ...


class _WritingBack(io.BufferedWriter):
    """An output written front to back that hands what it holds to the disk as it goes.

    posix_fadvise(DONTNEED) starts the writeback of what was written without waiting for
    it and then lets the page cache drop it: the fsync at the end waits for the last
    WRITEBACK bytes instead of the whole archive (~37 ms less for a 70 MiB one), and a
    large archive does not push the user's files out of the cache.
    """

    def __init__(self, path: str) -> None:
        super().__init__(io.FileIO(path, "xb"), CHUNK)
        self._written = 0
        self._handed = 0

    def write(self, data: Buffer, /) -> int:
        n = super().write(data)
        self._written += n
        if self._written - self._handed >= WRITEBACK:
            self.flush()
            with contextlib.suppress(OSError):  # only advice: a filesystem may refuse it
                os.posix_fadvise(
                    self.fileno(),
                    self._handed,
                    self._written - self._handed,
                    os.POSIX_FADV_DONTNEED,
                )
            self._handed = self._written
        return n


def _open_temp(path: str, sequential: bool) -> tuple[str, BinaryIO]:
    temp = f"{path}.partial-{secrets.token_hex(4)}"
    # Created like any new file, so its final mode is 0o666 minus the umask.
    if sequential and hasattr(os, "posix_fadvise"):
        return temp, _WritingBack(temp)
    return temp, open(temp, "xb", buffering=CHUNK)


class _FileWriter(ArchiveWriter):
    """An output that is one file: fsynced before it is renamed into place."""

    def __init__(self, path: str, temp: str, raw: BinaryIO) -> None:
        super().__init__(path, temp)
        self._raw = raw

    def _finish(self) -> None:
        self._end()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()

    def _discard(self) -> None:
        with contextlib.suppress(Exception):  # the stream may be what failed; it goes anyway
            self._stop()
        with contextlib.suppress(OSError):  # flushing a full disk fails; the file is closed
            self._raw.close()

    def _end(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError


class _TarWriter(_FileWriter):
    """tar in pax format, written by hand: tarfile costs ~15 us per header."""

    takes_tar_members = True

    def __init__(self, path: str, temp: str, raw: BinaryIO, stream: _Stream) -> None:
        super().__init__(path, temp, raw)
        self._stream = stream
        self._buf = bytearray()
        self._offset = 0

    def _put(self, data: bytes | bytearray | memoryview) -> None:
        self._offset += len(data)
        if len(data) >= _DIRECT:
            if self._buf:
                self._stream.write(self._buf)
                self._buf = bytearray()
            self._stream.write(data)
            return
        self._buf += data
        if len(self._buf) >= CHUNK:
            self._stream.write(self._buf)
            self._buf = bytearray()

    def seal_members(self, pieces: list[bytes]) -> list[bytes] | CompressedRun:
        """What add_tar_members() takes for members serialised by TarMembers; safe in any
        thread. Compressed here, in the caller's thread, when the codec allows it."""
        if isinstance(self._stream, _BlockStream) and self._stream.codec.apart:
            return compress_run(self._stream.codec, pieces)
        return pieces

    def add_tar_members(
        self, members: list[bytes] | CompressedRun, names: list[str], linkable: list[str]
    ) -> None:
        """Members from seal_members(), in order; `linkable` are those of them that
        later hard links may name (files and hard links)."""
        if self._state != "open":
            raise ValueError(f"cannot add to a {self._state} archive writer")
        try:
            if isinstance(members, CompressedRun):
                assert isinstance(self._stream, _BlockStream)  # whose codec made them
                if self._buf:
                    self._stream.write(self._buf)
                    self._buf = bytearray()
                self._offset += members.size
                self._stream.write_compressed(members)
            else:
                for piece in members:
                    self._put(piece)
        except BaseException:
            self._state = "broken"
            raise
        self._names.update(names)
        self._files.update(linkable)

    def _add(self, entry: ArchiveEntry, content: Content) -> None:
        size = entry.size if entry.kind == "file" else 0
        self._put(tar_header(entry.name, entry.kind, entry.mode, entry.mtime, size, entry.target))
        if entry.kind != "file":
            return
        for piece in _pieces(entry.name, content, entry.size):
            self._put(piece)
        self._put(_ZEROS[: -entry.size % 512])

    def _end(self) -> None:
        self._put(bytes(1024))
        self._put(bytes(-self._offset % _RECORD))
        self._stream.write(self._buf)
        if self._stream is not self._raw:
            self._stream.close()

    def _stop(self) -> None:
        if isinstance(self._stream, (_BlockStream, _BackgroundStream)):
            self._stream.abort()
        elif self._stream is not self._raw:
            self._stream.close()  # stops the compressor's threads


# --- zip ---------------------------------------------------------------------------------

_DOS_FIRST = 315532800  # 1980-01-01 00:00:00 UTC, the first time zip can hold
_DOS_LAST = 4354819198  # 2107-12-31 23:59:58 UTC, the last
_ZIP64_LIMIT = 0xFFFFFFFF  # sizes and offsets from here on need zip64 fields
_ZIP_COUNT_LIMIT = 0xFFFF  # as many entries need a zip64 end record
_MADE_BY = 3 << 8 | 45  # Unix, so unzip restores modes and symlinks; zip spec 4.5


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


class _ZipWriter(_FileWriter):
    """zip, written by hand so members compress on every core, in 1 MiB blocks.

    Modes and symlinks are stored as Info-ZIP does. Times are stored as UTC (DOS times
    have no zone) plus the exact mtime in an extended-timestamp field, so the output does
    not depend on the local time zone. A file over one block has its header patched with
    its CRC and compressed size once its data is written, so no data descriptors are needed.
    """

    def __init__(self, path: str, temp: str, raw: BinaryIO, level: int, threads: int) -> None:
        super().__init__(path, temp, raw)
        self._pipeline = _Pipeline(threads, CHUNK)
        self._job = functools.partial(_deflate, level) if level else _store
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
        name = entry.name + "/" if entry.kind == "dir" else entry.name
        try:
            raw_name = name.encode()
            flags = 0 if name.isascii() else 0x800  # UTF-8 name
        except UnicodeEncodeError:  # undecodable bytes: stored as they are
            raw_name, flags = name.encode("utf-8", "surrogateescape"), 0
        mtime = min(max(entry.mtime, _DOS_FIRST), _DOS_LAST)
        t = time.gmtime(mtime)
        dos = (
            t.tm_hour << 11 | t.tm_min << 5 | t.tm_sec // 2,
            (t.tm_year - 1980) << 9 | t.tm_mon << 5 | t.tm_mday,
        )
        extra = b""
        if -(2**31) <= entry.mtime < 2**31:
            extra = struct.pack("<HHBi", 0x5455, 5, 1, entry.mtime)
        if entry.kind == "dir":
            attr = (stat.S_IFDIR | entry.mode) << 16 | 0x10  # and the MS-DOS directory bit
            member = _ZipMember(raw_name, flags, 0, dos, extra, attr, 0, False)
            self._batched(member, _store, b"")
        elif entry.kind == "symlink":
            attr = (stat.S_IFLNK | entry.mode) << 16
            target = entry.target.encode("utf-8", "surrogateescape")
            member = _ZipMember(raw_name, flags, 0, dos, extra, attr, len(target), False)
            self._batched(member, _store, target)
        elif entry.kind == "hardlink":
            source = self._members[entry.target]
            attr = (stat.S_IFREG | entry.mode) << 16
            member = _ZipMember(
                raw_name, flags, source.method, dos, extra, attr, source.size, source.zip64
            )
            self._members[entry.name] = member
            self._flush_batch()  # the copy must come after the data it copies
            self._pipeline.then(functools.partial(self._copy, member, source))
        else:
            size = entry.size
            attr = (stat.S_IFREG | entry.mode) << 16
            zip64 = size * 21 > _ZIP64_LIMIT * 20  # room for deflate's worst case
            member = _ZipMember(raw_name, flags, self._method, dos, extra, attr, size, zip64)
            self._members[entry.name] = member
            if size <= CHUNK:
                self._batched(member, self._job, b"".join(_pieces(entry.name, content, size)))
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

    def _write_batch(self, members: list[_ZipMember], results: list[_Result]) -> None:
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
        for piece in _pieces(name, content, size):
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
        member.offset = self._offset
        self._write(self._local_header(member))
        member.data = self._offset

    def _block(self, member: _ZipMember, result: tuple[bytes, int, int]) -> None:
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


# --- dir ---------------------------------------------------------------------------------


class _DirWriter(ArchiveWriter):
    """A plain directory tree, for users who want the relocated environment itself."""

    def __init__(self, path: str, temp: str) -> None:
        super().__init__(path, temp)
        self._dirnames: set[str] = set()
        self._dirs: list[tuple[str, int, int]] = []  # modes and times are set at the end

    def _parent(self, name: str) -> None:
        """Create missing parents, refusing to write through a symlink or a file."""
        parent = name.rpartition("/")[0]
        missing = []
        while parent and parent not in self._dirnames:
            if parent in self._names:
                raise ValueError(f"{name!r} lies inside {parent!r}, which is not a directory")
            missing.append(parent)
            parent = parent.rpartition("/")[0]
        for parent in reversed(missing):
            os.mkdir(os.path.join(self._temp, parent))
            self._dirnames.add(parent)

    def _add(self, entry: ArchiveEntry, content: Content) -> None:
        self._parent(entry.name)
        dest = os.path.join(self._temp, entry.name)
        mtime = entry.mtime
        if entry.kind == "dir":
            if entry.name not in self._dirnames:
                os.mkdir(dest, 0o700)  # stays writable until every member is in
                self._dirnames.add(entry.name)
            self._dirs.append((dest, entry.mode, mtime))
        elif entry.kind == "symlink":
            os.symlink(entry.target, dest)
            if os.utime in os.supports_follow_symlinks:
                os.utime(dest, (mtime, mtime), follow_symlinks=False)
        elif entry.kind == "hardlink":
            os.link(os.path.join(self._temp, entry.target), dest)
        else:
            with open(dest, "xb") as out:
                for piece in _pieces(entry.name, content, entry.size):
                    out.write(piece)
            os.chmod(dest, entry.mode)
            os.utime(dest, (mtime, mtime))

    def _finish(self) -> None:
        for dest, mode, mtime in self._dirs:
            os.chmod(dest, mode)
            os.utime(dest, (mtime, mtime))

    def _discard(self) -> None:
        """Nothing is held open between entries."""


_CODECS: dict[str, Callable[[int], _BlockCodec]] = {
    "tar.gz": _GzipCodec,
    "tar.zst": _ZstdCodec,
    "tar.bz2": _Bz2Codec,
    "tar.xz": _XzCodec,
}


def open_writer(
    path: str | os.PathLike[str], fmt: str, *, level: int | None = None, threads: int = 0
) -> ArchiveWriter:
    """Start an output; the caller has already checked that `path` may be replaced.

    threads: compression threads, 0 for one per CPU.
    """
    level = validate_level(fmt, level)
    if threads < 0:
        raise UsageError(f"the number of threads must be 0 (all CPUs) or more, not {threads}")
    threads = threads or os.cpu_count() or 1
    path = os.fspath(path)
    if fmt == "dir":
        temp = f"{path}.partial-{secrets.token_hex(4)}"
        os.mkdir(temp)  # 0o777 minus the umask, like any new directory
        return _DirWriter(path, temp)
    temp, raw = _open_temp(path, sequential=fmt != "zip")  # zip goes back to its headers
    try:
        return _file_writer(path, temp, raw, fmt, level, threads)
    except BaseException:
        raw.close()
        os.unlink(temp)
        raise


def _file_writer(
    path: str, temp: str, raw: BinaryIO, fmt: str, level: int | None, threads: int
) -> ArchiveWriter:
    if fmt == "tar":
        return _TarWriter(path, temp, raw, raw)
    assert level is not None  # every other format compresses
    if fmt == "zip":
        return _ZipWriter(path, temp, raw, level, threads)
    if fmt == "tar.zst" and not _ZstdCodec.frames_suit(level):
        compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        stream = _BackgroundStream(compressor.stream_writer(raw, closefd=False))
        return _TarWriter(path, temp, raw, stream)
    if fmt == "tar.xz":
        threads = _xz_threads(threads, level)
    return _TarWriter(path, temp, raw, _BlockStream(raw, _CODECS[fmt](level), threads))
