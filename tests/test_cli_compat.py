"""conda-pack 0.9.2's command lines work unchanged: --exclude/--include, --arcroot,
-d/--dest-prefix, --n-threads and -j -1, --compress-level, -f, --zip-symlinks, --no-zip-64,
-q and --version, each read back from the archive the real command wrote."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from conda_package.core import ZipNeedsZip64, __version__
from conda_package.core.archive import ArchiveEntry, open_writer
from conda_package.core.archive import zip as zip_format
from conftest import cli
from test_pack import activate_and_run, extract
from test_reliability import leftovers, one_line

# Every path of small_env's packages, and what the packer adds to any archive.
SMALL = {
    "bin/tool",
    "lib/libtool.so",
    "share/tool/config.txt",
    "share/tool/readme.txt",
    "share/data/a.txt",
    "share/data/b.txt",
}


def tar_names(archive: Path) -> set[str]:
    with tarfile.open(archive) as tf:
        return {m.name for m in tf.getmembers()}


def packed_names(prefix: Path, out: Path, *args: str) -> set[str]:
    r = cli("-p", prefix, "-o", out, "-q", *args)
    assert r.returncode == 0, r.stderr
    return tar_names(out)


@pytest.fixture
def baseline(small_env: Path, tmp_path: Path) -> set[str]:
    """Every name of small_env's archive without filters."""
    names = packed_names(small_env, tmp_path / "all.tar")
    assert names >= SMALL
    return names


# --- --exclude / --include ------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "dropped"),
    [
        # conda-pack's own use: drop a tree, bring one file back
        (["--exclude", "share/*", "--include", "share/data/a.txt"],
         {"share/tool", "share/tool/config.txt", "share/tool/readme.txt", "share/data/b.txt"}),
        # the order matters: an include before the exclude brings nothing back
        (["--include", "share/data/a.txt", "--exclude", "share/*"],
         {"share", "share/tool", "share/data", *{p for p in SMALL if p.startswith("share/")}}),
        # a pattern naming a directory covers what it holds
        (["--exclude", "share/tool"],
         {"share/tool", "share/tool/config.txt", "share/tool/readme.txt"}),
        # re-including a directory brings back all of it
        (["--exclude", "share/*", "--include", "share/tool"],
         {"share/data", "share/data/a.txt", "share/data/b.txt"}),
        # conda-pack issue #162: a leading */ matches at the top level too
        (["--exclude", "*/share/data/*"], {"share/data", "share/data/a.txt", "share/data/b.txt"}),
        # fnmatch: * crosses slashes, [] works; a directory emptied by the patterns goes
        (["--exclude", "*.txt", "--include", "share/data/[a]*"],
         {"share/tool", "share/tool/config.txt", "share/tool/readme.txt", "share/data/b.txt"}),
    ],
)  # fmt: skip
def test_filters_apply_in_order(small_env, tmp_path, baseline, filters, dropped):
    names = packed_names(small_env, tmp_path / "f.tar", *filters)
    assert names == baseline - dropped


def test_filters_in_dry_run_and_notes(small_env, tmp_path):
    out = tmp_path / "x.tar.gz"
    r = cli("-p", small_env, "-o", out, "--dry-run", "--json", "--exclude", "share/data/*")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["excluded"] == ["share/data/a.txt", "share/data/b.txt"]
    assert "share/data/a.txt" not in plan["entries"]
    assert any("2 files and links excluded by pattern" in f for f in plan["findings"])
    assert not out.exists()
    r = cli("-p", small_env, "-o", out, "--dry-run", "--exclude", "share/data/*")
    assert "# files and links excluded by pattern (--exclude/--include): 2" in r.stdout


def test_excluding_conda_meta_records_is_said_and_still_relocates(small_env, tmp_path):
    out = tmp_path / "x.tar.gz"
    r = cli("-p", small_env, "-o", out, "--exclude", "conda-meta/*.json")
    assert r.returncode == 0, r.stderr
    assert "conda-meta records excluded by pattern" in r.stderr
    names = tar_names(out)
    assert not [n for n in names if n.startswith("conda-meta/") and n.endswith("_0.json")]
    assert "conda-meta/conda-package/manifest.json" in names  # generated: never filtered
    dest = extract(out, tmp_path / "moved")
    r = activate_and_run(dest, f"cat {dest}/share/tool/config.txt {dest}/bin/tool")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"prefix={dest}",
        f"#!{dest}/bin/tool-sh",
        f"echo tool from {dest}",
    ]


