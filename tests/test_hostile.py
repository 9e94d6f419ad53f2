"""Hostile input through the real command: prefixes and file names that are not UTF-8,
target prefixes too long for a binary's room (tracked and untracked). Each ends in success
or in one error line with the documented exit code, and nothing is written or changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from test_reliability import EXE, PATH, leftovers, one_line, snapshot

BAD = os.fsdecode(b"caf\xe9-\xff")  # Latin-1 bytes: not UTF-8, as on an old share
FORMATS = ("tar.gz", "tar.zst", "zip", "dir")


def run(*args: object) -> subprocess.CompletedProcess[str]:
    """The real command; what it prints of such paths are their bytes, read back as such."""
    env = {**{k: v for k, v in os.environ.items() if k != "CONDA_PREFIX"}, "PATH": PATH}
    return subprocess.run(
        [EXE, *map(str, args)], capture_output=True, text=True, errors="surrogateescape", env=env
    )


def _names(archive: Path, fmt: str) -> set[bytes]:
    """Member names as the bytes stored, whatever their encoding."""
    if fmt == "dir":
        return {os.fsencode(os.path.relpath(os.path.join(d, n), archive))
                for d, dirs, files in os.walk(archive) for n in dirs + files}  # fmt: skip
    if fmt == "zip":
        with zipfile.ZipFile(archive) as zf:
            # names without the UTF-8 flag are bytes, which zipfile decodes as cp437
            return {i.orig_filename.encode("utf-8" if i.flag_bits & 0x800 else "cp437")
                    .rstrip(b"/") for i in zf.infolist()}  # fmt: skip
    listing = subprocess.run(
        ["tar", "--quoting-style=literal", "-tf", archive], capture_output=True, check=True
    )
    assert listing.stderr == b""  # no "unknown extended header keyword 'hdrcharset'"
    return {line.rstrip(b"/") for line in listing.stdout.splitlines()}


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    made = run("--demo-env", tmp_path / "demo", "--dry-run", "--ignore-missing-files", "-q")
    assert made.returncode == 0, made.stderr
    return tmp_path / "demo"


@pytest.fixture
def moved_to_bad_prefix(demo: Path) -> Path:
    """The demo environment moved to a prefix that is not valid UTF-8."""
    bad = demo.parent / f"env-{BAD}"
    demo.rename(bad)
    (bad / "share" / f"data-{BAD}.txt").write_text("hello\n")
    return bad


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_prefix_and_names_that_are_not_utf8_pack(moved_to_bad_prefix: Path, fmt: str):
    out = moved_to_bad_prefix.parent / f"out-{BAD}.{fmt}"
    result = run("-p", moved_to_bad_prefix, "-o", out, "--format", fmt, "--ignore-missing-files")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert b"share/data-caf\xe9-\xff.txt" in _names(out, fmt)


@pytest.mark.parametrize(
    "args",
    [["--check"], ["-u"], ["--dry-run", "--json", "--ignore-missing-files"], ["-w", "bin"],
     ["--pkg-name", "stuff", "--pkg-version", "1.0"], ["--check", "--relocate-prefix", "/o/x"]],
)  # fmt: skip
def test_every_command_reads_a_prefix_that_is_not_utf8(moved_to_bad_prefix: Path, args: list):
    if args[0] == "-w":
        args = ["-w", moved_to_bad_prefix / "bin" / "demo-hello"]
    if args[0] == "--pkg-name":
        args = [*args, "-o", moved_to_bad_prefix.parent / "stuff-1.0-0.conda"]
    before = snapshot(moved_to_bad_prefix)
    result = run("-p", moved_to_bad_prefix, *args)
    assert result.returncode in (0, 1), result.stderr  # --check: 1 when a finding is an error
    assert "Traceback" not in result.stderr
    assert snapshot(moved_to_bad_prefix) == before


def test_a_file_name_that_is_not_utf8_in_an_archive_extracts_as_it_was(small_env, tmp_path):
    (small_env / "share" / BAD).write_bytes(b"x")
    out = tmp_path / "x.tar.gz"
    assert run("-p", small_env, "-o", out).returncode == 0
    target = tmp_path / "unpacked"
    target.mkdir()
    with tarfile.open(out) as tf:
        tf.extractall(target, filter="tar")
    assert (target / "share" / BAD).read_bytes() == b"x"


def _untracked_binary(env: Path) -> None:
    """A binary that holds the prefix with no NUL padding after it: no room to grow."""
    (env / "share" / "blob.bin").write_bytes(os.fsencode(str(env)) + b"\0tail")


@pytest.mark.parametrize(
    ("setup", "target", "code", "words"),
    [
        (None, "/" + "p" * 299, 1, ("--relocate-prefix is 300 bytes but", "binary files have")),
        (_untracked_binary, "/opt/" + "q" * 80, 1,
         ("share/blob.bin: --relocate-prefix is 85 bytes but this binary has room for",
          "choose a shorter prefix")),
        (None, "relative/path", 2, ("must be an absolute path",)),
    ],
)  # fmt: skip
@pytest.mark.parametrize("fmt", ["tar.gz", "zip", "dir"])
def test_a_target_prefix_that_does_not_fit_writes_nothing(
    demo: Path, tmp_path: Path, setup, target: str, code: int, words: tuple, fmt: str
):
    if setup is not None:
        setup(demo)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    before = snapshot(demo)
    args = ["-p", demo, "-o", out_dir / f"x.{fmt}", "--format", fmt, "--ignore-missing-files"]
    one_line(run(*args, "--relocate-prefix", target), code, *words)
    assert list(out_dir.iterdir()) == []
    assert leftovers(out_dir) == []
    assert snapshot(demo) == before


@pytest.mark.skipif(shutil.which("sqfs2tar") is None, reason="sqfs2tar absent (squashfs-tools-ng)")
def test_an_image_of_a_prefix_that_is_not_utf8(moved_to_bad_prefix: Path):
    out = moved_to_bad_prefix.parent / f"out-{BAD}.squashfs"
    result = run("-p", moved_to_bad_prefix, "-o", out, "--ignore-missing-files", "-q")
    assert result.returncode == 0, result.stderr
    tar = subprocess.run(["sqfs2tar", out], capture_output=True, check=True).stdout
    listing = subprocess.run(
        ["tar", "--quoting-style=literal", "-t"], input=tar, capture_output=True, check=True
    ).stdout
    assert b"share/data-caf\xe9-\xff.txt" in listing.splitlines()


@pytest.mark.parametrize("target", ["/opt/analysis", f"/opt/r-{BAD}"])
def test_a_modulefile_names_what_is_not_utf8_as_its_bytes(
    moved_to_bad_prefix: Path, tmp_path: Path, target: str
):
    module = tmp_path / "env.lua"
    result = run(
        "-p", moved_to_bad_prefix, "-o", tmp_path / "env.tar.gz", "--ignore-missing-files",
        "--relocate-prefix", target, "--modulefile", module, "-q",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = module.read_bytes()
    assert os.fsencode(f"{target}/bin") in text
    assert os.fsencode(moved_to_bad_prefix.name) in text  # the module's name: the env's
