"""`conda-package --pkg-name NAME`: the command-line face of condapkg.build_package."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections import defaultdict

from .. import (
    Environment,
    PackageResult,
    UsageError,
    build_package,
    human_bytes,
    package_format,
    subdir_from_options,
    worker_count,
)
from .report import RichProgress

# Options of the other actions, which would silently do nothing here.
_NOT_FOR_PACKAGES = (
    ("which", "-w/--which"),
    ("untracked", "-u/--untracked"),
    ("reset", "-r/--reset"),
    ("zstd", "--zstd"),
    ("compression_level", "--compression-level (use --zstd-compression-level)"),
    ("compress_level", "--compress-level (use --zstd-compression-level)"),
    ("relocate_prefix", "--relocate-prefix"),
    ("fix_rpath", "--fix-rpath"),
    ("ignore_missing_files", "--ignore-missing-files"),
    ("ignore_editable_packages", "--ignore-editable-packages"),
    ("backup", "--backup"),
    ("no_backup", "--no-backup"),
)


def _check_options(args: argparse.Namespace) -> None:
    for attr, flag in _NOT_FOR_PACKAGES:
        if getattr(args, attr, None):
            raise UsageError(
                f"{flag} does not apply to --pkg-name (building a package of the untracked"
                " files); to name a packed environment, add --format or -o NAME.tar.gz"
            )
    worker_count(args.threads)


def _dry_run_lines(result: PackageResult) -> list[str]:
    lines = [
        f"# package: {result.dist} ({result.format}), would be written to {result.output}",
        f"# files: {len(result.files)} ({human_bytes(result.bytes_in)})",
    ]
    for f in result.files:
        if f.kind == "symlink":
            lines.append(f"  {'link':7} {'':>10}  {f.path} -> {f.target}")
        else:
            lines.append(f"  {f.file_mode or '-':7} {f.size:>10}  {f.path}")
    lines.append("# info/index.json:")
    lines.append(json.dumps(result.index, indent=2, sort_keys=True))
    return lines


def _notes(result: PackageResult, verbose: int) -> list[str]:
    """Warnings, then what was left out: grouped by reason unless -v asks for each path."""
    lines = [f"warning: {w}" for w in result.warnings]
    by_reason: dict[str, list[str]] = defaultdict(list)
    for item in result.left_out:
        by_reason[item.reason].append(item.path)
    for reason, paths in by_reason.items():
        if verbose or len(paths) == 1:
            lines += [f"left out {path}: {reason}" for path in paths]
        else:
            lines.append(f"left out {len(paths)} files (such as {paths[0]}): {reason}")
    return lines


def cmd_package(args: argparse.Namespace, env: Environment) -> int:
    _check_options(args)
    fmt = package_format(args.output, args.format)
    level = args.zstd_compression_level
    if level is not None and fmt != "conda":
        raise UsageError("--zstd-compression-level applies to .conda packages only")
    subdir = subdir_from_options(args.arch, args.platform)
    show_bar = not (args.quiet or args.dry_run or args.json) and sys.stderr.isatty()
    with RichProgress() if show_bar else contextlib.nullcontext() as bar:
        result = build_package(
            env,
            args.pkg_name,
            "0.0" if args.pkg_version is None else args.pkg_version,
            "0" if args.pkg_build is None else args.pkg_build,
            output=args.output,
            fmt=fmt,
            level=level,
            subdir=subdir,
            threads=args.threads,
            force=args.force,
            dry_run=args.dry_run,
            progress=bar,
        )
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.dry_run:
        print("\n".join(_dry_run_lines(result)))
    elif not args.quiet:
        print(
            f"built {result.output} ({len(result.files)} files, {human_bytes(result.size)})",
            file=sys.stderr,
        )
    if not args.quiet:
        for line in _notes(result, args.verbose):
            print(line, file=sys.stderr)
    return 0
