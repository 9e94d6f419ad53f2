"""The squashfs writer read back by independent readers: unsquashfs (squashfs-tools),
squashfuse, libsquashfs (sqfsdiff, against mksquashfs's image of the same tree) and the kernel
(a loop mount, where the machine allows one), for every compressor and for the layouts the
format splits on: fragments and blocks, runs of directory entries, listings past 64 KiB,
hard links, names that are not UTF-8, files past 4 GiB."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import stat
import struct
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conda_package.core.archive import ArchiveEntry, SquashfsSettings, open_writer
from conda_package.core.errors import CondaPackageError

MTIME = 1_700_000_000
NEWEST = MTIME + 99  # the newest entry's time: implicit folders and the root get it
NOT_UTF8 = os.fsdecode(b"caf\xe9")  # a Latin-1 name, as on an old filesystem


def tree(block: int) -> list[tuple[str, str, int, bytes | str | None]]:
    """name, kind, mode, content (file) or target (link); folders under deep/ are implicit."""
    noise = random.Random(block).randbytes(3 * block + 17)  # stored as is: no smaller packed
    text = b"import os\n" * (block // 5)  # packs small
    items: list[tuple[str, str, int, bytes | str | None]] = [
        ("bin", "dir", 0o755, None),
        ("bin/tool", "file", 0o4755, noise),
        ("bin/tool-hard", "hardlink", 0o4755, "bin/tool"),
        ("bin/tool-hard2", "hardlink", 0o4755, "bin/tool"),
        ("bin/link", "symlink", 0o777, "tool"),
        ("bin/dangling", "symlink", 0o777, "../nowhere/" + "x" * 200),
        ("data", "dir", 0o750, None),
        ("data/empty", "file", 0o644, b""),
        ("data/exact", "file", 0o644, noise[:block]),
        ("data/one-less", "file", 0o600, noise[: block - 1]),
        ("data/text", "file", 0o644, text[: 2 * block + 5]),
        ("data/zeros", "file", 0o644, bytes(2 * block)),
        ("data/" + NOT_UTF8, "file", 0o644, b"latin-1\n"),
        ("deep/a/b/c/file", "file", 0o444, b"under folders no entry made\n"),
        ("sticky", "dir", 0o1777, None),
        ("many", "dir", 0o755, None),
        ("wide", "dir", 0o755, None),
    ]
    # 700 entries: runs of at most 256 under a header (some 300 of these small inodes fit
    # in one metadata block), inodes in several blocks.
    items += [(f"many/{i:03d}", "symlink", 0o777, "x") for i in range(700)]
    items += [(f"many/f{i:03d}.py", "file", 0o644, b"x = %d\n" % i) for i in range(300)]
    # 300 names of 240 bytes: a listing past 64 KiB needs the extended directory inode.
    items += [(f"wide/{i:03d}" + "w" * 237, "symlink", 0o777, "../data/text") for i in range(300)]
    return items


def entries(block: int) -> Iterator[tuple[ArchiveEntry, bytes | None]]:
    for i, (name, kind, mode, value) in enumerate(tree(block)):
        mtime = MTIME + i % 100
        if kind == "file":
            assert isinstance(value, bytes)
            yield ArchiveEntry(name, kind, mode, mtime, len(value)), value
        elif kind == "dir":
            yield ArchiveEntry(name, kind, mode, mtime), None
        else:
            yield ArchiveEntry(name, kind, mode, mtime, target=str(value)), None


def write_image(path: Path, settings: SquashfsSettings, threads: int = 2) -> None:
    write(path, "squashfs", settings.block_size, threads=threads, squashfs=settings)


def write(path: Path, fmt: str, block: int, **options: Any) -> None:
    """The tree for that block size, written by our writer of that format."""
    with open_writer(path, fmt, **options) as writer:
        for entry, content in entries(block):
            writer.add(entry, content)
        writer.commit()


def expected(block: int) -> dict[bytes, tuple]:
    """What a reader should show: kind, mode, mtime, content or target, and links."""
    items = tree(block)
    where = {item[0]: i for i, item in enumerate(items)}
    links = Counter(str(value) for _, kind, _, value in items if kind == "hardlink")
    result: dict[bytes, tuple] = {}
    for i, (name, kind, _, value) in enumerate(items):
        at = where[str(value)] if kind == "hardlink" else i  # a link shows its file's inode
        source, kind, mode, value = items[at]
        count = links[source] + 1 if kind == "file" else 1
        if isinstance(value, str):
            value = os.fsencode(value)
        result[os.fsencode(name)] = (kind, mode, MTIME + at % 100, value, count)
    for implicit in (b"deep", b"deep/a", b"deep/a/b", b"deep/a/b/c"):
        result[implicit] = ("dir", 0o755, NEWEST, None, 1)
    return result


def read_tree(root: Path) -> dict[bytes, tuple]:
    found: dict[bytes, tuple] = {}
    top = os.fsencode(root)
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, top)
            mode, mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("symlink", 0o777, mtime, os.readlink(path), 1)
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", mode, mtime, None, 1)
            else:
                with open(path, "rb") as f:
                    found[rel] = ("file", mode, mtime, f.read(), st.st_nlink)
    return found


def check(root: Path, block: int) -> None:
    found, want = read_tree(root), expected(block)
    assert sorted(found) == sorted(want)
    wrong = [name for name in want if found[name] != want[name]]
    assert not wrong, f"{len(wrong)} differ, first {wrong[0]!r}: {found[wrong[0]][:3]}"
    top = os.lstat(root)
    assert stat.S_IMODE(top.st_mode) == 0o755 and int(top.st_mtime) == NEWEST


def run(*args: object) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr, f"{args[0]}: {done.stderr}"
    return done.stdout


@contextlib.contextmanager
def mounted(command: list[str], image: Path, point: Path) -> Iterator[Path]:
    point.mkdir()
    done = subprocess.run([*command, str(image), str(point)], capture_output=True, text=True)
    assert done.returncode == 0, f"{command[0]} cannot mount the image: {done.stderr.strip()}"
    try:
        yield point
    finally:
        unmount = ["umount"] if command[0] == "mount" else ["fusermount", "-u"]
        subprocess.run([*unmount, str(point)], check=True)


CASES = [
    ("zstd", None, 128 << 10),
    ("zstd", 19, 4 << 10),
    ("zstd", 1, 1 << 20),
    ("gzip", None, 128 << 10),
    ("xz", None, 128 << 10),
    ("xz", 0, 4 << 10),
    ("lz4", None, 64 << 10),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2] >> 10}K")
def image(request, tmp_path_factory) -> tuple[Path, SquashfsSettings]:
    compressor, level, block = request.param
    default = {"zstd": 3, "gzip": 6, "xz": 6, "lz4": None}[compressor]
    settings = SquashfsSettings(compressor, default if level is None else level, block)
    path = tmp_path_factory.mktemp("image") / "tree.sqfs"
    write_image(path, settings)
    return path, settings


@pytest.mark.skipif(shutil.which("unsquashfs") is None, reason="unsquashfs absent (squashfs-tools)")
def test_unsquashfs_reads_it_all(image, tmp_path):
    path, settings = image
    stats = run("unsquashfs", "-s", path)
    assert f"Compression {settings.compressor}" in stats
    assert f"Block size {settings.block_size}" in stats
    run("unsquashfs", "-no-progress", "-d", tmp_path / "out", path)
    check(tmp_path / "out", settings.block_size)


@pytest.mark.skipif(
    shutil.which("squashfuse") is None or not os.path.exists("/dev/fuse"),
    reason="squashfuse or FUSE absent (apt-get install squashfuse fuse3)",
)
def test_squashfuse_reads_it_all(image, tmp_path):
    path, settings = image
    with mounted(["squashfuse"], path, tmp_path / "mnt") as point:
        check(point, settings.block_size)


LOOP = ["mount", "-t", "squashfs", "-o", "loop,ro"]


@pytest.fixture(scope="module")
def kernel_mounts(tmp_path_factory) -> None:
    """Whether this machine loop-mounts an image mksquashfs made; else the test skips (a
    container without loop devices), where our image failing to mount would be our fault."""
    if os.geteuid() != 0 or shutil.which("mksquashfs") is None:
        pytest.skip("a loop mount needs root, and mksquashfs for a known-good image")
    work = tmp_path_factory.mktemp("loop")
    (work / "tree").mkdir()
    run("mksquashfs", work / "tree", work / "good.sqfs", "-quiet", "-no-progress")
    (work / "mnt").mkdir()
    done = subprocess.run([*LOOP, str(work / "good.sqfs"), str(work / "mnt")], capture_output=True)
    if done.returncode:
        pytest.skip(f"no loop mounts here: {done.stderr.decode(errors='replace').strip()}")
    subprocess.run(["umount", str(work / "mnt")], check=True)


def test_the_kernel_reads_it_all(image, tmp_path, kernel_mounts):
    path, settings = image
    with mounted(LOOP, path, tmp_path / "mnt") as point:
        check(point, settings.block_size)


@pytest.mark.skipif(
    shutil.which("sqfsdiff") is None or shutil.which("mksquashfs") is None,
    reason="sqfsdiff or mksquashfs absent (squashfs-tools-ng, squashfs-tools)",
)
def test_libsquashfs_finds_it_equal_to_mksquashfs(image, tmp_path):
    """sqfsdiff compares both images as libsquashfs reads them: entries, modes, owners,
    link targets, contents, and which inodes are extended (the directory index of a
    listing past one metadata block, hard links, holes), as mksquashfs makes them."""
    path, settings = image
    tar = tmp_path / "tree.tar"
    write(tar, "tar", settings.block_size)
    tree_dir, theirs = tmp_path / "tree", tmp_path / "theirs.sqfs"
    tree_dir.mkdir(mode=0o755)
    run("tar", "-C", tree_dir, "-xpf", tar)  # mksquashfs 4.5's -tar cuts long link targets
    build = ["mksquashfs", tree_dir, theirs, "-all-root", "-quiet", "-no-progress"]
    run(*build, "-b", settings.block_size)
    print(run("sqfsdiff", "-a", theirs, "-b", path))


def test_same_bytes_whatever_the_threads(tmp_path):
    settings = SquashfsSettings("zstd", 3, 4 << 10)
    images = []
    for threads in (1, 2, 5):
        images.append(tmp_path / f"{threads}.sqfs")
        write_image(images[-1], settings, threads)
    assert len({image.read_bytes() for image in images}) == 1


class Zeros:
    """A file's content made as it is read: 4 GiB of zeros, never held."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return bytes(size)


