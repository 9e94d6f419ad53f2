"""Archive writers: every format round-trips a tree through Python's own readers and through
the real tools (gzip, zstd, bzip2, xz, unzip, GNU tar, bsdtar) that users extract it with."""

from __future__ import annotations

import bz2
import io
import os
import random
import re
import shutil
import stat
import struct
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import zstandard
from conda_package.core.archive import (
    ALIASES,
    FORMATS,
    PACK_FORMATS,
    ArchiveEntry,
    TarMembers,
    default_level,
    format_from_path,
    open_writer,
    pack_format,
    validate_level,
)
from conda_package.core.archive import zip as zip_format
from conda_package.core.archive.formats import EXTENSIONS
from conda_package.core.errors import CondaPackageError, UsageError

# 3 MiB: several compression blocks for gz, bz2 and xz level 0, two jobs of zstd, a zip
# member of many blocks; random within a bzip2 block (repeats make its sorting slow) but
# repeating for xz's default 4 MiB dictionary.
BIG = random.Random(7).randbytes(1 << 20) * 3
LONG_DIR = "share/" + "d" * 70
LONG = LONG_DIR + "/" + "f" * 73  # 150 characters
UNICODE_DIR = "lib/ünï cödé"

# name, kind, mode, content (file) or target (links); the big file is streamed from disk.
TREE: list[tuple[str, str, int, bytes | str | None]] = [
    ("bin", "dir", 0o755, None),
    ("bin/python3.11", "file", 0o755, BIG),
    ("bin/python3", "symlink", 0o777, "python3.11"),
    ("bin/python3.11-hard", "hardlink", 0o755, "bin/python3.11"),
    ("empty", "dir", 0o700, None),
    ("lib", "dir", 0o755, None),
    ("lib/empty.txt", "file", 0o644, b""),
    ("lib/long-link", "symlink", 0o777, "../" + LONG),
    ("lib/read-only.txt", "file", 0o444, b"read only\n"),
    ("lib/read-only-hard.txt", "hardlink", 0o444, "lib/read-only.txt"),
    (UNICODE_DIR, "dir", 0o755, None),
    (UNICODE_DIR + "/fïle with spaces.txt", "file", 0o600, "ünïcode\n".encode()),
    ("ro", "dir", 0o555, None),
    ("ro/inside.txt", "file", 0o644, b"inside a read-only directory\n"),
    ("share", "dir", 0o755, None),
    (LONG_DIR, "dir", 0o755, None),
    (LONG, "file", 0o644, b"long name\n"),
]
MTIME = 1_700_000_000  # even, so zip's two-second DOS times hold it exactly

# Levels beyond the defaults that exercise other block sizes.
CASES = [(fmt, None) for fmt in FORMATS] + [("tar.xz", 0), ("tar.bz2", 1), ("zip", 0)]

# The tool that checks each compressed format whole, and the tools users extract with.
TESTERS = {
    "tar.gz": ["gzip", "-t"],
    "tar.zst": ["zstd", "-q", "-t"],
    "tar.bz2": ["bzip2", "-t"],
    "tar.xz": ["xz", "-t"],
    "zip": ["unzip", "-tq"],
}
# tar formats: GNU tar and bsdtar; squashfs images: unsquashfs (squashfs-tools). The sh
# installer extracts itself (test_installer.py).
EXTRACTORS: dict[str, tuple[str, ...]] = {
    "zip": ("unzip", "bsdtar"),
    "squashfs": ("unsquashfs",),
    "sh": (),
}


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def output_path(tmp_path: Path, fmt: str, stem: str = "out") -> Path:
    return tmp_path / (stem if fmt == "dir" else f"{stem}.{fmt}")


def entries(src: Path) -> Iterator[tuple[ArchiveEntry, bytes | Path | None]]:
    for i, (name, kind, mode, value) in enumerate(TREE):
        mtime = MTIME + 2 * i
        if kind == "file":
            assert isinstance(value, bytes)
            content: bytes | Path = value
            if value is BIG:
                content = src / "big"
                content.write_bytes(BIG)
            yield ArchiveEntry(name, kind, mode, mtime, len(value)), content
        elif kind in ("hardlink", "symlink"):
            yield ArchiveEntry(name, kind, mode, mtime, target=str(value)), None
        else:
            yield ArchiveEntry(name, kind, mode, mtime), None


