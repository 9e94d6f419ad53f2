"""Packing the real environment: unpack anywhere, activate, run; every format; determinism."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard
from conda_package.core import PackOptions, pack
from conda_package.core.load.environment import Environment
from conftest import cli


def extract(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True)
    return dest


def activate_and_run(prefix: Path, command: str) -> subprocess.CompletedProcess:
    """`. bin/activate` in a clean bash from another directory, then the command."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    return subprocess.run(
        ["bash", "-c", f'. "{prefix}/bin/activate" && {command}'],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
    )


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Files (not records, not links) whose bytes hold `needle`. Byte-code is exempt: it
    names where it was compiled, and Python replaces that name with the place it loads it
    from (_imp._fix_co_filename), so the archive carries it as it is."""
    found = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if rel.startswith("conda-meta/") or path.is_symlink():
                continue
            if name.endswith(".pyc"):
                continue
            if needle in path.read_bytes():
                found.append(rel)
    return found


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            key = path.relative_to(root).as_posix()
            out[key] = (
                os.readlink(path)
                if path.is_symlink()
                else hashlib.sha256(path.read_bytes()).hexdigest()
            )
    return out


CHECK = (
    "python -c 'import sys, ssl, sqlite3, readline; print(sys.prefix)'"
    " && openssl version -d"
    " && echo 'puts [info library]' | tclsh8.6"
    ' && bin_pip=$(command -v pip) && "$bin_pip" --version'
)


def assert_works_at(prefix: Path, old_prefix: str) -> None:
    r = activate_and_run(prefix, CHECK)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == str(prefix)
    assert f'OPENSSLDIR: "{prefix}/ssl"' == lines[1]
    assert lines[2].startswith(str(prefix))
    assert lines[3].startswith("pip 23.3.1 from ")
    assert str(prefix) in lines[3]
    assert files_holding(prefix, old_prefix.encode()) == []


@pytest.fixture(scope="module")
def packed(real_env_factory, tmp_path_factory):
    """The real environment packed once as tar.gz through the command line."""
    prefix = real_env_factory("packme")
    out = tmp_path_factory.mktemp("out") / "packme.tar.gz"
    r = cli("-p", prefix, "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    return prefix, out


def test_unpack_short_and_long_prefix_then_move(packed, tmp_path):
    prefix, archive = packed
    short = extract(archive, tmp_path / "s")
    assert_works_at(short, str(prefix))
    r = activate_and_run(short, "true")
    assert "relocated" not in r.stderr  # once only

    long_prefix = tmp_path / ("L" * 100) / ("x" * (200 - len(str(tmp_path)) - 102))
    assert len(str(long_prefix)) == 200
    long_env = extract(archive, long_prefix)
    r = activate_and_run(long_env, "true")
    label = (long_env / "conda-meta/conda-package/label").read_text().strip()
    assert r.stderr.strip() == f"conda-package: relocated environment {label} to {long_env}"
    assert_works_at(long_env, str(prefix))

    moved = tmp_path / "moved-again"
    shutil.move(str(short), moved)
    assert_works_at(moved, str(prefix))
    assert files_holding(moved, str(short).encode()) == []


def test_without_package_cache_or_history(real_env_factory, tmp_path):
    cache = tmp_path / "own-cache"
    prefix = real_env_factory("nocache", cache=cache)
    shutil.rmtree(cache)
    (prefix / "conda-meta" / "history").unlink()
    archive = tmp_path / "nocache.tar.zst"
    result = pack(Environment.load(str(prefix)), PackOptions(output=str(archive)))
    assert result.restored == 289  # every prefix file restored and verified without a cache
    target = extract(archive, tmp_path / "t")
    assert_works_at(target, str(prefix))


def test_prefix_longer_than_placeholder_is_refused(packed, tmp_path):
    _, archive = packed
    target = extract(archive, tmp_path / ("p" * 250) / ("q" * 20))
    before = tree_digest(target)
    r = subprocess.run([str(target / "bin" / "conda-unpack")], capture_output=True, text=True)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1
    assert "bin/python3.7" in r.stderr or "files" in r.stderr
    assert tree_digest(target) == before


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.zst", "tar.bz2", "tar.xz", "tar", "zip", "dir"])
def test_formats_round_trip_and_match_plan(small_env, tmp_path, fmt):
    output = tmp_path / ("out" if fmt == "dir" else f"out.{fmt}")
    env = Environment.load(str(small_env))
    result = pack(env, PackOptions(output=str(output), format=fmt))
    target = tmp_path / "x"
    if fmt == "dir":
        shutil.copytree(output, target, symlinks=True)
    elif fmt == "zip":
        subprocess.run(["python3", "-m", "zipfile", "-e", str(output), str(target)], check=True)
    else:
        extract(output, target)
    listed = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    assert listed == sorted(result.names)
    # (python's zipfile drops the executable bit; `unzip` keeps it)
    subprocess.run(["/bin/sh", str(target / "bin" / "conda-unpack")], check=True)
    assert (target / "share/tool/config.txt").read_text() == f"prefix={target}\n"
    assert files_holding(target, str(small_env).encode()) == []


def test_two_packs_are_identical_and_dry_run_writes_nothing(small_env, tmp_path):
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    for out in (a, b):
        assert cli("-p", small_env, "-o", out, "-q").returncode == 0
    assert a.read_bytes() == b.read_bytes()
    assert oct(a.stat().st_mode & 0o777) == "0o644"
    with tarfile.open(a) as tf:
        members = tf.getmembers()
    assert all(m.uid == 0 and m.gid == 0 for m in members)
    assert not any(m.name.startswith("/") or ".." in m.name.split("/") for m in members)
    r = cli("-p", small_env, "-o", tmp_path / "c.tar.gz", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "# prefix files: 3" in r.stdout
    assert not (tmp_path / "c.tar.gz").exists()


def test_compressed_in_parallel_the_tar_is_the_same_whatever_the_threads(packed, tmp_path):
    """Workers compress what they read, batches of small files and parts of large ones
    (tar.gz), or zstd's threads compress one frame (tar.zst): the tar inside is byte for
    byte the plain pack's, and the output is the same with one thread or three."""
    prefix, _ = packed
    env = Environment.load(str(prefix))
    plain = tmp_path / "plain.tar"
    pack(env, PackOptions(output=str(plain), threads=1))
    tar = plain.read_bytes()
    packs = {}
    for fmt in ("tar.gz", "tar.zst"):
        for threads in (1, 3):
            out = tmp_path / f"{threads}.{fmt}"
            pack(env, PackOptions(output=str(out), threads=threads))
            packs[fmt, threads] = out.read_bytes()
        assert packs[fmt, 1] == packs[fmt, 3]
    assert gzip.decompress(packs["tar.gz", 1]) == tar
    zst = packs["tar.zst", 1]
    assert zstandard.ZstdDecompressor().decompress(zst) == tar  # one frame, not just its first
    assert zstandard.ZstdDecompressor().stream_reader(zst).read() == tar
