"""--exclude / --include: conda-pack's ordered fnmatch filters over the plan's entries."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, TypeVar

FilterKind = Literal["exclude", "include"]


@dataclass(frozen=True)
class PathFilter:
    """One --exclude or --include: a shell pattern over paths relative to the prefix.

    Applied in the order given, as conda-pack does: an exclude drops the matching entries
    still packed, an include brings back the matching entries dropped so far.
    """

    kind: FilterKind
    pattern: str


class _Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...


_E = TypeVar("_E", bound=_Named)


class _Compiled(NamedTuple):
    keep: bool
    match: re.Pattern[str]


def _compile(filters: Sequence[PathFilter]) -> list[_Compiled]:
    """fnmatch's regex for each pattern; a leading `*/` also matches at the top level
    (conda-pack issue #162: `*/share/doc/*` then drops share/doc/... too)."""
    compiled = []
    for f in filters:
        regex = fnmatch.translate(f.pattern)
        if f.pattern.startswith("*/"):
            regex = f"(?:{regex})|(?:{fnmatch.translate(f.pattern[2:])})"
        compiled.append(_Compiled(f.kind == "include", re.compile(regex)))
    return compiled


class _Matcher:
    """Which filters match a path: its own name, or the name of a directory above it (a
    pattern that names a directory covers what the directory holds)."""

    def __init__(self, filters: Sequence[PathFilter]) -> None:
        self.compiled = _compile(filters)
        self._dirs: dict[str, tuple[bool, ...]] = {"": (False,) * len(self.compiled)}

    def _own(self, name: str) -> tuple[bool, ...]:
        return tuple(c.match.match(name) is not None for c in self.compiled)

    def _above(self, parent: str) -> tuple[bool, ...]:
        """Filters matching `parent` or any directory above it; memoised per directory."""
        hit = self._dirs.get(parent)
        if hit is None:
            up = self._above(parent.rpartition("/")[0])
            hit = tuple(a or b for a, b in zip(up, self._own(parent), strict=True))
            self._dirs[parent] = hit
        return hit

    def kept(self, name: str) -> bool:
        """The verdict of the last filter that matches, or kept when none does."""
        verdict = True
        above = self._above(name.rpartition("/")[0])
        for c, own, up in zip(self.compiled, self._own(name), above, strict=True):
            if own or up:
                verdict = c.keep
        return verdict


def path_kept(filters: Sequence[PathFilter]) -> Callable[[str], bool]:
    """Whether the filters keep a file, for what --check and --dry-run report: the files
    the pack leaves out have no say in whether the archive works."""
    return _Matcher(filters).kept if filters else lambda name: True


def apply_filters(
    entries: Sequence[_E], filters: Sequence[PathFilter]
) -> tuple[list[_E], list[str]]:
    """The entries the filters keep, and the names of the files they drop (not directories).

    A directory goes when the filters drop it and nothing below it stays, or when it held
    entries and the filters dropped them all (conda-pack's archives hold no directory whose
    files were all excluded); an empty directory the filters leave alone stays.
    """
    if not filters:
        return list(entries), []
    matcher = _Matcher(filters)
    kept_below: set[str] = set()  # directories with a kept entry somewhere below
    has_below: set[str] = set()  # directories with any entry below
    verdicts = []
    for entry in entries:
        keep = matcher.kept(entry.name)
        verdicts.append(keep)
        parent = entry.name.rpartition("/")[0]
        # Sets hold every directory above what they hold: stop where the rest is known.
        while parent and parent not in (kept_below if keep else has_below):
            has_below.add(parent)
            if keep:
                kept_below.add(parent)
            parent = parent.rpartition("/")[0]
    kept: list[_E] = []
    dropped: list[str] = []
    for entry, keep in zip(entries, verdicts, strict=True):
        if entry.kind == "dir":
            if entry.name in kept_below or (keep and entry.name not in has_below):
                kept.append(entry)
        elif keep:
            kept.append(entry)
        else:
            dropped.append(entry.name)
    return kept, dropped
