"""What a conda package may be called: its name, version, build number and file format,
checked as conda checks them, with the fix in each message."""

from __future__ import annotations

import re
from typing import Literal

from ..errors import UsageError

PackageFormat = Literal["conda", "tar.bz2"]
PACKAGE_FORMATS: dict[str, PackageFormat] = {".conda": "conda", ".tar.bz2": "tar.bz2"}

_NAME = re.compile(r"[a-z0-9_.-]+")
_VERSION = re.compile(r"[A-Za-z0-9_.+!]+")


def validate_name(name: str) -> str:
    """conda's rule for package names, with the fix in the message."""
    if not name:
        raise UsageError("package name is empty; give --pkg-name NAME")
    if name != name.lower() and _NAME.fullmatch(name.lower()):
        raise UsageError(
            f"package name {name!r}: conda package names are lower case; use {name.lower()!r}"
        )
    if not _NAME.fullmatch(name):
        raise UsageError(f"package name {name!r}: only a-z, 0-9, '_', '.' and '-' are allowed")
    if name[0] in "-.":
        raise UsageError(f"package name {name!r}: must not start with '-' or '.'")
    return name


def validate_version(version: str) -> str:
    """conda's version rules: '-' separates name, version and build, so it cannot appear."""
    what = f"package version {version!r}"
    if not version:
        raise UsageError("package version is empty; give --pkg-version VERSION")
    if "-" in version:
        raise UsageError(f"{what}: must not contain '-' (it separates name, version and build)")
    if any(c.isspace() for c in version):
        raise UsageError(f"{what}: must not contain spaces")
    if not _VERSION.fullmatch(version):
        raise UsageError(f"{what}: only letters, digits, '_', '.', '+' and '!' are allowed")
    epoch, bang, rest = version.rpartition("!")
    if bang and not epoch.isdigit():
        raise UsageError(f"{what}: the epoch before '!' must be a number, given once")
    parts = rest.split("+")
    if len(parts) > 2:
        raise UsageError(f"{what}: at most one '+' (local version) is allowed")
    for part in parts:
        # conda accepts one trailing '_' (openssl-style versions such as 1.0.1_).
        if "" in re.split(r"[._]", part.removesuffix("_") or part):
            raise UsageError(f"{what}: has an empty component (two separators in a row?)")
    return version


def parse_build_number(value: int | str) -> int:
    """The build number, which arrives as text from the command line."""
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
    ):
        raise UsageError(f"build number {value!r}: must be a whole number, 0 or more")
    number = int(value)
    if number < 0:
        raise UsageError(f"build number {value!r}: must be a whole number, 0 or more")
    return number


def package_format(output: str | None, fmt: str | None = None) -> PackageFormat:
    """The format, conda or tar.bz2, from the output's extension or the one asked for."""
    asked = None
    if fmt is not None:
        asked = next((f for f in PACKAGE_FORMATS.values() if f == fmt.lstrip(".")), None)
        if asked is None:
            raise UsageError(f"package format {fmt!r}: use conda or tar.bz2")
    if output is None:
        return asked or "conda"
    inferred = next((f for ext, f in PACKAGE_FORMATS.items() if output.lower().endswith(ext)), None)
    if inferred is None:
        raise UsageError(f"{output}: a conda package's name must end in .conda or .tar.bz2")
    if asked and asked != inferred:
        raise UsageError(f"{output}: the name says {inferred}, but the format asked is {asked}")
    return inferred
