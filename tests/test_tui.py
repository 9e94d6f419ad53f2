"""The terminal UI, driven with Textual's Pilot on real environments."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from conda_package.core.discover.envs import DiscoveredEnvironment
from conda_package.core.load.environment import Environment
from conda_package.tui.app import CondaPackageApp, Launch, parse_command_line
from conda_package.tui.env_list import EnvironmentListScreen
from conda_package.tui.env_screen import EnvironmentScreen
from conda_package.tui.files import FilesPane
from conda_package.tui.modals import (
    ConfirmRemovalModal,
    HelpScreen,
    MessageModal,
    OpenPrefixModal,
)
from conda_package.tui.rows import RowsTable
from conftest import pip_install
from rich.console import Console
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import (
    ContentSwitcher,
    DataTable,
    Input,
    Select,
    Static,
    Switch,
    TabbedContent,
    Tree,
)
from textual.widgets.tree import TreeNode
from textual.worker import Worker, WorkerState

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def analysis_cache_in_tmp(tmp_path_factory, monkeypatch):
    """The analysis keeps a cache under XDG_CACHE_HOME: not in the user's home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


async def settle(pilot: Pilot) -> None:
    """Wait until no worker runs, including those started when another one ended."""
    while True:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        busy = (WorkerState.PENDING, WorkerState.RUNNING)
        if not any(w.state in busy for w in pilot.app.workers):
            return


