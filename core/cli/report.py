"""Human-readable output of the CLI: sizes, rates, the plan summary, rich progress."""

from __future__ import annotations

import sys
import time

from .. import PackResult, Progress, human_bytes, shown_prefix
from .squashfs import image_lines


def summary_lines(result: PackResult) -> list[str]:
    plan = result.plan
    files = plan.files
    by_action: dict[str, int] = {}
    for e in files:
        by_action[e.action] = by_action.get(e.action, 0) + 1
    room = result.room
    lines = [
        f"# prefix: {shown_prefix(plan.prefix)}",
        f"# subdir: {plan.subdir}",
        f"# entries: {len(result.names)} ({len(files)} files and links,"
        f" {len(plan.entries) - len(files)} directories, plus generated files)",
        f"# bytes: {plan.total_bytes} ({human_bytes(plan.total_bytes)})",
        f"# prefix files: {len(result.relocations)} ({result.restored} restored to their"
        f" package's bytes and verified, {len(result.relocations) - result.restored} by search)",
        f"# files searched for the prefix (untracked, modified, entry points):"
        f" {by_action.get('search', 0)}",
        f"# byte-code left out (rebuilt by Python at the target): {plan.skipped_pyc}",
        f"# missing files left out (--ignore-missing-files): {len(plan.missing)}",
        f"# editable installs, sources not packed (--ignore-editable-packages):"
        f" {len(plan.editable)}",
        f"# sockets, pipes and devices left out: {len(plan.special)}",
        f"# files and links excluded by pattern (--exclude/--include): {len(plan.excluded)}",
        "# longest target prefix that fits: "
        + (f"{room} bytes" if room is not None else "any (no binary holds the prefix)"),
        f"# packing notes (below): {len(result.findings)}",
    ]
    lines += image_lines(result)
    lines += [f"# RPATH rewritten: {path}: {old} -> {new}" for path, old, new in result.rpath_fixes]
    lines += [f"  - {f}" for f in result.findings]
    return lines


PHASE_NAMES = {"pack": "packing", "scan": "reading", "write": "packaging"}


class RichProgress:
    """A rich progress bar on stderr: phase, files, bytes, throughput, ETA, current file."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bar

        self.bar = Bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task("", total=None, current="", files="0")

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, p: Progress) -> None:
        current = p.current if len(p.current) < 40 else "…" + p.current[-39:]
        files = f"{p.done_files}/{p.total_files}"
        self.bar.update(
            self.task,
            description=PHASE_NAMES.get(p.phase, p.phase),
            total=p.total_bytes,
            completed=p.done_bytes,
            current=current,
            files=files,
        )


def print_done(result: PackResult, started: float) -> None:
    ratio = f", {result.bytes_out / result.bytes_in:.0%} of input" if result.bytes_in else ""
    print(
        f"packed {len(result.names)} entries into {result.output}"
        f" ({human_bytes(result.bytes_out)}{ratio}) in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    for path, old, new in result.rpath_fixes:
        print(f"fixed RPATH of {path}: {old} -> {new}", file=sys.stderr)
    for finding in result.findings:
        print(f"warning: {finding}", file=sys.stderr)
