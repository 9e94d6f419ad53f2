"""conda's prefix replacement on a file's bytes: text, binary (NUL-padded) and "#!" lines.

The packer imports it, and every archive ships it as conda-meta/conda-package/relocate.py for
bin/conda-unpack, which runs it under the environment's Python: stdlib only, Python 3.7.
"""

from __future__ import annotations

import re
import sys

# Linux and macOS read at most this much of a "#!" line (conda uses the same limit).
MAX_SHEBANG_LENGTH = 127
# binary_room() of a file that does not hold the prefix: any prefix fits.
UNLIMITED_ROOM = sys.maxsize

_NON_NUL = re.compile(b"[^\x00]")
_PYTHON_NAME = re.compile(rb"pythonw?(?:[0-9]+(?:\.[0-9]+)*[a-z]?)?")
_BLANK = (b" ", b"\t")
_WORD = re.compile(rb"[^ \t\r]*")


class RelocationError(Exception):
    """Relocation cannot be done safely; str() is one line naming the file(s) and the way out."""


class PrefixTooLongError(RelocationError):
    """The new prefix does not fit into the room binary files have for it."""

    def __init__(self, message: str, paths: list[str], room: int) -> None:
        super().__init__(message)
        self.paths = paths
        self.room = room


def fsencode(prefix: str) -> bytes:
    """A prefix's bytes as the filesystem holds them (core.paths.fsencode, which ships not)."""
    return prefix.encode("utf-8", "surrogateescape")


def replace_text(data: bytes, old: bytes, new: bytes) -> bytes:
    """Text files hold the prefix anywhere; conda replaces every occurrence."""
    if not old or old == new:
        return data
    return data.replace(old, new)


def _nul_run(data: bytes, start: int) -> int:
    """How many NUL bytes follow from `start`: the room a string ending before it can grow."""
    found = _NON_NUL.search(data, start)
    return (found.start() if found else len(data)) - start


def replace_binary(data: bytes, old: bytes, new: bytes) -> bytes:
    """conda's binary rule, usable both ways, so that file offsets never move.

    In each NUL-terminated string holding `old` (from its first occurrence to the NUL), every
    occurrence is replaced. A shorter result is padded with NULs after the terminator; a longer
    one may only take NULs that directly follow the terminator (the padding an earlier shrink
    left), else PrefixTooLongError. A string without a terminator is left alone, as conda does.
    """
    if not old or old == new:
        return data
    growth = len(new) - len(old)
    view = memoryview(data)
    chunks: list[bytes | memoryview] = []
    copied = 0
    start = data.find(old)
    while start != -1:
        end = data.find(b"\0", start + len(old))
        if end == -1:
            break
        string = data[start:end]
        extra = growth * string.count(old)
        region_end = end + 1
        if extra > 0:
            if not data.startswith(b"\0" * extra, region_end):
                room = binary_room(data, old)
                raise PrefixTooLongError(
                    f"{new.decode('utf-8', 'replace')} ({len(new)} bytes) does not fit where "
                    f"{old.decode('utf-8', 'replace')} was: there is room for {room} bytes",
                    [],
                    room,
                )
            region_end += extra
        replaced = string.replace(old, new)
        chunks.append(view[copied:start])
        chunks.append(replaced)
        chunks.append(b"\0" * (region_end - start - len(replaced)))
        copied = region_end
        start = data.find(old, region_end)
    if not chunks:
        return data
    chunks.append(view[copied:])
    return b"".join(chunks)


def binary_room(data: bytes, old: bytes) -> int:
    """The longest prefix replace_binary() could put in place of `old` in every string here.

    Each string can take len(old) plus its share of the NULs after its terminator; the file can
    take the smallest of those. UNLIMITED_ROOM when no NUL-terminated string holds `old`.
    """
    room = UNLIMITED_ROOM
    if not old:
        return room
    start = data.find(old)
    while start != -1:
        end = data.find(b"\0", start + len(old))
        if end == -1:
            break
        count = data.count(old, start, end)
        room = min(room, len(old) + _nul_run(data, end + 1) // count)
        start = data.find(old, end + 1)
    return room


def _sh_word(word: bytes) -> bytes | None:
    """`word` double-quoted for sh inside the Python string of the exec trick, if both agree.

    None when no quoting is safe for both languages ($ and ` would need escapes Python warns
    about, ''' would end the Python string, and the file must stay valid UTF-8).
    """
    if b"$" in word or b"`" in word or b"'''" in word:
        return None
    try:
        word.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return b'"' + word.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def fix_shebang(data: bytes, prefix: bytes) -> bytes:
    """Keep a script runnable after its "#!" line got a prefix the kernel cannot use.

    The kernel truncates lines over MAX_SHEBANG_LENGTH and splits at blanks. Python scripts get
    the /bin/sh exec trick (valid sh and Python, needs no PATH); other interpreters get
    "#!/usr/bin/env NAME", as conda does. Anything else is returned unchanged.
    """
    if not prefix or not data.startswith(b"#!"):
        return data
    eol = data.find(b"\n")
    line = data if eol == -1 else data[:eol]
    rest = b"" if eol == -1 else data[eol + 1 :]
    command = line[2:].lstrip(b" \t")
    if not command.startswith(prefix + b"/"):
        return data
    # The interpreter is the prefix plus the path up to the next blank; the rest are arguments.
    word = _WORD.match(command, len(prefix))  # matches always: the pattern takes no bytes too
    cut = word.end() if word else len(prefix)
    interpreter, args = command[:cut], command[cut:].split()
    if len(line) <= MAX_SHEBANG_LENGTH and not any(blank in prefix for blank in _BLANK):
        return data
    name = interpreter.rsplit(b"/", 1)[1]
    if _PYTHON_NAME.fullmatch(name):
        quoted = [word for word in map(_sh_word, [interpreter, *args]) if word is not None]
        if len(quoted) == 1 + len(args):
            exec_line = b"'''exec' " + b" ".join(quoted) + b' "$0" "$@"\n'
            return b"#!/bin/sh\n" + exec_line + b"' '''\n" + rest
    return b" ".join([b"#!/usr/bin/env", name, *args]) + b"\n" + rest


def relocate_bytes(data: bytes, old: str, new: str, mode: str) -> bytes:
    """One file's bytes with prefix `old` replaced by `new`, the way conda does at install.

    Text files also get fix_shebang(), which is meant for real prefixes: to restore a file to
    its placeholder, call replace_text() or replace_binary() directly.
    """
    if mode == "text":
        return fix_shebang(replace_text(data, fsencode(old), fsencode(new)), fsencode(new))
    if mode == "binary":
        return replace_binary(data, fsencode(old), fsencode(new))
    raise RelocationError(f"unknown file mode {mode!r} (expected 'text' or 'binary')")
