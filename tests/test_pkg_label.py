"""--pkg-name/--pkg-version/--pkg-build when packing an environment: the archive's default
name, its manifest, what bin/conda-unpack and bin/activate say, a parcel's and a
modulefile's name; and the command line rendered from PackOptions, parsed back."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from conda_package.core import ArchiveLabel, PackOptions, PathFilter, UsageError, pack_command
from conda_package.core.cli.command import pack_arguments, pack_options
from conda_package.core.cli.parser import build_parser
from conda_package.core.plan.label import archive_label
from conftest import cli


def _member(archive: Path, name: str) -> bytes:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def test_pkg_options_name_the_packed_environment(small_env, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("out")
    r = cli(
        "-p", small_env, "--format", "tar.gz", "--pkg-name", "tools", "--pkg-version", "1.2",
        "--pkg-build", "py37_3", "-q", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    archive = tmp_path / "tools-1.2-py37_3.tar.gz"
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]
    manifest = json.loads(_member(archive, "conda-meta/conda-package/manifest.json"))
    assert manifest["package"] == {"name": "tools", "version": "1.2", "build": "py37_3"}
    assert _member(archive, "conda-meta/conda-package/label") == b"tools-1.2-py37_3\n"
    target = tmp_path / "x"
    target.mkdir()
    subprocess.run(["tar", "-xf", archive, "-C", target], check=True)
    version = subprocess.run(
        ["/bin/sh", target / "bin/conda-unpack", "--version"], capture_output=True, text=True
    )
    assert version.stdout.startswith("conda-unpack of tools-1.2-py37_3 (from conda-package")
    activated = subprocess.run(
        ["sh", "-c", f". {target}/bin/activate"], capture_output=True, text=True
    )
    assert (
        activated.stderr == f"conda-package: relocated environment tools-1.2-py37_3 to {target}\n"
    )


def test_version_alone_names_the_default_archive(small_env, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("out")
    """Empty parts are left out: a version alone gives ENV-VERSION.tar.gz; nothing at all
    gives ENV.tar.gz, as conda-pack does."""
    assert cli("-p", small_env, "--pkg-version", "2024.1", "-q", cwd=tmp_path).returncode == 0
    assert cli("-p", small_env, "-q", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "small-env-2024.1.tar.gz",
        "small-env.tar.gz",
    ]
    manifest = json.loads(
        _member(tmp_path / "small-env.tar.gz", "conda-meta/conda-package/manifest.json")
    )
    assert manifest["package"] == {"name": "small-env", "version": "", "build": ""}


def test_pkg_name_alone_still_builds_a_package_of_the_untracked_files(small_env, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("out")
    (small_env / "extra.txt").write_text("mine\n")
    r = cli("-p", small_env, "--pkg-name", "extra", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["extra-0.0-0.conda"]


def test_parcel_takes_the_pkg_name_and_version(small_env, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("out")
    r = cli(
        "-p", small_env, "--format", "parcel", "--pkg-name", "tools", "--pkg-version", "3.1",
        "-q", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["tools-3.1-el7.parcel"]


def test_modulefile_names_the_version(small_env, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("out")
    module = tmp_path / "tools.lua"
    r = cli(
        "-p", small_env, "-o", tmp_path / "t.tar.gz", "--pkg-name", "tools", "--pkg-version",
        "3.1", "--relocate-prefix", "/opt/tools", "--modulefile", module, "-q",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = module.read_text()
    assert 'whatis("Name: tools")' in text and 'whatis("Version: 3.1")' in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pkg-version", "1-2"), "must not contain '-'"),
        (("--pkg-build", "a-b"), "--pkg-build 'a-b'"),
        (("--pkg-name", "Tools", "--format", "zip"), "lower case"),
    ],
)
def test_bad_names_are_refused_before_packing(small_env, tmp_path_factory, args, message):
    tmp_path = tmp_path_factory.mktemp("out")
    r = cli("-p", small_env, *args, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_archive_label_defaults():
    assert archive_label("env") == ArchiveLabel("env")
    assert archive_label("env", None, "1.0").stem == "env-1.0"
    assert archive_label("env", "x", "", "0").stem == "x-0"
    with pytest.raises(UsageError):
        archive_label("env", build="a b")


@pytest.mark.parametrize(
    "options",
    [
        PackOptions(),
        PackOptions(output="/tmp/x.zip", zip_symlinks=True, zip64=False, force=True),
        PackOptions(
            format="tar.zst",
            level=7,
            threads=2,
            pkg_name="tools",
            pkg_version="1.0",
            pkg_build="0",
            relocate_prefix="/opt/my env",
            ignore_missing_files=True,
            compile_bytecode=True,
            filters=(PathFilter("exclude", "*.a"), PathFilter("include", "lib/keep.a")),
            arcroot="env",
        ),
        PackOptions(
            format="squashfs",
            squashfs_compressor="xz",
            squashfs_block_size=1 << 20,
            relocate_prefix="/cvmfs/env",
            level=6,
        ),
        PackOptions(format="parcel", parcel_root="/opt/p", parcel_distro="el9", pkg_name="t"),
        PackOptions(format="dir", output="/tmp/out dir", dry_run=True, arch="linux-aarch64"),
    ],
)
def test_command_line_parses_back_to_the_same_options(options):
    args = build_parser().parse_args(["-p", "/env", *pack_arguments(options)])
    assert pack_options(args) == options


def test_pkg_name_with_a_package_looking_output_stays_an_archive():
    """--pkg-name with a .tar.bz2 output would build a package: the command says tbz2."""
    options = PackOptions(format="tar.bz2", output="/o/t-1.tar.bz2", pkg_name="t")
    args = build_parser().parse_args(["-p", "/env", *pack_arguments(options)])
    assert pack_options(args) == PackOptions(format="tbz2", output="/o/t-1.tar.bz2", pkg_name="t")
    assert pack_command("/my env", PackOptions(pkg_name="t")) == (
        "conda-package -p '/my env' --format tar.gz --pkg-name t"
    )