def test_filters_on_the_real_environment(real_env, tmp_path):
    """Drop all of site-packages but pip; python and pip still run where it is unpacked."""
    out = tmp_path / "r.tar.gz"
    site = "lib/python3.7/site-packages"
    r = cli("-p", real_env, "-o", out, "-q", "--exclude", f"*/{site}/*",
            "--include", f"{site}/pip*", "--exclude", "*.pyc")  # fmt: skip
    assert r.returncode == 0, r.stderr
    names = tar_names(out)
    below = {n.split("/")[3] for n in names if n.startswith(f"{site}/")}
    # The self-relocation hook is the packer's, added after the patterns (never filtered).
    below -= {"_conda_package_autorelocate.pth", "_conda_package_autorelocate.py"}
    assert "pip" in below and all(b.startswith("pip") for b in below), below
    assert not [n for n in names if n.endswith(".pyc")]
    dest = extract(out, tmp_path / "x")
    r = activate_and_run(dest, "python -c 'import sys; print(sys.prefix)' && pip --version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == str(dest)


# --- --arcroot -----------------------------------------------------------------------------


def test_arcroot_round_trip(real_env, tmp_path):
    out = tmp_path / "r.tar.gz"
    r = cli("-p", real_env, "-o", out, "-q", "--arcroot", "/envs/analysis/")
    assert r.returncode == 0, r.stderr
    names = tar_names(out)
    assert all(n.startswith("envs/analysis/") for n in names), sorted(names)[:3]
    with tarfile.open(out) as tf:
        assert tf.getmember("envs/analysis/bin/python").linkname == "python3.7"
    dest = extract(out, tmp_path / "x")
    assert sorted(os.listdir(dest)) == ["envs"]
    env = dest / "envs" / "analysis"
    r = activate_and_run(env, "python -c 'import sys, sqlite3; print(sys.prefix)'")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(env)


def test_arcroot_in_zip_and_dir(small_env, tmp_path):
    zipped = tmp_path / "x.zip"
    assert cli("-p", small_env, "-o", zipped, "-q", "--arcroot", "a/b").returncode == 0
    with zipfile.ZipFile(zipped) as zf:
        names = zf.namelist()
    assert "a/b/share/data/a.txt" in names
    assert all(n.startswith("a/b/") for n in names)
    folder = tmp_path / "out"
    r = cli("-p", small_env, "-o", folder, "--format", "dir", "-q", "--arcroot", "a/b")
    assert r.returncode == 0, r.stderr
    assert os.listdir(folder) == ["a"]
    assert (folder / "a/b/share/data/a.txt").read_text() == "a\n"
    r = activate_and_run(folder / "a/b", f"cat {folder}/a/b/share/tool/config.txt")
    assert r.stdout.strip() == f"prefix={folder}/a/b"


def test_arcroot_outside_the_archive_is_refused(small_env, tmp_path):
    r = cli("-p", small_env, "-o", tmp_path / "x.tar.gz", "--arcroot", "a/../../etc")
    one_line(r, 2, "--arcroot", "'..'")
    assert leftovers(tmp_path) == []


# --- conda-pack's names for our options ------------------------------------------------------


def test_dest_prefix_is_relocate_prefix(small_env, tmp_path):
    outs = []
    for i, flag in enumerate(["-d", "--dest-prefix", "--relocate-prefix"]):
        outs.append(tmp_path / f"{i}.tar")
        r = cli("-p", small_env, "-o", outs[-1], "-q", flag, "/opt/target")
        assert r.returncode == 0, r.stderr
    assert outs[0].read_bytes() == outs[1].read_bytes() == outs[2].read_bytes()
    with tarfile.open(outs[0]) as tf:
        config = tf.extractfile("share/tool/config.txt")
        assert config is not None and config.read() == b"prefix=/opt/target\n"


def test_n_threads_and_all_cores(small_env, tmp_path):
    outs = []
    for i, args in enumerate([["-j", "1"], ["--n-threads", "2"], ["-j", "-1"], ["-j", "0"]]):
        outs.append(tmp_path / f"{i}.tar.gz")
        r = cli("-p", small_env, "-o", outs[-1], "-q", *args)
        assert r.returncode == 0, r.stderr
    assert len({out.read_bytes() for out in outs}) == 1
    r = cli("-p", small_env, "-o", tmp_path / "bad.tar.gz", "--n-threads", "-2")
    one_line(r, 2, "threads -2", "-1")
    assert not (tmp_path / "bad.tar.gz").exists()


def test_compress_level(real_env, tmp_path):
    sizes = {}
    for args in (
        ["--compress-level", "1"],
        ["--compression-level", "1"],
        ["--compress-level", "9"],
    ):
        out = tmp_path / f"{'-'.join(args)}.tar.gz"
        r = cli("-p", real_env, "-o", out, "-q", "--exclude", "lib/*.a", *args)
        assert r.returncode == 0, r.stderr
        sizes[tuple(args)] = out.read_bytes()
    assert sizes[("--compress-level", "1")] == sizes[("--compression-level", "1")]
    assert len(sizes[("--compress-level", "9")]) < len(sizes[("--compress-level", "1")])
    r = cli("-p", real_env, "-o", tmp_path / "bad.tar.gz", "--compress-level", "10")
    one_line(r, 2, "compression level 10")
    # conda-pack ignores its level for formats that store as is; so does its spelling here.
    r = cli("-p", real_env, "-o", tmp_path / "plain.tar", "--compress-level", "4")
    assert r.returncode == 0, r.stderr
    assert "note: --compress-level 4 ignored: the output is not compressed" in r.stderr
    assert (
        cli("-p", real_env, "-o", tmp_path / "quiet.tar", "--compress-level", "4", "-q").stderr
        == ""
    )
    r = cli("-p", real_env, "-o", tmp_path / "ours.tar", "--compression-level", "4")
    one_line(r, 2, "the tar format is not compressed")
    r = cli(
        "-p",
        real_env,
        "-o",
        tmp_path / "two.tar.gz",
        "--compress-level",
        "4",
        "--compression-level",
        "4",
    )
    one_line(r, 2, "give one of")


def test_force_creates_the_output_directories(small_env, tmp_path):
    out = tmp_path / "new" / "deeper" / "x.tar.gz"
    r = cli("-p", small_env, "-o", out)
    one_line(r, 2, "does not exist", "--force")
    assert not (tmp_path / "new").exists()
    r = cli("-p", small_env, "-o", out, "--dry-run", "-f")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "new").exists()  # a dry run creates nothing
    r = cli("-p", small_env, "-o", out, "-f", "-q")
    assert r.returncode == 0, r.stderr
    assert tar_names(out) >= SMALL
    (tmp_path / "afile").write_text("x")
    r = cli("-p", small_env, "-o", tmp_path / "afile" / "sub" / "x.tar.gz", "-f")
    one_line(r, 2, "afile: not a directory")
    assert (tmp_path / "afile").read_text() == "x"


