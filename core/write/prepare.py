"""What a worker does to one entry: read it, restore and verify it, or search it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import PrefixTooLong
from ..load import Environment
from ..paths import fsencode
from ..plan import PackOptions, PlanEntry
from ..relocate import FileMode, restore_package_bytes
from ..unpack import PrefixTooLongError, RelocationError, binary_room, relocate_bytes
from .files import read_file, read_head
from .image import ImageLayout, relative_shebang
from .records import record_bytes

ELF_MAGIC = b"\x7fELF"
SMALL_FILE = 1 << 20  # read whole in a worker; larger copies go in parts (or stream)


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
    needs_link: bool = False  # an image's file that still names its fixed path


class Preparer:
    """Per-entry work done in worker threads: read, restore and verify, or search."""

    def __init__(self, env: Environment, options: PackOptions, image: ImageLayout | None = None):
        self.env = env
        self.prefixes = list(dict.fromkeys((env.prefix, env.real_prefix)))  # as spelt, resolved
        self.prefix_bytes = [fsencode(p) for p in self.prefixes]
        self.relocate_prefix = image.prefix if image else options.relocate_prefix
        self.fixed_path = fsencode(image.prefix) if image and image.mount_anywhere else None
        self.dry_run = options.dry_run
        self.fix_rpath = options.fix_rpath
        self.records = {f"conda-meta/{r.record_file}": r for r in env.records}

    def path(self, entry: PlanEntry) -> str:
        return f"{self.env.prefix}/{entry.name}"

    def large(self, entry: PlanEntry) -> bool:
        """A plain copy too large to read whole: read in parts, or streamed by the writer
        (and by a dry run, which reads no plain copy at all). Under --fix-rpath, an ELF file
        is read whole to rewrite its RPATH; the magic number tells, read first."""
        if entry.kind != "file" or entry.action != "copy":
            return False
        if self.fix_rpath and (entry.size <= SMALL_FILE or self._elf(entry)):
            return False
        return self.dry_run or entry.size > SMALL_FILE

    def _elf(self, entry: PlanEntry) -> bool:
        return read_head(self.path(entry), len(ELF_MAGIC)) == ELF_MAGIC

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
            return Prepared(record_bytes(self.path(entry), entry.size, record))
        data = read_file(self.path(entry), entry.size)
        fixes: tuple = ()
        if self.fix_rpath:
            data, fixes = self._fix_rpath(entry, data)
        if entry.action == "copy":
            return Prepared(data, rpath_fixes=fixes)
        prepared = self._restore(entry, data) if entry.action == "restore" else None
        prepared = prepared or self._search(entry, data)
        if self.fixed_path is not None and prepared.relocation is not None:
            prepared = self._launcher(entry, prepared, self.fixed_path)
        return replace(prepared, rpath_fixes=fixes) if fixes else prepared

    @staticmethod
    def _launcher(entry: PlanEntry, prepared: Prepared, fixed_path: bytes) -> Prepared:
        """A mount-anywhere image's file: Python scripts find their interpreter beside them;
        what still names the fixed path needs the link bin/cpk-run makes."""
        content = prepared.content
        if prepared.relocation is not None and prepared.relocation.mode == "text":
            content = relative_shebang(content, fixed_path, entry.name)
        return replace(prepared, content=content, needs_link=fixed_path in content)

    def _final(self, entry: PlanEntry, data: bytes, old: str, mode: FileMode) -> bytes:
        """The bytes with --relocate-prefix applied; a prefix too long for this file's room
        is the user's to fix, told with the file named."""
        new = self.relocate_prefix
        if new is None:
            return data
        try:
            return relocate_bytes(data, old, new, mode)
        except RelocationError as exc:
            room = f"room for {exc.room} bytes" if isinstance(exc, PrefixTooLongError) else exc
            raise PrefixTooLong(
                f"{entry.name}: --relocate-prefix is {len(fsencode(new))} bytes but this binary"
                f" has {room}; choose a shorter prefix (--check --relocate-prefix {new}"
                " lists every such file)"
            ) from exc

    def _restore(self, entry: PlanEntry, data: bytes) -> Prepared | None:
        placeholder = fsencode(entry.placeholder)
        restored = restore_package_bytes(
            data, self.prefix_bytes, placeholder, entry.file_mode, entry.sha256
        )
        if restored is None:
            return None
        mode: FileMode = "binary" if entry.file_mode == "binary" else "text"
        room = len(placeholder) if mode == "binary" else None
        reloc = Relocation(entry.name, entry.placeholder, mode, room)
        content = self._final(entry, restored, entry.placeholder, mode)
        return Prepared(content, reloc, verified=True)

    def _search(self, entry: PlanEntry, data: bytes) -> Prepared:
        prefix = self.env.prefix
        needle = fsencode(prefix)
        if needle not in data:
            note = None
            if entry.action == "restore":
                note = f"{entry.name}: differs from its package and holds no prefix; packed as is"
            return Prepared(data, finding=note)
        mode: FileMode = "binary" if b"\0" in data else "text"
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
        finding = None
        room = binary_room(data, needle) if mode == "binary" else None
        reloc = Relocation(entry.name, prefix, mode, room)
        if room is not None:
            if room <= len(needle):
                finding = (
                    f"{entry.name} ({what}): binary holds the prefix with no spare room;"
                    f" it can only move to prefixes of at most {room} bytes"
                )
        elif entry.action == "restore":
            finding = f"{entry.name}: {what}; packed as is and relocated by search"
        return Prepared(self._final(entry, data, prefix, mode), reloc, finding)
