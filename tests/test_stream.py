"""Streamed prefix search, replacement and restore equal the whole-buffer rules, cut anywhere."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from conda_package.core.relocate import (
    CHUNK_SIZE,
    MAX_STRING,
    PrefixScan,
    StreamReplace,
    StringTooLongError,
    read_chunks,
    restore_package_bytes,
    restore_verified,
    scan,
)
from conda_package.core.unpack import (
    UNLIMITED_ROOM,
    RelocationError,
    binary_room,
    replace_binary,
    replace_text,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Few letters, so that needles, their partial copies and NUL runs meet often.
needles = st.binary(min_size=1, max_size=4).map(lambda b: bytes(b"ab/"[x % 3] for x in b))
replacements = st.binary(max_size=7).map(lambda b: bytes(b"ab/c"[x % 4] for x in b))
chunk_sizes = st.lists(st.integers(1, 12), min_size=1, max_size=8) | st.just([1 << 20])


def data_with(needle_list: list[bytes]) -> st.SearchStrategy[bytes]:
    """Bytes made of the needles, their beginnings, NUL runs (padding) and stray letters."""
    piece = st.one_of(
        st.sampled_from(needle_list),
        st.sampled_from(needle_list).flatmap(lambda n: st.integers(1, len(n)).map(lambda k: n[:k])),
        st.integers(0, 9).map(lambda n: b"\0" * n),
        st.sampled_from([b"a", b"b", b"/", b"Z", b"\0"]),
    )
    return st.lists(piece, max_size=30).map(b"".join)


def cut(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    at, n = 0, 0
    while at < len(data):
        yield data[at : at + sizes[n % len(sizes)]]
        at += sizes[n % len(sizes)]
        n += 1


def streamed(chunks: Iterator[bytes], old: bytes, new: bytes, mode: str) -> bytes:
    replace = StreamReplace(old, new, mode)  # type: ignore[arg-type]
    out = [replace.feed(chunk) for chunk in chunks]
    return b"".join(out) + replace.finish()


def outcome(call):
    """The result, or the error as what tells two errors apart: type, message, room."""
    try:
        return call()
    except RelocationError as exc:
        return type(exc), str(exc), getattr(exc, "room", None)


@st.composite
def scan_cases(draw):
    given_needles = draw(st.lists(needles, min_size=1, max_size=3, unique=True))
    return given_needles, draw(data_with(given_needles)), draw(chunk_sizes)


@given(scan_cases())
@settings(max_examples=400)
def test_scan_counts_finds_nul_and_room_as_the_whole_buffer(case):
    given_needles, data, sizes = case
    result = scan(cut(data, sizes), given_needles)
    assert result.has_nul == (b"\0" in data)
    assert [n.needle for n in result.needles] == given_needles
    assert [n.count for n in result.needles] == [data.count(n) for n in given_needles]
    assert [n.room for n in result.needles] == [binary_room(data, n) for n in given_needles]
    first = next((n for n in given_needles if n in data), None)
    assert (result.found.needle if result.found else None) == first


@st.composite
def replace_cases(draw):
    old, new = draw(needles), draw(replacements)
    return old, new, draw(data_with([old, new or b"Z"])), draw(chunk_sizes)


@given(replace_cases())
@settings(max_examples=600)
def test_binary_replace_gives_replace_binary_and_its_errors(case):
    old, new, data, sizes = case
    expected = outcome(lambda: replace_binary(data, old, new))
    assert outcome(lambda: streamed(cut(data, sizes), old, new, "binary")) == expected


@given(replace_cases())
@settings(max_examples=300)
def test_text_replace_gives_replace_text(case):
    old, new, data, sizes = case
    assert streamed(cut(data, sizes), old, new, "text") == replace_text(data, old, new)


def test_a_binary_prefix_too_long_is_the_whole_files_error_with_its_room():
    """The room in the message is the smallest of the file, also after the string that fails."""
    data = b"/p/x\0\0\0Z" + b"/p\0Z" + b"/p/y\0\0Z"
    expected = outcome(lambda: replace_binary(data, b"/p", b"/long"))
    assert expected[2] == 2
    assert outcome(lambda: streamed(cut(data, [3]), b"/p", b"/long", "binary")) == expected


@st.composite
def restore_cases(draw):
    prefix, placeholder = draw(needles), draw(needles)
    other = draw(needles)  # the prefix as another spelling (symlinks resolved)
    mode = draw(st.sampled_from(["text", "binary"]))
    packaged = draw(data_with([placeholder, prefix]))
    try:
        installed = (replace_binary if mode == "binary" else replace_text)(
            packaged, placeholder, prefix
        )
    except RelocationError:
        installed = packaged
    if draw(st.booleans()):  # changed after install
        installed += draw(st.sampled_from([b"Z", b"\0", prefix]))
    sha256 = draw(st.sampled_from([hashlib.sha256(packaged).hexdigest(), "", "0" * 64]))
    prefixes = draw(st.sampled_from([[prefix], [other, prefix], [prefix, prefix]]))
    return installed, prefixes, placeholder, mode, sha256, draw(chunk_sizes)


@given(restore_cases())
@settings(max_examples=400, suppress_health_check=[HealthCheck.filter_too_much])
def test_restore_verified_agrees_with_restore_package_bytes(case):
    installed, prefixes, placeholder, mode, sha256, sizes = case
    whole = restore_package_bytes(installed, prefixes, placeholder, mode, sha256)
    streamed_ok = restore_verified(cut(installed, sizes), prefixes, placeholder, mode, sha256)
    assert streamed_ok == (whole is not None)


def test_restore_verified_is_true_for_a_real_install_and_false_after_a_change():
    placeholder, prefix = b"/opt/placeholder_placeholder", b"/home/me/env"
    packaged = b"\x7fELF\0" + placeholder + b"/lib\0" * 3 + b"tail"
    installed = replace_binary(packaged, placeholder, prefix)
    sha = hashlib.sha256(packaged).hexdigest()
    assert restore_verified(cut(installed, [5]), [prefix], placeholder, "binary", sha)
    changed = installed.replace(b"tail", b"tale")
    assert not restore_verified(cut(changed, [5]), [prefix], placeholder, "binary", sha)


def test_needles_must_be_paths():
    with pytest.raises(ValueError):
        PrefixScan([b""])
    with pytest.raises(ValueError):
        StreamReplace(b"/a\0", b"/b", "binary")


def peak_bytes(work) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_scan_holds_no_more_than_a_chunk_whatever_the_length():
    """64 MiB in one string holding the needle, with no NUL: the scanner keeps counting."""
    chunk = b"/env/lib:" * (CHUNK_SIZE // 9)
    scanner = PrefixScan([b"/env", b"/other/env"])

    def work():
        for _ in range(64):
            scanner.feed(chunk)

    assert peak_bytes(work) < 4 * CHUNK_SIZE
    result = scanner.finish()
    assert result.needles[0].count == 64 * (CHUNK_SIZE // 9)
    assert result.needles[0].room == UNLIMITED_ROOM  # never terminated
    assert not result.has_nul


def test_replace_holds_a_string_only_to_its_terminator():
    """64 MiB of strings with padding: the carry never grows past a chunk or two."""
    string = b"/env/lib" + b"x" * 500 + b"\0\0\0\0"
    chunk = string * (CHUNK_SIZE // len(string))
    replace = StreamReplace(b"/env", b"/new/p", "binary")
    digest = hashlib.sha256()

    def work():
        for _ in range(64):
            digest.update(replace.feed(chunk))
        digest.update(replace.finish())

    assert peak_bytes(work) < 8 * CHUNK_SIZE
    whole = replace_binary(chunk, b"/env", b"/new/p")  # each chunk ends with a whole string
    assert digest.hexdigest() == hashlib.sha256(whole * 64).hexdigest()


def test_a_string_longer_than_the_limit_is_a_one_line_error():
    """Unterminated strings are left alone, so a string is held until its NUL: up to 16 MiB."""
    fits = b"/env" + b"a" * (MAX_STRING - 4) + b"\0tail"
    assert streamed(cut(fits, [CHUNK_SIZE]), b"/env", b"/e", "binary") == replace_binary(
        fits, b"/env", b"/e"
    )
    too_long = b"/env" + b"a" * MAX_STRING + b"\0tail"
    with pytest.raises(StringTooLongError) as info:
        streamed(cut(too_long, [CHUNK_SIZE]), b"/env", b"/e", "binary")
    assert isinstance(info.value, RelocationError)
    assert "\n" not in str(info.value) and "16 MiB" in str(info.value)


def test_read_chunks_reads_a_file_in_pieces_from_an_offset(tmp_path):
    data = os.urandom(3 * CHUNK_SIZE + 5)
    path = tmp_path / "data"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = list(read_chunks(fd))
        assert [len(c) for c in chunks] == [CHUNK_SIZE] * 3 + [5]
        assert b"".join(chunks) == data
        assert b"".join(read_chunks(fd, 7, size=1000)) == data[7:]
    finally:
        os.close(fd)


# Runs a command and prints its peak RSS (KiB) after its output: this process has no other
# children, so RUSAGE_CHILDREN is the command's alone.
PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(done.stdout)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def check_with_peak_rss(prefix: Path, cache: Path) -> tuple[dict, int]:
    exe = shutil.which("conda-package") or str(Path(sys.executable).with_name("conda-package"))
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, exe, "--check", str(prefix), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        timeout=300,
        check=True,
    )
    report, _, peak = done.stdout.rpartition("}")
    return json.loads(report + "}"), int(peak) * 1024


def test_check_finds_the_prefix_in_a_large_file_without_holding_it(small_env, tmp_path):
    """64 MiB, the prefix once across the first 1 MiB boundary with no room after it: the
    finding is reported, and --check needs far less memory than the file is large."""
    _, baseline = check_with_peak_rss(small_env, tmp_path / "cache")
    needle = os.fsencode(str(small_env))
    big = small_env / "share" / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(64 << 20)  # zeros: a binary file
        fh.seek(CHUNK_SIZE - len(needle) // 2)
        fh.write(needle + b"/lib\0Z")
    report, peak = check_with_peak_rss(small_env, tmp_path / "cache")
    found = [f for f in report["findings"] if f["path"] == "share/big.bin"]
    assert [f["code"] for f in found] == ["binary-prefix-no-room"]
    assert f"at most {len(needle)} bytes" in found[0]["message"]
    assert peak - baseline < 16 << 20, (baseline, peak)
