"""Where conda environments are: conda's config search path, .condarc, and the user's paths."""

from .envs import (
    WHERE_DISCOVERY_LOOKS,
    DiscoveredEnvironment,
    discover,
    resolve_name,
)
from .locate import (
    locate,
)

__all__ = [
    "WHERE_DISCOVERY_LOOKS",
    "DiscoveredEnvironment",
    "discover",
    "locate",
    "resolve_name",
]
