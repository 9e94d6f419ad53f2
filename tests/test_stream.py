"""The streamed byte rules (core/relocate/stream.py) against the whole-buffer ones of
unpack/relocate.py: for any data and any way of cutting it into chunks, the same result,
the same error, and a carry that stays bounded."""

from __future__ import annotations

import hashlib

import pytest
from conda_package.core.relocate import stream
from conda_package.core.unpack import (
    PrefixTooLongError,
    binary_room,
    relocate_bytes,
    replace_binary,
    replace_text,
)
from hypothesis import given, settings
from hypothesis import strategies as st

OLD = b"/opt/env/a"  # what the packer searches for
SHORT, LONG = b"/x", b"/opt/env/a/longer"
PIECES = st.one_of(
    st.just(OLD), st.just(b"\0"), st.just(b"\0" * 8), st.just(b"\n"), st.just(b"#!"),
    st.just(OLD + b"/bin/python3 -E"), st.just(b"/opt/env"), st.binary(max_size=12),
)  # fmt: skip
DATA = st.lists(PIECES, max_size=40).map(b"".join)
CUTS = st.lists(st.integers(min_value=1, max_value=17), min_size=1, max_size=8)


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    """data in chunks of the given sizes, cycled."""
    out, pos, i = [], 0, 0
    while pos < len(data):
        out.append(data[pos : pos + sizes[i % len(sizes)]])
        pos += sizes[i % len(sizes)]
        i += 1
    return out


def streamed(transform: stream.Transform, data: bytes, sizes: list[int]) -> bytes:
    return b"".join(stream.run(transform, chunked(data, sizes)))


@settings(max_examples=400, deadline=None)
@given(DATA, CUTS)
def test_scan_counts_and_measures_as_the_whole_buffer_does(data, sizes):
    result = stream.scan(chunked(data, sizes), OLD)
    assert result.count == data.count(OLD)
    assert result.binary == (b"\0" in data)
    assert result.room == binary_room(data, OLD)


@settings(max_examples=400, deadline=None)
@given(DATA, CUTS, st.sampled_from([SHORT, LONG, OLD]))
def test_text_replacement_streamed_is_replace_text(data, sizes, new):
    assert streamed(stream.TextReplace(OLD, new), data, sizes) == replace_text(data, OLD, new)


@settings(max_examples=400, deadline=None)
@given(DATA, CUTS, st.sampled_from([SHORT, LONG, OLD]))
def test_binary_replacement_streamed_is_replace_binary(data, sizes, new):
    try:
        expected = replace_binary(data, OLD, new)
    except PrefixTooLongError as exc:
        with pytest.raises(PrefixTooLongError) as raised:
            streamed(stream.BinaryReplace(OLD, new), data, sizes)
        assert raised.value.room <= exc.room  # the first string that does not fit
        return
    assert streamed(stream.BinaryReplace(OLD, new), data, sizes) == expected


@settings(max_examples=300, deadline=None)
@given(DATA, CUTS, st.sampled_from([SHORT, LONG]))
def test_relocation_streamed_is_relocate_bytes_with_its_shebang_fix(data, sizes, new):
    expected = relocate_bytes(data, OLD.decode(), new.decode(), "text")
    assert streamed(stream.relocator(OLD, new, "text"), data, sizes) == expected


@settings(max_examples=300, deadline=None)
@given(DATA, CUTS)
def test_restore_verified_streamed(data, sizes):
    """Install then restore: the streamed check agrees with the package's sha256."""
    placeholder = b"/opt/anaconda1anaconda2anaconda3"
    package = data.replace(OLD, placeholder)
    digest = hashlib.sha256(package).hexdigest()
    installed = replace_text(package, placeholder, OLD)
    assert stream.restores(chunked(installed, sizes), OLD, placeholder, "text", digest)
    assert not stream.restores(chunked(installed + b"!", sizes), OLD, placeholder, "text", digest)


def test_a_long_text_file_is_carried_by_a_few_bytes_only():
    replace = stream.TextReplace(OLD, LONG)
    scanner = stream.PrefixScan(OLD)
    for i in range(64):
        piece = (b"x" * 1000 + OLD) * 100 + b"y" * (i % 7)
        replace.feed(piece)
        scanner.feed(piece)
        assert len(replace._carry) < len(OLD)
        assert len(scanner._carry) < len(OLD)
    assert scanner.result().count == 6400


def test_a_binary_string_longer_than_the_carry_bound_is_refused(monkeypatch):
    monkeypatch.setattr(stream, "MAX_CARRY", 4096)
    replace = stream.BinaryReplace(OLD, SHORT)
    replace.feed(b"\0" + OLD)
    with pytest.raises(stream.StringTooLong, match="without a NUL"):
        for _ in range(10):
            replace.feed(b"z" * 1000)
    short = stream.BinaryReplace(OLD, SHORT)  # under the bound: carried, then replaced
    out = b"".join(stream.run(short, [b"\0" + OLD, b"z" * 3000, b"\0tail"]))
    assert out == replace_binary(b"\0" + OLD + b"z" * 3000 + b"\0tail", OLD, SHORT)
