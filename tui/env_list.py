"""The first screen: every environment discovery found, details filled in as they load;
space marks several, p packs them one after another (tui/batch.py)."""

from __future__ import annotations

import threading
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
from textual.worker import Worker, WorkerState, get_current_worker

from .batch import BatchPackModal, BatchPanel, BatchRequest, BatchState, run_batch
from .display import elide_middle, human_bytes
from .messages import JobProgress, OpenEnvironment


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
        Binding("space", "mark", "Mark"),
        Binding("p", "pack_marked", "Pack marked"),
        Binding("x", "cancel_one", "Cancel one", show=False),
        Binding("escape", "cancel_all", "Cancel all", show=False),
    ]

    def __init__(self, found: list[DiscoveredEnvironment]) -> None:
        super().__init__()
        self.found = found
        self.marked: list[str] = []  # prefixes, in the order marked: the packing order
        self.cancels: dict[str, threading.Event] = {}  # of the batch running, per prefix
        self.batch: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="env-table", cursor_type="row", zebra_stripes=True)
        yield BatchPanel(id="batch-panel")
        yield Static(id="env-empty")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "environments"
        table = self.query_one("#env-table", DataTable)
        # Fixed widths where the details arrive later, so the columns do not jump.
        self.query_one(BatchPanel).display = False
        prefix_room, source_room = self.path_rooms()
        for label, key, width in (
            ("", "mark", 1),
            ("name", "name", None),
            ("packages", "packages", 8),
            ("size", "size", 10),
            ("python", "python", 6),
            ("prefix", "prefix", None),
            ("found in", "source", None),
        )[: 7 if source_room else 6]:
            table.add_column(label, key=key, width=width)
        for found in self.found:
            # Known now, so the name column never changes width: a marker file's stat,
            # no more than discovery itself did to find the environment.
            name = Text(found.name)
            if is_demo(found.prefix):
                name.append(" (demo)", "bold")
            source = (Text(elide_middle(found.source, source_room)),) if source_room else ()
            table.add_row(
                " ",
                name,
                "…",
                "…",
                "…",
                Text(elide_middle(found.prefix, prefix_room)),
                *source,
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

    # packing several: space marks, p packs the marked one after another

    def path_rooms(self) -> tuple[int, int]:
        """Columns for the prefix and where it was found, so that the table fits the screen
        (80 columns too): both cut in the middle, the prefix kept the longer; where it was
        found is left out (0) when even the prefix is short of room."""
        names = (len(f.name) + (7 if is_demo(f.prefix) else 0) for f in self.found)
        source = min(18, max((len(f.source) for f in self.found), default=8))
        # the mark, packages, size and python columns, each column's padding, a scrollbar
        room = self.app.size.width - (1 + 8 + 10 + 6 + 2 * 7 + 1 + max(names, default=4))
        prefix = max(16, room - source)
        source = room - prefix - 2  # its padding
        return prefix, source if source >= 8 else 0

    def cursor_prefix(self) -> str | None:
        table = self.query_one("#env-table", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    def action_mark(self) -> None:
        prefix = self.cursor_prefix()
        if prefix is None:
            return
        if prefix in self.marked:
            self.marked.remove(prefix)
        else:
            self.marked.append(prefix)
        table = self.query_one("#env-table", DataTable)
        table.update_cell(prefix, "mark", Text("●" if prefix in self.marked else " "))
        table.action_cursor_down()

    @property
    def packing(self) -> bool:
        return self.batch is not None and not self.batch.is_finished  # pending or running

    def action_pack_marked(self) -> None:
        """The marked environments, or the highlighted one when none is marked."""
        if self.packing:
            self.notify("A batch is packing; escape cancels it.", severity="warning")
            return
        prefixes = self.marked or [p for p in [self.cursor_prefix()] if p]
        if not prefixes:
            return
        names = [self.name_of(p) for p in prefixes]
        self.app.push_screen(
            BatchPackModal(names), lambda request: self.start_batch(prefixes, request)
        )

    def name_of(self, prefix: str) -> str:
        return next((f.name for f in self.found if f.prefix == prefix), prefix)

    def start_batch(self, prefixes: list[str], request: BatchRequest | None) -> None:
        if request is None:
            return
        self.cancels = {prefix: threading.Event() for prefix in prefixes}
        self.query_one(BatchPanel).start([(p, self.name_of(p)) for p in prefixes])
        self.batch = self.pack_batch(prefixes, request, self.cancels)

    @work(thread=True, exclusive=True, exit_on_error=False, group="batch")
    def pack_batch(
        self, prefixes: list[str], request: BatchRequest, cancels: dict[str, threading.Event]
    ) -> None:
        run_batch(self.post_message, prefixes, request, cancels)

    def on_batch_state(self, message: BatchState) -> None:
        self.query_one(BatchPanel).say(message.prefix, message.state, message.detail)

    def on_job_progress(self, message: JobProgress) -> None:
        message.stop()
        cancel = self.cancels.get(message.job)
        if self.packing and cancel is not None and not cancel.is_set():
            self.query_one(BatchPanel).progress(message.job, message.progress)

    def action_cancel_one(self) -> None:
        """The highlighted environment's pack; the others go on."""
        prefix = self.cursor_prefix()
        if self.packing and prefix in self.cancels and not self.cancels[prefix].is_set():
            self.cancels[prefix].set()
            self.query_one(BatchPanel).say(prefix, "cancelling")

    def action_cancel_all(self) -> None:
        if not self.packing:
            return
        for prefix, cancel in self.cancels.items():
            if not cancel.is_set():
                cancel.set()
                self.query_one(BatchPanel).say(prefix, "cancelling")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is self.batch and event.state is WorkerState.SUCCESS:
            self.notify("Every marked environment is done.", title="Pack")
        elif event.worker is self.batch and event.state is WorkerState.ERROR:
            self.notify(str(event.worker.error), title="Pack", severity="error")
