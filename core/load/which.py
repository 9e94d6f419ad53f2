"""Which package owns a path (`-w`), from the records alone: no walk of the prefix.

On a network filesystem the walk of a large environment takes seconds; the owner of a
file is in conda-meta/, and whether an unowned file exists is one lstat.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from typing import Literal

from ..threads import IOPool
from .pip import PipDistribution, read_distribution
from .records import PackageRecord, read_records
from .walk import is_walked

OwnerStatus = Literal["owned", "untracked", "conda-meta", "no such file"]
# Where pip puts distributions in a conda prefix (Unix, then Windows).
_DIST_INFOS = ("lib/python*/site-packages/*.dist-info", "Lib/site-packages/*.dist-info")


@dataclass(frozen=True)
class Ownership:
    """What `-w` says of one path, as Environment.load would have told it."""

    relpath: str
    status: OwnerStatus
    package: PackageRecord | None = None
    pip: PipDistribution | None = None


def find_owners(prefix: str, relpaths: list[str], io_threads: int = 0) -> list[Ownership]:
    """The owner of each prefix-relative path: a package (from its record, even if the
    file is gone), untracked (with the pip distribution that installed it), conda-meta,
    or no such file (absent, a directory, or a name conda's rules leave out)."""
    with IOPool(io_threads) as pool:
        records = read_records(prefix, pool)
    owners = {item["_path"]: record for record in records for item in record.path_items}
    dists: list[PipDistribution] | None = None
    found = []
    for rel in relpaths:
        owner = owners.get(rel)
        if owner is not None:
            found.append(Ownership(rel, "owned", package=owner))
        elif _is_file(prefix, rel):
            if dists is None:
                dists = _pip_distributions(prefix, owners)
            pip = next((d for d in dists if rel in d.files), None)
            found.append(Ownership(rel, "untracked", pip=pip))
        elif rel.startswith("conda-meta/"):
            found.append(Ownership(rel, "conda-meta"))
        else:
            found.append(Ownership(rel, "no such file"))
    return found


def _is_file(prefix: str, rel: str) -> bool:
    """Whether the walk would list `rel` among the environment's files."""
    if not is_walked(rel):
        return False
    try:
        return not stat.S_ISDIR(os.lstat(os.path.join(prefix, rel)).st_mode)
    except OSError:
        return False


def _pip_distributions(prefix: str, owners: dict[str, PackageRecord]) -> list[PipDistribution]:
    """pip's distributions whose RECORD no package owns (as Environment attributes them)."""
    found = []
    for pattern in _DIST_INFOS:
        for path in sorted(glob.glob(os.path.join(glob.escape(prefix), pattern))):
            dist_info = os.path.relpath(path, prefix).replace(os.sep, "/")
            if f"{dist_info}/RECORD" not in owners and os.path.isfile(f"{path}/RECORD"):
                found.append(read_distribution(prefix, dist_info))
    return found
