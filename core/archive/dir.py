"""A plain directory tree as the output, for users who want the relocated environment itself."""

from __future__ import annotations

import os

from .base import ArchiveWriter
from .entry import ArchiveEntry, Content, content_pieces


class DirWriter(ArchiveWriter):
    """Members created under the temporary directory; directory modes and times come last,
    so read-only directories still take their members."""

    def __init__(self, path: str, temp: str) -> None:
        super().__init__(path, temp)
        self._dirnames: set[str] = set()
        self._dirs: list[tuple[str, int, int]] = []  # modes and times are set at the end

    def _parent(self, name: str) -> None:
        """Create missing parents, refusing to write through a symlink or a file."""
        parent = name.rpartition("/")[0]
        missing = []
        while parent and parent not in self._dirnames:
            if parent in self._names:
                raise ValueError(f"{name!r} lies inside {parent!r}, which is not a directory")
            missing.append(parent)
            parent = parent.rpartition("/")[0]
        for parent in reversed(missing):
            os.mkdir(os.path.join(self._temp, parent))
            self._dirnames.add(parent)

    def _add(self, entry: ArchiveEntry, content: Content) -> None:
        self._parent(entry.name)
        dest = os.path.join(self._temp, entry.name)
        mtime = entry.mtime
        if entry.kind == "dir":
            if entry.name not in self._dirnames:
                os.mkdir(dest, 0o700)  # stays writable until every member is in
                self._dirnames.add(entry.name)
            self._dirs.append((dest, entry.mode, mtime))
        elif entry.kind == "symlink":
            os.symlink(entry.target, dest)
            if os.utime in os.supports_follow_symlinks:
                os.utime(dest, (mtime, mtime), follow_symlinks=False)
        elif entry.kind == "hardlink":
            os.link(os.path.join(self._temp, entry.target), dest)
        else:
            with open(dest, "xb") as out:
                for piece in content_pieces(entry.name, content, entry.size):
                    out.write(piece)
            os.chmod(dest, entry.mode)
            os.utime(dest, (mtime, mtime))

    def _finish(self) -> None:
        for dest, mode, mtime in self._dirs:
            os.chmod(dest, mode)
            os.utime(dest, (mtime, mtime))

    def _discard(self) -> None:
        """Nothing is held open between entries."""
