"""The self-extracting installer (-o env.sh) and the modulefile (--modulefile), run for real:
the installer by dash (or sh), the modulefile by Lmod."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conda_package.core import modulefile_text
from conftest import cli
from test_pack import extract, tree_digest

SH = shutil.which("dash") or "sh"
LMOD_INIT = Path("/usr/share/lmod/lmod/init/bash")
CLEAN = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def run_installer(script: Path, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SH, str(script), *map(str, args)], capture_output=True, text=True, env=CLEAN, cwd="/"
    )


def path_of_length(base: Path, length: int) -> Path:
    name = "d" * 100
    path = base
    while len(str(path)) + 1 + len(name) < length:
        path = path / name
    path = path / ("e" * (length - len(str(path)) - 1))
    assert len(str(path)) == length
    return path


@pytest.fixture(scope="module")
def installer(real_env, tmp_path_factory) -> Path:
    script = tmp_path_factory.mktemp("sh") / "env.sh"
    r = cli("-p", real_env, "-o", script, "-q")
    assert r.returncode == 0, r.stderr
    return script


def test_installer_installs_into_a_200_character_path_and_refuses_to_overwrite(installer, tmp_path):
    assert os.access(installer, os.X_OK)
    help_ = run_installer(installer, "--help")
    assert help_.returncode == 0 and "usage: sh" in help_.stdout
    listed = run_installer(installer, "--list")
    assert listed.returncode == 0 and "bin/python3.7" in listed.stdout.splitlines()

    target = path_of_length(tmp_path, 200)
    r = run_installer(installer, target)
    assert r.returncode == 0, r.stderr
    assert f'. "{target}/bin/activate"' in r.stdout
    ssl_dir = subprocess.run(
        [target / "bin/openssl", "version", "-d"], capture_output=True, text=True, check=True
    )
    assert ssl_dir.stdout.strip() == f'OPENSSLDIR: "{target}/ssl"'
    py = subprocess.run(
        [
            target / "bin/python",
            "-c",
            "import ssl, sys; ssl.create_default_context(); print(sys.prefix)",
        ],
        capture_output=True,
        text=True,
        env=CLEAN,
    )
    assert py.returncode == 0, py.stderr
    assert py.stdout.strip() == str(target)

    before = tree_digest(target)
    again = run_installer(installer, target)
    assert again.returncode == 1
    assert (
        again.stderr.strip()
        == f"{installer}: {target}: is not empty; choose a new or empty directory"
    )
    assert tree_digest(target) == before


def test_installer_refuses_a_path_its_binaries_cannot_take(installer, tmp_path):
    target = path_of_length(tmp_path / "new", 300)
    r = run_installer(installer, target)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"{installer}: {target}: is 300 characters long; its binaries take a path of at most 255"
    )
    assert not (tmp_path / "new").exists()


def test_installer_usage_errors(installer):
    r = run_installer(installer, "--frobnicate")
    assert (r.returncode, r.stderr.strip()) == (
        1,
        f"{installer}: unknown option --frobnicate; see sh {installer} --help",
    )
    assert run_installer(installer).returncode == 2


def lmod(commands: str, modules: Path) -> list[str]:
    script = f'. {LMOD_INIT} && module use "{modules}" && {commands}'
    env = {**CLEAN, "HOME": str(modules)}
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@pytest.mark.skipif(not LMOD_INIT.is_file(), reason="Lmod is not installed (apt-get install lmod)")
def test_modulefile_loads_and_unloads_with_lmod(real_env, tmp_path):
    target = tmp_path / "opt" / "analysis"
    modules = tmp_path / "modules"
    (modules / "analysis").mkdir(parents=True)
    archive = tmp_path / "analysis.tar.gz"
    lua = modules / "analysis" / "1.0.lua"
    r = cli("-p", real_env, "-o", archive, "--relocate-prefix", target, "--modulefile", lua, "-q")
    assert r.returncode == 0, r.stderr
    extract(archive, target)
    (modules / "analysis" / "tcl").write_text(modulefile_text(str(target), "tcl"))
    show = 'echo "$PATH"; command -v python || echo none; echo "$CONDA_PREFIX"'
    for version in ("1.0", "tcl"):
        out = lmod(
            f"{show}; module load analysis/{version}; {show}; module unload analysis; {show}",
            modules,
        )
        path, _, _, loaded_path, python, conda_prefix, unloaded_path, *_ = out
        assert python == f"{target}/bin/python"
        assert loaded_path.startswith(f"{target}/bin:")
        assert conda_prefix == str(target)
        assert unloaded_path == path


def test_modulefile_needs_the_target_prefix(real_env, tmp_path):
    archive = tmp_path / "a.tar.gz"
    r = cli("-p", real_env, "-o", archive, "--modulefile", tmp_path / "env.lua")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "conda-package: error: --modulefile needs --relocate-prefix: the path the environment"
        " will have, which the modulefile puts on PATH"
    )
    assert list(tmp_path.iterdir()) == []
