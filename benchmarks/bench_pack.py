"""conda-package against conda-pack 0.9.2 and tar | zstd, on the same environment, in one run.

Usage: python benchmarks/bench_pack.py [PREFIX] [--threads N] [--repeat R]

Without PREFIX it builds the real environment from ../shared/conda-pkgs (py-rattler,
offline). Each command runs in its own process, the commands in turn for R rounds; wall
time is the median of the R runs and peak memory the max RSS of that process and its
children (from wait4), page cache warm. Run it with the Python of a regular install
(`pip install .`), as users run the tool: an editable install adds ~30 ms of imports.
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

BIN = Path(sys.executable).parent


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS in MiB of one command."""
    wall, peak, _ = run_usage(cmd)
    return wall, peak


def run_usage(cmd: list[str]) -> tuple[float, int, float]:
    """Wall seconds, peak RSS in MiB and CPU seconds (user + system, the command's and
    its children's) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime


def measure(jobs: dict[str, tuple[str, list[str], Path]], repeat: int) -> dict[str, dict]:
    """Run the commands in turn, `repeat` rounds: a machine that speeds up or slows down
    during the run then weighs on every command alike."""
    walls: dict[str, list[float]] = {key: [] for key in jobs}
    rss: dict[str, list[int]] = {key: [] for key in jobs}
    cpus: dict[str, list[float]] = {key: [] for key in jobs}
    for _ in range(repeat):
        for key, (_, cmd, output) in jobs.items():
            if output.exists():
                output.unlink()
            wall, peak, cpu = run_usage(cmd)
            walls[key].append(wall)
            rss[key].append(peak)
            cpus[key].append(cpu)
    rows = {}
    for key, (name, _, output) in jobs.items():
        row = {"wall": statistics.median(walls[key]), "rss": max(rss[key])}
        row["cpu"] = statistics.median(cpus[key])
        row["size"] = output.stat().st_size
        rows[key] = row
        print(
            f"{name:44} {row['wall']:7.2f} s {row['cpu']:5.2f} CPU-s"
            f" {row['size'] / 2**20:8.1f} MiB {row['rss']:6d} MiB RSS"
            f"  (runs: {' '.join(f'{w:.2f}' for w in walls[key])})",
            flush=True,
        )
    return rows


def load_times(prefix: str, repeat: int) -> tuple[float, float]:
    from conda_pack.core import CondaEnv
    from conda_package.core.load.environment import Environment

    def best(fn) -> float:
        times = []
        for _ in range(max(repeat, 5)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    return best(lambda: Environment.load(prefix)), best(lambda: CondaEnv.from_prefix(prefix))


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realenv import benchmark_prefix  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prefix", nargs="?")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pack-"))
    try:
        prefix = benchmark_prefix(args.prefix, work)
        out = work / "out"
        out.mkdir()
        n = str(args.threads)
        print(f"environment: {prefix}, threads: {n}, cores: {os.cpu_count()}")
        ours_load, their_load = load_times(prefix, args.repeat)
        print(
            f"load (records + walk + index): conda-package {ours_load * 1000:.0f} ms,"
            f" conda-pack CondaEnv.from_prefix {their_load * 1000:.0f} ms,"
            f" ratio {their_load / ours_load:.2f}x"
        )
        cp, ours = str(BIN / "conda-pack"), str(BIN / "conda-package")
        jobs = {
            "cp1": (
                "conda-pack tar.gz (default, 1 thread)",
                [cp, "-p", prefix, "-o", str(out / "cp1.tar.gz"), "-q", "--force"],
                out / "cp1.tar.gz",
            ),
            "cpN": (
                f"conda-pack tar.gz -j {n}",
                [cp, "-p", prefix, "-o", str(out / "cpn.tar.gz"), "-q", "-j", n, "--force"],
                out / "cpn.tar.gz",
            ),
            "gz": (
                f"conda-package tar.gz -j {n}",
                [ours, "-p", prefix, "-o", str(out / "o.tar.gz"), "-q", "-j", n],
                out / "o.tar.gz",
            ),
            "zst": (
                f"conda-package --zstd (level 1) -j {n}",
                [ours, "-p", prefix, "--zstd", "-o", str(out / "o.tar.zst"), "-q", "-j", n],
                out / "o.tar.zst",
            ),
        }
        if shutil.which("zstd"):
            jobs["tarzst"] = (
                "tar -cf - | zstd -T0 -1",
                ["bash", "-c", f"tar -cf - -C '{prefix}' . | zstd -q -T0 -1 -o '{out}/t.tar.zst'"],
                out / "t.tar.zst",
            )
        rows = measure(jobs, args.repeat)
        print()
        print(
            "tar.zst vs conda-pack default tar.gz:"
            f" {rows['cp1']['wall'] / rows['zst']['wall']:.2f}x"
            " faster"
        )
        print(
            f"tar.gz vs conda-pack -j {n}: {rows['cpN']['wall'] / rows['gz']['wall']:.2f}x faster,"
            f" size {rows['gz']['size'] / rows['cpN']['size'] - 1:+.1%}"
        )
        if "tarzst" in rows:
            print(
                f"tar.zst vs tar | zstd -T0: {rows['zst']['wall'] / rows['tarzst']['wall']:.2f}x"
                " the time"
            )
        print(f"peak memory: tar.gz {rows['gz']['rss']} MiB, tar.zst {rows['zst']['rss']} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
