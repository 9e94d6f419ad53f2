"""A table that draws only the rows on screen, for lists of any length (untracked files).

DataTable measures and keeps renderables for every row: 115,000 untracked files took it
25 s and hundreds of MB. Here the rows are plain tuples; a row becomes text only when it
is on screen, and column widths come from the table's width, not from the cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .display import elide_middle

Row = tuple[object, ...]


@dataclass(frozen=True)
class Column:
    """`width` None: the column takes what the others leave; long text is cut in the middle."""

    label: str
    width: int | None = None
    justify: str = "left"
    format: Callable[[object], Text] = lambda value: Text(str(value))


class RowsTable(ScrollView, can_focus=True):
    """Rows of plain values, a header and a row cursor; the mouse selects and scrolls."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rows--header",
        "rows--cursor",
        "rows--even",
    }
    DEFAULT_CSS = """
    RowsTable {
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    RowsTable > .rows--header {
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    RowsTable > .rows--even {
        background: $surface-lighten-1 20%;
    }
    RowsTable > .rows--cursor {
        background: $block-cursor-blurred-background;
    }
    RowsTable:focus > .rows--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """

    cursor_row: reactive[int] = reactive(0)

    class Selected(Message):
        """Enter (or a click on the row under the cursor) on a row."""

        def __init__(self, table: RowsTable, row: Row) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> RowsTable:
            return self.table

    def __init__(self, columns: Sequence[Column], **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns = tuple(columns)
        self.rows: Sequence[Row] = ()

    # contents

    def set_rows(self, rows: Sequence[Row]) -> None:
        self.rows = rows
        self.cursor_row = 0
        self.scroll_to(0, 0, animate=False)
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def get_row_at(self, index: int) -> list[Text]:
        """What the row shows, cell by cell (its full text, before any cut)."""
        return [c.format(v) for c, v in zip(self.columns, self.rows[index], strict=True)]

    def widths(self) -> list[int]:
        """Fixed columns get their width; the free ones share the rest (at least 8)."""
        room = self.scrollable_content_region.width - len(self.columns)  # a space between
        fixed = sum(c.width or 0 for c in self.columns)
        free = [c for c in self.columns if c.width is None]
        share = max(8, (room - fixed) // max(1, len(free)))
        return [c.width if c.width is not None else share for c in self.columns]

    # drawing

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        widths = self.widths()
        if y == 0:
            cells = [Text(c.label, justify=c.justify) for c in self.columns]  # type: ignore[arg-type]
            style = self.get_component_rich_style("rows--header")
        else:
            index = round(self.scroll_offset.y) + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, self.rich_style)
            cells = self.get_row_at(index)
            for cell, column in zip(cells, self.columns, strict=True):
                cell.justify = column.justify  # type: ignore[assignment]
            style = self.rich_style
            if index % 2:
                style += self.get_component_rich_style("rows--even")
            if index == self.cursor_row:
                style += self.get_component_rich_style("rows--cursor")
        segments: list[Segment] = []
        for cell, cell_width in zip(cells, widths, strict=True):
            segments += self.cell_segments(cell, cell_width)
            segments.append(Segment(" "))
        return Strip(Segment.apply_style(segments, style)).adjust_cell_length(width, style)

    def cell_segments(self, cell: Text, width: int) -> list[Segment]:
        if cell.cell_len > width:
            cell = Text(elide_middle(cell.plain, width), style=cell.style)
        if cell.justify == "right":
            cell.pad_left(width - cell.cell_len)
        else:
            cell.pad_right(width - cell.cell_len)
        return list(cell.render(self.app.console))

    # the cursor

    def watch_cursor_row(self, old: int, new: int) -> None:
        top = round(self.scroll_offset.y)
        body = max(1, self.scrollable_content_region.height - 1)  # below the header
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + body:
            self.scroll_to(y=new - body + 1, animate=False)
        self.refresh()

    def move_cursor(self, row: int) -> None:
        if self.rows:
            self.cursor_row = max(0, min(len(self.rows) - 1, row))

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - max(1, self.scrollable_content_region.height - 2))

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + max(1, self.scrollable_content_region.height - 2))

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self.rows) - 1)

    def action_select(self) -> None:
        if self.rows:
            self.post_message(self.Selected(self, self.rows[self.cursor_row]))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0 or not self.rows:
            return
        row = round(self.scroll_offset.y) + event.y - 1
        if row < len(self.rows):
            if row == self.cursor_row and event.chain > 1:
                self.action_select()
            self.move_cursor(row)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)
