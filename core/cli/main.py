"""The `conda-package` command line: pack by default; -w, -u, -r, --check, --pkg-name."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import signal
import sys
from collections.abc import Sequence

from .. import (
    CondaPackageError,
    Environment,
    UsageError,
    io_thread_count,
    is_demo,
    locate,
    shown_prefix,
)
from .deploy import check_modulefile, write_modulefile
from .parser import build_parser


def _prefix(args: argparse.Namespace) -> str:
    if args.prefix and args.prefix_arg:
        raise UsageError("give the prefix either as -p PREFIX or as PREFIX, not both")
    if args.name and args.prefix_arg:
        raise UsageError("give either -n NAME or PREFIX, not both")
    return locate(args.name, args.prefix or args.prefix_arg)


def _load(args: argparse.Namespace) -> Environment:
    return Environment.load(_prefix(args), io_threads=args.io_threads)


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def cmd_untracked(args: argparse.Namespace) -> int:
    env = _load(args)
    if args.json:
        _print_json(
            {
                "prefix": env.prefix,
                "demo": is_demo(env.prefix),
                "untracked": [
                    {"path": p, "pip": str(env.pip_owners[p]) if p in env.pip_owners else None}
                    for p in env.untracked
                ],
            }
        )
        return 0
    print(f"# prefix: {shown_prefix(env.prefix)}")
    print(f"# untracked files: {len(env.untracked)}")
    for path in env.untracked:
        print(path)
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    from .. import default_backup_path, remove_untracked

    env = _load(args)
    if args.backup and args.no_backup:
        raise UsageError("--backup and --no-backup exclude each other")
    backup = None if args.no_backup else os.path.abspath(args.backup or default_backup_path(env))
    err = sys.stderr
    if not env.untracked:
        if not args.quiet:
            print(
                f"# prefix: {shown_prefix(env.prefix)}\n# untracked files: 0 (nothing to remove)",
                file=err,
            )
        return 0
    if not args.quiet or args.dry_run:
        stream = sys.stdout if args.dry_run else err
        print(f"# prefix: {shown_prefix(env.prefix)}", file=stream)
        print(f"# untracked files to remove: {len(env.untracked)}", file=stream)
        for path in env.untracked:
            print(path, file=stream)
        if not args.dry_run:
            print(f"# backup: {backup or 'none (--no-backup)'}", file=err)
    if args.dry_run:
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("not on a terminal: add --yes to remove the untracked files")
        answer = input(f"Remove {len(env.untracked)} untracked files? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed", file=err)
            return 1
    result = remove_untracked(env, backup)
    if not args.quiet:
        print(
            f"removed {len(result.removed_files)} files and {len(result.removed_dirs)} empty"
            f" directories" + (f"; backup: {result.backup}" if result.backup else ""),
            file=err,
        )
    return 0


def _analysis_summary(env: Environment, args: argparse.Namespace) -> str:
    """The --check summary, for --dry-run: what the move would break, before packing."""
    from .check import checked, summary_line

    return summary_line(*checked(env, args)) + " (details: --check)"


def cmd_pack(args: argparse.Namespace) -> int:
    import time

    from .. import pack
    from .command import pack_options
    from .report import RichProgress, print_done, summary_lines

    options = pack_options(args)
    if args.compress_level is not None and options.level is None and not args.quiet:
        print(
            f"conda-package: note: --compress-level {args.compress_level} ignored:"
            " the output is not compressed",
            file=sys.stderr,
        )
    modulefile = check_modulefile(args)
    env = _load(args)
    started = time.perf_counter()
    show_bar = not (args.quiet or args.dry_run) and sys.stderr.isatty()
    if show_bar:
        with RichProgress() as bar:
            result = pack(env, options, progress=bar)
    else:
        result = pack(env, options)
    if modulefile and not args.dry_run:
        write_modulefile(
            modulefile, args.relocate_prefix, args.pkg_name or env.name, args.pkg_version
        )
    if args.json:
        _print_json(
            {
                "output": result.output,
                "format": result.format,
                "entries": result.names,
                "excluded": list(result.plan.excluded),
                "relocations": [dataclasses.asdict(r) for r in result.relocations],
                "findings": result.findings,
                "room": result.room,
                "bytes_in": result.bytes_in,
                "bytes_out": result.bytes_out,
            }
        )
    elif args.dry_run:
        print("\n".join(summary_lines(result)))
        print(_analysis_summary(env, args))
        if args.verbose:
            for entry in result.plan.entries:
                print(f"{entry.action:8} {entry.kind:8} {entry.name}")
            for name in result.plan.excluded:
                print(f"{'excluded':17} {name}")
    elif not args.quiet:
        print_done(result, started)
    return 0


def _make_demo(args: argparse.Namespace) -> None:
    """--demo-env: build the demo, then act on it as on any prefix."""
    from .. import create_demo

    if args.prefix_arg:
        raise UsageError("give either --demo-env PATH or PREFIX, not both")
    args.prefix = create_demo(args.demo_env)
    if not args.quiet:
        print(f"conda-package: demo environment made at {args.prefix}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    io_thread_count(args.io_threads)  # a usage error before any work
    if args.demo_env is not None:
        _make_demo(args)
    if args.check:
        from .check import cmd_check

        return cmd_check(args, _load(args))
    from .command import names_environment

    if not names_environment(args):
        from .package import cmd_package

        return cmd_package(args, _load(args))
    if args.which:
        from .which import cmd_which

        return cmd_which(args)
    if args.untracked:
        return cmd_untracked(args)
    if args.reset:
        return cmd_reset(args)
    return cmd_pack(args)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C, so partial output is removed


def main(argv: Sequence[str] | None = None) -> int:
    # One short run whose objects (the environment model: hundreds of thousands of them)
    # form no cycles: the cyclic collector would only scan them again and again.
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    verbose = 0
    signal.signal(signal.SIGTERM, _terminate)
    # A closed terminal or ssh session: clean up too, unless started under nohup.
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _terminate)
    try:
        args = build_parser().parse_args(argv)
        verbose = args.verbose
        return run(args)
    except CondaPackageError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        print(f"conda-package: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        # Partial output is gone by now; a second Ctrl-C while compression threads wind
        # down would only print a traceback from the interpreter's shutdown.
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        print("conda-package: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        name = f"{exc.filename}: " if exc.filename else ""
        print(f"conda-package: error: {name}{exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
