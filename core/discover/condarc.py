"""The envs_dirs conda is configured with: its .condarc search path, read as YAML, and the
CONDA_ENVS_DIRS / CONDA_ENVS_PATH variables, merged in conda's order of precedence."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass

# conda's own search path on Linux and macOS (conda/base/constants.py), lowest precedence
# first. An entry is a file, or a condarc.d/ folder whose *.yml and *.yaml files are read in
# name order.
SEARCH_PATH = (
    "/etc/conda/.condarc",
    "/etc/conda/condarc",
    "/etc/conda/condarc.d/",
    "/var/lib/conda/.condarc",
    "/var/lib/conda/condarc",
    "/var/lib/conda/condarc.d/",
    "$CONDA_ROOT/.condarc",
    "$CONDA_ROOT/condarc",
    "$CONDA_ROOT/condarc.d/",
    "$XDG_CONFIG_HOME/conda/.condarc",
    "$XDG_CONFIG_HOME/conda/condarc",
    "$XDG_CONFIG_HOME/conda/condarc.d/",
    "~/.config/conda/.condarc",
    "~/.config/conda/condarc",
    "~/.config/conda/condarc.d/",
    "~/.conda/.condarc",
    "~/.conda/condarc",
    "~/.conda/condarc.d/",
    "~/.condarc",
    "$CONDA_PREFIX/.condarc",
    "$CONDA_PREFIX/condarc",
    "$CONDA_PREFIX/condarc.d/",
    "$CONDARC",
)
# conda's names for the setting, in a file and in the environment, the preferred one first.
KEYS = ("envs_dirs", "envs_path")
VARIABLES = ("CONDA_ENVS_DIRS", "CONDA_ENVS_PATH")
YAML_SUFFIXES = (".yml", ".yaml")

_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


@dataclass(frozen=True)
class EnvsDir:
    """A folder conda creates and looks for named environments in."""

    path: str  # absolute, ~ and $VARS expanded
    source: str  # the .condarc file it came from, or "$CONDA_ENVS_DIRS"


@dataclass(frozen=True)
class CondarcProblem:
    """A config file discovery skipped (whole or in part), and why: conda would refuse it."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


@dataclass(frozen=True)
class ConfiguredEnvsDirs:
    """conda's envs_dirs setting as conda merges it, highest precedence first."""

    dirs: tuple[EnvsDir, ...]
    problems: tuple[CondarcProblem, ...]


def expand(value: str, env: Mapping[str, str], home: str, cwd: str) -> str:
    """As conda expands a path: $VARS (unknown ones left as they are), then ~, then absolute."""

    def variable(match: re.Match[str]) -> str:
        name = match.group(1).strip("{}")
        return env.get(name, match.group(0))

    path = _VARIABLE.sub(variable, value)
    mine = path == "~" or path.startswith("~/")  # ~user is someone else's home
    path = home + path[1:] if mine else os.path.expanduser(path)
    return os.path.normpath(os.path.join(cwd, path))


def search_path(env: Mapping[str, str], home: str, cwd: str) -> list[str]:
    """SEARCH_PATH expanded, each place once; entries whose variable is unset are dropped
    (conda would look for a literal "$CONDA_ROOT" folder, which never exists)."""
    places: list[str] = []
    for template in SEARCH_PATH:
        name = template[1:].split("/", 1)[0] if template.startswith("$") else ""
        if name and not env.get(name):
            continue
        place = expand(template, env, home, cwd)
        if place not in places:
            places.append(place)
    return places


def _yaml_files(place: str, problems: list[CondarcProblem]) -> list[str]:
    """The files conda reads for one search path entry: the file, or a folder's YAML files."""
    try:
        mode = os.stat(place).st_mode
    except OSError:
        return []
    if stat.S_ISREG(mode):
        name = os.path.basename(place)
        if "condarc" in name or name.endswith(YAML_SUFFIXES):
            return [place]
        reason = "conda reads only files named *condarc* or *.yml/*.yaml"
        problems.append(CondarcProblem(place, reason))
        return []
    if not stat.S_ISDIR(mode):
        return []
    try:
        with os.scandir(place) as entries:
            return sorted(e.path for e in entries if e.name.endswith(YAML_SUFFIXES) and e.is_file())
    except OSError as exc:
        problems.append(CondarcProblem(place, f"cannot list it: {exc.strerror or exc}"))
        return []


def _parse_error(exc: Exception) -> str:
    """One line for a YAML error, with its place in the file when PyYAML knows it."""
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"not valid YAML: {exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return f"not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def read_envs_dirs(path: str, problems: list[CondarcProblem]) -> list[str]:
    """The envs_dirs (or envs_path) entries of one config file, as written.

    PyYAML is imported here, so a machine without any .condarc never loads it.
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            settings = yaml.safe_load(fh)
    except OSError as exc:
        problems.append(CondarcProblem(path, f"cannot read it: {exc.strerror or exc}"))
        return []
    except UnicodeDecodeError:
        problems.append(CondarcProblem(path, "not UTF-8 text"))
        return []
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        # ValueError: PyYAML builds dates itself, and `2024-13-01` is no date.
        problems.append(CondarcProblem(path, _parse_error(exc)))
        return []
    if settings is None:
        return []
    if not isinstance(settings, dict):
        problems.append(CondarcProblem(path, "not a YAML mapping of settings"))
        return []
    entries: list[str] = []
    for key in KEYS:
        value = settings.get(key)
        if value is None:
            continue
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            entries += value
        else:
            problems.append(CondarcProblem(path, f"{key} is not a list of paths"))
    return entries


def configured_envs_dirs(env: Mapping[str, str], home: str, cwd: str) -> ConfiguredEnvsDirs:
    """envs_dirs from the environment first, then from each file, the last read first.

    conda merges a list setting that way: a later source on the search path has precedence,
    and the environment overrides every file. Repeated folders keep their first place.
    """
    problems: list[CondarcProblem] = []
    dirs: list[EnvsDir] = []
    for name in VARIABLES:
        for entry in env.get(name, "").split(os.pathsep):
            if entry.strip():
                dirs.append(EnvsDir(expand(entry.strip(), env, home, cwd), f"${name}"))
    files = [f for place in search_path(env, home, cwd) for f in _yaml_files(place, problems)]
    per_file = [(f, read_envs_dirs(f, problems)) for f in files]
    for path, entries in reversed(per_file):
        dirs += [EnvsDir(expand(entry, env, home, cwd), path) for entry in entries]
    unique: dict[str, EnvsDir] = {}
    for envs_dir in dirs:
        unique.setdefault(envs_dir.path, envs_dir)
    return ConfiguredEnvsDirs(tuple(unique.values()), tuple(problems))
