"""PlanEntry: one archive entry of the plan and how its bytes are made."""

from __future__ import annotations

from typing import Literal, NamedTuple

EntryKind = Literal["file", "dir", "symlink", "hardlink"]
Action = Literal["copy", "restore", "search", "record"]


class PlanEntry(NamedTuple):
    """One archive entry (a tuple: there are as many as files, and tuples are made fast).

    `action` says how its bytes are made:

    copy: as on disk; restore: back to the package's placeholder bytes, verified by sha256;
    search: look for the prefix (untracked or modified files); record: a conda-meta record
    with machine-specific paths blanked.
    """

    name: str
    kind: EntryKind
    mode: int
    mtime: int
    size: int = 0
    target: str = ""
    action: Action = "copy"
    placeholder: str = ""
    file_mode: str = ""  # a record's "text" or "binary", for restore
    sha256: str = ""
    owner: str = ""
