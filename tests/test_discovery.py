"""Environment discovery from conda's, mamba's and pixi's usual places, and conda's config:
every .condarc place on conda's search path, read as YAML, and the CONDA_ENVS_* variables."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conda_package.core.demo import create_demo
from conda_package.core.discover import DiscoveredEnvironment, discover, resolve_name
from conda_package.core.discover.condarc import (
    configured_envs_dirs,
    read_envs_dirs,
    search_path,
)
from conda_package.tui.app import CondaPackageApp
from conda_package.tui.env_list import EnvironmentListScreen
from conda_package.tui.modals import MessageModal
from test_tui import rendered, run, settle
from textual.pilot import Pilot
from textual.widgets import DataTable, Static


def _env(path: Path) -> Path:
    (path / "conda-meta").mkdir(parents=True)
    return path


@pytest.fixture
def machine(tmp_path, monkeypatch) -> Path:
    """A machine of our own: HOME and the working directory in tmp_path, no conda variables."""
    for name in list(os.environ):
        if name.startswith(("CONDA_", "MAMBA_")) or name in ("CONDARC", "XDG_CONFIG_HOME"):
            monkeypatch.delenv(name)
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path


def _mine(tmp_path: Path) -> list[tuple[str, str]]:
    """(prefix, source) of what discovery found below tmp_path, in discovery's order."""
    return [(d.prefix, d.source) for d in discover() if d.prefix.startswith(str(tmp_path))]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
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
        str(p) for p in (listed, path_env, rc_env, a, base, mamba, pixi)
    ]  # sources in order (the variable before the files, as in conda), duplicates dropped
    assert by_prefix[str(base)].name == "base"
    assert by_prefix[str(a)].name == "a"
    assert by_prefix[str(rc_env)].source == str(home / ".condarc")
    assert by_prefix[str(path_env)].source == "$CONDA_ENVS_PATH"
    assert by_prefix[str(pixi)].source == ".pixi/envs"


def test_search_path_is_condas_in_condas_order(tmp_path):
    home, root, xdg, prefix = (str(tmp_path / n) for n in ("home", "root", "xdg", "prefix"))
    env = {"CONDA_ROOT": root, "XDG_CONFIG_HOME": xdg, "CONDA_PREFIX": prefix}
    env["CONDARC"] = f"{xdg}/extra.yml"
    places = ["/etc/conda", "/var/lib/conda", root, f"{xdg}/conda"]
    places += [f"{home}/.config/conda", f"{home}/.conda"]
    expected = [f"{p}/{n}" for p in places for n in (".condarc", "condarc", "condarc.d")]
    expected += [f"{home}/.condarc"]
    expected += [f"{prefix}/{n}" for n in (".condarc", "condarc", "condarc.d")]
    expected += [f"{xdg}/extra.yml"]
    assert search_path(env, home, "/") == expected
    # Unset variables drop their places; a place named twice is read once, where it is first.
    without = search_path({"CONDARC": f"{home}/.condarc"}, home, "/")
    assert without == [e for e in expected if e.startswith(("/etc", "/var", home))]


ONE_FILE_PLACES = [
    ("CONDA_ROOT", ".condarc"),
    ("CONDA_ROOT", "condarc"),
    ("XDG_CONFIG_HOME", "conda/.condarc"),
    ("XDG_CONFIG_HOME", "conda/condarc"),
    ("HOME", ".config/conda/.condarc"),
    ("HOME", ".config/conda/condarc"),
    ("HOME", ".conda/.condarc"),
    ("HOME", ".conda/condarc"),
    ("HOME", ".condarc"),
    ("CONDA_PREFIX", ".condarc"),
    ("CONDA_PREFIX", "condarc"),
    ("CONDARC", ""),
]


@pytest.mark.parametrize(("variable", "below"), ONE_FILE_PLACES)
def test_each_condarc_place_is_read(machine, monkeypatch, variable, below):
    """/etc/conda and /var/lib/conda are not ours to write: the search path test holds them."""
    if variable == "CONDARC":
        rc = machine / "elsewhere" / "site.condarc"
        monkeypatch.setenv("CONDARC", str(rc))
    else:
        folder = machine / "home" if variable == "HOME" else machine / variable.lower()
        monkeypatch.setenv(variable, str(folder))
        rc = folder / below
    found = _env(machine / "configured" / "one")
    _write(rc, f"envs_dirs:\n  - {found.parent}\n")
    assert _mine(machine) == [(str(found), str(rc))]


CONDARC_D_PLACES = [
    ("CONDA_ROOT", "condarc.d"),
    ("XDG_CONFIG_HOME", "conda/condarc.d"),
    ("HOME", ".config/conda/condarc.d"),
    ("HOME", ".conda/condarc.d"),
    ("CONDA_PREFIX", "condarc.d"),
]


