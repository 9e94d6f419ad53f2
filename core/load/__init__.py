"""The Environment model: package records, one walk of the prefix, pip attribution, untracked."""

from .environment import (
    DEMO_MARKER,
    Environment,
    MissingFile,
    check_prefix,
    env_file_error,
    find_prefix_of,
    is_demo,
    open_env_file,
    pyc_source,
    shown_prefix,
)
from .records import (
    PackageRecord,
    PathEntry,
    read_records,
)
from .walk import (
    DirectoryCallback,
    FileStat,
)
from .which import Ownership, find_owners

__all__ = [
    "DEMO_MARKER",
    "DirectoryCallback",
    "Environment",
    "FileStat",
    "MissingFile",
    "Ownership",
    "PackageRecord",
    "PathEntry",
    "check_prefix",
    "env_file_error",
    "find_owners",
    "find_prefix_of",
    "is_demo",
    "open_env_file",
    "pyc_source",
    "read_records",
    "shown_prefix",
]
