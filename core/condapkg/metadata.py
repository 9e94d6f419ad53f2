"""What a conda package says about itself: info/index.json, info/paths.json and the other
info/ files, as conda-build writes them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from .. import __version__
from ..load import Environment
from ..paths import fsencode

_SITE_PACKAGES = re.compile(r"^lib/python(\d+)\.(\d+)t?/site-packages/")
# conda's arch and platform fields for each subdir (noarch has neither).
_ARCH = {
    "64": "x86_64",
    "32": "x86",
    "aarch64": "aarch64",
    "arm64": "arm64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "armv7l": "armv7l",
    "armv6l": "armv6l",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class PackagedFile:
    """One path of the package, with what info/paths.json says about it."""

    path: str
    kind: Literal["file", "symlink"]
    size: int  # a symlink's is its target's, as conda-build records it
    sha256: str
    mode: int
    mtime: int
    target: str = ""  # link text of a symlink
    prefix_placeholder: str | None = None
    file_mode: Literal["text", "binary"] | None = None  # set when the file holds the prefix
    room: int | None = None  # longest prefix a binary file can take

    def paths_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "_path": self.path,
            "path_type": "softlink" if self.kind == "symlink" else "hardlink",
            "sha256": self.sha256,
            "size_in_bytes": self.size,
        }
        if self.prefix_placeholder is not None:
            entry["prefix_placeholder"] = self.prefix_placeholder
            entry["file_mode"] = self.file_mode
        return entry


def python_version(paths: list[str]) -> tuple[str, str] | None:
    """X, Y when files go into lib/pythonX.Y/site-packages (the package then needs X.Y)."""
    for path in paths:
        m = _SITE_PACKAGES.match(path)
        if m:
            return m.group(1), m.group(2)
    return None


def _arch_platform(subdir: str) -> tuple[str | None, str | None]:
    if subdir == "noarch":
        return None, None
    platform, _, machine = subdir.partition("-")
    return _ARCH.get(machine, machine), platform


def make_index(
    name: str,
    version: str,
    build_number: int,
    subdir: str,
    python: tuple[str, str] | None,
    timestamp: int,
) -> dict[str, Any]:
    """info/index.json as conda-build writes it; the build string says which Python."""
    arch, platform = _arch_platform(subdir)
    index: dict[str, Any] = {
        "arch": arch,
        "build": f"py{''.join(python)}_{build_number}" if python else str(build_number),
        "build_number": build_number,
        "depends": [f"python {'.'.join(python)}.*"] if python else [],
        "name": name,
        "platform": platform,
        "subdir": subdir,
        "timestamp": timestamp,
        "version": version,
    }
    if subdir == "noarch":
        index["noarch"] = "generic"
    return index


def _quote(text: str) -> str:
    """conda splits has_prefix lines at blanks unless a field is quoted."""
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _json(data: object) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode()


def make_info(
    env: Environment, index: dict[str, Any], files: list[PackagedFile]
) -> dict[str, bytes]:
    """Every info/ file, by archive name."""
    about = {
        "summary": f"made by conda-package from the untracked files of {env.name}",
        "description": f"Files that no package owned in the conda environment {env.prefix}.",
        "extra": {"created_by": f"conda-package {__version__}", "source_prefix": env.prefix},
    }
    info = {
        "info/about.json": _json(about),
        "info/files": "".join(f"{f.path}\n" for f in files).encode(),
        "info/index.json": _json(index),
        "info/paths.json": _json({"paths": [f.paths_entry() for f in files], "paths_version": 1}),
    }
    has_prefix = [
        f"{_quote(f.prefix_placeholder)} {f.file_mode} {_quote(f.path)}\n"
        for f in files
        if f.prefix_placeholder is not None
    ]
    if has_prefix:
        # The prefix as its bytes: a placeholder that is not UTF-8 is still the prefix.
        info["info/has_prefix"] = fsencode("".join(has_prefix))
    return dict(sorted(info.items()))
