"""The pack command line and PackOptions, both ways: the options a parsed command line asks
for, and the `conda-package ...` command that asks for given options (what the TUI shows
after a pack, to repeat it in a script). No argparse here: the TUI imports this."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import (
    PackOptions,
    UsageError,
    default_level,
    format_from_path,
    pack_format,
    worker_count,
)

if TYPE_CHECKING:
    import argparse

# What --pkg-name builds when no environment archive is asked for: the old `conda package`.
_PACKAGE_FORMATS = ("conda", "tar.bz2")


def names_environment(args: argparse.Namespace) -> bool:
    """Whether --pkg-name/--pkg-version/--pkg-build name the packed environment (an
    environment archive is asked for: --zstd, or a --format or -o other than a conda
    package's .conda or .tar.bz2) rather than build a package of the untracked files."""
    if args.pkg_name is None:
        return True
    if args.zstd:
        return True
    if args.format is not None:
        return args.format.lower().lstrip(".") not in _PACKAGE_FORMATS
    if args.output is not None:
        return not args.output.lower().endswith(tuple(f".{f}" for f in _PACKAGE_FORMATS))
    return False


def compresses(fmt: str | None, output: str | None) -> bool:
    """Whether the format asked for (or named by the output, or the default) compresses."""
    chosen = fmt or (format_from_path(output) if output else None) or "tar.gz"
    return chosen == "squashfs" or default_level(chosen) is not None


def pack_options(args: argparse.Namespace) -> PackOptions:
    """The options of a parsed pack command line, with the checks only the command line
    needs (conda-pack's --zstd spellings); the rest are validate()'s."""
    given = [args.zstd_compression_level, args.compression_level, args.compress_level]
    if sum(level is not None for level in given) > 1:
        raise UsageError("give one of --compression-level and --zstd-compression-level")
    fmt = args.format  # as given: conda-pack's names (tgz, infer, ...) are the engine's too
    asked = pack_format(fmt) if fmt else None
    if args.zstd:
        if asked not in (None, "tar.zst"):
            raise UsageError(f"--zstd conflicts with --format {fmt}")
        fmt = fmt if asked else "tar.zst"
        asked = "tar.zst"
    level = args.compression_level
    if args.compress_level is not None and compresses(asked, args.output):
        level = args.compress_level  # else ignored, as conda-pack ignores it (with a note)
    if args.zstd_compression_level is not None:
        if asked is None and args.output is None:
            fmt = asked = "tar.zst"
        chosen = asked or format_from_path(args.output)
        if chosen not in (None, "tar.zst"):
            raise UsageError(
                f"--zstd-compression-level is for tar.zst output, not {chosen};"
                " name the output .tar.zst or use --compression-level"
            )
        level = args.zstd_compression_level
        if not 1 <= level <= 22:
            raise UsageError(f"--zstd-compression-level {level}: must be between 1 and 22")
    worker_count(args.threads)
    return PackOptions(
        io_threads=args.io_threads,
        output=args.output,
        format=fmt,
        level=level,
        threads=args.threads,
        force=args.force,
        ignore_missing_files=args.ignore_missing_files,
        ignore_editable_packages=args.ignore_editable_packages,
        arch=args.arch,
        platform=args.platform,
        relocate_prefix=args.relocate_prefix,
        fix_rpath=args.fix_rpath,
        dry_run=args.dry_run,
        filters=args.filters,
        arcroot=args.arcroot,
        zip_symlinks=args.zip_symlinks,
        zip64=args.zip64,
        compile_bytecode=args.compile_bytecode,
        parcel_root=args.parcel_root,
        parcel_name=args.parcel_name,
        parcel_version=args.parcel_version,
        parcel_distro=args.parcel_distro,
        squashfs_compressor=args.squashfs_compressor,
        squashfs_block_size=args.squashfs_block_size,
        pkg_name=args.pkg_name,
        pkg_version=args.pkg_version,
        pkg_build=args.pkg_build,
    )


def pack_arguments(options: PackOptions) -> list[str]:
    """The command-line arguments (after the environment) that parse back to `options`.

    With --pkg-name and neither a format nor an output, --format tar.gz is added (the
    default it stands for): --pkg-name alone builds a package of the untracked files.
    """
    args: list[str] = []

    def add(flag: str, value: object, default: object = None) -> None:
        if value is not None and value != default:
            args.extend((flag, str(value)))

    def flag(name: str, on: bool) -> None:
        if on:
            args.append(name)

    add("-o", options.output)
    fmt = options.format
    if options.pkg_name is not None:  # never read as a package of the untracked files
        if fmt is None and options.output is None:
            fmt = "tar.gz"
        elif (fmt or "").lower() == "tar.bz2" or (
            fmt is None and (options.output or "").lower().endswith(".tar.bz2")
        ):
            fmt = "tbz2"  # conda-pack's name for it
    add("--format", fmt)
    add("--compression-level", options.level)
    add("--threads", options.threads, 0)
    add("--io-threads", options.io_threads, 0)
    add("--pkg-name", options.pkg_name)
    add("--pkg-version", options.pkg_version)
    add("--pkg-build", options.pkg_build)
    add("--relocate-prefix", options.relocate_prefix)
    add("--arcroot", options.arcroot, "")
    add("--arch", options.arch)
    add("--platform", options.platform)
    for made in options.filters:
        args.extend((f"--{made.kind}", made.pattern))
    flag("--force", options.force)
    flag("--ignore-missing-files", options.ignore_missing_files)
    flag("--ignore-editable-packages", options.ignore_editable_packages)
    flag("--fix-rpath", options.fix_rpath)
    flag("--zip-symlinks", options.zip_symlinks)
    flag("--no-zip-64", not options.zip64)
    flag("--compile-bytecode", options.compile_bytecode)
    add("--parcel-root", options.parcel_root)
    add("--parcel-name", options.parcel_name)
    add("--parcel-version", options.parcel_version)
    add("--parcel-distro", options.parcel_distro)
    add("--squashfs-compressor", options.squashfs_compressor)
    add("--squashfs-block-size", options.squashfs_block_size)
    flag("--dry-run", options.dry_run)
    return args


def _command(prefix: str, args: Sequence[str]) -> str:
    # `--` would be cleaner, but a prefix never starts with '-' once made absolute.
    return shlex.join(["conda-package", "-p", prefix, *args])


def pack_command(prefix: str, options: PackOptions) -> str:
    """`conda-package -p PREFIX ...`: the pack `options` describe, for a shell."""
    return _command(prefix, pack_arguments(options))


def package_command(
    prefix: str, name: str, version: str, build_number: int, output: str | None = None
) -> str:
    """`conda-package -p PREFIX --pkg-name ...`: a conda package of the untracked files."""
    args = ["--pkg-name", name, "--pkg-version", version, "--pkg-build", str(build_number)]
    return _command(prefix, [*args, *(["-o", output] if output else [])])
