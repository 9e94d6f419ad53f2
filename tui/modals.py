"""Dialogs: errors, help, opening a prefix, confirming removal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from conda_package.core import CondaPackageError, check_prefix
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, Switch

from .forms import CoreCheck, FieldError, WordSwitch, field_row

Result = TypeVar("Result")


class MessageModal(ModalScreen[None]):
    """Shows one of core's one-line errors, or the outcome of a job; the app keeps running."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, title: str, message: str, *, error: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.error = error

    def compose(self) -> ComposeResult:
        glyph = "✗" if self.error else "✓"
        with Vertical(classes="dialog error-dialog" if self.error else "dialog"):
            yield Label(Text(f"{glyph} {self.title_text}"), classes="dialog-title")
            yield Static(Text(self.message), id="message")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)

    @on(Button.Pressed, "#ok")
    def close(self) -> None:
        self.dismiss()


def show_failure(app: App, title: str, error: BaseException | None) -> None:
    """A worker failed: core's errors say what to do; anything else is a bug, shown too."""
    if isinstance(error, CondaPackageError):
        message = str(error)
    else:
        message = f"unexpected {type(error).__name__}: {error}"
    app.push_screen(MessageModal(title, message))


class HelpScreen(ModalScreen[None]):
    """The keys, grouped by where they work: (section, rows of .key and .description),
    made from the bindings themselves (tui/keys.py)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close help")
    ]

    def __init__(self, sections: Sequence[tuple[str, Sequence[Any]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        parts: list[Text | Table] = []
        for section, rows in self.sections:
            parts.append(Text(section, style="underline"))
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold", no_wrap=True, width=12)
            table.add_column()
            for row in rows:
                table.add_row(Text(row.key), Text(row.description))
            parts.append(table)
        keys = Group(*parts)
        with Vertical(classes="dialog", id="help"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(keys, id="help-keys")
            yield Static("escape closes this help", classes="dialog-hint")


class Question(ModalScreen[Result]):
    """A dialog that ends in an answer or in nothing: escape and Cancel both dismiss it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Cancel")]

    @staticmethod
    def buttons(label: str, button_id: str, variant: str = "primary") -> Horizontal:
        """The answer's button, then Cancel."""
        return Horizontal(
            Button(label, id=button_id, variant=variant, compact=True),  # type: ignore[arg-type]
            Button("Cancel", id="cancel", compact=True),
            classes="dialog-buttons",
        )

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)


class OpenPrefixModal(Question[str | None]):
    """Asks for an environment's path; core's prefix check runs as the user types."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Open an environment by path", classes="dialog-title")
            yield Input(
                placeholder="/path/to/env",
                id="prefix",
                validators=[CoreCheck(check_prefix)],
                validate_on=["changed", "submitted"],
            )
            yield FieldError(id="prefix-error")
            yield self.buttons("Open", "open")

    @on(Input.Changed, "#prefix")
    def check(self, event: Input.Changed) -> None:
        self.query_one("#prefix-error", FieldError).show(
            event.validation_result if event.value else None
        )

    @on(Input.Submitted, "#prefix")
    @on(Button.Pressed, "#open")
    def submit(self) -> None:
        field = self.query_one("#prefix", Input)
        result = field.validate(field.value)
        self.query_one("#prefix-error", FieldError).show(result)
        if result is None or result.is_valid:
            self.dismiss(field.value.strip())


@dataclass(frozen=True)
class RemovalChoice:
    """The user confirmed; `backup` is where the files go first (None: no backup)."""

    backup: str | None


class ConfirmRemovalModal(Question[RemovalChoice | None]):
    """Says how many files go and where their backup is written before anything happens."""

    def __init__(self, count: int, prefix: str, backup: str) -> None:
        super().__init__()
        self.count = count
        self.prefix = prefix
        self.backup = backup

    def compose(self) -> ComposeResult:
        noun = "file" if self.count == 1 else "files"
        with Vertical(classes="dialog"):
            yield Label(f"Remove {self.count:,} untracked {noun}?", classes="dialog-title")
            yield Static(Text(f"from {self.prefix}"))
            with Vertical(classes="form"):
                yield field_row("Back up first", WordSwitch(value=True, id="keep-backup"))
                yield field_row("Backup archive", Input(self.backup, id="backup", compact=True))
            yield FieldError(id="backup-error")
            yield self.buttons("Remove", "remove", "error")

    @on(Switch.Changed, "#keep-backup")
    def toggle_backup(self, event: Switch.Changed) -> None:
        self.query_one("#backup", Input).disabled = not event.value

    @on(Button.Pressed, "#remove")
    def confirm(self) -> None:
        keep = self.query_one("#keep-backup", Switch).value
        backup = self.query_one("#backup", Input).value.strip()
        if keep and not backup:
            self.query_one("#backup-error", FieldError).say(
                "give the backup's path, or turn the backup off"
            )
            return
        self.dismiss(RemovalChoice(backup if keep else None))
