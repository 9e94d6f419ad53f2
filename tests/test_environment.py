"""The environment model on real prefixes: records, owners, untracked, missing, modified."""

from __future__ import annotations

import json
import os

import pytest
from conda_package.core.errors import CorruptRecord, EnvironmentNotFound, NotAnEnvironment
from conda_package.core.load.environment import Environment
from conftest import pip_install


def test_real_env_model(real_env):
    env = Environment.load(str(real_env))
    names = {r.name for r in env.records}
    assert {"python", "openssl", "git", "tk", "pip"} <= names
    assert len(env.records) == 35
    assert env.owner("bin/python").dist == "python-3.7.0-hc3d631a_0"
    assert env.owner("lib/libssl.so.1.0.0").name == "openssl"
    assert env.untracked == ()
    assert env.missing == ()
    assert env.modified == ()
    assert env.python_version == "3.7"
    assert env.subdir == "linux-64"
    assert env.size > 150_000_000


def test_small_env_sets(small_env):
    env = Environment.load(str(small_env))
    assert env.owner("bin/tool").name == "tool"
    assert env.untracked == ()
    (small_env / "share" / "data" / "a.txt").unlink()
    (small_env / "share" / "tool" / "readme.txt").write_text("changed, longer\n")
    (small_env / "notes.txt").write_text("mine\n")
    (small_env / "notes.txt~").write_text("editor backup\n")
    pycache = small_env / "share" / "data" / "__pycache__"
    pycache.mkdir()
    env = Environment.load(str(small_env))
    assert [(m.path, m.package.name) for m in env.missing] == [("share/data/a.txt", "data")]
    assert env.modified == ("share/tool/readme.txt",)
    assert env.untracked == ("notes.txt",)


def test_pyc_of_tracked_source_is_not_untracked(small_env):
    (small_env / "lib").mkdir(exist_ok=True)
    site = small_env / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "mine.py").write_text("x = 1\n")
    cache = site / "__pycache__"
    cache.mkdir()
    (cache / "mine.cpython-311.pyc").write_bytes(b"\0" * 16)
    env = Environment.load(str(small_env))
    # mine.py is untracked, so its byte-code counts too
    assert "lib/python3.11/site-packages/__pycache__/mine.cpython-311.pyc" in env.untracked


def test_tolerates_link_null_and_no_paths_data(small_env):
    meta = small_env / "conda-meta"
    record_file = next(meta.glob("data-*.json"))
    data = json.loads(record_file.read_text())
    data["link"] = None
    data.pop("paths_data")
    record_file.write_text(json.dumps(data))
    (meta / "history").unlink(missing_ok=True)
    env = Environment.load(str(small_env))
    assert env.owner("share/data/b.txt").name == "data"
    assert env.untracked == ()


@pytest.mark.parametrize("bad", ["../outside.txt", "/etc/passwd", "a/../../x"])
def test_record_paths_outside_prefix_are_refused(small_env, bad):
    record_file = next((small_env / "conda-meta").glob("data-*.json"))
    data = json.loads(record_file.read_text())
    data["files"].append(bad)
    data["paths_data"]["paths"].append({"_path": bad, "path_type": "hardlink"})
    record_file.write_text(json.dumps(data))
    with pytest.raises(CorruptRecord, match="outside the environment"):
        Environment.load(str(small_env))


def test_corrupt_records(small_env):
    record_file = next((small_env / "conda-meta").glob("data-*.json"))
    record_file.write_text("{not json")
    with pytest.raises(CorruptRecord, match="not valid JSON"):
        Environment.load(str(small_env))
    record_file.write_text("")
    with pytest.raises(CorruptRecord, match="empty"):
        Environment.load(str(small_env))


def test_not_an_environment(tmp_path):
    with pytest.raises(EnvironmentNotFound):
        Environment.load(str(tmp_path / "nope"))
    with pytest.raises(NotAnEnvironment):
        Environment.load(str(tmp_path))
    (tmp_path / "file").write_text("x")
    with pytest.raises(EnvironmentNotFound, match="not a directory"):
        Environment.load(str(tmp_path / "file"))


def test_pip_attribution_and_editable(real_env_factory, demo_wheel):
    prefix = real_env_factory("pip-model")
    pip_install(prefix, demo_wheel)
    env = Environment.load(str(prefix))
    site = "lib/python3.7/site-packages"
    assert f"{site}/hello_cp/__init__.py" in env.untracked
    assert "bin/hello-cp" in env.untracked
    dist = env.pip_owners["bin/hello-cp"]
    assert (dist.name, dist.version, dist.installer) == ("hello_cp", "0.3", "pip")
    assert not dist.editable
    direct_url = prefix / site / "hello_cp-0.3.dist-info" / "direct_url.json"
    direct_url.write_text(json.dumps({"url": "file:///src/hello", "dir_info": {"editable": True}}))
    env = Environment.load(str(prefix))
    assert [d.editable_location for d in env.editable_distributions] == ["/src/hello"]
    assert os.path.isfile(prefix / "bin" / "hello-cp")