async def wait_for(pilot: Pilot, ready: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "timed out waiting for the UI"
        await pilot.pause(0.02)


def run(app: CondaPackageApp, scenario: Callable[[Pilot], Awaitable[None]], size=SIZE) -> None:
    """pytest-asyncio is not installed: each test runs its own event loop."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    asyncio.run(main())


def tree_labels(tree: Tree) -> list[str]:
    labels = []
    stack = [tree.root]
    while stack:
        node = stack.pop()
        labels.append(str(node.label))
        stack.extend(node.children)
    return labels


def find_node(tree: Tree, text: str) -> TreeNode:
    stack = [tree.root]
    while stack:
        node = stack.pop()
        if text in str(node.label):
            return node
        stack.extend(node.children)
    raise AssertionError(f"no node labelled {text!r}")


def rendered(renderable) -> str:
    """What a widget (or a Rich renderable) shows, as plain text."""
    console = Console(width=100, file=io.StringIO(), no_color=True)
    if isinstance(renderable, Static):
        renderable = renderable.content
    elif isinstance(renderable, Widget):
        renderable = renderable.render()
    console.print(renderable)
    return console.file.getvalue()


def header_offset(table: DataTable, key: str) -> tuple[int, int]:
    """Where a column's header is, to click it."""
    columns = table.ordered_columns
    index = next(i for i, c in enumerate(columns) if c.key == key)
    return sum(c.get_render_width(table) for c in columns[:index]) + 2, 0


def env_with_symlink_into_itself(prefix: Path) -> Path:
    """An absolute symlink into the prefix breaks when it moves: the analysis says so."""
    (prefix / "bin" / "here").symlink_to(prefix / "share" / "data" / "a.txt")
    return prefix


def test_opens_environment_and_shows_packages(real_env):
    env = Environment.load(str(real_env))

    async def scenario(pilot: Pilot) -> None:
        table = pilot.app.screen.query_one("#packages-table", DataTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        assert table.row_count == len(env.records)
        await settle(pilot)
        overview = rendered(pilot.app.screen.query_one("#overview-facts", Static))
        assert f"{len(env.records)}" in overview and "findings" in overview
        assert "warning" in overview  # the analysis filled in its line

    run(CondaPackageApp(str(real_env)), scenario)


def test_package_table_sorts_from_the_header(real_env):
    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one(TabbedContent).active = "packages"
        await pilot.pause()
        table = pilot.app.screen.query_one("#packages-table", DataTable)
        await pilot.click(table, offset=header_offset(table, "size"))
        await pilot.pause()
        sizes = [table.get_row_at(i)[5].value for i in range(table.row_count)]
        assert sizes == sorted(sizes)
        await pilot.click(table, offset=header_offset(table, "size"))
        await pilot.pause()
        sizes = [table.get_row_at(i)[5].value for i in range(table.row_count)]
        assert sizes == sorted(sizes, reverse=True)
        assert "size▼" in str(table.columns["size"].label)

    run(CondaPackageApp(str(real_env)), scenario)


def test_filter_narrows_the_files_tree(real_env):
    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("slash")
        assert pilot.app.focused is pilot.app.screen.query_one("#files-filter", Input)
        await pilot.press(*"libz.so", "enter")
        tree = pilot.app.screen.query_one("#files-tree", Tree)
        await wait_for(pilot, lambda: any("libz.so.1.2.11" in t for t in tree_labels(tree)))
        labels = tree_labels(tree)
        assert all("libz" in t for t in labels if "/" not in t and "libz" in t)
        assert not any("python3" in t for t in labels)
        lib = next(t for t in labels if "libz.so.1.2.11" in t)
        assert "[elf]" in lib and "zlib" in lib  # badge word and owner package
        tree.move_cursor(find_node(tree, "libz.so.1.2.11"))
        await pilot.pause()
        details = rendered(pilot.app.screen.query_one("#file-details", Static))
        assert "zlib-1.2.11" in details and "NEEDED" in details and "libc.so.6" in details

    run(CondaPackageApp(str(real_env)), scenario)


def test_a_stale_filter_result_never_replaces_a_newer_one(real_env):
    """The filter matches in a worker: a result that comes after a newer filter was typed
    (replayed here, as a slow match delivers it) is dropped, and so is one typed over."""

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        pane = pilot.app.screen.query_one(FilesPane)
        summary = pilot.app.screen.query_one("#files-summary", Static)
        pane.apply_filter("libz.so")
        assert pane.pending is not None
        stale = pane.pending.worker
        await settle(pilot)
        assert "match 'libz.so'" in rendered(summary)
        await pilot.press("slash", *"python", "enter", "slash", "ctrl+u", *"bin/")
        await pilot.press("enter")
        pane.post_message(Worker.StateChanged(stale, WorkerState.SUCCESS))
        await settle(pilot)
        assert "match 'bin/'" in rendered(summary)
        tree = pilot.app.screen.query_one("#files-tree", Tree)
        assert "bin/" in tree_labels(tree)[1] and not any("libz" in t for t in tree_labels(tree))

    run(CondaPackageApp(str(real_env)), scenario)


def test_relocation_tab_shows_a_finding_with_its_hint(small_env):
    prefix = env_with_symlink_into_itself(small_env)

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one(TabbedContent).active = "relocation"
        await pilot.pause()
        summary = rendered(pilot.app.screen.query_one("#relocation-summary", Static))
        assert "1 error" in summary and "Longest target prefix that fits" in summary
        tree = pilot.app.screen.query_one("#findings-tree", Tree)
        labels = tree_labels(tree)
        assert any("symlink-absolute-into-prefix" in t for t in labels)
        assert any("hint: make it relative" in t for t in labels)
        tree.move_cursor(find_node(tree, "symlink-absolute"))
        await pilot.pause()
        detail = rendered(pilot.app.screen.query_one("#finding-detail", Static))
        assert "bin/here" in detail and "ln -sfn ../share/data/a.txt bin/here" in detail

    run(CondaPackageApp(str(prefix)), scenario)


async def choose_format(pilot: Pilot, fmt: str) -> None:
    """Pick a format with the keyboard, as a user does."""
    select = pilot.app.screen.query_one("#pack-format", Select)
    select.focus()
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press(*fmt, "enter")  # type to search, then choose
    await pilot.pause()
    assert select.value == fmt


async def start_pack(pilot: Pilot, output: Path, fmt: str) -> None:
    await pilot.press("p")
    await pilot.pause()
    field = pilot.app.screen.query_one("#pack-output", Input)
    await pilot.click(field)
    field.value = str(output)  # typing 40 characters through the Pilot takes seconds
    await choose_format(pilot, fmt)
    assert pilot.app.screen.query_one("#pack-output", Input).value.endswith(f".{fmt}")
    await pilot.click("#pack-start")


def test_pack_to_tar_zst_through_the_form(real_env, tmp_path):
    output = tmp_path / "packed.tar.gz"

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await start_pack(pilot, output, "tar.zst")
        await settle(pilot)
        switcher = pilot.app.screen.query_one("#pack-switcher", ContentSwitcher)
        assert switcher.current == "pack-done"
        summary = rendered(pilot.app.screen.query_one("#pack-summary", Static))
        assert "Done" in summary and "packed.tar.zst" in summary

    run(CondaPackageApp(str(real_env)), scenario)
    archive = tmp_path / "packed.tar.zst"  # the format change renamed the output
    assert archive.is_file()
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(unpacked)], check=True)
    assert (unpacked / "bin" / "python3.7").exists()
    assert (unpacked / "bin" / "conda-unpack").exists()


