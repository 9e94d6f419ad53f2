"""Large files that change on their way into the archive (restored, searched and relocated,
RPATH fixed) come out right in every format, and are never held whole in memory."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import build_program, cli
from pkgbuild import BINARY_PLACEHOLDER, PLACEHOLDER, make_tar_bz2
from realenv import install, make_channel

MIB = 1 << 20
SIZE = 3 * MIB + 12345  # over the packer's SMALL_FILE, and three read chunks


def text_blob(prefix: str, size: int = SIZE) -> bytes:
    """Lines of text with the prefix across each 1 MiB boundary, whatever its length."""
    line = b"%07d plain text, no prefix on this line\n"
    body = b"".join(line % i for i in range(size // len(line % 0) + 1))[:size]
    marks = [k * MIB - 8 for k in (1, 2, 3)]
    pieces, last = [], 0
    for at in marks:
        pieces += [body[last:at], b"home=" + prefix.encode() + b"/share\n"]
        last = at
    return b"".join([*pieces, body[last:]])


def binary_blob(prefix: str, size: int = SIZE) -> bytes:
    """Zeros with C strings holding the prefix across each 1 MiB boundary (from 40 bytes
    before it), as a package installed at `prefix` holds them: NULs after each string."""
    data = bytearray(size)
    for k in (1, 2, 3):
        string = prefix.encode() + b"/lib/tcl8.6\0"
        data[k * MIB - 40 : k * MIB - 40 + len(string)] = string
    return bytes(data)


@pytest.fixture(scope="session")
def big_channel(tmp_path_factory) -> Path:
    """A package with a large text and a large binary file that hold the placeholder."""
    pytest.importorskip("rattler")
    work = tmp_path_factory.mktemp("big")
    (work / "built").mkdir()
    make_tar_bz2(
        work / "built",
        "bigdata",
        "1.0",
        {
            "share/big/config.txt": text_blob(PLACEHOLDER),
            "lib/libbig.so": binary_blob(BINARY_PLACEHOLDER),
        },
        text_prefix=("share/big/config.txt",),
        binary_prefix=("lib/libbig.so",),
    )
    return make_channel(sorted((work / "built").iterdir()), work / "channel")


@pytest.fixture
def big_env(big_channel, tmp_path) -> Path:
    """The package installed, plus untracked large files of both kinds holding the prefix."""
    prefix = install(big_channel, ["bigdata"], tmp_path / "env", big_channel.parent / "pkgs")
    (prefix / "share/untracked.txt").write_bytes(text_blob(str(prefix)))
    (prefix / "lib/libuntracked.so").write_bytes(binary_blob(str(prefix)))
    return prefix


def extract(archive: Path, fmt: str, target: Path) -> None:
    if fmt == "dir":
        shutil.copytree(archive, target, symlinks=True)
    elif fmt == "zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
    elif fmt == "tar.zst":
        zstandard = pytest.importorskip("zstandard")
        with (
            open(archive, "rb") as fh,
            zstandard.ZstdDecompressor().stream_reader(fh) as raw,
            tarfile.open(fileobj=raw, mode="r|") as tf,
        ):
            tf.extractall(target, filter="tar")
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(target, filter="tar")


def expected(prefix: str) -> dict[str, bytes]:
    """What each large file holds when the environment lives at `prefix`."""
    return {
        "share/big/config.txt": text_blob(prefix),
        "lib/libbig.so": binary_blob(prefix),
        "share/untracked.txt": text_blob(prefix),
        "lib/libuntracked.so": binary_blob(prefix),
    }


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.zst", "zip", "dir"])
def test_large_files_relocated_at_pack_time(big_env, tmp_path, fmt):
    """--relocate-prefix to a longer path: text grows, binary strings stay in their room."""
    new = "/opt/moved-here/" + "x" * 40
    output = tmp_path / ("out" if fmt == "dir" else f"out.{fmt}")
    r = cli("-p", big_env, "-o", output, "--format", fmt, "--relocate-prefix", new, "-q")
    assert r.returncode == 0, r.stderr
    target = tmp_path / "x"
    extract(output, fmt, target)
    for name, data in expected(new).items():
        got = (target / name).read_bytes()
        assert got == data, name
        assert str(big_env).encode() not in got
    assert BINARY_PLACEHOLDER.encode() not in (target / "lib/libbig.so").read_bytes()


def test_large_files_restored_then_unpacked(big_env, tmp_path):
    """Without --relocate-prefix the package's files are its bytes again (sha256 as
    shipped), the untracked ones as they are; conda-unpack relocates them all."""
    archive = tmp_path / "env.tar.gz"
    r = cli("-p", big_env, "-o", archive, "-q")
    assert r.returncode == 0, r.stderr
    target = tmp_path / "x"
    extract(archive, "tar.gz", target)
    record = json.loads(next((big_env / "conda-meta").glob("bigdata-*.json")).read_text())
    shipped = {p["_path"]: p["sha256"] for p in record["paths_data"]["paths"]}
    for name in ("share/big/config.txt", "lib/libbig.so"):
        assert hashlib.sha256((target / name).read_bytes()).hexdigest() == shipped[name]
    subprocess.run(["/bin/sh", str(target / "bin/conda-unpack")], check=True)
    for name, data in expected(str(target)).items():
        assert (target / name).read_bytes() == data, name


def test_prefix_too_long_for_a_large_binary_is_one_line(big_env, tmp_path):
    new = "/" + "y" * 300
    archive = tmp_path / "env.tar.gz"
    r = cli("-p", big_env, "-o", archive, "--relocate-prefix", new)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert "lib/lib" in r.stderr and "choose a shorter prefix" in r.stderr
    assert not archive.exists()


# Runs a command and prints its peak RSS (KiB) after its output: the only child.
PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(done.stderr)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss(*args: str | Path) -> int:
    exe = shutil.which("conda-package") or str(Path(sys.executable).with_name("conda-package"))
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, exe, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    code, peak = done.stdout.split()
    assert code == "0", done.stderr
    return int(peak) * 1024


BIG = 96 * MIB


def write_sparse(path: Path, size: int, strings: list[bytes]) -> None:
    """A sparse binary of zeros with each string at the start of a MiB, from the middle."""
    with open(path, "wb") as fh:
        fh.truncate(size)
        for k, string in enumerate(strings):
            fh.seek(size // 2 + k * MIB - len(string) // 2)
            fh.write(string)


@pytest.mark.parametrize("fmt", ["tar.zst", "zip"])
def test_large_rewritten_files_are_not_held(small_env, tmp_path, fmt):
    """A 96 MiB untracked binary holding the prefix, relocated at pack time, and a 96 MiB
    text file doing the same: peak memory grows by far less than either file."""
    out = tmp_path / f"out.{fmt}"
    args = ("-p", small_env, "-o", out, "--format", fmt, "-j", "2", "--force")
    baseline = peak_rss(*args, "--relocate-prefix", "/opt/new")
    needle = str(small_env).encode()
    write_sparse(small_env / "share/big.bin", BIG, [needle + b"/lib\0", needle + b"/x\0"])
    with open(small_env / "share/big.txt", "wb") as fh:
        line = b"plain words, many of them, and then some more words\n" * 20000
        for k in range(BIG // len(line)):
            fh.write(line if k != 50 else line + needle + b"/share\n")
    peak = peak_rss(*args, "--relocate-prefix", "/opt/new")
    # Half a file: holding either whole would cost 96 MiB. tar.zst's encoder threads hold
    # a window of their own, which a busy machine lets fill (32.1 MiB was seen under load).
    assert peak - baseline < BIG // 2, (baseline, peak)
    if fmt == "zip":
        with zipfile.ZipFile(out) as zf, zf.open("share/big.bin") as member:
            data = member.read()
        assert len(data) == BIG
        assert data.count(b"/opt/new/") == 2 and needle not in data


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc)")
def test_large_elf_under_fix_rpath_is_patched_as_it_streams(small_env, tmp_path):
    """A 96 MiB program (a real one, with data appended) whose RPATH names the prefix:
    the archived copy has an $ORIGIN RPATH and runs after the old place is gone, and the
    pack's memory grows by far less than the file."""
    prog = build_program(small_env, tmp_path)
    archive = tmp_path / "env.tar.gz"
    args = ("-p", small_env, "-o", archive, "--fix-rpath", "-j", "2", "--force")
    baseline = peak_rss(*args)
    with open(prog, "r+b") as fh:
        fh.truncate(BIG)
    peak = peak_rss(*args)
    assert peak - baseline < 32 * MIB, (baseline, peak)

    target = tmp_path / "elsewhere"
    extract(archive, "tar.gz", target)
    shutil.rmtree(small_env)  # only $ORIGIN can find libfoo now
    assert (target / "bin/prog").stat().st_size == BIG
    out = subprocess.run([target / "bin/prog"], capture_output=True, text=True)
    assert out.stdout == "foo=42\n", out.stderr
