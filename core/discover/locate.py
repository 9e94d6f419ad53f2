"""The environment a command means: -n NAME, -p PREFIX, or the active one, for every face."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import EnvironmentNotFound, UsageError
from ..load import check_prefix
from .envs import resolve_name


def locate(
    name: str | None = None, prefix: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The prefix of the environment named by -n or given by -p; else the active one
    ($CONDA_PREFIX), as conda-pack does. Checked to be a conda environment."""
    if name and prefix:
        raise UsageError("give either -n NAME or -p PREFIX, not both")
    if name:
        return resolve_name(name, env)
    prefix = prefix or (os.environ if env is None else env).get("CONDA_PREFIX")
    if not prefix:
        raise EnvironmentNotFound(
            "no environment given and none is active; use -p PREFIX, -n NAME or activate one"
        )
    return check_prefix(prefix)