def write(
    tmp_path: Path, fmt: str, level: int | None = None, *, threads: int = 0, stem: str = "out"
) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    out = output_path(tmp_path, fmt, stem)
    with open_writer(str(out), fmt, level=level, threads=threads) as writer:
        for entry, content in entries(src):
            if isinstance(content, Path):
                with content.open("rb") as stream:
                    writer.add(entry, stream)
            else:
                writer.add(entry, content)
        writer.commit()
    return out


def read_tar(path: Path, fmt: str) -> dict[str, tuple]:
    """Read as a stream: blocks compressed apart must still form one compressed stream."""
    found = {}
    data = path.read_bytes()
    if fmt == "sh":  # the tar.gz after the installer script, where the script says
        data = data[int(re.search(rb"^offset=(\d+)$", data, re.M)[1]) - 1 :]
    if fmt == "tar.zst":
        data = zstandard.ZstdDecompressor().stream_reader(data).read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as tar:
        for m in tar:
            assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")
            if m.isfile():
                value: bytes | str | None = tar.extractfile(m).read()  # type: ignore[union-attr]
                kind = "file"
            elif m.isdir():
                value, kind = None, "dir"
            else:
                value, kind = m.linkname, "symlink" if m.issym() else "hardlink"
            found[m.name] = (kind, m.mode, int(m.mtime), value)
    return found


def read_zip(path: Path) -> dict[str, tuple]:
    found = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            mode = info.external_attr >> 16
            data = zf.read(info)
            # The exact mtime is in the extended-timestamp field; DOS time is UTC.
            assert info.extra[:5] == b"UT\x05\x00\x01"
            (mtime,) = struct.unpack("<i", info.extra[5:9])
            assert info.date_time == time.gmtime(mtime)[:6]
            if stat.S_ISDIR(mode):
                assert info.filename.endswith("/") and info.external_attr & 0x10
                found[info.filename[:-1]] = ("dir", stat.S_IMODE(mode), mtime, None)
            elif stat.S_ISLNK(mode):
                found[info.filename] = ("symlink", stat.S_IMODE(mode), mtime, data.decode())
            else:
                assert stat.S_ISREG(mode)
                found[info.filename] = ("file", stat.S_IMODE(mode), mtime, data)
    return found


def read_dir(path: Path) -> dict[str, tuple]:
    """The tree in TREE's order, so the first name of an inode is the file, later ones links."""
    names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))
    assert names == sorted(t[0] for t in TREE)
    found = {}
    inodes: dict[int, str] = {}
    for name in [t[0] for t in TREE]:
        item = path / name
        st = item.lstat()
        mode, mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
        if item.is_symlink():
            found[name] = ("symlink", mode, mtime, os.readlink(item))
        elif item.is_dir():
            found[name] = ("dir", mode, mtime, None)
        elif st.st_ino in inodes:
            found[name] = ("hardlink", mode, mtime, inodes[st.st_ino])
        else:
            inodes[st.st_ino] = name
            found[name] = ("file", mode, mtime, item.read_bytes())
    return found


def expected(fmt: str) -> dict[str, tuple]:
    result = {}
    names = [t[0] for t in TREE]
    for i, (name, kind, mode, value) in enumerate(TREE):
        mtime = MTIME + 2 * i
        if kind == "hardlink" and fmt == "zip":  # zip copies the linked member
            kind, value = "file", TREE[names.index(str(value))][3]
        elif kind == "hardlink" and fmt in ("dir", "squashfs"):  # one inode: the file's times
            mtime = MTIME + 2 * names.index(str(value))
        if fmt in ("dir", "squashfs") and kind == "symlink":
            mode = 0o777  # Linux ignores symlink modes
        result[name] = (kind, mode, mtime, value)
    return result


def read_back(path: Path, fmt: str) -> dict[str, tuple]:
    if fmt == "squashfs":  # read by extracting it whole, as with the dir output
        if shutil.which("unsquashfs") is None:
            pytest.skip("unsquashfs absent (apt-get install squashfs-tools)")
        with tempfile.TemporaryDirectory() as elsewhere:  # tmp_path holds only what was written
            dest = Path(elsewhere) / "image"
            extract("unsquashfs", path, dest)
            return read_dir(dest)
    if fmt == "zip":
        return read_zip(path)
    if fmt == "dir":
        return read_dir(path)
    return read_tar(path, fmt)


