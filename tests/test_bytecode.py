"""Byte-code in the archive: the environment's own kept as is, the missing compiled at pack
time by its Python, loaded at the target without compiling, even from a read-only tree."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from pathlib import Path

import pytest
from conda_package.core import Environment, PackOptions, pack
from conftest import cli
from test_pack import activate_and_run, extract, files_holding

JSON_PYC = "lib/python3.7/json/__pycache__/__init__.cpython-37.pyc"
SYSCONFIG = "lib/python3.7/__pycache__/_sysconfigdata_m_linux_x86_64-linux-gnu.cpython-37.pyc"
IMPORTS = "import json, ssl, sqlite3"


def read_only_imports(prefix: Path, code: str) -> subprocess.CompletedProcess:
    """`python -v -c code` with the tree read-only and byte-code writing off."""
    subprocess.run(["chmod", "-R", "a-w", str(prefix)], check=True)
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    try:
        return subprocess.run(
            [str(prefix / "bin/python"), "-v", "-c", code],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
        )
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(prefix)], check=True)


HOOK = "_conda_package_autorelocate.py"


def compiled_from(stderr: str) -> list[str]:
    """What `python -v` says each code object came from."""
    return re.findall(r"^# code object from '?([^'\n]+)'?$", stderr, re.M)


def assert_loads_bytecode(prefix: Path) -> None:
    r = read_only_imports(prefix, IMPORTS)
    assert r.returncode == 0, r.stderr
    sources = compiled_from(r.stderr)
    assert f"{prefix}/{JSON_PYC}" in sources
    assert f"{prefix}/lib/python3.7/__pycache__/ssl.cpython-37.pyc" in sources
    # The self-relocation hook is written at pack time with no byte-code of its own (a few
    # lines, compiled in well under a millisecond): every other import loads byte-code.
    compiled = [s for s in sources if not s.endswith((".pyc", HOOK))]
    assert compiled == []  # nothing compiled from source at import


@pytest.fixture(scope="module")
def env_with_bytecode(real_env_factory) -> Path:
    """The real environment with byte-code, as conda leaves one (python's package ships it,
    noarch packages are compiled at install), plus a pip-style module naming the prefix."""
    prefix = real_env_factory("bytecode")
    site = prefix / "lib/python3.7/site-packages"
    (site / "where_am_i.py").write_text(f"PREFIX = {str(prefix)!r}\n")
    subprocess.run(
        [str(prefix / "bin/python"), "-m", "compileall", "-q", str(prefix / "lib/python3.7")],
        capture_output=True,
    )
    assert (prefix / JSON_PYC).is_file() and (prefix / SYSCONFIG).is_file()
    return prefix


def test_environment_bytecode_is_packed_and_loaded_at_a_new_path(env_with_bytecode, tmp_path):
    prefix = env_with_bytecode
    archive = tmp_path / "env.tar.gz"
    result = pack(Environment.load(str(prefix)), PackOptions(output=str(archive)))
    assert JSON_PYC in result.names
    assert SYSCONFIG not in result.names  # its source is rewritten at the target
    assert result.plan.skipped_pyc == 6  # the six sources python ships with a prefix
    # A new place exactly as long as the old: byte-code of a source conda-unpack rewrites
    # would still match its size and mtime, and load the old prefix.
    base = tmp_path.parent  # shorter than the environment's prefix, which lies deeper
    target = base / ("n" * (len(str(prefix)) - len(str(base)) - 1))
    assert len(str(target)) == len(str(prefix))
    extract(archive, target)
    r = activate_and_run(target, "python -c 'import where_am_i; print(where_am_i.PREFIX)'")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(target)
    assert_loads_bytecode(target)
    r = subprocess.run(
        [str(target / "bin/python"), "-c", "import json; json.loads('{')"],
        capture_output=True,
        text=True,
    )
    assert f'File "{target}/lib/python3.7/json/decoder.py"' in r.stderr
    assert str(prefix) not in r.stderr
    assert files_holding(target, str(prefix).encode()) == []


def snapshot(root: Path) -> set[str]:
    return {os.path.join(d, n) for d, dirs, names in os.walk(root) for n in names + dirs}


def test_compile_bytecode_adds_what_is_missing_without_touching_the_environment(real_env, tmp_path):
    before = snapshot(real_env)
    archive = tmp_path / "compiled.tar.zst"
    r = cli("-p", real_env, "-o", archive, "--compile-bytecode", "-q")
    assert r.returncode == 0, r.stderr
    assert snapshot(real_env) == before  # compiled outside the environment
    target = extract(archive, tmp_path / "t")
    assert (target / JSON_PYC).is_file()
    assert not (target / SYSCONFIG).exists()  # never compiled from bytes that change
    assert activate_and_run(target, "true").returncode == 0  # relocates
    assert_loads_bytecode(target)


def test_compiled_bytecode_matches_its_source_in_a_plain_directory(real_env, tmp_path):
    out = tmp_path / "copy"
    options = PackOptions(output=str(out), format="dir", compile_bytecode=True)
    result = pack(Environment.load(str(real_env)), options)
    assert JSON_PYC in result.names
    source = os.stat(out / "lib/python3.7/json/__init__.py")
    head = (out / JSON_PYC).read_bytes()[:16]
    assert int.from_bytes(head[8:12], "little") == int(source.st_mtime)
    assert int.from_bytes(head[12:16], "little") == source.st_size


def test_bytecode_is_merged_as_it_compiles_and_what_sorts_before_it_waits_for_nothing(
    real_env, tmp_path
):
    """The packer writes what sorts before the first byte-code while the compilers run:
    entries() hands it out without taking in any group, and then the same plan as
    with_bytecode() of the whole compile."""
    from conda_package.core.plan import make_plan
    from conda_package.core.write.bytecode import BytecodeCompile, compile_bytecode, with_bytecode

    env = Environment.load(str(real_env))
    plan = make_plan(env)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    whole = with_bytecode(plan, compile_bytecode(env, plan, str(tmp_path / "a"), None, 2))
    job = BytecodeCompile(env, plan, str(tmp_path / "b"), None, 2)
    try:
        first = min(job._bounds)
        before = sum(e.name < first for e in plan.entries)
        early = list(itertools.islice(job.entries(), before))
        assert job._gate == 0  # no group taken in (nor waited for) yet
        assert early == list(plan.entries[:before]) and before > 1000
        assert job.totals() is None
        streamed = job.plan()
        assert streamed.entries == whole.entries
        assert job.totals() == (len(whole.entries), whole.total_bytes)
    finally:
        job.close()
    names = [e.name for e in streamed.entries]
    assert JSON_PYC in names and names == sorted(names)


def test_compile_bytecode_needs_the_environments_python(small_env, tmp_path):
    out = tmp_path / "small.tar.gz"
    r = cli("-p", small_env, "-o", out, "--compile-bytecode")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"conda-package: error: --compile-bytecode: {small_env} has no bin/python to compile"
        " with; pack without --compile-bytecode"
    ]
    assert list(tmp_path.iterdir()) == [small_env]


@pytest.mark.parametrize("name", ["env.tar.gz", "env.zip", "env.sh"])
def test_a_compiler_failing_mid_stream_leaves_nothing(small_env, tmp_path, name):
    """The compile runs while the archive is written: its failure still ends the pack with
    one line, and neither the output nor the byte-code folder is left behind."""
    python = small_env / "bin/python"
    python.parent.mkdir(exist_ok=True)
    python.write_text("#!/bin/sh\necho 'boom: not a Python' >&2\nexit 3\n")
    python.chmod(0o755)
    library = small_env / "lib/python3.7"
    library.mkdir(parents=True)
    (library / "mod.py").write_text("X = 1\n")
    out = tmp_path / name
    r = cli("-p", small_env, "-o", out, "--compile-bytecode", "-q")
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"conda-package: error: {python}: cannot compile byte-code (boom: not a Python); it"
        " must run on this machine for --compile-bytecode and for squashfs images (pack"
        " without --compile-bytecode, or as another format)"
    ]
    assert list(tmp_path.iterdir()) == [small_env]


def test_files_holding_still_finds_the_prefix_outside_bytecode(tmp_path):
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__/m.cpython-37.pyc").write_bytes(b"\0/old/prefix\0")
    assert files_holding(tmp_path, b"/old/prefix") == []
    (tmp_path / "m.py").write_text("'/old/prefix'\n")
    assert files_holding(tmp_path, b"/old/prefix") == ["m.py"]


def cached_groups(cache: Path) -> dict[Path, list[str]]:
    """The byte-code groups in a cache folder, with the names each holds."""
    found = {}
    for index in (cache / "conda-package/bytecode").glob("*.index"):
        fields = index.read_bytes().decode().split("\0")[:-1]
        found[index.with_suffix("")] = fields[::2]
    return found


def test_byte_code_compiled_once_is_taken_from_the_cache_until_its_source_changes(
    real_env_factory, tmp_path, monkeypatch
):
    prefix = real_env_factory("bytecache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def packed(name: str) -> Path:
        options = PackOptions(output=str(tmp_path / name), format="dir", compile_bytecode=True)
        pack(Environment.load(str(prefix)), options)
        return tmp_path / name

    first = packed("first")
    groups = cached_groups(tmp_path / "cache")
    assert sum(len(names) for names in groups.values()) > 1500  # the whole library
    # Overwrite the cached byte-code with zeros: a pack that takes its byte-code from the
    # cache hands the zeros out; one that compiles does not.
    for group in groups:
        group.write_bytes(bytes(group.stat().st_size))
    assert (packed("again") / JSON_PYC).read_bytes() == bytes((first / JSON_PYC).stat().st_size)
    # A changed source is compiled again, with the rest of its group only.
    source = prefix / "lib/python3.7/json/__init__.py"
    os.utime(source, (1_700_000_000, 1_700_000_000))
    changed = packed("changed")
    assert (changed / JSON_PYC).read_bytes()[8:12] == (1_700_000_000).to_bytes(4, "little")
    (near,) = [names for names in groups.values() if JSON_PYC in names]
    other = next(n for names in groups.values() if JSON_PYC not in names for n in names)
    assert all(set((changed / name).read_bytes()) != {0} for name in near)
    assert set((changed / other).read_bytes()) == {0}  # its group still from the cache


def test_a_cache_that_cannot_be_written_changes_nothing(real_env, tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    out = tmp_path / "image.squashfs"
    r = cli("-p", real_env, "-o", out, "-q", env={**os.environ})
    assert r.returncode == 0, r.stderr
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("cold.squashfs", "warm.squashfs"):
        r = cli("-p", real_env, "-o", tmp_path / name, "-q", env={**os.environ})
        assert r.returncode == 0, r.stderr
    assert cached_groups(tmp_path / "cache")
    # The image names no path of its own: built with, without and from the cache, the same.
    data = {
        (tmp_path / n).read_bytes() for n in ("image.squashfs", "cold.squashfs", "warm.squashfs")
    }
    assert len(data) == 1


def test_the_cache_keeps_the_most_recently_used_groups(tmp_path):
    from conda_package.core.write.bytecache import BytecodeCache

    cache = BytecodeCache(str(tmp_path))
    old = 1_000_000_000
    for number, used in enumerate((old, old + 10, old + 20)):
        (tmp_path / f"group{number}").write_bytes(bytes(100))
        (tmp_path / f"group{number}.index").write_bytes(b"a\x00100\x00")
        for path in (tmp_path / f"group{number}", tmp_path / f"group{number}.index"):
            os.utime(path, (used, used))
    (tmp_path / ".left-by-a-killed-put").write_bytes(bytes(10))
    os.utime(tmp_path / ".left-by-a-killed-put", (old, old))
    (tmp_path / "group3").write_bytes(bytes(1000))  # used just now: never removed
    (tmp_path / "group3.index").write_bytes(b"")
    assert cache.get("group0") == (str(tmp_path / "group0"), b"a\x00100\x00")  # now used
    cache.prune(limit=1250)  # 1,300 bytes: the least recently used goes
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "group0",
        "group0.index",
        "group2",
        "group2.index",
        "group3",
        "group3.index",
    ]
