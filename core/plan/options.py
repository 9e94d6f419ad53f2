"""Pack options, and the checks every face (CLI, TUI, API) runs on them before any work."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from ..archive import (
    ALIASES,
    PackFormat,
    SquashfsCompressor,
    SquashfsSettings,
    default_level,
    format_from_path,
    pack_format,
    squashfs_settings,
    validate_level,
)
from ..errors import OutputExists, OutputInsideEnvironment, UsageError
from ..load import Environment
from ..paths import inside
from ..threads import io_thread_count, worker_count
from .filters import PathFilter
from .label import ArchiveLabel, archive_label
from .parcel import Parcel, make_parcel
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
    filters: tuple[PathFilter, ...] = ()  # --exclude/--include, in the order given
    arcroot: str = ""  # the folder inside the archive that holds the environment
    zip_symlinks: bool = False  # zip: store symlinks as links, not what they point to
    zip64: bool = True  # zip: allow ZIP64 extensions (--no-zip-64 turns them off)
    compile_bytecode: bool = False  # add the byte-code the environment lacks (write/bytecode.py)
    # --format parcel: each None takes conda-pack's default (see make_parcel)
    parcel_root: str | None = None
    parcel_name: str | None = None
    parcel_version: str | None = None
    parcel_distro: str | None = None
    squashfs_compressor: SquashfsCompressor | None = None  # squashfs only; default zstd
    squashfs_block_size: int | None = None  # squashfs only, bytes; default 128 KiB
    # What the packed environment is called (plan/label.py): None takes the default
    pkg_name: str | None = None
    pkg_version: str | None = None
    pkg_build: str | None = None


OutputKind = Literal["archive", "package", "backup"]


def check_output(
    env: Environment,
    output: str,
    *,
    replace: bool = False,
    directory: bool = False,
    what: OutputKind = "archive",
    make_parent: bool = False,
) -> None:
    """Where any output of env may go (an archive, a package, a backup): into an existing
    folder (or one the caller will create, with `make_parent`), outside the environment,
    never over it, over an old file only when `replace`.
    """
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        if not make_parent:
            hint = " (or use --force)" if what == "archive" else ""
            raise UsageError(f"{parent}: output directory does not exist; create it first{hint}")
        existing = parent
        while not os.path.lexists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise UsageError(
                f"{existing}: not a directory, so the output directory {parent} cannot be"
                " created there; choose another output"
            )
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


def resolve_output(env: Environment, options: PackOptions) -> tuple[str, PackFormat]:
    """Output path and format from -o / --format / the default, with the checks a user needs.

    --format takes conda-pack's names too (tgz, no-archive, infer, ...); an output named
    .parcel is a parcel, as with conda-pack, unless another format is asked for.
    """
    fmt = pack_format(options.format) if options.format else None
    if options.output:
        inferred = format_from_path(options.output)
        if inferred == "parcel" and fmt not in (None, "tar.gz", "parcel"):
            raise UsageError(
                f"{options.output}: a parcel is a tar.gz, not {fmt};"
                " use --format parcel or another name for the output"
            )
        fmt = "parcel" if inferred == "parcel" else fmt or inferred
        if fmt is None:
            raise UsageError(
                f"{options.output}: cannot tell the format from the extension;"
                " use .tar.gz, .tar.zst, .tar.bz2, .tar.xz, .tar, .zip, .squashfs, .sh,"
                " .parcel or --format"
            )
        output = os.path.abspath(options.output)
    else:
        fmt = fmt or "tar.gz"
        output = os.path.abspath(default_output_name(env, options, fmt))
    check_output(
        env,
        output,
        replace=options.force or options.dry_run,
        directory=fmt == "dir",
        make_parent=options.force,  # as conda-pack's --force does
    )
    return output, fmt


def default_output_name(env: Environment, options: PackOptions, fmt: PackFormat) -> str:
    """The output's file name without -o: NAME-VERSION-BUILD.EXT, or the parcel's name."""
    if fmt == "parcel":
        return parcel_options(env, options).filename
    # conda-pack's names name it too: --format tgz makes ENV.tgz
    ext = options.format if options.format in ALIASES else fmt
    return f"{label_of(env, options).stem}{'' if ext == 'dir' else '.' + ext}"


def label_of(env: Environment, options: PackOptions) -> ArchiveLabel:
    return archive_label(env.name, options.pkg_name, options.pkg_version, options.pkg_build)


def parcel_options(env: Environment, options: PackOptions) -> Parcel:
    """--parcel-name and --parcel-version default to --pkg-name and --pkg-version."""
    return make_parcel(
        env.name,
        root=options.parcel_root,
        name=options.parcel_name or options.pkg_name or None,
        version=options.parcel_version or options.pkg_version or None,
        distro=options.parcel_distro,
    )


def _check_parcel(env: Environment, options: PackOptions, fmt: PackFormat) -> Parcel | None:
    """The parcel, when the format is one: it sets the folder inside and the target prefix
    itself, so --arcroot and --relocate-prefix conflict with it; --parcel-* need it."""
    given = {
        "--parcel-root": options.parcel_root,
        "--parcel-name": options.parcel_name,
        "--parcel-version": options.parcel_version,
        "--parcel-distro": options.parcel_distro,
    }
    if fmt != "parcel":
        asked = [option for option, value in given.items() if value is not None]
        if asked:
            raise UsageError(
                f"{asked[0]} is for parcels; add --format parcel or name the output .parcel"
            )
        return None
    if options.arcroot or options.relocate_prefix:
        option = "--arcroot" if options.arcroot else "--dest-prefix/--relocate-prefix"
        raise UsageError(
            f"{option} cannot be used with a parcel: it is unpacked as NAME-VERSION/ and"
            " relocated to PARCEL_ROOT/NAME-VERSION; use --parcel-root, --parcel-name and"
            " --parcel-version"
        )
    return parcel_options(env, options)


@dataclass(frozen=True)
class PackSettings:
    """PackOptions checked against one environment: what the packer will really do."""

    output: str
    format: PackFormat
    level: int | None
    threads: int
    io_threads: int
    subdir: str | None
    relocate_prefix: str | None
    arcroot: str  # normalised: "" or a relative path without "." or ".." parts
    compile_bytecode: bool
    parcel: Parcel | None = None  # --format parcel: it set arcroot and relocate_prefix
    squashfs: SquashfsSettings | None = None  # how a squashfs image is compressed
    label: ArchiveLabel | None = None  # the packed environment's name, version and build


def env_python(prefix: str) -> str:
    """The environment's own Python: only it knows its byte-code format."""
    return os.path.join(prefix, "bin", "python")