def test_escape_cancels_a_pack_and_leaves_nothing(real_env, tmp_path):
    output = tmp_path / "cancelled.tar.gz"

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await start_pack(pilot, output, "tar.gz")
        await pilot.press("escape")
        await settle(pilot)
        switcher = pilot.app.screen.query_one("#pack-switcher", ContentSwitcher)
        assert switcher.current == "pack-form"
        assert isinstance(pilot.app.screen, EnvironmentScreen)  # escape did not leave

    run(CondaPackageApp(str(real_env)), scenario)
    assert list(tmp_path.iterdir()) == [], "no archive and no *.partial* file"


def test_build_package_from_pip_installed_files(
    real_env_factory, demo_wheel, tmp_path, monkeypatch
):
    prefix = real_env_factory("tui-build")
    pip_install(prefix, demo_wheel)
    monkeypatch.chdir(tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("u")
        await pilot.pause()
        table = pilot.app.screen.query_one("#untracked-table", RowsTable)
        assert table.row_count > 0
        assert "pip: hello_cp 0.3" in str(table.get_row_at(0)[2])
        await pilot.click("#build-package")  # the Pack tab, making a package
        await pilot.pause()
        screen = pilot.app.screen
        assert screen.query_one(TabbedContent).active == "pack"
        assert screen.query_one("#pack-format", Select).value == "package"
        name = screen.query_one("#pack-name", Input)
        name.value = "Hello"
        await pilot.pause()
        error = rendered(screen.query_one("#pack-name-error", Static))
        assert "lower case" in error  # core's rule, checked as the user types
        name.value = "hello-extras"
        screen.query_one("#pack-version", Input).value = "1.0"
        preview = screen.query_one("#pack-preview", Static)
        await wait_for(pilot, lambda: "hello-extras-1.0" in rendered(preview))  # before it starts
        assert "In: 9 files" in rendered(preview)
        await pilot.click("#pack-start")
        await settle(pilot)
        assert screen.query_one("#pack-switcher", ContentSwitcher).current == "pack-done"
        summary = " ".join(rendered(screen.query_one("#pack-summary", Static)).split())
        assert "hello-extras-1.0" in summary
        assert "--pkg-name hello-extras --pkg-version 1.0 --pkg-build 0" in summary

    run(CondaPackageApp(str(prefix)), scenario)
    built = list(tmp_path.glob("hello-extras-1.0-*.conda"))
    assert len(built) == 1 and built[0].stat().st_size > 0


def test_remove_untracked_after_confirming(small_env, tmp_path, monkeypatch):
    (small_env / "share" / "notes").mkdir()
    (small_env / "share" / "notes" / "todo.txt").write_text("mine\n")
    (small_env / "bin" / "helper").write_text("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    clock = time.mktime((2024, 5, 6, 7, 8, 9, 0, 0, 0))

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("u")
        await pilot.pause()
        assert pilot.app.screen.query_one("#untracked-table", RowsTable).row_count == 2
        await pilot.click("#remove-untracked")
        await pilot.pause()
        modal = pilot.app.screen
        assert isinstance(modal, ConfirmRemovalModal)
        backup = modal.query_one("#backup", Input).value
        assert backup.startswith(str(tmp_path)) and backup.endswith(".tar.gz")
        await pilot.click("#remove")
        await settle(pilot)
        summary = rendered(pilot.app.screen.query_one("#untracked-summary", Static))
        assert "No untracked files" in summary  # the environment was loaded again

    run(CondaPackageApp(str(small_env), clock=lambda: clock), scenario)
    assert not (small_env / "share" / "notes").exists()
    assert not (small_env / "bin" / "helper").exists()
    backups = list(tmp_path.glob("small-env-untracked-*.tar.gz"))
    assert len(backups) == 1
    names = subprocess.run(
        ["tar", "-tzf", str(backups[0])], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "share/notes/todo.txt" in names and "bin/helper" in names


def test_environment_list_opens_an_environment(small_env):
    found = [DiscoveredEnvironment("small-env", str(small_env), "~/.conda/environments.txt")]

    async def scenario(pilot: Pilot) -> None:
        table = pilot.app.screen.query_one("#env-table", DataTable)
        assert table.row_count == 1  # at once, before any details
        await settle(pilot)
        assert table.get_row_at(0)[2].plain.strip() == "2"  # packages, loaded in a worker
        table.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, EnvironmentScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(pilot.app.screen, EnvironmentListScreen)

    run(CondaPackageApp(find_environments=lambda: found), scenario)


def test_empty_list_says_where_it_looked():
    async def scenario(pilot: Pilot) -> None:
        text = rendered(pilot.app.screen.query_one("#env-empty", Static))
        assert "No conda environments found" in text
        assert "environments.txt" in text and "$CONDA_ENVS_PATH" in text

    run(CondaPackageApp(find_environments=list), scenario)


def test_open_prefix_by_path_checks_it_live(small_env, tmp_path):
    async def scenario(pilot: Pilot) -> None:
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(pilot.app.screen, OpenPrefixModal)
        await pilot.press(*"/tmp")
        pilot.app.screen.query_one("#prefix", Input).value = str(tmp_path)
        await pilot.pause()
        error = rendered(pilot.app.screen.query_one("#prefix-error", Static))
        assert "not a conda environment" in error
        field = pilot.app.screen.query_one("#prefix", Input)
        field.value = str(small_env)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, EnvironmentScreen)
        assert pilot.app.screen.prefix == str(small_env)

    run(CondaPackageApp(find_environments=list), scenario)


def test_core_errors_open_a_modal_not_a_crash(tmp_path):
    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        assert isinstance(pilot.app.screen, MessageModal)
        assert "not a conda environment" in pilot.app.screen.message
        assert pilot.app.is_running

    run(CondaPackageApp(str(tmp_path)), scenario)


def test_pack_form_validates_live(small_env):
    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("p")
        screen = pilot.app.screen
        screen.query_one("#pack-level", Input).value = "30"
        await pilot.pause()
        error = rendered(screen.query_one("#pack-level-error", Static))
        assert "out of range for tar.gz (0-9)" in error
        screen.query_one("#pack-level", Input).value = "9"
        screen.query_one("#pack-relocate", Input).value = "/" + "x" * 300
        await pilot.pause()
        assert not screen.query_one("#pack-level-error", Static).display
        error = rendered(screen.query_one("#pack-relocate-error", Static))
        assert "longer than the room" in error and "at most 248 bytes" in error
        await pilot.click("#pack-start")
        await pilot.pause()
        switcher = screen.query_one("#pack-switcher", ContentSwitcher)
        assert switcher.current == "pack-form"  # nothing started
        await pilot.click("#pack-threads")
        await pilot.press("q")  # typed into the field, not the quit key
        assert "q" in screen.query_one("#pack-threads", Input).value
        assert "whole number" in rendered(screen.query_one("#pack-threads-error", Static))
        assert pilot.app.is_running

    run(CondaPackageApp(str(small_env)), scenario)


def visible_controls(screen) -> list:
    return [
        w
        for w in screen.query("Button, Input, Select, Switch, DataTable, Tree")
        if w.display and all(a.display for a in w.ancestors_with_self if hasattr(a, "display"))
    ]


def assert_inside(pilot: Pilot, where: str) -> None:
    window = Region(0, 0, *SIZE)
    for widget in visible_controls(pilot.app.screen):
        region = widget.region
        if not region:  # an inactive tab's content has no region
            continue
        assert window.contains_region(region), f"{where}: {widget!r} is cut off at {region}"
        assert region.width >= 3 and region.height >= 1, f"{where}: {widget!r} too small"


def test_every_tab_and_dialog_fits_80x24(small_env, tmp_path, monkeypatch):
    (small_env / "share" / "extra.txt").write_text("untracked\n")
    monkeypatch.chdir(tmp_path)

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        tabs = pilot.app.screen.query_one(TabbedContent)
        for tab in ("overview", "packages", "files", "untracked", "relocation", "pack"):
            tabs.active = tab
            await pilot.pause()
            assert_inside(pilot, tab)
        pilot.app.screen.query_one("#pack-level", Input).value = "99"
        pilot.app.screen.query_one("#pack-relocate", Input).value = "relative"
        await pilot.pause()
        assert_inside(pilot, "pack form with errors")
        for open_dialog, dialog in (
            ("question_mark", HelpScreen),
            ("o", OpenPrefixModal),
        ):
            await pilot.press(open_dialog)
            await pilot.pause()
            assert isinstance(pilot.app.screen, dialog)
            assert_inside(pilot, dialog.__name__)
            await pilot.press("escape")
            await pilot.pause()
        screen = pilot.app.screen
        screen.action_remove_untracked()
        await pilot.pause()
        assert isinstance(pilot.app.screen, ConfirmRemovalModal)
        assert_inside(pilot, "ConfirmRemovalModal")
        await pilot.press("escape")
        await pilot.pause()
        for kind in ("squashfs", "parcel", "package"):  # each kind shows its own fields
            screen.query_one("#pack-format", Select).value = kind
            screen.action_show_tab("pack")
            await settle(pilot)
            assert_inside(pilot, f"pack form for {kind}")

    run(CondaPackageApp(str(small_env)), scenario)


def test_switches_say_on_or_off_without_colour(small_env, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("p")
        switch = pilot.app.screen.query_one("#pack-force", Switch)
        assert rendered(switch).split() == ["off"]
        switch.toggle()
        await pilot.pause()
        assert rendered(switch).split() == ["on"]

    run(CondaPackageApp(str(small_env)), scenario)


def test_command_palette_offers_the_main_actions(small_env):
    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        from conda_package.tui.app import ActionCommands

        provider = ActionCommands(pilot.app.screen)
        names = [name for name, _, _ in provider.commands()]
        for wanted in ("Open", "Pack", "Analyse", "Remove untracked", "Build a package"):
            assert any(name.startswith(wanted) for name in names), wanted

    run(CondaPackageApp(str(small_env)), scenario)


def test_command_line_resolves_a_name(small_env, monkeypatch, capsys):
    monkeypatch.setenv("CONDA_ENVS_PATH", str(small_env.parent))
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    assert parse_command_line(["-n", "small-env"]) == Launch(str(small_env.resolve()))
    # -p and PREFIX are checked as the CLI checks them (core's locate())
    assert parse_command_line(["-p", str(small_env)]) == Launch(str(small_env.resolve()))
    assert parse_command_line([str(small_env)]) == Launch(str(small_env.resolve()))
    assert parse_command_line([]) == Launch()
    assert parse_command_line(["--demo"]) == Launch(demo=True)
    from conda_package.tui.app import main

    assert main(["-n", "no-such-env"]) == 1
    assert "no environment named 'no-such-env'" in capsys.readouterr().err
    assert main(["-p", "/some/where"]) == 1
    assert capsys.readouterr().err.strip() == (
        "conda-package-tui: error: /some/where: no such directory; check the path or use -n NAME"
    )


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [os.sys.executable, "-m", "conda_package.tui", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "conda-package-tui" in result.stdout and "-n NAME" in result.stdout
