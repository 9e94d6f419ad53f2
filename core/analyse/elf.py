"""ELF inspection for relocation analysis: interpreter, NEEDED, RPATH/RUNPATH, SONAME.

Only the ELF header, the program headers and the PT_DYNAMIC segment are read, which is
all ld.so itself looks at: stripped files and files whose section headers are removed
or broken still parse. The structures are decoded with `struct` rather than through
pyelftools' ELFFile: its construct-based parsing costs about 1 ms per file (and its
DynamicSegment walks the section headers), while an environment holds hundreds of
ELF files. pyelftools supplies the names (e_machine, e_type) and the tag numbers.
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from elftools.elf.enums import ENUM_D_TAG, ENUM_E_MACHINE, ENUM_E_TYPE, ENUM_P_TYPE_BASE

ELF_MAGIC = b"\x7fELF"

SUBDIR_MACHINES: dict[str, tuple[str, int, bool]] = {
    "linux-64": ("EM_X86_64", 64, True),
    "linux-aarch64": ("EM_AARCH64", 64, True),
    "linux-ppc64le": ("EM_PPC64", 64, True),
    "linux-s390x": ("EM_S390", 64, False),
    "linux-32": ("EM_386", 32, True),
    "linux-armv7l": ("EM_ARM", 32, True),
}

# Where glibc's ld.so looks last (its trusted directories), for both multiarch layouts.
DEFAULT_LIB_DIRS = (
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
)


def _names(enum: dict[str, object]) -> dict[int, str]:
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


def _check(data: bytes | bytearray, offset: int, size: int, what: str) -> None:
    if offset + size > len(data):
        raise ElfError(
            f"truncated: {what} at offset {offset} needs {size} bytes, file has {len(data)}"
        )


def _cstring(data: bytes | bytearray, offset: int, end: int, what: str) -> bytes:
    if offset >= end:
        raise ElfError(f"{what} string offset {offset} is outside the string table")
    stop = data.find(b"\0", offset, end)
    if stop < 0:
        raise ElfError(f"{what} string at offset {offset} is not terminated (truncated?)")
    return bytes(data[offset:stop])


def _parse(data: bytes | bytearray) -> _Parsed:
    if len(data) < 16 or data[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file (no \\x7fELF magic)")
    if data[4] not in (1, 2):
        raise ElfError(f"unknown ELF class {data[4]}")
    if data[5] not in (1, 2):
        raise ElfError(f"unknown ELF data encoding {data[5]}")
    elf_class, little = (32, 64)[data[4] - 1], data[5] == 1
    lay = _LAYOUTS[elf_class, little]
    _check(data, 16, lay.header.size, "ELF header")
    (e_type, e_machine, _, _, phoff, shoff, _, _, phentsize, phnum, _, _, _) = (
        lay.header.unpack_from(data, 16)
    )
    if phnum == PN_XNUM:
        # The real count lives in sh_info of section header 0 (which starts with
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info).
        info_at = shoff + (28 if elf_class == 32 else 44)
        _check(data, info_at, 4, "section header 0 (program header count)")
        phnum = struct.unpack_from("<I" if little else ">I", data, info_at)[0]
    if phnum and phentsize < lay.phdr.size:
        raise ElfError(f"e_phentsize {phentsize} is smaller than a program header")
    _check(data, phoff, phnum * phentsize, "program header table")

    i_type, i_off, i_vaddr, i_filesz = lay.phdr_fields
    loads: list[tuple[int, int, int]] = []
    interp: bytes | None = None
    dyn_seg: tuple[int, int] | None = None
    for n in range(phnum):
        ph = lay.phdr.unpack_from(data, phoff + n * phentsize)
        p_type, p_offset, p_filesz = ph[i_type], ph[i_off], ph[i_filesz]
        if p_type == PT_LOAD:
            loads.append((ph[i_vaddr], p_filesz, p_offset))
        elif p_type == PT_INTERP and interp is None:
            _check(data, p_offset, p_filesz, "PT_INTERP")
            interp = bytes(data[p_offset : p_offset + p_filesz]).split(b"\0", 1)[0]
        elif p_type == PT_DYNAMIC and dyn_seg is None:
            _check(data, p_offset, p_filesz, "PT_DYNAMIC")
            dyn_seg = (p_offset, p_filesz)

    dynamic: list[tuple[int, int]] = []
    if dyn_seg is not None:
        offset, size = dyn_seg
        usable = size - size % lay.dyn_size
        for tag, val in struct.iter_unpack(lay.dyn, memoryview(data)[offset : offset + usable]):
            if tag == DT_NULL:
                break
            dynamic.append((tag, val))

    strtab = (0, 0)
    if any(tag in _STRING_TAGS for tag, _ in dynamic):
        values = dict(reversed(dynamic))  # the first occurrence of each tag wins
        if DT_STRTAB not in values:
            raise ElfError("dynamic segment has string entries but no DT_STRTAB")
        addr = values[DT_STRTAB]
        for vaddr, filesz, p_offset in loads:
            if vaddr <= addr < vaddr + filesz:
                start = addr - vaddr + p_offset
                # The table ends at DT_STRSZ, the end of its PT_LOAD, or the end of the data.
                end = min(vaddr + filesz - addr, values.get(DT_STRSZ, filesz)) + start
                strtab = (start, min(end, len(data)))
                break
        else:
            raise ElfError(f"DT_STRTAB address {addr:#x} is not in any PT_LOAD segment")
    return _Parsed(
        elf_class, little, e_machine, e_type, interp, dyn_seg is not None, tuple(dynamic), strtab
    )


def _decode(raw: bytes) -> str:
    """Paths are bytes; surrogateescape keeps non-UTF-8 names round-trippable."""
    return raw.decode("utf-8", "surrogateescape")


def is_elf(head: bytes) -> bool:
    return head[:4] == ELF_MAGIC


def read_elf(data: bytes) -> ElfInfo:
    """Parse bytes the caller already read (each file is read once for all analyses)."""
    try:
        p = _parse(data)
        start, end = p.strtab
        rpath: list[str] = []
        runpath: list[str] = []
        needed: list[str] = []
        soname: str | None = None
        for tag, val in p.dynamic:
            if tag in _STRING_TAGS:
                text = _decode(_cstring(data, start + val, end, _STRING_TAGS[tag]))
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


# ld.so only expands a dynamic string token when no identifier character follows it.
_DST = re.compile(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))")


def expand_origin(entry: str, file_dir: str) -> str:
    """Lexical expansion: $ORIGIN is the file's directory as given, symlinks not resolved.

    $LIB becomes "lib" (conda's layout, not the multiarch one ld.so would pick) and
    $PLATFORM stays, since it depends on the CPU that runs the program.
    """
    origin = posixpath.abspath(file_dir)

    def token(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return {"ORIGIN": origin, "LIB": "lib"}.get(name, match.group(0))

    return posixpath.normpath(_DST.sub(token, entry))


def _conf_dirs(path: str, seen: set[str]) -> list[str]:
    if path in seen:
        return []
    seen.add(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    dirs: list[str] = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line.startswith("include") and line[7:8].isspace():
            for pattern in line[8:].split():
                pattern = posixpath.join(posixpath.dirname(path), pattern)
                for conf in sorted(glob.glob(pattern)):
                    dirs.extend(_conf_dirs(conf, seen))
        elif line.startswith("/"):
            dirs.append(posixpath.normpath(line))
    return dirs


@lru_cache(maxsize=1)
def system_lib_dirs() -> tuple[str, ...]:
    """ld.so.conf directories (what ld.so.cache holds), then the built-in defaults.

    Cached: the analysis resolves every file of an environment against them.
    """
    seen: set[str] = set()
    dirs = _conf_dirs("/etc/ld.so.conf", seen)
    for conf in sorted(glob.glob("/etc/ld.so.conf.d/*.conf")):
        dirs.extend(_conf_dirs(conf, seen))
    return tuple(dict.fromkeys([*dirs, *DEFAULT_LIB_DIRS]))


def resolve_needed(
    info: ElfInfo, file_path: str, search_extra: Sequence[str] = ()
) -> dict[str, str | None]:
    """Where ld.so would find each DT_NEEDED of the environment as shipped.

    Order: DT_RPATH (ignored when DT_RUNPATH exists), DT_RUNPATH, `search_extra`, then the
    system directories. LD_LIBRARY_PATH is ignored on purpose: it belongs to the user's
    shell, not to the environment. Relative search entries (including the empty entry,
    which ld.so takes as the current directory) and relative NEEDED paths depend on the
    cwd of whoever runs the program, so they never count as found. Simplifications: in
    real ld.so the DT_RPATH of the loading executable (and of each loader up the chain)
    also applies to this file's dependencies when this file has no DT_RUNPATH; and a
    candidate of the wrong class or machine would be skipped, while here the first
    existing path wins.
    """
    file_dir = posixpath.dirname(posixpath.abspath(file_path))
    entries = [*(() if info.runpath else info.rpath), *info.runpath]
    dirs = [expand_origin(entry, file_dir) for entry in entries]
    search = [
        d for d in dict.fromkeys([*dirs, *search_extra, *system_lib_dirs()]) if posixpath.isabs(d)
    ]
    found: dict[str, str | None] = {}
    for name in info.needed:
        if "/" in name:
            found[name] = name if posixpath.isabs(name) and os.path.exists(name) else None
            continue
        found[name] = next(
            (path for d in search if os.path.exists(path := posixpath.join(d, name))), None
        )
    return found


def rewrite_rpath(data: bytearray, old_entry_to_new: Callable[[str], str]) -> list[tuple[str, str]]:
    """Rewrite DT_RPATH/DT_RUNPATH strings in place in the copy being archived.

    A new value only fits where the old one was (.dynstr cannot grow without relinking),
    so a longer one is left alone and not reported; the remainder is padded with NULs.
    A string another dynamic entry points into (linkers merge string tails) is left alone
    too; one string shared by DT_RPATH and DT_RUNPATH is rewritten once, reported for both.
    Symbol and version names could share such a tail as well; like patchelf's in-place
    rewrite, that is not checked (it needs a "/"-free RPATH tail equal to a symbol name).
    """
    try:
        p = _parse(data)
        start, end = p.strtab
        string_offsets = {start + val for tag, val in p.dynamic if tag in _STRING_TAGS}
        done: dict[int, tuple[str, str]] = {}
        changed: list[tuple[str, str]] = []
        for tag, val in p.dynamic:
            if tag not in (DT_RPATH, DT_RUNPATH):
                continue
            at = start + val
            if at in done:  # old linkers point DT_RPATH and DT_RUNPATH at one string
                changed.append(done[at])
                continue
            old_raw = _cstring(data, at, end, _STRING_TAGS[tag])
            old = _decode(old_raw)
            new = ":".join(old_entry_to_new(entry) for entry in old.split(":"))
            new_raw = new.encode("utf-8", "surrogateescape")
            shared = any(at < o < at + len(old_raw) for o in string_offsets)
            if new == old or len(new_raw) > len(old_raw) or shared:
                continue
            data[at : at + len(old_raw)] = new_raw.ljust(len(old_raw), b"\0")
            done[at] = (old, new)
            changed.append((old, new))
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        raise ElfError(f"malformed ELF data: {exc}") from exc
    return changed


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
