"""Conda platform names (subdirs) we accept for --arch / --platform."""

from __future__ import annotations

from ..errors import UsageError

KNOWN_SUBDIRS = (
    "linux-64",
    "linux-aarch64",
    "linux-ppc64le",
    "linux-s390x",
    "linux-32",
    "linux-armv7l",
    "linux-armv6l",
    "linux-riscv64",
    "osx-64",
    "osx-arm64",
    "win-64",
    "win-32",
    "win-arm64",
    "freebsd-64",
    "noarch",
)


def check_subdir(value: str, option: str = "--platform") -> str:
    if value not in KNOWN_SUBDIRS:
        raise UsageError(
            f"{option} {value!r}: unknown platform; use one of {', '.join(KNOWN_SUBDIRS)}"
        )
    return value


def subdir_from_options(arch: str | None, platform: str | None) -> str | None:
    """--arch and --platform both name the subdir; given together they must agree."""
    if arch and platform and arch != platform:
        raise UsageError(f"--arch {arch} and --platform {platform} disagree; give one")
    value = platform or arch
    return check_subdir(value, "--platform" if platform else "--arch") if value else None
