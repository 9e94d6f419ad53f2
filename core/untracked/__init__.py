"""The files no package owns: removing them safely, with a backup first."""

from .remove import (
    RemovalResult,
    default_backup_path,
    remove_untracked,
)

__all__ = [
    "RemovalResult",
    "default_backup_path",
    "remove_untracked",
]
