"""conda-package against a sequential walk and conda-pack 0.9.2 on a slow filesystem.

Usage: python benchmarks/bench_slowfs.py [--delays 0.2,1,2] [--sweep] [--cold]

Builds the real environment from ../shared/conda-pkgs, moves it aside and serves it at its
own path through benchmarks/slowfs.py (every lookup, getattr, readdir, open and readlink
takes DELAY ms, up to 256 calls at once), so the files hold the prefix they are seen at.
For each delay the commands take turns, one run each, in their own processes:

- load: `Environment.load` (records + walk + index) with the default I/O threads, with
  one thread (the sequential walk of before), and conda-pack's `CondaEnv.from_prefix`;
- pack: `conda-package --zstd` against `conda-pack -j 2` (tar.gz);
- TUI: seconds from start until the package table has its rows, and until loaded.

An untimed pack first puts the same state before every command: the kernel knows every
inode and holds the contents in its page cache, as an NFS client does. Between runs the
mount's entry and attribute caches (3 s) run out, so every lookup, open and directory read
is a round trip again. --cold drops the page cache (`echo 3 > /proc/sys/vm/drop_caches`,
root) before each run instead, and adds a local-disk pack with and without it. --sweep
times the load at 1 ms for 1-256 I/O threads (the choice of IO_THREADS).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import slowfs

BIN = Path(sys.executable).parent
CACHE_S = 3.2  # the mount's entry and attribute caches last 3 s: wait them out

LOAD = """
import sys, time
from conda_package.core import Environment
start = time.perf_counter()
Environment.load(sys.argv[1], io_threads=int(sys.argv[2]))
print(time.perf_counter() - start)
"""
LOAD_CONDA_PACK = """
import sys, time
from conda_pack.core import CondaEnv
start = time.perf_counter()
CondaEnv.from_prefix(sys.argv[1])
print(time.perf_counter() - start)
"""
TUI = """
import asyncio, sys, time
from conda_package.tui.app import CondaPackageApp
from textual.widgets import DataTable

async def main():
    start = time.perf_counter()
    app = CondaPackageApp(sys.argv[1])
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one("#packages-table", DataTable)
        while table.row_count == 0:
            await pilot.pause(0.01)
        shown = time.perf_counter() - start
        while app.screen.loaded is None:
            await pilot.pause(0.01)
        print(shown, time.perf_counter() - start)

asyncio.run(main())
"""


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(cmd: list[str], cold: bool) -> tuple[float, str]:
    """Wall seconds of a command, and what it printed."""
    time.sleep(CACHE_S)
    if cold:
        drop_caches()
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return wall, done.stdout


def one_delay(prefix: str, out: Path, cold: bool) -> dict[str, float]:
    """Every command once, in turn, on the mounted prefix."""
    py = sys.executable
    cp, ours = str(BIN / "conda-pack"), str(BIN / "conda-package")
    row: dict[str, float] = {}
    # Untimed: the kernel learns every inode, and the contents enter the page cache.
    timed([ours, "-p", prefix, "--zstd", "-o", str(out / "warm.tar.zst"), "-q", "--force"], False)
    row["load"] = float(timed([py, "-c", LOAD, prefix, "0"], cold)[1])
    row["load_seq"] = float(timed([py, "-c", LOAD, prefix, "1"], cold)[1])
    row["load_cp"] = float(timed([py, "-c", LOAD_CONDA_PACK, prefix], cold)[1])
    zst, gz = out / "o.tar.zst", out / "cp.tar.gz"
    row["pack"] = timed([ours, "-p", prefix, "--zstd", "-o", str(zst), "-q", "--force"], cold)[0]
    row["pack_cp"] = timed([cp, "-p", prefix, "-o", str(gz), "-q", "-j", "2", "--force"], cold)[0]
    shown, loaded = timed([py, "-c", TUI, prefix], cold)[1].split()
    row["tui_table"], row["tui_loaded"] = float(shown), float(loaded)
    return row


def table(rows: dict[float, dict[str, float]]) -> str:
    lines = [
        "| per call | load | sequential walk | `CondaEnv.from_prefix` | `--zstd` pack"
        " | `conda-pack -j 2` | TUI: packages / all loaded |",
        "|---|---|---|---|---|---|---|",
    ]
    for delay, r in rows.items():
        lines.append(
            f"| {delay:g} ms ({r['measured']:.2f} ms measured) | {r['load']:.2f} s"
            f" | {r['load_seq']:.2f} s ({r['load_seq'] / r['load']:.1f}x)"
            f" | {r['load_cp']:.2f} s ({r['load_cp'] / r['load']:.1f}x)"
            f" | {r['pack']:.2f} s | {r['pack_cp']:.2f} s ({r['pack_cp'] / r['pack']:.1f}x)"
            f" | {r['tui_table']:.2f} s / {r['tui_loaded']:.2f} s |"
        )
    return "\n".join(lines)


def sweep(source: Path, prefix: str) -> None:
    with slowfs.mount(source, prefix, 1.0):
        for threads in (1, 4, 8, 16, 32, 64, 128, 256):
            wall = float(timed([sys.executable, "-c", LOAD, prefix, str(threads)], False)[1])
            print(f"load at 1 ms, {threads:3} I/O threads: {wall:.2f} s", flush=True)


def local(prefix: str, out: Path, cold: bool) -> None:
    """The same packs on the local disk, for the cold-cache figures."""
    cp, ours = str(BIN / "conda-pack"), str(BIN / "conda-package")
    zst = timed([ours, "-p", prefix, "--zstd", "-o", str(out / "l.tar.zst"), "-q", "--force"], cold)
    gz = timed([cp, "-p", prefix, "-o", str(out / "l.tar.gz"), "-q", "-j", "2", "--force"], cold)
    print(
        f"local disk{' (page cache dropped)' if cold else ''}: --zstd {zst[0]:.2f} s,"
        f" conda-pack -j 2 {gz[0]:.2f} s ({gz[0] / zst[0]:.1f}x)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delays", default="0.2,1,2", help="ms per call, comma-separated")
    parser.add_argument("--sweep", action="store_true", help="load at 1-256 I/O threads")
    parser.add_argument("--cold", action="store_true", help="drop the page cache each run")
    args = parser.parse_args()
    if why := slowfs.available():
        raise SystemExit(why)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from realenv import build_real_env

    work = Path(tempfile.mkdtemp(prefix="bench-slowfs-"))
    try:
        prefix = str(build_real_env(work / "env", work / "build"))
        source = work / "source"
        os.rename(prefix, source)
        out = work / "out"
        out.mkdir()
        if args.sweep:
            sweep(source, prefix)
        rows: dict[float, dict[str, float]] = {}
        for delay in (float(d) for d in args.delays.split(",")):
            with slowfs.mount(source, prefix, delay):
                measured = slowfs.measure(str(source), prefix)
                rows[delay] = {"measured": measured, **one_delay(prefix, out, args.cold)}
            print(f"{delay:g} ms: {rows[delay]}", flush=True)
        if args.cold:
            os.rename(source, prefix)
            local(prefix, out, cold=False)
            local(prefix, out, cold=True)
        print()
        print(table(rows))
    finally:
        for mnt in (work / "env",):
            if os.path.ismount(mnt):
                subprocess.run(["fusermount3", "-u", "-z", str(mnt)], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
