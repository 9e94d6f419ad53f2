"""core/elf.py against real binaries built with the system C compiler."""

from __future__ import annotations

import io
import os
import platform
import random
import shutil
import struct
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from conda_package.core.analyse.elf import (
    SUBDIR_MACHINES,
    ElfError,
    FileBytes,
    is_elf,
    matches_subdir,
    origin_relative,
    read_elf,
    rewrite_rpath,
)
from conda_package.core.analyse.ldso import expand_origin, resolve_needed
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE

CC = shutil.which("cc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (`cc`) on PATH")

FOO_C = "int foo(void) { return 42; }\n"
BAR_C = "int bar(void) { return 7; }\n"
MAIN_C = '#include <stdio.h>\nint foo(void);\nint main(void) { printf("foo=%d\\n", foo()); }\n'
MAIN_BAR_C = "int foo(void); int bar(void);\nint main(void) { return foo() + bar(); }\n"
STATIC_C = "int main(void) { return 0; }\n"
HOST_SUBDIR = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}.get(platform.machine())


def cc(*args: str | Path) -> None:
    subprocess.run([CC, *map(str, args)], check=True, capture_output=True)


@dataclass(frozen=True)
class Built:
    root: Path
    env: Path  # env/lib/libfoo.so, env/bin/prog_rpath (DT_RPATH), env/bin/prog_runpath
    libdir: Path
    origin: Path  # rpath $ORIGIN/../lib
    odd: Path  # rpath "lib:" (a relative and an empty entry)
    with_bar: Path  # NEEDED libbar.so, deleted after linking
    static: Path | None  # None when static libc is not installed


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    """Compile everything once: a dozen cc runs are most of this module's time."""
    root = tmp_path_factory.mktemp("elf")
    for name, text in [
        ("foo.c", FOO_C),
        ("bar.c", BAR_C),
        ("main.c", MAIN_C),
        ("main_bar.c", MAIN_BAR_C),
        ("static.c", STATIC_C),
    ]:
        (root / name).write_text(text)
    env = root / "env"
    libdir, bindir, gone = env / "lib", env / "bin", root / "gone"
    for d in (libdir, bindir, gone):
        d.mkdir(parents=True)
    cc("-shared", "-fPIC", "-Wl,-soname,libfoo.so", "-o", libdir / "libfoo.so", root / "foo.c")
    cc("-shared", "-fPIC", "-Wl,-soname,libbar.so", "-o", gone / "libbar.so", root / "bar.c")
    link = [root / "main.c", f"-L{libdir}", "-lfoo"]
    cc(*link, "-Wl,--disable-new-dtags", f"-Wl,-rpath,{libdir}", "-o", bindir / "prog_rpath")
    cc(*link, "-Wl,--enable-new-dtags", f"-Wl,-rpath,{libdir}", "-o", bindir / "prog_runpath")
    cc(*link, "-Wl,-rpath,$ORIGIN/../lib", "-o", root / "origin")
    cc(*link, "-Wl,-rpath,lib:", "-o", root / "odd")
    cc(
        root / "main_bar.c",
        f"-L{libdir}",
        f"-L{gone}",
        "-lfoo",
        "-lbar",
        f"-Wl,-rpath,{libdir}:{gone}",
        "-o",
        root / "with_bar",
    )
    (gone / "libbar.so").unlink()
    static: Path | None = root / "static"
    try:
        cc("-static", root / "static.c", "-o", static)
    except subprocess.CalledProcessError:
        static = None
    return Built(root, env, libdir, root / "origin", root / "odd", root / "with_bar", static)


def info_of(path: Path):
    return read_elf(path.read_bytes())


