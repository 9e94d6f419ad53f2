"""Make small conda packages and wheels in tests, so the suite needs nothing from outside."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
BINARY_PLACEHOLDER = "/tmp/build/_h_env_" + "placehold_" * 23  # 248 characters


def make_tar_bz2(
    out_dir: Path,
    name: str,
    version: str,
    files: dict[str, bytes],
    *,
    build: str = "0",
    subdir: str = "linux-64",
    text_prefix: tuple[str, ...] = (),
    binary_prefix: tuple[str, ...] = (),
    depends: tuple[str, ...] = (),
    modes: dict[str, int] | None = None,
) -> Path:
    """A minimal, valid conda package (.tar.bz2) holding `files`."""
    modes = modes or {}
    paths = []
    for path, data in sorted(files.items()):
        entry = {
            "_path": path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_in_bytes": len(data),
        }
        if path in text_prefix:
            entry.update(prefix_placeholder=PLACEHOLDER, file_mode="text")
        if path in binary_prefix:
            entry.update(prefix_placeholder=BINARY_PLACEHOLDER, file_mode="binary")
        paths.append(entry)
    index = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "depends": list(depends),
        "subdir": subdir,
        "license": "BSD",
        "arch": "x86_64" if subdir == "linux-64" else None,
        "platform": "linux" if subdir == "linux-64" else None,
    }
    info = {
        "info/index.json": json.dumps(index).encode(),
        "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}).encode(),
        "info/files": "".join(f"{p}\n" for p in sorted(files)).encode(),
    }
    target = out_dir / f"{name}-{version}-{build}.tar.bz2"
    with tarfile.open(target, "w:bz2") as tf:
        for path, data in {**info, **files}.items():
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mode = modes.get(path, 0o755 if path.startswith("bin/") else 0o644)
            tf.addfile(ti, io.BytesIO(data))
    return target


def make_wheel(
    out_dir: Path, name: str, version: str, modules: dict[str, str], scripts: dict[str, str]
) -> Path:
    """A pure-Python wheel with console scripts, installable offline by pip."""
    dist = f"{name}-{version}.dist-info"
    entry_points = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
    content = {
        **{path: text.encode() for path, text in modules.items()},
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
        f"{dist}/entry_points.txt": entry_points.encode(),
    }
    record = []
    for path, data in content.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    content[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    target = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as zf:
        for path, data in content.items():
            zf.writestr(path, data)
    return target
