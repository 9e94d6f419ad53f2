"""How fast the terminal UI answers on a large environment, driven by Textual's Pilot.

Usage: python benchmarks/bench_tui.py [PREFIX] [--many K] [--repeat N] [--profile OUT]
                                     [--baseline COMMIT]

Without PREFIX it builds the real environment from ../shared/conda-pkgs and a grown copy
of it (K copies of its lib/pythonX.Y under share/, untracked: bench_memory.py's `grow`;
K=56 makes ~126,000 files), then measures both. Each run is its own process
(`App.run_test(size=(80, 24))`, headless), so the peak RSS is the TUI's alone:

- table: seconds from the start until the package table has its rows;
- loaded: until the whole environment is shown (overview, files, untracked);
- analysed: until the relocation analysis has filled in its findings;
- expand: opening the folder with the most entries in the Files tree (ms, with a redraw);
- filter: typing a filter and pressing enter, to the new tree drawn (ms): one that
  matches many files ("python") and one that matches few ("libz.so"); and the longest the
  event loop was held meanwhile (a key pressed then waits that long);
- rss: peak resident memory of the process (MiB).

--profile OUT writes a cProfile of the UI thread (pstats format) of one grown run.
--baseline COMMIT (with PREFIX) measures that commit's core/ and tui/ too (from `git
archive`, put first on PYTHONPATH, with its own analysis cache warmed by a first run),
the two taking turns.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

MEASURE = r"""
import asyncio, cProfile, json, resource, sys, time

start = time.perf_counter()
from conda_package.tui.app import CondaPackageApp
from conda_package.tui.files import FilesPane
from textual.widgets import DataTable, Input, TabbedContent, Tree
from textual.worker import WorkerState

prefix, profile_out = sys.argv[1], sys.argv[2]
figures = {}


async def until(pilot, ready):
    while not ready():
        await asyncio.sleep(0.01)


async def idle(pilot):
    while True:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        busy = (WorkerState.PENDING, WorkerState.RUNNING)
        if not any(w.state in busy for w in pilot.app.workers):
            return


async def main():
    app = CondaPackageApp(prefix)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        table = screen.query_one("#packages-table", DataTable)
        await until(pilot, lambda: table.row_count > 0)
        figures["table_s"] = time.perf_counter() - start
        await until(pilot, lambda: screen.loaded is not None)  # and its panes filled
        figures["loaded_s"] = time.perf_counter() - start
        await idle(pilot)
        figures["analysed_s"] = time.perf_counter() - start
        figures["files"] = len(screen.loaded.env.files)
        index = screen.loaded.index
        biggest = max(index.children, key=lambda p: len(index.children[p]))
        figures["expanded_folder"] = biggest
        figures["entries"] = len(index.children[biggest])
        screen.query_one(TabbedContent).active = "files"
        await pilot.pause()
        tree = screen.query_one("#files-tree", Tree)
        pane = screen.query_one(FilesPane)
        parts = biggest.split("/")
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            node = next(n for n in walk(tree.root) if n.data == folder)
            if depth < len(parts):
                node.expand()
                await pilot.pause()
        t = time.perf_counter()
        node.expand()
        await pilot.pause()
        figures["expand_ms"] = (time.perf_counter() - t) * 1000
        for needle in ("python", "libz.so"):
            field = screen.query_one("#files-filter", Input)
            field.focus()
            await pilot.pause()
            summary = pane.query_one("#files-summary")
            t = time.perf_counter()
            field.value = needle
            await field.action_submit()  # enter, without the Pilot's wait for an idle process
            stall = 0.0  # the longest the event loop did not come back, while filtering
            while f"match {needle!r}" not in str(summary.content):
                tick = time.perf_counter()
                await asyncio.sleep(0.002)
                stall = max(stall, time.perf_counter() - tick - 0.002)
            await pilot.pause()
            figures[f"filter_{needle}_ms"] = (time.perf_counter() - t) * 1000
            figures[f"filter_{needle}_stall_ms"] = stall * 1000
            figures[f"filter_{needle}_summary"] = str(summary.content)
    figures["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


if profile_out:
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(main())
    profiler.disable()
    profiler.dump_stats(profile_out)
else:
    asyncio.run(main())
print(json.dumps(figures))
"""


def measure(prefix: str, profile: str = "", code: Path | None = None) -> dict:
    env = dict(os.environ)
    if code is not None:  # its own analysis cache: the two may differ in its format
        env["PYTHONPATH"] = str(code)
        env["XDG_CACHE_HOME"] = str(code / "cache")
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, prefix, profile],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if out.returncode:
        raise SystemExit(f"the TUI run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(name: str, runs: list[dict]) -> None:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    first = runs[0]
    print(f"\n{name}: {first['files']:,} files ({len(runs)} runs, medians)")
    print(f"  package table      {med('table_s'):7.2f} s")
    print(f"  all loaded         {med('loaded_s'):7.2f} s")
    print(f"  analysed           {med('analysed_s'):7.2f} s")
    folder, entries = first["expanded_folder"], first["entries"]
    print(f"  expand {folder} ({entries:,} entries) {med('expand_ms'):.0f} ms")
    summary = first["filter_python_summary"]
    print(f"  filter 'python'    {med('filter_python_ms'):7.0f} ms  ({summary})")
    print(f"  filter 'libz.so'   {med('filter_libz.so_ms'):7.0f} ms")
    stalls = f"{med('filter_python_stall_ms'):.0f} and {med('filter_libz.so_stall_ms'):.0f}"
    print(f"  UI stalled at most {stalls} ms while filtering (keys wait that long)")
    print(f"  peak RSS           {med('rss_mib'):7.0f} MiB")


def checkout(commit: str, dest: Path) -> Path:
    """core/ and tui/ of `commit`, laid out as the package conda_package."""
    root = Path(__file__).resolve().parent.parent
    package = dest / "conda_package"
    package.mkdir(parents=True)
    tar = subprocess.run(
        ["git", "-C", str(root), "archive", commit, "core", "tui"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(package)], input=tar, check=True)
    return dest


def main() -> None:
    from bench_memory import grow
    from realenv import benchmark_prefix

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prefix", nargs="?", help="measure this environment only")
    parser.add_argument("--many", type=int, default=56)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", default="", help="cProfile of the UI thread, grown run")
    parser.add_argument("--baseline", help="a commit to measure too, in turns")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    old = checkout(args.baseline, work / "baseline") if args.baseline else None
    if args.prefix:
        try:
            runs, old_runs = [], []
            if old is not None:
                measure(os.path.abspath(args.prefix), code=old)  # its analysis cache, warm
            for _ in range(args.repeat):
                runs.append(measure(os.path.abspath(args.prefix)))
                if old is not None:
                    old_runs.append(measure(os.path.abspath(args.prefix), code=old))
            report(args.prefix, runs)
            if old_runs:
                report(f"{args.prefix} at {args.baseline}", old_runs)
            if args.profile:
                measure(os.path.abspath(args.prefix), args.profile)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    try:
        prefix = benchmark_prefix(None, work)
        grown = str(grow(prefix, work / "grown", args.many, 0))
        subprocess.run(["tar", "-cf", "/dev/null", "-C", grown, "."], check=True)
        real_runs, grown_runs = [], []
        for _ in range(args.repeat):  # taking turns
            real_runs.append(measure(prefix))
            grown_runs.append(measure(grown))
        report("real environment", real_runs)
        report(f"grown ({args.many} copies of the stdlib)", grown_runs)
        if args.profile:
            measure(grown, args.profile)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