def header_field(data: bytearray, name: str) -> tuple[int, str]:
    """Offset and struct format of an ELF header field, for either class and byte order."""
    is64, end = data[4] == 2, "<" if data[5] == 1 else ">"
    offsets = {
        "e_machine": (18, "H"),
        "e_shoff": (0x28, "Q") if is64 else (0x20, "I"),
        "e_shnum": (0x3C, "H") if is64 else (0x30, "H"),
        "e_shstrndx": (0x3E, "H") if is64 else (0x32, "H"),
    }
    offset, fmt = offsets[name]
    return offset, end + fmt


def patched(path: Path, **fields: int) -> bytes:
    data = bytearray(path.read_bytes())
    for name, value in fields.items():
        offset, fmt = header_field(data, name)
        struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def test_shared_library_soname(built):
    info = info_of(built.libdir / "libfoo.so")
    assert info.soname == "libfoo.so"
    assert info.elf_type == "ET_DYN"
    assert info.is_dynamic and info.interpreter is None


def test_rpath_with_disable_new_dtags(built):
    info = info_of(built.env / "bin" / "prog_rpath")
    assert info.rpath == (str(built.libdir),)
    assert info.runpath == ()
    assert info.needed[0] == "libfoo.so"
    assert info.interpreter and info.interpreter.startswith("/")
    assert info.soname is None


def test_runpath_with_enable_new_dtags(built):
    info = info_of(built.env / "bin" / "prog_runpath")
    assert info.runpath == (str(built.libdir),)
    assert info.rpath == ()


def test_origin_and_odd_entries(built):
    assert (info_of(built.origin).rpath + info_of(built.origin).runpath) == ("$ORIGIN/../lib",)
    odd = info_of(built.odd)
    assert odd.rpath + odd.runpath == ("lib", "")


def test_host_machine(built):
    info = info_of(built.env / "bin" / "prog_runpath")
    assert info.elf_class == 8 * struct.calcsize("P")
    assert matches_subdir(info, "noarch") and matches_subdir(info, "osx-arm64")
    if HOST_SUBDIR:
        assert matches_subdir(info, HOST_SUBDIR)
        assert info.machine == SUBDIR_MACHINES[HOST_SUBDIR][0]


def test_resolve_needed(built):
    prog = built.env / "bin" / "prog_runpath"
    found = resolve_needed(info_of(prog), str(prog))
    assert found["libfoo.so"] == str(built.libdir / "libfoo.so")
    libc = found["libc.so.6"]
    assert libc and os.path.isabs(libc) and os.path.exists(libc)
    assert not libc.startswith(str(built.root))

    found = resolve_needed(info_of(built.with_bar), str(built.with_bar))
    assert found["libfoo.so"] == str(built.libdir / "libfoo.so")
    assert found["libbar.so"] is None


def test_resolve_needed_origin_and_extra(built, tmp_path):
    found = resolve_needed(info_of(built.origin), str(built.env / "bin" / "origin"))
    assert found["libfoo.so"] == str(built.libdir / "libfoo.so")
    # Outside the env, $ORIGIN/../lib misses; an extra search directory finds it.
    elsewhere = str(tmp_path / "bin" / "origin")
    assert resolve_needed(info_of(built.origin), elsewhere)["libfoo.so"] is None
    extra = resolve_needed(info_of(built.origin), elsewhere, [str(built.libdir)])
    assert extra["libfoo.so"] == str(built.libdir / "libfoo.so")


def test_relative_entries_never_resolve(built, monkeypatch):
    # "lib" and "" would be relative to the cwd of whoever runs the program.
    monkeypatch.chdir(built.env)
    assert resolve_needed(info_of(built.odd), str(built.odd))["libfoo.so"] is None


def test_runpath_disables_rpath(built):
    base = info_of(built.origin)
    lib = str(built.libdir)
    both = replace(base, rpath=(lib,), runpath=("/nonexistent",))
    assert resolve_needed(both, str(built.origin))["libfoo.so"] is None
    only_rpath = replace(base, rpath=(lib,), runpath=())
    assert resolve_needed(only_rpath, str(built.origin))["libfoo.so"] == f"{lib}/libfoo.so"


