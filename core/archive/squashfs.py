"""squashfs images for clusters: the packer's tar stream piped into tar2sqfs, so no copy of
the environment is ever staged on disk.

tar2sqfs (squashfs-tools-ng) rather than mksquashfs -tar (squashfs-tools 4.5+): on the real
environment it is as fast or faster at the same compressor, level and block size, holds
11 MiB instead of 300 MiB, and reads tar on stdin in every release (bench_squashfs.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Literal, cast, get_args

from ..errors import CondaPackageError, UsageError
from .entry import Buffer
from .tar import TarWriter

SquashfsCompressor = Literal["zstd", "gzip", "lz4", "xz"]
COMPRESSORS: tuple[SquashfsCompressor, ...] = get_args(SquashfsCompressor)
BUILDER = "tar2sqfs"
BUILDER_PACKAGE = "squashfs-tools-ng"  # the Debian (and Fedora) package that ships it
DEFAULT_BLOCK_SIZE = 128 << 10  # squashfs's own default: small reads stay cheap
_BLOCK_SIZES = range(12, 21)  # 4 KiB to 1 MiB, powers of two, as the format allows
# (lowest, highest, default); lz4 has no levels. zstd 3 and gzip/xz 6: each tool's own default.
_LEVELS: dict[str, tuple[int, int, int]] = {"zstd": (1, 22, 3), "gzip": (1, 9, 6), "xz": (0, 9, 6)}
_PIPE_SIZE = 1 << 20  # a larger pipe: fewer switches between the packer and the builder
_F_SETPIPE_SZ = 1031  # fcntl's name for it, absent from Python's fcntl before 3.10


@dataclass(frozen=True)
class SquashfsSettings:
    """How the image is compressed: checked by squashfs_settings(), read by the builder."""

    compressor: SquashfsCompressor = "zstd"
    level: int | None = _LEVELS["zstd"][2]
    block_size: int = DEFAULT_BLOCK_SIZE


def squashfs_settings(
    compressor: str | None, level: int | None, block_size: int | None
) -> SquashfsSettings:
    """The settings to build with; a bad value fails here, before anything is read."""
    chosen = compressor or "zstd"
    if chosen not in COMPRESSORS:
        raise UsageError(
            f"--squashfs-compressor {chosen!r}: unknown; choose one of {', '.join(COMPRESSORS)}"
        )
    if chosen not in _LEVELS:
        if level is not None:
            raise UsageError(f"squashfs compressor {chosen} takes no compression level")
    else:
        low, high, default = _LEVELS[chosen]
        level = default if level is None else level
        if not low <= level <= high:
            raise UsageError(
                f"compression level {level} is out of range for squashfs {chosen} ({low}-{high})"
            )
    size = DEFAULT_BLOCK_SIZE if block_size is None else block_size
    if size.bit_length() - 1 not in _BLOCK_SIZES or size & (size - 1):
        raise UsageError(
            f"--squashfs-block-size {size}: must be a power of two from 4K to 1M (4096-1048576)"
        )
    return SquashfsSettings(chosen, level, size)


def find_builder() -> str:
    """The builder's path; its absence is one line naming the package to install."""
    path = shutil.which(BUILDER)
    if path is None:
        raise CondaPackageError(
            f"{BUILDER} not found, which builds squashfs images; install it"
            f" (Debian/Ubuntu: apt-get install {BUILDER_PACKAGE}) or choose another --format"
        )
    return path


def builder_command(
    builder: str, image: str, settings: SquashfsSettings, threads: int
) -> list[str]:
    """tar2sqfs reading the tar on stdin; it stops at a record it cannot read (--no-skip)."""
    command = [builder, "--quiet", "--no-skip", "--no-xattr", "-c", settings.compressor]
    if settings.level is not None:
        command += ["-X", f"level={settings.level}"]
    return [*command, "-b", str(settings.block_size), "-j", str(threads), image]


class _Builder:
    """The builder process, fed through its stdin; its failure becomes one line."""

    def __init__(self, command: list[str], image: str, output: str) -> None:
        self.image = image
        self.output = output
        # A file, not a pipe: a pipe could fill and stall the build. Closed by close() or kill().
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=self._log, stderr=self._log
        )
        assert self._proc.stdin is not None
        self._stdin = self._proc.stdin
        self.stdin = cast(BinaryIO, self._stdin)  # a buffered pipe, as TarWriter takes
        with contextlib.suppress(OSError):  # only a speed-up; a kernel may refuse it
            import fcntl

            fcntl.fcntl(self._stdin.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)

    def write(self, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        fd = self._stdin.fileno()
        try:
            while view:
                view = view[os.write(fd, view) :]
        except BrokenPipeError:  # the builder stopped: say why, not "broken pipe"
            self._proc.wait()
            raise self._failure() from None
        return len(data)

    def close(self) -> None:
        """Wait for the image to be finished, and make it durable."""
        with contextlib.suppress(BrokenPipeError):  # the builder's failure is told below
            self._stdin.close()
        if self._proc.wait():
            raise self._failure()
        fd = os.open(self.image, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._log.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._proc.kill()
        self._proc.wait()
        with contextlib.suppress(OSError):
            self._stdin.close()
        self._log.close()

    def _failure(self) -> CondaPackageError:
        self._log.seek(0)
        lines = self._log.read().decode("utf-8", "replace").strip().splitlines()
        self._log.close()
        code = self._proc.returncode
        why = lines[-1] if lines else f"exit status {code}"
        if code < 0:  # a signal: SIGXFSZ for a file size limit, SIGKILL from the OOM killer
            why = f"stopped by {signal.Signals(-code).name}"
        return CondaPackageError(f"{self.output}: {BUILDER} failed: {why}; nothing was written")


class SquashfsWriter(TarWriter):
    """A squashfs image built by tar2sqfs from the tar stream the packer writes."""

    def __init__(self, path: str, temp: str, settings: SquashfsSettings, threads: int) -> None:
        command = builder_command(find_builder(), temp, settings, threads)
        self._builder = _Builder(command, temp, path)
        super().__init__(path, temp, self._builder.stdin, self._builder)

    def _finish(self) -> None:
        self._end()  # the tar trailer; closing the stream waits for the finished image

    def _discard(self) -> None:
        self._builder.kill()
