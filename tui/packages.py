"""The Packages tab: every installed package in a table sorted from its column headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from conda_package.core import PackageRecord
from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from .display import elide_middle, human_bytes
from .model import LoadedEnvironment

COLUMNS = (
    ("name", "name"),
    ("version", "version"),
    ("build", "build"),
    ("channel", "channel"),
    ("files", "files"),
    ("size", "size"),
)
ARROWS = {False: "▲", True: "▼"}


@dataclass(frozen=True, order=True)
class Number:
    """A right-aligned cell that sorts by its value, not by its text ("9 MiB" < "10 MiB")."""

    value: int
    text: str = field(compare=False)

    def __rich__(self) -> Text:
        return Text(self.text, justify="right")


@dataclass(frozen=True, order=True)
class Name:
    """A cell that sorts by its full text and shows at most `width` characters, cut in the
    middle ("python-…-3.7.12"), so that the six columns fit in 80 columns."""

    value: str
    width: int = field(compare=False)

    def __rich__(self) -> Text:
        return Text(elide_middle(self.value, self.width))

    def __str__(self) -> str:
        return self.value


# At 80 columns: 78 inside the border and scrollbar, 12 of them cell padding.
WIDTHS = {"name": 18, "version": 10, "build": 13, "channel": 9}


def size_cell(n: int) -> Number:
    return Number(n, human_bytes(n))


UNKNOWN_SIZE = Number(-1, "…")  # until the walk has seen the files


class PackagesTable(DataTable):
    """Click a header to sort by it, click it again to reverse; `s` and `r` do the same."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "next_sort", "Sort"),
        Binding("r", "reverse_sort", "Reverse", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.sort_key = "name"
        self.sort_reverse = False

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(f"{label} ", key=key)  # a cell kept free for the arrow
        self.show_sort()

    def show_records(self, records: tuple[PackageRecord, ...]) -> None:
        """The packages as soon as conda-meta/ is read; sizes wait for the walk."""
        self.clear()
        for record in records:
            self.add_row(
                Name(record.name, WIDTHS["name"]),
                Name(record.version, WIDTHS["version"]),
                Name(record.build, WIDTHS["build"]),
                Name(record.channel_name, WIDTHS["channel"]),
                Number(len(record.path_items), f"{len(record.path_items):,}"),
                UNKNOWN_SIZE,
                key=record.name,
            )
        self.apply_sort()

    def show_environment(self, loaded: LoadedEnvironment) -> None:
        """Sizes into the rows already shown, so the cursor stays where the user put it."""
        names = {record.name for record in loaded.env.records}
        if {row.value for row in self.rows} != names:
            self.show_records(loaded.env.records)
        for name in names:
            self.update_cell(name, "size", size_cell(loaded.package_sizes[name]), update_width=True)
        self.apply_sort()

    def apply_sort(self) -> None:
        self.sort(self.sort_key, reverse=self.sort_reverse)
        self.show_sort()

    def show_sort(self) -> None:
        """The arrow is the cue that works without colour."""
        for label, key in COLUMNS:
            arrow = ARROWS[self.sort_reverse] if key == self.sort_key else " "
            self.columns[key].label = Text(f"{label}{arrow}")  # type: ignore[index]
        self.refresh()

    def sort_by(self, key: str) -> None:
        """Sort by a column; the same column again reverses the order."""
        self.sort_reverse = not self.sort_reverse if key == self.sort_key else False
        self.sort_key = key
        self.apply_sort()

    @on(DataTable.HeaderSelected)
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    def action_next_sort(self) -> None:
        keys = [key for _, key in COLUMNS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self.sort_reverse = False
        self.apply_sort()

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_key)
