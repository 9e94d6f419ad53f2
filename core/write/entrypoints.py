"""Python scripts that run before relocation: the interpreter is found next to the script.

Clusters start `./environment/bin/python` or a console script straight from the extracted
archive, where nothing has replaced the prefix yet. A "#!" line naming the environment's
Python becomes the /bin/sh exec trick (as pip and distlib write it), which finds that
Python from the script's own resolved path, so the archived script runs from any path of
any length, before and after relocation, and never with a Python found on PATH.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable

_PYTHON_NAME = re.compile(rb"pythonw?(?:[0-9]+(?:\.[0-9]+)*[a-z]?)?")
# What may stand unquoted inside both the sh double quotes and the Python string.
_PLAIN = re.compile(rb"[A-Za-z0-9._/+,@%=:-]+")
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
# The script's directory with symbolic links resolved, opening a double-quoted word; the
# fallbacks for systems without realpath(1) keep a script that is not a link working.
_SCRIPT_DIR = (
    b'"$(dirname -- "$(realpath -- "$0" 2>/dev/null || readlink -f -- "$0" 2>/dev/null'
    b' || printf %s "$0")")/'
)


def _utf8_source(lines: list[bytes]) -> bool:
    """The exec lines push a coding cookie past line 2, where Python reads it: only
    scripts in UTF-8 (the default) can take them."""
    for line in lines[1:3]:
        found = _CODING.match(line)
        if found:
            return found.group(1).lower().replace(b"_", b"-") in (b"utf-8", b"utf8")
    return True


def portable_entry_point(
    data: bytes, path: str, prefixes: Iterable[bytes], exists: Callable[[str], bool]
) -> bytes | None:
    """The script at `path` (relative to the prefix) with its "#!PREFIX/.../pythonX.Y ARGS"
    line made relative to the script, or None when it names no Python of the environment.

    `prefixes`: how the prefix is spelt in `data`; `exists`: whether a path of the
    environment exists, so that only an interpreter the archive holds is used.
    """
    if not data.startswith(b"#!"):
        return None
    eol = data.find(b"\n")
    if eol == -1:
        return None
    command = data[2:eol].strip(b" \t\r").split()
    if not command:
        return None
    interpreter, args = command[0], command[1:]
    for prefix in prefixes:
        if prefix and interpreter.startswith(prefix + b"/"):
            inside = interpreter[len(prefix) + 1 :]
            break
    else:
        return None
    if not _PYTHON_NAME.fullmatch(posixpath.basename(inside)):
        return None
    if not all(_PLAIN.fullmatch(word) for word in (inside, *args)):
        return None
    name = inside.decode()
    if not exists(name) or not _utf8_source(data.split(b"\n", 3)):
        return None
    relative = posixpath.relpath(name, posixpath.dirname(path) or ".").encode()
    words = [_SCRIPT_DIR + relative + b'"', *args, b'"$0" "$@"']
    return b"#!/bin/sh\n'''exec' " + b" ".join(words) + b"\n' '''\n" + data[eol + 1 :]
