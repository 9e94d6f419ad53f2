"""tar in pax format, written by hand (tarfile costs ~15 us per header), plain or through
a compressor; members may be serialised and compressed by the caller's threads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol

from ..paths import fsencode
from .base import FileWriter
from .codecs import BlockCodec, BlockResult
from .entry import CHUNK, ArchiveEntry, Buffer, Content, content_pieces
from .pipeline import BackgroundStream, BlockStream

_OCTAL_LIMIT = 8**11  # size and mtime fields hold 11 octal digits
_TYPEFLAGS = {"file": b"0", "hardlink": b"1", "symlink": b"2", "dir": b"5"}
_IDS = b"0000000\x00" * 2  # uid, gid
# magic, version, uname, gname, devmajor, devminor, prefix, padding to 512
_USTAR_TAIL = b"ustar\x0000" + bytes(64) + b"0000000\x00" * 2 + bytes(167)
_ZEROS = bytes(512)
_RECORD = 10240  # tar output is padded to whole records, as tar and tarfile do
_DIRECT = 1 << 16  # content pieces this large skip the header buffer (saves a copy)

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
    if _undecodable(name) or _undecodable(link):
        # Bytes that are not UTF-8 (an old share's Latin-1): ustar holds them as they are
        # when they fit, which every reader takes; pax would need hdrcharset=BINARY, which
        # GNU tar extracts right but warns about at every such entry.
        raw = fsencode(name)
        raw_link = fsencode(link)
        fits = size < _OCTAL_LIMIT and 0 <= mtime < _OCTAL_LIMIT
        if fits and len(raw) <= 100 and len(raw_link) <= 100:
            return _ustar(raw, mode, size, mtime, _TYPEFLAGS[kind], raw_link)
    return _pax_header(name, kind, mode, mtime, size, link)


def _undecodable(text: str) -> bool:
    """Whether a name holds bytes that are not UTF-8 (os.fsdecode's lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _pax_header(name: str, kind: str, mode: int, mtime: int, size: int, link: str) -> bytes:
    """The pax extended header with the fields ustar cannot hold, then the ustar header."""
    records = []
    binary = False
    fields = []
    for key, text in ((b"path", name), (b"linkpath", link)):
        try:
            raw = text.encode()
        except UnicodeEncodeError:  # undecodable bytes kept as surrogates by os.fsdecode
            raw = fsencode(text)
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


class TarMembers:
    """Members serialised away from the writer (the packer's workers, in parallel).

    Members are joined into pieces (bytes.join copies without the GIL from 1 MiB on);
    contents of 1 MiB or more stay the caller's bytes, never copied. The caller vouches
    for what ArchiveEntry would check: plain relative names, known kinds.
    """

    def __init__(self, root: str = "") -> None:
        self.pieces: list[bytes] = []
        self._small: list[bytes] = []
        self._root = root + "/" if root else ""  # the writer's root folder (--arcroot)

    def add(
        self, name: str, kind: str, mode: int, mtime: int, content: bytes = b"", target: str = ""
    ) -> None:
        size = len(content)
        if self._root:
            name = self._root + name
            target = self._root + target if kind == "hardlink" else target
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
            header = tar_header(self._root + name, "file", mode & 0o7777, mtime, size, "")
            self._small.append(header)
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


@dataclass(frozen=True, slots=True)
class CompressedRun:
    """A run of tar members compressed in the thread that serialised them."""

    blocks: list[BlockResult]  # the codec's results, in order
    size: int  # the tar bytes they hold


def compress_run(codec: BlockCodec, pieces: list[bytes]) -> CompressedRun:
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


class _Stream(Protocol):
    def write(self, data: Buffer, /) -> int: ...

    def close(self) -> None: ...


class TarWriter(FileWriter):
    """tar in pax format into `stream`: the file itself, or a compressor in front of it."""

    def __init__(self, path: str, temp: str, raw: BinaryIO, stream: _Stream) -> None:
        super().__init__(path, temp, raw)
        self._stream = stream
        self._buf = bytearray()
        self._offset = 0

    def _put(self, data: Buffer) -> None:
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
        if isinstance(self._stream, BlockStream) and self._stream.codec.apart:
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
                self._put_compressed(members)
            else:
                for piece in members:
                    self._put(piece)
        except BaseException:
            self._state = "broken"
            raise
        self._names.update(map(self.rooted, names))
        self._files.update(map(self.rooted, linkable))

    def _put_compressed(self, run: CompressedRun) -> None:
        assert isinstance(self._stream, BlockStream)  # whose codec made them
        if self._buf:
            self._stream.write(self._buf)
            self._buf = bytearray()
        self._offset += run.size
        self._stream.write_compressed(run.blocks)

    def _add(self, entry: ArchiveEntry, content: Content) -> None:
        size = entry.size if entry.kind == "file" else 0
        self._put(tar_header(entry.name, entry.kind, entry.mode, entry.mtime, size, entry.target))
        if entry.kind != "file":
            return
        for piece in content_pieces(entry.name, content, entry.size):
            self._put(piece)
        self._put(_ZEROS[: -entry.size % 512])

    def _end(self) -> None:
        self._put(bytes(1024))
        self._put(bytes(-self._offset % _RECORD))
        self._stream.write(self._buf)
        if self._stream is not self._raw:
            self._stream.close()

    def _stop(self) -> None:
        if isinstance(self._stream, (BlockStream, BackgroundStream)):
            self._stream.abort()
        elif self._stream is not self._raw:
            self._stream.close()  # stops the compressor's threads
