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

import contextlib
import dataclasses
import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .. import __version__
from ..archive import (
    CHUNK,
    ArchiveEntry,
    ArchiveWriter,
    install_output,
    open_writer,
    validate_level,
)
from ..errors import (
    CondaPackageError,
    OutputExists,
    OutputInsideEnvironment,
    UsageError,
)
from ..load import Environment, FileStat, open_env_file, pyc_source
from ..plan import check_subdir
from ..progress import Progress, ProgressCallback, check_cancel
from ..unpack import binary_room

PACKAGE_FORMATS: dict[str, str] = {".conda": "conda", ".tar.bz2": "tar.bz2"}
# conda-package-handling's default (ZSTD_COMPRESS_LEVEL), which conda-build also uses.
DEFAULT_ZSTD_LEVEL = 19
CONDA_PKG_FORMAT_VERSION = 2
EMPTY_SHA256 = hashlib.sha256().hexdigest()

_NAME = re.compile(r"[a-z0-9_.-]+")
_VERSION = re.compile(r"[A-Za-z0-9_.+!]+")
_SITE_PACKAGES = re.compile(r"^lib/python(\d+)\.(\d+)t?/site-packages/")
# conda's arch and platform fields for each subdir (noarch has neither).
_ARCH = {
    "64": "x86_64",
    "32": "x86",
    "aarch64": "aarch64",
    "arm64": "arm64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "armv7l": "armv7l",
    "armv6l": "armv6l",
    "riscv64": "riscv64",
}


class NothingToPackage(CondaPackageError):
    """The environment has no untracked files that could go into a package."""


class ChangedWhilePackaging(CondaPackageError):
    """A file changed between reading its metadata and packing it."""


@dataclass(frozen=True)
class PackagedFile:
    """One path of the package, with what info/paths.json says about it."""

    path: str
    kind: str  # "file" or "symlink"
    size: int  # a symlink's is its target's, as conda-build records it
    sha256: str
    mode: int
    mtime: int
    target: str = ""  # link text of a symlink
    prefix_placeholder: str | None = None
    file_mode: str | None = None  # "text" or "binary" when the file holds the prefix
    room: int | None = None  # longest prefix a binary file can take

    def paths_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "_path": self.path,
            "path_type": "softlink" if self.kind == "symlink" else "hardlink",
            "sha256": self.sha256,
            "size_in_bytes": self.size,
        }
        if self.prefix_placeholder is not None:
            entry["prefix_placeholder"] = self.prefix_placeholder
            entry["file_mode"] = self.file_mode
        return entry


@dataclass(frozen=True)
class LeftOut:
    """An untracked path that is not in the package, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class PackageResult:
    output: str  # where the package is (or, in a dry run, would be) written
    format: str  # "conda" or "tar.bz2"
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


# --- validation ---------------------------------------------------------------------------


def validate_name(name: str) -> str:
    """conda's rule for package names, with the fix in the message."""
    if not name:
        raise UsageError("package name is empty; give --pkg-name NAME")
    if name != name.lower() and _NAME.fullmatch(name.lower()):
        raise UsageError(
            f"package name {name!r}: conda package names are lower case; use {name.lower()!r}"
        )
    if not _NAME.fullmatch(name):
        raise UsageError(f"package name {name!r}: only a-z, 0-9, '_', '.' and '-' are allowed")
    if name[0] in "-.":
        raise UsageError(f"package name {name!r}: must not start with '-' or '.'")
    return name


def validate_version(version: str) -> str:
    """conda's version rules: '-' separates name, version and build, so it cannot appear."""
    what = f"package version {version!r}"
    if not version:
        raise UsageError("package version is empty; give --pkg-version VERSION")
    if "-" in version:
        raise UsageError(f"{what}: must not contain '-' (it separates name, version and build)")
    if any(c.isspace() for c in version):
        raise UsageError(f"{what}: must not contain spaces")
    if not _VERSION.fullmatch(version):
        raise UsageError(f"{what}: only letters, digits, '_', '.', '+' and '!' are allowed")
    epoch, bang, rest = version.rpartition("!")
    if bang and not epoch.isdigit():
        raise UsageError(f"{what}: the epoch before '!' must be a number, given once")
    parts = rest.split("+")
    if len(parts) > 2:
        raise UsageError(f"{what}: at most one '+' (local version) is allowed")
    for part in parts:
        # conda accepts one trailing '_' (openssl-style versions such as 1.0.1_).
        if "" in re.split(r"[._]", part.removesuffix("_") or part):
            raise UsageError(f"{what}: has an empty component (two separators in a row?)")
    return version


