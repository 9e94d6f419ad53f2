"""SquashfsWriter: an image written straight from the packer's entries, its blocks compressed
on every core, with no squashfs tool, no tar in between and no copy staged on disk.

Files smaller than a block share fragment blocks (as mksquashfs packs them); larger ones
get their own blocks, the last one short. Data comes first, in the order given; the inode
and directory tables, built from the tree held in memory (a few hundred bytes a file),
follow at the end, and the superblock that points at them is written last, at the front.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from ...errors import CondaPackageError
from ...paths import fsencode
from ..base import FileWriter
from ..entry import ArchiveEntry, Buffer, Content, content_pieces
from ..pipeline import Pipeline
from .settings import SquashfsSettings
from .tables import (
    DEVICE_BLOCK,
    DIR,
    FILE,
    SUPERBLOCK_SIZE,
    SYMLINK,
    UNCOMPRESSED_BLOCK,
    Directory,
    File,
    MetadataWriter,
    Node,
    Superblock,
    Symlink,
    index,
    inode_header,
    listing,
    lookup_table,
)

_NAME_MAX = 256  # bytes in one name, as squashfs stores it
# Blocks go to the compression threads this much at a time: a job costs a hand-off between
# threads that takes longer than compressing one small block.
_JOB = 1 << 20
_ZEROS = bytes(1 << 20)  # a block of zeros is stored as a hole: no data, size 0
_Stored = tuple[bytes | Buffer, int]  # a block as written, and its size word


class SquashfsWriter(FileWriter):
    """A squashfs 4.0 image, read by the kernel, squashfuse and unsquashfs alike.

    Every file belongs to root, as in the tars the packer writes; the output is the same
    bytes whatever the number of threads.
    """

    def __init__(
        self, path: str, temp: str, raw: BinaryIO, settings: SquashfsSettings, threads: int
    ) -> None:
        super().__init__(path, temp, raw)
        self._settings = settings
        self._compress = settings.compressor_function()  # for the tables
        self._compress_all = settings.batch_compressor()  # for the data, on the threads
        self._block_size = settings.block_size
        self._pipeline = Pipeline(threads, max(settings.block_size, _JOB))
        self._root = Directory(DIR, 0o755, 0)
        self._dirs: dict[str, Directory] = {"": self._root}
        self._fragment = bytearray()  # small files' data, until a block is full
        self._full: list[bytes] = []  # fragment blocks not yet handed to the threads
        self._fragment_count = 0
        self._fragment_table = bytearray()  # where each fragment block went, once written
        self._newest = 0  # the newest mtime: implicit folders, the root and the image get it
        self._offset = 0
        self._write(bytes(SUPERBLOCK_SIZE))  # filled in at the end
        if settings.options:  # an uncompressed metadata block
            self._write(struct.pack("<H", len(settings.options) | 0x8000) + settings.options)

    def _write(self, data: Buffer) -> None:
        self._raw.write(data)
        self._offset += len(data)

    def _add(self, entry: ArchiveEntry, content: Content) -> None:
        mtime = min(max(entry.mtime, 0), 0xFFFFFFFF)
        self._newest = max(self._newest, mtime)
        if entry.kind == "dir":
            self._add_dir(entry, mtime)
        elif entry.kind == "symlink":
            self._place(entry.name, Symlink(SYMLINK, 0o777, mtime, target=fsencode(entry.target)))
        elif entry.kind == "hardlink":  # the base class checked: an earlier file's name
            parent, _, base = entry.target.rpartition("/")
            source = self._dirs[parent].children[fsencode(base)]
            assert isinstance(source, File)
            source.links += 1
            self._place(entry.name, source)
        else:
            node = File(FILE, entry.mode, mtime, size=entry.size)
            self._place(entry.name, node)
            self._add_data(node, entry, content)

    def _add_dir(self, entry: ArchiveEntry, mtime: int) -> None:
        folder = self._dirs.get(entry.name)
        if folder is None:
            folder = Directory(DIR, entry.mode, mtime, implicit=False)
            self._place(entry.name, folder)
            self._dirs[entry.name] = folder
        else:  # made earlier, implicitly, for what is under it
            folder.mode, folder.mtime, folder.implicit = entry.mode, mtime, False

    def _place(self, name: str, node: Node) -> None:
        self._attach(self._folder(name.rpartition("/")[0]), name, node)

    def _attach(self, parent: Directory, name: str, node: Node) -> None:
        raw = fsencode(name.rpartition("/")[2])
        if len(raw) > _NAME_MAX:
            raise CondaPackageError(f"{name}: squashfs holds names of {_NAME_MAX} bytes at most")
        if raw in parent.children:
            raise ValueError(f"{name!r} is already in the image")
        parent.children[raw] = node

    def _folder(self, name: str) -> Directory:
        """The folder of that name, made (implicit) with its parents where no entry made it."""
        missing = []
        folder = self._dirs.get(name)
        while folder is None:  # a loop, not recursion: a tree may be deeper than the stack
            missing.append(name)
            name = name.rpartition("/")[0]
            folder = self._dirs.get(name)
        for path in reversed(missing):
            made = Directory(DIR, 0o755, 0)
            self._attach(folder, path, made)
            self._dirs[path] = folder = made
        return folder

    def _add_data(self, node: File, entry: ArchiveEntry, content: Content) -> None:
        if entry.size < self._block_size:
            data = b"".join(content_pieces(entry.name, content, entry.size))
            if data:
                self._add_tail(node, data)
            return
        written = functools.partial(self._blocks_written, node)
        job: list[Buffer] = []
        for block in self._cut(content_pieces(entry.name, content, entry.size)):
            job.append(block)
            if len(job) * self._block_size >= _JOB:
                self._pipeline.submit(self._store_all, _JOB, job, then=written)
                job = []
        if job:
            self._pipeline.submit(self._store_all, len(job) * self._block_size, job, then=written)

    def _cut(self, pieces: Iterator[Buffer]) -> Iterator[Buffer]:
        """Blocks of block_size bytes, the last one shorter; read-only views where they can be."""
        size = self._block_size
        carry = bytearray()
        for piece in pieces:
            view = memoryview(piece).cast("B")
            if not view.readonly:  # the caller may reuse it once we return
                view = memoryview(bytes(view))
            start = 0
            if carry:
                start = size - len(carry)
                carry += view[:start]
                if len(carry) < size:
                    continue
                yield bytes(carry)
                carry = bytearray()
            while len(view) - start >= size:
                yield view[start : start + size]
                start += size
            carry += view[start:]
        if carry:
            yield bytes(carry)

    def _add_tail(self, node: File, data: bytes) -> None:
        if len(self._fragment) + len(data) > self._block_size:
            self._flush_fragment()
        node.fragment, node.offset = self._fragment_count, len(self._fragment)
        self._fragment += data

    def _flush_fragment(self) -> None:
        self._full.append(bytes(self._fragment))
        self._fragment = bytearray()
        self._fragment_count += 1
        if len(self._full) * self._block_size >= _JOB:
            self._submit_fragments()

    def _submit_fragments(self) -> None:
        job, self._full = self._full, []
        size = len(job) * self._block_size
        self._pipeline.submit(self._store_all, size, job, then=self._fragments_written)

    def _store_all(self, blocks: list[Buffer]) -> list[_Stored]:
        """On a compression thread: each block compressed, or as is where that is no
        smaller; nothing for a block of zeros (a hole, read back as zeros)."""
        packed = self._compress_all(blocks)
        return [_stored(block, data) for block, data in zip(blocks, packed, strict=True)]

    def _blocks_written(self, node: File, stored: list[_Stored]) -> None:
        if not node.blocks:
            node.start = self._offset
        size = self._block_size
        for data, word in stored:
            if not word:  # a hole: its bytes count as sparse
                node.sparse += min(size, node.size - len(node.blocks) * size)
            node.blocks.append(word)
            self._write(data)

    def _fragments_written(self, stored: list[_Stored]) -> None:
        for data, word in stored:
            self._fragment_table += struct.pack("<QII", self._offset, word, 0)
            self._write(data)

    def _end(self) -> None:
        if self._fragment:
            self._flush_fragment()
        if self._full:
            self._submit_fragments()
        self._pipeline.drain()
        for folder in self._dirs.values():
            if folder.implicit:
                folder.mtime = self._newest
        folders = _bottom_up(self._root)
        count = _number(folders)
        inodes, listings = MetadataWriter(self._compress), MetadataWriter(self._compress)
        for folder, children, parent in folders:  # the root's parent: past the last inode
            _write_folder(
                folder, children, parent.number if parent else count + 1, inodes, listings
            )
        inode_table = self._offset
        self._write(inodes.finish())
        directory_table = self._offset
        self._write(listings.finish())
        fragments, index = lookup_table(self._compress, self._fragment_table, self._offset)
        fragment_table = self._offset + index
        self._write(fragments)
        ids, index = lookup_table(self._compress, struct.pack("<I", 0), self._offset)
        id_table = self._offset + index
        self._write(ids)
        used = self._offset
        self._write(bytes(-used % DEVICE_BLOCK))
        superblock = Superblock(
            inodes=count,
            mtime=self._newest,
            block_size=self._block_size,
            fragments=self._fragment_count,
            compression=self._settings.compression_id,
            has_options=bool(self._settings.options),
            root=self._root.reference,
            bytes_used=used,
            id_table=id_table,
            inode_table=inode_table,
            directory_table=directory_table,
            fragment_table=fragment_table,
        )
        self._raw.flush()
        os.pwrite(self._raw.fileno(), superblock.encode(), 0)

    def _stop(self) -> None:
        self._pipeline.abort()


def _stored(block: Buffer, packed: bytes) -> _Stored:
    # Zeros pack to almost nothing; only then are they compared (as bytes: memcmp).
    if len(packed) <= max(128, len(block) >> 7) and bytes(block) == _ZEROS[: len(block)]:
        return b"", 0
    if len(packed) < len(block):
        return packed, len(packed)
    return block, len(block) | UNCOMPRESSED_BLOCK


_Folder = tuple[Directory, list[tuple[bytes, Node]], Directory | None]


def _bottom_up(root: Directory) -> list[_Folder]:
    """Every folder after the folders under it, subfolders in name order; each with its
    entries sorted by name (as listings hold them) and its parent. No recursion: a tree may
    be deeper than Python's stack."""
    order: list[_Folder] = []
    stack = [_visit(root, None)]
    while stack:
        folder, children, parent, subfolders = stack[-1]
        sub = next(subfolders, None)
        if sub is None:
            order.append((folder, children, parent))
            stack.pop()
        else:
            stack.append(_visit(sub, folder))
    return order


