"""ELF inspection for relocation analysis: interpreter, NEEDED, RPATH/RUNPATH, SONAME.

Only the ELF header, the program headers and the PT_DYNAMIC segment are read, which is
all ld.so itself looks at: stripped files and files whose section headers are removed
or broken still parse. The structures are decoded with `struct` rather than through
pyelftools' ELFFile: its construct-based parsing costs about 1 ms per file (and its
DynamicSegment walks the section headers), while an environment holds hundreds of
ELF files. pyelftools supplies the names (e_machine, e_type) and the tag numbers.
"""

from __future__ import annotations

import os
import posixpath
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from elftools.elf.enums import ENUM_D_TAG, ENUM_E_MACHINE, ENUM_E_TYPE, ENUM_P_TYPE_BASE

from ..paths import fsencode

ELF_MAGIC = b"\x7fELF"

SUBDIR_MACHINES: dict[str, tuple[str, int, bool]] = {
    "linux-64": ("EM_X86_64", 64, True),
    "linux-aarch64": ("EM_AARCH64", 64, True),
    "linux-ppc64le": ("EM_PPC64", 64, True),
    "linux-s390x": ("EM_S390", 64, False),
    "linux-32": ("EM_386", 32, True),
    "linux-armv7l": ("EM_ARM", 32, True),
}


def _names(enum: Mapping[str, object]) -> dict[int, str]:
    """Value -> name; the first name wins where pyelftools lists aliases."""
    out: dict[int, str] = {}
    for name, value in enum.items():
        if isinstance(value, int):
            out.setdefault(value, name)
    return out


_MACHINE_NAMES = _names(ENUM_E_MACHINE)
_TYPE_NAMES = _names(ENUM_E_TYPE)
PT_LOAD = ENUM_P_TYPE_BASE["PT_LOAD"]
PT_DYNAMIC = ENUM_P_TYPE_BASE["PT_DYNAMIC"]
PT_INTERP = ENUM_P_TYPE_BASE["PT_INTERP"]
DT_NULL = ENUM_D_TAG["DT_NULL"]
DT_NEEDED = ENUM_D_TAG["DT_NEEDED"]
DT_STRTAB = ENUM_D_TAG["DT_STRTAB"]
DT_STRSZ = ENUM_D_TAG["DT_STRSZ"]
DT_SONAME = ENUM_D_TAG["DT_SONAME"]
DT_RPATH = ENUM_D_TAG["DT_RPATH"]
DT_RUNPATH = ENUM_D_TAG["DT_RUNPATH"]
_STRING_TAGS = {
    DT_NEEDED: "DT_NEEDED",
    DT_SONAME: "DT_SONAME",
    DT_RPATH: "DT_RPATH",
    DT_RUNPATH: "DT_RUNPATH",
}
PN_XNUM = 0xFFFF


class ElfError(Exception):
    """The bytes are not a well-formed ELF file; the message says what is wrong."""


@dataclass(frozen=True)
class ElfInfo:
    """What relocation analysis needs of one file; paths decoded with surrogateescape."""

    elf_class: int
    little_endian: bool
    machine: str
    elf_type: str
    interpreter: str | None
    is_dynamic: bool
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    needed: tuple[str, ...]
    soname: str | None


@dataclass(frozen=True)
class _Layout:
    """Per class/byte order struct formats: header tail, program header, dynamic entry."""

    header: struct.Struct
    phdr: struct.Struct
    dyn: str
    dyn_size: int
    phdr_fields: tuple[int, int, int, int]  # indexes of p_type, p_offset, p_vaddr, p_filesz


def _layout(elf_class: int, little: bool) -> _Layout:
    e = "<" if little else ">"
    if elf_class == 64:
        return _Layout(
            struct.Struct(e + "HHIQQQIHHHHHH"),
            struct.Struct(e + "IIQQQQQQ"),
            e + "qQ",
            16,
            (0, 2, 3, 5),
        )
    return _Layout(
        struct.Struct(e + "HHIIIIIHHHHHH"), struct.Struct(e + "IIIIIIII"), e + "iI", 8, (0, 1, 2, 4)
    )


