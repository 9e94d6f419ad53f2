"""Build a conda package of the files no package owns (what `conda package` used to do).

The environment's files are read twice: once to learn their hashes and which hold the
prefix (the metadata must be complete before the info/ tarball is written, and a dry run
needs it without writing), then again while they stream into the archive, where the hash
is checked so the metadata always describes the bytes packed.

The archive is written with this project's own tar writer (archive.open_writer): the
libraries either need the info/ files on disk inside the tree being packed
(conda-package-handling) or compress everything only at the very end, with no way to
report progress (conda-package-streaming's conda_builder); at the same zstd level all
three take the same time.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from ..archive import validate_level
from ..errors import CondaPackageError, UsageError
from ..load import Environment
from ..plan import check_output, check_subdir
from ..progress import ProgressCallback
from ..threads import worker_count
from .files import LeftOut, read_files, regular, select
from .formats import DEFAULT_ZSTD_LEVEL, write_conda, write_tar_bz2
from .metadata import PackagedFile, make_index, make_info, python_version
from .naming import (
    PackageFormat,
    package_format,
    parse_build_number,
    validate_name,
    validate_version,
)
from .scan import Sizer


class NothingToPackage(CondaPackageError):
    """The environment has no untracked files that could go into a package."""


@dataclass(frozen=True)
class PackageResult:
    output: str  # where the package is (or, in a dry run, would be) written
    format: PackageFormat
    dist: str  # NAME-VERSION-BUILD
    index: dict[str, Any]
    files: tuple[PackagedFile, ...]
    left_out: tuple[LeftOut, ...] = ()
    warnings: tuple[str, ...] = ()
    size: int = 0  # bytes of the package written; 0 for a dry run
    dry_run: bool = False
    info: dict[str, bytes] = field(default_factory=dict, repr=False)  # info/ as packed

    @property
    def bytes_in(self) -> int:
        return sum(f.size for f in self.files if f.kind == "file")

    def as_dict(self) -> dict[str, Any]:
        """What --json prints (and what a UI can show) in plain JSON types."""
        files = []
        for f in self.files:
            entry = f.paths_entry()
            if f.target:
                entry["target"] = f.target
            if f.room is not None:
                entry["room"] = f.room
            files.append(entry)
        return {
            "output": self.output,
            "format": self.format,
            "dist": self.dist,
            "dry_run": self.dry_run,
            "size": self.size,
            "bytes_in": self.bytes_in,
            "index": self.index,
            "files": files,
            "left_out": [{"path": x.path, "reason": x.reason} for x in self.left_out],
            "warnings": list(self.warnings),
        }


def package_level(fmt: PackageFormat, level: int | None) -> int:
    """The compression level: zstd's for a .conda's tarballs, bzip2's for a .tar.bz2."""
    if fmt == "tar.bz2":
        checked = validate_level("tar.bz2", level)
        assert checked is not None  # bzip2 always compresses
        return checked
    level = DEFAULT_ZSTD_LEVEL if level is None else level
    if not 1 <= level <= 22:
        raise UsageError(f"zstd compression level {level}: must be between 1 and 22")
    return level


def _packable(env: Environment) -> tuple[list[str], list[LeftOut]]:
    """The paths that go in and those left out; an error when nothing would go in."""
    paths, left_out = select(env)
    if paths:
        return paths, left_out
    if not env.untracked:
        raise NothingToPackage(f"{env.prefix}: no untracked files, so there is nothing to package")
    raise NothingToPackage(
        f"{env.prefix}: none of the {len(env.untracked)} untracked files can be packaged"
        f" ({left_out[0].path}: {left_out[0].reason})"
    )


def build_package(
    env: Environment,
    name: str,
    version: str = "0.0",
    build_number: int | str = 0,
    *,
    output: str | None = None,
    fmt: str | None = None,
    level: int | None = None,
    subdir: str | None = None,
    threads: int = 0,
    force: bool = False,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> PackageResult:
    """Package the environment's untracked files as NAME-VERSION-BUILD.conda (or .tar.bz2).

    level: zstd level of a .conda's inner tarballs (1-22, default 19) or the bzip2 level of
    a .tar.bz2 (1-9, default 9). threads: compression threads, 0 for one per CPU.
    Everything the user can get wrong is checked before any file is read.
    """
    name = validate_name(name)
    version = validate_version(version)
    number = parse_build_number(build_number)
    chosen = package_format(output, fmt)
    level = package_level(chosen, level)
    worker_count(threads)  # refused before any work, like every other option
    subdir = check_subdir(subdir) if subdir else env.subdir

    paths, left_out = _packable(env)
    mtimes = [int(env.files[p].st_mtime) for p in paths]
    index = make_index(name, version, number, subdir, python_version(paths), max(mtimes) * 1000)
    dist = f"{name}-{version}-{index['build']}"
    ext = ".conda" if chosen == "conda" else ".tar.bz2"
    output = os.path.abspath(output or f"{dist}{ext}")
    check_output(env, output, replace=force or dry_run, what="package")

    files_in = regular(env, paths)
    if chosen == "conda" and not dry_run:
        total = sum(env.files[p].st_size for p in files_in)
        sizer = Sizer("write", len(files_in), total, progress, cancel)
        files, warnings, info = write_conda(env, output, paths, index, level, threads, sizer)
    else:
        files, warnings = read_files(env, paths, progress, cancel)
        info = make_info(env, index, files)
    if os.path.basename(output) != dist + ext:
        warnings.append(
            f"{os.path.basename(output)}: installers expect the file to be named {dist}{ext}"
        )
    result = PackageResult(
        output,
        chosen,
        dist,
        index,
        tuple(files),
        tuple(left_out),
        tuple(warnings),
        dry_run=dry_run,
        info=info,
    )
    if dry_run:
        return result
    if chosen != "conda":
        written = [f for f in files if f.kind == "file"]
        sizer = Sizer("write", len(written), sum(f.size for f in written), progress, cancel)
        mtime = index["timestamp"] // 1000
        write_tar_bz2(env, output, files, info, mtime, level, threads, sizer)
    return dataclasses.replace(result, size=os.path.getsize(output))