def test_quiet_and_version(small_env, tmp_path):
    r = cli("-p", small_env, "-o", tmp_path / "x.tar.gz", "-q")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = cli("-p", small_env, "-o", tmp_path / "y.tar.gz")
    assert r.returncode == 0 and r.stderr.startswith("packed ")
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("conda-package ") and r.stderr == ""


def test_a_conda_pack_command_line_verbatim(small_env, tmp_path):
    out = tmp_path / "sub" / "env.tgz.tar.gz"
    r = cli("--prefix", small_env, "--output", out, "--arcroot", "env", "--dest-prefix",
            "/opt/env", "--format", "infer", "--n-threads", "-1", "--compress-level", "4",
            "--ignore-editable-packages", "--ignore-missing-files", "--exclude", "*.txt",
            "--include", "share/data/*", "--force", "--quiet")  # fmt: skip
    assert (r.returncode, r.stderr) == (0, "")
    names = tar_names(out)
    assert {"env/share/data/a.txt", "env/bin/tool"} <= names
    assert "env/share/tool/config.txt" not in names


# --- zip: symlinks, ZIP64 ----------------------------------------------------------------


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _with_links(prefix: Path) -> Path:
    """Untracked symlinks of every sort beside the packages' files."""
    (prefix / "share" / "data-link").symlink_to("data")  # a directory
    (prefix / "bin" / "a-link").symlink_to("../share/data/a.txt")  # a file
    (prefix / "bin" / "chain").symlink_to("a-link")  # a link to a link
    (prefix / "share" / "outside").symlink_to("/etc/hostname")  # out of the environment
    (prefix / "share" / "dangling").symlink_to("nowhere")
    (prefix / "share" / "data" / "loop").symlink_to(".")  # a directory holding itself
    return prefix


