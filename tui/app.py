"""conda-package-tui: browse environments, review relocation, pack with live progress."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from conda_package.core import (
    DEMO_NAME,
    CondaPackageError,
    DiscoveredEnvironment,
    __version__,
    create_demo,
    discover,
    locate,
)
from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.worker import Worker, WorkerState

from .env_list import EnvironmentListScreen
from .env_screen import EnvironmentScreen
from .keys import help_sections
from .messages import LeaveEnvironment, OpenEnvironment
from .modals import HelpScreen, OpenPrefixModal, show_failure

Command = tuple[str, str, Callable[[], object]]


class ActionCommands(Provider):
    """The main actions in the command palette (ctrl+p), for the screen it was opened on."""

    def commands(self) -> Iterator[Command]:
        app = self.app
        assert isinstance(app, CondaPackageApp)
        yield ("Open an environment by path", "type a prefix", app.action_open_prefix)
        yield ("List environments", "every environment found", app.show_environment_list)
        yield ("Open the demo environment", "made offline, no conda needed", app.action_open_demo)
        screen = self.screen
        if isinstance(screen, EnvironmentScreen):
            yield ("Pack this environment", "go to the pack form", screen.action_pack)
            yield ("Analyse relocation again", "re-read changed files", screen.action_analyse)
            yield (
                "Remove untracked files",
                "back them up, then delete them",
                screen.action_remove_untracked,
            )
            yield (
                "Build a package from untracked files",
                "a .conda of the files no package owns",
                screen.action_build_package,
            )
            yield ("Filter files", "narrow the files tree", screen.action_filter)

    async def discover(self) -> Hits:
        for name, help_text, callback in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class CondaPackageApp(App[None]):
    """Starts on the environment list, or straight in one environment when given a prefix
    (or `demo`: the demo environment, made in a temporary folder).

    `find_environments` and `clock` are replaceable so tests and screenshots see a fixed
    machine and a fixed time.
    """

    CSS_PATH = "app.tcss"
    TITLE = "conda-package"
    COMMANDS = App.COMMANDS | {ActionCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("o", "open_prefix", "Open path", show=False),
    ]

    def __init__(
        self,
        prefix: str | None = None,
        *,
        find_environments: Callable[[], list[DiscoveredEnvironment]] = discover,
        clock: Callable[[], float] = time.time,
        demo: bool = False,
    ) -> None:
        super().__init__()
        self.prefix = prefix
        self.find_environments = find_environments
        self.clock = clock
        self.demo = demo
        # Removed when the app is garbage collected or the interpreter exits.
        self.demo_folder: tempfile.TemporaryDirectory[str] | None = None
        # Discovery stats many paths, slow on a network home: the list the app starts on is
        # found here, before the app runs, so it shows at once; any later one in a worker.
        starts_on_list = prefix is None and not demo
        self.found_at_start = find_environments() if starts_on_list else None

    def on_mount(self) -> None:
        if self.demo:
            self.action_open_demo()
        elif self.prefix is not None:
            self.push_screen(EnvironmentScreen(self.prefix, self.clock))
        else:
            self.show_environment_list()

    def show_environment_list(self) -> None:
        """Back to the list under the open screens, or a new one if the app began elsewhere."""
        if self.back_to_environment_list():
            return
        if self.found_at_start is None:
            self.find_environments_for_list()
        else:
            self.open_environment_list(self.found_at_start)

    def back_to_environment_list(self) -> bool:
        """Close the screens above the list; False when there is no list to go back to."""
        while len(self.screen_stack) > 2 and not isinstance(self.screen, EnvironmentListScreen):
            self.pop_screen()
        return isinstance(self.screen, EnvironmentListScreen)

    @work(thread=True, exclusive=True, exit_on_error=False, group="discover")
    def find_environments_for_list(self) -> list[DiscoveredEnvironment]:
        return self.find_environments()

    def open_environment_list(self, found: list[DiscoveredEnvironment]) -> None:
        """Checked again: screens may have opened while discovery ran."""
        if self.back_to_environment_list():
            return
        screen = EnvironmentListScreen(found)
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.node is not self or worker.group != "discover":
            return
        if event.state is WorkerState.SUCCESS:
            self.open_environment_list(worker.result)
        elif event.state is WorkerState.ERROR:
            show_failure(self, "Cannot list the environments", worker.error)

    def on_open_environment(self, message: OpenEnvironment) -> None:
        self.push_screen(EnvironmentScreen(message.prefix, self.clock))

    def on_leave_environment(self, _: LeaveEnvironment) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()
        else:
            self.show_environment_list()

    def action_open_prefix(self) -> None:
        def opened(prefix: str | None) -> None:
            if prefix:
                self.push_screen(EnvironmentScreen(prefix, self.clock))

        self.push_screen(OpenPrefixModal(), opened)

    def action_open_demo(self) -> None:
        """The demo is made once per run (a few milliseconds of small writes)."""
        try:
            if self.demo_folder is None:
                self.demo_folder = tempfile.TemporaryDirectory(prefix="conda-package-demo-")
            prefix = os.path.join(self.demo_folder.name, DEMO_NAME)
            if not os.path.isdir(prefix):
                create_demo(prefix)
        except (CondaPackageError, OSError) as exc:
            self.notify(str(exc), title="Cannot make the demo", severity="error")
            return
        self.push_screen(EnvironmentScreen(prefix, self.clock))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_sections(self)))


@dataclass(frozen=True)
class Launch:
    """What the command line asks for: a prefix, the demo, or (neither) the list."""

    prefix: str | None = None
    demo: bool = False


def parse_command_line(argv: list[str] | None = None) -> Launch:
    parser = argparse.ArgumentParser(
        prog="conda-package-tui",
        description="Browse conda environments, review relocation and pack them.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("prefix", nargs="?", help="the environment to open")
    where.add_argument("-p", "--prefix", dest="prefix_option", metavar="PREFIX", help="the same")
    where.add_argument("-n", "--name", help="an environment's name, found as conda would")
    where.add_argument(
        "--demo",
        nargs="?",
        const="",
        metavar="PATH",
        help="open a demo environment, made offline (in a temporary folder, or at PATH)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    if args.demo == "":
        return Launch(demo=True)
    if args.demo is not None:
        return Launch(create_demo(args.demo))
    if args.name or args.prefix or args.prefix_option:
        return Launch(locate(args.name, args.prefix or args.prefix_option))
    return Launch(None)  # the environments found on this machine, to choose from


def main(argv: list[str] | None = None) -> int:
    try:
        launch = parse_command_line(argv)
    except (CondaPackageError, OSError) as exc:
        print(f"conda-package-tui: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    CondaPackageApp(launch.prefix, demo=launch.demo).run()
    return 0
