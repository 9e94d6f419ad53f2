"""--fix-rpath: an absolute RPATH into the prefix becomes $ORIGIN-relative in the archive."""

from __future__ import annotations

import shutil
import subprocess
import tarfile

import pytest
from conda_package.core.analyse.elf import read_elf
from conftest import cli

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc)")


def test_program_runs_from_new_place(small_env, tmp_path):
    lib, bin_ = small_env / "lib", small_env / "bin"
    (tmp_path / "foo.c").write_text("int foo(void) { return 42; }\n")
    (tmp_path / "prog.c").write_text(
        '#include <stdio.h>\nint foo(void);\nint main(void) { printf("foo=%d\\n", foo()); }\n'
    )
    subprocess.run(["cc", "-shared", "-fPIC", "-o", lib / "libfoo.so", tmp_path / "foo.c"],
                   check=True)  # fmt: skip
    subprocess.run(
        ["cc", "-o", bin_ / "prog", tmp_path / "prog.c", f"-L{lib}", "-lfoo",
         f"-Wl,-rpath,{lib}", "-Wl,--disable-new-dtags"],
        check=True,
    )  # fmt: skip
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
