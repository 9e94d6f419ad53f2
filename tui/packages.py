"""The Packages tab: every installed package in a table sorted from its column headers,
and under it the highlighted one in full (the table cuts long names to fit 80 columns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from conda_package.core import PackageRecord
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from .display import count, elide_middle, human_bytes
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
        self.records: dict[str, PackageRecord] = {}
        self.sizes: dict[str, int] = {}  # bytes on disk, once the walk is done

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(f"{label} ", key=key)  # a cell kept free for the arrow
        self.show_sort()

    def show_records(self, records: tuple[PackageRecord, ...]) -> None:
        """The packages as soon as conda-meta/ is read; sizes wait for the walk."""
        self.clear()
        self.records = {record.name: record for record in records}
        self.sizes = {}
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
        self.sizes = loaded.package_sizes
        for name in names:
            self.update_cell(name, "size", size_cell(loaded.package_sizes[name]), update_width=True)
        self.apply_sort()

    def apply_sort(self) -> None:
        """Sorted anew: the row under the cursor changed, so the details say so too."""
        self.sort(self.sort_key, reverse=self.sort_reverse)
        self.show_sort()
        if self.row_count:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
            self.post_message(DataTable.RowHighlighted(self, self.cursor_row, key))

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


class PackagesPane(Vertical):
    """The table, and the highlighted package's name, version, build, channel, file count
    and size, whole: a name cut to "python-…-3.7.12" is read here."""

    def compose(self) -> ComposeResult:
        yield PackagesTable(id="packages-table")
        yield Static(id="package-details")

    @on(DataTable.RowHighlighted, "#packages-table")
    def show_details(self, event: DataTable.RowHighlighted) -> None:
        table = self.query_one(PackagesTable)
        record = table.records.get(str(event.row_key.value))
        if record is None:  # a row of the last load, highlighted before the reload
            return
        size = table.sizes.get(record.name)
        channel = record.channel_name  # often with the subdir already: conda-forge/noarch
        if record.subdir and not channel.endswith(record.subdir):
            channel = f"{channel}/{record.subdir}".lstrip("/")
        text = Text.assemble((record.name, "bold"), f" {record.version}  build {record.build}")
        text.append(f"\n{channel or 'no channel'} · {count(len(record.path_items), 'file')}")
        text.append(f" · {human_bytes(size) if size is not None else '…'}")
        self.query_one("#package-details", Static).update(text)
