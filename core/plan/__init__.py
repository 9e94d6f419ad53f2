"""The pack plan and the pack options, validated once for the CLI and the TUI."""

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
    "PackPlan",
    "PlanEntry",
    "check_subdir",
    "make_plan",
    "subdir_from_options",
]
