"""Name lookups in a large directory of a mounted image: ours (a directory index wherever a
listing spans metadata blocks, as mksquashfs writes it) against mksquashfs's and
tar2sqfs's (an index only past 64 KiB of listing) of the same tree.

Usage: python benchmarks/bench_squashfs_lookup.py [--entries N ...] [--lookups K]

Each image holds one folder of N files named like modules (`pkg_00042_module_name.py`);
each is mounted with squashfuse, and with the kernel where a loop mount works (root), and
K of its names, in a fixed random order, are stat()ed once: what an import does for each
module it looks for. One run per image and reader; the mount is fresh, so no lookup is
cached before the timing.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from conda_package.core.archive import ArchiveEntry, open_writer

NAME = "pkg_{:05d}_module_name.py"


def build(work: Path, entries: int) -> dict[str, Path]:
    images = {"conda-package": work / "ours.sqfs"}
    with open_writer(images["conda-package"], "squashfs") as writer:
        for i in range(entries):
            writer.add(ArchiveEntry(f"site/{NAME.format(i)}", "file", 0o644, 0, 4), b"x=1\n")
        writer.commit()
    tree = work / "tree"
    (tree / "site").mkdir(parents=True)
    for i in range(entries):
        (tree / "site" / NAME.format(i)).write_bytes(b"x=1\n")
    quiet = {"stdout": subprocess.DEVNULL, "check": True}
    if shutil.which("mksquashfs"):
        images["mksquashfs"] = work / "mksquashfs.sqfs"
        subprocess.run(["mksquashfs", tree, images["mksquashfs"], "-all-root"], **quiet)
    if shutil.which("tar2sqfs"):
        images["tar2sqfs"] = work / "tar2sqfs.sqfs"
        tar = subprocess.run(["tar", "-C", tree, "-cf", "-", "."], capture_output=True).stdout
        subprocess.run(["tar2sqfs", "-q", images["tar2sqfs"]], input=tar, check=True)
    return images


def lookups(point: Path, entries: int, count: int) -> float:
    names = [point / "site" / NAME.format(i) for i in range(entries)]
    random.Random(1).shuffle(names)
    start = time.perf_counter()
    for name in names[:count]:
        os.stat(name)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[1500, 20000])
    parser.add_argument("--lookups", type=int, default=5000)
    args = parser.parse_args()
    readers = {"squashfuse": (["squashfuse"], ["fusermount", "-u"])}
    if os.geteuid() == 0:
        readers["kernel"] = (["mount", "-t", "squashfs", "-o", "loop,ro"], ["umount"])
    for entries in args.entries:
        with tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp:
            work = Path(tmp)
            images = build(work, entries)
            count = min(args.lookups, entries)
            print(f"{entries:,} entries in one folder, {count:,} lookups:")
            for reader, (mount, unmount) in readers.items():
                for builder, image in images.items():
                    point = work / f"mnt-{reader}-{builder}"
                    point.mkdir()
                    if subprocess.run([*mount, image, point], capture_output=True).returncode:
                        print(f"  {reader:10} cannot mount here")
                        break
                    try:
                        took = lookups(point, entries, count)
                    finally:
                        subprocess.run([*unmount, point], check=True)
                    print(f"  {reader:10} {builder:14} {took:7.3f} s", flush=True)


if __name__ == "__main__":
    main()