_LAYOUTS = {(c, le): _layout(c, le) for c in (32, 64) for le in (True, False)}


@dataclass(frozen=True)
class _Parsed:
    """What read_elf and rewrite_rpath share: the header facts and the dynamic table."""

    elf_class: int
    little_endian: bool
    e_machine: int
    e_type: int
    interpreter: bytes | None
    is_dynamic: bool
    dynamic: tuple[tuple[int, int], ...]  # (d_tag, d_val) up to DT_NULL
    strtab: tuple[int, int]  # file offset, end offset (both 0 when unused)


# Strings and tables are read this much at a time: nothing is read whole that need not be.
_PIECE = 4096


class _Bytes:
    """Bytes already in memory (a buffer the packer rewrites, or bytes a test built)."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data
        self.size = len(data)

    def read(self, offset: int, size: int) -> bytes:
        return bytes(self.data[offset : offset + size])


@dataclass(frozen=True)
class FileBytes:
    """An open file for the parser: its head, already read, and the rest read on demand.

    The head holds the headers of almost every file; the dynamic strings of a large
    library may lie beyond, and are read where they are, never with the whole file.
    """

    head: bytes
    fd: int
    size: int

    def read(self, offset: int, size: int) -> bytes:
        if offset + size <= len(self.head):
            return self.head[offset : offset + size]
        return os.pread(self.fd, size, offset)


_Source = _Bytes | FileBytes


def _check(src: _Source, offset: int, size: int, what: str) -> None:
    if offset + size > src.size:
        raise ElfError(
            f"truncated: {what} at offset {offset} needs {size} bytes, file has {src.size}"
        )


def _until_nul(src: _Source, offset: int, end: int) -> tuple[bytes, bool]:
    """The bytes from `offset` up to the first NUL before `end`, and whether there was one."""
    parts: list[bytes] = []
    while offset < end:
        piece = src.read(offset, min(_PIECE, end - offset))
        stop = piece.find(b"\0")
        if stop >= 0:
            parts.append(piece[:stop])
            return b"".join(parts), True
        if not piece:
            break
        parts.append(piece)
        offset += len(piece)
    return b"".join(parts), False


def _cstring(src: _Source, offset: int, end: int, what: str) -> bytes:
    if offset >= end:
        raise ElfError(f"{what} string offset {offset} is outside the string table")
    string, terminated = _until_nul(src, offset, end)
    if not terminated:
        raise ElfError(f"{what} string at offset {offset} is not terminated (truncated?)")
    return string


def _records(src: _Source, offset: int, count: int, size: int) -> Iterator[memoryview]:
    """`count` table entries of `size` bytes from `offset`, read a piece at a time."""
    if not count:
        return  # e_phentsize may be 0 when there is no program header
    per_piece = max(1, _PIECE // size)
    for first in range(0, count, per_piece):
        n = min(per_piece, count - first)
        piece = memoryview(src.read(offset + first * size, n * size))
        for k in range(n):
            yield piece[k * size : (k + 1) * size]


def _parse(src: _Source) -> _Parsed:
    ident = src.read(0, 16)
    if len(ident) < 16 or ident[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file (no \\x7fELF magic)")
    if ident[4] not in (1, 2):
        raise ElfError(f"unknown ELF class {ident[4]}")
    if ident[5] not in (1, 2):
        raise ElfError(f"unknown ELF data encoding {ident[5]}")
    elf_class, little = (32, 64)[ident[4] - 1], ident[5] == 1
    lay = _LAYOUTS[elf_class, little]
    _check(src, 16, lay.header.size, "ELF header")
    (e_type, e_machine, _, _, phoff, shoff, _, _, phentsize, phnum, _, _, _) = lay.header.unpack(
        src.read(16, lay.header.size)
    )
    if phnum == PN_XNUM:
        # The real count lives in sh_info of section header 0 (which starts with
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info).
        info_at = shoff + (28 if elf_class == 32 else 44)
        _check(src, info_at, 4, "section header 0 (program header count)")
        phnum = struct.unpack("<I" if little else ">I", src.read(info_at, 4))[0]
    if phnum and phentsize < lay.phdr.size:
        raise ElfError(f"e_phentsize {phentsize} is smaller than a program header")
    _check(src, phoff, phnum * phentsize, "program header table")

    i_type, i_off, i_vaddr, i_filesz = lay.phdr_fields
    loads: list[tuple[int, int, int]] = []
    interp: bytes | None = None
    dyn_seg: tuple[int, int] | None = None
    for entry in _records(src, phoff, phnum, phentsize):
        ph = lay.phdr.unpack_from(entry)
        p_type, p_offset, p_filesz = ph[i_type], ph[i_off], ph[i_filesz]
        if p_type == PT_LOAD:
            loads.append((ph[i_vaddr], p_filesz, p_offset))
        elif p_type == PT_INTERP and interp is None:
            _check(src, p_offset, p_filesz, "PT_INTERP")
            interp = _until_nul(src, p_offset, p_offset + p_filesz)[0]
        elif p_type == PT_DYNAMIC and dyn_seg is None:
            _check(src, p_offset, p_filesz, "PT_DYNAMIC")
            dyn_seg = (p_offset, p_filesz)

    dynamic: list[tuple[int, int]] = []
    if dyn_seg is not None:
        offset, size = dyn_seg
        for entry in _records(src, offset, size // lay.dyn_size, lay.dyn_size):
            tag, val = struct.unpack(lay.dyn, entry)
            if tag == DT_NULL:
                break
            dynamic.append((tag, val))

    strtab = (0, 0)
    if any(tag in _STRING_TAGS for tag, _ in dynamic):
        strtab = _strtab(dict(reversed(dynamic)), loads, src.size)
    return _Parsed(
        elf_class, little, e_machine, e_type, interp, dyn_seg is not None, tuple(dynamic), strtab
    )


def _strtab(
    values: dict[int, int], loads: list[tuple[int, int, int]], size: int
) -> tuple[int, int]:
    """Where the dynamic string table lies in the file: the PT_LOAD holding DT_STRTAB says.

    `values`: the first value of each dynamic tag.
    """
    if DT_STRTAB not in values:
        raise ElfError("dynamic segment has string entries but no DT_STRTAB")
    addr = values[DT_STRTAB]
    for vaddr, filesz, p_offset in loads:
        if vaddr <= addr < vaddr + filesz:
            start = addr - vaddr + p_offset
            # The table ends at DT_STRSZ, the end of its PT_LOAD, or the end of the file.
            end = min(vaddr + filesz - addr, values.get(DT_STRSZ, filesz)) + start
            return start, min(end, size)
    raise ElfError(f"DT_STRTAB address {addr:#x} is not in any PT_LOAD segment")


def _decode(raw: bytes) -> str:
    """Paths are bytes; surrogateescape keeps non-UTF-8 names round-trippable."""
    return raw.decode("utf-8", "surrogateescape")


def is_elf(head: bytes) -> bool:
    return head[:4] == ELF_MAGIC


def read_elf(data: bytes | FileBytes) -> ElfInfo:
    """Parse bytes the caller already read, or an open file from its head on."""
    src = data if isinstance(data, FileBytes) else _Bytes(data)
    try:
        p = _parse(src)
        start, end = p.strtab
        rpath: list[str] = []
        runpath: list[str] = []
        needed: list[str] = []
        soname: str | None = None
        for tag, val in p.dynamic:
            if tag in _STRING_TAGS:
                text = _decode(_cstring(src, start + val, end, _STRING_TAGS[tag]))
                if tag == DT_NEEDED:
                    needed.append(text)
                elif tag == DT_RPATH:
                    rpath.extend(text.split(":"))
                elif tag == DT_RUNPATH:
                    runpath.extend(text.split(":"))
                elif soname is None:
                    soname = text
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        raise ElfError(f"malformed ELF data: {exc}") from exc
    return ElfInfo(
        elf_class=p.elf_class,
        little_endian=p.little_endian,
        machine=_MACHINE_NAMES.get(p.e_machine, f"EM_UNKNOWN_{p.e_machine}"),
        elf_type=_TYPE_NAMES.get(p.e_type, f"ET_UNKNOWN_{p.e_type:#x}"),
        interpreter=None if p.interpreter is None else _decode(p.interpreter),
        is_dynamic=p.is_dynamic,
        rpath=tuple(rpath),
        runpath=tuple(runpath),
        needed=tuple(needed),
        soname=soname,
    )


def matches_subdir(info: ElfInfo, subdir: str) -> bool:
    """Subdirs we know no machine for (noarch, osx-*, ...) cannot be contradicted."""
    expected = SUBDIR_MACHINES.get(subdir)
    return expected is None or expected == (info.machine, info.elf_class, info.little_endian)


def rewrite_rpath(data: bytearray, old_entry_to_new: Callable[[str], str]) -> list[tuple[str, str]]:
    """Rewrite DT_RPATH/DT_RUNPATH strings in place in the copy being archived."""
    patches, changed = rpath_patches(data, old_entry_to_new)
    for at, raw in patches:
        data[at : at + len(raw)] = raw
    return changed


def rpath_patches(
    data: bytes | bytearray | FileBytes, old_entry_to_new: Callable[[str], str]
) -> tuple[list[tuple[int, bytes]], list[tuple[str, str]]]:
    """The bytes that rewrite DT_RPATH/DT_RUNPATH strings, as (file offset, bytes), and the
    (old, new) values: a large file is patched as it streams, never read whole.

    A new value only fits where the old one was (.dynstr cannot grow without relinking),
    so a longer one is left alone and not reported; the remainder is padded with NULs.
    A string another dynamic entry points into (linkers merge string tails) is left alone
    too; one string shared by DT_RPATH and DT_RUNPATH is rewritten once, reported for both.
    Symbol and version names could share such a tail as well; like patchelf's in-place
    rewrite, that is not checked (it needs a "/"-free RPATH tail equal to a symbol name).
    """
    src = data if isinstance(data, FileBytes) else _Bytes(data)
    try:
        p = _parse(src)
        start, end = p.strtab
        string_offsets = {start + val for tag, val in p.dynamic if tag in _STRING_TAGS}
        done: dict[int, tuple[str, str]] = {}
        patches: list[tuple[int, bytes]] = []
        changed: list[tuple[str, str]] = []
        for tag, val in p.dynamic:
            if tag not in (DT_RPATH, DT_RUNPATH):
                continue
            at = start + val
            if at in done:  # old linkers point DT_RPATH and DT_RUNPATH at one string
                changed.append(done[at])
                continue
            old_raw = _cstring(src, at, end, _STRING_TAGS[tag])
            old = _decode(old_raw)
            new = ":".join(old_entry_to_new(entry) for entry in old.split(":"))
            new_raw = fsencode(new)
            shared = any(at < o < at + len(old_raw) for o in string_offsets)
            if new == old or len(new_raw) > len(old_raw) or shared:
                continue
            patches.append((at, new_raw.ljust(len(old_raw), b"\0")))
            done[at] = (old, new)
            changed.append((old, new))
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        raise ElfError(f"malformed ELF data: {exc}") from exc
    return patches, changed


def origin_relative(entry: str, file_relpath: str, prefix: str) -> str | None:
    """Express an absolute entry inside the prefix as $ORIGIN-relative, so it moves with it."""
    if not posixpath.isabs(entry) or not posixpath.isabs(prefix):
        return None
    inside = posixpath.relpath(posixpath.normpath(entry), posixpath.normpath(prefix))
    if inside == ".." or inside.startswith("../"):
        return None
    file_dir = posixpath.dirname(posixpath.normpath(file_relpath)) or "."
    rel = posixpath.relpath(inside, file_dir)
    return "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"