def parse_build_number(value: int | str) -> int:
    """The build number, which arrives as text from the command line."""
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
    ):
        raise UsageError(f"build number {value!r}: must be a whole number, 0 or more")
    number = int(value)
    if number < 0:
        raise UsageError(f"build number {value!r}: must be a whole number, 0 or more")
    return number


def package_format(output: str | None, fmt: str | None = None) -> str:
    """The format, conda or tar.bz2, from the output's extension or the one asked for."""
    if fmt is not None and fmt.lstrip(".") not in PACKAGE_FORMATS.values():
        raise UsageError(f"package format {fmt!r}: use conda or tar.bz2")
    fmt = fmt and fmt.lstrip(".")
    if output is None:
        return fmt or "conda"
    inferred = next((f for ext, f in PACKAGE_FORMATS.items() if output.lower().endswith(ext)), None)
    if inferred is None:
        raise UsageError(f"{output}: a conda package's name must end in .conda or .tar.bz2")
    if fmt and fmt != inferred:
        raise UsageError(f"{output}: the name says {inferred}, but the format asked is {fmt}")
    return inferred


def _check_output(env: Environment, output: str, force: bool, dry_run: bool) -> None:
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        raise UsageError(f"{parent}: output directory does not exist; create it first")
    real_parent = os.path.realpath(parent)
    if real_parent == env.real_prefix or real_parent.startswith(env.real_prefix + os.sep):
        raise OutputInsideEnvironment(
            f"{output}: the package would be written inside the environment it is made from;"
            " choose an output outside it"
        )
    if os.path.isdir(output):
        raise UsageError(f"{output}: is a directory; give a file name ending in .conda")
    if os.path.lexists(output) and not force and not dry_run:
        raise OutputExists(f"{output}: already exists; use --force to overwrite it")


# --- reading the environment -------------------------------------------------------------


@dataclass(frozen=True)
class _Scanned:
    sha256: str
    size: int
    holds_prefix: bool
    binary: bool


