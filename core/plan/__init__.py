"""The pack plan and the pack options, validated once for the CLI and the TUI."""

from .filters import FilterKind, PathFilter, path_kept
from .label import ArchiveLabel, archive_label
from .options import (
    PackOptions,
    PackSettings,
    check_arcroot,
    check_compile_bytecode,
    check_output,
    check_relocate_prefix,
    default_output_name,
    env_python,
    resolve_output,
    validate,
)
from .parcel import Parcel, make_parcel
from .plan import (
    STATE_DIR,
    PackPlan,
    PlanEntry,
    keeps_bytecode,
    make_plan,
)
from .preview import plan_for, preview_plan
from .scripts import (
    SAVED_DIR,
    ScriptClash,
)
from .subdirs import (
    check_subdir,
    subdir_from_options,
)

__all__ = [
    "SAVED_DIR",
    "STATE_DIR",
    "ArchiveLabel",
    "FilterKind",
    "PackOptions",
    "PackPlan",
    "PackSettings",
    "Parcel",
    "PathFilter",
    "PlanEntry",
    "ScriptClash",
    "archive_label",
    "check_arcroot",
    "check_compile_bytecode",
    "check_output",
    "check_relocate_prefix",
    "check_subdir",
    "default_output_name",
    "env_python",
    "keeps_bytecode",
    "make_parcel",
    "make_plan",
    "path_kept",
    "plan_for",
    "preview_plan",
    "resolve_output",
    "subdir_from_options",
    "validate",
]
