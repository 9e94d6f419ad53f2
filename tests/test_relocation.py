"""Byte-level relocation: conda's replacement rules, both directions, and shebang fixing."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest
from conda_package.core.unpack import conda_unpack, shipped_files
from conda_package.core.unpack import relocate as relocation
from conda_package.core.unpack.relocate import (
    PrefixTooLongError,
    RelocationError,
    binary_room,
    fix_shebang,
    relocate_bytes,
    replace_binary,
    replace_text,
)
from hypothesis import given
from hypothesis import strategies as st

# Prefixes and filler never share a byte, so a prefix only occurs where it was put.
PREFIX_ALPHABET = "/abcdefgh_-. "
FILLER = [b"\0", b"x", b"y", b"z", b"\n", b"#", b"!", b"=", b":"]

prefixes = st.text(alphabet=PREFIX_ALPHABET, max_size=40).map(lambda s: ("/" + s).encode())
filler = st.lists(st.sampled_from(FILLER), max_size=12).map(b"".join)
# None marks where the placeholder goes.
layouts = st.lists(st.one_of(filler, st.none()), max_size=25)


def build(layout: list[bytes | None], placeholder: bytes) -> bytes:
    return b"".join(placeholder if part is None else part for part in layout)


@given(layout=layouts, placeholder=prefixes, data=st.data())
def test_binary_install_restore_install_round_trips(
    layout: list[bytes | None], placeholder: bytes, data: st.DataObject
) -> None:
    prefix = data.draw(prefixes.filter(lambda p: len(p) <= len(placeholder)), label="prefix")
    built = build(layout, placeholder)
    installed = replace_binary(built, placeholder, prefix)  # conda at install: shrink
    assert len(installed) == len(built)
    restored = replace_binary(installed, prefix, placeholder)  # the packer: grow back
    assert restored == built
    assert replace_binary(restored, placeholder, prefix) == installed  # conda-unpack


@given(layout=layouts, placeholder=prefixes, prefix=prefixes)
def test_text_round_trips(layout: list[bytes | None], placeholder: bytes, prefix: bytes) -> None:
    built = build(layout, placeholder)
    installed = replace_text(built, placeholder, prefix)
    assert replace_text(installed, prefix, placeholder) == built


def _nul_run(data: bytes, start: int) -> int:
    end = start
    while end < len(data) and data[end] == 0:
        end += 1
    return end - start


no_nul = st.binary(min_size=1, max_size=6).map(lambda b: b.replace(b"\0", b"\1"))


@given(
    parts=st.lists(st.one_of(st.binary(max_size=10), st.none()), max_size=20),
    old=no_nul,
    new=no_nul,
)
def test_binary_replacement_stays_inside_string_regions(
    parts: list[bytes | None], old: bytes, new: bytes
) -> None:
    data = build(parts, old)
    # Reference regions, found independently: from an occurrence to the string's NUL, plus the
    # NULs after it that a longer string is allowed to take.
    regions = []
    fits = True
    for match in re.finditer(re.escape(old) + b"[^\0]*\0", data):
        string = match.group()[:-1]
        growth = string.count(old) * (len(new) - len(old))
        fits = fits and growth <= _nul_run(data, match.end())
        regions.append((match.start(), match.end() + max(growth, 0), string.replace(old, new)))
    if not fits:
        with pytest.raises(PrefixTooLongError):
            replace_binary(data, old, new)
        assert len(new) > binary_room(data, old)
        return
    out = replace_binary(data, old, new)
    assert len(out) == len(data)
    assert not regions or len(new) <= len(old) or len(new) <= binary_room(data, old)
    outside = 0
    for start, end, replaced in regions:
        assert out[outside:start] == data[outside:start]
        assert out[start:end] == replaced + b"\0" * (end - start - len(replaced))
        outside = end
    assert out[outside:] == data[outside:]


def test_binary_replacement_examples() -> None:
    data = b"xx/aaaaa/b\0zz/aaaaa:/aaaaa\0\0\0\0q/aaaaa"
    shrunk = replace_binary(data, b"/aaaaa", b"/bb")
    assert shrunk == b"xx/bb/b\0\0\0\0zz/bb:/bb\0\0\0\0\0\0\0\0\0\0q/aaaaa"
    assert replace_binary(shrunk, b"/bb", b"/aaaaa") == data
    assert replace_binary(shrunk, b"/bb", b"/cccc") == (
        b"xx/cccc/b\0\0zz/cccc:/cccc\0\0\0\0\0\0q/aaaaa"
    )
    assert replace_binary(data, b"/nothere", b"/x") is data


def test_growing_without_room_raises() -> None:
    data = b"\0/abc/lib\0\0/abc\0\0\0next"
    with pytest.raises(PrefixTooLongError) as info:
        replace_binary(data, b"/abc", b"/abcdef")
    assert info.value.room == 5  # the first string has one spare NUL
    assert isinstance(info.value, RelocationError)
    assert "/abcdef" in str(info.value)
    assert replace_binary(data, b"/abc", b"/abcd").startswith(b"\0/abcd/lib\0")


def test_binary_room() -> None:
    assert binary_room(b"/abc\0next", b"/abc") == 4
    assert binary_room(b"/abc\0\0\0next", b"/abc") == 6
    assert binary_room(b"/abc:/abc\0\0\0\0\0next", b"/abc") == 6  # two share five NULs
    assert binary_room(b"/abc\0\0\0\0/abc\0\0", b"/abc") == 5  # the smallest wins
    assert binary_room(b"/abc\0\0\0", b"/abc") == 6  # NULs up to the end of the file count
    assert binary_room(b"no prefix\0", b"/abc") == relocation.UNLIMITED_ROOM
    assert binary_room(b"unterminated /abc", b"/abc") == relocation.UNLIMITED_ROOM


def _lines_run(func: Callable[..., object], *args: object) -> int:
    """How many lines of the relocation module's Python func(*args) runs: the work a
    per-byte loop or a rescan per occurrence would multiply, counted instead of timed."""
    count = 0

    def trace(frame: FrameType, event: str, arg: object) -> Callable | None:
        nonlocal count
        if frame.f_code.co_filename != relocation.__file__:
            return None
        count += event == "line"
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        func(*args)
    finally:
        sys.settrace(previous)
    return count


def _binary_with_three_strings(size: int) -> bytes:
    data = bytearray(b"\x7fELF" + bytes(range(1, 256)) * (size // 255))
    for offset in (1000, size // 2, size - 1000):
        data[offset : offset + 40] = b"/opt/placeholder/lib\0" + b"\0" * 19
    return bytes(data)


def test_replace_binary_work_follows_the_strings_not_the_file_size() -> None:
    old, new = b"/opt/placeholder", b"/p"
    small, big = _binary_with_three_strings(10_000), _binary_with_three_strings(4_000_000)
    for data in (small, big):
        out = replace_binary(data, old, new)
        assert len(out) == len(data) and out.count(b"/p/lib\0") == 3
        assert binary_room(data, old) == 35
    # Scanning the bytes is C's work (bytes.find); Python runs once per string found.
    on_big = _lines_run(replace_binary, big, old, new)
    assert on_big == _lines_run(replace_binary, small, old, new) > 0
    assert _lines_run(binary_room, big, old) == _lines_run(binary_room, small, old) > 0


LONG = b"/home/user/" + b"very-long-directory-name/" * 5 + b"env"


@pytest.mark.parametrize(
    ("script", "prefix", "expected"),
    [
        pytest.param(
            LONG + b"/bin/python3.7\nprint(1)\n",
            LONG,
            b"#!/bin/sh\n'''exec' \""
            + LONG
            + b'/bin/python3.7" "$0" "$@"\n'
            + b"' '''\nprint(1)\n",
            id="long-python",
        ),
        pytest.param(
            b"/my env/bin/python -E -s\nprint(1)\n",
            b"/my env",
            b'#!/bin/sh\n\'\'\'exec\' "/my env/bin/python" "-E" "-s" "$0" "$@"\n\' \'\'\'\n'
            b"print(1)\n",
            id="space-python-args",
        ),
        pytest.param(
            b"  /my env/bin/pythonw\n",
            b"/my env",
            b"#!/bin/sh\n'''exec' \"/my env/bin/pythonw\" \"$0\" \"$@\"\n' '''\n",
            id="blank-before-path",
        ),
        pytest.param(
            b'/my "env"/bin/python3',
            b'/my "env"',
            b"#!/bin/sh\n'''exec' \"/my \\\"env\\\"/bin/python3\" \"$0\" \"$@\"\n' '''\n",
            id="quotes-no-newline",
        ),
        pytest.param(
            b"/my $env/bin/python3\n",
            b"/my $env",
            b"#!/usr/bin/env python3\n",
            id="dollar-falls-back-to-env",
        ),
        pytest.param(
            b"/my env/bin/perl -w\nprint 1;\n",
            b"/my env",
            b"#!/usr/bin/env perl -w\nprint 1;\n",
            id="space-perl",
        ),
        pytest.param(
            LONG + b"/bin/bash\necho\n", LONG, b"#!/usr/bin/env bash\necho\n", id="long-bash"
        ),
        pytest.param(b"/env/bin/python3\n", b"/env", None, id="short-untouched"),
        pytest.param(b"/usr/bin/python3\n", b"/my env", None, id="other-prefix-untouched"),
        pytest.param(b"/my env2/bin/python3\n", b"/my env", None, id="not-a-path-prefix"),
    ],
)
def test_fix_shebang(script: bytes, prefix: bytes, expected: bytes | None) -> None:
    data = b"#!" + script
    assert fix_shebang(data, prefix) == (data if expected is None else expected)


def test_fix_shebang_leaves_non_scripts_alone() -> None:
    assert fix_shebang(b"\x7fELF" + LONG, LONG) == b"\x7fELF" + LONG
    assert fix_shebang(b"", LONG) == b""


def test_exec_trick_runs(tmp_path: Path) -> None:
    prefix = tmp_path / "my env" / ("deep-" * 20)
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python").symlink_to(sys.executable)
    script = prefix / "bin" / "hello"
    placeholder = "/opt/anaconda1anaconda2anaconda3"
    text = (
        f"#!{placeholder}/bin/python -E\nimport sys\nprint('hello', sys.flags.ignore_environment)\n"
    )
    data = relocate_bytes(text.encode(), placeholder, str(prefix), "text")
    assert data.startswith(b"#!/bin/sh\n")
    script.write_bytes(data)
    script.chmod(0o755)
    result = subprocess.run([str(script)], capture_output=True, text=True, check=True)
    assert result.stdout == "hello 1\n"


def test_relocate_bytes_modes() -> None:
    text = b"#!/old/bin/python\nsys.path.append('/old/lib')\n"
    assert relocate_bytes(text, "/old", "/new", "text") == text.replace(b"/old", b"/new")
    binary = b"/old/lib\0\0\0"
    assert relocate_bytes(binary, "/old", "/n", "binary") == b"/n/lib\0\0\0\0\0"
    with pytest.raises(PrefixTooLongError):
        relocate_bytes(binary, "/old", "/much-longer", "binary")
    with pytest.raises(RelocationError, match="unknown file mode"):
        relocate_bytes(binary, "/old", "/n", "elf")


def _shipped_python() -> dict[str, bytes]:
    """The shipped files that Python runs: bin/conda-unpack and the modules it imports."""
    files = shipped_files()
    names = ["bin/conda-unpack", *(name for name in files if name.endswith(".py"))]
    return {name: files[name][0] for name in names}


def test_source_is_python37_and_a_shell_script() -> None:
    shipped = _shipped_python()
    assert len(shipped) == 3
    source = shipped["bin/conda-unpack"].decode()
    assert source == Path(conda_unpack.__file__).read_text(encoding="utf-8")
    for name, data in shipped.items():
        ast.parse(data, name, feature_version=(3, 7))
    lines = source.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert lines[1] == "\"true\" '''\\'"
    # sh runs the trampoline, which hands the file to a Python.
    sh = subprocess.run(["sh", conda_unpack.__file__, "--help"], capture_output=True, text=True)
    assert sh.returncode == 0, sh.stderr
    assert sh.stdout.startswith("usage: conda-unpack")


def _imported_modules(tree: ast.AST) -> set[str]:
    """Top-level names of the modules a file imports; "." + name for a relative import."""
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            modules.update("." + alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.partition(".")[0])
    return modules


def test_shipped_python_imports_only_the_standard_library() -> None:
    """The environment's Python runs them, with nothing but its standard library."""
    shipped = _shipped_python()
    siblings = {Path(name).stem for name in shipped if name.endswith(".py")}
    assert siblings == {"relocate", "rewrite"}
    # On sys.path before the standard library: a sibling must not shadow any of it.
    assert not siblings & sys.stdlib_module_names
    allowed = sys.stdlib_module_names | siblings | {"." + name for name in siblings}
    for name, data in shipped.items():
        imported = _imported_modules(ast.parse(data, name))
        assert imported <= allowed, (name, imported - allowed)
    script = _imported_modules(ast.parse(shipped["bin/conda-unpack"]))
    assert siblings <= script  # each sibling is shipped because the script imports it
