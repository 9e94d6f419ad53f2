"""Packing options (missing files, editable installs, --platform, --relocate-prefix), records
without cache paths, and files that change while packing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest
from conda_package.core import PackOptions, pack
from conda_package.core.demo.build import create_demo
from conda_package.core.load.environment import Environment
from conda_package.core.plan.plan import PlanEntry, make_plan
from conftest import cli


def _manifest(archive) -> dict:
    with tarfile.open(archive) as tf:
        return json.load(tf.extractfile("conda-meta/conda-package/manifest.json"))


def test_missing_files_are_listed_per_package_unless_ignored(small_env, tmp_path):
    (small_env / "share" / "data" / "a.txt").unlink()
    out = tmp_path / "x.tar.gz"
    r = cli("-p", small_env, "-o", out)
    assert r.returncode == 1
    assert "data-2.1-0 lacks share/data/a.txt: 1 file missing since install" in r.stderr
    assert "--ignore-missing-files" in r.stderr
    assert not out.exists()
    r = cli("-p", small_env, "-o", out, "--ignore-missing-files", "-q")
    assert r.returncode == 0, r.stderr
    with tarfile.open(out) as tf:
        names = tf.getnames()
    assert "share/data/b.txt" in names and "share/data/a.txt" not in names


def test_editable_installs_are_named_unless_ignored(small_env, tmp_path):
    dist = small_env / "lib" / "python3.11" / "site-packages" / "mine-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mine\nVersion: 1.0\n")
    (dist / "RECORD").write_text("mine-1.0.dist-info/METADATA,,\n")
    (dist / "direct_url.json").write_text(
        json.dumps({"url": "file:///home/me/src/mine", "dir_info": {"editable": True}})
    )
    out = tmp_path / "x.tar.gz"
    r = cli("-p", small_env, "-o", out)
    assert r.returncode == 1
    assert "mine (/home/me/src/mine)" in r.stderr
    assert not out.exists()
    assert cli("-p", small_env, "-o", out, "--ignore-editable-packages", "-q").returncode == 0


def test_platform_is_recorded(small_env, tmp_path):
    out = tmp_path / "x.tar.gz"
    assert cli("-p", small_env, "-o", out, "--platform", "linux-aarch64").returncode == 0
    assert _manifest(out)["subdir"] == "linux-aarch64"
    r = cli("-p", small_env, "-o", out, "--force", "--arch", "linux-64", "--platform", "osx-64")
    assert r.returncode == 2
    assert "disagree" in r.stderr


def test_relocate_prefix_at_pack_time(small_env, tmp_path):
    target = tmp_path / "final" / "place"
    out = tmp_path / "x.tar.gz"
    r = cli("-p", small_env, "-o", out, "--relocate-prefix", target, "-q")
    assert r.returncode == 0, r.stderr
    target.mkdir(parents=True)
    subprocess.run(["tar", "-xf", out, "-C", target], check=True)
    # already in place: no conda-unpack needed, and running it changes nothing
    assert (target / "share/tool/config.txt").read_text() == f"prefix={target}\n"
    assert (target / "conda-meta/conda-package/prefix").read_text().strip() == str(target)
    assert str(target).encode() in (target / "lib/libtool.so").read_bytes()
    r = subprocess.run([target / "bin/conda-unpack", "-v"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (target / "share/tool/config.txt").read_text() == f"prefix={target}\n"


def test_records_lose_this_machines_cache_paths_and_nothing_else(tmp_path):
    """Blanked where they stand; a record spelt differently (escaped slashes, another
    writer) is rewritten instead, and loses them too."""
    prefix = Path(create_demo(str(tmp_path / "demo")))
    escaped = prefix / "conda-meta" / "demo-data-2024.5-pyhd8ed1ab_0.json"
    escaped.write_text(json.dumps(json.loads(escaped.read_text())).replace("/", "\\/"))
    other = prefix / "conda-meta" / "demo-libs-1.2.0-h5e1f3a9_0.json"
    other.write_text(json.dumps(json.loads(other.read_text()), indent=4))  # another writer
    originals = {p.name: p.read_bytes() for p in (prefix / "conda-meta").glob("*.json")}
    out = tmp_path / "x.tar"
    assert cli("-p", prefix, "-o", out, "--ignore-missing-files", "-q").returncode == 0
    with tarfile.open(out) as tf:
        for name, original in originals.items():
            packed = tf.extractfile(f"conda-meta/{name}").read()
            before, after = json.loads(original), json.loads(packed)
            assert before["extracted_package_dir"] and before["link"]["source"]
            for record in (before, after):
                record["extracted_package_dir"] = record["package_tarball_full_path"] = ""
                record["link"]["source"] = ""
            assert after == before
            if name != escaped.name:  # as the installer wrote it, but for the three paths
                expected = original
                # link.source is extracted_package_dir, as conda writes it
                for value in _cache_paths(json.loads(original)):
                    expected = expected.replace(json.dumps(value).encode(), b'""')
                assert packed == expected


def _cache_paths(record: dict) -> set[str]:
    return {
        record["extracted_package_dir"],
        record["package_tarball_full_path"],
        record["link"]["source"],
    }


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_files_that_changed_since_loading_are_packed_as_they_are_now(tmp_path, fmt):
    prefix = Path(create_demo(str(tmp_path / "demo")))
    # Two large files of a package: read in parts by the workers (tar) or streamed (zip).
    record_file = prefix / "conda-meta/demo-data-2024.5-pyhd8ed1ab_0.json"
    record = json.loads(record_file.read_text())
    large = [
        prefix / "share/demo-data/large-grown.bin",
        prefix / "share/demo-data/large-shrunk.bin",
    ]
    for path in large:
        path.write_bytes(os.urandom(6 << 20))
        name = path.relative_to(prefix).as_posix()
        record["files"].append(name)
        record["paths_data"]["paths"].append(
            {"_path": name, "path_type": "hardlink", "size_in_bytes": 6 << 20}
        )
    record_file.write_text(json.dumps(record))
    env = Environment.load(str(prefix))
    grown = prefix / "share/demo-data/readings.csv"
    shrunk = prefix / "share/demo-libs/NOTICE"
    with open(grown, "ab") as fh:
        fh.write(os.urandom(3 << 20))  # read in several pieces now
    shrunk.write_bytes(b"ok\n")
    with open(large[0], "ab") as fh:
        fh.write(os.urandom(5 << 20))  # 11 MiB: three parts
    large[1].write_bytes(large[1].read_bytes()[: 3 << 19])  # 1.5 MiB: one part
    out = tmp_path / f"x.{fmt}"
    pack(env, PackOptions(output=str(out), ignore_missing_files=True))
    dest = tmp_path / "unpacked"
    shutil.unpack_archive(out, dest)
    for path in (grown, shrunk, *large):
        assert (dest / path.relative_to(prefix)).read_bytes() == path.read_bytes()


def test_sockets_and_pipes_are_left_out_and_left_alone(tmp_path):
    """Opening a pipe to read it waits for a writer: packing once hung on one."""
    prefix = Path(create_demo(str(tmp_path / "demo")))
    os.mkfifo(prefix / "share" / "a-pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(prefix / "share" / "a-socket"))
    special = ["share/a-pipe", "share/a-socket"]
    env = Environment.load(str(prefix))
    assert env.special == tuple(special)
    assert not set(special) & set(env.untracked)

    r = cli("-p", prefix, "--check", "--json")
    found = {(f["code"], f["path"]) for f in json.loads(r.stdout)["findings"]}
    assert {("special-file", path) for path in special} <= found

    out = tmp_path / "x.tar.gz"
    r = cli("-p", prefix, "-o", out, "--ignore-missing-files", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "# sockets, pipes and devices left out: 2" in r.stdout
    assert "  - share/a-pipe: a socket, pipe or device, left out" in r.stdout
    r = cli("-p", prefix, "-o", out, "--ignore-missing-files", "-q")
    assert r.returncode == 0, r.stderr
    with tarfile.open(out) as tf:
        names = tf.getnames()
    assert "share/demo-data/README.txt" in names and not set(special) & set(names)

    r = cli("-p", prefix, "-r", "--yes", "--backup", tmp_path / "backup.tar.gz")
    assert r.returncode == 0, r.stderr
    assert (prefix / "share" / "a-pipe").exists() and (prefix / "share" / "a-socket").exists()


def test_plan_entries_say_what_happens_to_each_file(tmp_path):
    """Every field of the entries the plan builds in its fast path, checked by name."""
    prefix = Path(create_demo(str(tmp_path / "demo")))
    plan = make_plan(Environment.load(str(prefix)), ignore_missing_files=True)
    by_name = {entry.name: entry for entry in plan.entries}
    readme = prefix / "share/demo-data/README.txt"
    assert by_name["share/demo-data/README.txt"] == PlanEntry(
        "share/demo-data/README.txt",
        "file",
        0o644,
        readme.stat().st_mtime_ns // 10**9,
        readme.stat().st_size,
        action="copy",
        owner="demo-data-2024.5-pyhd8ed1ab_0",
    )
    assert by_name["lib/libdemo.so"] == PlanEntry(
        "lib/libdemo.so",
        "symlink",
        0o777,
        (prefix / "lib/libdemo.so").lstat().st_mtime_ns // 10**9,
        target="libdemo.so.1",
        owner="demo-libs-1.2.0-h5e1f3a9_0",
    )
    conf = by_name["etc/demo/demo.conf"]  # edited after install: searched for the prefix
    assert (conf.kind, conf.action, conf.owner) == ("file", "search", "demo-tools-0.4.1-hb2c4d6e_1")
    greet = by_name["bin/demo-greet"]  # pip's console script: no conda package owns it
    assert (greet.kind, greet.action, greet.owner) == ("file", "search", "")
