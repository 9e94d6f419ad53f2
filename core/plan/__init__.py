"""The pack plan and the pack options, validated once for the CLI and the TUI."""

from .filters import FilterKind, PathFilter
from .options import (
    PackOptions,
    PackSettings,
    check_arcroot,
    check_output,
    check_relocate_prefix,
    resolve_output,
    validate,
)
from .parcel import Parcel, make_parcel
from .plan import (
    STATE_DIR,
    PackPlan,
    PlanEntry,
    make_plan,
)
from .subdirs import (
    check_subdir,
    subdir_from_options,
)

__all__ = [
    "STATE_DIR",
    "FilterKind",
    "PackOptions",
    "PackPlan",
    "PackSettings",
    "Parcel",
    "PathFilter",
    "PlanEntry",
    "check_arcroot",
    "check_output",
    "check_relocate_prefix",
    "check_subdir",
    "make_parcel",
    "make_plan",
    "resolve_output",
    "subdir_from_options",
    "validate",
]
