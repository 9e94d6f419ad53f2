"""ArchiveWriter: the life of one output (add, commit, abort) that every format shares."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from types import TracebackType
from typing import BinaryIO, Literal

from .entry import ArchiveEntry, Content
from .output import install_output, remove_output

WriterState = Literal["open", "broken", "committed", "aborted"]


class ArchiveWriter:
    """One output being written; nothing appears at `path` before commit().

    Entries are written in the order given. Only "file" entries take content; for a
    "hardlink", zip (which has no links) copies the stored data of the member it links
    to, so the content is read once whatever the format.
    """

    root = ""  # the folder every entry goes under (--arcroot); set before the first add

    def __init__(self, path: str, temp: str) -> None:
        self.path = path
        self._temp = temp
        self._names: set[str] = set()
        self._files: set[str] = set()  # files and hard links: what a hard link may name
        self._state: WriterState = "open"

    def add(self, entry: ArchiveEntry, content: Content = None) -> None:
        """Append one member; a file's content is streamed, never held whole.

        content: for a "file", its entry.size bytes, or a binary file to read them from.
        """
        if self._state != "open":
            raise ValueError(f"cannot add to a {self._state} archive writer")
        if self.root:
            target = self.rooted(entry.target) if entry.kind == "hardlink" else entry.target
            entry = dataclasses.replace(entry, name=self.rooted(entry.name), target=target)
        if entry.name in self._names:
            raise ValueError(f"duplicate archive entry {entry.name!r}")
        if entry.kind == "hardlink" and entry.target not in self._files:
            raise ValueError(
                f"hard link {entry.name!r} points to {entry.target!r}, not an earlier file"
            )
        try:
            self._add(entry, content)
        except BaseException:
            self._state = "broken"  # a member may be half written: never commit this
            raise
        self._names.add(entry.name)
        if entry.kind in ("file", "hardlink"):
            self._files.add(entry.name)

    def rooted(self, name: str) -> str:
        """An entry's name in the output: under the root folder, if there is one."""
        return f"{self.root}/{name}" if self.root else name

    def commit(self) -> None:
        """Finish the output durably, then give it its real name."""
        if self._state != "open":
            raise ValueError(f"cannot commit a {self._state} archive writer")
        try:
            self._finish()
            install_output(self._temp, self.path)
        except BaseException:
            self.abort()
            raise
        self._state = "committed"

    def abort(self) -> None:
        """Drop everything written so far; safe to call more than once."""
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        try:
            self._discard()
        finally:  # the temporary output goes even when closing it fails (a full disk)
            remove_output(self._temp)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state != "committed":
            self.abort()

    def _add(self, entry: ArchiveEntry, content: Content) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


class FileWriter(ArchiveWriter):
    """An output that is one file: fsynced before it is renamed into place."""

    def __init__(self, path: str, temp: str, raw: BinaryIO) -> None:
        super().__init__(path, temp)
        self._raw = raw

    def _finish(self) -> None:
        self._end()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()

    def _discard(self) -> None:
        with contextlib.suppress(Exception):  # the stream may be what failed; it goes anyway
            self._stop()
        with contextlib.suppress(OSError):  # flushing a full disk fails; the file is closed
            self._raw.close()

    def _end(self) -> None:
        """Write what closes the format (trailer, central directory) and stop its threads."""
        raise NotImplementedError

    def _stop(self) -> None:
        """Stop compressing without finishing: the output is being dropped."""
        raise NotImplementedError
