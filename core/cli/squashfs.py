"""The command line's squashfs image options, and what --dry-run and --check say of an image."""

from __future__ import annotations

import argparse
import re

from .. import (
    SQUASHFS_COMPRESSORS,
    Environment,
    Finding,
    PackOptions,
    PackResult,
    Severity,
    UsageError,
    format_from_path,
    pack,
)

_SIZE = re.compile(r"([0-9]+)([KkMm]?)")
_SHOWN = 8  # files named in the --dry-run summary; --check names them all


def block_size(text: str) -> int:
    """--squashfs-block-size in bytes, or with K or M; the range is checked with the rest."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"--squashfs-block-size {text!r}: give bytes, or K or M (e.g. 128K)")
    number, unit = match.groups()
    return int(number) << {"": 0, "k": 10, "m": 20}[unit.lower()]


def add_squashfs_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "squashfs images (--format squashfs, or -o NAME.squashfs/.sqsh/.sqfs)",
        "Relocated at pack time to --relocate-prefix MOUNTPOINT; without it, mount the image"
        " anywhere and run through its bin/cpk-run or bin/activate. Needs no squashfs tool.",
    )
    group.add_argument(
        "--squashfs-compressor",
        choices=SQUASHFS_COMPRESSORS,
        help="default zstd; gzip, lz4 or xz where kernels or squashfuse lack zstd"
        " (level: --compression-level)",
    )
    group.add_argument(
        "--squashfs-block-size",
        type=block_size,
        metavar="SIZE",
        help="4K to 1M, a power of two (default 128K)",
    )


def image_lines(result: PackResult) -> list[str]:
    """--dry-run: where the image's files point and what needs its link."""
    image = result.image
    if image is None:
        return []
    if not image.mount_anywhere:
        return [f"# image: relocated to its mount point {image.prefix}; mount it there"]
    shown = ", ".join(result.needs_link[:_SHOWN])
    more = " ..." if len(result.needs_link) > _SHOWN else ""
    return [
        f"# image: mount anywhere; its files name {image.prefix}, which bin/cpk-run and"
        " bin/activate link to the mount point (per machine; yours or root's link only)",
        "# image: Python scripts start the Python beside them; libraries load through"
        " $ORIGIN; neither needs the link",
        f"# image: files that need the link: {len(result.needs_link)}"
        + (f" ({shown}{more}; all: --check --format squashfs)" if shown else ""),
    ]


def _owner(env: Environment, path: str) -> str:
    owner = env.owner(path)
    return owner.dist if owner else "untracked"


def image_findings(env: Environment, args: argparse.Namespace) -> tuple[Finding, ...]:
    """--check for an image (--format squashfs or -o *.squashfs): each file that names the
    fixed path and so works only where bin/cpk-run could make the link."""
    fmt = args.format or (format_from_path(args.output) if args.output else None)
    if fmt != "squashfs" or args.relocate_prefix:
        return ()
    options = PackOptions(output=args.output, format=fmt, dry_run=True, threads=args.threads)
    result = pack(env, options)
    assert result.image is not None  # a squashfs pack always has its layout
    prefix = result.image.prefix
    return tuple(
        Finding(
            "image-needs-link",
            Severity.INFO,
            path,
            _owner(env, path),
            f"names the image's fixed path {prefix}; works where bin/cpk-run can link it",
            "run through bin/cpk-run or . bin/activate, or pack with --relocate-prefix MOUNTPOINT",
        )
        for path in result.needs_link
    )
