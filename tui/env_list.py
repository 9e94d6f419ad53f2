"""The first screen: every environment discovery found, details filled in as they load."""

from __future__ import annotations

from typing import ClassVar

from conda_package.core import (
    WHERE_DISCOVERY_LOOKS,
    CondaPackageError,
    DiscoveredEnvironment,
    Environment,
    is_demo,
)
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from .display import human_bytes
from .messages import OpenEnvironment


class EnvironmentDetails(Message):
    """One environment's row is ready (or could not be read: `error`)."""

    def __init__(
        self,
        prefix: str,
        packages: int = 0,
        size: int = 0,
        python: str = "",
        error: str = "",
    ) -> None:
        super().__init__()
        self.prefix = prefix
        self.packages = packages
        self.size = size
        self.python = python
        self.error = error


class EnvironmentListScreen(Screen[None]):
    """Lists at once what discovery found; loading each one's details runs in a worker."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "app.open_prefix", "Open path"),
        Binding("d", "app.open_demo", "Demo"),
    ]

    def __init__(self, found: list[DiscoveredEnvironment]) -> None:
        super().__init__()
        self.found = found

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="env-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="env-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "environments"
        table = self.query_one("#env-table", DataTable)
        # Fixed widths where the details arrive later, so the columns do not jump.
        for label, key, width in (
            ("name", "name", None),
            ("packages", "packages", 8),
            ("size", "size", 10),
            ("python", "python", 6),
            ("prefix", "prefix", None),
            ("found in", "source", None),
        ):
            table.add_column(label, key=key, width=width)
        for found in self.found:
            # Known now, so the name column never changes width: a marker file's stat,
            # no more than discovery itself did to find the environment.
            name = Text(found.name)
            if is_demo(found.prefix):
                name.append(" (demo)", "bold")
            table.add_row(
                name,
                "…",
                "…",
                "…",
                Text(found.prefix),
                Text(found.source),
                key=found.prefix,
            )
        empty = self.query_one("#env-empty", Static)
        empty.display = not self.found
        table.display = bool(self.found)
        if self.found:
            self.load_details([f.prefix for f in self.found])
        else:
            places = "\n".join(f"  • {place}" for place in WHERE_DISCOVERY_LOOKS)
            empty.update(
                Text(
                    f"No conda environments found.\n\nLooked in:\n{places}\n\n"
                    "Press o to open an environment by its path,\n"
                    "or d to open a demo environment (made here, offline, in a temporary"
                    " folder)."
                )
            )

    @work(thread=True, exclusive=True, exit_on_error=False, group="details")
    def load_details(self, prefixes: list[str]) -> None:
        """Loading reads every record and walks every prefix: seconds for many environments."""
        worker = get_current_worker()
        for prefix in prefixes:
            if worker.is_cancelled:
                return
            try:
                env = Environment.load(prefix)
            except CondaPackageError as exc:
                self.post_message(EnvironmentDetails(prefix, error=str(exc)))
                continue
            details = EnvironmentDetails(
                prefix, len(env.records), env.size, env.python_version or "-"
            )
            self.post_message(details)

    def on_environment_details(self, details: EnvironmentDetails) -> None:
        table = self.query_one("#env-table", DataTable)
        if details.error:
            self.notify(details.error, title="Cannot read an environment", severity="warning")
            cells = {"packages": Text("unreadable", style="red"), "size": "-", "python": "-"}
        else:
            cells = {
                "packages": Text(f"{details.packages:,}", justify="right"),
                "size": Text(human_bytes(details.size), justify="right"),
                "python": details.python,
            }
        for column, value in cells.items():
            table.update_cell(details.prefix, column, value)

    @on(DataTable.RowSelected, "#env-table")
    def open_row(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(OpenEnvironment(event.row_key.value))
