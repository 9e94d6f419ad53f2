"""conda-pack's documented command lines, run unchanged as `conda-package ...` on the real
environment: each succeeds, the archive extracts with the real tools, and python runs from
the new place (after activation, or directly where the archive was relocated at pack time).

The lines come from conda-pack 0.9.2's documentation (its index, Spark, dask-yarn and
parcel pages) and from its --help: every option and every format name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from conftest import cli

# How the output is used: extracted and activated; moved and activated (a directory);
# extracted where --dest-prefix said and run as is; unpacked into the parcel root; a
# squashfs image's files copied out with unsquashfs (as a mount shows them) and activated.
Use = Literal["activate", "directory", "relocated", "parcel", "image"]


@dataclass(frozen=True)
class Line:
    args: tuple[str, ...]  # after `conda-pack`; {NAME} {PREFIX} {DEST} {PARCELS} filled in
    output: str  # what it writes, in the working directory
    use: Use = "activate"
    arcroot: str = ""
    activated: bool = False  # run as in an activated environment ($CONDA_PREFIX set)


LINES = {
    # the index page
    "name": Line(("-n", "{NAME}"), "{NAME}.tar.gz"),
    "name-output": Line(("-n", "{NAME}", "-o", "out_name.tar.gz"), "out_name.tar.gz"),
    "prefix": Line(("-p", "{PREFIX}"), "{NAME}.tar.gz"),
    "long-options": Line(("--name", "{NAME}", "--output", "my_env.tar.gz"), "my_env.tar.gz"),
    # Spark and dask-yarn pages: the environment is the activated one
    "spark": Line(("-f", "-o", "pyspark_conda_env.tar.gz"), "pyspark_conda_env.tar.gz",
                  activated=True),
    "dask-yarn": Line(("-o", "environment.tar.gz"), "environment.tar.gz", activated=True),
    # --help: every format name
    **{
        f"format-{fmt}": Line(("-p", "{PREFIX}", "--format", fmt, "-o", f"env.{ext}"), f"env.{ext}")
        for fmt, ext in (
            ("zip", "zip"), ("tar.gz", "tar.gz"), ("tgz", "tgz"), ("tar.bz2", "tar.bz2"),
            ("tbz2", "tbz2"), ("tar.xz", "tar.xz"), ("txz", "txz"), ("tar.zst", "tar.zst"),
            ("tzst", "tzst"), ("tar", "tar"),
        )
    },
    "format-infer": Line(("-p", "{PREFIX}", "--format", "infer", "-o", "env.tgz"), "env.tgz"),
    "format-no-archive": Line(("-p", "{PREFIX}", "--format", "no-archive", "-o", "env-dir"),
                              "env-dir", use="directory"),
    "format-parcel": Line(
        ("-p", "{PREFIX}", "--format", "parcel", "--parcel-root", "{PARCELS}",
         "--parcel-name", "example", "--parcel-version", "1.0", "--parcel-distro", "el7"),
        "example-1.0-el7.parcel", use="parcel",
    ),
    # --help: every other option
    "arcroot": Line(("-p", "{PREFIX}", "--arcroot", "my_env", "-o", "a.tar.gz"), "a.tar.gz",
                    arcroot="my_env"),
    "dest-prefix": Line(("-p", "{PREFIX}", "--dest-prefix", "{DEST}", "-o", "d.tar.gz"),
                        "d.tar.gz", use="relocated"),
    "d": Line(("-p", "{PREFIX}", "-d", "{DEST}", "-o", "d.tar.gz"), "d.tar.gz", use="relocated"),
    "compress-level": Line(("-p", "{PREFIX}", "--compress-level", "9", "-o", "c.tar.gz"),
                           "c.tar.gz"),
    "compress-level-tar": Line(("-p", "{PREFIX}", "--format", "tar", "--compress-level", "4",
                                "-o", "c.tar"), "c.tar"),  # conda-pack ignores it: so do we
    "format-squashfs": Line(("-p", "{PREFIX}", "--format", "squashfs", "-o", "env.squashfs"),
                            "env.squashfs", use="image"),
    "n-threads": Line(("-p", "{PREFIX}", "--n-threads", "2", "-o", "t.tar.gz"), "t.tar.gz"),
    "j-all": Line(("-p", "{PREFIX}", "-j", "-1", "-o", "t.tar.gz"), "t.tar.gz"),
    "zip-symlinks": Line(("-p", "{PREFIX}", "--zip-symlinks", "-o", "s.zip"), "s.zip"),
    "no-zip-64": Line(("-p", "{PREFIX}", "--no-zip-64", "-o", "s.zip"), "s.zip"),
    "ignore": Line(("-p", "{PREFIX}", "--ignore-editable-packages", "--ignore-missing-files",
                    "-o", "i.tar.gz"), "i.tar.gz"),
    "exclude-include": Line(
        ("-p", "{PREFIX}", "--exclude", "*.a", "--exclude", "lib/python3.7/lib2to3/*",
         "--include", "lib/python3.7/lib2to3/__init__.py", "-o", "x.tar.gz"), "x.tar.gz",
    ),
    "quiet-force": Line(("-p", "{PREFIX}", "-q", "--force", "-o", "q.tar.gz"), "q.tar.gz"),
}  # fmt: skip

CHECK = "import os, ssl, sqlite3, sys; ssl.create_default_context(); print(sys.prefix)"


def extract(archive: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".zip":
        if shutil.which("unzip") is None:
            pytest.skip("unzip is not installed")
        subprocess.run(["unzip", "-q", str(archive), "-d", str(into)], check=True)
    else:  # GNU tar tells gzip, bzip2, xz and zstd apart by their magic numbers
        subprocess.run(["tar", "-xf", str(archive), "-C", str(into)], check=True)


def python_prefix(prefix: Path, activate: bool) -> str:
    """sys.prefix of the environment's python, run after `. bin/activate` or directly."""
    run = f'. "{prefix}/bin/activate" && python' if activate else f'"{prefix}/bin/python"'
    done = subprocess.run(
        ["bash", "-c", f"{run} -c '{CHECK}'"],
        capture_output=True,
        text=True,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("key", list(LINES))
def test_conda_pack_command_line(real_env, tmp_path, key):
    line = LINES[key]
    work, dest, parcels = tmp_path / "work", tmp_path / "dest" / "env", tmp_path / "parcels"
    work.mkdir()
    fill = {"{NAME}": real_env.name, "{PREFIX}": str(real_env), "{DEST}": str(dest),
            "{PARCELS}": str(parcels)}  # fmt: skip
    args = [fill.get(arg, arg) for arg in line.args]
    env = {**os.environ, "CONDA_ENVS_PATH": str(real_env.parent)}
    env.pop("CONDA_PREFIX", None)
    if line.activated:
        env["CONDA_PREFIX"] = str(real_env)
    if line.use == "image" and not shutil.which("unsquashfs"):
        pytest.skip("unsquashfs absent (squashfs-tools)")
    r = cli(*args, cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    output = work / line.output.replace("{NAME}", real_env.name)
    assert output.exists(), sorted(os.listdir(work))

    if line.use == "directory":
        target = tmp_path / "moved" / "env"
        target.parent.mkdir()
        output.rename(target)
        assert python_prefix(target, activate=True) == str(target)
    elif line.use == "relocated":
        extract(output, dest)
        assert python_prefix(dest, activate=False) == str(dest)
    elif line.use == "image":
        target = tmp_path / "mounted" / "env"
        target.parent.mkdir()
        subprocess.run(["unsquashfs", "-q", "-n", "-d", str(target), str(output)], check=True)
        # Activation links the image's fixed path to where it is: removed after, as an
        # unmount leaves it, so that the squashfs tests find that path free.
        link = Path((target / "conda-meta/conda-package/prefix").read_text().strip())
        try:
            assert python_prefix(target, activate=True) == str(target)
        finally:
            if link.is_symlink():
                link.unlink()
    elif line.use == "parcel":
        extract(output, parcels)
        assert python_prefix(parcels / "example-1.0", activate=False) == str(
            parcels / "example-1.0"
        )
    else:
        extract(output, tmp_path / "unpacked")
        target = tmp_path / "unpacked" / line.arcroot if line.arcroot else tmp_path / "unpacked"
        assert python_prefix(target, activate=True) == str(target)


def test_conda_pack_version_and_help():
    assert cli("--version").stdout.startswith("conda-package ")
    r = cli("--help")
    assert r.returncode == 0
    for option in ("--arcroot", "--dest-prefix", "--parcel-root", "--compress-level",
                   "--n-threads", "--zip-symlinks", "--no-zip-64", "--exclude", "--include",
                   "--ignore-editable-packages", "--ignore-missing-files", "--force"):  # fmt: skip
        assert option in r.stdout, option
