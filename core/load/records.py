"""Read conda-meta/*.json package records: the packages and the files each installed."""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass, field
from functools import cached_property

from ..errors import CorruptRecord
from ..threads import IOPool


@dataclass(frozen=True, slots=True)
class PathEntry:
    """One file a package installed, as `paths_data` (or only `files`) describes it."""

    path: str
    path_type: str = "hardlink"
    sha256: str | None = None
    sha256_in_prefix: str | None = None
    size: int | None = None
    prefix_placeholder: str | None = None
    file_mode: str | None = None


@dataclass(frozen=True)
class PackageRecord:
    """A package installed in the environment (one conda-meta/*.json)."""

    name: str
    version: str
    build: str
    channel: str = ""
    subdir: str = ""
    path_items: tuple[dict, ...] = field(default=(), repr=False, compare=False)
    record_file: str = ""
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def dist(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"

    @cached_property
    def paths(self) -> tuple[PathEntry, ...]:
        """Typed view of the files; built on first use since loading only needs the names."""
        return tuple(
            PathEntry(
                item["_path"],
                item.get("path_type") or "hardlink",
                item.get("sha256"),
                item.get("sha256_in_prefix"),
                item.get("size_in_bytes"),
                item.get("prefix_placeholder"),
                item.get("file_mode"),
            )
            for item in self.path_items
        )

    @property
    def channel_name(self) -> str:
        """Short channel name for display: conda-forge, pkgs/main, or the local folder."""
        channel = self.channel.rstrip("/")
        for marker in ("conda.anaconda.org/", "repo.anaconda.com/"):
            if marker in channel:
                return channel.split(marker, 1)[1]
        return channel.rsplit("/", 1)[-1] if channel else ""


def safe_relpath(path: str, where: str) -> str:
    """Return `path` normalised, refusing anything that would leave the prefix."""
    if not isinstance(path, str) or not path:
        raise CorruptRecord(f"{where}: empty or non-text path {path!r}")
    if not (path[0] == "/" or ".." in path or "//" in path or "./" in path or "\0" in path):
        return path  # the common case, checked without normpath
    norm = posixpath.normpath(path)
    if posixpath.isabs(path) or norm == ".." or norm.startswith("../") or "\0" in path:
        raise CorruptRecord(
            f"{where}: path {path!r} points outside the environment;"
            " the record is corrupt: reinstall the package or remove the record"
        )
    return norm


# Fields of a paths_data entry that the packer computes with, and the type each must have.
_ITEM_TYPES: dict[str, type] = {
    "path_type": str,
    "sha256": str,
    "sha256_in_prefix": str,
    "size_in_bytes": int,
    "prefix_placeholder": str,
    "file_mode": str,
}


def _path_items(data: dict, where: str) -> tuple[dict, ...]:
    """The raw `paths_data` entries (or `files` as entries), each `_path` checked."""
    paths_data = data.get("paths_data")
    items = paths_data.get("paths") if isinstance(paths_data, dict) else None
    if not items:
        files = data.get("files") or []
        if not isinstance(files, list):
            raise CorruptRecord(f"{where}: 'files' is not a list; remove or repair the record")
        return tuple({"_path": safe_relpath(f, where)} for f in files)
    if not isinstance(items, list):
        raise CorruptRecord(f"{where}: 'paths_data' is not a list; remove or repair the record")
    for item in items:
        if not isinstance(item, dict) or "_path" not in item:
            raise CorruptRecord(f"{where}: paths_data entry without _path: {item!r}")
        item["_path"] = safe_relpath(item["_path"], where)
        for key, kind in _ITEM_TYPES.items():
            value = item.get(key)
            if value is not None and type(value) is not kind:  # json gives exact types
                raise CorruptRecord(
                    f"{where}: {item['_path']}: {key} {value!r} is not"
                    f" {'a number' if kind is int else 'text'};"
                    " the record is corrupt: reinstall the package or remove the record"
                )
    return tuple(items)


def parse_record(data: object, where: str) -> PackageRecord:
    """Build a record from parsed JSON; `where` names the file in error messages."""
    if not isinstance(data, dict):
        raise CorruptRecord(
            f"{where}: not a package record (expected a JSON object);"
            " remove it or reinstall the package"
        )
    missing = [key for key in ("name", "version", "build") if not data.get(key)]
    if missing:
        raise CorruptRecord(f"{where}: record lacks {', '.join(missing)}; remove or repair it")
    return PackageRecord(
        name=str(data["name"]),
        version=str(data["version"]),
        build=str(data["build"]),
        channel=str(data.get("channel") or ""),
        subdir=str(data.get("subdir") or ""),
        path_items=_path_items(data, where),
        record_file=os.path.basename(where),
        raw=data,
    )


def _where(path: str) -> str:
    return posixpath.join("conda-meta", os.path.basename(path))


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CorruptRecord(
            f"{_where(path)}: cannot read ({exc.strerror}); check its permissions"
        ) from exc


def read_record(path: str, raw: bytes | None = None) -> PackageRecord:
    """The record in the file at `path` (whose bytes are `raw`, when already read)."""
    where = _where(path)
    if raw is None:
        raw = _read_bytes(path)
    if not raw.strip():
        raise CorruptRecord(f"{where}: empty file; remove it or reinstall the package")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptRecord(
            f"{where}: not valid JSON ({exc}); remove it or reinstall the package"
        ) from exc
    return parse_record(data, where)


def read_records(prefix: str, pool: IOPool | None = None) -> tuple[PackageRecord, ...]:
    """Every conda-meta/*.json of the prefix, sorted by package name; with a pool, the
    opens and reads (round trips on a network filesystem) overlap."""
    meta = os.path.join(prefix, "conda-meta")
    names = sorted(e.name for e in os.scandir(meta) if e.name.endswith(".json") and e.is_file())
    paths = [os.path.join(meta, name) for name in names]
    raws = pool.map(_read_bytes, paths, calls=3) if pool else map(_read_bytes, paths)
    records = [read_record(path, raw) for path, raw in zip(paths, raws, strict=True)]
    return tuple(sorted(records, key=lambda r: r.name))