@pytest.mark.parametrize(("variable", "below"), CONDARC_D_PLACES)
def test_each_condarc_d_is_read_in_name_order(machine, monkeypatch, variable, below):
    folder = machine / "home" if variable == "HOME" else machine / variable.lower()
    monkeypatch.setenv(variable, str(folder))
    d = folder / below
    first = _env(machine / "a-dir" / "x")
    second = _env(machine / "b-dir" / "x")
    _env(machine / "ignored" / "x")
    _write(d / "10-site.yml", f"envs_dirs: [{first.parent}]\n")
    _write(d / "20-user.yaml", f"envs_dirs: [{second.parent}]\n")
    _write(d / "30-notes.txt", f"envs_dirs: [{machine / 'ignored'}]\n")
    _write(d / "40-folder.yml" / "inside.yml", f"envs_dirs: [{machine / 'ignored'}]\n")
    # The later file has precedence, so its folder comes first, as conda lists them.
    assert _mine(machine) == [
        (str(second), str(d / "20-user.yaml")),
        (str(first), str(d / "10-site.yml")),
    ]
    assert resolve_name("x") == str(second)
    assert configured_envs_dirs(os.environ, str(machine / "home"), "/").problems == ()


@pytest.mark.parametrize("variable", ["CONDA_ENVS_DIRS", "CONDA_ENVS_PATH"])
def test_each_variable_is_read(machine, monkeypatch, variable):
    one = _env(machine / "one" / "e1")
    two = _env(machine / "two" / "e2")
    monkeypatch.setenv(variable, f" {one.parent} {os.pathsep}{os.pathsep}{two.parent}")
    assert _mine(machine) == [(str(one), f"${variable}"), (str(two), f"${variable}")]


def test_the_envs_path_alias_in_a_file(machine):
    found = _env(machine / "aliased" / "e")
    _write(machine / "home" / ".condarc", f"envs_path:\n  - {found.parent}\n")
    assert _mine(machine) == [(str(found), str(machine / "home" / ".condarc"))]


@pytest.mark.parametrize(
    ("text", "entries"),
    [
        ("envs_dirs: [\n  /a,\n  /b]\n", ["/a", "/b"]),  # a flow list over several lines
        ("'envs_dirs':\n  - /a\n", ["/a"]),  # a quoted key
        ('"envs_dirs": [/a]\n', ["/a"]),
        ("envs_dirs:\n- /data/proj#1/envs  # a comment\n", ["/data/proj#1/envs"]),
        ("envs_path:\n  - /a\n", ["/a"]),  # conda's alias
        ("envs_dirs: [/a, '/b']\nenvs_path: [/c]\n", ["/a", "/b", "/c"]),
        ("channels: [x]\n", []),
        ("", []),
    ],
)
def test_condarc_read_as_yaml(tmp_path, text, entries):
    problems = []
    assert read_envs_dirs(str(_write(tmp_path / ".condarc", text)), problems) == entries
    assert problems == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"envs_dirs: [/a,\n", "not valid YAML: "),
        (b"envs_dirs:\n\t- /a\n", "not valid YAML: found character '\\t'"),
        (b"created: 2024-13-01\nenvs_dirs: [/a]\n", "not valid YAML: month must be in 1..12"),
        (b"- /a\n- /b\n", "not a YAML mapping of settings"),
        (b"envs_dirs: /a\n", "envs_dirs is not a list of paths"),
        (b"envs_dirs: [/a, 3]\n", "envs_dirs is not a list of paths"),
        (b"envs_dirs: [/caf\xe9]\n", "not UTF-8 text"),
    ],
)
def test_a_malformed_condarc_is_skipped_and_said(machine, caplog, content, reason):
    good = _env(machine / "good" / "e")
    _write(machine / "home" / ".condarc", f"envs_dirs: [{good.parent}]\n")
    bad = machine / "home" / ".conda" / "condarc"
    bad.parent.mkdir()
    bad.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert _mine(machine) == [(str(good), str(machine / "home" / ".condarc"))]
    problems = configured_envs_dirs(os.environ, str(machine / "home"), "/").problems
    assert [p.path for p in problems] == [str(bad)]
    assert problems[0].reason.startswith(reason)
    assert "\n" not in problems[0].reason
    assert f"skipped {bad}: {reason}" in caplog.text


def test_condarc_conda_would_not_read_is_said(machine, monkeypatch):
    rc = _write(machine / "settings.txt", "envs_dirs: [/a]\n")
    monkeypatch.setenv("CONDARC", str(rc))
    (problem,) = configured_envs_dirs(os.environ, str(machine / "home"), "/").problems
    assert problem.path == str(rc) and "conda reads only files named" in problem.reason


