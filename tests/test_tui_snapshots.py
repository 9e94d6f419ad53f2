"""Snapshots of the TUI's main screens (pytest-textual-snapshot).

The pictures must be the same on every machine: the environment is the demo (its content
is fixed apart from the prefix) made at a fixed path, the clock is frozen, the working
directory is fixed, and nothing timed is on screen.
Update with `pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import calendar
import fcntl
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conda_package.core.demo.build import DEMO_NAME, create_demo
from conda_package.core.discover.envs import DiscoveredEnvironment
from conda_package.tui.app import CondaPackageApp
from conda_package.tui.modals import MessageModal
from conda_package.tui.pack_form import PackForm
from test_tui import find_node, settle
from textual.pilot import Pilot
from textual.widgets import Input, Select, Switch, TabbedContent, Tree
from textual.widgets.tree import TreeNode

ROOT = Path("/tmp/conda-package-tui-snapshots")
PREFIX = ROOT / DEMO_NAME
CLOCK = calendar.timegm((2024, 5, 6, 7, 8, 9))
SIZE = (80, 24)  # every picture at the smallest terminal the UI is laid out for


@pytest.fixture(scope="module")
def snapshot_env() -> Iterator[Path]:
    """The demo at the fixed path, held under a lock so two runs on one machine do not clash."""
    ROOT.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{ROOT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(ROOT, ignore_errors=True)
        create_demo(str(PREFIX))
        try:
            yield PREFIX
        finally:
            shutil.rmtree(ROOT, ignore_errors=True)


@pytest.fixture
def fixed_machine(snapshot_env, monkeypatch, tmp_path_factory) -> Path:
    """The fixed environment, seen from a fixed working directory."""
    monkeypatch.chdir(ROOT)  # default output and backup paths are relative to it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    return snapshot_env


@pytest.fixture
def app(fixed_machine) -> CondaPackageApp:
    return CondaPackageApp(str(fixed_machine), clock=lambda: CLOCK)


def find_path(tree: Tree, path: str) -> TreeNode:
    stack = [tree.root]
    while stack:
        node = stack.pop()
        if node.data == path:
            return node
        stack.extend(node.children)
    raise AssertionError(f"no node for {path!r}")


async def ready(pilot: Pilot, tab: str | None = None) -> None:
    """Everything loaded and analysed, cursors steady, on the given tab."""
    await settle(pilot)
    if tab is not None:
        pilot.app.screen.query_one(TabbedContent).active = tab
        await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False


def test_environment_list(snap_compare, fixed_machine):
    found = [DiscoveredEnvironment(DEMO_NAME, str(fixed_machine), "~/.conda/environments.txt")]
    app = CondaPackageApp(find_environments=lambda: found, clock=lambda: CLOCK)
    assert snap_compare(app, run_before=ready)


def test_environment_list_empty(snap_compare):
    assert snap_compare(CondaPackageApp(find_environments=list), run_before=ready)


def test_overview(snap_compare, app):
    assert snap_compare(app, run_before=ready)


def test_packages_sorted_by_size(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot, "packages")
        pilot.app.screen.query_one("#packages-table").sort_by("size")

    assert snap_compare(app, run_before=run_before)


def test_files_filtered_with_details(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("slash", *"libdemo", "enter")
        await settle(pilot)  # the filter matches in a worker
        tree = pilot.app.screen.query_one("#files-tree", Tree)
        tree.move_cursor(find_path(tree, "lib/libdemo.so.1"))  # its name is cut to fit

    assert snap_compare(app, run_before=run_before)


def test_relocation(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot, "relocation")
        tree = pilot.app.screen.query_one("#findings-tree", Tree)
        tree.move_cursor(find_node(tree, "symlink-absolute-into-prefix"))

    assert snap_compare(app, run_before=run_before)


def test_untracked(snap_compare, app):
    assert snap_compare(app, run_before=lambda pilot: ready(pilot, "untracked"))


def test_pack_form_with_errors(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot, "pack")
        pilot.app.screen.query_one("#pack-level", Input).value = "30"
        pilot.app.screen.query_one("#pack-relocate", Input).value = "/" + "long/" * 60
        await preview_ready(pilot)

    assert snap_compare(app, run_before=run_before)


def test_remove_confirmation(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        pilot.app.screen.action_remove_untracked()
        await ready(pilot)

    assert snap_compare(app, run_before=run_before)


async def preview_ready(pilot: Pilot) -> None:
    """The pack form's preview follows the typing after a pause: wait for it."""
    form = pilot.app.screen.query_one(PackForm)
    await pilot.pause()  # the fields' Changed messages first: they schedule the preview
    while form.preview_pending:
        await pilot.pause(0.05)
        await settle(pilot)


