"""zip without --zip-symlinks: a symlink stored as what it points to, as conda-pack does
(the zip standard has no links, and some unzip tools make a text file of one)."""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence

from ..load import Environment
from .entry import PlanEntry


class _Dereferencer:
    """Each symlink as copies of what it points to inside the environment: a file becomes
    a "hardlink" entry (zip stores a copy of the linked member's data, relocated like it),
    a directory becomes its entries again under the link's name."""

    def __init__(self, env: Environment, entries: Sequence[PlanEntry]) -> None:
        self.env = env
        self.by_name = {e.name: e for e in entries}
        self.names = sorted(self.by_name)

    def _resolved(self, name: str) -> PlanEntry | None:
        """The packed entry a path leads to once every symlink on the way is followed."""
        real = os.path.realpath(os.path.join(self.env.prefix, name))
        rel = os.path.relpath(real, self.env.real_prefix)
        if rel == ".." or rel.startswith("../") or os.path.islink(real):
            return None  # outside the environment, or a loop
        return self.by_name.get(rel)

    def _below(self, directory: str) -> list[PlanEntry]:
        """Every packed entry under `directory` (sorted names: they are one run)."""
        start = directory + "/"
        first = bisect.bisect_left(self.names, start)
        last = bisect.bisect_left(self.names, directory + "0")  # "0" sorts right after "/"
        return [self.by_name[n] for n in self.names[first:last]]

    def copies(self, link: PlanEntry, seen: tuple[str, ...] = ()) -> list[PlanEntry] | None:
        """The entries that stand for `link`; None to keep it a link."""
        target = self._resolved(link.name)
        if target is None or target.kind == "symlink":
            return None
        if target.kind != "dir":
            return [
                PlanEntry(
                    link.name, "hardlink", target.mode, target.mtime,
                    target=target.name, owner=link.owner,
                )
            ]  # fmt: skip
        if target.name in seen:  # a link to a directory above itself
            return None
        out = [PlanEntry(link.name, "dir", target.mode, target.mtime)]
        for entry in self._below(target.name):
            name = link.name + entry.name[len(target.name) :]
            if entry.kind == "dir":
                out.append(PlanEntry(name, "dir", entry.mode, entry.mtime))
            elif entry.kind == "symlink":
                inner = self.copies(entry, (*seen, target.name))
                if inner is None:
                    out.append(entry._replace(name=name))
                else:
                    out += [e._replace(name=name + e.name[len(entry.name) :]) for e in inner]
            else:
                target_name = entry.target if entry.kind == "hardlink" else entry.name
                out.append(PlanEntry(name, "hardlink", entry.mode, entry.mtime, target=target_name))
        return out


def dereference_symlinks(
    env: Environment, entries: Sequence[PlanEntry]
) -> tuple[list[PlanEntry], list[str]]:
    """The entries with every symlink replaced by copies of what it points to, the copies
    last (a zip copy must follow the member it copies); and notes on the links kept: those
    leading out of the environment, nowhere, or to something not packed."""
    deref = _Dereferencer(env, entries)
    kept: list[PlanEntry] = []
    copies: list[PlanEntry] = []
    notes = []
    for entry in entries:
        made = deref.copies(entry) if entry.kind == "symlink" else None
        if made is None:
            kept.append(entry)
            if entry.kind == "symlink":
                notes.append(
                    f"{entry.name} -> {entry.target}: stored as a symlink in the zip (it points"
                    " outside the environment, nowhere, or to something not packed)"
                )
        else:
            copies += made
    return kept + copies, notes
