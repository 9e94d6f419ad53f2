"""The Pack flow in the terminal UI: a named archive, the keyboard alone from the list to
a finished pack, and several environments packed one after another (one cancelled)."""

from __future__ import annotations

import json
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from conda_package.core import DiscoveredEnvironment, create_demo
from conda_package.tui import batch
from conda_package.tui.app import CondaPackageApp
from conda_package.tui.batch import BatchPackModal
from conda_package.tui.env_list import EnvironmentListScreen
from conda_package.tui.env_screen import EnvironmentScreen
from test_tui import assert_inside, rendered, run, settle, wait_for
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, Input, Static, Switch

MANIFEST = "conda-meta/conda-package/manifest.json"


@pytest.fixture(autouse=True)
def analysis_cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


def flat(widget: Static) -> str:
    """A widget's text with its wrapping undone."""
    return " ".join(rendered(widget).split())


def test_pack_a_named_archive(small_env, tmp_path, monkeypatch):
    """Name, version and build name the output and go into the manifest; the done screen
    says the command line that does the same."""
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("p")
        screen = pilot.app.screen
        screen.query_one("#pack-name", Input).value = "tools"
        screen.query_one("#pack-version", Input).value = "1.0"
        screen.query_one("#pack-build", Input).value = "2"
        await pilot.pause()
        output = screen.query_one("#pack-output", Input).value
        assert output == str(out / "tools-1.0-2.tar.gz")  # follows the name as it is typed
        preview = screen.query_one("#pack-preview", Static)
        await wait_for(pilot, lambda: "tools-1.0-2.tar.gz" in rendered(preview))
        assert "In: " in rendered(preview) and "Out: nothing" in rendered(preview)
        await pilot.click("#pack-start")
        await settle(pilot)
        assert screen.query_one("#pack-switcher", ContentSwitcher).current == "pack-done"
        summary = flat(screen.query_one("#pack-summary", Static))
        assert f"conda-package -p {small_env} -o {output} --format tar.gz" in summary
        assert "--pkg-name tools --pkg-version 1.0 --pkg-build 2" in summary

    run(CondaPackageApp(str(small_env)), scenario)
    with tarfile.open(out / "tools-1.0-2.tar.gz") as tar:
        manifest = json.load(tar.extractfile(MANIFEST))  # type: ignore[arg-type]
    assert manifest["package"] == {"name": "tools", "version": "1.0", "build": "2"}


def test_keyboard_only_from_the_list_to_a_finished_pack(small_env, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    found = [DiscoveredEnvironment("small-env", str(small_env), "test")]

    async def scenario(pilot: Pilot) -> None:
        await pilot.press("enter")  # open the highlighted environment
        await settle(pilot)
        assert isinstance(pilot.app.screen, EnvironmentScreen)
        await pilot.press("p")  # the pack form, focus on what to make
        await pilot.press("enter", *"zip", "enter")  # choose zip by typing
        await pilot.press("tab", *"kb", "tab", *"1.0")  # name and version
        await pilot.pause()
        await pilot.press("enter")  # submits the form
        await settle(pilot)
        screen = pilot.app.screen
        assert screen.query_one("#pack-switcher", ContentSwitcher).current == "pack-done"
        assert "--pkg-name kb --pkg-version 1.0" in flat(screen.query_one("#pack-summary", Static))

    run(CondaPackageApp(find_environments=lambda: found), scenario)
    with zipfile.ZipFile(out / "kb-1.0.zip") as zf:
        assert json.loads(zf.read(MANIFEST))["package"]["name"] == "kb"


@pytest.fixture
def two_demos(tmp_path) -> list[DiscoveredEnvironment]:
    return [
        DiscoveredEnvironment(name, create_demo(str(tmp_path / "envs" / name)), "test")
        for name in ("alpha", "beta")
    ]


async def pack_marked(pilot: Pilot, folder: Path) -> None:
    """Mark both rows with space, p, then the options: ignore the demo's missing file."""
    await pilot.press("space", "space", "p")
    await pilot.pause()
    modal = pilot.app.screen
    assert isinstance(modal, BatchPackModal)
    assert_inside(pilot, "BatchPackModal")
    modal.query_one("#batch-folder", Input).value = str(folder)
    modal.query_one("#batch-version", Input).value = "2.0"
    modal.query_one("#batch-ignore-missing", Switch).value = True
    await pilot.pause()
    await pilot.click("#batch-start")
    await pilot.pause()


def test_mark_two_environments_and_pack_both(two_demos, tmp_path):
    out = tmp_path / "out"
    out.mkdir()

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pack_marked(pilot, out)
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, EnvironmentListScreen)
        lines = [flat(screen.query_one(f"#batch-{i}", Static)) for i in range(2)]
        assert lines[0].startswith("✓ alpha done:") and "alpha-2.0.tar.gz" in lines[0]
        assert lines[1].startswith("✓ beta done:")
        assert_inside(pilot, "list with the batch's lines")

    run(CondaPackageApp(find_environments=lambda: two_demos), scenario)
    assert sorted(p.name for p in out.iterdir()) == ["alpha-2.0.tar.gz", "beta-2.0.tar.gz"]


@pytest.fixture
def held_packs(monkeypatch) -> threading.Event:
    """The batch's packs wait until the event is set: the test cancels while one runs."""
    release = threading.Event()
    real_pack = batch.pack

    def held_pack(env, options, progress=None, cancel=None):
        release.wait(20)
        return real_pack(env, options, progress=progress, cancel=cancel)

    monkeypatch.setattr(batch, "pack", held_pack)
    return release


async def press_while_packing(pilot: Pilot, out: Path, release, key: str):
    """Pack the marked environments, press `key` while the first is held, then let it go."""
    await settle(pilot)
    await pack_marked(pilot, out)
    screen = pilot.app.screen
    await wait_for(pilot, lambda: "packing" in flat(screen.query_one("#batch-0", Static)))
    await pilot.press(key)
    release.set()
    await settle(pilot)
    return screen


def test_cancel_one_environment_of_the_batch(two_demos, tmp_path, held_packs):
    """x cancels the highlighted one; the other is packed (held until then)."""
    release = held_packs
    out = tmp_path / "out"
    out.mkdir()

    async def scenario(pilot: Pilot) -> None:
        screen = await press_while_packing(pilot, out, release, "x")  # the cursor is on beta
        assert flat(screen.query_one("#batch-0", Static)).startswith("✓ alpha done")
        assert flat(screen.query_one("#batch-1", Static)).startswith("– beta cancelled")

    run(CondaPackageApp(find_environments=lambda: two_demos), scenario)
    assert [p.name for p in out.iterdir()] == ["alpha-2.0.tar.gz"]


def test_escape_cancels_every_environment_of_the_batch(two_demos, tmp_path, held_packs):
    release = held_packs
    out = tmp_path / "out"
    out.mkdir()

    async def scenario(pilot: Pilot) -> None:
        screen = await press_while_packing(pilot, out, release, "escape")
        assert isinstance(pilot.app.screen, EnvironmentListScreen)  # escape did not leave
        for i, name in enumerate(("alpha", "beta")):
            line = flat(screen.query_one(f"#batch-{i}", Static))
            assert line.startswith(f"– {name} cancelled"), line

    run(CondaPackageApp(find_environments=lambda: two_demos), scenario)
    assert list(out.iterdir()) == []
