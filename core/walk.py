"""One walk of a prefix with os.scandir and lstat, applying conda's ignore rules."""

from __future__ import annotations

import os

from .errors import CondaPackageError

# Top-level names conda never counts as part of an environment's files (conda's own
# `untracked` used the same list), plus what package managers leave in a prefix.
IGNORED_TOP = frozenset(
    {
        "pkgs",
        "envs",
        "conda-bld",
        "conda-meta",
        ".conda_lock",
        "users",
        "LICENSE.txt",
        "info",
        "conda-recipes",
        ".index",
        ".unionfs",
        ".nonadmin",
        "CACHEDIR.TAG",
    }
)
# conda's own entry points in bin/, and what conda-package generates into every archive.
IGNORED_BIN = frozenset({"conda", "activate", "deactivate", "activate.fish", "conda-unpack"})


def is_ignored(relpath: str) -> bool:
    """conda's rules: editor backups and the names above are not environment files."""
    if relpath.endswith("~"):
        return True
    top, _, rest = relpath.partition("/")
    if not rest:
        return top in IGNORED_TOP
    return top == "bin" and "/" not in rest and rest in IGNORED_BIN


def walk_prefix(prefix: str) -> tuple[dict[str, os.stat_result], dict[str, os.stat_result]]:
    """Scan the prefix once: lstat of every non-directory and of every directory.

    Keys are relative '/'-separated paths. Symlinks are never followed (a symlink to a
    directory is an entry, not a subtree). The stat results are kept as the OS gave them:
    building an object per file would cost more than the walk itself.
    """
    files: dict[str, os.stat_result] = {}
    dirs: dict[str, os.stat_result] = {}
    stack: list[tuple[str, str]] = [(prefix, "")]
    while stack:
        abspath, rel = stack.pop()
        try:
            it = os.scandir(abspath)
        except (FileNotFoundError, NotADirectoryError):
            continue  # removed or replaced since its parent was listed
        except OSError as exc:  # skipping it would leave its files out without a word
            raise CondaPackageError(
                f"{abspath}: cannot list this directory of the environment ({exc.strerror});"
                " make it readable (chmod u+rx) or run as its owner"
            ) from exc
        with it:
            check = rel in ("", "bin/")  # the only levels with ignore rules by name
            for entry in it:
                relpath = rel + entry.name
                if (check and is_ignored(relpath)) or relpath[-1] == "~":
                    continue
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir:
                    dirs[relpath] = st
                    stack.append((entry.path, relpath + "/"))
                else:
                    files[relpath] = st
    return files, dirs