def run_tool(*args: str) -> str:
    """Run a real tool in a UTF-8 locale (for unzip's names); its output. A warning fails
    too: a reader that had to work around the archive is a failure."""
    result = subprocess.run(
        args, capture_output=True, env={**os.environ, "LC_ALL": "C.UTF-8"}, check=False
    )
    complaint = result.stderr.decode(errors="replace")
    assert result.returncode == 0 and not complaint, f"{' '.join(args)}: {complaint}"
    return result.stdout.decode(errors="replace")


def extract(tool: str, archive: Path, dest: Path) -> None:
    dest.mkdir()
    if tool == "unzip":
        run_tool("unzip", "-q", str(archive), "-d", str(dest))
    elif tool == "unsquashfs":
        run_tool("unsquashfs", "-no-progress", "-f", "-d", str(dest), str(archive))
    else:  # -p: modes as stored, whatever the umask
        run_tool(tool, "-xpf", str(archive), "-C", str(dest))


def extracted(tool: str, archive: Path, dest: Path) -> dict[str, tuple]:
    """The tree a tool extracts, read as read_dir() does; unzip leaves symlink times alone."""
    extract(tool, archive, dest)
    found = read_dir(dest)
    if tool == "unzip":
        found = {n: (k, m, None if k == "symlink" else t, v) for n, (k, m, t, v) in found.items()}
    return found


def expected_extracted(fmt: str, tool: str) -> dict[str, tuple]:
    """What extracting gives: tar's hard links share an inode as in a dir output; zip's
    are copies; Linux symlinks have mode 0777."""
    if fmt != "zip":
        return expected("dir")
    result = expected("zip")
    for name, (kind, _, mtime, target) in result.items():
        if kind == "symlink":
            result[name] = (kind, 0o777, None if tool == "unzip" else mtime, target)
    return result


def check_with_real_tools(archive: Path, fmt: str, work: Path) -> None:
    """The format's own tester reads the archive whole, and every extractor gives back
    what was packed. Tools not on PATH are skipped by name, after the others ran."""
    missing = []
    tester = TESTERS.get(fmt)
    if tester and shutil.which(tester[0]):
        run_tool(*tester, str(archive))
    elif tester:
        missing.append(tester[0])
    for tool in EXTRACTORS.get(fmt, ("tar", "bsdtar")):
        # GNU tar runs the format's compressor to read it.
        needs = [tool, tester[0]] if tool == "tar" and tester else [tool]
        absent = [name for name in needs if not shutil.which(name)]
        if absent:
            missing += absent
            continue
        found = extracted(tool, archive, work / f"extracted-by-{tool}")
        assert found == expected_extracted(fmt, tool), f"extracted by {tool}"
    if missing:
        pytest.skip(f"not on PATH: {', '.join(sorted(set(missing)))}")


@pytest.mark.parametrize(("fmt", "level"), CASES)
def test_round_trip(tmp_path: Path, fmt: str, level: int | None) -> None:
    out = write(tmp_path, fmt, level)
    assert read_back(out, fmt) == expected(fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["src", out.name])


@pytest.mark.parametrize(("fmt", "level"), [c for c in CASES if c[0] != "dir"] + [("tar.zst", 9)])
def test_real_tools_read_every_format(tmp_path: Path, fmt: str, level: int | None) -> None:
    """Over 3 MiB of content: several blocks (gzip, bzip2, xz level 0, zip members) or
    zstd jobs, each joined into one stream the real tools must read whole."""
    out = write(tmp_path, fmt, level)
    check_with_real_tools(out, fmt, tmp_path)


def test_xz_is_cut_into_several_blocks(tmp_path: Path) -> None:
    """The tree is large enough to be cut, so the tests above read joined blocks."""
    if not shutil.which("xz"):
        pytest.skip("not on PATH: xz")
    listing = run_tool("xz", "--robot", "-l", str(write(tmp_path, "tar.xz", 0)))
    totals = next(line.split("\t") for line in listing.splitlines() if line.startswith("totals"))
    assert int(totals[2]) >= 2  # blocks, after the count of streams


