"""Write small, well-formed x86-64 ELF files without a compiler (the demo's binaries).

The files have what relocation cares about and what `readelf -d` and pyelftools read:
an ELF header, PT_INTERP, one PT_LOAD mapping the whole file at address 0, PT_DYNAMIC
(NEEDED, SONAME, RUNPATH, the string and symbol tables), read-only strings in
.rodata, and section headers. They hold no code: a loader would map them, nothing more.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_DYN = struct.Struct("<qQ")
_SYM_SIZE = 24

_ET_DYN, _EM_X86_64 = 3, 62
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_PF_R, _PF_W = 4, 2
_SHT_PROGBITS, _SHT_STRTAB, _SHT_DYNAMIC, _SHT_DYNSYM = 1, 3, 6, 11
_SHF_WRITE, _SHF_ALLOC = 1, 2
# Numbers from the ELF specification (core.elf takes them from pyelftools, which writing
# a demo must not need).
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_SYMTAB, _DT_STRSZ, _DT_SYMENT = 0, 1, 5, 6, 10, 11
_DT_SONAME, _DT_RUNPATH = 14, 29


@dataclass(frozen=True)
class ElfSpec:
    """What one file declares; strings are bytes so a placeholder can sit inside them."""

    needed: tuple[bytes, ...] = ()
    soname: bytes | None = None
    runpath: bytes | None = None
    interpreter: bytes | None = None
    rodata: tuple[bytes, ...] = ()


class _Strings:
    """A string table: offsets of NUL-terminated strings, the first one empty."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")

    def add(self, text: bytes) -> int:
        offset = len(self.data)
        self.data += text + b"\0"
        return offset


# A section header's last four fields, and their values unless given.
_SECTION_DEFAULTS = (("link", 0), ("info", 0), ("align", 1), ("entsize", 0))


def _align(offset: int, to: int = 8) -> int:
    return -(-offset // to) * to


def build_elf(spec: ElfSpec) -> bytes:
    """The bytes of a shared object (an executable when it has an interpreter)."""
    dynstr = _Strings()
    dynamic: list[tuple[int, int]] = [(_DT_NEEDED, dynstr.add(n)) for n in spec.needed]
    for tag, value in (
        (_DT_SONAME, spec.soname),
        (_DT_RUNPATH, spec.runpath),
    ):
        if value is not None:
            dynamic.append((tag, dynstr.add(value)))
    rodata = b"".join(s + b"\0" for s in spec.rodata)

    phnum = 3 if spec.interpreter is not None else 2
    offset = _EHDR.size + phnum * _PHDR.size
    interp_at = offset
    interp = spec.interpreter + b"\0" if spec.interpreter is not None else b""
    dynsym_at = _align(interp_at + len(interp))
    dynstr_at = dynsym_at + _SYM_SIZE
    rodata_at = _align(dynstr_at + len(dynstr.data))
    dynamic += [
        (_DT_STRTAB, dynstr_at),
        (_DT_SYMTAB, dynsym_at),
        (_DT_STRSZ, len(dynstr.data)),
        (_DT_SYMENT, _SYM_SIZE),
        (_DT_NULL, 0),
    ]
    dynamic_at = _align(rodata_at + len(rodata))
    dynamic_bytes = b"".join(_DYN.pack(tag, value) for tag, value in dynamic)
    load_end = dynamic_at + len(dynamic_bytes)

    shstr = _Strings()
    sections: list[tuple[int, ...]] = [(0,) * 10]  # index 0: the null section

    def section(name: bytes, kind: int, flags: int, at: int, size: int, **more: int) -> None:
        """An allocated section: loaded at the address of its file offset."""
        link, info, align, entsize = (more.get(k, d) for k, d in _SECTION_DEFAULTS)
        sections.append((shstr.add(name), kind, flags, at, at, size, link, info, align, entsize))

    if interp:
        section(b".interp", _SHT_PROGBITS, _SHF_ALLOC, interp_at, len(interp))
    dynstr_index = len(sections) + 1
    section(b".dynsym", _SHT_DYNSYM, _SHF_ALLOC, dynsym_at, _SYM_SIZE, link=dynstr_index,
            info=1, align=8, entsize=_SYM_SIZE)  # fmt: skip
    section(b".dynstr", _SHT_STRTAB, _SHF_ALLOC, dynstr_at, len(dynstr.data))
    if rodata:
        section(b".rodata", _SHT_PROGBITS, _SHF_ALLOC, rodata_at, len(rodata), align=8)
    section(b".dynamic", _SHT_DYNAMIC, _SHF_ALLOC | _SHF_WRITE, dynamic_at, len(dynamic_bytes),
            link=dynstr_index, align=8, entsize=_DYN.size)  # fmt: skip
    shstrtab_name = shstr.add(b".shstrtab")
    shstrtab_at = load_end
    sections.append((shstrtab_name, _SHT_STRTAB, 0, 0, shstrtab_at, len(shstr.data), 0, 0, 1, 0))
    shoff = _align(shstrtab_at + len(shstr.data))

    phdrs = []
    if interp:
        phdrs.append(
            _PHDR.pack(
                _PT_INTERP, _PF_R, interp_at, interp_at, interp_at, len(interp), len(interp), 1
            )
        )
    phdrs.append(_PHDR.pack(_PT_LOAD, _PF_R | _PF_W, 0, 0, 0, load_end, load_end, 0x1000))
    phdrs.append(
        _PHDR.pack(
            _PT_DYNAMIC,
            _PF_R | _PF_W,
            dynamic_at,
            dynamic_at,
            dynamic_at,
            len(dynamic_bytes),
            len(dynamic_bytes),
            8,
        )
    )
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = _EHDR.pack(
        ident, _ET_DYN, _EM_X86_64, 1, 0, _EHDR.size, shoff, 0,
        _EHDR.size, _PHDR.size, phnum, _SHDR.size, len(sections), len(sections) - 1,
    )  # fmt: skip

    out = bytearray(shoff + len(sections) * _SHDR.size)
    out[0 : len(header)] = header
    out[_EHDR.size : _EHDR.size + len(phdrs) * _PHDR.size] = b"".join(phdrs)
    out[interp_at : interp_at + len(interp)] = interp
    out[dynstr_at : dynstr_at + len(dynstr.data)] = dynstr.data
    out[rodata_at : rodata_at + len(rodata)] = rodata
    out[dynamic_at:load_end] = dynamic_bytes
    out[shstrtab_at : shstrtab_at + len(shstr.data)] = shstr.data
    out[shoff:] = b"".join(_SHDR.pack(*s) for s in sections)
    return bytes(out)
