"""Every spelling of an environment's prefix that its files may hold.

A prefix reached through a symbolic link (HPC homes linked to /gpfs) is one directory with
two names, and installers write whichever they were given; an environment moved with `mv`
still holds the prefix it was installed at. Each spelling must be found and relocated.
"""

from __future__ import annotations

import os
import re
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .environment import Environment

# Entry points that installers (conda, pip) write name the Python they installed with.
_PYTHON_SHEBANG = re.compile(rb"#!(/[^ \t\r\n]*?)/bin/python[0-9.]*[ \t\r\n]")
_SHEBANG_HEAD = 512
_LOOKED_AT = 64  # entry points read at most: they all name the same Python


def _installed_prefix(env: Environment) -> str | None:
    """The prefix the entry points in bin/ were installed with, when it is a third name.

    Taken only when that path is not an existing directory other than this environment, so
    that a script run by /usr/bin/python never makes /usr a spelling of the prefix.
    """
    looked = 0
    for path in sorted(env.files):
        if not path.startswith("bin/") or path not in env.owners:
            continue
        st = env.files[path]
        if not stat.S_ISREG(st.st_mode) or st.st_size < 4:
            continue
        looked += 1
        if looked > _LOOKED_AT:
            break
        try:
            with open(os.path.join(env.prefix, path), "rb") as f:
                head = f.read(_SHEBANG_HEAD)
        except OSError:
            continue
        match = _PYTHON_SHEBANG.match(head)
        if match is None:
            continue
        candidate = os.fsdecode(match.group(1))
        python = os.path.basename(head[: match.end()].split()[0].decode(errors="replace"))
        if not os.path.lexists(os.path.join(env.prefix, "bin", python)):
            continue
        if not os.path.isdir(candidate) or os.path.realpath(candidate) == env.real_prefix:
            return candidate
    return None


def prefix_spellings(env: Environment) -> tuple[str, ...]:
    """The prefix as given, resolved, and as installed; each once, in that order."""
    installed = _installed_prefix(env)
    names = (env.prefix, env.real_prefix) + ((installed,) if installed else ())
    return tuple(dict.fromkeys(names))