def test_precedence_variables_then_the_last_file_first(machine, monkeypatch):
    """conda merges envs_dirs so that the place read last comes first; the variables top all."""
    dirs = {n: machine / n for n in ("var", "condarc", "home", "system", "user")}
    for d in dirs.values():
        _env(d / "same")
    monkeypatch.setenv("CONDA_ENVS_DIRS", str(dirs["var"]))
    monkeypatch.setenv("CONDA_ROOT", str(machine / "root"))
    monkeypatch.setenv("CONDARC", str(machine / "rc.yml"))
    _write(machine / "rc.yml", f"envs_dirs: [{dirs['condarc']}]\n")
    _write(machine / "home" / ".condarc", f"envs_dirs: [{dirs['home']}, {dirs['var']}]\n")
    _write(machine / "root" / ".condarc", f"envs_dirs: [{dirs['system']}, {dirs['user']}]\n")
    configured = configured_envs_dirs(os.environ, str(machine / "home"), "/")
    assert [d.path for d in configured.dirs] == [
        str(dirs[n]) for n in ("var", "condarc", "home", "system", "user")
    ]
    assert configured.dirs[0].source == "$CONDA_ENVS_DIRS"  # named twice, first place kept
    assert resolve_name("same") == str(dirs["var"] / "same")
    monkeypatch.delenv("CONDA_ENVS_DIRS")
    assert resolve_name("same") == str(dirs["condarc"] / "same")


def test_paths_are_expanded_as_conda_does(machine, monkeypatch):
    monkeypatch.setenv("PROJECT", str(machine / "project"))
    rc = _write(
        machine / "home" / ".condarc",
        "envs_dirs:\n  - ~/envs\n  - $PROJECT/a\n  - ${PROJECT}/b\n  - $NOT_SET/c\n  - rel\n",
    )
    configured = configured_envs_dirs(os.environ, str(machine / "home"), "/work")
    assert [d.path for d in configured.dirs] == [
        str(machine / "home" / "envs"),
        str(machine / "project" / "a"),
        str(machine / "project" / "b"),
        "/work/$NOT_SET/c",
        "/work/rel",
    ]
    assert {d.source for d in configured.dirs} == {str(rc)}


@pytest.mark.skipif(
    os.path.exists("/etc/conda") or os.path.exists("/var/lib/conda"),
    reason="this machine has system-wide conda settings, so YAML is always needed",
)
def test_yaml_is_imported_only_when_a_condarc_exists(machine):
    script = (
        "import sys; from conda_package.core.discover import discover; discover(); "
        "print('yaml' in sys.modules)"
    )

    def imports_yaml() -> str:
        run = [sys.executable, "-c", script]
        return subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()

    assert imports_yaml() == "False"
    _write(machine / "home" / ".condarc", "envs_dirs: []\n")
    assert imports_yaml() == "True"


def test_the_tui_finds_environments_before_it_runs_or_in_a_worker(machine, monkeypatch):
    """Discovery stats many paths (slow on a network home): never on the TUI's event loop."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(machine / "cache"))
    demo = create_demo(str(machine / "demo"))
    found = [DiscoveredEnvironment("demo", demo, "~/.conda/environments.txt")]
    threads: list[threading.Thread] = []

    def find_environments() -> list[DiscoveredEnvironment]:
        threads.append(threading.current_thread())
        return found

    app = CondaPackageApp(find_environments=find_environments)
    assert threads == [threading.main_thread()]  # before the app's loop runs

    async def back_to_the_list(pilot: Pilot) -> None:
        assert isinstance(pilot.app.screen, EnvironmentListScreen)  # at once
        await settle(pilot)
        assert len(threads) == 1  # found once

    run(app, back_to_the_list)

    threads.clear()
    app = CondaPackageApp(demo, find_environments=find_environments)
    assert threads == []  # it starts on the environment, not the list

    async def leave_the_environment(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(pilot.app.screen, EnvironmentListScreen)
        assert pilot.app.screen.query_one("#env-table", DataTable).row_count == 1

    run(app, leave_the_environment)
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


def test_the_tui_says_when_listing_fails(machine, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(machine / "cache"))
    demo = create_demo(str(machine / "demo"))

    def find_environments() -> list[DiscoveredEnvironment]:
        raise PermissionError(13, "Permission denied", "/somewhere")

    async def leave_the_environment(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(pilot.app.screen, MessageModal)
        assert "Permission denied" in rendered(pilot.app.screen.query_one("#message", Static))

    run(CondaPackageApp(demo, find_environments=find_environments), leave_the_environment)
