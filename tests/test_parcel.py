"""conda-pack's format names and Cloudera parcels, through the real command."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard
from conda_package.core import Environment, PackOptions, validate
from conftest import cli


def test_parcel_round_trip(real_env: Path, tmp_path: Path) -> None:
    """Packed as conda-pack's test_parcel does (no -o), unpacked by `tar` into the parcel
    root as Cloudera Manager would: python runs there and no file names the old prefix."""
    root = tmp_path / "parcels"
    r = cli("-p", real_env, "--format", "parcel", "--parcel-root", root,
            "--parcel-version", "1234.56", "-q", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = tmp_path / "shared-1234.56-el7.parcel"
    with tarfile.open(out, "r:gz") as tar:
        names = tar.getnames()
    assert all(n == "shared-1234.56" or n.startswith("shared-1234.56/") for n in names)
    root.mkdir()
    subprocess.run(["tar", "-xzf", str(out), "-C", str(root)], check=True)
    prefix = root / "shared-1234.56"

    meta = json.loads((prefix / "meta" / "parcel.json").read_text())
    assert meta["name"] == "shared" and meta["version"] == "1234.56"
    assert meta["components"] == [
        {"name": "shared", "pkg_version": "1234.56", "version": "1234.56"}
    ]
    assert meta["extraVersionInfo"]["fullVersion"] == "1234.56-el7"
    assert meta["scripts"] == {"defines": "conda_env.sh"}
    records = Environment.load(str(real_env)).records
    assert sorted((p["name"], p["version"]) for p in meta["packages"]) == sorted(
        (r.name, f"{r.version}-{r.build}") for r in records
    )

    python = prefix / "bin" / "python"
    run = subprocess.run([python, "-c", "import sys, ssl, sqlite3; print(sys.prefix)"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert run.stdout.strip() == str(prefix)
    stale = [
        str(path.relative_to(prefix))
        for path in prefix.rglob("*")
        if path.is_file() and not path.is_symlink() and os.fsencode(real_env) in path.read_bytes()
    ]
    assert stale == ["conda-meta/conda-package/manifest.json"]  # its source_prefix, by design

    # What the Cloudera agent does: source meta/conda_env.sh with these two set.
    env = {"PATH": "/usr/bin:/bin", "PARCELS_ROOT": str(root), "PARCEL_DIRNAME": prefix.name}
    sourced = subprocess.run(
        ["bash", "-c", '. "$PARCELS_ROOT/$PARCEL_DIRNAME/meta/conda_env.sh" && "$CDH_PYTHON" -V'],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert sourced.stdout.startswith("Python 3")


def test_parcel_defaults_are_conda_packs(small_env: Path, tmp_path: Path, monkeypatch) -> None:
    """Root /opt/cloudera/parcels, version today as YYYY.MM.DD, distro el7; the name is the
    environment's unless given (small-env has a dash, which parcels cannot hold)."""
    monkeypatch.chdir(tmp_path)
    env = Environment.load(str(small_env))
    settings = validate(env, PackOptions(format="parcel", parcel_name="small"))
    today = datetime.date.today().strftime("%Y.%m.%d")
    assert settings.output == str(tmp_path / f"small-{today}-el7.parcel")
    assert settings.relocate_prefix == f"/opt/cloudera/parcels/small-{today}"
    assert settings.arcroot == f"small-{today}"
    assert validate(env, PackOptions(output="x.parcel", parcel_name="s")).format == "parcel"
    assert validate(env, PackOptions(format="tgz", output="x.parcel", parcel_name="s")).parcel


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "parcel"], "--parcel-name 'small-env': must be non-empty, without dashes"),
        (["--format", "parcel", "--parcel-name", "a", "--parcel-version", "1-2"], "dashes"),
        (["--format", "parcel", "--parcel-name", "a", "--parcel-root", "rel"], "absolute path"),
        (["--format", "parcel", "--parcel-name", "a", "--arcroot", "x"], "--arcroot cannot be"),
        (["--format", "parcel", "--parcel-name", "a", "-d", "/x"], "--dest-prefix/--relocate"),
        (["--parcel-name", "a", "-o", "{tmp}/x.tar.gz"], "--parcel-name is for parcels"),
        (["-o", "{tmp}/x.parcel", "--format", "zip"], "a parcel is a tar.gz, not zip"),
        (["--format", "rar"], "unknown archive format 'rar'; choose one of tar.gz"),
    ],
)
def test_bad_parcel_and_format_options(small_env: Path, tmp_path: Path, args, message) -> None:
    work = tmp_path / "work"
    work.mkdir()
    r = cli("-p", small_env, *(a.format(tmp=work) for a in args), cwd=work)
    assert r.returncode == 2 and message in r.stderr
    assert r.stderr.count("\n") == 1 and list(work.iterdir()) == []


def read_names(path: Path, fmt: str) -> list[str]:
    if fmt == "no-archive":
        return sorted(str(p.relative_to(path)) for p in path.rglob("*"))
    if fmt == "tzst":
        data = zstandard.ZstdDecompressor().decompress(path.read_bytes())
        path.with_suffix(".tar").write_bytes(data)
        path = path.with_suffix(".tar")
    if fmt == "zip":
        with zipfile.ZipFile(path) as zf:
            return sorted(n.rstrip("/") for n in zf.namelist())
    with tarfile.open(path) as tar:
        return sorted(tar.getnames())


@pytest.mark.parametrize("alias", ["tgz", "tbz2", "txz", "tzst", "no-archive"])
def test_conda_pack_format_names(small_env: Path, tmp_path: Path, alias: str) -> None:
    """--format tgz packs small-env.tgz, as conda-pack names it, readable as what it is."""
    r = cli("-p", small_env, "--format", alias, "-q", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / f"small-env.{alias}"
    assert json.loads(r.stdout)["output"] == str(out)
    names = read_names(out, alias)
    assert "bin/tool" in names and "bin/conda-unpack" in names


def test_format_infer_is_from_the_output(small_env: Path, tmp_path: Path) -> None:
    r = cli("-p", small_env, "--format", "infer", "-o", tmp_path / "e.tar.bz2", "-q")
    assert r.returncode == 0, r.stderr
    assert "bin/tool" in read_names(tmp_path / "e.tar.bz2", "tbz2")


def test_an_environment_with_its_own_meta_folder_is_refused(small_env: Path, tmp_path: Path):
    (small_env / "meta").mkdir()
    (small_env / "meta" / "notes.txt").write_text("mine\n")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "p.parcel"
    r = cli("-p", small_env, "-o", out, "--parcel-name", "small")
    assert r.returncode == 1 and list(out.parent.iterdir()) == []
    assert r.stderr == (
        "conda-package: error: meta: the environment has a top-level meta/, where a parcel"
        " keeps parcel.json; move it, or leave it out with --exclude 'meta/*'\n"
    )
    r = cli("-p", small_env, "-o", out, "--parcel-name", "small", "--exclude", "meta", "-q")
    assert r.returncode == 0, r.stderr
