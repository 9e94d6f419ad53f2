"""conda-meta records as packed: this machine's package-cache paths blanked in place."""

from __future__ import annotations

import json

from ..load import PackageRecord
from .files import read_file

RECORD_CACHE_KEYS = ("extracted_package_dir", "package_tarball_full_path")


def record_bytes(path: str, size: int, record: PackageRecord) -> bytes:
    """A conda-meta record without this machine's package-cache paths.

    Each path is blanked where it stands, so the rest stays as its installer wrote it
    (and no JSON is re-encoded); a value spelt in a way we do not find is handled by
    parsing and writing the record anew.
    """
    data = read_file(path, size)
    raw = record.raw  # parsed when the environment was loaded
    values = [raw.get(key) for key in RECORD_CACHE_KEYS]
    if isinstance(raw.get("link"), dict):
        values.append(raw["link"].get("source"))
    for value in dict.fromkeys(values):  # conda writes the same path for two of them
        if not isinstance(value, str) or not value:
            continue
        spellings = {json.dumps(value).encode(), json.dumps(value, ensure_ascii=False).encode()}
        found = [s for s in spellings if s in data]
        if not found:
            return rewritten_record(json.loads(data))
        for spelling in found:
            data = data.replace(spelling, b'""')
    return data


def rewritten_record(data: dict) -> bytes:
    for key in RECORD_CACHE_KEYS:
        if key in data:
            data[key] = ""
    if isinstance(data.get("link"), dict):
        data["link"]["source"] = ""
    return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode()
