"""Environments with conda in them (every base environment): bin/conda, bin/activate and
bin/deactivate belong to the conda package, are packed, and activation still works."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from conda_package.core import Environment
from conftest import cli
from fakeconda import conda_package_files
from pkgbuild import PLACEHOLDER

SAVED = "conda-meta/conda-package/saved"
CLEAN = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def conda_env(mixed_env_factory) -> Path:
    return mixed_env_factory(["python", "conda"], "with-conda")


def but_launcher(data: bytes) -> bytes:
    """The bytes but a Python script's first line: the archive starts such a script with a
    launcher that runs the Python beside it (README: What goes into the archive)."""
    if data.startswith(b"#!/bin/sh\n'''exec' "):
        return b"#!\n" + data.split(b"\n' '''\n", 1)[1]
    if data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
        return b"#!\n" + data.split(b"\n", 1)[1]
    return data


def relocated(path: str, prefix: Path) -> bytes:
    """What conda installs at `prefix` for the conda package's file."""
    return conda_package_files()[path].replace(PLACEHOLDER.encode(), str(prefix).encode())


def shell(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=CLEAN, cwd="/"
    )


def pack_and_extract(env: Path, tmp_path: Path, dest: Path, *extra: str) -> list[str]:
    out = tmp_path / "env.tar.gz"
    done = cli("-p", env, "-o", out, *extra)
    assert done.returncode == 0, done.stderr
    with tarfile.open(out) as tf:
        names = tf.getnames()
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(out), "-C", str(dest)], check=True)
    return names


def test_conda_files_are_the_packages_not_missing(conda_env: Path) -> None:
    env = Environment.load(str(conda_env))
    assert not env.missing
    for path in ("bin/conda", "bin/activate", "bin/deactivate"):
        assert env.owner(path).name == "conda"
        assert path not in env.untracked


def test_an_unowned_bin_activate_is_still_left_out(small_env: Path) -> None:
    (small_env / "bin" / "activate").write_text("# left by another tool\n")
    env = Environment.load(str(small_env))
    assert "bin/activate" not in env.files and "bin/activate" not in env.untracked


def test_packed_without_relocation(conda_env: Path, tmp_path: Path) -> None:
    dest = tmp_path / "moved" / "base"
    names = pack_and_extract(conda_env, tmp_path, dest)
    assert {"bin/conda", "bin/activate", "bin/deactivate"} <= set(names)
    assert f"{SAVED}/bin/activate" in names and f"{SAVED}/bin/deactivate" in names
    # bin/activate is ours: it relocates first. conda's travels as the package shipped it.
    assert b"conda-unpack" in (dest / "bin/activate").read_bytes()
    assert (dest / SAVED / "bin/activate").read_bytes() == conda_package_files()["bin/activate"]

    done = shell(
        f'. "{dest}/bin/activate" && echo "PREFIX=$CONDA_PREFIX" && command -v python'
        " && conda info --json"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"PREFIX={dest}"
    assert lines[1] == f"{dest}/bin/python"
    assert json.loads(lines[2])["sys.prefix"] == str(dest)
    for path in ("bin/conda", "etc/profile.d/conda.sh"):
        assert but_launcher((dest / path).read_bytes()) == but_launcher(relocated(path, dest))
    # conda's own activate, relocated with the rest, now works from where it is kept.
    assert (dest / SAVED / "bin/activate").read_bytes() == relocated("bin/activate", dest)


def test_packed_with_relocate_prefix_keeps_condas_activate(conda_env: Path, tmp_path: Path) -> None:
    dest = tmp_path / "opt" / "base"
    names = pack_and_extract(conda_env, tmp_path, dest, "--relocate-prefix", dest)
    assert "bin/conda-package-activate" in names and "bin/conda-package-deactivate" in names
    assert not any(name.startswith(SAVED) for name in names)
    for path in ("bin/conda", "bin/activate", "bin/deactivate", "etc/profile.d/conda.sh"):
        assert but_launcher((dest / path).read_bytes()) == but_launcher(relocated(path, dest))

    # conda's own bin/activate: conda.sh, then `conda activate` through bin/conda's Python.
    done = shell(
        f'. "{dest}/bin/activate" && echo "PREFIX=$CONDA_PREFIX SHLVL=$CONDA_SHLVL"'
        ' && python -c "import sys; print(sys.prefix)"'
        f' && . "{dest}/bin/deactivate" && echo "AFTER=${{CONDA_PREFIX:-unset}}"'
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"PREFIX={dest} SHLVL=1", str(dest), "AFTER=unset"]

    # conda-package's, beside it, works too.
    done = shell(
        f'. "{dest}/bin/conda-package-activate" && echo "$CONDA_PREFIX" && conda info --json'
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == str(dest) and json.loads(second)["sys.prefix"] == str(dest)
