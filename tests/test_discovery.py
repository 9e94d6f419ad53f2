"""Environment discovery from conda's, mamba's and pixi's usual places."""

from __future__ import annotations

from pathlib import Path

from conda_package.core.discover.envs import condarc_envs_dirs, discover


def _env(path: Path) -> Path:
    (path / "conda-meta").mkdir(parents=True)
    return path


def test_every_source(tmp_path):
    home = tmp_path / "home"
    base = _env(tmp_path / "miniconda")
    (base / "pkgs").mkdir()
    a = _env(base / "envs" / "a")
    listed = _env(tmp_path / "listed")
    rc_env = _env(tmp_path / "rcdir" / "fromrc")
    path_env = _env(tmp_path / "envspath" / "frompath")
    mamba = _env(tmp_path / "mamba" / "envs" / "m1")
    pixi = _env(tmp_path / "proj" / ".pixi" / "envs" / "default")
    (home / ".conda").mkdir(parents=True)
    (home / ".conda" / "environments.txt").write_text(f"{listed}\n{tmp_path / 'gone'}\n{listed}\n")
    (home / ".condarc").write_text(f"channels:\n  - conda-forge\nenvs_dirs:\n  - {rc_env.parent}\n")
    environ = {
        "CONDA_ENVS_PATH": str(path_env.parent),
        "CONDA_PREFIX": str(a),
        "CONDA_ROOT": str(base),
        "MAMBA_ROOT_PREFIX": str(tmp_path / "mamba"),
    }
    found = discover(environ, cwd=str(tmp_path / "proj"), home=str(home))
    by_prefix = {d.prefix: d for d in found}
    assert list(by_prefix) == [
        str(p) for p in (listed, rc_env, path_env, a, base, mamba, pixi)
    ]  # sources in order, duplicates and dead paths dropped
    assert by_prefix[str(base)].name == "base"
    assert by_prefix[str(a)].name == "a"
    assert by_prefix[str(pixi)].source == ".pixi/envs"


def test_condarc_parsing():
    assert condarc_envs_dirs("envs_dirs: [/a, '/b']\n") == ["/a", "/b"]
    assert condarc_envs_dirs('envs_dirs:\n  - /a  # comment\n  - "/b"\nother: 1\n') == ["/a", "/b"]
    assert condarc_envs_dirs("channels: [x]\n") == []
