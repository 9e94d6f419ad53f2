"""The demo environment: made offline by the product, honest to every view, fixed content."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

from conda_package.core.analyse.elf import read_elf
from conda_package.core.demo.build import (
    BINARY_PLACEHOLDER,
    DEMO_FINDINGS,
    TEXT_PLACEHOLDER,
    create_demo,
)
from conda_package.core.load.environment import DEMO_MARKER, Environment
from conda_package.core.unpack import replace_binary
from conftest import cli
from test_pack import activate_and_run, extract, files_holding


def tree(root: Path) -> dict[str, tuple]:
    """Every entry with what a user could see of it: bytes or link target, mode, mtime."""
    out = {}
    for dirpath, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(dirpath) / name
            st = path.lstat()
            content = (
                os.readlink(path)
                if path.is_symlink()
                else (path.read_bytes() if path.is_file() else None)
            )
            out[path.relative_to(root).as_posix()] = (content, st.st_mode, st.st_mtime_ns)
    return out


def test_records_are_written_the_way_conda_writes_them(tmp_path):
    prefix = Path(create_demo(str(tmp_path / "demo")))
    env = Environment.load(str(prefix))
    assert [r.dist for r in env.records] == [
        "demo-data-2024.5-pyhd8ed1ab_0",
        "demo-libs-1.2.0-h5e1f3a9_0",
        "demo-tools-0.4.1-hb2c4d6e_1",
    ]
    modes = set()
    for record in env.records:
        raw = record.raw
        assert raw["files"] == [item["_path"] for item in raw["paths_data"]["paths"]]
        assert raw["paths_data"]["paths_version"] == 1
        assert not Path(raw["link"]["source"]).exists()  # the package cache is gone
        for entry in record.paths:
            assert entry.sha256 and entry.size is not None
            full = prefix / entry.path
            if entry.path_type == "softlink" or not full.exists():
                continue
            data = full.read_bytes()
            if entry.path in env.modified:
                assert hashlib.sha256(data).hexdigest() != entry.sha256_in_prefix
                continue
            assert hashlib.sha256(data).hexdigest() == entry.sha256_in_prefix
            modes.add(entry.file_mode)
            if entry.file_mode == "binary":
                assert entry.prefix_placeholder == BINARY_PLACEHOLDER
                assert len(data) == entry.size  # NUL padding keeps every offset
                packaged = replace_binary(data, bytes(prefix), BINARY_PLACEHOLDER.encode())
                assert hashlib.sha256(packaged).hexdigest() == entry.sha256
            elif entry.file_mode == "text":
                assert entry.prefix_placeholder == TEXT_PLACEHOLDER
                packaged = data.replace(bytes(prefix), TEXT_PLACEHOLDER.encode())
                assert hashlib.sha256(packaged).hexdigest() == entry.sha256
            else:
                assert hashlib.sha256(data).hexdigest() == entry.sha256
    assert modes == {None, "text", "binary"}
    assert env.modified == ("etc/demo/demo.conf",)
    assert [m.path for m in env.missing] == ["lib/libdemo-plugins.so.1"]
    [dist] = env.pip_distributions
    assert (dist.name, dist.version, dist.installer) == ("demo-greet", "0.1", "pip")
    assert set(env.untracked) == set(dist.files) | {"bin/demo-latest"}
    assert (prefix / "bin/demo-greet").read_text().startswith(f"#!{prefix}/bin/python3.12\n")


def test_binaries_are_real_elf_files(tmp_path):
    prefix = Path(create_demo(str(tmp_path / "demo")))
    tool = read_elf((prefix / "bin/demo-tool").read_bytes())
    assert tool.machine == "EM_X86_64" and tool.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert tool.needed == ("libdemo.so.1", "libdemo-plugins.so.1", "libc.so.6")
    assert tool.runpath == ("$ORIGIN/../lib",)
    lib = read_elf((prefix / "lib/libdemo.so.1").read_bytes())
    assert lib.soname == "libdemo.so.1" and lib.runpath == (f"{prefix}/lib",)

    from elftools.elf.elffile import ELFFile

    with open(prefix / "bin/demo-tool", "rb") as fh:
        dynamic = ELFFile(fh).get_section_by_name(".dynamic")
        assert [t.needed for t in dynamic.iter_tags("DT_NEEDED")] == list(tool.needed)
    if shutil.which("readelf"):
        out = subprocess.run(
            ["readelf", "-dW", str(prefix / "lib/libdemo.so.1")],
            capture_output=True,
            text=True,
            check=True,
        )
        assert f"Library runpath: [{prefix}/lib]" in out.stdout and not out.stderr
    if platform.machine() == "x86_64" and platform.libc_ver()[0] == "glibc":
        ctypes.CDLL(str(prefix / "lib/libdemo.so.1"))  # the dynamic loader takes it


def _without_prefix_hashes(path: str, content: object) -> object:
    """Hashes of bytes that hold the prefix differ with it, as they do under conda and pip."""
    if path.startswith("conda-meta/") and path.endswith(".json"):
        record = json.loads(content)
        for item in record["paths_data"]["paths"]:
            item.pop("sha256_in_prefix", None)
        return record
    if path.endswith(".dist-info/RECORD"):
        return [line for line in content.splitlines() if b"bin/demo-greet" not in line]
    return content


def test_same_content_every_time_apart_from_the_prefix(tmp_path):
    first = Path(create_demo(str(tmp_path / "demo-a")))
    before = tree(first)
    create_demo(str(first))  # an earlier demo is replaced by the same one
    assert tree(first) == before
    second = Path(create_demo(str(tmp_path / "demo-b")))  # same length: bytes comparable

    def moved(content: object) -> object:
        if isinstance(content, bytes):
            return content.replace(bytes(first), bytes(second))
        if isinstance(content, str):
            return content.replace(str(first), str(second))
        return content

    expected = {
        path: (_without_prefix_hashes(path, moved(content)), mode, mtime)
        for path, (content, mode, mtime) in before.items()
    }
    got = {
        path: (_without_prefix_hashes(path, content), mode, mtime)
        for path, (content, mode, mtime) in tree(second).items()
    }
    assert got == expected


def test_check_lists_exactly_the_findings_it_was_built_to_show(tmp_path):
    target = tmp_path / "demo"
    cache = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = cli("--demo-env", target, "--check", "--json", env=cache)
    assert result.returncode == 1  # two of the staged findings are errors
    assert result.stderr == f"conda-package: demo environment made at {target}\n"
    report = json.loads(result.stdout)
    assert report["demo"] is True
    assert sorted((f["code"], f["path"]) for f in report["findings"]) == sorted(DEMO_FINDINGS)
    assert json.loads(cli("-u", "--json", target).stdout)["demo"] is True

    text = cli("--check", target, env=cache)
    assert text.stdout.splitlines()[0] == f"# prefix: {target} (demo environment)"
    assert "# 2 errors, 3 warnings, 1 info in 19 files" in text.stdout

    # What the pack leaves out has no say: --check shows what would go in
    excluded = ("bin/demo-tool", "*/site-packages/*")
    kept = cli("--check", "--json", target, *(f"--exclude={p}" for p in excluded), env=cache)
    assert sorted((f["code"], f["path"]) for f in json.loads(kept.stdout)["findings"]) == sorted(
        (code, path)
        for code, path in DEMO_FINDINGS
        if path != "bin/demo-tool" and "/site-packages/" not in path
    )
    options = ("--dry-run", "--ignore-missing-files", "--exclude=bin/demo-tool")
    dry = cli(*options, "-o", tmp_path / "x.tar.gz", target, env=cache)
    assert "# 1 error, 3 warnings, 1 info" in dry.stdout + dry.stderr


def test_pack_with_zstd_unpack_elsewhere_and_activate(tmp_path):
    """The README's demo: pack, extract at a longer path, activate, the prefix moved."""
    target = tmp_path / "demo"
    archive = tmp_path / "demo.tar.zst"
    refused = cli("--demo-env", target, "--zstd", "-o", archive)
    assert refused.returncode == 1 and not archive.exists()
    assert refused.stderr.splitlines()[-1] == (
        "conda-package: error: 1 file listed by packages is missing:"
        " demo-libs-1.2.0-h5e1f3a9_0 lacks lib/libdemo-plugins.so.1: 1 file missing since"
        " install, and no pip install explains it: deleted by hand; fix: conda install"
        " --force-reinstall demo-libs; or use --ignore-missing-files to pack without them"
    )
    packed = cli("--demo-env", target, "--zstd", "--ignore-missing-files", "-o", archive)
    assert packed.returncode == 0, packed.stderr

    new = extract(archive, tmp_path / ("somewhere-else-" + "x" * 60) / "demo")
    run = activate_and_run(new, "demo-hello")  # its shebang names bin/demo-sh, moved too
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"demo-hello runs from {new}\n"
    # pip's console script: over 127 bytes now, so conda's /bin/sh exec line names python
    assert f"{new}/bin/python3.12" in (new / "bin/demo-greet").read_text()
    assert f"cache_dir = {new}/var/cache/demo" in (new / "etc/demo/demo.conf").read_text()
    assert (new / "share/demo-tools/paths.txt").read_text() == f"data = {new}/share/demo-data\n"
    assert read_elf((new / "lib/libdemo.so.1").read_bytes()).runpath == (f"{new}/lib",)
    assert files_holding(new, bytes(target)) == []
    # what --check called an error stays one: the hand-made absolute symlink
    assert os.readlink(new / "bin/demo-latest") == f"{target}/bin/demo-hello"


def test_demo_env_never_overwrites_a_folder_that_is_not_a_demo(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("years of work\n")
    result = cli("--demo-env", busy, "-u")
    assert result.returncode == 1
    assert result.stderr == (
        f"conda-package: error: {busy}: exists and is not empty (nor an earlier demo);"
        " choose a new path\n"
    )
    assert [p.name for p in busy.iterdir()] == ["thesis.tex"]

    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("--demo-env", empty, "-u", "-q").returncode == 0
    assert (empty / DEMO_MARKER).is_file()
    both = cli("--demo-env", empty, str(empty))
    assert both.returncode == 2 and "not both" in both.stderr

    link = tmp_path / "link"  # to a demo: still refused, and the demo stays
    link.symlink_to(empty)
    refused = cli("--demo-env", link, "-u")
    assert refused.returncode == 1 and "exists and is not a folder" in refused.stderr
    assert (empty / DEMO_MARKER).is_file()


def test_demo_env_paths_it_cannot_take_are_one_line(tmp_path):
    bad = os.fsdecode(bytes(tmp_path) + b"/demo-\xff")
    result = cli("--demo-env", bad, "-u")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "not valid UTF-8" in result.stderr
    assert list(tmp_path.iterdir()) == []
