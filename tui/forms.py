"""Live validation for form fields: core's own checks, their one-line errors shown inline."""

from __future__ import annotations

from collections.abc import Callable

from conda_package.core import CondaPackageError, UsageError
from rich.table import Table
from rich.text import Text
from textual.app import RenderResult
from textual.containers import Horizontal
from textual.geometry import Size
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label, Static, Switch


def parse_int(value: str, what: str) -> int | None:
    """A whole number from a field, None when left empty (the default applies)."""
    text = value.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{what} must be a whole number, not {text!r}") from None


def field_row(label: str, control: Widget) -> Horizontal:
    """One line: the label, then its control; a FieldError may follow it."""
    return Horizontal(Label(label, classes="field-label"), control, classes="field")


def checked_field(
    label: str,
    field_id: str,
    check: Callable[[str], object],
    value: str = "",
    placeholder: str = "",
) -> tuple[Horizontal, FieldError]:
    """A labelled input checked by core as the user types, and the line for its error
    (`#<field_id>-error`)."""
    control = Input(
        value, id=field_id, compact=True, placeholder=placeholder, validators=[CoreCheck(check)]
    )
    return field_row(label, control), FieldError(id=f"{field_id}-error")


class CoreCheck(Validator):
    """Runs a check as the user types; the CondaPackageError it raises is the message.

    Core owns the rules (levels, names, prefixes), so the form can never disagree with
    what the job itself would accept.
    """

    def __init__(self, check: Callable[[str], object]) -> None:
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        try:
            self.check(value)
        except CondaPackageError as exc:
            return self.failure(str(exc))
        return self.success()


class FieldError(Static):
    """The line under a field saying what is wrong with it; hidden while the value is fine."""

    DEFAULT_CSS = """
    FieldError { color: $text-error; display: none; }
    """

    def show(self, result: ValidationResult | None) -> None:
        """Show a validator's verdict (None clears the line)."""
        self.say(result.failure_descriptions[0] if result and not result.is_valid else None)

    def say(self, message: str | None) -> None:
        self.update(Text(f"✗ {message}" if message else ""))
        self.display = bool(message)


class WordSwitch(Switch):
    """A switch that also says "on" or "off": its slider alone is only a colour."""

    def render(self) -> RenderResult:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=4)
        grid.add_column()
        grid.add_row(super().render(), Text("on" if self.value else "off"))
        return grid

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return 8
