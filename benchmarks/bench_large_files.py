"""Peak memory with one very large file, in every format: an untracked 1 GiB file that
holds the prefix (searched; packed as is, or relocated at pack time), the same size of plain
data under --fix-rpath (every file is then looked at), and a 1 GiB ELF library whose RUNPATH
--fix-rpath rewrites. The issue's bound: under 200 MB whatever the size.

Usage: python benchmarks/bench_large_files.py [--size-mib N] [--formats tar.gz,zip,...]

The environment is the demo environment (`conda-package --demo-env`) plus the large files,
written once into a temporary folder (2 x N MiB of disk, plus the largest archive). The
data is text lines, so the compressors run fast and the reading is what is measured. Run it
with the Python of a regular install (`pip install .`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pack import BIN, run

FORMATS = ("tar.gz", "tar.zst", "tar.bz2", "tar.xz", "tar", "zip", "dir", "squashfs")
LINE = b"%08d the quick brown fox jumps over the lazy dog, relocatably\n"


def write_large(path: Path, size: int, prefix: bytes | None) -> None:
    """`size` bytes of numbered lines; `prefix` once, across a 1 MiB boundary, mid-file."""
    block = b"".join(LINE % i for i in range(1 << 14))  # ~1 MiB
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            piece = block[: size - written]
            if prefix is not None and written <= size // 2 < written + len(piece):
                cut = size // 2 - written
                piece = piece[:cut] + prefix + piece[cut + len(prefix) :]
            fh.write(piece[: size - written])
            written += len(piece[: size - written])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-large-"))
    ours = str(BIN / "conda-package")
    try:
        prefix = work / "env"
        wall, _ = run(
            [ours, "--demo-env", str(prefix), "--dry-run", "-q", "--ignore-missing-files"]
        )
        size = args.size_mib << 20
        write_large(prefix / "share" / "model-with-prefix.txt", size, os.fsencode(str(prefix)))
        out = work / "out"
        out.mkdir()
        print(f"demo environment + {args.size_mib:,} MiB untracked files; cores: {os.cpu_count()}")
        cases = {
            "untracked, holds the prefix": [],
            "untracked, holds the prefix, --relocate-prefix": ["--relocate-prefix", "/opt/r"],
            "plain data, --fix-rpath": ["--fix-rpath"],
            "ELF library, --fix-rpath": ["--fix-rpath"],
        }
        for case, extra in cases.items():
            if case.startswith("plain"):  # the same bytes without the prefix, as plain data
                (prefix / "share" / "model-with-prefix.txt").unlink()
                write_large(prefix / "share" / "plain-data.bin", size, None)
            if case.startswith("ELF"):  # the demo's library (RUNPATH into the prefix), padded
                (prefix / "share" / "plain-data.bin").unlink()
                elf = prefix / "lib" / "liblarge.so"
                shutil.copy2(prefix / "lib" / "libdemo.so.1", elf)
                with open(elf, "r+b") as fh:
                    fh.truncate(size)
            print(f"\n{case}:")
            for fmt in args.formats.split(","):
                target = out / f"o.{fmt}"
                cmd = [ours, "-p", str(prefix), "-o", str(target), "--format", fmt, "-q"]
                wall, rss = run([*cmd, "--ignore-missing-files", *extra])
                print(f"  {fmt:8} {wall:7.2f} s {rss:6d} MiB peak RSS", flush=True)
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