def test_zip_stores_what_symlinks_point_to_unless_zip_symlinks(small_env, tmp_path):
    prefix = _with_links(small_env)
    copies, links = tmp_path / "copies.zip", tmp_path / "links.zip"
    r = cli("-p", prefix, "-o", copies)
    assert r.returncode == 0, r.stderr
    assert "share/outside -> /etc/hostname: stored as a symlink" in r.stderr
    assert "share/dangling -> nowhere: stored as a symlink" in r.stderr
    with zipfile.ZipFile(copies) as zf:
        kinds = {i.filename: _is_link(i) for i in zf.infolist()}
        assert zf.read("bin/a-link") == zf.read("bin/chain") == b"a\n"
        assert zf.read("share/data-link/b.txt") == b"b\n"
        assert "share/data-link/" in kinds
        assert zf.read("share/outside") == b"/etc/hostname"  # the link text, not the file
    assert {n for n, link in kinds.items() if link} == {
        "share/outside",
        "share/dangling",
        "share/data/loop/loop",  # the loop copied once, then left a link
        "share/data-link/loop",
    }
    r = cli("-p", prefix, "-o", links, "--zip-symlinks", "-q")
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(links) as zf:
        linked = {i.filename: zf.read(i) for i in zf.infolist() if _is_link(i)}
    assert linked["bin/a-link"] == b"../share/data/a.txt"
    assert linked["share/data-link"] == b"data"
    assert linked["bin/chain"] == b"a-link"


@pytest.mark.skipif(shutil.which("unzip") is None, reason="needs the unzip tool")
@pytest.mark.parametrize("flags", [[], ["--zip-symlinks"]])
def test_zip_extracted_with_unzip_runs(real_env, tmp_path, flags):
    out = tmp_path / "r.zip"
    r = cli("-p", real_env, "-o", out, "-q", *flags)
    assert r.returncode == 0, r.stderr
    dest = tmp_path / "x"
    subprocess.run(["unzip", "-q", str(out), "-d", str(dest)], check=True)
    assert (dest / "bin" / "python").is_symlink() == bool(flags)
    r = activate_and_run(dest, "python -c 'import sys, ssl, sqlite3; print(sys.prefix)'")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(dest)
    assert (dest / "bin" / "python").read_bytes() == (dest / "bin" / "python3.7").read_bytes()


def test_no_zip_64_writes_a_plain_zip(small_env, tmp_path):
    out = tmp_path / "x.zip"
    r = cli("-p", small_env, "-o", out, "--no-zip-64", "-q")
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert b"PK\x06\x06" not in data  # no zip64 end of central directory
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert zf.read("share/data/a.txt") == b"a\n"


def test_no_zip_64_refuses_a_member_of_4_gib(small_env, tmp_path):
    big = small_env / "share" / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(1 << 32)  # sparse: nothing is read before the refusal
    out = tmp_path / "x.zip"
    r = cli("-p", small_env, "-o", out, "--no-zip-64")
    one_line(r, 1, "share/big.bin is 4294967296 bytes", "ZIP64", "--no-zip-64")
    assert leftovers(tmp_path) == []


def test_no_zip_64_refuses_too_many_entries(small_env, tmp_path):
    many = small_env / "share" / "many"
    many.mkdir()
    for i in range(65535):
        (many / str(i)).touch()
    out = tmp_path / "x.zip"
    r = cli("-p", small_env, "-o", out, "--no-zip-64")
    one_line(r, 1, "entries is more than a zip holds", "ZIP64")
    assert leftovers(tmp_path) == []


def test_no_zip_64_stops_a_zip_growing_past_the_limit(tmp_path, monkeypatch):
    """Offsets are only known while writing: with the limit lowered (as test_archive's
    test_zip64 does), the writer stops there and leaves nothing."""
    monkeypatch.setattr(zip_format, "_ZIP64_LIMIT", 300)
    out = tmp_path / "x.zip"
    with (
        pytest.raises(ZipNeedsZip64, match="grows past 4 GiB"),
        open_writer(out, "zip", zip64=False) as writer,
    ):
        for i in range(20):
            writer.add(ArchiveEntry(f"f{i}", "file", 0o644, 0, 10), b"0123456789")
        writer.commit()
    assert os.listdir(tmp_path) == []


def test_conda_unpack_version_and_quiet(small_env, tmp_path):
    """conda-pack's bin/conda-unpack takes --version and -q; ours too, and its version names
    the packer that made the archive."""
    archive = tmp_path / "env.tar.gz"
    assert cli("-p", small_env, "-o", archive, "-q").returncode == 0
    target = tmp_path / "x"
    target.mkdir()
    subprocess.run(["tar", "-xf", archive, "-C", target], check=True)
    unpack = ["/bin/sh", str(target / "bin/conda-unpack")]
    version = subprocess.run([*unpack, "--version"], capture_output=True, text=True)
    assert version.returncode == 0
    name = os.path.basename(small_env)  # what the archive is called: the environment's name
    assert version.stdout.strip() == f"conda-unpack of {name} (from conda-package {__version__})"
    quiet = subprocess.run([*unpack, "-q"], capture_output=True, text=True)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert (target / "share/tool/config.txt").read_text() == f"prefix={target}\n"
