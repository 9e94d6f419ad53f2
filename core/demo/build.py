"""The demo environment: a small conda prefix conda-package builds itself, offline.

A newcomer without conda still sees every view do its work. The demo is "installed" the
way conda links packages: package bytes with placeholders, replaced by the prefix (text
files everywhere, binary files by conda's NUL-padding rule), records with `paths_data`,
`sha256` and `sha256_in_prefix`. Then a user's afterlife is played on top: a pip-style
install, a hand-made symlink, an edited file and a deleted one. Each thing the analysis
should find is listed in DEMO_FINDINGS, and tests hold the analysis to exactly that list.

Everything is fixed (bytes, modes, times) except the prefix, so screenshots and snapshot
tests made from a demo at a fixed path are the same on every machine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from dataclasses import dataclass

from ..errors import CondaPackageError
from ..load import DEMO_MARKER, is_demo
from ..unpack import replace_binary, replace_text
from .elfwrite import ElfSpec, build_elf

DEMO_NAME = "conda-package-demo"
# conda's text placeholder, and a binary one as long as conda-build's (255 bytes).
TEXT_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
BINARY_PLACEHOLDER = ("/opt/conda/conda-bld/demo-libs_1715000000000/_h_env" + "_placehold" * 21)[
    :255
]
# 2024-05-06 07:08:09 UTC: every file, folder and record carries this time.
MTIME = 1714979289
CHANNEL = "https://conda.anaconda.org/conda-package-demo"
SUBDIR = "linux-64"
PYTHON_SITE = "lib/python3.12/site-packages"
_INTERPRETER = b"/lib64/ld-linux-x86-64.so.2"

# (code, path): what `conda-package --check` reports on the demo, and nothing more.
DEMO_FINDINGS: tuple[tuple[str, str], ...] = (
    # a user's `ln -s $CONDA_PREFIX/bin/demo-hello bin/demo-latest`: dangles once moved
    ("symlink-absolute-into-prefix", "bin/demo-latest"),
    # bin/demo-tool needs the library the user deleted
    ("needed-not-found", "bin/demo-tool"),
    ("missing-file", "lib/libdemo-plugins.so.1"),
    # edited after install, and now holding the prefix: packed as is, relocated by search
    ("modified-file", "etc/demo/demo.conf"),
    # a pip-installed extension built against /usr/local/lib
    ("rpath-outside-prefix", f"{PYTHON_SITE}/demo_greet/_speedups.cpython-312-x86_64-linux-gnu.so"),
    # an absolute RUNPATH into the prefix that the package's placeholder relocates
    ("rpath-absolute-into-prefix", "lib/libdemo.so.1"),
)


class DemoError(CondaPackageError):
    """The demo cannot be made at the given path."""


@dataclass(frozen=True)
class _File:
    """One file of a package, as the package ships it (placeholders, not the prefix)."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    file_mode: str | None = None  # "text" or "binary" when it holds a placeholder
    link: str | None = None  # a relative symlink's target

    @property
    def placeholder(self) -> str | None:
        if self.file_mode == "binary":
            return BINARY_PLACEHOLDER
        return TEXT_PLACEHOLDER if self.file_mode == "text" else None


