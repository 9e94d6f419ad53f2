"""Why packages' files are missing or changed, with the environment's own pip doing the damage
conda-pack's users report: pip replaced a conda package, uninstalled one, overwrote another's
file; and a file deleted by hand. Each message names the cause and its fix."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conda_package.core import Environment, diagnose
from conftest import cli, pip_install
from fakeconda import SITE
from pkgbuild import make_wheel


@pytest.fixture(scope="module")
def pip_env(mixed_env_factory, tmp_path_factory) -> Path:
    """foo replaced by pip's foo 2.0, qux uninstalled by pip, bar/core.py overwritten by the
    wheel baz, corge/data.py deleted by hand. Tests must not change it."""
    prefix = mixed_env_factory(["python", "pip", "foo", "bar", "qux", "corge"], "pip-damage")
    wheels = tmp_path_factory.mktemp("wheels")
    foo2 = make_wheel(wheels, "foo", "2.0", {"foo/__init__.py": "VERSION = '2.0.0'\n"}, {})
    baz = make_wheel(
        wheels, "baz", "1.0", {"baz/__init__.py": "", "bar/core.py": "X = 'from baz'\n"}, {}
    )
    pip_install(prefix, foo2)
    pip_install(prefix, baz)
    subprocess.run(
        [str(prefix / "bin/python"), "-m", "pip", "uninstall", "-y", "-q", "qux"], check=True
    )
    (prefix / SITE / "corge/data.py").unlink()
    return prefix


def test_each_package_gets_its_cause(pip_env: Path) -> None:
    found = {d.package.name: d for d in diagnose(Environment.load(str(pip_env)))}
    assert {name: d.cause for name, d in found.items()} == {
        "foo": "pip-replaced",
        "qux": "pip-uninstalled",
        "bar": "pip-overwrote",
        "corge": "by-hand",
    }
    assert [b.dist_info for b in found["foo"].by] == [f"{SITE}/foo-2.0.dist-info"]
    assert found["foo"].reason == (
        "pip replaced it with foo 2.0 (foo-2.0.dist-info), which owns its files now"
    )
    assert found["foo"].fix.startswith("pip uninstall foo, then conda install --force-reinstall")
    assert found["qux"].missing == (
        f"{SITE}/qux-1.0.dist-info/INSTALLER",
        f"{SITE}/qux-1.0.dist-info/METADATA",
        f"{SITE}/qux-1.0.dist-info/RECORD",
        f"{SITE}/qux.py",
    )
    assert "pip uninstalled it" in found["qux"].reason
    assert found["bar"].modified == (f"{SITE}/bar/core.py",) and not found["bar"].missing
    assert "installing baz 1.0 (baz-1.0.dist-info)" in found["bar"].reason
    assert found["bar"].fix.startswith(
        "pip uninstall baz, then conda install --force-reinstall bar"
    )
    assert found["corge"].missing == (f"{SITE}/corge/data.py",)
    assert found["corge"].reason.endswith("deleted by hand")


def test_the_pack_stops_saying_why_per_package(pip_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "env.tar.gz"
    r = cli("-p", pip_env, "-o", out)
    assert r.returncode == 1 and not out.exists()
    line = r.stderr.strip()
    assert len(r.stderr.strip().splitlines()) == 1
    assert "foo-1.0-py37_0 lacks" in line and "pip replaced it with foo 2.0" in line
    assert "qux-1.0-py37_0 lacks" in line and "pip uninstalled it" in line
    assert "corge-1.0-py37_0 lacks" in line and "deleted by hand" in line
    assert "bar-1.0" not in line  # overwritten, not missing: it does not stop the pack
    assert line.endswith("or use --ignore-missing-files to pack without them")
    assert cli("-p", pip_env, "-o", out, "-q", "--ignore-missing-files").returncode == 0


def test_check_lists_the_packages_and_their_fixes(pip_env: Path, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path)}
    text = cli("--check", "-p", pip_env, env=env).stdout
    assert "# packages changed since install (4)" in text
    assert "bar-1.0-py37_0: pip overwrote 1 file of it installing baz 1.0" in text
    assert "    fix: pip uninstall baz, then conda install --force-reinstall bar" in text
    # Each file's finding carries its package's cause and fix.
    assert f"{SITE}/bar/core.py (bar-1.0-py37_0): differs from its package" in text
    data = json.loads(cli("--check", "--json", "-p", pip_env, env=env).stdout)
    causes = {p["package"]: (p["cause"], p["by"]) for p in data["packages"]}
    assert causes["foo-1.0-py37_0"] == ("pip-replaced", [f"{SITE}/foo-2.0.dist-info"])
    assert causes["qux-1.0-py37_0"] == ("pip-uninstalled", [])
    missing = [f for f in data["findings"] if f["code"] == "missing-file"]
    assert {f["path"] for f in missing} >= {f"{SITE}/qux.py", f"{SITE}/corge/data.py"}
    qux = next(f for f in missing if f["path"] == f"{SITE}/qux.py")
    assert "pip uninstalled it" in qux["message"]


def test_tui_overview_and_pack_form_say_why(pip_env: Path, tmp_path: Path, monkeypatch) -> None:
    from conda_package.tui.app import CondaPackageApp
    from test_tui import rendered, run, settle
    from textual.pilot import Pilot
    from textual.widgets import Static

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        overview = " ".join(rendered(pilot.app.screen.query_one("#overview-facts", Static)).split())
        assert "changed packages" in overview
        assert "foo-1.0-py37_0: pip replaced it with foo 2.0 (foo-2.0.dist-info)" in overview
        assert "qux-1.0-py37_0: pip uninstalled it" in overview
        assert "fix: pip uninstall baz, then conda install --force-reinstall bar" in overview
        await pilot.press("p")
        await pilot.pause()
        error = " ".join(rendered(pilot.app.screen.query_one("#pack-ignore-missing-error")).split())
        assert f"8 files missing ({SITE}/corge/data.py and 7 more): corge: 1 file" in error
        assert "deleted by hand; fix: conda install --force-reinstall corge" in error
        assert (
            "(and 2 more packages)" in error
            and "Packing stops unless Ignore missing is on" in error
        )

    run(CondaPackageApp(str(pip_env)), scenario, size=(120, 50))


def test_a_file_edited_by_hand(mixed_env_factory) -> None:
    prefix = mixed_env_factory(["python", "bar"], "edited-by-hand")
    (prefix / SITE / "bar/core.py").write_text("X = 2  # patched on the cluster\n")
    (found,) = diagnose(Environment.load(str(prefix)))
    assert (found.package.name, found.cause) == ("bar", "by-hand")
    assert found.modified == (f"{SITE}/bar/core.py",) and not found.missing
    assert found.reason.endswith("no pip install explains it: edited by hand")
    assert found.fix == "conda install --force-reinstall bar"