def test_zip64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the limits lowered, sizes, offsets and the entry count all take the zip64 path."""
    monkeypatch.setattr(zip_format, "_ZIP64_LIMIT", 100)
    monkeypatch.setattr(zip_format, "_ZIP_COUNT_LIMIT", 3)
    out = write(tmp_path, "zip")
    assert b"PK\x06\x06" in out.read_bytes()[-200:]  # zip64 end of central directory
    assert read_zip(out) == expected("zip")
    check_with_real_tools(out, "zip", tmp_path)


@pytest.mark.parametrize(("fmt", "level"), [*[(f, None) for f in FORMATS], ("tar.xz", 0)])
def test_deterministic_whatever_the_threads(tmp_path: Path, fmt: str, level: int | None) -> None:
    one = write(tmp_path, fmt, level, threads=1, stem="one")
    three = write(tmp_path, fmt, level, threads=3, stem="three")
    if fmt == "dir":
        assert read_dir(one) == read_dir(three)
    else:
        assert one.read_bytes() == three.read_bytes()


TAR_FORMATS = [f for f in FORMATS if f.startswith("tar")]


@pytest.mark.parametrize(("fmt", "level"), [*[(f, None) for f in TAR_FORMATS], ("tar.zst", 9)])
def test_members_sealed_in_other_threads(tmp_path: Path, fmt: str, level: int | None) -> None:
    """As the packer writes: runs serialised and sealed (compressed, where the codec
    allows) by worker threads, the big file streamed by the writer between them."""
    src = tmp_path / "src"
    src.mkdir()
    items = list(entries(src))
    big = next(i for i, (_, content) in enumerate(items) if isinstance(content, Path))
    out = output_path(tmp_path, fmt)
    with (
        open_writer(str(out), fmt, level=level, threads=2) as writer,
        ThreadPoolExecutor(2) as pool,
    ):

        def seal(run: list[tuple[ArchiveEntry, bytes | Path | None]]) -> object:
            members = TarMembers()
            for entry, content in run:
                assert not isinstance(content, Path)
                members.add(entry.name, entry.kind, entry.mode, entry.mtime, content or b"",
                            entry.target)  # fmt: skip
            return writer.seal_members(members.finish())

        runs = [items[:big], items[big + 1 : big + 5], items[big + 5 :]]
        sealed = [pool.submit(seal, run) for run in runs]
        for i, (run, future) in enumerate(zip(runs, sealed, strict=True)):
            names = [entry.name for entry, _ in run]
            linkable = [e.name for e, _ in run if e.kind in ("file", "hardlink")]
            writer.add_tar_members(future.result(), names, linkable)  # type: ignore[arg-type]
            if i == 0:
                entry, content = items[big]
                with content.open("rb") as stream:  # type: ignore[union-attr]
                    writer.add(entry, stream)
        writer.commit()
    assert read_tar(out, fmt) == expected(fmt)
    check_with_real_tools(out, fmt, tmp_path)


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.bz2"])  # the caller compresses their runs
def test_sealed_runs_are_written_as_they_come(tmp_path: Path, fmt: str) -> None:
    """Runs compressed by the caller go to disk in turn, never held back behind the
    writer's own blocks: memory stays bounded whatever the size of the environment."""
    out = tmp_path / f"x.{fmt}"
    data = random.Random(1).randbytes(2 << 20)  # does not compress
    with open_writer(str(out), fmt, threads=2) as writer:
        writer.add(ArchiveEntry("big", "file", 0o644, 0, len(BIG)), BIG)  # the writer's blocks
        for i in range(6):
            members = TarMembers()
            members.add(f"f{i}", "file", 0o644, 0, data)
            writer.add_tar_members(writer.seal_members(members.finish()), [f"f{i}"], [f"f{i}"])
            (partial,) = tmp_path.glob(f"x.{fmt}.partial-*")
            assert partial.stat().st_size > (i + 1) * len(data)
        writer.commit()
    assert read_tar(out, fmt)["f5"][3] == data


def test_gzip_header_has_no_name_or_time(tmp_path: Path) -> None:
    header = write(tmp_path, "tar.gz").read_bytes()[:10]
    assert header[:4] == b"\x1f\x8b\x08\x00" and header[4:8] == bytes(4)


def test_bz2_worst_case_run_lengths_stay_one_block_per_piece(tmp_path: Path) -> None:
    """Runs of exactly four bytes grow by 5/4 in bzip2's first step: the stream CRC holds."""
    data = b"".join(bytes([i % 251]) * 4 for i in range(100_000))
    out = tmp_path / "runs.tar.bz2"
    with open_writer(str(out), "tar.bz2", level=1, threads=2) as writer:
        writer.add(ArchiveEntry("runs", "file", 0o644, 0, len(data)), data)
        writer.commit()
    with tarfile.open(out) as tar:
        assert tar.extractfile("runs").read() == data  # type: ignore[union-attr]
    assert bz2.decompress(out.read_bytes())[512 : 512 + len(data)] == data


