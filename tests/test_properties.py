"""Properties over random input: any file tree packs and extracts to the same tree in every
format, and conda-unpack then relocates it fully; any sequence of moves relocates an unpacked
environment to exactly what a single move would give.

The byte-level relocation properties (restore then replace gives the input back; binary
replacement keeps the length and stays inside each string's NUL room) are in
test_relocation.py.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import stat
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest
from conda_package.core import PackOptions, pack
from conda_package.core.load.environment import Environment
from conda_package.core.unpack import conda_unpack as relocation
from conda_package.core.unpack import replace_binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realenv import install

FORMATS = ["tar.gz", "tar.zst", "tar.bz2", "tar.xz", "tar", "zip", "dir"]
MARK = b"@PREFIX@"  # replaced by the source prefix when the tree is made

# Names with spaces and non-ASCII; none that conda's rules leave out (editor backups `*~`)
# or that the packer drops on purpose (byte-code next to its source).
names = st.text(st.sampled_from(list("abcXY09 -_.éü中ß")), min_size=1, max_size=8).filter(
    lambda n: n not in (".", "..") and not n.endswith(("~", ".pyc"))
)
text = st.binary(max_size=40).map(lambda b: b.replace(b"\0", b"").replace(b"@", b""))
contents = st.one_of(
    st.binary(max_size=300).map(lambda b: b.replace(MARK, b"")),
    st.just(b""),
    st.builds(lambda a, b: a + MARK + b"/lib\n" + b, text, text),  # holds the prefix
)
FILE_MODES = [0o644, 0o755, 0o600, 0o444, 0o700, 0o640, 0o400]
DIR_MODES = [0o755, 0o700, 0o555, 0o750]
targets = st.one_of(
    names,
    names.map(lambda n: f"../{n}"),
    st.sampled_from(["/etc/passwd", "/nonexistent/x", "..", "."]),
)
entries = st.lists(
    st.tuples(
        st.lists(names, min_size=1, max_size=3),
        st.sampled_from(["file", "file", "file", "dir", "symlink", "hardlink"]),
        contents,
        st.sampled_from(FILE_MODES),
        st.sampled_from(DIR_MODES),
        targets,
        st.integers(0, 1000),
    ),
    max_size=30,
)


def make_tree(root: Path, spec: list, prefix: bytes) -> None:
    """Lay the drawn entries out under root, skipping those that clash with earlier ones."""
    root.mkdir()
    kinds: dict[str, str] = {}
    files: list[str] = []
    dir_modes: dict[str, int] = {}
    for parts, kind, content, file_mode, dir_mode, target, pick in spec:
        rel = "/".join(parts)
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        if rel in kinds or any(kinds.get(p, "dir") != "dir" for p in parents):
            continue
        if kind == "hardlink" and not files:
            continue
        for parent in parents:
            if parent not in kinds:
                (root / parent).mkdir()
                kinds[parent] = "dir"
        path = root / rel
        if kind == "file":
            path.write_bytes(content.replace(MARK, prefix))
            path.chmod(file_mode)
            files.append(rel)
        elif kind == "dir":
            path.mkdir()
            dir_modes[rel] = dir_mode
        elif kind == "symlink":
            path.symlink_to(target)
        else:
            os.link(root / files[pick % len(files)], path)
            files.append(rel)
        kinds[rel] = kind if kind != "hardlink" else "file"
    for rel in sorted(dir_modes, key=len, reverse=True):  # read-only ones last
        (root / rel).chmod(dir_modes[rel])


def describe(root: Path) -> tuple[dict[str, tuple], list[list[str]]]:
    """Every entry's kind, mode, content or link target; and the groups sharing an inode."""
    found: dict[str, tuple] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st_ = os.lstat(path)
            if stat.S_ISLNK(st_.st_mode):
                found[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(st_.st_mode):
                found[rel] = ("dir", oct(stat.S_IMODE(st_.st_mode)))
            else:
                with open(path, "rb") as fh:
                    found[rel] = ("file", oct(stat.S_IMODE(st_.st_mode)), fh.read())
                inodes.setdefault(st_.st_ino, []).append(rel)
    groups = sorted(sorted(group) for group in inodes.values() if len(group) > 1)
    return found, groups


def remove(path: Path) -> None:
    """rmtree, also through the read-only directories the trees have."""
    if not path.exists():
        return
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, 0o700)
    path.chmod(0o700)
    shutil.rmtree(path)


def extract(archive: Path, fmt: str, dest: Path) -> Path:
    if fmt == "dir":
        return archive
    dest.mkdir()
    if fmt == "zip":
        subprocess.run(["unzip", "-q", str(archive), "-d", str(dest)], check=True)
    else:
        subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True)
    return dest


@pytest.fixture(scope="module")
def base_prefix(small_channel: Path, tmp_path_factory) -> Path:
    """A small real environment; each example puts its own tree under share/random."""
    root = tmp_path_factory.mktemp("property-source")
    return install(small_channel, ["tool", "data"], root / "env", small_channel.parent / "pkgs")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("property-work")


