"""Paths as the engine handles them: bytes for the filesystem, what lies inside what, and
where the user's cache is."""

from __future__ import annotations

import os


def fsencode(path: str) -> bytes:
    """A path's bytes as the filesystem holds them, also when they are not valid UTF-8.

    os.fsdecode() hands such bytes over as lone surrogates; a strict encode() would fail on
    them, so every path and prefix the engine turns into bytes goes through here.
    """
    return path.encode("utf-8", "surrogateescape")


def inside(path: str, root: str) -> bool:
    """Whether `path` is `root` or lies below it (both absolute, or both relative)."""
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/") or root == ""


def user_cache_dir() -> str:
    """Where conda-package keeps what it can compute again: ${XDG_CACHE_HOME:-~/.cache}."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "conda-package")
