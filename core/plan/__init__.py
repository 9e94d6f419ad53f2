"""The pack plan and the pack options, validated once for the CLI and the TUI."""

from .options import (
    PackOptions,
    PackSettings,
    check_output,
    check_relocate_prefix,
    resolve_output,
    validate,
)
from .plan import (
    STATE_DIR,
    PackPlan,
    PlanEntry,
    make_plan,
)
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
    "PackOptions",
    "PackPlan",
    "PackSettings",
    "PlanEntry",
    "ScriptClash",
    "check_output",
    "check_relocate_prefix",
    "check_subdir",
    "make_plan",
    "resolve_output",
    "subdir_from_options",
    "validate",
]
