"""--fix-rpath: an absolute RPATH into the prefix becomes $ORIGIN-relative in the archive."""

from __future__ import annotations

import shutil
import subprocess
import tarfile

import pytest
from conda_package.core.analyse.elf import read_elf
from conftest import build_program, cli

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc)")


def test_program_runs_from_new_place(small_env, tmp_path):
    lib, bin_ = small_env / "lib", small_env / "bin"
    build_program(small_env, tmp_path, "RPATH")
    archive = tmp_path / "env.tar.gz"
    r = cli("-p", small_env, "-o", archive, "--fix-rpath")
    assert r.returncode == 0, r.stderr
    assert f"fixed RPATH of bin/prog: {lib} -> $ORIGIN/../lib" in r.stderr
    assert read_elf((bin_ / "prog").read_bytes()).rpath == (str(lib),)  # source untouched

    target = tmp_path / "elsewhere" / "env"
    target.mkdir(parents=True)
    with tarfile.open(archive) as tf:
        tf.extractall(target, filter="tar")
    shutil.rmtree(small_env)  # the old place is gone: only $ORIGIN can find libfoo
    assert read_elf((target / "bin" / "prog").read_bytes()).rpath == ("$ORIGIN/../lib",)
    out = subprocess.run([target / "bin" / "prog"], capture_output=True, text=True)
    assert out.stdout == "foo=42\n", out.stderr