_counter = itertools.count()


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=entries)
def test_any_tree_packs_extracts_and_relocates_unchanged(
    base_prefix: Path, work: Path, fmt: str, spec: list
) -> None:
    source = base_prefix / "share" / "random"
    remove(source)
    make_tree(source, spec, str(base_prefix).encode())
    n = next(_counter)
    output = work / (f"out{n}" if fmt == "dir" else f"out{n}.{fmt}")
    dest = work / f"x{n}"
    try:
        # zip keeps symlinks as links only with zip_symlinks (--zip-symlinks), as compared here
        options = PackOptions(output=str(output), format=fmt, zip_symlinks=True)
        pack(Environment.load(str(base_prefix)), options)
        target = extract(output, fmt, dest)
        want_entries, want_links = describe(source)
        got_entries, got_links = describe(target / "share" / "random")
        assert got_entries == want_entries
        if fmt != "zip":  # zip has no hard links: each name gets its own copy
            assert got_links == want_links

        relocation.unpack(str(target))
        old, new = str(base_prefix).encode(), str(target).encode()
        for rel, entry in describe(target / "share" / "random")[0].items():
            if entry[0] == "file":
                expected = want_entries[rel][2].replace(old, new)
                assert entry[2] == expected, rel
    finally:
        remove(dest)
        remove(output) if fmt == "dir" else output.unlink(missing_ok=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=entries)
def test_any_tree_packs_as_zip_with_symlinks_as_what_they_point_to(
    base_prefix: Path, work: Path, spec: list
) -> None:
    """Without --zip-symlinks, every member reads as the path does on disk (through links,
    loops and links to links); only links that lead nowhere packed stay links."""
    source = base_prefix / "share" / "random"
    remove(source)
    make_tree(source, spec, str(base_prefix).encode())
    output = work / f"deref{next(_counter)}.zip"
    try:
        pack(Environment.load(str(base_prefix)), PackOptions(output=str(output), format="zip"))
        with zipfile.ZipFile(output) as zf:
            members = {i.filename.rstrip("/"): i for i in zf.infolist()}
            for name, info in members.items():
                if not name.startswith("share/random/"):
                    continue  # the packages' files and the generated ones
                on_disk = base_prefix / name  # the OS follows the links on the way
                if stat.S_ISLNK(info.external_attr >> 16):
                    assert zf.read(info).decode() == os.readlink(on_disk), name
                elif info.is_dir():
                    assert on_disk.is_dir(), name
                elif Path(os.path.realpath(on_disk)).is_relative_to(source):
                    # (package files elsewhere hold their placeholder, restored)
                    assert zf.read(info) == on_disk.read_bytes(), name
        for dirpath, dirnames, filenames in os.walk(source):
            for entry in dirnames + filenames:
                assert os.path.relpath(os.path.join(dirpath, entry), base_prefix) in members
    finally:
        output.unlink(missing_ok=True)


# --- moving an unpacked environment again and again -------------------------------------

PLACEHOLDER = "/tmp/build/" + "_placehold" * 14  # 151 bytes
BINARY = b"\x7fELF\0" + PLACEHOLDER.encode() + b"/lib\0" + b"\0" * 8 + b"tail\0"
TEXT = f"home={PLACEHOLDER}\nlib={PLACEHOLDER}/lib\n".encode()


def _fake_unpacked(prefix: Path) -> None:
    """An environment as extracted from an archive: one binary, one text file (two names)."""
    (prefix / "lib").mkdir(parents=True)
    state = prefix / relocation.PLACEHOLDER_STATE_DIR
    state.mkdir(parents=True)
    (prefix / "lib/libx.so").write_bytes(BINARY)
    (prefix / "lib/conf.txt").write_bytes(TEXT)
    os.link(prefix / "lib/conf.txt", prefix / "lib/conf-link.txt")
    files = [
        {"path": "lib/libx.so", "placeholder": PLACEHOLDER, "mode": "binary"},
        {"path": "lib/conf.txt", "placeholder": PLACEHOLDER, "mode": "text"},
        {"path": "lib/conf-link.txt", "placeholder": PLACEHOLDER, "mode": "text"},
    ]
    manifest = {"version": 1, "source_prefix": "/old", "subdir": "linux-64", "files": files}
    (state / relocation.MANIFEST_NAME).write_text(json.dumps(manifest))


# Short names from few letters, so one often contains another ("e" -> "ee" -> "e2e").
move_names = st.text(st.sampled_from("e2"), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(moves=st.lists(move_names, min_size=1, max_size=6))
def test_any_sequence_of_moves_equals_one_move(moves: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        current = Path(tmp) / "start"
        _fake_unpacked(current)
        for name in moves:
            moved = Path(tmp) / name
            if moved != current:
                current.rename(moved)
                current = moved
            relocation.unpack(str(current))
        new = str(current).encode()
        assert (current / "lib/libx.so").read_bytes() == replace_binary(
            BINARY, PLACEHOLDER.encode(), new
        )
        assert (current / "lib/conf.txt").read_bytes() == TEXT.replace(PLACEHOLDER.encode(), new)
        assert os.path.samefile(current / "lib/conf.txt", current / "lib/conf-link.txt")
        assert relocation.unpack(str(current)) == []  # nothing left to do