@pytest.mark.parametrize("fmt", FORMATS)
def test_abort_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    writer = open_writer(str(output_path(tmp_path, fmt)), fmt)
    writer.add(ArchiveEntry("a", "dir", 0o555))
    writer.add(ArchiveEntry("a/b", "file", 0o444, size=3), b"abc")
    writer.abort()
    writer.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_exception_inside_with_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(RuntimeError), open_writer(str(output_path(tmp_path, fmt)), fmt) as w:
        w.add(ArchiveEntry("a", "file", 0o644, size=len(BIG)), BIG)
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_leaving_with_without_commit_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    with open_writer(str(output_path(tmp_path, fmt)), fmt) as writer:
        writer.add(ArchiveEntry("a", "file", 0o644, size=1), b"a")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_committed_mode_follows_umask(tmp_path: Path, fmt: str) -> None:
    out = output_path(tmp_path, fmt)
    with open_writer(str(out), fmt) as writer:
        writer.commit()
    runs = fmt in ("dir", "sh")  # a folder, or the installer script
    assert stat.S_IMODE(out.stat().st_mode) == (0o755 if runs else 0o644)
    os.umask(0o027)
    out.rename(tmp_path / "first")
    with open_writer(str(out), fmt) as writer:
        writer.commit()
    assert stat.S_IMODE(out.stat().st_mode) == (0o750 if runs else 0o640)


@pytest.mark.parametrize("fmt", ["tar", "dir"])
@pytest.mark.parametrize("existing", ["file", "dir"])
def test_commit_replaces_an_existing_output(tmp_path: Path, fmt: str, existing: str) -> None:
    out = tmp_path / "out"
    if existing == "dir":
        (out / "ro").mkdir(parents=True)
        (out / "ro" / "old").write_text("old")
        (out / "ro").chmod(0o555)
    else:
        out.write_text("old")
    with open_writer(str(out), fmt) as writer:
        writer.add(ArchiveEntry("new", "file", 0o644, size=3), b"new")
        writer.commit()
    if fmt == "dir":
        assert [p.name for p in out.iterdir()] == ["new"]
    else:
        with tarfile.open(out) as tar:
            assert tar.getnames() == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_broken_writer_cannot_commit(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"short")
    out = tmp_path / "out.tar.gz"
    with open_writer(str(out), "tar.gz") as writer:
        with source.open("rb") as stream, pytest.raises(CondaPackageError, match="shrank"):
            writer.add(ArchiveEntry("f", "file", 0o644, size=10), stream)
        with pytest.raises(ValueError, match="broken"):
            writer.commit()
    assert [p.name for p in tmp_path.iterdir()] == ["source"]


def test_a_file_that_grew_is_refused(tmp_path: Path) -> None:
    with (
        open_writer(str(tmp_path / "out.tar"), "tar") as writer,
        pytest.raises(CondaPackageError, match="grew"),
    ):
        writer.add(ArchiveEntry("f", "file", 0o644, size=2), io.BytesIO(b"abc"))


def test_add_checks(tmp_path: Path) -> None:
    with open_writer(str(tmp_path / "out.zip"), "zip") as writer:
        writer.add(ArchiveEntry("f", "file", 0o644, size=1), b"x")
        with pytest.raises(ValueError, match="duplicate"):
            writer.add(ArchiveEntry("f", "file", 0o644, size=1), b"x")
        with pytest.raises(ValueError, match="not an earlier file"):
            writer.add(ArchiveEntry("h", "hardlink", 0o644, target="missing"), b"x")
        with pytest.raises(ValueError, match="bytes given"):
            writer.add(ArchiveEntry("g", "file", 0o644, size=5), b"x")