@pytest.mark.skipif(
    shutil.which("squashfuse") is None or not os.path.exists("/dev/fuse"),
    reason="squashfuse or FUSE absent (apt-get install squashfuse fuse3)",
)
def test_a_file_past_4_gib(tmp_path):
    """Sizes past 32 bits take the extended file inode."""
    size = (4 << 30) + 5
    path = tmp_path / "big.sqfs"
    with open_writer(path, "squashfs", squashfs=SquashfsSettings("zstd", 1, 1 << 20)) as writer:
        writer.add(ArchiveEntry("big", "file", 0o644, MTIME, size), Zeros(size))
        writer.add(ArchiveEntry("after", "file", 0o644, MTIME, 6), b"after\n")
        writer.commit()
    assert path.stat().st_size < 1 << 20
    with mounted(["squashfuse"], path, tmp_path / "mnt") as point:
        big = point / "big"
        assert big.stat().st_size == size
        with big.open("rb") as f:
            f.seek(size - 4096)
            assert f.read() == bytes(4096)
        assert (point / "after").read_bytes() == b"after\n"


def test_a_name_too_long_for_squashfs_is_refused(tmp_path):
    out = tmp_path / "x.sqfs"
    with open_writer(out, "squashfs") as writer:
        writer.add(ArchiveEntry("fits-" + "n" * 251, "file", 0o644, MTIME, 0), b"")
        with pytest.raises(CondaPackageError, match="names of 256 bytes at most"):
            writer.add(ArchiveEntry("over-" + "n" * 252, "file", 0o644, MTIME, 0), b"")
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("unsquashfs") is None, reason="unsquashfs absent (squashfs-tools)")
def test_a_tree_deeper_than_pythons_stack(tmp_path):
    deep = "/".join(["d"] * 1500)  # 1,500 folders, none given an entry of its own
    out = tmp_path / "deep.sqfs"
    with open_writer(out, "squashfs") as writer:
        writer.add(ArchiveEntry(f"{deep}/leaf", "file", 0o644, MTIME, 5), b"leaf\n")
        writer.commit()
    assert f"squashfs-root/{deep}/leaf" in run("unsquashfs", "-l", out).splitlines()