def test_needed_with_slash(built):
    base = info_of(built.origin)
    libfoo = str(built.libdir / "libfoo.so")
    info = replace(base, needed=(libfoo, "lib/libfoo.so", "/no/such.so"))
    assert resolve_needed(info, str(built.origin)) == {
        libfoo: libfoo,
        "lib/libfoo.so": None,
        "/no/such.so": None,
    }


def test_static_program(built):
    if built.static is None:
        pytest.skip("static libc (libc.a) is not installed")
    info = info_of(built.static)
    assert not info.is_dynamic
    assert info.interpreter is None
    assert info.needed == info.rpath == info.runpath == ()


def test_stripped_copy(built, tmp_path):
    copy = tmp_path / "prog"
    shutil.copy(built.env / "bin" / "prog_rpath", copy)
    strip = shutil.which("strip")
    if strip:
        subprocess.run([strip, "--strip-all", str(copy)], check=True)
    else:
        cc(
            built.root / "main.c",
            f"-L{built.libdir}",
            "-lfoo",
            "-s",
            "-Wl,--disable-new-dtags",
            f"-Wl,-rpath,{built.libdir}",
            "-o",
            copy,
        )
    assert read_elf(copy.read_bytes()) == info_of(built.env / "bin" / "prog_rpath")


def test_without_or_with_broken_section_headers(built):
    prog = built.env / "bin" / "prog_runpath"
    expected = info_of(prog)
    assert read_elf(patched(prog, e_shoff=0, e_shnum=0, e_shstrndx=0)) == expected
    assert read_elf(patched(prog, e_shoff=2**31, e_shnum=999, e_shstrndx=998)) == expected


def test_foreign_machine(built):
    info = read_elf(patched(built.env / "bin" / "prog_runpath", e_machine=183))
    assert info.machine == "EM_AARCH64"
    assert not matches_subdir(info, "linux-64")
    assert matches_subdir(info, "linux-aarch64") == (info.elf_class == 64)


@pytest.mark.parametrize("size", [0, 3, 16, 30, 100, 2000])
def test_truncated(built, size):
    data = (built.env / "bin" / "prog_runpath").read_bytes()
    with pytest.raises(ElfError):
        read_elf(data[:size])


def read_from_file(path: Path, head_size: int):
    """read_elf over an open file of which only the first `head_size` bytes were read."""
    with open(path, "rb") as fh:
        head = fh.read(head_size)
        try:
            return read_elf(FileBytes(head, fh.fileno(), os.fstat(fh.fileno()).st_size))
        except ElfError as exc:
            return str(exc)


@pytest.mark.parametrize("head_size", [0, 16, 100, 1000, 1 << 20])
def test_a_file_read_from_its_head_on_parses_as_the_whole(built, tmp_path, head_size):
    """Headers and strings past the head are read where they lie, with the same result (or the
    same error, for files cut short)."""
    for path in (built.env / "bin" / "prog_rpath", built.with_bar, built.env / "lib/libfoo.so"):
        assert read_from_file(path, head_size) == info_of(path)
    data = (built.env / "bin" / "prog_runpath").read_bytes()
    for size in (30, 100, 2000, len(data) - 100):
        cut = tmp_path / f"cut-{size}"
        cut.write_bytes(data[:size])
        try:
            whole = read_elf(data[:size])
        except ElfError as exc:
            whole = str(exc)
        assert read_from_file(cut, head_size) == whole


def test_corruption_only_raises_elf_error(built):
    """Random damage anywhere in the headers and dynamic data: parse or ElfError, nothing else."""
    data = (built.env / "bin" / "prog_runpath").read_bytes()
    rng = random.Random(1)
    for _ in range(300):
        damaged = bytearray(data[: rng.choice([len(data), rng.randrange(len(data))])])
        for _ in range(rng.randrange(1, 8)):
            if damaged:
                damaged[rng.randrange(min(len(damaged), 16384))] = rng.randrange(256)
        try:
            read_elf(bytes(damaged))
            rewrite_rpath(damaged, lambda entry: "")
        except ElfError:
            pass