def check_compile_bytecode(env: Environment, wanted: bool) -> bool:
    """Byte-code is compiled by the environment's Python, so it must run on this machine."""
    if wanted and not os.access(env_python(env.prefix), os.X_OK):
        raise UsageError(
            f"--compile-bytecode: {env.prefix} has no bin/python to compile with;"
            " pack without --compile-bytecode"
        )
    return wanted


def check_relocate_prefix(prefix: str | None) -> str | None:
    """A target prefix must be absolute; its room is checked against the files by the plan."""
    if prefix is not None and (not prefix.startswith("/") or "\0" in prefix):
        raise UsageError(f"--relocate-prefix {prefix!r}: must be an absolute path")
    return prefix


def check_arcroot(arcroot: str, fmt: str) -> str:
    """The folder inside the archive, as a plain relative path (leading and trailing
    slashes dropped, as conda-pack does); one that could escape the extraction is refused,
    and so is any with the installer, which installs the environment where it is told."""
    parts = [part for part in arcroot.split("/") if part not in ("", ".")]
    if ".." in parts or "\0" in arcroot:
        raise UsageError(f"--arcroot {arcroot!r}: must be a relative path without '..'")
    if parts and fmt == "sh":
        raise UsageError("--arcroot: the sh installer installs into the folder it is given")
    return "/".join(parts)


def validate(env: Environment, options: PackOptions) -> PackSettings:
    """Every check of the options before any work starts; the CLI, the TUI and pack() call it."""
    subdir = subdir_from_options(options.arch, options.platform)
    output, fmt = resolve_output(env, options)
    parcel = _check_parcel(env, options, fmt)
    level = options.level if options.level is not None else default_level(fmt)
    return PackSettings(
        output=output,
        format=fmt,
        level=validate_level(fmt, level),
        threads=worker_count(options.threads),
        io_threads=io_thread_count(options.io_threads),
        subdir=subdir,
        relocate_prefix=parcel.prefix if parcel else check_relocate_prefix(options.relocate_prefix),
        arcroot=parcel.dirname if parcel else check_arcroot(options.arcroot, fmt),
        compile_bytecode=check_compile_bytecode(env, options.compile_bytecode),
        parcel=parcel,
        squashfs=_squashfs(options, fmt),
        label=label_of(env, options),
    )


def _squashfs(options: PackOptions, fmt: str) -> SquashfsSettings | None:
    """The image's compression; its options given for another format are a mistake to say."""
    if fmt == "squashfs":
        return squashfs_settings(
            options.squashfs_compressor, options.level, options.squashfs_block_size
        )
    for flag, value in (
        ("--squashfs-compressor", options.squashfs_compressor),
        ("--squashfs-block-size", options.squashfs_block_size),
    ):
        if value is not None:
            raise UsageError(
                f"{flag} is for squashfs output, not {fmt};"
                " name the output .squashfs or use --format squashfs"
            )
    return None
