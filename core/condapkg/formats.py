"""The two package formats on disk: .conda (a zip of zstd tarballs, info/ written after the
files) and .tar.bz2 (one tarball, info/ first); each appears whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator
from typing import Any

from ..archive import CHUNK, ArchiveEntry, ArchiveWriter, install_output, open_writer
from ..errors import CondaPackageError
from ..load import Environment, open_env_file
from ..progress import check_cancel
from .files import add_and_scan
from .metadata import PackagedFile, make_info
from .scan import ScanningReader, Sizer

# conda-package-handling's default (ZSTD_COMPRESS_LEVEL), which conda-build also uses.
DEFAULT_ZSTD_LEVEL = 19
CONDA_PKG_FORMAT_VERSION = 2


class ChangedWhilePackaging(CondaPackageError):
    """A file changed between reading its metadata and packing it."""


def _add_info(writer: ArchiveWriter, info: dict[str, bytes], mtime: int) -> None:
    for name, data in info.items():
        writer.add(ArchiveEntry(name, "file", 0o644, mtime, len(data)), data)


def _add_files(
    writer: ArchiveWriter, env: Environment, files: list[PackagedFile], sizer: Sizer
) -> None:
    """Files scanned before (.tar.bz2): what is written must be what was scanned."""
    for f in files:
        if f.kind == "symlink":
            check_cancel(sizer.cancel)
            writer.add(ArchiveEntry(f.path, "symlink", f.mode, f.mtime, target=f.target))
            continue
        sizer.file(f.path)
        with open_env_file(os.path.join(env.prefix, f.path), "packaging") as fh:
            reader = ScanningReader(fh, f.path, sizer)
            writer.add(ArchiveEntry(f.path, "file", f.mode, f.mtime, f.size), reader)
        if reader.scanner.result().sha256 != f.sha256:
            raise ChangedWhilePackaging(
                f"{f.path} changed while it was being packaged; nothing was written, run again"
            )


def _zip(path: str, members: list[tuple[str, bytes | str]], mtime: int) -> None:
    """The .conda container: an uncompressed zip with fixed times, fsynced."""
    date_time = time.gmtime(max(mtime, 315532800))[:6]  # zip cannot date before 1980
    with open(path, "xb") as raw:
        with zipfile.ZipFile(raw, "w") as zf:
            for name, content in members:
                member = zipfile.ZipInfo(name, date_time)
                member.external_attr = (stat.S_IFREG | 0o644) << 16
                if isinstance(content, bytes):
                    zf.writestr(member, content)
                    continue
                big = os.path.getsize(content) > zipfile.ZIP64_LIMIT
                with open(content, "rb") as src, zf.open(member, "w", force_zip64=big) as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
        raw.flush()
        os.fsync(raw.fileno())


@contextlib.contextmanager
def _building(output: str) -> Iterator[str]:
    """A hidden directory beside the output for the parts; gone whatever happens."""
    temp = tempfile.mkdtemp(
        prefix=f".{os.path.basename(output)}.partial-", dir=os.path.dirname(output)
    )
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _install(built: str, output: str, sizer: Sizer) -> None:
    """Rename the finished package into place, durably: nothing half-written is ever seen."""
    sizer.done()
    check_cancel(sizer.cancel)
    install_output(built, output)


def write_conda(
    env: Environment,
    output: str,
    paths: list[str],
    index: dict[str, Any],
    level: int,
    threads: int,
    sizer: Sizer,
) -> tuple[list[PackagedFile], list[str], dict[str, bytes]]:
    """The pkg tarball first, each file read once for both the archive and paths.json;
    then the info tarball made from what that read found."""
    mtime = index["timestamp"] // 1000
    stem = os.path.basename(output)[: -len(".conda")]  # installers find parts by this name
    with _building(output) as temp:
        pkg, info_part = os.path.join(temp, "pkg.tar.zst"), os.path.join(temp, "info.tar.zst")
        with open_writer(pkg, "tar.zst", level=level, threads=threads) as w:
            files, warnings = add_and_scan(w, env, paths, sizer)
            w.commit()
        info = make_info(env, index, files)
        with open_writer(info_part, "tar.zst", level=level, threads=threads) as w:
            _add_info(w, info, mtime)
            w.commit()
        built = os.path.join(temp, "package.conda")
        metadata = json.dumps({"conda_pkg_format_version": CONDA_PKG_FORMAT_VERSION})
        members: list[tuple[str, bytes | str]] = [
            ("metadata.json", metadata.encode()),
            (f"pkg-{stem}.tar.zst", pkg),
            (f"info-{stem}.tar.zst", info_part),
        ]
        _zip(built, members, mtime)
        _install(built, output, sizer)
    return files, warnings, info


def write_tar_bz2(
    env: Environment,
    output: str,
    files: list[PackagedFile],
    info: dict[str, bytes],
    mtime: int,
    level: int,
    threads: int,
    sizer: Sizer,
) -> None:
    with _building(output) as temp:
        built = os.path.join(temp, "package.tar.bz2")
        with open_writer(built, "tar.bz2", level=level, threads=threads) as w:
            _add_info(w, info, mtime)  # first, so readers find the metadata early
            _add_files(w, env, files, sizer)
            w.commit()
        _install(built, output, sizer)
