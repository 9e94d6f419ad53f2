"""Peak memory as the environment grows: the real environment, then the same with many
more files and bytes, for conda-package and conda-pack 0.9.2.

Usage: python benchmarks/bench_memory.py [PREFIX] [--threads N] [--many K] [--large L]

The grown environment is PREFIX plus K copies of its lib/pythonX.Y (many small files)
and L copies of its lib/ (large libraries) under share/, as untracked files. They are
real copies: hard links would be packed as links and never read. Each command runs once
per environment (peak RSS of the process and its children, from wait4); the grown
environment takes K x 45 MB + L x 200 MB of disk for the real environment of
../shared/conda-pkgs. Run it with the Python of a regular install (`pip install .`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pack import BIN, benchmark_prefix, run


def grow(prefix: str, dest: Path, many: int, large: int) -> Path:
    shutil.copytree(prefix, dest, symlinks=True)
    stdlib = next((dest / "lib").glob("python[0-9]*"))
    for i in range(many):
        shutil.copytree(stdlib, dest / "share" / f"many-{i}" / stdlib.name, symlinks=True)
    for i in range(large):
        shutil.copytree(Path(prefix) / "lib", dest / "share" / f"large-{i}" / "lib", symlinks=True)
    return dest


def size_of(prefix: Path) -> tuple[int, int]:
    files = total = 0
    for root, _, names in os.walk(prefix):
        for name in names:
            st = os.lstat(os.path.join(root, name))
            files += 1
            total += st.st_size
    return files, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("prefix", nargs="?")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--many", type=int, default=32)
    parser.add_argument("--large", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        prefix = benchmark_prefix(args.prefix, work)
        grown = grow(prefix, work / "grown", args.many, args.large)
        out = work / "out"
        out.mkdir()
        n = str(args.threads)
        ours, cp = str(BIN / "conda-package"), str(BIN / "conda-pack")
        commands = {
            "conda-package --zstd": [ours, "--zstd", "-o", str(out / "o.tar.zst")],
            "conda-package tar.gz": [ours, "-o", str(out / "o.tar.gz")],
            "conda-package zip": [ours, "-o", str(out / "o.zip")],
            "conda-package squashfs": [ours, "-o", str(out / "o.squashfs")],
            f"conda-pack -j {n} tar.gz": [cp, "-o", str(out / "cp.tar.gz"), "-j", n],
        }
        print(f"threads: {n}, cores: {os.cpu_count()}")
        for env in (Path(prefix), grown):
            files, total = size_of(env)
            print(f"\n{env}: {files:,} files, {total / 2**20:,.0f} MiB")
            for name, cmd in commands.items():
                for old in out.iterdir():
                    old.unlink()
                flags = ["-p", str(env), "-q", "--force", "--ignore-missing-files"]
                if name.startswith("conda-package"):
                    flags += ["-j", n]
                wall, rss = run([*cmd, *flags])
                print(f"  {name:28} {wall:6.2f} s {rss:6d} MiB peak RSS", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
