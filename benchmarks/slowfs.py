"""A FUSE passthrough that makes every metadata, directory and open call take DELAY ms.

Usage: python benchmarks/slowfs.py SOURCE MOUNTPOINT [--delay-ms 1.0] [--threads 256]
       python benchmarks/slowfs.py --measure SOURCE MOUNTPOINT   (ms per lstat on the mount)

What NFS, Lustre and GPFS cost on a login node is a network round trip per lookup,
getattr, readdir, open and readlink, served concurrently by the server; reads of file
contents stream. This mount models that: those calls sleep DELAY (releasing the GIL, so
up to --threads calls wait at once, as requests in flight to a server do) and reads and
the rest pass straight to SOURCE. The kernel keeps what a lookup answered for --cache-s
(3 s: NFS's shortest attribute cache, acregmin), so an lstat after a lookup costs no call.
Read-only. Needs libfuse 3 and PyPI mfusepy; `mount()` serves it from a child process.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_STAT_KEYS = (
    "st_mode",
    "st_ino",
    "st_nlink",
    "st_uid",
    "st_gid",
    "st_size",
    "st_atime_ns",
    "st_mtime_ns",
    "st_ctime_ns",
)


def _operations(source: str, delay: float) -> Any:
    import mfusepy

    class SlowPassthrough(mfusepy.Operations):
        """Read-only passthrough; the calls a network filesystem answers remotely sleep."""

        use_ns = True

        def _path(self, path: str) -> str:
            return source + path

        def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
            time.sleep(delay)
            st = os.lstat(self._path(path))
            attrs = {key: getattr(st, key) for key in _STAT_KEYS}
            for key in ("st_atime", "st_mtime", "st_ctime"):
                attrs[key] = attrs.pop(key + "_ns")
            return attrs

        def readlink(self, path: str) -> str:
            time.sleep(delay)
            return os.readlink(self._path(path))

        def opendir(self, path: str) -> int:
            time.sleep(delay)
            if not os.access(self._path(path), os.R_OK | os.X_OK):
                raise mfusepy.FuseOSError(errno.EACCES)
            return 0

        def readdir(self, path: str, fh: int) -> list[tuple[str, dict[str, int], int]]:
            """Names with their inode numbers: with use_ino, an entry numbered 0 is dropped."""
            time.sleep(delay)
            here = os.lstat(self._path(path)).st_ino
            found = [(".", {"st_ino": here}, 0), ("..", {"st_ino": here}, 0)]
            with os.scandir(self._path(path)) as entries:
                found += [(e.name, {"st_ino": e.inode()}, 0) for e in entries]
            return found

        def open(self, path: str, flags: int) -> int:
            """No handle is kept: reads open the file themselves, so closing it costs no
            call into Python (this daemon's CPU is on the machine being measured)."""
            time.sleep(delay)
            if flags & (os.O_WRONLY | os.O_RDWR):
                raise mfusepy.FuseOSError(errno.EROFS)
            os.close(os.open(self._path(path), os.O_RDONLY))
            return 0

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            fd = os.open(self._path(path), os.O_RDONLY)
            try:
                return os.pread(fd, size, offset)
            finally:
                os.close(fd)

        def statfs(self, path: str) -> dict[str, int]:
            st = os.statvfs(source)
            return {key: getattr(st, key) for key in ("f_bsize", "f_blocks", "f_bfree")}

    return SlowPassthrough()


def serve(source: str, mountpoint: str, delay_ms: float, threads: int, cache_s: float) -> None:
    """Mount and serve in the foreground until unmounted."""
    import mfusepy

    mfusepy.FUSE(
        _operations(os.path.abspath(source), delay_ms / 1000),
        mountpoint,
        foreground=True,
        ro=True,
        default_permissions=True,
        allow_other=os.geteuid() == 0,
        fsname="slowfs",
        use_ino=True,  # the source's inode numbers: hard links stay recognisable
        kernel_cache=True,  # contents stay in the page cache, as an NFS client keeps them
        entry_timeout=cache_s,
        attr_timeout=cache_s,
        negative_timeout=0,
        max_threads=threads,
        max_idle_threads=threads,
    )


def available() -> str | None:
    """Why a slow mount cannot be made here, or None when it can."""
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"mfusepy or libfuse 3 is missing ({exc}); pip install mfusepy, apt install fuse3"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    return None


@contextlib.contextmanager
def mount(source: str | Path, mountpoint: str | Path, delay_ms: float) -> Iterator[Path]:
    """Serve SOURCE at MOUNTPOINT with DELAY ms per call, in a child process, while inside."""
    mnt = Path(mountpoint)
    mnt.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, str(source), str(mnt), "--delay-ms", str(delay_ms)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not os.path.ismount(mnt):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slowfs did not mount: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.02)
        yield mnt
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(source: str, mountpoint: str, calls: int = 1000) -> float:
    """Milliseconds per lstat on the mount of a file not looked at before, one at a time.

    The names come from SOURCE, so the mount's caches are cold for each.
    """
    names = [
        os.path.relpath(os.path.join(root, name), source)
        for root, _, files in os.walk(source)
        for name in files
    ][:calls]
    start = time.perf_counter()
    for name in names:
        os.lstat(os.path.join(mountpoint, name))
    return (time.perf_counter() - start) * 1000 / len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?")
    parser.add_argument("mountpoint")
    parser.add_argument("--delay-ms", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=256, help="calls served at once")
    parser.add_argument(
        "--cache-s", type=float, default=3.0, help="kernel entry/attribute cache lifetime"
    )
    parser.add_argument("--measure", action="store_true", help="time 1000 lstat calls")
    args = parser.parse_args()
    if args.measure:
        print(f"{measure(args.source, args.mountpoint):.3f} ms per lstat")
    else:
        serve(args.source, args.mountpoint, args.delay_ms, args.threads, args.cache_s)


if __name__ == "__main__":
    main()
