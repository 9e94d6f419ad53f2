"""The `conda-package` options: ours, and conda-pack 0.9.2's spellings of them, so that its
command lines work unchanged."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from .. import ALIASES, PACK_FORMATS, PathFilter, UsageError, __version__
from .deploy import add_deploy_flags
from .squashfs import add_squashfs_arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other error
        raise UsageError(message)


class _Filter(argparse.Action):
    """--exclude and --include into one list, in command-line order (the order matters)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        assert isinstance(values, str)
        made = PathFilter("exclude" if option_string == "--exclude" else "include", values)
        namespace.filters = (*namespace.filters, made)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="conda-package",
        description="Pack a conda environment into a relocatable archive; find which package "
        "owns a file; list, remove or package the files no package owns.",
        epilog="Unpack with: mkdir ENV && tar -xf ENV.tar.gz -C ENV && . ENV/bin/activate",
    )
    for add in (_environment, _packing, _parcels, _files, _package_naming, _output):
        add(p)
    p.set_defaults(filters=())
    return p


def _environment(p: argparse.ArgumentParser) -> None:
    """Which environment, and how hard its filesystem is pressed."""
    where = p.add_argument_group("environment")
    where.add_argument("prefix_arg", nargs="?", metavar="PREFIX", help="environment prefix")
    exclusive = where.add_mutually_exclusive_group()
    exclusive.add_argument("-n", "--name", help="name of the environment")
    exclusive.add_argument("-p", "--prefix", help="full path to the environment")
    exclusive.add_argument(
        "--demo-env",
        metavar="PATH",
        help="make the demo environment at PATH (offline, no conda) and use it",
    )
    where.add_argument(
        "--io-threads",
        type=int,
        default=0,
        metavar="N",
        help="filesystem calls in flight on NFS, Lustre or GPFS (0: default, 64; 1: one)",
    )


def _packing(p: argparse.ArgumentParser) -> None:
    """The archive: format, level, threads, what goes in, where it will live."""
    pack = p.add_argument_group("packing (the default action)")
    pack.add_argument("-o", "--output", help="archive path (default: <env>.tar.gz in the cwd)")
    pack.add_argument(
        "--format",
        help=f"{', '.join(PACK_FORMATS)}; or conda-pack's {', '.join(ALIASES)}, infer"
        " (default: from -o, else tar.gz)",
    )
    pack.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="overwrite an existing output, and create its missing directories",
    )
    pack.add_argument(
        "--arcroot",
        metavar="PATH",
        default="",
        help="folder inside the archive that holds the environment (default: none)",
    )
    pack.add_argument(
        "--exclude",
        action=_Filter,
        metavar="PATTERN",
        help="leave out paths (relative to the prefix) matching PATTERN; repeatable",
    )
    pack.add_argument(
        "--include",
        action=_Filter,
        metavar="PATTERN",
        help="bring back excluded paths matching PATTERN; applied in order with --exclude",
    )
    pack.add_argument(
        "--ignore-missing-files", action="store_true", help="pack even if package files are missing"
    )
    pack.add_argument(
        "--ignore-editable-packages",
        action="store_true",
        help="pack even with editable pip installs (their sources stay behind)",
    )
    pack.add_argument("--zstd", action="store_true", help="tar.zst output")
    pack.add_argument(
        "--zstd-compression-level", type=int, metavar="1..22", help="zstd level (default 1)"
    )
    pack.add_argument(
        "--compression-level", type=int, metavar="N", help="level for the chosen format"
    )
    pack.add_argument(
        "--compress-level",
        type=int,
        metavar="N",
        help="conda-pack's spelling: the same, but ignored for formats that do not compress",
    )
    pack.add_argument(
        "-j",
        "--threads",
        "--n-threads",
        type=int,
        default=0,
        metavar="N",
        help="threads that read and compress; 0 or -1: all cores (default)",
    )
    pack.add_argument(
        "--zip-symlinks",
        action="store_true",
        help="zip: store symlinks as links (default: a copy of what they point to)",
    )
    pack.add_argument(
        "--no-zip-64",
        dest="zip64",
        action="store_false",
        help="zip: no ZIP64 extensions (fails if the zip would need them)",
    )
    pack.add_argument("--arch", help="override the detected subdir, e.g. linux-64")
    pack.add_argument("--platform", help="override the detected subdir, e.g. linux-aarch64")
    pack.add_argument(
        "-d",
        "--relocate-prefix",
        "--dest-prefix",
        metavar="PREFIX",
        help="relocate at pack time to PREFIX",
    )
    pack.add_argument(
        "--fix-rpath",
        action="store_true",
        help="rewrite absolute RPATHs into the prefix as $ORIGIN (archive only)",
    )
    pack.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    pack.add_argument("--check", action="store_true", help="report relocation findings")
    add_deploy_flags(pack)
    add_squashfs_arguments(p)


def _parcels(p: argparse.ArgumentParser) -> None:
    """A Cloudera parcel's root, name, version and distro."""
    parcel = p.add_argument_group("Cloudera parcels (--format parcel, or -o NAME.parcel)")
    parcel.add_argument(
        "--parcel-root",
        metavar="PATH",
        help="where the cluster unpacks parcels; the environment is relocated to"
        " PATH/NAME-VERSION (default /opt/cloudera/parcels)",
    )
    parcel.add_argument(
        "--parcel-name", metavar="NAME", help="no dashes (default: the environment's name)"
    )
    parcel.add_argument(
        "--parcel-version", metavar="VERSION", help="no dashes (default: today, YYYY.MM.DD)"
    )
    parcel.add_argument("--parcel-distro", metavar="DISTRO", help="no dashes (default el7)")


def _files(p: argparse.ArgumentParser) -> None:
    """The actions on files: which package owns one; the untracked ones."""
    files = p.add_argument_group("files")
    files.add_argument("-w", "--which", nargs="+", metavar="PATH", help="package owning PATH")
    files.add_argument("-u", "--untracked", action="store_true", help="list untracked files")
    files.add_argument("-r", "--reset", action="store_true", help="remove untracked files")
    files.add_argument("--yes", action="store_true", help="do not ask before removing")
    files.add_argument("--backup", metavar="PATH", help="backup archive of removed files")
    files.add_argument("--no-backup", action="store_true", help="remove without a backup")


def _package_naming(p: argparse.ArgumentParser) -> None:
    """What a conda package of the untracked files, or a packed environment, is called."""
    pkg = p.add_argument_group(
        "package name, version and build",
        "With a .conda or .tar.bz2 output, or neither -o nor --format: a conda package of the"
        " untracked files, NAME-VERSION-BUILD.conda. With an environment archive (--format,"
        " -o NAME.EXT, --zstd): what the packed environment is called (default output"
        " NAME-VERSION-BUILD.EXT, its manifest, a parcel's name and version); tar.bz2 of the"
        " environment: --format tbz2.",
    )
    pkg.add_argument("--pkg-name", metavar="NAME", help="default: the environment's name")
    pkg.add_argument("--pkg-version", metavar="VERSION", help="package: default 0.0; archive: none")
    pkg.add_argument(
        "--pkg-build", metavar="BUILD", help="package: build number, default 0; archive: none"
    )


def _output(p: argparse.ArgumentParser) -> None:
    """What the command prints."""
    out = p.add_argument_group("output")
    out.add_argument("-v", "--verbose", action="count", default=0)
    out.add_argument(
        "-q", "--quiet", action="store_true", help="no progress or summary; errors only"
    )
    out.add_argument("--json", action="store_true", help="machine-readable output")
    out.add_argument("--version", action="version", version=f"conda-package {__version__}")
