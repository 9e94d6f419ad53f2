"""Find conda environments on this machine without needing conda itself."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..errors import EnvironmentNotFound
from .condarc import configured_envs_dirs

# A config file discovery had to skip is a warning, never an error: the CLI shows it on
# stderr (logging's last resort), the TUI in its log.
log = logging.getLogger(__name__)

# Where discover() looks, in its order, for the places that tell a user where to look.
WHERE_DISCOVERY_LOOKS = (
    "~/.conda/environments.txt",
    "envs_dirs in .condarc files (/etc/conda, ~/.condarc, ~/.conda, ~/.config/conda, $CONDARC)",
    "$CONDA_ENVS_PATH",
    "$CONDA_PREFIX",
    "$CONDA_ROOT and its envs/",
    "$MAMBA_ROOT_PREFIX/envs",
    "~/.conda/envs",
    ".pixi/envs in the current directory",
)


@dataclass(frozen=True)
class DiscoveredEnvironment:
    name: str
    prefix: str
    source: str  # where we learnt about it, e.g. "~/.conda/environments.txt"


def _is_env(path: str) -> bool:
    return os.path.isdir(os.path.join(path, "conda-meta"))


def _children(envs_dir: str) -> Iterator[str]:
    try:
        with os.scandir(envs_dir) as it:
            names = sorted(e.name for e in it if e.is_dir())
    except OSError:
        return
    for name in names:
        yield os.path.join(envs_dir, name)


def _candidates(env: Mapping[str, str], cwd: str, home: str) -> Iterator[tuple[str, str]]:
    try:
        with open(os.path.join(home, ".conda", "environments.txt"), encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield line.strip(), "~/.conda/environments.txt"
    except OSError:
        pass
    configured = configured_envs_dirs(env, home, cwd)
    for problem in configured.problems:
        log.warning("%s", problem)
    for envs_dir in configured.dirs:
        for child in _children(envs_dir.path):
            yield child, envs_dir.source
    if env.get("CONDA_PREFIX"):
        yield env["CONDA_PREFIX"], "$CONDA_PREFIX"
    if env.get("CONDA_ROOT"):
        yield env["CONDA_ROOT"], "$CONDA_ROOT"
        for child in _children(os.path.join(env["CONDA_ROOT"], "envs")):
            yield child, "$CONDA_ROOT/envs"
    if env.get("MAMBA_ROOT_PREFIX"):
        for child in _children(os.path.join(env["MAMBA_ROOT_PREFIX"], "envs")):
            yield child, "$MAMBA_ROOT_PREFIX/envs"
    for child in _children(os.path.join(home, ".conda", "envs")):
        yield child, "~/.conda/envs"
    for child in _children(os.path.join(cwd, ".pixi", "envs")):
        yield child, ".pixi/envs"


def env_name(prefix: str) -> str:
    """conda's naming: the root installation is "base", others their folder name."""
    if os.path.isdir(os.path.join(prefix, "envs")) and os.path.isdir(os.path.join(prefix, "pkgs")):
        return "base"
    return os.path.basename(prefix.rstrip("/")) or prefix


def discover(
    env: Mapping[str, str] | None = None, cwd: str | None = None, home: str | None = None
) -> list[DiscoveredEnvironment]:
    """Every environment we can find, first source wins, duplicates and dead paths dropped."""
    env = os.environ if env is None else env
    cwd = os.getcwd() if cwd is None else cwd
    home = os.path.expanduser("~") if home is None else home
    seen: set[str] = set()
    found: list[DiscoveredEnvironment] = []
    for path, source in _candidates(env, cwd, home):
        real = os.path.realpath(os.path.expanduser(path))
        if real in seen or not _is_env(real):
            continue
        seen.add(real)
        found.append(DiscoveredEnvironment(env_name(real), real, source))
    return found


def resolve_name(name: str, env: Mapping[str, str] | None = None) -> str:
    """The prefix of the environment called `name` (as `conda activate NAME` would pick)."""
    matches = [d for d in discover(env) if d.name == name]
    if not matches:
        raise EnvironmentNotFound(
            f"no environment named {name!r} found; give its path with -p PREFIX"
        )
    return matches[0].prefix
