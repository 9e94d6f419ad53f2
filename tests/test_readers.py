"""Every reader DESIGN.md names reads every format whole (Archives): Python's one-shot and
stream readers, tarfile and zipfile, GNU tar, bsdtar, and each compressor's own tool.

The packed environment holds 4 MiB that do not compress, so every compressed stream is cut
into several blocks (gzip, bzip2, xz at level 0) or was several zstd frames, which
python-zstandard's one-shot decompress() read as the first 2 MiB without an error.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from conda_package.core import Environment, PackOptions, pack
from realenv import install

BLOB = random.Random(14).randbytes(1 << 20) * 4
LEVELS = {"tar.xz": 0}  # xz blocks are 1 MiB at level 0, 12 MiB at the default 3
FORMATS = ("tar.gz", "tar.zst", "tar.bz2", "tar.xz", "tar", "zip")


@pytest.fixture(scope="module")
def packed(small_channel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small environment with a 4 MiB data file, packed once in every format."""
    work = tmp_path_factory.mktemp("readers")
    prefix = install(small_channel, ["tool", "data"], work / "env", small_channel.parent / "pkgs")
    (prefix / "share" / "blob.bin").write_bytes(BLOB)
    env = Environment.load(str(prefix))
    out = {}
    for fmt in FORMATS:
        out[fmt] = work / f"env.{fmt}"
        pack(env, PackOptions(output=str(out[fmt]), level=LEVELS.get(fmt)))
    return out


def tool(*cmd: str) -> bytes:
    if not shutil.which(cmd[0]):
        pytest.skip(f"{cmd[0]} is not on PATH")
    return subprocess.run(cmd, capture_output=True, check=True, timeout=120).stdout


def names(listing: bytes) -> list[str]:
    """Member names as tar -t lists them, without the slash that marks a directory."""
    return sorted(line.rstrip("/") for line in listing.decode().splitlines())


ONE_SHOT: dict[str, Callable[[bytes], bytes]] = {
    "tar.gz": gzip.decompress,
    "tar.bz2": bz2.decompress,
    "tar.xz": lzma.decompress,
    "tar.zst": zstandard.ZstdDecompressor().decompress,
}
TOOLS = {"tar.gz": "gzip", "tar.zst": "zstd", "tar.bz2": "bzip2", "tar.xz": "xz"}
COMPRESSED = tuple(ONE_SHOT)


@pytest.mark.parametrize("fmt", COMPRESSED)
def test_one_shot_decompress_gives_the_whole_tar(packed: dict[str, Path], fmt: str) -> None:
    """gzip/bz2/lzma.decompress and zstandard's decompress() with no size limit: the
    frame says how large the tar is."""
    assert ONE_SHOT[fmt](packed[fmt].read_bytes()) == packed["tar"].read_bytes()


def test_zstd_one_shot_as_conda_pack_tests_read_it(packed: dict[str, Path]) -> None:
    """conda-pack's test_formats.py passes max_output_size=2**32."""
    data = zstandard.ZstdDecompressor().decompress(
        packed["tar.zst"].read_bytes(), max_output_size=2**32
    )
    assert data == packed["tar"].read_bytes()


def test_zstd_is_one_frame_that_states_its_size(packed: dict[str, Path]) -> None:
    data = packed["tar.zst"].read_bytes()
    tar_size = packed["tar"].stat().st_size
    assert zstandard.frame_content_size(data) == tar_size
    listing = tool("zstd", "-l", str(packed["tar.zst"])).decode().splitlines()
    assert listing[0].split()[:2] == ["Frames", "Skips"] and listing[1].split()[0] == "1"


def test_zstd_stream_reader_gives_the_whole_tar(packed: dict[str, Path]) -> None:
    reader = zstandard.ZstdDecompressor().stream_reader(packed["tar.zst"].read_bytes())
    assert reader.read() == packed["tar"].read_bytes()


@pytest.mark.parametrize("fmt", COMPRESSED)
def test_the_compressors_own_tool_tests_and_decompresses_it_whole(
    packed: dict[str, Path], fmt: str
) -> None:
    """`gzip -t`, `zstd -t`, `bzip2 -t`, `xz -t`, then -dc gives back the tar."""
    tool(TOOLS[fmt], "-t", str(packed[fmt]))
    assert tool(TOOLS[fmt], "-dc", str(packed[fmt])) == packed["tar"].read_bytes()


@pytest.fixture(scope="module")
def members(packed: dict[str, Path]) -> list[str]:
    """What every listing must show: the members of the plain tar."""
    with tarfile.open(packed["tar"]) as tar:
        found = sorted(tar.getnames())
    assert "share/blob.bin" in found and "bin/conda-unpack" in found
    return found


@pytest.mark.parametrize("fmt", [*COMPRESSED, "tar"])
def test_tarfile_streams_every_member(packed: dict[str, Path], members, fmt: str) -> None:
    """tarfile reads gz, bz2 and xz itself; tar.zst through zstandard's stream reader
    (Python 3.14's own tarfile zstd support reads a stream the same way)."""
    with packed[fmt].open("rb") as raw:
        stream = zstandard.ZstdDecompressor().stream_reader(raw) if fmt == "tar.zst" else raw
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            assert sorted(member.name for member in tar) == members


@pytest.mark.parametrize("reader", ["tar", "bsdtar"])
@pytest.mark.parametrize("fmt", [*COMPRESSED, "tar"])
def test_gnu_tar_and_bsdtar_list_every_member(
    packed: dict[str, Path], members, fmt: str, reader: str
) -> None:
    if reader == "tar" and fmt in TOOLS and not shutil.which(TOOLS[fmt]):
        pytest.skip(f"GNU tar runs {TOOLS[fmt]}, which is not on PATH")
    assert names(tool(reader, "-tf", str(packed[fmt]))) == members


@pytest.mark.parametrize("reader", ["zipfile", "unzip", "bsdtar"])
def test_zip_is_read_whole(packed: dict[str, Path], members, reader: str) -> None:
    path = packed["zip"]
    if reader == "zipfile":
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
            assert sorted(name.rstrip("/") for name in zf.namelist()) == members
            assert zf.read("share/blob.bin") == BLOB
    elif reader == "unzip":
        tool("unzip", "-tq", str(path))
        listing = tool("unzip", "-Z1", str(path))
        assert names(listing) == members
    else:
        assert names(tool("bsdtar", "-tf", str(path))) == members
