"""`-w`, `-u` and `-r` through the real command, on the real environment."""

from __future__ import annotations

import json
import os
import tarfile

from conftest import cli, pip_install


def test_which_names_the_owner(real_env, tmp_path):
    r = cli("-w", real_env / "bin" / "python", real_env / "lib" / "libssl.so")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].endswith(": python-3.7.0-hc3d631a_0")
    assert lines[1].endswith(": openssl-1.0.2o-h20670df_0")
    # relative to the cwd, with the prefix found by walking up
    r = cli("-w", "bin/python", "--json", cwd=real_env)
    assert json.loads(r.stdout)[0]["package"] == "python-3.7.0-hc3d631a_0"
    outside = tmp_path / "x.txt"
    outside.write_text("x")
    r = cli("-w", outside)
    assert r.returncode == 1
    assert "not in a conda environment" in r.stdout


def test_untracked_pip_and_reset(real_env_factory, demo_wheel, tmp_path):
    prefix = real_env_factory("reset")
    r = cli("-u", "-p", prefix)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"# prefix: {prefix}", "# untracked files: 0"]

    pip_install(prefix, demo_wheel)
    r = cli("-u", prefix)
    lines = r.stdout.splitlines()
    paths = lines[2:]
    site = "lib/python3.7/site-packages"
    assert lines[1] == f"# untracked files: {len(paths)}"
    assert paths == sorted(paths)
    assert "bin/hello-cp" in paths
    assert f"{site}/hello_cp/__init__.py" in paths
    assert all(p.startswith((f"{site}/hello_cp", "bin/hello-cp")) for p in paths)

    r = cli("-w", prefix / "bin" / "hello-cp")
    assert "untracked (pip: hello_cp 0.3)" in r.stdout

    # not on a terminal and no --yes: refuses, removes nothing
    r = cli("-r", "-p", prefix, input="")
    assert r.returncode == 2
    assert "--yes" in r.stderr
    assert (prefix / "bin" / "hello-cp").exists()

    r = cli("-r", "--dry-run", "-p", prefix)
    assert r.returncode == 0
    assert "bin/hello-cp" in r.stdout
    assert (prefix / "bin" / "hello-cp").exists()

    backup = tmp_path / "backup.tar.gz"
    r = cli("-r", "--yes", "--backup", backup, "-p", prefix)
    assert r.returncode == 0, r.stderr
    assert not (prefix / "bin" / "hello-cp").exists()
    assert not (prefix / site / "hello_cp").exists()  # emptied directories go too
    assert (prefix / "bin" / "python").exists()
    with tarfile.open(backup) as tf:
        assert sorted(m.name for m in tf if not m.isdir()) == paths
        assert b"hello_cp" in tf.extractfile("bin/hello-cp").read()
    assert oct(os.stat(backup).st_mode & 0o777) == "0o644"

    r = cli("-u", prefix)
    assert r.stdout.splitlines()[1] == "# untracked files: 0"


def test_reset_default_backup_and_symlinks(small_env, tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (small_env / "link-out").symlink_to(outside)
    (small_env / "extra").mkdir()
    (small_env / "extra" / "file.txt").write_text("x")
    r = cli("-r", "--yes", small_env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert outside.read_text() == "keep me"  # the symlink went, never its target
    assert not os.path.lexists(small_env / "link-out")
    assert not (small_env / "extra").exists()
    backups = list(tmp_path.glob("small-env-untracked-*.tar.gz"))
    assert len(backups) == 1
    with tarfile.open(backups[0]) as tf:
        assert tf.getmember("link-out").issym()
    assert (small_env / "bin" / "tool").exists()
    assert (small_env / "conda-meta").is_dir()


def test_bad_input_one_line(tmp_path, small_env):
    for args in (["-u", tmp_path / "missing"], ["-u", tmp_path], ["-n", "no-such-env-xyz", "-u"]):
        r = cli(*args, env={**os.environ, "HOME": str(tmp_path)})
        assert r.returncode != 0
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr
    env = {k: v for k, v in os.environ.items() if k != "CONDA_PREFIX"}
    r = cli("-u", env=env)
    assert r.returncode == 1
    assert "no environment given" in r.stderr
    record = next((small_env / "conda-meta").glob("tool-*.json"))
    record.write_text('{"name": "tool", "version": "1", "build": "0", "files": ["../../etc/x"]}')
    r = cli("-u", small_env)
    assert r.returncode == 1
    assert "outside the environment" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("-u", "-p", small_env, "-n", "x")
    assert r.returncode == 2
