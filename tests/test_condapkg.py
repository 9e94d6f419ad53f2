"""A conda package of the untracked files, built through the real command and installed by
a real installer (py-rattler) into another environment."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conda_package.core.archive import CHUNK
from conda_package.core.condapkg import (
    build_package,
    parse_build_number,
    validate_name,
    validate_version,
)
from conda_package.core.condapkg.metadata import make_index
from conda_package.core.condapkg.scan import Scanner
from conda_package.core.errors import Cancelled, UsageError
from conda_package.core.load.environment import Environment
from conda_package.core.unpack import binary_room
from conda_package_handling import api as cph
from conda_package_streaming.package_streaming import stream_conda_component
from conftest import cli, pip_install
from realenv import install, make_channel, package_names, shared_pkgs_dir

DIST = "hello-cp-pkg-0.3-py37_0"
BIG = 64 << 20  # far more than the writer and the reads hold at once


@pytest.fixture(scope="module")
def source_env(real_env_factory, demo_wheel) -> Path:
    prefix = real_env_factory("pkgsrc")
    pip_install(prefix, demo_wheel)
    return prefix


@pytest.fixture(scope="module")
def built(source_env, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built")
    r = cli("--pkg-name", "hello-cp-pkg", "--pkg-version", "0.3", "-p", source_env, cwd=out)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith(f"built {out / DIST}.conda (9 files, ")
    return out / f"{DIST}.conda"


@pytest.fixture(scope="module")
def installed(built, real_env_factory, tmp_path_factory) -> Path:
    """The package installed with the real packages into an environment at another path."""
    shared = shared_pkgs_dir()
    assert shared is not None  # real_env_factory skipped otherwise
    work = tmp_path_factory.mktemp("target")
    packages = [p for p in sorted(shared.iterdir()) if p.name.endswith((".conda", ".tar.bz2"))]
    channel = make_channel([*packages, built], work / "channel")
    specs = [*package_names(shared), "hello-cp-pkg"]
    return install(channel, specs, work / "elsewhere" / "other-env", real_env_factory.cache)


def _extract(package: Path, dest: Path) -> dict:
    cph.extract(str(package), dest_dir=str(dest))
    return json.loads((dest / "info" / "paths.json").read_text())


def _check_contents(package: Path, dest: Path) -> list[dict]:
    """paths.json agrees with what the package holds, read back by both libraries."""
    paths = _extract(package, dest)["paths"]
    for entry in paths:
        data = (dest / entry["_path"]).read_bytes()
        assert entry["path_type"] == "hardlink"
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["_path"]
        assert len(data) == entry["size_in_bytes"], entry["_path"]
    names = {
        member.name
        for component in ("pkg", "info")
        for _, member in stream_conda_component(str(package), component=component)
    }
    assert {e["_path"] for e in paths} | {"info/index.json", "info/paths.json"} <= names
    files = (dest / "info" / "files").read_text().splitlines()
    assert files == [e["_path"] for e in paths]
    return paths


def test_installed_elsewhere_runs(installed, source_env, built):
    paths = _extract(built, built.parent / "x")["paths"]
    assert all((installed / e["_path"]).is_file() for e in paths)
    script = installed / "bin" / "hello-cp"
    assert script.read_text().splitlines()[0].startswith(f"#!{installed}/bin/python")
    run = subprocess.run([str(script)], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "hello from hello_cp"

    r = cli("-u", "-p", source_env)
    assert "bin/hello-cp" in r.stdout.splitlines()
    assert "lib/python3.7/site-packages/hello_cp/__init__.py" in r.stdout.splitlines()
    r = cli("-w", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{script}: {DIST}"


def test_metadata_and_both_formats_read_back(built, source_env, tmp_path):
    paths = _check_contents(built, tmp_path / "conda")
    index = json.loads((tmp_path / "conda" / "info" / "index.json").read_text())
    assert index["depends"] == ["python 3.7.*"]
    assert (index["name"], index["version"], index["build"]) == ("hello-cp-pkg", "0.3", "py37_0")
    assert (index["subdir"], index["arch"], index["platform"]) == ("linux-64", "x86_64", "linux")
    script = next(e for e in paths if e["_path"] == "bin/hello-cp")
    assert (script["prefix_placeholder"], script["file_mode"]) == (str(source_env), "text")
    assert sum("prefix_placeholder" in e for e in paths) == 1
    has_prefix = (tmp_path / "conda" / "info" / "has_prefix").read_text()
    assert has_prefix == f"{source_env} text bin/hello-cp\n"
    about = json.loads((tmp_path / "conda" / "info" / "about.json").read_text())
    assert "untracked files of pkgsrc" in about["summary"]

    out = tmp_path / "out"
    out.mkdir()
    env = Environment.load(str(source_env))
    result = build_package(env, "hello-cp-pkg", "0.3", "2", output=str(out / "p.tar.bz2"))
    assert (result.format, result.dist) == ("tar.bz2", "hello-cp-pkg-0.3-py37_2")
    assert any("installers expect" in w for w in result.warnings)
    assert _check_contents(out / "p.tar.bz2", tmp_path / "bz2") == paths
    assert os.listdir(out) == ["p.tar.bz2"]  # no temporary left behind


def test_deterministic(source_env, tmp_path):
    env = Environment.load(str(source_env))
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one, two = tmp_path / "one" / f"{DIST}.conda", tmp_path / "two" / f"{DIST}.conda"
    build_package(env, "hello-cp-pkg", "0.3", output=str(one), level=3)
    build_package(env, "hello-cp-pkg", "0.3", output=str(two), level=3)
    assert one.read_bytes() == two.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pkg-name", "Hello"), "lower case"),
        (("--pkg-name", "hi", "--pkg-version", "1-2"), "must not contain '-'"),
        (("--pkg-name", "hi", "--pkg-build", "x"), "build number 'x'"),
        (("--pkg-name", "hi", "--pkg-build", "-1"), "build number '-1'"),
        (("--pkg-name", "hi", "--format", "conda", "-o", "hi.zip"), "must end in .conda"),
        (("--pkg-name", "hi", "--zstd-compression-level", "23"), "between 1 and 22"),
    ],
)
def test_bad_values_write_nothing(source_env, tmp_path, args, message):
    r = cli(*args, "-p", source_env, cwd=tmp_path)
    assert r.returncode != 0
    assert len(r.stderr.splitlines()) == 1 and message in r.stderr
    assert "Traceback" not in r.stderr
    assert os.listdir(tmp_path) == []


def test_no_untracked_files(small_env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    r = cli("--pkg-name", "empty", "-p", small_env, cwd=out)
    assert r.returncode != 0
    assert r.stderr.splitlines() == [
        f"conda-package: error: {small_env}: no untracked files, so there is nothing to package"
    ]
    assert os.listdir(out) == []


def test_dry_run_and_existing_output(source_env, tmp_path):
    r = cli(
        "--pkg-name", "hello-cp-pkg", "--pkg-version", "0.3", "--dry-run", source_env, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert os.listdir(tmp_path) == []
    assert any(
        line.split()[-1] == "bin/hello-cp" and "text" in line for line in r.stdout.splitlines()
    )
    assert '"build": "py37_0"' in r.stdout

    existing = tmp_path / f"{DIST}.conda"
    existing.write_bytes(b"old")
    r = cli("--pkg-name", "hello-cp-pkg", "--pkg-version", "0.3", "-p", source_env, cwd=tmp_path)
    assert r.returncode != 0 and "already exists; use --force" in r.stderr
    assert existing.read_bytes() == b"old"
    r = cli(
        "--pkg-name",
        "hello-cp-pkg",
        "--pkg-version",
        "0.3",
        "-p",
        source_env,
        "--force",
        "-q",
        cwd=tmp_path,
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert existing.read_bytes()[:2] == b"PK"
    assert os.listdir(tmp_path) == [existing.name]


def test_binary_links_and_left_out(small_env, tmp_path):
    prefix = str(small_env)
    blob = b"\x7fELF\0" + prefix.encode() + b"/lib\0\0\0\0\0\0tail\0"
    (small_env / "lib" / "libextra.so").write_bytes(blob)
    (small_env / "share" / "extra.txt").write_text(f"home={prefix}/share\n")
    (small_env / "bin" / "rel-link").symlink_to("../share/extra.txt")
    (small_env / "bin" / "abs-link").symlink_to(small_env / "share" / "extra.txt")
    os.mkfifo(small_env / "share" / "a-fifo")
    pycache = small_env / "share" / "__pycache__"
    pycache.mkdir()
    (small_env / "share" / "mod.py").write_text("x = 1\n")
    (pycache / "mod.cpython-37.pyc").write_bytes(b"\0\0" + prefix.encode())
    out = tmp_path / "out"
    out.mkdir()

    r = cli("--pkg-name", "extra", "-p", small_env, cwd=out)
    assert r.returncode == 0, r.stderr
    assert "warning: lib/libextra.so: binary file holding the prefix" in r.stderr
    assert "left out share/a-fifo: not a regular file" in r.stderr
    assert "left out share/__pycache__/mod.cpython-37.pyc: byte-code" in r.stderr

    result = build_package(Environment.load(prefix), "extra", output=str(out / "x.conda"))
    entries = {f.path: f for f in result.files}
    assert set(entries) == {
        "bin/abs-link",
        "bin/rel-link",
        "lib/libextra.so",
        "share/extra.txt",
        "share/mod.py",
    }
    binary = entries["lib/libextra.so"]
    assert (binary.prefix_placeholder, binary.file_mode) == (prefix, "binary")
    assert binary.room == binary_room(blob, prefix.encode()) == len(prefix) + 5
    assert entries["share/extra.txt"].file_mode == "text"
    text_sha = entries["share/extra.txt"].sha256
    for link in ("bin/abs-link", "bin/rel-link"):
        assert entries[link].kind == "symlink" and entries[link].target == "../share/extra.txt"
        assert entries[link].paths_entry()["path_type"] == "softlink"
        assert entries[link].sha256 == text_sha
    assert result.index["build"] == "0" and result.index["depends"] == []
    cph.extract(str(out / "x.conda"), dest_dir=str(tmp_path / "x"))
    assert os.readlink(tmp_path / "x" / "bin" / "abs-link") == "../share/extra.txt"
    assert (tmp_path / "x" / "lib" / "libextra.so").read_bytes() == blob


def test_python_310_and_cancel(small_env, tmp_path):
    site = small_env / "lib" / "python3.10" / "site-packages"
    site.mkdir(parents=True)
    (site / "mod.py").write_bytes(b"x" * 3_000_000)
    env = Environment.load(str(small_env))
    result = build_package(env, "mod", "1.0", dry_run=True)
    assert (result.index["build"], result.index["depends"]) == ("py310_0", ["python 3.10.*"])
    assert result.size == 0 and not os.path.exists(result.output)

    out = tmp_path / "out"
    out.mkdir()
    cancel = threading.Event()
    phases = []

    def progress(p):
        phases.append(p.phase)
        if p.phase == "write":
            cancel.set()

    with pytest.raises(Cancelled):
        build_package(env, "mod", output=str(out / "m.conda"), progress=progress, cancel=cancel)
    assert os.listdir(out) == []
    assert set(phases) == {"write"}  # .conda: each file read once, as it is written

    phases.clear()
    build_package(
        env, "mod", output=str(out / "m.tar.bz2"), progress=lambda p: phases.append(p.phase)
    )
    # .tar.bz2 puts info/ first, so the files are scanned before they are written
    assert phases[0] == "scan" and phases[-1] == "write"


@pytest.mark.parametrize("name", ["hello", "a.b_c-1", "_x"])
def test_good_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "Hello", "a b", "-x", ".x", "a/b", "é"])
def test_bad_names(name):
    with pytest.raises(UsageError):
        validate_name(name)


@pytest.mark.parametrize("version", ["1.0", "0.3", "1!2.0", "1.0+local.1", "1.0.1_", "2023c"])
def test_good_versions(version):
    assert validate_version(version) == version


@pytest.mark.parametrize("version", ["", "1-2", "1 2", "1..2", "x!1", "1+a+b", "1.0*", "1:2"])
def test_bad_versions(version):
    with pytest.raises(UsageError):
        validate_version(version)


def test_build_numbers_and_index():
    assert parse_build_number("0") == parse_build_number(0) == 0
    assert parse_build_number("12") == 12
    for bad in ("abc", "-1", "1.5", -1, True, ""):
        with pytest.raises(UsageError):
            parse_build_number(bad)
    index = make_index("n", "1", 3, "linux-aarch64", ("3", "12"), 1000)
    assert (index["build"], index["arch"], index["platform"]) == ("py312_3", "aarch64", "linux")
    noarch = make_index("n", "1", 0, "noarch", None, 1000)
    assert (noarch["build"], noarch["arch"], noarch["noarch"]) == ("0", None, "generic")


def _write_blobs(prefix: Path, size: int) -> int:
    """share/with-prefix.bin holds the prefix once, across a read boundary when `size` is
    large; share/no-prefix.bin holds none. Sparse, so that making them costs nothing.
    Returns the room the prefix's string has: its length plus the NULs after it."""
    string = str(prefix).encode() + b"/lib\0" + b"\0" * 7 + b"x"
    at = max(0, size // 2 // CHUNK * CHUNK - len(str(prefix)) // 2)
    for name, content in (("with-prefix.bin", string), ("no-prefix.bin", b"x")):
        with open(prefix / "share" / name, "wb") as fh:
            fh.truncate(size)
            fh.seek(at)
            fh.write(content)
    return len(str(prefix).encode()) + 7


def _peak_rss(*args: str, cwd: Path) -> tuple[int, dict]:
    """The real command's peak resident memory in bytes, and its --json output; measured
    in a process of its own, whose only child is the command."""
    exe = shutil.which("conda-package") or str(Path(sys.executable).with_name("conda-package"))
    measure = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], check=True, stdout=open('out.json', 'w'));"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    run = subprocess.run(
        [sys.executable, "-c", measure, exe, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads((cwd / "out.json").read_text())
    (cwd / "out.json").unlink()
    return int(run.stdout) * 1024, result


def test_large_files_are_streamed(small_env, tmp_path):
    """Memory stays far below a file's size, and a prefix across a read boundary is found
    (with its binary room), whether the package is written or only planned."""
    args = ("--pkg-name", "big", "-p", str(small_env), "--zstd-compression-level", "1", "--json")
    _write_blobs(small_env, 4096)
    baseline, _ = _peak_rss(*args, cwd=tmp_path)
    room = _write_blobs(small_env, BIG)
    for extra in ("--force", "--dry-run"):
        peak, result = _peak_rss(*args, extra, cwd=tmp_path)
        files = {f["_path"]: f for f in result["files"]}
        with_prefix, no_prefix = files["share/with-prefix.bin"], files["share/no-prefix.bin"]
        assert with_prefix["size_in_bytes"] == no_prefix["size_in_bytes"] == BIG
        assert with_prefix["prefix_placeholder"] == str(small_env)
        assert (with_prefix["file_mode"], with_prefix["room"]) == ("binary", room)
        assert "prefix_placeholder" not in no_prefix
        assert peak < baseline + BIG // 2, (extra, peak, baseline)
    assert os.path.getsize(tmp_path / "big-0.0-0.conda") < BIG // 100


def test_non_utf8_prefix_and_names(small_env, tmp_path):
    """A prefix that is not UTF-8 is packed as its bytes; a name that is not is left out."""
    raw = bytes(tmp_path) + b"/env-\xff"
    os.rename(small_env, raw)
    prefix = os.fsdecode(raw)
    with open(raw + b"/share/t.txt", "wb") as fh:
        fh.write(b"home=" + raw + b"/share\n")
    with open(raw + b"/lib/libx.so", "wb") as fh:
        fh.write(b"\x7fELF\0" + raw + b"/lib\0\0\0tail\0")
    with open(raw + b"/share/name-\xfe.txt", "wb") as fh:
        fh.write(b"x\n")
    out = tmp_path / "out"
    out.mkdir()

    result = build_package(Environment.load(prefix), "odd", output=str(out / "odd-0.0-0.conda"))
    entries = {f.path: f for f in result.files}
    assert set(entries) == {"share/t.txt", "lib/libx.so"}
    assert [x.path for x in result.left_out] == [os.fsdecode(b"share/name-\xfe.txt")]
    assert entries["share/t.txt"].prefix_placeholder == prefix
    binary = entries["lib/libx.so"]
    assert (binary.file_mode, binary.room) == ("binary", len(raw) + 2)
    assert any(f"({len(raw)} bytes)" in w for w in result.warnings)
    has_prefix = result.info["info/has_prefix"]
    assert has_prefix == raw + b" binary lib/libx.so\n" + raw + b" text share/t.txt\n"


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 61, 4096])
def test_streamed_room_is_binary_room(chunk):
    """The room found chunk by chunk is binary_room() of the whole, wherever chunks split."""
    old = b"/opt/env"
    cases = [
        b"",
        old,  # no NUL after it: no say
        old + b"\0",
        b"x" + old + b"/lib\0\0\0\0" + old + old + b"\0\0\0\0\0\0\0y",
        b"\0\0" + old + b":" + old + b"/bin\0" + b"\0" * 20,
        b"a" + old[:4] + b"\0" + old[4:] + b"\0\0",  # split by a NUL: not the prefix
        old + b"\0\0z" + old + b"/unterminated" + old,
        b"/opt/en/opt/env/opt/env\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    ]
    for data in cases:
        scanner = Scanner(old)
        for at in range(0, len(data), chunk):
            scanner.update(data[at : at + chunk])
        scanned = scanner.result()
        assert scanned.room == binary_room(data, old), (data, chunk)
        assert scanned.holds_prefix == (old in data), (data, chunk)