class _Scanner:
    """sha256, size, and whether the prefix and a NUL occur, from chunks as they pass."""

    def __init__(self, needle: bytes = b"") -> None:
        self._digest = hashlib.sha256()
        self._needle = needle
        self._keep = len(needle) - 1
        self._tail = b""
        self.size = 0
        self.found = self.binary = False

    def update(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self.size += len(chunk)
        keep = self._keep
        if self._needle and not self.found:
            self.found = self._needle in chunk or (
                keep > 0 and self._needle in self._tail + chunk[:keep]
            )
            self._tail = (self._tail + chunk[-keep:])[-keep:] if keep > 0 else b""
        self.binary = self.binary or b"\0" in chunk

    def result(self) -> _Scanned:
        return _Scanned(self._digest.hexdigest(), self.size, self.found, self.binary)


def _scan(full: str) -> _Scanned:
    """Hash a file in one streamed read (files can be large): a symlink's target."""
    scanner = _Scanner(b"")
    with open_env_file(full, "packaging") as fh:
        while chunk := fh.read(CHUNK):
            scanner.update(chunk)
    return scanner.result()


class _Sizer:
    """Progress over the files' bytes, reported as the writer reads them."""

    def __init__(
        self,
        phase: str,
        total_files: int,
        total_bytes: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        self.phase, self.total_files, self.total_bytes = phase, total_files, total_bytes
        self.progress, self.cancel = progress, cancel
        self.files = self.bytes = 0

    def file(self, current: str) -> None:
        check_cancel(self.cancel)
        self._report(current)
        self.files += 1

    def read(self, n: int, current: str) -> None:
        check_cancel(self.cancel)
        self.bytes += n
        self._report(current)

    def done(self) -> None:
        self._report("")

    def _report(self, current: str) -> None:
        if self.progress is not None:
            self.progress(
                Progress(
                    self.phase,
                    self.files,
                    self.total_files,
                    self.bytes,
                    self.total_bytes,
                    current,
                )
            )


class _ScanningReader:
    """Hands a file to the writer and scans what it hands over: the one read of a file."""

    def __init__(self, fh: BinaryIO, path: str, sizer: _Sizer, needle: bytes = b"") -> None:
        self._fh, self._path, self._sizer = fh, path, sizer
        self.scanner = _Scanner(needle)

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.scanner.update(data)
        if data:
            self._sizer.read(len(data), self._path)
        return data


# --- choosing and reading the files -------------------------------------------------------


def _unrecordable(path: str) -> str | None:
    """Why conda's metadata (line-based info/files, JSON) cannot name this path, if so."""
    if "\n" in path or "\r" in path:
        return "its name holds a line break, which info/files cannot record"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8, which conda's metadata cannot record"
    return None


def _select(env: Environment) -> tuple[list[str], list[LeftOut]]:
    """Which untracked paths go in, from names and lstat alone (no contents read)."""
    kept: list[str] = []
    left_out: list[LeftOut] = []
    for path in env.untracked:
        reason = _unrecordable(path)
        if reason is None:
            kept.append(path)
        else:
            left_out.append(LeftOut(path, reason))
    left_out += [
        LeftOut(path, "not a regular file or symbolic link (a socket, pipe or device)")
        for path in env.special
        if path not in env.owners
    ]
    # Byte-code records its source's absolute path: conda's binary prefix replacement would
    # corrupt it, and Python rebuilds it from the source anyway.
    names = set(kept)
    byte_code = {p for p in kept if pyc_source(p) in names}
    left_out += [
        LeftOut(p, "byte-code of a packaged source; Python rebuilds it") for p in sorted(byte_code)
    ]
    left_out.sort(key=lambda x: x.path)
    return [p for p in kept if p not in byte_code], left_out


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def _symlink(env: Environment, path: str, st: FileStat, warnings: list[str]) -> PackagedFile:
    """A symlink as conda-build records it: its target's hash and size, links kept relative."""
    full = os.path.join(env.prefix, path)
    target = os.readlink(full)
    if os.path.isabs(target):
        norm = os.path.normpath(target)
        root = next((r for r in (env.prefix, env.real_prefix) if _inside(norm, r)), None)
        if root is None:
            warnings.append(
                f"{path}: links to {target}, outside the environment; it dangles wherever"
                " that does not exist"
            )
        else:
            relative = os.path.relpath(norm, os.path.dirname(os.path.join(root, path)))
            warnings.append(
                f"{path}: absolute link into the environment ({target}) packed as the"
                f" relative link {relative}, so that it moves with the package"
            )
            target = relative
    elif posixpath.normpath(posixpath.join(posixpath.dirname(path), target)).startswith("../"):
        warnings.append(
            f"{path}: links to {target}, which leads out of the environment; it dangles"
            " wherever that does not exist"
        )
    sha256, size = EMPTY_SHA256, 0
    if os.path.isfile(full):
        scanned = _scan(full)
        sha256, size = scanned.sha256, scanned.size
    elif not os.path.exists(full):
        warnings.append(f"{path}: dangling symbolic link to {target}; packed as it is")
    return PackagedFile(path, "symlink", size, sha256, 0o777, int(st.st_mtime), target=target)


def _packaged_file(
    env: Environment, path: str, scanned: _Scanned, warnings: list[str]
) -> PackagedFile:
    """paths.json's view of a scanned file: whether and how it holds the prefix."""
    st = env.files[path]
    prefix = env.prefix
    placeholder = file_mode = room = None
    if scanned.holds_prefix and path.endswith(".pyc"):
        warnings.append(
            f"{path}: byte-code without its source names the prefix; packed as it is"
            " (Python shows that path only in tracebacks)"
        )
    elif scanned.holds_prefix:
        placeholder = prefix
        file_mode = "binary" if scanned.binary else "text"
        if scanned.binary:
            # The room needs whole strings: read again, for these few files only.
            with open_env_file(os.path.join(prefix, path), "packaging") as fh:
                room = binary_room(fh.read(), prefix.encode("utf-8", "surrogateescape"))
            warnings.append(
                f"{path}: binary file holding the prefix; installers replace it in place, so"
                f" it cannot move to a prefix longer than {prefix} ({len(prefix.encode())} bytes)"
            )
    return PackagedFile(
        path,
        "file",
        scanned.size,
        scanned.sha256,
        stat.S_IMODE(st.st_mode),
        int(st.st_mtime),
        prefix_placeholder=placeholder,
        file_mode=file_mode,
        room=room,
    )


def _editable_warnings(env: Environment, files: list[PackagedFile]) -> list[str]:
    packed = {f.path for f in files}
    return [
        f"{dist.name} {dist.version} is an editable pip install: the package holds"
        f" only a link to its source at {dist.editable_location}"
        for dist in env.editable_distributions
        if any(_inside(p, dist.dist_info) for p in packed)
    ]


def _needle(env: Environment) -> bytes:
    return env.prefix.encode("utf-8", "surrogateescape")


def _regular(env: Environment, paths: list[str]) -> list[str]:
    return [p for p in paths if stat.S_ISREG(env.files[p].st_mode)]


def _read_files(
    env: Environment,
    paths: list[str],
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> tuple[list[PackagedFile], list[str]]:
    """Hash every file and find the ones holding the prefix, as conda-build does (for a
    dry run, and for .tar.bz2, whose info/ goes first and so must be known first)."""
    regular = _regular(env, paths)
    sizer = _Sizer(
        "scan", len(regular), sum(env.files[p].st_size for p in regular), progress, cancel
    )
    found = _add_and_scan(None, env, paths, sizer)
    sizer.done()
    return found


def _python_version(paths: list[str]) -> tuple[str, str] | None:
    """X, Y when files go into lib/pythonX.Y/site-packages (the package then needs X.Y)."""
    for path in paths:
        m = _SITE_PACKAGES.match(path)
        if m:
            return m.group(1), m.group(2)
    return None


def _arch_platform(subdir: str) -> tuple[str | None, str | None]:
    if subdir == "noarch":
        return None, None
    platform, _, machine = subdir.partition("-")
    return _ARCH.get(machine, machine), platform


def make_index(
    name: str,
    version: str,
    build_number: int,
    subdir: str,
    python: tuple[str, str] | None,
    timestamp: int,
) -> dict[str, Any]:
    """info/index.json as conda-build writes it; the build string says which Python."""
    arch, platform = _arch_platform(subdir)
    index: dict[str, Any] = {
        "arch": arch,
        "build": f"py{''.join(python)}_{build_number}" if python else str(build_number),
        "build_number": build_number,
        "depends": [f"python {'.'.join(python)}.*"] if python else [],
        "name": name,
        "platform": platform,
        "subdir": subdir,
        "timestamp": timestamp,
        "version": version,
    }
    if subdir == "noarch":
        index["noarch"] = "generic"
    return index


def _quote(text: str) -> str:
    """conda splits has_prefix lines at blanks unless a field is quoted."""
    return f'"{text}"' if any(c.isspace() for c in text) else text


def _json(data: object) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True).encode()


def make_info(
    env: Environment, index: dict[str, Any], files: list[PackagedFile]
) -> dict[str, bytes]:
    """Every info/ file, by archive name."""
    about = {
        "summary": f"made by conda-package from the untracked files of {env.name}",
        "description": f"Files that no package owned in the conda environment {env.prefix}.",
        "extra": {"created_by": f"conda-package {__version__}", "source_prefix": env.prefix},
    }
    info = {
        "info/about.json": _json(about),
        "info/files": "".join(f"{f.path}\n" for f in files).encode(),
        "info/index.json": _json(index),
        "info/paths.json": _json({"paths": [f.paths_entry() for f in files], "paths_version": 1}),
    }
    has_prefix = [
        f"{_quote(f.prefix_placeholder)} {f.file_mode} {_quote(f.path)}\n"
        for f in files
        if f.prefix_placeholder is not None
    ]
    if has_prefix:
        info["info/has_prefix"] = "".join(has_prefix).encode()
    return dict(sorted(info.items()))


# --- writing -----------------------------------------------------------------------------


def _add_info(writer: ArchiveWriter, info: dict[str, bytes], mtime: int) -> None:
    for name, data in info.items():
        writer.add(ArchiveEntry(name, "file", 0o644, mtime, len(data)), data)


def _add_files(
    writer: ArchiveWriter, env: Environment, files: list[PackagedFile], sizer: _Sizer
) -> None:
    """Files scanned before (.tar.bz2): what is written must be what was scanned."""
    for f in files:
        if f.kind == "symlink":
            check_cancel(sizer.cancel)
            writer.add(ArchiveEntry(f.path, "symlink", f.mode, f.mtime, target=f.target))
            continue
        sizer.file(f.path)
        with open_env_file(os.path.join(env.prefix, f.path), "packaging") as fh:
            reader = _ScanningReader(fh, f.path, sizer)
            writer.add(ArchiveEntry(f.path, "file", f.mode, f.mtime, f.size), reader)  # type: ignore[arg-type]
        if reader.scanner.result().sha256 != f.sha256:
            raise ChangedWhilePackaging(
                f"{f.path} changed while it was being packaged; nothing was written, run again"
            )


def _add_and_scan(
    writer: ArchiveWriter | None, env: Environment, paths: list[str], sizer: _Sizer
) -> tuple[list[PackagedFile], list[str]]:
    """Learn what paths.json says of each file, in one read that also writes the file when
    there is a writer (.conda: its info/ is a tarball of its own, written after the files)."""
    warnings: list[str] = []
    files: list[PackagedFile] = []
    needle = _needle(env)
    for path in paths:
        st = env.files[path]
        if stat.S_ISLNK(st.st_mode):
            check_cancel(sizer.cancel)
            link = _symlink(env, path, st, warnings)
            if writer is not None:
                entry = ArchiveEntry(path, "symlink", link.mode, link.mtime, target=link.target)
                writer.add(entry)
            files.append(link)
            continue
        sizer.file(path)
        with open_env_file(os.path.join(env.prefix, path), "packaging") as fh:
            reader = _ScanningReader(fh, path, sizer, needle)
            if writer is None:
                while reader.read(CHUNK):
                    pass
            else:
                entry = ArchiveEntry(
                    path, "file", stat.S_IMODE(st.st_mode), int(st.st_mtime), st.st_size
                )
                writer.add(entry, reader)  # type: ignore[arg-type]
        files.append(_packaged_file(env, path, reader.scanner.result(), warnings))
    return files, warnings + _editable_warnings(env, files)


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


def _install(built: str, output: str, sizer: _Sizer) -> None:
    """Rename the finished package into place, durably: nothing half-written is ever seen."""
    sizer.done()
    check_cancel(sizer.cancel)
    install_output(built, output)


def _write_conda(
    env: Environment,
    output: str,
    paths: list[str],
    index: dict[str, Any],
    level: int,
    threads: int,
    sizer: _Sizer,
) -> tuple[list[PackagedFile], list[str], dict[str, bytes]]:
    """The pkg tarball first, each file read once for both the archive and paths.json;
    then the info tarball made from what that read found."""
    mtime = index["timestamp"] // 1000
    stem = os.path.basename(output)[: -len(".conda")]  # installers find parts by this name
    with _building(output) as temp:
        pkg, info_part = os.path.join(temp, "pkg.tar.zst"), os.path.join(temp, "info.tar.zst")
        with open_writer(pkg, "tar.zst", level=level, threads=threads) as w:
            files, warnings = _add_and_scan(w, env, paths, sizer)
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


def _write_tar_bz2(
    env: Environment,
    output: str,
    files: list[PackagedFile],
    info: dict[str, bytes],
    mtime: int,
    level: int,
    threads: int,
    sizer: _Sizer,
) -> None:
    with _building(output) as temp:
        built = os.path.join(temp, "package.tar.bz2")
        with open_writer(built, "tar.bz2", level=level, threads=threads) as w:
            _add_info(w, info, mtime)  # first, so readers find the metadata early
            _add_files(w, env, files, sizer)
            w.commit()
        _install(built, output, sizer)


# --- the API -----------------------------------------------------------------------------


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
    fmt = package_format(output, fmt)
    if fmt == "conda":
        level = DEFAULT_ZSTD_LEVEL if level is None else level
        if not 1 <= level <= 22:
            raise UsageError(f"zstd compression level {level}: must be between 1 and 22")
    else:
        level = validate_level("tar.bz2", level)
    assert level is not None  # both formats compress
    if threads < 0:
        raise UsageError(f"threads {threads}: must be 0 (one per CPU) or more")
    subdir = check_subdir(subdir) if subdir else env.subdir

    paths, left_out = _select(env)
    if not paths:
        if not env.untracked:
            raise NothingToPackage(
                f"{env.prefix}: no untracked files, so there is nothing to package"
            )
        raise NothingToPackage(
            f"{env.prefix}: none of the {len(env.untracked)} untracked files can be packaged"
            f" ({left_out[0].path}: {left_out[0].reason})"
        )
    python = _python_version(paths)
    mtimes = [int(env.files[p].st_mtime) for p in paths]
    index = make_index(name, version, number, subdir, python, max(mtimes) * 1000)
    dist = f"{name}-{version}-{index['build']}"
    ext = ".conda" if fmt == "conda" else ".tar.bz2"
    output = os.path.abspath(output or f"{dist}{ext}")
    _check_output(env, output, force, dry_run)

    regular = _regular(env, paths)
    if fmt == "conda" and not dry_run:
        sizer = _Sizer(
            "write", len(regular), sum(env.files[p].st_size for p in regular), progress, cancel
        )
        files, warnings, info = _write_conda(env, output, paths, index, level, threads, sizer)
    else:
        files, warnings = _read_files(env, paths, progress, cancel)
        info = make_info(env, index, files)
    if os.path.basename(output) != dist + ext:
        warnings.append(
            f"{os.path.basename(output)}: installers expect the file to be named {dist}{ext}"
        )
    result = PackageResult(
        output,
        fmt,
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
    if fmt != "conda":
        written = [f for f in files if f.kind == "file"]
        sizer = _Sizer("write", len(written), sum(f.size for f in written), progress, cancel)
        mtime = index["timestamp"] // 1000
        _write_tar_bz2(env, output, files, info, mtime, level, threads, sizer)
    return dataclasses.replace(result, size=os.path.getsize(output))
