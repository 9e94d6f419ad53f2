"""The Environment model: package records, one walk of the prefix, pip attribution, untracked."""

from .diagnose import (
    DiagnosisCause,
    PackageDiagnosis,
    diagnose,
)
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
from .spellings import (
    prefix_spellings,
)
from .walk import (
    DirectoryCallback,
    FileStat,
)
from .which import Ownership, find_owners

__all__ = [
    "DEMO_MARKER",
    "DiagnosisCause",
    "DirectoryCallback",
    "Environment",
    "FileStat",
    "MissingFile",
    "Ownership",
    "PackageDiagnosis",
    "PackageRecord",
    "PathEntry",
    "check_prefix",
    "diagnose",
    "env_file_error",
    "find_owners",
    "find_prefix_of",
    "is_demo",
    "open_env_file",
    "prefix_spellings",
    "pyc_source",
    "read_records",
    "shown_prefix",
]
