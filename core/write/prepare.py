"""What a worker does to one entry: read it, restore and verify it, or search it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

from ..errors import PrefixTooLong
from ..load import Environment, prefix_spellings
from ..paths import fsencode
from ..plan import PackOptions, PlanEntry
from ..relocate import FileMode, read_chunks, restore_package_bytes, restored_spelling, scan
from ..threads import IOPool
from ..unpack import (
    PrefixTooLongError,
    RelocationError,
    binary_room,
    relocate_bytes,
    replace_binary,
    replace_text,
)
from .bytecode import CompiledBytecode
from .entrypoints import portable_entry_point
from .files import current_size, open_file, read_file, read_head
from .image import ImageLayout
from .records import record_bytes
from .rewrite import Patch, Replace, Rewrite, measured_size, patched

# analyse/elf.py has it too; here, so that a pack looks at a file without importing pyelftools.
ELF_MAGIC = b"\x7fELF"
SMALL_FILE = 1 << 20  # read whole in a worker; larger files go in parts or stream
ELF_HEAD = 64 << 10  # read with the magic: the headers of almost every ELF file

# How a worker meets an entry: reads it whole; leaves it to the writer (or to part jobs)
# as a plain copy; or decides how a large file changes, for the writer to stream it so.
Handling = Literal["read", "stream", "rewrite"]


@dataclass(frozen=True)
class Relocation:
    """A packed file that holds a prefix: what conda-unpack replaces, and how."""

    path: str
    placeholder: str  # the prefix as it stands in the packed bytes
    mode: FileMode
    room: int | None = None  # binary files: the longest prefix that fits

    def manifest_entry(self) -> dict[str, str]:
        """The entry conda-unpack reads (manifest version 1)."""
        return {"path": self.path, "placeholder": self.placeholder, "mode": self.mode}


@dataclass(frozen=True)
class Prepared:
    """What a worker made of one entry: its bytes and notes."""

    content: bytes
    relocation: Relocation | None = None
    finding: str | None = None
    verified: bool = False
    rpath_fixes: tuple[tuple[str, str], ...] = ()
    rewrite: Rewrite | None = None  # a large file: content is empty, the writer streams it
    needs_link: bool = False  # an image's file that still names its fixed path


class Preparer:
    """Per-entry work done in worker threads: read, restore and verify, or search."""

    def __init__(
        self,
        env: Environment,
        options: PackOptions,
        compiled: CompiledBytecode | None = None,
        image: ImageLayout | None = None,
        io: IOPool | None = None,
    ):
        self.env = env
        self.io = io  # where plain copies are read: many at once on a slow filesystem
        self.compiled = compiled  # byte-code compiled at pack time
        self.prefixes = list(prefix_spellings(env))  # as spelt, resolved, as installed
        self.prefix_bytes = [fsencode(p) for p in self.prefixes]
        self.relocate_prefix = image.prefix if image else options.relocate_prefix
        self.fixed_path = fsencode(image.prefix) if image and image.mount_anywhere else None
        self.dry_run = options.dry_run
        self.fix_rpath = options.fix_rpath
        self.records = {f"conda-meta/{r.record_file}": r for r in env.records}

    def path(self, entry: PlanEntry) -> str:
        return f"{self.env.prefix}/{entry.name}"

    def read(self, entry: PlanEntry) -> tuple[bytes | None, Prepared | None]:
        """An entry's bytes for the archive, and what was done to them (None: copied)."""
        if entry.kind != "file":
            return None, None
        if entry.action == "copy" and not self.fix_rpath:
            return read_file(self.path(entry), entry.size), None  # most files
        prepared = self(entry)
        return prepared.content, prepared

    def read_all(self, entries: list[PlanEntry]) -> Iterator[tuple[bytes | None, Prepared | None]]:
        """read() of each entry, in order; on a slow filesystem their opens overlap."""
        if self.io is None:
            return map(self.read, entries)
        return self.io.map(self.read, entries, self._calls)

    def _calls(self, entry: PlanEntry) -> int:
        """What a plain copy costs the filesystem: open, read (one per 64 KiB), close.
        Other entries take the time their contents need: it says nothing of the disk."""
        if entry.kind != "file" or entry.action != "copy" or self.fix_rpath:
            return 0
        return 3 + entry.size // 65536

    def handling(self, entry: PlanEntry) -> Handling:
        """Files up to SMALL_FILE are read whole. A larger plain copy is streamed (a dry
        run reads no plain copy at all); a larger file that changes on the way (restored,
        searched, or an ELF file under --fix-rpath: the magic number tells) is rewritten."""
        if entry.kind != "file" or entry.action == "record":
            return "read"
        if entry.action == "compiled":  # in a group file, read whole as it was compiled
            return "read"
        large = entry.size > SMALL_FILE
        if entry.action != "copy":
            return "rewrite" if large else "read"
        if self.fix_rpath and (not large or self._elf(entry)):
            return "rewrite" if large else "read"
        return "stream" if large or self.dry_run else "read"

    def _elf(self, entry: PlanEntry) -> bool:
        return read_head(self.path(entry), len(ELF_MAGIC)) == ELF_MAGIC

    def _to_origin(self, entry: PlanEntry) -> Callable[[str], str]:
        """Absolute RPATH/RUNPATH entries into the prefix, as $ORIGIN-relative ones."""
        from ..analyse.elf import origin_relative

        def to_origin(value: str) -> str:
            for prefix in self.prefixes:
                relative = origin_relative(value, entry.name, prefix)
                if relative is not None:
                    return relative
            return value

        return to_origin

    def _rpath_patches(self, entry: PlanEntry, data: bytes | None) -> tuple[list[Patch], tuple]:
        """--fix-rpath, in the archived copy only: the bytes that make absolute RPATH/RUNPATH
        entries into the prefix $ORIGIN-relative, found in `data` or, for a large file, in
        its headers read from disk. Files whose record covers the prefix are left to
        conda-unpack."""
        # Imported here: the ELF parser is a tenth of a plain pack's start-up.
        from ..analyse.elf import ElfError, FileBytes, is_elf, rpath_patches

        if entry.action == "restore":
            return [], ()
        if data is not None:
            if not is_elf(data[:4]):
                return [], ()
            try:
                patches, fixes = rpath_patches(data, self._to_origin(entry))
            except ElfError:
                return [], ()
            return patches, tuple(fixes)
        fd = open_file(self.path(entry))
        try:
            head = os.pread(fd, ELF_HEAD, 0)
            if not is_elf(head):
                return [], ()
            source = FileBytes(head, fd, os.fstat(fd).st_size)
            try:
                patches, fixes = rpath_patches(source, self._to_origin(entry))
            except ElfError:
                return [], ()
        finally:
            os.close(fd)
        return patches, tuple(fixes)

    def __call__(self, entry: PlanEntry) -> Prepared:
        if entry.action == "record":
            record = self.records[entry.name]
            return Prepared(record_bytes(self.path(entry), entry.size, record))
        if entry.action == "compiled":
            assert self.compiled is not None  # only a plan with_bytecode() has such entries
            return Prepared(self.compiled.read(entry.name))
        data = read_file(self.path(entry), entry.size)
        fixes: tuple = ()
        if self.fix_rpath:
            patches, fixes = self._rpath_patches(entry, data)
            if patches:
                buffer = bytearray(data)
                for at, raw in patches:
                    buffer[at : at + len(raw)] = raw
                data = bytes(buffer)
        if entry.action == "copy":
            return Prepared(data, rpath_fixes=fixes)
        prepared = self._restore(entry, data) if entry.action == "restore" else None
        prepared = prepared or self._search(entry, data)
        if self.fixed_path is not None and prepared.relocation is not None:
            # What still names the fixed path needs the link bin/cpk-run makes (Python
            # scripts do not: _final gave them a launcher that finds the Python beside them).
            prepared = replace(prepared, needs_link=self.fixed_path in prepared.content)
        return replace(prepared, rpath_fixes=fixes) if fixes else prepared

    def rewrite(self, entry: PlanEntry) -> Prepared:
        """What __call__ decides for a large file, from reads in chunks: the file's bytes
        stay on disk and the writer streams them through the Rewrite."""
        patches: list[Patch] = []
        fixes: tuple = ()
        if self.fix_rpath:
            patches, fixes = self._rpath_patches(entry, None)
        if entry.action == "copy":
            plain = Rewrite(current_size(self.path(entry)), tuple(patches))
            return Prepared(b"", rpath_fixes=fixes, rewrite=plain)
        prepared = self._restore_large(entry) if entry.action == "restore" else None
        prepared = prepared or self._search_large(entry, tuple(patches))
        if self.fixed_path is not None and prepared.relocation is not None:
            prepared = replace(prepared, needs_link=True)  # relocated to the fixed path
        return replace(prepared, rpath_fixes=fixes) if fixes else prepared

    def _too_long(self, entry: PlanEntry, exc: RelocationError) -> PrefixTooLong:
        """A --relocate-prefix too long for this file's room is the user's to fix, told
        with the file named."""
        new = self.relocate_prefix or ""
        room = f"room for {exc.room} bytes" if isinstance(exc, PrefixTooLongError) else exc
        return PrefixTooLong(
            f"{entry.name}: --relocate-prefix is {len(fsencode(new))} bytes but this binary"
            f" has {room}; choose a shorter prefix (--check --relocate-prefix {new}"
            " lists every such file)"
        )

    def _final(self, entry: PlanEntry, data: bytes, old: str, mode: FileMode) -> bytes:
        """The bytes as archived: a Python script made to find its interpreter next to it,
        then --relocate-prefix applied."""
        if mode == "text":
            portable = portable_entry_point(data, entry.name, [fsencode(old)], self._exists)
            data = data if portable is None else portable
        new = self.relocate_prefix
        if new is None:
            return data
        try:
            return relocate_bytes(data, old, new, mode)
        except RelocationError as exc:
            raise self._too_long(entry, exc) from exc

    def _exists(self, name: str) -> bool:
        return name in self.env.files

    def _restore(self, entry: PlanEntry, data: bytes) -> Prepared | None:
        placeholder = fsencode(entry.placeholder)
        restored = restore_package_bytes(
            data, self.prefix_bytes, placeholder, entry.file_mode, entry.sha256
        )
        if restored is None:
            return None
        reloc = self._restored(entry)
        content = self._final(entry, restored, entry.placeholder, reloc.mode)
        return Prepared(content, reloc, verified=True)

    def _restored(self, entry: PlanEntry) -> Relocation:
        mode: FileMode = "binary" if entry.file_mode == "binary" else "text"
        room = len(fsencode(entry.placeholder)) if mode == "binary" else None
        return Relocation(entry.name, entry.placeholder, mode, room)

    def _restore_large(self, entry: PlanEntry) -> Prepared | None:
        placeholder = fsencode(entry.placeholder)
        fd = open_file(self.path(entry))
        try:
            chunks = read_chunks(fd)
            spelling = restored_spelling(
                chunks, self.prefix_bytes, placeholder, entry.file_mode, entry.sha256
            )
        finally:
            os.close(fd)
        if spelling is None:
            return None
        reloc = self._restored(entry)
        replaces: list[Replace] = [(spelling, placeholder, reloc.mode)]
        if self.relocate_prefix is not None:
            replaces.append((placeholder, fsencode(self.relocate_prefix), reloc.mode))
        rewrite = self._rewrite(entry, (), replaces)
        return Prepared(b"", reloc, verified=True, rewrite=rewrite)

    def _spellings(self, found: list[bytes]) -> tuple[bytes, list[bytes]]:
        """The spelling a file's prefix is packed as (the shortest found, so that a binary
        always has room for it) and the others, longest first, to turn into it."""
        canonical = min(found, key=len)
        others = sorted((f for f in found if f != canonical), key=len, reverse=True)
        return canonical, others

    def _search(self, entry: PlanEntry, data: bytes) -> Prepared:
        found = [needle for needle in self.prefix_bytes if needle in data]
        if not found:
            return Prepared(data, finding=self._unchanged(entry))
        mode: FileMode = "binary" if b"\0" in data else "text"
        canonical, others = self._spellings(found)
        replace = replace_binary if mode == "binary" else replace_text
        for other in others:
            data = replace(data, other, canonical)
        room = binary_room(data, canonical) if mode == "binary" else None
        reloc, finding = self._found(entry, canonical, mode, room)
        if reloc is None:
            return Prepared(data, finding=finding)
        return Prepared(self._final(entry, data, reloc.placeholder, mode), reloc, finding)

    def _search_large(self, entry: PlanEntry, patches: tuple[Patch, ...]) -> Prepared:
        fd = open_file(self.path(entry))
        try:
            result = scan(patched(read_chunks(fd), patches), self.prefix_bytes)
        finally:
            os.close(fd)
        counted = [n for n in result.needles if n.count]
        if not counted:
            rewrite = self._rewrite(entry, patches, [])
            return Prepared(b"", finding=self._unchanged(entry), rewrite=rewrite)
        mode: FileMode = "binary" if result.has_nul else "text"
        canonical, others = self._spellings([n.needle for n in counted])
        room = min(n.room for n in counted) if mode == "binary" else None
        reloc, finding = self._found(entry, canonical, mode, room)
        replaces: list[Replace] = []
        if reloc is not None:
            replaces += [(other, canonical, mode) for other in others]
            if self.relocate_prefix is not None:
                replaces.append((canonical, fsencode(self.relocate_prefix), mode))
        rewrite = self._rewrite(entry, patches, replaces)
        return Prepared(b"", reloc, finding, rewrite=rewrite)

    def _rewrite(
        self, entry: PlanEntry, patches: tuple[Patch, ...], replaces: list[Replace]
    ) -> Rewrite:
        """The Rewrite of a large file, its packed size measured."""
        try:
            size = measured_size(self.path(entry), patches, tuple(replaces))
        except RelocationError as exc:
            raise self._too_long(entry, exc) from exc
        return Rewrite(size, patches, tuple(replaces))

    @staticmethod
    def _unchanged(entry: PlanEntry) -> str | None:
        """A file that was to be restored but holds no prefix: changed, packed as it is."""
        if entry.action == "restore":
            return f"{entry.name}: differs from its package and holds no prefix; packed as is"
        return None

    def _found(
        self, entry: PlanEntry, needle: bytes, mode: FileMode, room: int | None
    ) -> tuple[Relocation | None, str | None]:
        """What a file found holding the prefix becomes: its relocation and any finding
        (no relocation: byte-code without its source, which cannot be relocated)."""
        if entry.name.endswith(".pyc"):
            return None, (
                f"{entry.name}: byte-code without its source holds"
                " the prefix; it cannot be relocated (reinstall from source)"
            )
        if entry.action == "restore":
            what = "modified after install"
        else:
            what = f"written at install by {entry.owner}" if entry.owner else "untracked"
        spelling = self.prefixes[self.prefix_bytes.index(needle)]
        reloc = Relocation(entry.name, spelling, mode, room)
        finding = None
        if room is not None:
            if room <= len(needle):
                finding = (
                    f"{entry.name} ({what}): binary holds the prefix with no spare room;"
                    f" it can only move to prefixes of at most {room} bytes"
                )
        elif entry.action == "restore":
            finding = f"{entry.name}: {what}; packed as is and relocated by search"
        return reloc, finding