def test_a_file_where_a_folder_was_made_is_refused(tmp_path):
    with open_writer(tmp_path / "x.sqfs", "squashfs") as writer:
        writer.add(ArchiveEntry("lib/python", "file", 0o644, MTIME, 0), b"")
        with pytest.raises(ValueError, match="'lib' is already in the image"):
            writer.add(ArchiveEntry("lib", "file", 0o644, MTIME, 0), b"")


def test_data_past_4_gib_into_the_image_takes_the_extended_inode():
    """A file whose data starts 4 GiB or more into the image (an image that large is too
    slow to write here): the basic inode's 32-bit start cannot hold it."""
    from conda_package.core.archive.squashfs.tables import FILE, File, inode_header

    node = File(FILE, 0o644, MTIME, number=7, size=10, start=5 << 30, blocks=[10])
    encoded = node.encode(inode_header(node))
    kind, mode, _, _, mtime, number = struct.unpack_from("<HHHHII", encoded)
    start, size, sparse, links, fragment = struct.unpack_from("<QQQII", encoded, 16)
    assert (kind, mode, mtime, number) == (9, 0o644, MTIME, 7)
    assert (start, size, sparse, links, fragment) == (5 << 30, 10, 0, 1, 0xFFFFFFFF)
    assert encoded[-4:] == struct.pack("<I", 10)  # its one block's size


@pytest.mark.skipif(
    shutil.which("squashfuse") is None or not os.path.exists("/dev/fuse"),
    reason="squashfuse or FUSE absent (apt-get install squashfuse fuse3)",
)
def test_an_empty_image(tmp_path):
    """No entries: a root folder alone, no fragment table entries, an empty listing."""
    path = tmp_path / "empty.sqfs"
    with open_writer(path, "squashfs") as writer:
        writer.commit()
    with mounted(["squashfuse"], path, tmp_path / "mnt") as point:
        assert list(point.iterdir()) == []
        assert stat.S_IMODE(point.stat().st_mode) == 0o755
