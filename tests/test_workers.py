"""Worker nodes: the archive works as extracted, with nothing run (no activate, no conda-unpack).

Clusters (Spark, YARN, Dask, Slurm) extract the archive and start ./environment/bin/python
or a console script directly. The real environment is packed once; the source prefix is
renamed away while the extracted copies run, so nothing can lean on the old path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conda_package.core.unpack import relocate_bytes
from conda_package.core.write.entrypoints import portable_entry_point
from conftest import cli

STATE = "conda-meta/conda-package"
PLAIN_ENV = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
PROBE = (
    "import ssl, sys; print(sys.prefix); "
    "print(ssl.create_default_context().cert_store_stats()['x509_ca'])"
)


@pytest.fixture(scope="module")
def worker_archive(real_env_factory, tmp_path_factory) -> tuple[Path, Path]:
    """A fresh real environment (renamed by tests) and its tar.gz."""
    prefix = real_env_factory("workers")
    out = tmp_path_factory.mktemp("workers-out") / "env.tar.gz"
    r = cli("-p", prefix, "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    return prefix, out


@contextlib.contextmanager
def renamed_away(prefix: Path) -> Iterator[None]:
    """The source environment is not where its files say, as on another machine."""
    away = prefix.with_name(prefix.name + ".away")
    prefix.rename(away)
    try:
        yield
    finally:
        away.rename(prefix)


def extract(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True)
    return dest


def run(*command: str | Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        env={**PLAIN_ENV, **env},
        cwd="/",
    )


def holding(root: Path, needles: list[bytes]) -> list[str]:
    """Files (not links, not byte-code, not the manifest that records the old prefix)
    holding any of `needles`."""
    found = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink() or name.endswith(".pyc") or rel == f"{STATE}/manifest.json":
                continue
            data = path.read_bytes()
            if any(needle in data for needle in needles):
                found.append(rel)
    return sorted(found)


def test_extracted_copy_runs_at_its_new_path_with_the_source_gone(worker_archive, tmp_path):
    prefix, archive = worker_archive
    env = extract(archive, tmp_path / "new place" / "environment")
    with renamed_away(prefix):
        probe = run(env / "bin" / "python", "-c", PROBE)
        pip = run(env / "bin" / "pip", "--version")
        openssl = run(env / "bin" / "openssl", "version", "-d")
    assert probe.returncode == 0, probe.stderr
    assert probe.stderr == ""  # silent when it succeeds
    assert probe.stdout.splitlines()[0] == str(env)
    assert int(probe.stdout.splitlines()[1]) > 100  # the environment's CA certificates
    assert pip.returncode == 0, pip.stderr
    assert f"from {env}/lib/python3.7/site-packages/pip " in pip.stdout
    assert openssl.stdout.strip() == f'OPENSSLDIR: "{env}/ssl"'
    assert holding(env, [os.fsencode(prefix)]) == []
    assert (env / STATE / "prefix").read_text() == f"{env}\n"
    # The archive's own bin/conda-unpack and activate agree that nothing is left to do.
    again = run(env / "bin" / "conda-unpack")
    assert again.stdout == f"conda-unpack: relocated 0 file(s) to {env}\n"
    # The source was never changed: its pip still names its own Python.
    assert (prefix / "bin" / "pip").read_bytes().startswith(f"#!{prefix}/bin/python".encode())


def test_extracting_again_over_a_relocated_copy_relocates_it_again(worker_archive, tmp_path):
    """A node-local copy reused by the next job: tar puts back the placeholders and the
    record of where the copy was relocated to, so the next start relocates it again."""
    prefix, archive = worker_archive
    env = extract(archive, tmp_path / "analysis")
    with renamed_away(prefix):
        first = run(env / "bin" / "python", "-c", "pass")
        subprocess.run(["tar", "-xf", str(archive), "-C", str(env)], check=True)
        second = run(env / "bin" / "python", "-c", PROBE)
        openssl = run(env / "bin" / "openssl", "version", "-d")
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert int(second.stdout.splitlines()[1]) > 100
    assert openssl.stdout.strip() == f'OPENSSLDIR: "{env}/ssl"'


def test_entry_points_find_their_python_before_relocation(worker_archive, tmp_path):
    """Relocation off: console scripts still run with the Python next to them, however they
    are reached, and never with a Python on PATH."""
    prefix, archive = worker_archive
    env = extract(archive, tmp_path / "a b" / "env")
    links = tmp_path / "links"
    links.mkdir()
    (links / "pip").symlink_to(env / "bin" / "pip")
    (links / "env").symlink_to(env)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "python3.7").symlink_to(shutil.which("python3") or "/usr/bin/python3")
    off = {"CONDA_PACKAGE_NO_AUTORELOCATE": "1", "PATH": f"{decoy}:/usr/bin:/bin"}
    with renamed_away(prefix):
        ways = [
            run(env / "bin" / "pip", "--version", **off),
            run(links / "pip", "--version", **off),
            run(links / "env" / "bin" / "pip", "--version", **off),
            run(env / "bin" / "python", env / "bin" / "pip", "--version", **off),
            run(env / "bin" / "python", "-m", "pip", "--version", **off),
        ]
        openssl = run(env / "bin" / "openssl", "version", "-d", **off)
    for r in ways:
        assert r.returncode == 0, r.stderr
        assert f"from {env}/lib/python3.7/site-packages/pip (python 3.7)" in r.stdout
    assert openssl.returncode == 0 and str(env) not in openssl.stdout  # off: not relocated
    assert (env / STATE / "prefix").read_text() == ""  # as shipped: not relocated


def _relocated_counts(stderr: str) -> list[int]:
    return [int(n) for n in re.findall(r"relocated (\d+) file\(s\)", stderr)]


def test_sixteen_processes_starting_at_once_relocate_once(worker_archive, tmp_path):
    prefix, archive = worker_archive
    env = extract(archive, tmp_path / "shared")
    python = str(env / "bin" / "python")
    code = "import sys, sqlite3, ssl; print(sys.prefix)"
    with renamed_away(prefix):
        procs = [
            subprocess.Popen(
                [python, "-c", code],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**PLAIN_ENV, "CONDA_PACKAGE_VERBOSE": "1"},
            )
            for _ in range(16)
        ]
        results = [(p.communicate(), p.returncode) for p in procs]
    for (out, err), code in results:
        assert code == 0, err
        assert out == f"{env}\n"
    counts = [n for (_, err), _ in results for n in _relocated_counts(err)]
    manifest = json.loads((env / STATE / "manifest.json").read_text())
    # Every file that changes was relocated by exactly one process.
    with tarfile.open(archive) as tf:
        changed = 0
        for entry in manifest["files"]:
            packed = tf.extractfile(entry["path"]).read()
            expected = relocate_bytes(packed, entry["placeholder"], str(env), entry["mode"])
            changed += expected != packed
            assert (env / entry["path"]).read_bytes() == expected, entry["path"]
    assert sorted(counts, reverse=True)[:1] == [changed]
    assert sum(counts) == changed and changed > 200
    assert not [p for p in (env / STATE).iterdir() if p.name.startswith(".conda-unpack-")]


def _as_another_user() -> dict:
    """root may write anywhere: run the read-only case as nobody."""
    return {"user": 65534, "group": 65534, "extra_groups": []} if os.geteuid() == 0 else {}


def test_read_only_extract_still_runs(worker_archive):
    prefix, archive = worker_archive
    # Outside pytest's 0700 temporary folder, so that `nobody` can reach it.
    top = Path(tempfile.mkdtemp(prefix="conda-package-ro-"))
    try:
        top.chmod(0o755)
        env = extract(archive, top / "env")
        subprocess.run(["chmod", "-R", "a-w", str(env)], check=True)
        with renamed_away(prefix):
            r = subprocess.run(
                [str(env / "bin" / "python"), "-c", "import sys, ssl; print(sys.prefix)"],
                capture_output=True,
                text=True,
                env=PLAIN_ENV,
                cwd="/",
                **_as_another_user(),
            )
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"{env}\n"
        warning = r.stderr.splitlines()
        assert len(warning) == 1 and "read-only" in warning[0], r.stderr
        assert (env / STATE / "prefix").read_text() == ""  # as shipped: not relocated
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(top)], check=True)
        shutil.rmtree(top)


def test_every_spelling_of_the_prefix_is_relocated(worker_archive, tmp_path):
    """Packed through a symbolic link, through the real path, and after the environment
    was moved (its entry points name the prefix it was installed at): after unpacking,
    no file but byte-code holds any spelling of the old prefix."""
    prefix, _ = worker_archive
    link = tmp_path / "link-to-env"
    link.symlink_to(prefix)
    moved = prefix.with_name(prefix.name + ".moved")
    spellings = [os.fsencode(p) for p in (prefix, link, moved)]
    for name, given in (("link", link), ("real", prefix), ("moved", moved)):
        archive = tmp_path / f"{name}.tar.gz"
        if name == "moved":
            prefix.rename(moved)
        try:
            r = cli("-p", given, "-o", archive, "-q")
        finally:
            if name == "moved":
                moved.rename(prefix)
        assert r.returncode == 0, r.stderr
        env = extract(archive, tmp_path / name)
        unpacked = run(env / "bin" / "conda-unpack")
        assert unpacked.returncode == 0, unpacked.stderr
        assert holding(env, spellings) == [], name


def test_containers_linking_one_extracted_copy_relocate_it_once(worker_archive, tmp_path):
    """YARN links each container's ./environment to one copy in the NodeManager's cache:
    the copy is relocated once, to its resolved path, which every container shares."""
    prefix, archive = worker_archive
    cache = extract(archive, tmp_path / "filecache" / "10" / "env.tar.gz")
    containers = [tmp_path / f"container_{n}" for n in (1, 2)]
    with renamed_away(prefix):
        started = []
        for container in containers:
            container.mkdir()
            (container / "environment").symlink_to(cache)
            started.append(
                subprocess.run(
                    ["./environment/bin/python", "-c", "import sys; print(sys.prefix)"],
                    capture_output=True,
                    text=True,
                    env={**PLAIN_ENV, "CONDA_PACKAGE_VERBOSE": "1"},
                    cwd=container,
                )
            )
        openssl = run(containers[1] / "environment" / "bin" / "openssl", "version", "-d")
    assert [r.returncode for r in started] == [0, 0], started[0].stderr
    assert [_relocated_counts(r.stderr) for r in started][1] == []  # nothing left to do
    assert _relocated_counts(started[0].stderr)[0] > 200
    assert (cache / STATE / "prefix").read_text() == f"{cache}\n"
    assert openssl.stdout.strip() == f'OPENSSLDIR: "{cache}/ssl"'


def test_a_path_too_long_to_relocate_to_still_runs_python(worker_archive, tmp_path):
    """Binary files have room for 255 bytes: further away, Python still starts, with one
    line saying why the environment was not relocated, and nothing is changed."""
    prefix, archive = worker_archive
    env = extract(archive, tmp_path / ("p" * 250) / ("q" * 20))
    with renamed_away(prefix):
        r = run(env / "bin" / "python", "-c", "print('user code ran')")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "user code ran\n"
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("conda-package: could not relocate"), lines
    assert "room for at most 255" in lines[0]
    assert (env / STATE / "prefix").read_text() == ""  # as shipped: not relocated


def test_an_extracted_copy_packs_again(worker_archive, tmp_path):
    """The hook (and its byte-code) in an extracted copy is ours, not the environment's:
    packing that copy again ships one fresh hook, as for bin/conda-unpack."""
    _, archive = worker_archive
    env = extract(archive, tmp_path / "first")
    assert run(env / "bin" / "python", "-c", "pass").returncode == 0  # relocates, writes .pyc
    again = tmp_path / "again.tar.gz"
    r = cli("-p", env, "-o", again, "-q")
    assert r.returncode == 0, r.stderr
    with tarfile.open(again) as tf:
        hook = [n for n in tf.getnames() if "_conda_package_autorelocate" in n]
    assert sorted(hook) == [
        "lib/python3.7/site-packages/_conda_package_autorelocate.pth",
        "lib/python3.7/site-packages/_conda_package_autorelocate.py",
    ]
    second = extract(again, tmp_path / "second")
    assert run(second / "bin" / "python", "-c", "import sys; print(sys.prefix)").stdout == (
        f"{second}\n"
    )
    assert f'"{second}/ssl"' in run(second / "bin" / "openssl", "version", "-d").stdout


P = b"/opt/anaconda1anaconda2anaconda3"
HAS = {"bin/python3.7", "bin/python"}.__contains__


@pytest.mark.parametrize(
    ("path", "script", "expected_line2"),
    [
        (
            "bin/tool",
            P + b"/bin/python3.7\nimport sys\n",
            b')")/python3.7" "$0" "$@"',
        ),
        ("bin/tool", P + b"/bin/python -E -s\nx = 1\n", b')")/python" -E -s "$0" "$@"'),
        ("lib/python3.7/site-packages/x/s.py", P + b"/bin/python\n", b')")/../../../../bin/'),
        ("bin/tool", P + b"/bin/perl\n", None),  # not Python: relocated as before
        ("bin/tool", b"/usr/bin/python3\n", None),  # not the environment's Python
        ("bin/tool", P + b"/bin/python2.6\n", None),  # not in the environment
        ("bin/tool", P + b"/bin/python3.7\n# -*- coding: latin-1 -*-\n", None),
        ("bin/tool", P + b"/bin/python3.7 -c 'x'\n", None),  # quoting sh cannot share
    ],
)
def test_which_scripts_get_the_exec_lines(path, script, expected_line2):
    out = portable_entry_point(b"#!" + script, path, [P], HAS)
    if expected_line2 is None:
        assert out is None
        return
    assert out is not None
    lines = out.split(b"\n")
    assert lines[0] == b"#!/bin/sh" and lines[2] == b"' '''"
    assert expected_line2 in lines[1] and P not in out
    compile(out, path, "exec")  # still Python
