"""Pack flags for where the environment will run: --compile-bytecode and --modulefile."""

from __future__ import annotations

import argparse
import os
import tempfile

from .. import OutputExists, UsageError, fsencode, modulefile_syntax, modulefile_text


def add_deploy_flags(pack: argparse._ArgumentGroup) -> None:
    pack.add_argument(
        "--compile-bytecode",
        action="store_true",
        help="add the byte-code the environment lacks, compiled by its own Python",
    )
    pack.add_argument(
        "--modulefile",
        metavar="PATH",
        help="also write an Lmod (.lua) or Tcl modulefile for the environment at --relocate-prefix",
    )


def check_modulefile(args: argparse.Namespace) -> str | None:
    """Where the modulefile goes, checked before packing so a bad path costs no pack."""
    path = args.modulefile
    if path is None:
        return None
    if not args.relocate_prefix:
        raise UsageError(
            "--modulefile needs --relocate-prefix: the path the environment will have,"
            " which the modulefile puts on PATH"
        )
    path = os.path.abspath(path)
    if not os.path.isdir(os.path.dirname(path)):
        raise UsageError(f"{os.path.dirname(path)}: modulefile directory does not exist")
    if os.path.lexists(path) and not args.force:
        raise OutputExists(f"{path}: already exists; use --force to overwrite it")
    modulefile_text(args.relocate_prefix, modulefile_syntax(path))  # a prefix it can name
    return path


def write_modulefile(
    path: str, prefix: str, name: str | None = None, version: str | None = None
) -> None:
    """Whole or not at all, mode 0644 minus the umask like any new file."""
    text = modulefile_text(prefix, modulefile_syntax(path), name, version)
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".modulefile-")
    try:
        with open(fd, "wb") as f:
            f.write(fsencode(text))  # paths as the filesystem holds them, UTF-8 or not
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