def test_dir_output_creates_missing_parents(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open_writer(str(out), "dir") as writer:
        writer.add(ArchiveEntry("a/b/c.txt", "file", 0o644, size=1), b"c")
        writer.add(ArchiveEntry("a/b", "dir", 0o555))
        writer.commit()
    assert (out / "a" / "b" / "c.txt").read_bytes() == b"c"
    assert stat.S_IMODE((out / "a" / "b").stat().st_mode) == 0o555


def test_dir_output_never_writes_through_a_symlink(tmp_path: Path) -> None:
    with open_writer(str(tmp_path / "out"), "dir") as writer:
        writer.add(ArchiveEntry("link", "symlink", 0o777, target=str(tmp_path)))
        with pytest.raises(ValueError, match="not a directory"):
            writer.add(ArchiveEntry("link/escape.txt", "file", 0o644, size=1), b"e")
    assert list(tmp_path.iterdir()) == []


def test_pax_headers_for_what_ustar_cannot_hold(tmp_path: Path) -> None:
    undecodable = os.fsdecode(b"caf\xe9")
    out = tmp_path / "out.tar"
    with open_writer(str(out), "tar") as writer:
        writer.add(ArchiveEntry(undecodable, "file", 0o644, -1, 1), b"x")
        writer.add(ArchiveEntry("far", "file", 0o644, 2**40, 0), b"")
        writer.commit()
    with tarfile.open(out, encoding="utf-8", errors="surrogateescape") as tar:
        members = tar.getmembers()
    assert [(m.name, int(m.mtime)) for m in members] == [(undecodable, -1), ("far", 2**40)]


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "/abs"},
        {"name": "a/../b"},
        {"name": ".."},
        {"name": "a//b"},
        {"name": "a/"},
        {"name": "./a"},
        {"name": ""},
        {"kind": "fifo"},
        {"size": -1},
        {"kind": "symlink"},
        {"kind": "hardlink", "target": "../x"},
    ],
)
def test_entry_validation(bad: dict) -> None:
    fields = {"name": "a", "kind": "file", "mode": 0o644, **bad}
    with pytest.raises(ValueError):
        ArchiveEntry(**fields)


def test_entry_keeps_only_permission_bits() -> None:
    assert ArchiveEntry("a", "file", 0o100755).mode == 0o755


def test_levels() -> None:
    assert [default_level(f) for f in FORMATS] == [3, 1, 9, 3, None, 4, None, 3, None]
    assert validate_level("tar.zst", None) == 1
    assert validate_level("tar.zst", 22) == 22
    assert validate_level("tar.xz", 0) == 0
    assert validate_level("zip", 0) == 0
    assert validate_level("tar.gz", 0) == 0  # stored, as conda-pack allows
    assert validate_level("tar", None) is None
    wrong = [("tar.zst", 0), ("tar.zst", 23), ("tar.gz", -1), ("tar.gz", 10), ("tar.bz2", 0)]
    wrong += [("tar.xz", -1), ("tar.xz", 10), ("zip", 10)]
    for fmt, level in wrong:
        with pytest.raises(UsageError, match=rf"level {level} is out of range for {fmt}"):
            validate_level(fmt, level)
    for fmt in ("tar", "dir"):
        with pytest.raises(UsageError, match="takes no compression level"):
            validate_level(fmt, 1)
    with pytest.raises(UsageError, match="unknown archive format"):
        validate_level("rar", None)
    with pytest.raises(UsageError, match="threads"):
        open_writer("unused.tar", "tar", threads=-2)


def test_format_from_path() -> None:
    assert format_from_path("env.tar.gz") == "tar.gz"
    assert format_from_path("/x/ENV.TGZ") == "tar.gz"
    assert format_from_path("env.tzst") == "tar.zst"
    assert format_from_path("env.tar.bz2") == "tar.bz2"
    assert format_from_path("env.txz") == "tar.xz"
    assert format_from_path("env.tar") == "tar"
    assert format_from_path(Path("env.zip")) == "zip"
    assert format_from_path("env") is None
    assert format_from_path("env.gz") is None
    assert format_from_path("x-1.0-el7.parcel") == "parcel"
    assert format_from_path("env.no-archive") == "dir"  # conda-pack's
    assert set(EXTENSIONS.values()) == set(PACK_FORMATS)


def test_conda_pack_format_names() -> None:
    assert {name: pack_format(name) for name in ALIASES} == {
        "tgz": "tar.gz", "tzst": "tar.zst", "tbz2": "tar.bz2", "txz": "tar.xz",
        "no-archive": "dir",
    }  # fmt: skip
    assert pack_format("infer") is None
    assert [pack_format(name) for name in PACK_FORMATS] == list(PACK_FORMATS)
    with pytest.raises(UsageError, match=r"unknown archive format 'tar\.lz'.*conda-pack's tgz"):
        pack_format("tar.lz")
    assert validate_level("parcel", None) == default_level("tar.gz")
