"""Regenerate the SVG screenshots of conda-package-tui from the real app on a real environment.

    python screenshots/make_screenshots.py [--prefix PREFIX]

Without --prefix it uses /tmp/realenv/env when present, or builds the real environment of
the tests (tests/realenv.py, about 10 s) in a temporary folder. The environment is only
read: the pack goes to a temporary folder that is removed afterwards.
The pictures are 100x30 cells; the tests check 80x24 separately.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from conda_package.core.discovery import DiscoveredEnvironment, env_name
from conda_package.tui.app import CondaPackageApp
from conda_package.tui.packing import PackPane
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar, Select, Tree
from textual.worker import WorkerState

HERE = Path(__file__).resolve().parent
SIZE = (100, 30)
KNOWN_REAL_ENV = Path("/tmp/realenv/env")


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
        await pilot.press("slash", *"libpython", "enter")
        tree = screen.query_one("#files-tree", Tree)
        await until(lambda: tree.last_line > 1)
        await pilot.press("down", "down")  # the prefix, lib/, then the library
        save(pilot, "files")

        screen.action_show_tab("relocation")
        await pilot.press("down", "down", "down")
        save(pilot, "relocation")

        await pilot.press("p")
        screen.query_one("#pack-output", Input).value = os.path.join(out, "realenv.tar.zst")
        screen.query_one("#pack-format", Select).value = "tar.zst"
        await pilot.pause()
        screen.query_one(PackPane).start()
        bar = screen.query_one("#pack-bar", ProgressBar)
        await until(lambda: (bar.percentage or 0) > 0.4)
        save(pilot, "pack-progress")
        await settle(pilot)
        save(pilot, "pack-done")


def real_environment(work: str) -> str:
    if KNOWN_REAL_ENV.joinpath("conda-meta").is_dir():
        return str(KNOWN_REAL_ENV)
    sys.path.insert(0, str(HERE.parent / "tests"))
    from realenv import build_real_env

    print("building the real environment (about 10 s)…")
    return str(build_real_env(Path(work) / "env", Path(work) / "build"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", help="the environment to show (default: the real one)")
    args = parser.parse_args()
    # A fixed output folder: its path is in the pictures, so they change only when the app does.
    out = os.path.join(tempfile.gettempdir(), "conda-package-screenshots")
    shutil.rmtree(out, ignore_errors=True)
    os.mkdir(out)
    try:
        prefix = args.prefix or real_environment(out)
        os.environ["XDG_CACHE_HOME"] = os.path.join(out, "cache")
        asyncio.run(environment_list(prefix))
        asyncio.run(environment_tabs(prefix, out))
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
