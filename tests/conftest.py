"""Fixtures: real conda environments, installed offline with py-rattler, once per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pkgbuild import BINARY_PLACEHOLDER, PLACEHOLDER, make_tar_bz2, make_wheel
from realenv import install, make_channel, package_names, shared_pkgs_dir

NO_PKGS = (
    "the real conda packages are absent (../shared/conda-pkgs, or set CONDA_PACKAGE_TEST_PKGS)"
)


class EnvFactory:
    """Installs environments from one channel and one warm package cache."""

    def __init__(self, channel: Path, cache: Path, root: Path, specs: list[str]):
        self.channel, self.cache, self.root, self.specs = channel, cache, root, specs
        self.count = 0

    def __call__(self, name: str | None = None, cache: Path | None = None) -> Path:
        """A new environment; pass its own `cache` to delete the cache afterwards."""
        self.count += 1
        prefix = self.root / (name or f"env{self.count}")
        return install(self.channel, self.specs, prefix, cache or self.cache)


@pytest.fixture(scope="session")
def real_env_factory(tmp_path_factory) -> EnvFactory:
    """Makes fresh copies of the real environment (about 2 s each once the cache is warm)."""
    pkgs = shared_pkgs_dir()
    if pkgs is None:
        pytest.skip(NO_PKGS)
    work = tmp_path_factory.mktemp("real")
    packages = [p for p in sorted(pkgs.iterdir()) if p.name.endswith((".conda", ".tar.bz2"))]
    channel = make_channel(packages, work / "channel")
    return EnvFactory(channel, work / "pkgs", work / "envs", package_names(pkgs))


@pytest.fixture(scope="session")
def mixed_env_factory(tmp_path_factory) -> Callable[[list[str], str], Path]:
    """Environments of real python (and pip) with packages the tests build: a `conda` that
    owns bin/conda and bin/activate, and pure-Python libraries with conda-style dist-infos."""
    from fakeconda import make_conda_package, make_python_package

    pkgs = shared_pkgs_dir()
    if pkgs is None:
        pytest.skip(NO_PKGS)
    work = tmp_path_factory.mktemp("mixed")
    built = work / "built"
    built.mkdir()
    make_conda_package(built)
    make_python_package(built, "foo", "1.0", {"foo/__init__.py": "VERSION = '1.0'\n"})
    make_python_package(built, "bar", "1.0", {"bar/__init__.py": "", "bar/core.py": "X = 1\n"})
    make_python_package(built, "qux", "1.0", {"qux.py": "Q = 1\n"})
    make_python_package(
        built, "corge", "1.0", {"corge/__init__.py": "", "corge/data.py": "D = 1\n"}
    )
    packages = [p for p in sorted(pkgs.iterdir()) if p.name.endswith((".conda", ".tar.bz2"))]
    channel = make_channel(packages + sorted(built.iterdir()), work / "channel")

    def make(specs: list[str], name: str) -> Path:
        return install(channel, specs, work / "envs" / name, work / "pkgs")

    return make


@pytest.fixture(scope="session")
def real_env(real_env_factory) -> Path:
    """The real environment, shared by every test that only reads it. Do not modify it."""
    return real_env_factory("shared")


def _binary_with_prefix(text: str) -> bytes:
    return b"\x7fELF-not-really\0" + text.encode() + b"/lib\0\0\0" + b"tail\0"


@pytest.fixture(scope="session")
def small_channel(tmp_path_factory) -> Path:
    """A channel of packages the tests build themselves (no ../shared needed)."""
    pytest.importorskip("rattler")
    work = tmp_path_factory.mktemp("small")
    out = work / "built"
    out.mkdir()
    script = f"#!{PLACEHOLDER}/bin/tool-sh\necho tool from {PLACEHOLDER}\n".encode()
    make_tar_bz2(
        out,
        "tool",
        "1.0",
        {
            "bin/tool": script,
            "share/tool/config.txt": f"prefix={PLACEHOLDER}\n".encode(),
            "lib/libtool.so": _binary_with_prefix(BINARY_PLACEHOLDER),
            "share/tool/readme.txt": b"plain\n",
        },
        text_prefix=("bin/tool", "share/tool/config.txt"),
        binary_prefix=("lib/libtool.so",),
    )
    make_tar_bz2(
        out,
        "data",
        "2.1",
        {"share/data/a.txt": b"a\n", "share/data/b.txt": b"b\n"},
        subdir="noarch",
    )
    return make_channel(sorted(out.iterdir()), work / "channel")


@pytest.fixture
def small_env(small_channel, tmp_path) -> Path:
    """A fresh environment of the tests' own packages, per test (fast: two tiny packages)."""
    return install(
        small_channel, ["tool", "data"], tmp_path / "small-env", small_channel.parent / "pkgs"
    )


@pytest.fixture(scope="session")
def demo_wheel(tmp_path_factory) -> Path:
    """A py3 wheel with a console script, for `pip install` into the real environment."""
    out = tmp_path_factory.mktemp("wheel")
    return make_wheel(
        out,
        "hello_cp",
        "0.3",
        {"hello_cp/__init__.py": "def main():\n    print('hello from hello_cp')\n"},
        {"hello-cp": "hello_cp:main"},
    )


def pip_install(prefix: Path, wheel: Path) -> None:
    subprocess.run(
        [
            str(prefix / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--disable-pip-version-check",
            "-q",
            str(wheel),
        ],
        check=True,
    )


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None):
    """Run the real `conda-package` entry point in a subprocess (a hang fails the test)."""
    exe = shutil.which("conda-package") or str(Path(sys.executable).with_name("conda-package"))
    return subprocess.run(
        [exe, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        input=input,
        timeout=300,
    )


def build_program(prefix: Path, work: Path, rpath_tag: str = "RUNPATH") -> Path:
    """bin/prog linked to lib/libfoo.so with an absolute RPATH (or RUNPATH) into the
    prefix, compiled here with cc: a real ELF pair to relocate. It prints foo=42."""
    lib = prefix / "lib"
    (work / "foo.c").write_text("int foo(void) { return 42; }\n")
    (work / "prog.c").write_text(
        '#include <stdio.h>\nint foo(void);\nint main(void) { printf("foo=%d\\n", foo()); }\n'
    )
    subprocess.run(["cc", "-shared", "-fPIC", "-o", lib / "libfoo.so", work / "foo.c"], check=True)
    tags = ["-Wl,--disable-new-dtags"] if rpath_tag == "RPATH" else []
    prog = prefix / "bin" / "prog"
    link = ["cc", "-o", prog, work / "prog.c", f"-L{lib}", "-lfoo", f"-Wl,-rpath,{lib}", *tags]
    subprocess.run(link, check=True)
    return prog
