"""The Untracked tab: files no package owns, who installed them, and what to do with them."""

from __future__ import annotations

from collections.abc import Callable

from conda_package.core import (
    RemovalResult,
    default_backup_path,
    remove_untracked,
)
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from .display import count, human_bytes
from .messages import ShowFile
from .modals import ConfirmRemovalModal, RemovalChoice, show_failure
from .model import LoadedEnvironment
from .rows import Column, RowsTable

COLUMNS = (
    Column("path"),
    Column("size", 9, "right", lambda n: Text(human_bytes(n))),  # type: ignore[arg-type]
    Column("installed by", 22, format=lambda by: Text(str(by)) if by else Text("unknown", "dim")),
)


class EnvironmentChanged(Message):
    """Files were removed: the screen reloads the environment."""


class UntrackedPane(Vertical):
    """Both actions run in thread workers; the table stays usable meanwhile."""

    def __init__(self, clock: Callable[[], float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.loaded: LoadedEnvironment | None = None
        self.worker: Worker | None = None

    def compose(self) -> ComposeResult:
        yield Static("Known when the walk of the files ends…", id="untracked-summary")
        yield RowsTable(COLUMNS, id="untracked-table")
        with Horizontal(classes="buttons"):
            # The Pack tab makes the package: its form, progress and outcome are the same.
            yield Button(
                "Build package…", id="build-package", compact=True, action="screen.build_package"
            )
            yield Button("Remove…", id="remove-untracked", variant="error", compact=True)
        yield Static(id="untracked-status")

    def show_environment(self, loaded: LoadedEnvironment) -> None:
        self.loaded = loaded
        env = loaded.env
        table = self.query_one("#untracked-table", RowsTable)
        rows = loaded.untracked_rows
        table.set_rows(rows)
        total = sum(row[1] for row in rows)
        if env.untracked:
            summary = f"{count(len(env.untracked), 'untracked file')}, {human_bytes(total)}"
            if env.pip_owners:
                summary += f"; {len(env.pip_owners):,} installed by pip"
        else:
            summary = "No untracked files: every file belongs to a package."
        self.query_one("#untracked-summary", Static).update(Text(summary))
        table.display = bool(env.untracked)
        self.set_buttons()

    @on(RowsTable.Selected, "#untracked-table")
    def show_in_files(self, event: RowsTable.Selected) -> None:
        self.post_message(ShowFile(str(event.row[0])))

    @property
    def busy(self) -> bool:
        return self.worker is not None and not self.worker.is_finished  # pending or running

    def set_buttons(self) -> None:
        usable = self.loaded is not None and bool(self.loaded.env.untracked) and not self.busy
        for button in self.query(Button):
            button.disabled = not usable

    def cancel(self) -> bool:
        """Removal cannot be interrupted halfway; nothing here to stop."""
        return False

    def say(self, text: str) -> None:
        self.query_one("#untracked-status", Static).update(Text(text))

    # removing the files

    @on(Button.Pressed, "#remove-untracked")
    def ask_remove(self) -> None:
        if self.loaded is None or not self.loaded.env.untracked or self.busy:
            return
        env = self.loaded.env
        backup = default_backup_path(env, self.clock())
        self.app.push_screen(
            ConfirmRemovalModal(len(env.untracked), env.prefix, backup), self.start_removal
        )

    def start_removal(self, choice: RemovalChoice | None) -> None:
        if choice is None or self.loaded is None:
            return
        self.say("Removing…")
        self.worker = self.remove(self.loaded, choice.backup)
        self.set_buttons()

    @work(thread=True, exclusive=True, exit_on_error=False, group="remove")
    def remove(self, loaded: LoadedEnvironment, backup: str | None) -> RemovalResult:
        return remove_untracked(loaded.env, backup)

    # outcomes

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker or event.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        ):
            return  # judged by the event's state: the worker may have moved on since
        event.stop()
        self.set_buttons()
        self.say("")
        error = event.worker.error
        if event.state is WorkerState.SUCCESS:
            result = event.worker.result
            if isinstance(result, RemovalResult):
                self.show_removal(result)
        else:
            show_failure(self.app, "Cannot remove", error)

    def show_removal(self, result: RemovalResult) -> None:
        message = f"Removed {count(len(result.removed_files), 'file')}"
        if result.removed_dirs:
            message += f" and {count(len(result.removed_dirs), 'empty folder')}"
        message += f"; backup: {result.backup}" if result.backup else "; no backup was kept"
        self.notify(message, title="Untracked files")
        self.post_message(EnvironmentChanged())
