"""Attribute files nobody's conda record owns to pip distributions (dist-info RECORD)."""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass


@dataclass(frozen=True)
class PipDistribution:
    """A distribution installed by pip (or another Python installer) into the prefix."""

    name: str
    version: str
    installer: str
    dist_info: str
    files: tuple[str, ...]
    editable_location: str | None = None

    @property
    def editable(self) -> bool:
        return self.editable_location is not None

    def __str__(self) -> str:
        return f"{self.installer}: {self.name} {self.version}"


def _metadata(dist_info_abs: str) -> tuple[str, str]:
    name = version = ""
    try:
        with open(
            os.path.join(dist_info_abs, "METADATA"), encoding="utf-8", errors="replace"
        ) as fh:
            for line in fh:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                if key == "Name":
                    name = value.strip()
                elif key == "Version":
                    version = value.strip()
    except OSError:
        pass
    if not name:
        stem = posixpath.basename(dist_info_abs)[: -len(".dist-info")]
        name, _, version = stem.partition("-")
    return name, version


def _editable_location(dist_info_abs: str) -> str | None:
    try:
        with open(os.path.join(dist_info_abs, "direct_url.json"), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and (data.get("dir_info") or {}).get("editable"):
        from urllib.parse import unquote, urlparse  # rare: not worth every run's import time

        url = urlparse(str(data.get("url", "")))
        return unquote(url.path) if url.scheme == "file" else str(data.get("url"))
    return None


def read_distribution(prefix: str, dist_info: str) -> PipDistribution:
    """Read one `*.dist-info` (relative path) and the prefix-relative files its RECORD lists."""
    import csv  # only environments with pip installs get here

    abs_dir = os.path.join(prefix, dist_info)
    site = posixpath.dirname(dist_info)
    files: list[str] = []
    try:
        with open(os.path.join(abs_dir, "RECORD"), encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh):
                if row and row[0]:
                    path = posixpath.normpath(posixpath.join(site, row[0]))
                    if not path.startswith("../") and not posixpath.isabs(path):
                        files.append(path)
    except OSError:
        pass
    try:
        with open(os.path.join(abs_dir, "INSTALLER"), encoding="utf-8") as fh:
            installer = fh.read().strip() or "pip"
    except OSError:
        installer = "pip"
    name, version = _metadata(abs_dir)
    return PipDistribution(
        name, version, installer, dist_info, tuple(files), _editable_location(abs_dir)
    )
