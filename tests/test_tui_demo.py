"""The TUI on the demo: offered by the empty list, labelled, every tab with content."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from conda_package.core.demo.build import DEMO_FINDINGS
from conda_package.tui.app import CondaPackageApp
from conda_package.tui.env_screen import EnvironmentScreen
from conda_package.tui.rows import RowsTable
from test_tui import rendered, run, settle, start_pack, tree_labels
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, DataTable, Input, Static, Switch, TabbedContent, Tree


def test_empty_list_offers_the_demo_and_every_tab_has_content():
    app = CondaPackageApp(find_environments=list)

    async def scenario(pilot: Pilot) -> None:
        empty = rendered(pilot.app.screen.query_one("#env-empty", Static))
        assert "or d to open a demo environment" in empty
        await pilot.press("d")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, EnvironmentScreen)
        prefix = screen.prefix
        assert screen.sub_title == f"demo: {prefix}"
        assert prefix.startswith(app.demo_folder.name)

        overview = rendered(screen.query_one("#overview-facts", Static))
        assert "made by conda-package" in overview and "2 errors" in overview
        assert screen.query_one("#packages-table", DataTable).row_count == 3
        files = tree_labels(screen.query_one("#files-tree", Tree))
        assert any("bin/" in label for label in files) and len(files) > 3
        assert screen.query_one("#untracked-table", RowsTable).row_count == 9
        findings = " ".join(tree_labels(screen.query_one("#findings-tree", Tree)))
        assert all(code in findings for code, _ in DEMO_FINDINGS)
        screen.query_one(TabbedContent).active = "pack"
        await pilot.pause()
        output = screen.query_one("#pack-output", Input).value
        assert output.endswith("conda-package-demo.tar.gz")

    run(app, scenario)
    folder = app.demo_folder.name
    assert os.path.isdir(folder)
    app.demo_folder.cleanup()  # what the interpreter's exit does
    assert not os.path.exists(folder)


def test_pack_form_warns_of_the_missing_file_then_packs(tmp_path):
    app = CondaPackageApp(demo=True)
    output = tmp_path / "demo.tar.gz"

    async def scenario(pilot: Pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one(TabbedContent).active = "pack"
        await pilot.pause()
        line = screen.query_one("#pack-ignore-missing-error", Static)
        assert line.display
        assert "1 file missing (lib/libdemo-plugins.so.1)" in rendered(line)
        await pilot.click("#pack-start")  # refused in the form, not by a failed pack
        await settle(pilot)
        assert pilot.app.screen is screen  # no error dialog: the pack never started
        assert screen.query_one("#pack-switcher", ContentSwitcher).current != "pack-done"
        await pilot.click("#pack-ignore-missing")
        await pilot.pause()
        assert screen.query_one("#pack-ignore-missing", Switch).value and not line.display
        await start_pack(pilot, output, "tar.gz")
        await settle(pilot)
        assert screen.query_one("#pack-switcher", ContentSwitcher).current == "pack-done"
        summary = rendered(screen.query_one("#pack-summary", Static))
        assert "demo-libs-1.2.0-h5e1f3a9_0: lib/libdemo-plugins.so.1" in summary

    run(app, scenario)
    assert output.is_file()


def _read_until(fd: int, wanted: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def _drain_until_exit(fd: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        _read_until(fd, b"\0never", timeout=0.2)
    assert process.poll() is not None, "the app did not quit on q"


def test_demo_command_in_a_real_terminal(tmp_path: Path):
    """`conda-package-tui --demo` in a pseudo-terminal: shows the demo, q quits, the
    temporary folder goes."""
    exe = shutil.which("conda-package-tui") or str(
        Path(sys.executable).with_name("conda-package-tui")
    )
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "TMPDIR": str(tmp_path)}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    process = subprocess.Popen(
        [exe, "--demo"], stdin=child, stdout=child, stderr=child, env=env, close_fds=True
    )
    os.close(child)
    try:
        screen = _read_until(main, b"2 errors", timeout=30)
        assert b"demo:" in screen and b"2 errors" in screen, screen[-2000:]
        os.write(main, b"q")
        _drain_until_exit(main, process, timeout=30)  # a full pty would block its exit
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    assert [p.name for p in tmp_path.iterdir() if p.name != "cache"] == []
