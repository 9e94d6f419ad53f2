"""squashfs 4.0's tables, byte by byte: metadata blocks, inodes, directory listings, the
lookup tables and the superblock (layout: the kernel's fs/squashfs/squashfs_fs.h)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from .settings import METADATA_SIZE, Compress

DIR, FILE, SYMLINK = 1, 2, 3  # basic inode types, as directory entries name them
_LONG = 7  # an extended inode's type is its basic type plus this
UNCOMPRESSED_BLOCK = 1 << 24  # a data block or fragment stored as is
NO_FRAGMENT = 0xFFFFFFFF
_NO_XATTR = 0xFFFFFFFF
_NO_TABLE = 0xFFFFFFFFFFFFFFFF
_UNCOMPRESSED_METADATA = 0x8000
_FLAG_NO_XATTRS = 1 << 9
_FLAG_COMPRESSOR_OPTIONS = 1 << 10
_DIR_RUN = 256  # entries under one directory header, at most
SUPERBLOCK_SIZE = 96
DEVICE_BLOCK = 4096  # images are padded to this, for loop devices


class MetadataWriter:
    """A metadata table: 8 KiB blocks, each compressed unless that does not make it smaller,
    behind a 2-byte header. A reference is (block's place in the table) << 16 | offset."""

    def __init__(self, compress: Compress) -> None:
        self._compress = compress
        self.out = bytearray()
        self._pending = bytearray()
        self._starts: list[int] = []  # where each block written so far is in the table

    def reference(self) -> int:
        """Where the next bytes added will be read from."""
        return len(self.out) << 16 | len(self._pending)

    def position(self) -> int:
        """How many bytes were added so far: block position * 8 KiB + offset in it."""
        return len(self._starts) * METADATA_SIZE + len(self._pending)

    def block_start(self, position: int) -> int:
        """Where in the table the block that holds `position` is (or will be, for the last)."""
        block = position // METADATA_SIZE
        return self._starts[block] if block < len(self._starts) else len(self.out)

    def add(self, data: bytes | bytearray) -> None:
        self._pending += data
        while len(self._pending) >= METADATA_SIZE:
            self._block(self._pending[:METADATA_SIZE])
            del self._pending[:METADATA_SIZE]

    def finish(self) -> bytearray:
        if self._pending:
            self._block(self._pending)
            self._pending = bytearray()
        return self.out

    def _block(self, block: bytearray) -> None:
        self._starts.append(len(self.out))
        packed = self._compress(block)
        if len(packed) < len(block):
            self.out += struct.pack("<H", len(packed)) + packed
        else:
            self.out += struct.pack("<H", len(block) | _UNCOMPRESSED_METADATA) + block


def lookup_table(compress: Compress, entries: bytes | bytearray, start: int) -> tuple[bytes, int]:
    """A table of fixed-size entries (fragments, ids): its metadata blocks, then the list of
    where each block starts, which is what the superblock points at (start + returned)."""
    table = MetadataWriter(compress)
    starts = []
    for at in range(0, len(entries), METADATA_SIZE):
        starts.append(start + len(table.out))
        table.add(entries[at : at + METADATA_SIZE])
        table.finish()
    index = struct.pack(f"<{len(starts)}Q", *starts)
    return bytes(table.out) + index, len(table.out)


@dataclass(slots=True)
class Node:
    """One inode. Its number is given before any inode is written (a directory names its
    parent's); its reference once it is written to the inode table."""

    kind: int  # DIR, FILE or SYMLINK
    mode: int
    mtime: int
    number: int = 0
    reference: int = -1


@dataclass(slots=True)
class File(Node):
    size: int = 0
    start: int = 0  # of its first data block in the image
    blocks: list[int] = field(default_factory=list)  # each block's stored size and flag
    fragment: int = NO_FRAGMENT  # which fragment block holds its tail, and where in it
    offset: int = 0
    links: int = 1
    sparse: int = 0  # bytes in holes: blocks of zeros, stored as nothing

    def encode(self, header: bytes) -> bytes:
        sizes = struct.pack(f"<{len(self.blocks)}I", *self.blocks)
        if self.links == 1 and self.size < 1 << 32 and self.start < 1 << 32:  # as mksquashfs
            fields = struct.pack("<IIII", self.start, self.fragment, self.offset, self.size)
            return header + fields + sizes
        fields = struct.pack(
            "<QQQIIII",
            self.start,
            self.size,
            self.sparse,
            self.links,
            self.fragment,
            self.offset,
            _NO_XATTR,
        )
        return _long(header) + fields + sizes


@dataclass(slots=True)
class Symlink(Node):
    target: bytes = b""

    def encode(self, header: bytes) -> bytes:
        return header + struct.pack("<II", 1, len(self.target)) + self.target


@dataclass(slots=True)
class Directory(Node):
    children: dict[bytes, Node] = field(default_factory=dict)
    implicit: bool = True  # made for a path under it; an entry of its own sets mode and time

    def encode(
        self,
        header: bytes,
        listing: int,
        size: int,
        parent: int,
        index: bytes,
        count: int,
    ) -> bytes:
        """listing: the reference of its listing in the directory table, of `size` bytes;
        index: `count` entries that let a lookup start at the block its name is in."""
        links = 2 + sum(child.kind == DIR for child in self.children.values())
        block, offset = listing >> 16, listing & 0xFFFF
        if not count and size + 3 <= 0xFFFF:  # the +3 counts the . and .. a listing lacks
            return header + struct.pack("<IIHHI", block, links, size + 3, offset, parent)
        fields = struct.pack("<IIIIHHI", links, size + 3, block, parent, count, offset, _NO_XATTR)
        return _long(header) + fields + index


def _long(header: bytes) -> bytes:
    """The header of the extended inode type, for what the basic one cannot hold."""
    return struct.pack("<H", header[0] + _LONG) + header[2:]


def inode_header(node: Node) -> bytes:
    """The fields every inode starts with; every file belongs to id 0 (root), as in a tar
    the packer writes."""
    return struct.pack("<HHHHII", node.kind, node.mode, 0, 0, node.mtime, node.number)


class Listing(NamedTuple):
    """A directory's listing, and where a lookup may start in it."""

    data: bytes
    headers: list[tuple[int, bytes]]  # where each header is in data, and its first name


def listing(children: list[tuple[bytes, Node]], start: int) -> Listing:
    """A directory's entries, sorted by name, in runs under a header that names the inode
    block they are in and a base their numbers are told from (-32768 to 32767 away). A run
    ends where the listing, written from `start` in the table, enters a new block: a lookup
    can then start at any block's first header (see index())."""
    out = bytearray()
    headers: list[tuple[int, bytes]] = []
    run: list[bytes] = []
    block = base = here = -1
    at = start  # where the next entry goes in the table
    for name, node in children:
        inodes = node.reference >> 16
        if (
            not run
            or inodes != block
            or len(run) == _DIR_RUN
            or abs(node.number - base) > 32767
            or at // METADATA_SIZE != here
        ):
            _end_run(out, run, block, base)
            headers.append((len(out), name))
            run, block, base = [], inodes, node.number
            here = (start + len(out)) // METADATA_SIZE
            at = start + len(out) + 12
        delta = node.number - base
        offset = node.reference & 0xFFFF
        run.append(struct.pack("<HhHH", offset, delta, node.kind, len(name) - 1) + name)
        at += 8 + len(name)
    _end_run(out, run, block, base)
    return Listing(bytes(out), headers)


def _end_run(out: bytearray, run: list[bytes], block: int, base: int) -> None:
    if run:
        out += struct.pack("<III", len(run) - 1, block, base)
        out += b"".join(run)


def index(found: Listing, start: int, table: MetadataWriter) -> tuple[bytes, int]:
    """A directory index, as the extended directory inode holds it: for each block after
    the first that the listing written from `start` enters, the header that opens it there
    (its place in the listing, its block in the table, its first name). With it a lookup
    reads the block its name is in, not all the blocks before it."""
    out = bytearray()
    count = 0
    last = start // METADATA_SIZE
    for offset, name in found.headers:
        block = (start + offset) // METADATA_SIZE
        if block != last:
            out += struct.pack("<III", offset, table.block_start(start + offset), len(name) - 1)
            out += name
            count += 1
            last = block
    return bytes(out), count


@dataclass(frozen=True, slots=True)
class Superblock:
    inodes: int
    mtime: int
    block_size: int
    fragments: int
    compression: int
    has_options: bool
    root: int
    bytes_used: int
    id_table: int
    inode_table: int
    directory_table: int
    fragment_table: int

    def encode(self) -> bytes:
        flags = _FLAG_NO_XATTRS | (_FLAG_COMPRESSOR_OPTIONS if self.has_options else 0)
        return struct.pack(
            "<IIIIIHHHHHHQQQQQQQQ",
            0x73717368,  # "hsqs"
            self.inodes,
            self.mtime,
            self.block_size,
            self.fragments,
            self.compression,
            self.block_size.bit_length() - 1,
            flags,
            1,  # ids: root only
            4,  # version 4.0
            0,
            self.root,
            self.bytes_used,
            self.id_table,
            _NO_TABLE,  # no extended attributes
            self.inode_table,
            self.directory_table,
            self.fragment_table,
            _NO_TABLE,  # no export table (NFS)
        )
