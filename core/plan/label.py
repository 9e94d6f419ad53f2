"""The packed environment's own name, version and build (--pkg-name/--pkg-version/
--pkg-build when packing): the default file name NAME-VERSION-BUILD.EXT, the manifest's
`package`, what bin/activate and bin/conda-unpack print, a parcel's and a modulefile's name.

Defaults: the name is the environment's; version and build are empty, and empty parts are
left out of the file name, so a plain pack is still ENV.tar.gz as with conda-pack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UsageError

_BUILD = re.compile(r"[A-Za-z0-9_.+]+")


@dataclass(frozen=True)
class ArchiveLabel:
    """What the packed environment is called; version and build may be empty."""

    name: str
    version: str = ""
    build: str = ""

    @property
    def stem(self) -> str:
        """NAME-VERSION-BUILD without the empty parts: the default output's name."""
        return "-".join(part for part in (self.name, self.version, self.build) if part)

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "build": self.build}


def check_build_string(build: str) -> str:
    """A build string as conda writes them (py37_0, 0, h1234_2): no dash, no space."""
    if not _BUILD.fullmatch(build):
        raise UsageError(
            f"--pkg-build {build!r}: only letters, digits, '_', '.' and '+' are allowed"
            " ('-' separates name, version and build)"
        )
    return build


def archive_label(
    env_name: str, name: str | None = None, version: str | None = None, build: str | None = None
) -> ArchiveLabel:
    """The label from the options, checked with conda's rules for names and versions; each
    left out (None or empty) takes its default."""
    # Imported here: the package builder imports this room (plan) itself.
    from ..condapkg.naming import validate_name, validate_version

    return ArchiveLabel(
        name=validate_name(name) if name else env_name,
        version=validate_version(version) if version else "",
        build=check_build_string(build) if build else "",
    )
