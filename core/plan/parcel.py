"""Cloudera parcels: their names, and where the cluster unpacks them, checked once.

A parcel is a tar.gz named NAME-VERSION-DISTRO.parcel whose one folder, NAME-VERSION/,
Cloudera Manager unpacks into its parcel root and never moves: so the environment is
relocated at pack time to PARCEL_ROOT/NAME-VERSION, with conda-pack 0.9.2's defaults.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from ..errors import UsageError

DEFAULT_ROOT = "/opt/cloudera/parcels"
DEFAULT_DISTRO = "el7"


@dataclass(frozen=True)
class Parcel:
    """A parcel's checked names: none holds a dash, which separates them in the file name."""

    root: str  # where the cluster unpacks parcels
    name: str
    version: str
    distro: str

    @property
    def dirname(self) -> str:
        """The folder the archive holds, and its name under the root."""
        return f"{self.name}-{self.version}"

    @property
    def filename(self) -> str:
        return f"{self.dirname}-{self.distro}.parcel"

    @property
    def prefix(self) -> str:
        """Where the environment lives on the cluster: what it is relocated to."""
        return os.path.join(self.root, self.dirname)


def _part(option: str, value: str, hint: str = "") -> str:
    if not value or "-" in value or "/" in value or value.strip() != value or "\0" in value:
        raise UsageError(
            f"{option} {value!r}: must be non-empty, without dashes, slashes or surrounding"
            f" spaces (the parcel's file name is NAME-VERSION-DISTRO.parcel){hint}"
        )
    return value


def make_parcel(
    env_name: str,
    root: str | None = None,
    name: str | None = None,
    version: str | None = None,
    distro: str | None = None,
) -> Parcel:
    """The parcel from --parcel-* options; each left out takes conda-pack's default: the
    /opt/cloudera/parcels root, the environment's name, today as YYYY.MM.DD, el7."""
    root = DEFAULT_ROOT if root is None else root
    if not root.startswith("/") or "\0" in root:
        raise UsageError(f"--parcel-root {root!r}: must be an absolute path")
    hint = "; choose one with --parcel-name" if name is None else ""
    return Parcel(
        root=os.path.normpath(root),
        name=_part("--parcel-name", env_name if name is None else name, hint),
        version=_part(
            "--parcel-version",
            datetime.date.today().strftime("%Y.%m.%d") if version is None else version,
        ),
        distro=_part("--parcel-distro", DEFAULT_DISTRO if distro is None else distro),
    )
