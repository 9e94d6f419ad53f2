"""Every action by keyboard, visibly: tab keys, focus, enter on findings, the generated help."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import conda_package.tui
import pytest
from conda_package.core.discover.envs import DiscoveredEnvironment
from conda_package.tui.app import CondaPackageApp
from conda_package.tui.display import elide_middle
from conda_package.tui.env_screen import TAB_FOCUS
from conda_package.tui.keys import SECTIONS, bindings_of, help_sections
from conda_package.tui.modals import HelpScreen
from conda_package.tui.rows import RowsTable
from pkgbuild import make_tar_bz2
from realenv import install, make_channel
from test_tui import env_with_symlink_into_itself, find_node, rendered, run, settle
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Static, TabbedContent, Tabs, Tree


def focus_is_in(pilot: Pilot, tab: str) -> bool:
    focused = pilot.app.focused
    pane = pilot.app.screen.query_one(f"TabPane#{tab}")
    return focused is not None and pane in focused.ancestors


def test_number_keys_show_each_tab_with_its_content_focused(small_env):
    (small_env / "share" / "extra.txt").write_text("untracked\n")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        tabs = pilot.app.screen.query_one(TabbedContent)
        for n, tab in enumerate(TAB_FOCUS, 1):
            await pilot.press(str(n))
            await pilot.pause()
            assert tabs.active == tab
            assert focus_is_in(pilot, tab), (tab, pilot.app.focused)
        await pilot.press("3", "down")  # the tree takes the arrows at once
        tree = pilot.app.screen.query_one("#files-tree", Tree)
        assert pilot.app.focused is tree and tree.cursor_line == 1

    run(CondaPackageApp(str(small_env)), scenario)


def test_arrows_on_the_tab_bar_then_down_moves_in_the_tree_and_tables(small_env):
    (small_env / "share" / "extra.txt").write_text("untracked\n")
    (small_env / "share" / "more.txt").write_text("untracked\n")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one(Tabs).focus()
        await pilot.press("right", "right")
        assert screen.query_one(TabbedContent).active == "files"
        assert isinstance(pilot.app.focused, Tabs)  # left and right go on along the tabs
        await pilot.press("down", "down")
        tree = screen.query_one("#files-tree", Tree)
        assert pilot.app.focused is tree and tree.cursor_line == 1
        screen.query_one(Tabs).focus()
        await pilot.press("left")
        await pilot.press("down", "down")
        table = screen.query_one("#packages-table", DataTable)
        assert pilot.app.focused is table and table.cursor_row == 1
        screen.query_one(Tabs).focus()
        await pilot.press("right", "right", "down", "down")
        untracked = screen.query_one("#untracked-table", RowsTable)
        assert pilot.app.focused is untracked and untracked.cursor_row == 1

    run(CondaPackageApp(str(small_env)), scenario)


def test_clicking_a_tab_focuses_its_content(small_env):
    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.click("#--content-tab-files")
        await pilot.pause()
        assert pilot.app.focused is pilot.app.screen.query_one("#files-tree", Tree)
        await pilot.click("#--content-tab-packages")
        await pilot.pause()
        assert pilot.app.focused is pilot.app.screen.query_one("#packages-table", DataTable)

    run(CondaPackageApp(str(small_env)), scenario)


def styles_in(pilot: Pilot, widget: Widget) -> list:
    region = widget.region
    return [
        pilot.app.screen.get_style_at(x, y)
        for y in range(region.y, region.y + min(region.height, 3))
        for x in range(region.x, region.x + min(region.width, 12))
    ]


def test_the_focused_widget_is_visibly_marked(small_env):
    """Each widget that takes the keys looks different when it has them."""
    (small_env / "share" / "extra.txt").write_text("untracked\n")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        for key, selector in (
            ("2", "#packages-table"),
            ("3", "#files-tree"),
            ("3", "#files-filter"),
            ("4", "#untracked-table"),
            ("4", "#build-package"),
            ("5", "#findings-tree"),
            ("1", "#overview-pane"),
            ("1", "ContentTabs"),
        ):
            await pilot.press(key)
            widget = screen.query_one(selector)
            widget.focus()
            await pilot.pause()
            focused = styles_in(pilot, widget)
            screen.set_focus(None)
            await pilot.pause()
            assert styles_in(pilot, widget) != focused, f"{selector} looks the same focused"

    run(CondaPackageApp(str(small_env)), scenario)


def test_enter_on_a_finding_shows_the_file_in_files(small_env):
    prefix = env_with_symlink_into_itself(small_env)

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("5")
        tree = pilot.app.screen.query_one("#findings-tree", Tree)
        assert pilot.app.focused is tree
        tree.move_cursor(find_node(tree, "symlink-absolute"))
        await pilot.press("enter")
        await pilot.pause()
        assert pilot.app.screen.query_one(TabbedContent).active == "files"
        files = pilot.app.screen.query_one("#files-tree", Tree)
        assert pilot.app.focused is files
        assert files.cursor_node is not None and files.cursor_node.data == "bin/here"
        details = rendered(pilot.app.screen.query_one("#file-details", Static))
        assert "bin/here" in details and "symlink" in details

    run(CondaPackageApp(str(prefix)), scenario)


def test_enter_on_an_untracked_file_shows_it_in_files(small_env):
    (small_env / "share" / "notes").mkdir()
    (small_env / "share" / "notes" / "todo.txt").write_text("mine\n")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("slash", *"tool", "enter")  # a filter that hides the file
        await pilot.press("4", "enter")
        await pilot.pause()
        files = pilot.app.screen.query_one("#files-tree", Tree)
        assert files.cursor_node is not None and files.cursor_node.data == "share/notes/todo.txt"
        assert "untracked" in rendered(pilot.app.screen.query_one("#file-details", Static))

    run(CondaPackageApp(str(small_env)), scenario)


def ui_classes_with_bindings() -> set[type]:
    found = set()
    for module in pkgutil.iter_modules(conda_package.tui.__path__):
        if module.name == "__main__":
            continue
        loaded = importlib.import_module(f"conda_package.tui.{module.name}")
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if cls.__module__ == loaded.__name__ and "BINDINGS" in cls.__dict__:
                found.add(cls)
    return found


def test_the_help_lists_exactly_the_bindings_that_exist(small_env):
    """Made from the bindings: every listed key is bound where the help says, and every
    binding of every screen and widget of the UI is listed."""
    listed_classes = {cls for _, cls in SECTIONS}
    missing = {
        cls for cls in ui_classes_with_bindings() if not issubclass(cls, App)
    } - listed_classes
    assert not missing, f"classes with keys the help does not list: {missing}"

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        sections = dict(help_sections(app))
        everywhere = {row.binding.key for row in sections["Everywhere"]}
        bound_everywhere = {b.key for b in bindings_of(type(app)) + bindings_of(Screen)}
        assert everywhere == bound_everywhere | {app.COMMAND_PALETTE_BINDING}
        for title, cls in SECTIONS:
            keys = {b.key for b in bindings_of(cls)}
            rows = sections.get(title, [])
            assert {row.binding.key for row in rows} <= keys, title  # listed: bound there
            listed = {
                (r.binding.key, r.binding.action) for rows_ in sections.values() for r in rows_
            }
            for binding in bindings_of(cls):  # bound: listed (here or in a section before)
                assert (binding.key, binding.action) in listed, (title, binding.key)
        for number in "123456":
            assert any(row.key == number for row in sections["Environment (1-6: the tabs)"])
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = rendered(app.screen.query_one("#help-keys", Static))
        for rows in sections.values():
            for row in rows:
                assert row.key in text and row.description in text

    run(CondaPackageApp(str(small_env)), scenario)


def test_long_names_are_cut_in_the_middle():
    cut = elide_middle("python-3.7.12-h12debd9_0", 15)
    assert len(cut) == 15 and cut.startswith("python-") and cut.endswith("debd9_0")
    assert "…" in cut
    assert elide_middle("short", 15) == "short"
    assert elide_middle("abc", 1) == "…"


def test_a_long_package_name_shows_whole_under_the_table(tmp_path):
    """At 80x24 the table cuts a long name in the middle; under it the highlighted
    package's name, version, build, channel, file count and size show in full."""
    pytest.importorskip("rattler")
    name = "python-language-server-plugin-extras"
    built = tmp_path / "built"
    built.mkdir()
    files = {"share/extras/a.txt": b"a\n", "share/extras/b.txt": b"bbbb\n"}
    make_tar_bz2(built, name, "1.2.3.post4", files, build="pyhd8ed1ab_0")
    make_tar_bz2(built, "zz", "2.0", {"share/zz.txt": b"z\n"}, subdir="noarch")
    channel = make_channel(sorted(built.iterdir()), tmp_path / "channel")
    prefix = install(channel, [name, "zz"], tmp_path / "env", tmp_path / "pkgs")

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("2")
        await pilot.pause()
        table = pilot.app.screen.query_one("#packages-table", DataTable)
        details = pilot.app.screen.query_one("#package-details", Static)
        cell = rendered(table.get_cell(name, "name"))
        assert "…" in cell and name not in cell
        shown = " ".join(rendered(details).split())
        assert f"{name} 1.2.3.post4 build pyhd8ed1ab_0" in shown
        assert "channel/linux-64 · 2 files · 7 B" in shown
        assert details.region.bottom <= 23 and table.region.height >= 10  # above the footer
        await pilot.press("down")
        assert "zz 2.0" in rendered(details) and "channel/noarch · 1 file" in rendered(details)
        await pilot.press("r")  # sorted the other way: the cursor's row is the long one
        assert name in rendered(details)

    run(CondaPackageApp(str(prefix)), scenario, size=(80, 24))


def test_every_file_label_fits_the_tree_at_80_columns():
    """At 80x24, with every folder of the demo open, no line of the Files tree is wider than
    the tree: names are cut in the middle and badges shortened, never cut off."""
    app = CondaPackageApp(demo=True)

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        tree = pilot.app.screen.query_one("#files-tree", Tree)
        for _ in range(6):  # folders get their children when opened
            tree.root.expand_all()
            await settle(pilot)
        assert tree.last_line > 25  # the whole demo is open
        assert tree.virtual_size.width <= tree.scrollable_content_region.width

    run(app, scenario, size=(80, 24))


def test_the_environment_list_fits_80_columns(tmp_path):
    """Long prefixes and sources are cut in the middle: every column shows at 80x24."""
    prefix = str(tmp_path / ("deep/" * 12) / "analysis")
    found = [DiscoveredEnvironment("analysis", prefix, "~/.conda/environments.txt")]
    app = CondaPackageApp(find_environments=lambda: found)

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        table = pilot.app.screen.query_one("#env-table", DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert "…" in table.get_cell(prefix, "prefix").plain

    run(app, scenario, size=(80, 24))