def synthetic_elf(elf_class: int, little: bool, machine: int) -> bytes:
    """A minimal ELF (header, PT_LOAD, PT_INTERP, PT_DYNAMIC, .dynstr) no host cc can build."""
    e, is64 = "<" if little else ">", elf_class == 64
    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    strtab = b"\0libc.so.6\0libx.so\0$ORIGIN/../lib:\0/opt/lib\0"
    interp = b"/lib/ld.so.1\0"
    interp_at = ehsize + 3 * phentsize
    strtab_at = interp_at + len(interp)
    dyn_at = strtab_at + len(strtab)
    base = 0x10000
    dyn = [(1, 1), (14, 11), (15, 19), (29, 35), (5, base + strtab_at), (10, len(strtab)), (0, 0)]
    dynfmt = e + ("qQ" if is64 else "iI")
    dynamic = b"".join(struct.pack(dynfmt, tag, val) for tag, val in dyn)
    size = dyn_at + len(dynamic)

    def phdr(p_type: int, offset: int, filesz: int) -> bytes:
        if is64:
            return struct.pack(
                e + "IIQQQQQQ", p_type, 4, offset, base + offset, 0, filesz, filesz, 8
            )
        return struct.pack(e + "IIIIIIII", p_type, offset, base + offset, 0, filesz, filesz, 4, 4)

    ident = b"\x7fELF" + bytes([elf_class // 32, 1 if little else 2, 1]) + b"\0" * 9
    head = struct.pack(
        e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH"),
        3,
        machine,
        1,
        0,
        ehsize,
        0,
        0,
        ehsize,
        phentsize,
        3,
        0,
        0,
        0,
    )
    phdrs = phdr(1, 0, size) + phdr(3, interp_at, len(interp)) + phdr(2, dyn_at, len(dynamic))
    return ident + head + phdrs + interp + strtab + dynamic


@pytest.mark.parametrize("subdir", ["linux-s390x", "linux-armv7l", "linux-32"])
def test_other_classes_and_byte_orders(subdir):
    name, elf_class, little = SUBDIR_MACHINES[subdir]
    data = synthetic_elf(elf_class, little, ENUM_E_MACHINE[name])
    info = read_elf(data)
    assert (info.machine, info.elf_class, info.little_endian) == (name, elf_class, little)
    assert matches_subdir(info, subdir) and not matches_subdir(info, "linux-64")
    assert info.elf_type == "ET_DYN" and info.interpreter == "/lib/ld.so.1"
    assert info.needed == ("libc.so.6",) and info.soname == "libx.so"
    assert info.rpath == ("$ORIGIN/../lib", "") and info.runpath == ("/opt/lib",)
    # pyelftools, an independent parser, reads the same dynamic table.
    tags = [
        t for seg in ELFFile(io.BytesIO(data)).iter_segments("PT_DYNAMIC") for t in seg.iter_tags()
    ]
    assert [t.needed for t in tags if t.entry.d_tag == "DT_NEEDED"] == list(info.needed)
    assert [t.runpath for t in tags if t.entry.d_tag == "DT_RUNPATH"] == ["/opt/lib"]

    changed = bytearray(data)
    assert rewrite_rpath(changed, lambda entry: entry.replace("/opt", "/o")) == [
        ("/opt/lib", "/o/lib")
    ]
    assert read_elf(bytes(changed)).runpath == ("/o/lib",)


def test_not_elf():
    assert not is_elf(b"#!/bin/sh\necho hi\n")
    assert not is_elf(b"")
    assert is_elf(b"\x7fELF\x02\x01\x01")
    with pytest.raises(ElfError, match="not an ELF"):
        read_elf(b"!<arch>\n" + b"\0" * 100)


def test_expand_origin():
    assert expand_origin("$ORIGIN/../lib", "/opt/env/bin") == "/opt/env/lib"
    assert expand_origin("${ORIGIN}/../$LIB", "/opt/env/bin") == "/opt/env/lib"
    assert expand_origin("$ORIGIN", "/opt/env/lib/") == "/opt/env/lib"
    assert expand_origin("/x/$PLATFORM/${LIB}", "/d") == "/x/$PLATFORM/lib"
    assert expand_origin("$ORIGINAL/x", "/d") == "$ORIGINAL/x"
    assert expand_origin("/usr//lib/", "/d") == "/usr/lib"


def test_origin_relative():
    assert origin_relative("/opt/env/lib", "bin/prog", "/opt/env") == "$ORIGIN/../lib"
    assert origin_relative("/opt/env/lib/", "lib/libx.so", "/opt/env/") == "$ORIGIN"
    assert (
        origin_relative("/opt/env/lib", "lib/python3.11/site-packages/m.so", "/opt/env")
        == "$ORIGIN/../.."
    )
    assert origin_relative("/opt/env", "prog", "/opt/env") == "$ORIGIN"
    assert origin_relative("/opt/envx/lib", "bin/prog", "/opt/env") is None
    assert origin_relative("/usr/lib", "bin/prog", "/opt/env") is None
    assert origin_relative("$ORIGIN/../lib", "bin/prog", "/opt/env") is None


@pytest.mark.parametrize("dtags", ["--disable-new-dtags", "--enable-new-dtags"])
def test_rewrite_rpath_then_move_and_run(built, tmp_path, dtags):
    """Linked here so that nothing at the old absolute path survives the move."""
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    shutil.copytree(built.libdir, env / "lib")
    prog = env / "bin" / "prog"
    cc(
        built.root / "main.c",
        f"-L{env / 'lib'}",
        "-lfoo",
        f"-Wl,{dtags}",
        f"-Wl,-rpath,{env / 'lib'}",
        "-o",
        prog,
    )
    data = bytearray(prog.read_bytes())
    before = read_elf(bytes(data))

    def to_origin(entry: str) -> str:
        return origin_relative(entry, "bin/prog", str(env)) or entry

    assert rewrite_rpath(data, to_origin) == [(str(env / "lib"), "$ORIGIN/../lib")]
    after = read_elf(bytes(data))
    assert after.rpath + after.runpath == ("$ORIGIN/../lib",)
    assert (after.rpath == ()) == (before.rpath == ())
    assert after.needed == before.needed and len(data) == prog.stat().st_size
    rewritten = env / "bin" / "prog.new"
    rewritten.write_bytes(data)
    rewritten.chmod(0o755)

    moved = tmp_path / "elsewhere" / "env2"
    shutil.move(env, moved)
    clean = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    run = subprocess.run(
        [str(moved / "bin" / "prog.new")], capture_output=True, text=True, env=clean
    )
    assert (run.returncode, run.stdout) == (0, "foo=42\n"), run.stderr
    # The original, still pointing at the old place, no longer finds its library.
    assert (
        subprocess.run([str(moved / "bin" / "prog")], capture_output=True, env=clean).returncode
        != 0
    )


def test_rewrite_rpath_too_long_is_refused(built):
    original = (built.env / "bin" / "prog_runpath").read_bytes()
    data = bytearray(original)
    assert rewrite_rpath(data, lambda entry: entry + "/longer") == []
    assert data == original
    assert rewrite_rpath(data, lambda entry: entry) == []
    assert data == original


def test_rewrite_rpath_keeps_empty_entries(built):
    data = bytearray(built.odd.read_bytes())
    assert rewrite_rpath(data, lambda entry: "x" if entry == "lib" else entry) == [("lib:", "x:")]
    info = read_elf(bytes(data))
    assert info.rpath + info.runpath == ("x", "")
