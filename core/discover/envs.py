"""Find conda environments on this machine without needing conda itself."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..errors import EnvironmentNotFound

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


def condarc_envs_dirs(text: str) -> list[str]:
    """The `envs_dirs` list of a .condarc (block or flow YAML list; no YAML library needed)."""
    dirs: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped.startswith("envs_dirs:"):
            continue
        rest = stripped[len("envs_dirs:") :].strip()
        if rest.startswith("["):
            return [v.strip().strip("'\"") for v in rest.strip("[]").split(",") if v.strip()]
        for follow in lines[i + 1 :]:
            item = follow.split("#", 1)[0].strip()
            if not item:
                continue
            if not item.startswith("- "):
                break
            dirs.append(item[2:].strip().strip("'\""))
    return dirs


def _condarc_files(env: Mapping[str, str], home: str) -> list[str]:
    files = ["/etc/conda/.condarc", "/etc/conda/condarc", "/var/lib/conda/.condarc"]
    if env.get("CONDA_ROOT"):
        files.append(os.path.join(env["CONDA_ROOT"], ".condarc"))
    files += [
        os.path.join(home, ".config", "conda", ".condarc"),
        os.path.join(home, ".conda", ".condarc"),
        os.path.join(home, ".condarc"),
    ]
    if env.get("CONDARC"):
        files.append(env["CONDARC"])
    return files


def _candidates(env: Mapping[str, str], cwd: str, home: str) -> Iterator[tuple[str, str]]:
    try:
        with open(os.path.join(home, ".conda", "environments.txt"), encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield line.strip(), "~/.conda/environments.txt"
    except OSError:
        pass
    for rc in _condarc_files(env, home):
        try:
            with open(rc, encoding="utf-8") as fh:
                envs_dirs = condarc_envs_dirs(fh.read())
        except OSError:
            continue
        for d in envs_dirs:
            for child in _children(os.path.expandvars(os.path.expanduser(d))):
                yield child, rc
    for d in filter(None, env.get("CONDA_ENVS_PATH", "").split(os.pathsep)):
        for child in _children(os.path.expanduser(d)):
            yield child, "$CONDA_ENVS_PATH"
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
