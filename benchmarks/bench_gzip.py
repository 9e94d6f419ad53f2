"""Compare gzip compressors on a tar of a real directory, to justify the tar.gz default.

Usage: python benchmarks/bench_gzip.py DIR [--threads N] [--repeat R] [--out-dir D]

The tar is laid out by conda-package's own writer and held in memory, so only
compression is timed. Each candidate is compared with stdlib zlib level 4 (what
conda-pack writes): the default must stay within +5% of that size while being as fast
as possible. The last lines time conda-package's own tar.gz writer (the same zlib-ng
levels, compressed block by block on all threads) on the whole pack, reading the files.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import stat
import tempfile
import time
from collections.abc import Callable

from conda_package.core.archive import ArchiveEntry, default_level, open_writer

CHUNK = 1 << 20
Opener = Callable[[io.RawIOBase, int], io.BufferedIOBase]


class _Counter(io.RawIOBase):
    """A sink that only counts, so disk speed does not blur the comparison."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        n = len(data)
        self.size += n
        return n


def scan(root: str) -> list[tuple[ArchiveEntry, str]]:
    """Entries for every path under `root`, sorted, hard links found by inode."""
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        paths += [os.path.join(dirpath, name) for name in dirnames + filenames]
    entries = []
    first: dict[tuple[int, int], str] = {}
    for path in sorted(paths):
        name = os.path.relpath(path, root).replace(os.sep, "/")
        st = os.lstat(path)
        mtime = int(st.st_mtime)
        if stat.S_ISDIR(st.st_mode):
            entry = ArchiveEntry(name, "dir", st.st_mode, mtime)
        elif stat.S_ISLNK(st.st_mode):
            entry = ArchiveEntry(name, "symlink", st.st_mode, mtime, target=os.readlink(path))
        elif (inode := (st.st_dev, st.st_ino)) in first:
            entry = ArchiveEntry(name, "hardlink", st.st_mode, mtime, target=first[inode])
        else:
            first[inode] = name
            entry = ArchiveEntry(name, "file", st.st_mode, mtime, st.st_size)
        entries.append((entry, path))
    return entries


def pack(
    entries: list[tuple[ArchiveEntry, str]],
    out: str,
    fmt: str,
    threads: int,
    level: int | None = None,
) -> None:
    with open_writer(out, fmt, level=level, threads=threads) as writer:
        for entry, path in entries:
            if entry.kind == "file":
                with open(path, "rb") as content:
                    writer.add(entry, content)
            else:
                writer.add(entry)
        writer.commit()


def _stdlib(level: int) -> Opener:
    return lambda sink, _threads: gzip.GzipFile(
        filename="", mode="wb", compresslevel=level, fileobj=sink, mtime=0
    )


def _zlib_ng(level: int) -> Opener:
    from zlib_ng import gzip_ng_threaded

    return lambda sink, threads: gzip_ng_threaded.open(
        sink, "wb", compresslevel=level, threads=threads
    )


def _isal(level: int) -> Opener:
    from isal import igzip_threaded

    return lambda sink, threads: igzip_threaded.open(
        sink, "wb", compresslevel=level, threads=threads
    )


def candidates() -> list[tuple[str, Opener]]:
    found = [("stdlib zlib l4 (1 thread)", _stdlib(4))]
    try:
        found += [(f"zlib-ng threaded l{lv}", _zlib_ng(lv)) for lv in range(1, 7)]
    except ImportError:
        print("zlib-ng not installed, skipped")
    try:
        found += [(f"isal threaded l{lv}", _isal(lv)) for lv in range(4)]
    except ImportError:
        print("isal not installed, skipped")
    return found


def measure(data: bytes, make: Opener, threads: int) -> tuple[float, int]:
    sink = _Counter()
    view = memoryview(data)
    start = time.perf_counter()
    with make(sink, threads) as out:
        for pos in range(0, len(view), CHUNK):
            out.write(view[pos : pos + CHUNK])
    return time.perf_counter() - start, sink.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs")
    parser.add_argument("--out-dir", help="where the end-to-end archive goes (default: temp)")
    args = parser.parse_args()

    entries = scan(args.directory)
    with tempfile.TemporaryDirectory(dir=args.out_dir) as tmp:
        pack(entries, os.path.join(tmp, "env.tar"), "tar", args.threads)
        with open(os.path.join(tmp, "env.tar"), "rb") as tar:
            data = tar.read()
    print(
        f"{len(entries)} entries, tar {len(data) / 1e6:.1f} MB, "
        f"threads {args.threads}, best of {args.repeat}"
    )
    reference = None
    for label, make in candidates():
        runs = [measure(data, make, args.threads) for _ in range(args.repeat)]
        seconds = min(t for t, _ in runs)
        size = runs[0][1]
        reference = reference or size
        ratio = size / reference - 1
        verdict = "ok" if ratio <= 0.05 else "too big"
        print(
            f"{label:28s} {seconds:6.2f} s {size / 1e6:7.1f} MB "
            f"{ratio * 100:+6.1f}% vs stdlib l4  {verdict}"
        )

    print("conda-package's tar.gz writer, whole pack: files read from disk, fsync included")
    assert reference is not None
    for level in range(1, 7):
        times = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(dir=args.out_dir) as tmp:
                out = os.path.join(tmp, "env.tar.gz")
                start = time.perf_counter()
                pack(entries, out, "tar.gz", args.threads, level)
                times.append(time.perf_counter() - start)
                size = os.path.getsize(out)
        ratio = size / reference - 1
        label = f"level {level}" + (" (default)" if level == default_level("tar.gz") else "")
        print(
            f"{label:28s} {min(times):6.2f} s {size / 1e6:7.1f} MB "
            f"{ratio * 100:+6.1f}% vs stdlib l4  {'ok' if ratio <= 0.05 else 'too big'}"
        )


if __name__ == "__main__":
    main()
