"""Self-relocation: what the hook costs each start of Python, and what the first start costs.

Usage: python benchmarks/bench_autorelocate.py [PREFIX] [--starts N] [--moves R]

Without PREFIX it builds the real environment from ../shared/conda-pkgs (py-rattler,
offline). It packs it as tar.gz and extracts it twice, both relocated already: one as
packed, one with the hook's .pth file removed. Then `bin/python -c pass` starts N times
from each, taking turns, in the same run: the difference of the medians is what the hook
costs when nothing moved. Last, R rounds of three fresh extracts, all made before any is
timed: the first start of Python (which relocates, and writes the byte-code of the modules
Python starts with: the archive holds none), the first start with the hook off (the
byte-code alone), and `bin/conda-unpack` alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conda_package.core import PackOptions, pack
from conda_package.core.load.environment import Environment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realenv import benchmark_prefix

HOOK = "lib/python3.7/site-packages/_conda_package_autorelocate.pth"
OFF = "CONDA_PACKAGE_NO_AUTORELOCATE"
QUIET = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _extract(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True)
    return dest


def _timed(command: list[str], **env: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**QUIET, **env}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prefix", nargs="?")
    parser.add_argument("--starts", type=int, default=300)
    parser.add_argument("--moves", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-autorelocate-"))
    try:
        prefix = benchmark_prefix(args.prefix, work)
        archive = work / "env.tar.gz"
        pack(Environment.load(prefix), PackOptions(output=str(archive)))
        hooked = _extract(archive, work / "hooked")
        plain = _extract(archive, work / "plain")
        (plain / HOOK).unlink()
        for env in (hooked, plain):
            subprocess.run([str(env / "bin" / "conda-unpack"), "-q"], check=True)
            _timed([str(env / "bin" / "python"), "-c", "pass"])  # byte-code written once
        print(f"environment: {prefix}, cores: {os.cpu_count()}, starts: {args.starts} each")

        with_hook: list[float] = []
        without: list[float] = []
        for _ in range(args.starts):
            with_hook.append(_timed([str(hooked / "bin" / "python"), "-c", "pass"]))
            without.append(_timed([str(plain / "bin" / "python"), "-c", "pass"]))
        cost = statistics.median(with_hook) - statistics.median(without)
        print(f"python -c pass, nothing moved: with the hook {_ms(with_hook)}", end="")
        print(f", without {_ms(without)}")
        print(f"  the hook costs {cost * 1000:.2f} ms a start (median difference)")

        first: list[float] = []
        off: list[float] = []
        unpack: list[float] = []
        for n in range(args.moves):
            fresh = [_extract(archive, work / f"fresh-{n}-{k}") for k in range(3)]
            runs = [
                (first, [str(fresh[0] / "bin" / "python"), "-c", "pass"], {}),
                (off, [str(fresh[1] / "bin" / "python"), "-c", "pass"], {OFF: "1"}),
                (unpack, [str(fresh[2] / "bin" / "conda-unpack"), "-q"], {}),
            ]
            for times, command, env in runs[n % 3 :] + runs[: n % 3]:  # taking turns
                times.append(_timed(command, **env))
            for tree in fresh:
                shutil.rmtree(tree)
        print(f"first start after a move: {_ms(first)} (relocates, writes byte-code)")
        print(f"  first start with {OFF}=1: {_ms(off)} (writes byte-code only)")
        print(f"  conda-unpack alone: {_ms(unpack)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
