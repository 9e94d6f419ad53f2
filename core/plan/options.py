"""Pack options, and the checks every face (CLI, TUI, API) runs on them before any work."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from ..archive import default_level, format_from_path, validate_level
from ..errors import OutputExists, OutputInsideEnvironment, UsageError
from ..load import Environment
from ..paths import inside
from ..threads import io_thread_count, worker_count
from .subdirs import subdir_from_options


@dataclass(frozen=True)
class PackOptions:
    """What the user asked for, as given: checked by validate() against an environment."""

    output: str | None = None
    format: str | None = None
    level: int | None = None
    threads: int = 0
    io_threads: int = 0  # calls waiting on the filesystem at once (0: IO_THREADS)
    force: bool = False
    ignore_missing_files: bool = False
    ignore_editable_packages: bool = False
    arch: str | None = None
    platform: str | None = None
    relocate_prefix: str | None = None
    fix_rpath: bool = False
    dry_run: bool = False


OutputKind = Literal["archive", "package", "backup"]


def check_output(
    env: Environment,
    output: str,
    *,
    replace: bool = False,
    directory: bool = False,
    what: OutputKind = "archive",
) -> None:
    """Where any output of env may go (an archive, a package, a backup): into an existing
    folder, outside the environment, never over it, over an old file only when `replace`.
    """
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        raise UsageError(f"{parent}: output directory does not exist; create it first")
    real_parent = os.path.realpath(parent)
    if inside(real_parent, env.real_prefix):
        raise OutputInsideEnvironment(
            f"{output}: the {what} would be written inside the environment it"
            f" {'packs' if what == 'archive' else 'comes from'};"
            " choose an output outside it"
        )
    real_output = os.path.join(real_parent, os.path.basename(output))
    if inside(env.real_prefix, real_output):
        raise OutputInsideEnvironment(
            f"{output}: holds the environment it packs, and writing the output there would"
            " delete it; choose an output outside it"
        )
    if os.path.lexists(output) and not replace:
        hint = "choose another with --backup" if what == "backup" else "use --force to overwrite it"
        raise OutputExists(f"{output}: already exists; {hint}")
    if not directory and os.path.isdir(output) and not os.path.islink(output):
        raise OutputExists(
            f"{output}: is a directory, and --force replaces archives, not directories;"
            " choose another output or remove it yourself"
        )


def resolve_output(env: Environment, options: PackOptions) -> tuple[str, str]:
    """Output path and format from -o / --format / the default, with the checks a user needs."""
    fmt = options.format
    if options.output:
        inferred = format_from_path(options.output)
        fmt = fmt or inferred
        if fmt is None:
            raise UsageError(
                f"{options.output}: cannot tell the format from the extension;"
                " use .tar.gz, .tar.zst, .tar.bz2, .tar.xz, .tar, .zip or --format"
            )
        output = os.path.abspath(options.output)
    else:
        fmt = fmt or "tar.gz"
        output = os.path.abspath(f"{env.name}{'' if fmt == 'dir' else '.' + fmt}")
    check_output(env, output, replace=options.force or options.dry_run, directory=fmt == "dir")
    return output, fmt


@dataclass(frozen=True)
class PackSettings:
    """PackOptions checked against one environment: what the packer will really do."""

    output: str
    format: str
    level: int | None
    threads: int
    io_threads: int
    subdir: str | None
    relocate_prefix: str | None


def check_relocate_prefix(prefix: str | None) -> str | None:
    """A target prefix must be absolute; its room is checked against the files by the plan."""
    if prefix is not None and (not prefix.startswith("/") or "\0" in prefix):
        raise UsageError(f"--relocate-prefix {prefix!r}: must be an absolute path")
    return prefix


def validate(env: Environment, options: PackOptions) -> PackSettings:
    """Every check of the options before any work starts; the CLI, the TUI and pack() call it."""
    subdir = subdir_from_options(options.arch, options.platform)
    output, fmt = resolve_output(env, options)
    level = options.level if options.level is not None else default_level(fmt)
    return PackSettings(
        output=output,
        format=fmt,
        level=validate_level(fmt, level),
        threads=worker_count(options.threads),
        io_threads=io_thread_count(options.io_threads),
        subdir=subdir,
        relocate_prefix=check_relocate_prefix(options.relocate_prefix),
    )