def test_pack_form_for_a_package(snap_compare, app):
    """The Untracked tab's button: the Pack tab, making a package, a bad version marked."""

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        pilot.app.screen.action_build_package()
        await ready(pilot)
        pilot.app.screen.query_one("#pack-version", Input).value = "1.0-beta"
        await preview_ready(pilot)

    assert snap_compare(app, run_before=run_before)


async def named_archive(pilot: Pilot) -> None:
    """A plain tar (its size is the same everywhere), named, the demo's missing file ignored."""
    await ready(pilot, "pack")
    screen = pilot.app.screen
    screen.query_one("#pack-format", Select).value = "tar"
    screen.query_one("#pack-name", Input).value = "demo"
    screen.query_one("#pack-version", Input).value = "1.0"
    screen.query_one("#pack-build", Input).value = "0"
    screen.query_one("#pack-ignore-missing", Switch).value = True
    await preview_ready(pilot)


def test_pack_form_named(snap_compare, app):
    assert snap_compare(app, run_before=named_archive)


def test_pack_done_with_its_command_line(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await named_archive(pilot)
        await pilot.click("#pack-start")
        await settle(pilot)
        (ROOT / "demo-1.0-0.tar").unlink()

    assert snap_compare(app, run_before=run_before)


def test_help(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("question_mark")

    assert snap_compare(app, run_before=run_before)


def test_files_without_colour(snap_compare, fixed_machine, monkeypatch):
    """NO_COLOR: badges and severities still read, as words and glyphs."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = CondaPackageApp(str(fixed_machine), clock=lambda: CLOCK)

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot, "files")
        tree = pilot.app.screen.query_one("#files-tree", Tree)
        for folder in ("bin/", "etc/", "lib/"):
            find_node(tree, folder).expand()
        await pilot.pause()
        tree.move_cursor(find_node(tree, "demo-latest ["))

    assert snap_compare(app, run_before=run_before)


def test_packages(snap_compare, app):
    """The six columns fit in 80: long names are cut in the middle."""
    assert snap_compare(app, run_before=lambda pilot: ready(pilot, "packages"), terminal_size=SIZE)


def test_files_by_keyboard(snap_compare, app):
    """3 shows the Files tab with the tree focused; down moves in it; enter opens a folder."""

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("3", "down", "enter", "down", "down")
        await ready(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_finding_shown_in_files(snap_compare, app):
    """Enter on a finding: the file in the Files tab, its details beside it."""

    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("5")
        tree = pilot.app.screen.query_one("#findings-tree", Tree)
        tree.move_cursor(find_node(tree, "symlink-absolute-into-prefix"))
        await pilot.press("enter")
        await ready(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_open_prefix_dialog(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        await pilot.press("o")
        await ready(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)


def test_error_message(snap_compare, app):
    async def run_before(pilot: Pilot) -> None:
        await ready(pilot)
        message = (
            f"{PREFIX}/etc: not a conda environment (no conda-meta/ directory);"
            " give the environment's prefix"
        )
        pilot.app.push_screen(MessageModal("Cannot open the environment", message))
        await ready(pilot)

    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)