def _visit(
    folder: Directory, parent: Directory | None
) -> tuple[Directory, list[tuple[bytes, Node]], Directory | None, Iterator[Directory]]:
    children = sorted(folder.children.items())
    subfolders = iter([node for _, node in children if isinstance(node, Directory)])
    return folder, children, parent, subfolders


def _number(folders: list[_Folder]) -> int:
    """Number the inodes in the order they are written: a folder after what it holds, so a
    listing's numbers lie close together. Returns how many there are."""
    last = 0
    for folder, children, _ in folders:
        for _, child in children:
            if child.kind != DIR and not child.number:  # a hard link's inode has one already
                last += 1
                child.number = last
        last += 1
        folder.number = last
    return last


def _write_folder(
    folder: Directory,
    children: list[tuple[bytes, Node]],
    parent: int,
    inodes: MetadataWriter,
    listings: MetadataWriter,
) -> None:
    """Write a folder's inodes (its subfolders' are written already), then its listing
    (which needs their references), then its own inode (which needs the listing's)."""
    for _, child in children:
        if isinstance(child, (File, Symlink)) and child.reference < 0:
            child.reference = inodes.reference()
            inodes.add(child.encode(inode_header(child)))
    where, start = listings.reference(), listings.position()
    entries = listing(children, start)
    listings.add(entries.data)
    lookup, count = index(entries, start, listings)
    folder.reference = inodes.reference()
    header = inode_header(folder)
    inodes.add(folder.encode(header, where, len(entries.data), parent, lookup, count))
