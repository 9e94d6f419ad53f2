"""squashfs images of the real environment, mounted with squashfuse and used as users would:
at the mount point they were packed for, and (packed without one) anywhere, by anyone."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import cli

needs_fuse = pytest.mark.skipif(
    shutil.which("squashfuse") is None
    or shutil.which("fusermount") is None
    or not os.path.exists("/dev/fuse"),
    reason="squashfuse or FUSE absent (apt-get install squashfuse fuse3)",
)
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="makes users and mounts for other users: run as root"
)
# What the acceptance asks of an image: Python's C extensions and certificates, OpenSSL's
# directory, Tcl's library, git and pip. Each prints what it names.
# {run} is where a launcher (bin/cpk-run) goes.
SMOKE = (
    "{run}python -c 'import ssl, sqlite3, readline; c = ssl.create_default_context();"
    ' print(c.cert_store_stats()["x509_ca"])\'',
    "{run}openssl version -d",
    "echo 'puts [info library]' | {run}tclsh",
    "{run}git --version",
    "{run}bin/pip --version",
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def mounted(image: Path, at: Path, allow_other: bool = False) -> Iterator[Path]:
    at.mkdir(parents=True, exist_ok=True)
    options = ["-o", "allow_other"] if allow_other else []
    subprocess.run(["squashfuse", *options, str(image), str(at)], check=True)
    try:
        yield at
    finally:
        subprocess.run(["fusermount", "-u", str(at)], check=True)


def run(mount: Path, command: str, user: str | None = None, via: str = "") -> str:
    """One of SMOKE in the mount (bin/ first on PATH), as `user`, maybe through a launcher."""
    command = command.replace("{run}", via)
    script = f"cd {mount} && PATH={mount}/bin:/usr/bin:/bin && export PATH && {command}"
    argv = ["sh", "-c", script]
    if user:
        argv = ["runuser", "-u", user, "--", "env", "-i", "HOME=/tmp", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout + done.stderr


def user(name: str) -> str:
    with contextlib.suppress(KeyError):
        pwd.getpwnam(name)
        return name
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], check=True)
    return name


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder other users can enter (pytest's tmp_path is its owner's only)."""
    path = Path(tempfile.mkdtemp(prefix="cpk-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def image_link() -> Iterator[list[Path]]:
    """Fixed paths the test's images name: their links are removed afterwards."""
    links: list[Path] = []
    yield links
    for link in links:
        if link.is_symlink():
            link.unlink()


def fixed_path(mount: Path) -> Path:
    return Path((mount / "conda-meta/conda-package/prefix").read_text().strip())


@needs_fuse
def test_image_for_a_mount_point_runs_there(real_env, shared_dir):
    mount = shared_dir / "envs" / "analysis"
    image = shared_dir / "analysis.squashfs"
    done = cli("-p", real_env, "-o", image, "--relocate-prefix", mount)
    assert done.returncode == 0, done.stderr
    before = (sha256(image), image.stat().st_mtime_ns)
    with mounted(image, mount):
        out = [run(mount, command) for command in SMOKE]
        with pytest.raises(OSError):  # read-only: nothing can be written into it
            (mount / "new-file").write_text("x")
    assert int(out[0].split()[0]) > 100  # the environment's CA certificates were loaded
    assert f'OPENSSLDIR: "{mount}/ssl"' in out[1]
    assert out[2].strip() == f"{mount}/lib/tcl8.6"
    assert out[3].startswith("git version 2.18.0")
    assert f"from {mount}/lib/python3.7/site-packages/pip" in out[4]
    assert (sha256(image), image.stat().st_mtime_ns) == before


@needs_fuse
@needs_root
def test_image_mounts_anywhere_for_any_user(real_env, shared_dir, image_link):
    image = shared_dir / "anywhere.sqfs"
    done = cli("-p", real_env, "-o", image)
    assert done.returncode == 0, done.stderr
    image.chmod(0o644)
    other = user("cpk-image-user")
    first, second = shared_dir / "first", shared_dir / "second" / "mount"
    with mounted(image, first):
        link = fixed_path(first)
        image_link.append(link)
        assert len(str(link)) < 24 and not link.exists()
        out = [run(first, command, via="cpk-run ") for command in SMOKE]
        assert int(out[0].split()[0]) > 100  # the certificates are found through the link
        assert os.path.realpath(out[1].split('"')[1]) == f"{first}/ssl"
        assert os.path.realpath(out[2].strip()) == f"{first}/lib/tcl8.6"
        assert f"from {first}/lib/python3.7/site-packages/pip" in out[4]
    with mounted(image, second, allow_other=True):
        for who in (None, other):  # root's link to the old mount is moved, then trusted
            out = [run(second, command, user=who, via="cpk-run ") for command in SMOKE]
            assert int(out[0].split()[0]) > 100
            assert os.path.realpath(out[1].split('"')[1]) == f"{second}/ssl"
            assert os.path.realpath(out[2].strip()) == f"{second}/lib/tcl8.6"
            assert out[3].startswith("git version 2.18.0")
            assert f"from {second}/lib/python3.7/site-packages/pip" in out[4]
        activated = run(
            second, ". bin/activate && python -c 'import sys; print(sys.prefix)'", other
        )
        assert activated.strip() == str(second)
    assert os.readlink(link) == str(second)
    assert link.lstat().st_uid == 0


@needs_fuse
@needs_root
def test_another_users_link_is_not_followed(real_env, shared_dir, image_link):
    """Blocked by someone else's link: a warning naming them, and what needs no link works."""
    image = shared_dir / "blocked.sqfs"
    assert cli("-p", real_env, "-o", image).returncode == 0
    owner, victim = user("cpk-image-user"), user("cpk-image-user2")
    with mounted(image, shared_dir / "mnt", allow_other=True) as mount:
        link = fixed_path(mount)
        image_link.append(link)
        subprocess.run(
            ["runuser", "-u", owner, "--", "ln", "-s", "/nowhere", str(link)], check=True
        )
        warned = run(
            mount, "cpk-run python -c 'import sqlite3, ssl; print(ssl.OPENSSL_VERSION)'", victim
        )
        assert f"{link} is a link of user {owner}" in warned
        assert "OpenSSL 1.0.2o" in warned
        assert f"from {mount}/lib/python3.7/site-packages/pip" in run(
            mount, "bin/pip --version", victim
        )
        assert os.readlink(link) == "/nowhere"  # left as it was


# Modules an image must import from its byte-code, as packed: their files in lib/python3.7.
BYTECODE = {
    "json": "json/__pycache__/__init__.cpython-37.pyc",
    "ssl": "__pycache__/ssl.cpython-37.pyc",
    "sqlite3": "sqlite3/__pycache__/__init__.cpython-37.pyc",
    "email.parser": "email/__pycache__/parser.cpython-37.pyc",
    "http.client": "http/__pycache__/client.cpython-37.pyc",
    "asyncio": "asyncio/__pycache__/__init__.cpython-37.pyc",
}
# Left out of an image's byte-code on purpose: the source holds the prefix, so the packer
# relocates it, and byte-code compiled from it before would not match its new size.
RELOCATED_SOURCE = "_sysconfigdata_m_linux_x86_64-linux-gnu"
# What Python 3.7's -v prints when it compiled a source and caches the result (or fails to).
WRITES = ("# could not create ", "# created ", "# wrote ")


def code_origins(mount: Path, code: str) -> tuple[list[str], list[str]]:
    """Run the image's Python -v, writing byte-code allowed: the file each module's code
    object came from, and the lines that tell of byte-code being written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    argv = [str(mount / "bin/python"), "-v", "-c", code]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    origins = [line[19:].strip("'") for line in lines if line.startswith("# code object from ")]
    # The self-relocation hook is written at pack time without byte-code (a few lines).
    origins = [o for o in origins if not o.endswith("_conda_package_autorelocate.py")]
    writes = [line for line in lines if line.startswith(WRITES)]
    return origins, [w for w in writes if "_conda_package_autorelocate" not in w]


@needs_fuse
@pytest.mark.parametrize("mount_point", [True, False], ids=["mount-point", "anywhere"])
def test_image_imports_compile_nothing(real_env, shared_dir, mount_point):
    """Imports from an image compile nothing: the real environment ships no byte-code, so
    all of it is what the packer compiled, and it matches the sources as mounted."""
    mount = shared_dir / "mnt"
    image = shared_dir / "env.sqfs"
    done = cli("-p", real_env, "-o", image, *(["--relocate-prefix", mount] if mount_point else []))
    assert done.returncode == 0, done.stderr
    with mounted(image, mount):
        origins, writes = code_origins(mount, f"import {', '.join(BYTECODE)}")
        config, config_writes = code_origins(mount, "import sysconfig; sysconfig.get_config_vars()")
    library = f"{mount}/lib/python3.7/"
    assert [library + pyc for pyc in BYTECODE.values() if library + pyc not in origins] == []
    assert len(origins) > 60  # what they import too: re, socket, email.feedparser, ...
    assert [path for path in origins if not path.startswith(library) or path[-4:] != ".pyc"] == []
    assert writes == []
    # The exception, apart: the relocated source compiles at each start, and cannot be
    # cached in the read-only image.
    assert [path for path in config if not path.endswith(".pyc")] == [
        f"{library}{RELOCATED_SOURCE}.py"
    ]
    assert config_writes[0] == (
        f"# could not create '{library}__pycache__/{RELOCATED_SOURCE}.cpython-37.pyc':"
        " OSError(30, 'Read-only file system')"
    )


def test_dry_run_and_check_name_what_needs_the_link(real_env, tmp_path):
    done = cli("-p", real_env, "-o", tmp_path / "x.sqsh", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "# image: mount anywhere; its files name /tmp/cpk-" in done.stdout
    assert "files that need the link: " in done.stdout
    check = cli("-p", real_env, "-o", tmp_path / "x.sqsh", "--check")
    needs = {line.split(" (")[0] for line in check.stdout.splitlines() if "fixed path" in line}
    assert "lib/libcrypto.so.1.0.0" in needs  # OPENSSLDIR is compiled in
    assert "bin/pip" not in needs  # it finds its Python beside it
    at = cli("-p", real_env, "-o", tmp_path / "x.sqfs", "--dry-run", "--relocate-prefix", "/opt/x")
    assert "# image: relocated to its mount point /opt/x; mount it there" in at.stdout
    assert not list(tmp_path.iterdir())


def test_images_are_byte_identical_whatever_the_threads(real_env, tmp_path):
    one, two = tmp_path / "one.squashfs", tmp_path / "two.squashfs"
    assert cli("-p", real_env, "-o", one, "-j", "1", "--squashfs-compressor", "lz4").returncode == 0
    assert cli("-p", real_env, "-o", two, "-j", "2", "--squashfs-compressor", "lz4").returncode == 0
    assert sha256(one) == sha256(two)
    assert stat.S_IMODE(one.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--squashfs-compressor", "xz", "-o", "x.tar.gz"],
            "--squashfs-compressor is for squashfs",
        ),
        (["--squashfs-block-size", "100K", "-o", "x.sqfs"], "must be a power of two from 4K to 1M"),
        (["--squashfs-block-size", "big", "-o", "x.sqfs"], "give bytes, or K or M"),
        (
            ["--squashfs-compressor", "lz4", "--compression-level", "3", "-o", "x.sqfs"],
            "lz4 takes no",
        ),
        (["--compression-level", "23", "-o", "x.sqfs"], "out of range for squashfs zstd (1-22)"),
        (["--squashfs-compressor", "brotli", "-o", "x.sqfs"], "invalid choice: 'brotli'"),
    ],
)
def test_bad_image_options_are_one_line(small_env, tmp_path, args, message):
    done = cli("-p", small_env, *args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.splitlines()) == 1
    assert not list(tmp_path.glob("x.*"))


@pytest.mark.skipif(shutil.which("unsquashfs") is None, reason="unsquashfs absent (squashfs-tools)")
def test_no_squashfs_tool_is_needed(small_env, tmp_path):
    """The image is written by conda-package itself: a PATH without any tool will do."""
    empty = tmp_path / "bin"
    empty.mkdir()
    image = tmp_path / "x.squashfs"
    done = cli("-p", small_env, "-o", image, env={"PATH": str(empty)})
    assert done.returncode == 0, done.stderr
    listing = subprocess.run(
        ["unsquashfs", "-l", str(image)], capture_output=True, text=True, check=True
    ).stdout
    assert "squashfs-root/conda-meta" in listing and "squashfs-root/bin/cpk-run" in listing


def test_a_failed_build_leaves_nothing(real_env, tmp_path):
    """The image stopped by a file size limit (as on a full disk): one line, no image."""
    import resource
    import signal
    import sys

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        # Above the byte-code's group files (a few MiB each), below the image (73 MiB).
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))

    exe = str(Path(sys.executable).with_name("conda-package"))
    done = subprocess.run(
        [exe, "-p", str(real_env), "-o", str(tmp_path / "x.sqfs")],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=300,
    )
    assert done.returncode == 1
    assert (
        f"{tmp_path}/x.sqfs: File too large while writing" in done.stderr
        and "nothing was written" in done.stderr
    )
    assert not list(tmp_path.iterdir())
