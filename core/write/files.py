"""Reading the environment's files: one os.read where it can, errors told as what to do."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator

from ..errors import CondaPackageError
from ..load import env_file_error

CHUNK_READ = 1 << 20


@contextlib.contextmanager
def env_errors(path: str) -> Iterator[None]:
    """OS errors on a file of the environment, told as what to do about them."""
    try:
        yield
    except OSError as exc:
        error = env_file_error(path, exc)
        if error is exc:
            raise
        raise error from exc


def open_file(path: str) -> int:
    """Without blocking: a file that became a pipe since the walk must not hang the pack."""
    with env_errors(path):
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)


def read_file(path: str, size: int) -> bytes:
    """A whole file by os.read: open() and its buffering cost more than the reading for
    the small files most of an environment is made of. Reads to the end, so a file that
    changed since the walk is packed as it is now."""
    fd = open_file(path)
    try:
        try:
            data = os.read(fd, size + 1)
        except BlockingIOError:  # a pipe with a writer
            data = b""
        if len(data) == size:  # what lstat said, and the file ends there: the usual case
            return data
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CondaPackageError(
                f"{path}: became a socket, pipe or device while packing; nothing was written,"
                " run again"
            )
        chunks = [data]
        while piece := os.read(fd, CHUNK_READ):
            chunks.append(piece)
    finally:
        os.close(fd)
    return b"".join(chunks)


def current_size(path: str) -> int:
    with env_errors(path):
        return os.lstat(path).st_size


def read_head(path: str, size: int) -> bytes:
    """The first `size` bytes of a file, or fewer if it is shorter."""
    fd = open_file(path)
    try:
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)
