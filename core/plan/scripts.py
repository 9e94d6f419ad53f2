"""The scripts every archive ships (bin/activate, ...) against files a package installed there.

A base environment, or any with conda in it, has conda's own bin/activate and bin/deactivate.
conda's scripts source the prefix they were installed at, so they only work once the
environment sits where its files say it is. The rule:

- packed with --relocate-prefix, the archive is already relocated: the package's files keep
  their names, byte-identical to what conda installs there, and conda-package's scripts go
  beside them as bin/conda-package-activate, ...;
- otherwise bin/activate must relocate first, so it is conda-package's; the package's files
  travel byte-identical (relocated by conda-unpack with the rest) in SAVED_DIR.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ..load import Environment
from ..unpack import entry_scripts

SAVED_DIR = "conda-meta/conda-package/saved"
OURS_PREFIX = "conda-package-"


@dataclass(frozen=True)
class ScriptClash:
    """A script conda-package ships that a package installed too, and where each goes."""

    path: str  # bin/activate
    owner: str  # the package's dist
    ours: str  # where conda-package's script goes in the archive
    theirs: str  # where the package's file goes, byte-identical

    @property
    def note(self) -> str:
        """The packing note that tells the user where to find which."""
        if self.theirs == self.path:
            return (
                f"{self.path} is {self.owner}'s, kept (relocated to --relocate-prefix);"
                f" conda-package's is {self.ours}"
            )
        return (
            f"{self.path} is conda-package's, which relocates the environment first;"
            f" {self.owner}'s own is kept byte-identical as {self.theirs} (conda-unpack"
            " relocates it too)"
        )


def script_clashes(env: Environment, relocate_prefix: str | None) -> tuple[ScriptClash, ...]:
    """The shipped scripts whose path a package of the environment owns, and where each goes."""
    clashes = []
    for path in entry_scripts():
        owner = env.owners.get(path)
        if owner is None or path not in env.files:
            continue
        if relocate_prefix:
            ours = posixpath.join(posixpath.dirname(path), OURS_PREFIX + posixpath.basename(path))
            clashes.append(ScriptClash(path, owner.dist, ours, path))
        else:
            clashes.append(ScriptClash(path, owner.dist, path, f"{SAVED_DIR}/{path}"))
    return tuple(clashes)
