"""Regenerate the SVG screenshots of conda-package-tui from the real app on the demo.

    python screenshots/make_screenshots.py

It makes the demo environment (core/demo.py) at a fixed path, so the pictures change only
when the app does. The environment is only read: the pack goes to a
temporary folder that is removed afterwards. The demo packs in milliseconds in one batch,
so for the in-progress picture batches are made small and each progress report is held for
a moment (slow motion, nothing else).
The pictures are 100x30 cells; the tests check 80x24 separately.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import conda_package.core.write.schedule
import conda_package.tui.packing
from conda_package.core import pack
from conda_package.core.demo.build import DEMO_NAME, create_demo
from conda_package.core.discover.envs import DiscoveredEnvironment, env_name
from conda_package.tui.app import CondaPackageApp
from conda_package.tui.packing import PackPane
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar, Select, Static, Switch, Tree
from textual.worker import WorkerState

HERE = Path(__file__).resolve().parent
SIZE = (100, 30)


async def settle(pilot: Pilot) -> None:
    """No worker running, including any started when another ended."""
    while True:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(
            w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers
        ):
            return


async def until(ready: Callable[[], bool]) -> None:
    """Poll without the Pilot, whose waits for an idle process last as long as a pack."""
    while not ready():
        await asyncio.sleep(0.01)


def save(pilot: Pilot, name: str) -> None:
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    pilot.app.save_screenshot(f"{name}.svg", str(HERE))
    print(f"screenshots/{name}.svg")


async def environment_list(prefix: str) -> None:
    found = [DiscoveredEnvironment(env_name(prefix), prefix, "~/.conda/environments.txt")]
    app = CondaPackageApp(find_environments=lambda: found)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        save(pilot, "environment-list")


async def environment_tabs(prefix: str, out: str) -> None:
    async with CondaPackageApp(prefix).run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = pilot.app.screen
        await pilot.press("slash", *"libdemo", "enter")
        tree = screen.query_one("#files-tree", Tree)
        await until(lambda: tree.last_line > 1)
        await pilot.press("down", "down")  # the prefix, lib/, then the library
        save(pilot, "files")

        screen.action_show_tab("relocation")
        await pilot.press("down", "down", "down")
        save(pilot, "relocation")

        await pilot.press("p")
        screen.query_one("#pack-format", Select).value = "tar.zst"
        screen.query_one("#pack-version", Input).value = "1.0"
        screen.query_one("#pack-build", Input).value = "0"
        output = os.path.join(out, f"{DEMO_NAME}-1.0-0.tar.zst")
        screen.query_one("#pack-output", Input).value = output
        screen.query_one("#pack-ignore-missing", Switch).value = True  # the demo lacks one
        preview = screen.query_one("#pack-preview", Static)
        await until(lambda: "In:" in str(preview.content))
        await settle(pilot)
        save(pilot, "pack-form")
        screen.query_one(PackPane).start()
        bar = screen.query_one("#pack-bar", ProgressBar)
        await until(lambda: (bar.percentage or 0) > 0.4)
        save(pilot, "pack-progress")
        await settle(pilot)
        save(pilot, "pack-done")


async def several(prefixes: list[str], out: str) -> None:
    """Two environments marked and packed one after another."""
    found = [DiscoveredEnvironment(env_name(p), p, "~/.conda/environments.txt") for p in prefixes]
    app = CondaPackageApp(find_environments=lambda: found)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("space", "space", "p")
        await pilot.pause()
        modal = pilot.app.screen
        modal.query_one("#batch-folder", Input).value = out
        modal.query_one("#batch-version", Input).value = "1.0"
        modal.query_one("#batch-ignore-missing", Switch).value = True
        await pilot.pause()
        save(pilot, "pack-several-options")
        await pilot.click("#batch-start")
        await settle(pilot)
        save(pilot, "pack-several")


def slow_motion_pack(*args, progress=None, **kwargs):
    """core's pack, each progress report held 0.1 s so that one lands mid-way."""

    def held(report) -> None:
        progress(report)
        time.sleep(0.1)

    return pack(*args, progress=held if progress else None, **kwargs)


def main() -> None:
    # A fixed output folder: its path is in the pictures, so they change only when the app does.
    out = os.path.join(tempfile.gettempdir(), "conda-package-screenshots")
    shutil.rmtree(out, ignore_errors=True)
    os.mkdir(out)
    try:
        prefix = create_demo(os.path.join(out, DEMO_NAME))  # the pictures show its files
        conda_package.tui.packing.pack = slow_motion_pack
        conda_package.core.write.schedule.BATCH_FILES = 4  # progress is told per batch: small ones
        os.environ["XDG_CACHE_HOME"] = os.path.join(out, "cache")
        asyncio.run(environment_list(prefix))
        asyncio.run(environment_tabs(prefix, out))
        other = create_demo(os.path.join(out, "analysis"))
        conda_package.tui.packing.pack = pack
        asyncio.run(several([prefix, other], out))
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