@dataclass(frozen=True)
class _Package:
    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    depends: tuple[str, ...]
    license: str
    files: tuple[_File, ...]

    @property
    def dist(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


def _packages() -> tuple[_Package, ...]:
    binary = BINARY_PLACEHOLDER.encode()
    libdemo = build_elf(
        ElfSpec(
            soname=b"libdemo.so.1",
            runpath=binary + b"/lib",
            rodata=(b"demo-libs 1.2.0", binary + b"/share/demo-libs"),
        )
    )
    plugins = build_elf(ElfSpec(soname=b"libdemo-plugins.so.1", rodata=(b"demo plugins",)))
    tool = build_elf(
        ElfSpec(
            needed=(b"libdemo.so.1", b"libdemo-plugins.so.1", b"libc.so.6"),
            runpath=b"$ORIGIN/../lib",
            interpreter=_INTERPRETER,
            rodata=(b"demo-tool 0.4.1",),
        )
    )
    rows = "".join(f"{i},station-{i:03d},{(i * 37) % 101 - 50}.{i % 10}\n" for i in range(400))
    return (
        _Package(
            "demo-data",
            "2024.5",
            "pyhd8ed1ab_0",
            0,
            "noarch",
            (),
            "CC-BY-4.0",
            (
                _File("share/demo-data/README.txt", b"Readings from 400 made-up stations.\n"),
                _File("share/demo-data/readings.csv", f"id,station,value\n{rows}".encode()),
            ),
        ),
        _Package(
            "demo-libs",
            "1.2.0",
            "h5e1f3a9_0",
            0,
            SUBDIR,
            (),
            "MIT",
            (
                _File("lib/libdemo.so", link="libdemo.so.1"),
                _File("lib/libdemo.so.1", libdemo, 0o755, "binary"),
                _File("lib/libdemo-plugins.so.1", plugins, 0o755),
                _File(
                    "share/demo-libs/NOTICE",
                    b"libdemo: a library that only exists to be packed.\n",
                ),
            ),
        ),
        _Package(
            "demo-tools",
            "0.4.1",
            "hb2c4d6e_1",
            1,
            SUBDIR,
            ("demo-libs >=1.2.0,<2.0a0",),
            "BSD-3-Clause",
            (
                _File("bin/demo-tool", tool, 0o755),
                _File(
                    "bin/demo-sh",
                    b"#!/bin/sh\n# The demo's interpreter: runs scripts with the system shell.\n"
                    b'exec /bin/sh "$@"\n',
                    0o755,
                ),
                _File(
                    "bin/demo-hello",
                    f"#!{TEXT_PLACEHOLDER}/bin/demo-sh\n"
                    f'echo "demo-hello runs from {TEXT_PLACEHOLDER}"\n'.encode(),
                    0o755,
                    "text",
                ),
                _File("etc/demo/demo.conf", b"greeting = hello\n"),
                _File(
                    "share/demo-tools/paths.txt",
                    f"data = {TEXT_PLACEHOLDER}/share/demo-data\n".encode(),
                    file_mode="text",
                ),
            ),
        ),
    )


def _installed(file: _File, prefix: str) -> bytes:
    """What conda's linking writes: the placeholder replaced by the prefix."""
    if file.placeholder is None:
        return file.data
    replace = replace_binary if file.file_mode == "binary" else replace_text
    return replace(file.data, file.placeholder.encode(), prefix.encode())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(prefix: str, path: str, data: bytes, mode: int = 0o644) -> None:
    full = os.path.join(prefix, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as fh:
        fh.write(data)
    os.chmod(full, mode)


def _link_package(prefix: str, package: _Package) -> None:
    """Install one package's files and write its conda-meta record as conda does."""
    paths = []
    for file in package.files:
        full = os.path.join(prefix, file.path)
        if file.link is not None:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            os.symlink(file.link, full)
            target = next(f for f in package.files if f.path.endswith("/" + file.link))
            entry: dict[str, str | int] = {"_path": file.path, "path_type": "softlink"}
            entry.update(sha256=_sha256(target.data), size_in_bytes=len(target.data))
            paths.append(entry)
            continue
        installed = _installed(file, prefix)
        _write(prefix, file.path, installed, file.mode)
        entry = {"_path": file.path, "path_type": "hardlink", "sha256": _sha256(file.data)}
        if file.placeholder is not None and file.file_mode is not None:
            entry.update(file_mode=file.file_mode, prefix_placeholder=file.placeholder)
        entry.update(sha256_in_prefix=_sha256(installed), size_in_bytes=len(file.data))
        paths.append(entry)
    cache = f"/opt/conda/pkgs/{package.dist}"  # a package cache that `conda clean` emptied
    record = {
        "build": package.build,
        "build_number": package.build_number,
        "channel": f"{CHANNEL}/{package.subdir}",
        "constrains": [],
        "depends": list(package.depends),
        "extracted_package_dir": cache,
        "files": [f.path for f in package.files],
        "fn": f"{package.dist}.conda",
        "license": package.license,
        "link": {"source": cache, "type": 1},
        "name": package.name,
        "noarch": "generic" if package.subdir == "noarch" else None,
        "package_tarball_full_path": f"{cache}.conda",
        "paths_data": {"paths": paths, "paths_version": 1},
        "requested_spec": package.name if package.name == "demo-tools" else "",
        "subdir": package.subdir,
        "timestamp": MTIME * 1000,
        "url": f"{CHANNEL}/{package.subdir}/{package.dist}.conda",
        "version": package.version,
    }
    if record["noarch"] is None:
        del record["noarch"]
    _write(prefix, f"conda-meta/{package.dist}.json", json.dumps(record, indent=2).encode() + b"\n")


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _pip_install(prefix: str) -> None:
    """What `pip install demo-greet` leaves: files no conda record owns, and a RECORD."""
    dist_info = "demo_greet-0.1.dist-info"
    speedups = build_elf(
        ElfSpec(
            needed=(b"libc.so.6",),
            runpath=b"/usr/local/lib",
            rodata=(b"demo_greet._speedups",),
        )
    )
    script = (
        f"#!{prefix}/bin/python3.12\n"
        "# -*- coding: utf-8 -*-\n"
        "import re\nimport sys\nfrom demo_greet import main\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit(main())\n"
    ).encode()
    files = {
        "demo_greet/__init__.py": b'def main():\n    print("hello from demo-greet")\n',
        "demo_greet/_speedups.cpython-312-x86_64-linux-gnu.so": speedups,
        f"{dist_info}/INSTALLER": b"pip\n",
        f"{dist_info}/METADATA": b"Metadata-Version: 2.1\nName: demo-greet\nVersion: 0.1\n",
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: demo\nRoot-Is-Purelib: false\n"
        b"Tag: cp312-cp312-linux_x86_64\n",
        f"{dist_info}/entry_points.txt": b"[console_scripts]\ndemo-greet = demo_greet:main\n",
        "../../../bin/demo-greet": script,
    }
    lines = []
    for path, data in files.items():
        mode = 0o755 if path.endswith((".so", "bin/demo-greet")) else 0o644
        _write(prefix, os.path.normpath(os.path.join(PYTHON_SITE, path)), data, mode)
        lines.append(_record_line(path, data))
    lines.append(f"{dist_info}/RECORD,,")
    _write(prefix, f"{PYTHON_SITE}/{dist_info}/RECORD", ("\n".join(sorted(lines)) + "\n").encode())


def _afterlife(prefix: str, packages: tuple[_Package, ...]) -> None:
    """What happens to an environment once conda has installed it."""
    _pip_install(prefix)
    bin_dir = os.path.join(prefix, "bin")
    os.symlink(os.path.join(bin_dir, "demo-hello"), os.path.join(bin_dir, "demo-latest"))
    with open(os.path.join(prefix, "etc", "demo", "demo.conf"), "ab") as fh:
        fh.write(f"cache_dir = {prefix}/var/cache/demo\n".encode())
    os.remove(os.path.join(prefix, "lib", "libdemo-plugins.so.1"))
    history = (
        f"==> 2024-05-06 07:08:09 <==\n# cmd: conda create -n {DEMO_NAME} demo-tools\n"
        "# conda version: 24.4.0\n"
        + "".join(f"+{CHANNEL.rsplit('/', 1)[1]}::{p.dist}\n" for p in packages)
        + "# update specs: ['demo-tools']\n"
    )
    _write(prefix, "conda-meta/history", history.encode())
    _write(
        prefix,
        DEMO_MARKER,
        b"This environment is a demo made by conda-package (--demo / --demo-env).\n"
        b"Its packages exist nowhere else; remove the folder when done with it.\n",
    )


def _fix_metadata(prefix: str) -> None:
    """Times and folder modes are on screen: the same whatever the clock and umask."""
    for root, dirs, files in os.walk(prefix, topdown=False):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files + dirs:
            os.utime(os.path.join(root, name), (MTIME, MTIME), follow_symlinks=False)
    os.chmod(prefix, 0o755)
    os.utime(prefix, (MTIME, MTIME))


def create_demo(prefix: str) -> str:
    """Make the demo at `prefix` (a new or empty folder, or an earlier demo, which is
    replaced) and return its absolute path; on any error nothing is left there."""
    prefix = os.path.abspath(os.path.expanduser(prefix))
    try:
        size = len(prefix.encode())
    except UnicodeEncodeError:
        raise DemoError(
            f"{prefix!r}: not valid UTF-8, which conda's records cannot hold; choose another path"
        ) from None
    if size > len(BINARY_PLACEHOLDER):  # as long is fine: conda's rule pads with NULs
        raise DemoError(
            f"{prefix}: too long for the demo's binary placeholder"
            f" ({len(BINARY_PLACEHOLDER)} bytes); choose a shorter path"
        )
    if os.path.lexists(prefix):
        if os.path.islink(prefix) or not os.path.isdir(prefix):
            raise DemoError(f"{prefix}: exists and is not a folder; choose a new path")
        if is_demo(prefix):
            shutil.rmtree(prefix)
        elif os.listdir(prefix):
            raise DemoError(
                f"{prefix}: exists and is not empty (nor an earlier demo); choose a new path"
            )
    first_new = _first_missing(prefix)  # what a failure removes, parents made for it included
    try:
        os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
        packages = _packages()
        for package in packages:
            _link_package(prefix, package)
        _afterlife(prefix, packages)
        _fix_metadata(prefix)
    except BaseException:
        if first_new is not None:
            shutil.rmtree(first_new, ignore_errors=True)
        else:  # the user's empty folder stays, empty again
            for name in os.listdir(prefix):
                full = os.path.join(prefix, name)
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full, ignore_errors=True)
                else:
                    os.remove(full)
        raise
    return prefix


def _first_missing(path: str) -> str | None:
    """The outermost folder of `path` that does not exist yet (None: `path` exists)."""
    if os.path.lexists(path):
        return None
    while not os.path.lexists(os.path.dirname(path)):
        path = os.path.dirname(path)
    return path
