"""A modulefile for a packed environment at its target prefix, for Lmod (Lua) or
Environment Modules (Tcl, which Lmod reads too): what `module load` does on clusters instead
of sourcing bin/activate. Loading puts the environment's bin first on PATH and sets
CONDA_PREFIX and CONDA_DEFAULT_ENV, as bin/activate does; unloading undoes it.

The prefix must be where the environment will really be, already relocated (packed with
--relocate-prefix, or installed there and relocated by its installer or conda-unpack):
nothing runs conda-unpack on `module load`.
"""

from __future__ import annotations

import posixpath
import re
from typing import Literal

from .. import __version__
from ..errors import UsageError

ModuleSyntax = Literal["lua", "tcl"]


def modulefile_syntax(path: str) -> ModuleSyntax:
    """Lua for Lmod when the name ends in .lua (as Lmod requires), else Tcl."""
    return "lua" if path.endswith(".lua") else "tcl"


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tcl(text: str) -> str:
    return '"' + re.sub(r'([\\"$\[\]{}])', r"\\\1", text) + '"'


def modulefile_text(
    prefix: str, syntax: ModuleSyntax, name: str | None = None, version: str | None = None
) -> str:
    """The modulefile of the environment at `prefix` (absolute, the target's path); `name`
    and `version` are the archive's (--pkg-name, --pkg-version), the name by default the
    prefix's last part."""
    if not prefix.startswith("/") or any(c in prefix for c in "\0\n\r"):
        raise UsageError(f"--modulefile: the prefix {prefix!r} must be an absolute path")
    prefix = posixpath.normpath(prefix)
    name = name or posixpath.basename(prefix)
    called = f"{name} {version}" if version else name
    about = f"the conda environment {called} at {prefix} (conda-package {__version__})"
    bin_dir = posixpath.join(prefix, "bin")
    if syntax == "lua":
        q = _lua
        return (
            f"-- {about}\n"
            f"whatis({q('Name: ' + name)})\n"
            + (f"whatis({q('Version: ' + version)})\n" if version else "")
            + f"whatis({q('Description: ' + about)})\n"
            f'prepend_path("PATH", {q(bin_dir)})\n'
            f'setenv("CONDA_PREFIX", {q(prefix)})\n'
            f'setenv("CONDA_DEFAULT_ENV", {q(name)})\n'
        )
    q = _tcl
    return (
        "#%Module1.0\n"
        f"## {about}\n"
        f"module-whatis {q(about)}\n"
        f"prepend-path PATH {q(bin_dir)}\n"
        f"setenv CONDA_PREFIX {q(prefix)}\n"
        f"setenv CONDA_DEFAULT_ENV {q(name)}\n"
    )
