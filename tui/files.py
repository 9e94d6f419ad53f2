"""The Files tab: the prefix as a tree, largest first, with badges and a details panel.

Folders are filled in when opened, so an environment of 11,000 files costs only the
nodes on screen; the filter builds a smaller index of the matching paths and shows that,
in a thread worker: on 126,000 files that takes a quarter of a second, too long for keys
to wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from conda_package.core import FileAnalysis, Finding, RelocationReport
from rich.cells import cell_len
from rich.text import Text, TextType
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Region
from textual.timer import Timer
from textual.widgets import Input, Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import Worker, WorkerState, get_current_worker

from .display import count, elide_middle, human_bytes, shorten
from .file_details import file_details
from .model import FileIndex, LoadedEnvironment

BADGE_STYLE = {
    "untracked": "yellow",
    "modified": "red",
    "text-prefix": "cyan",
    "binary-prefix": "magenta",
    "elf": "green",
}
# The same badges in fewer columns, for narrow trees: a name keeps at least NAME_ROOM.
SHORT_BADGE = {
    "untracked": "untr",
    "modified": "mod",
    "text-prefix": "txt-pfx",
    "binary-prefix": "bin-pfx",
    "elf": "elf",
}
NAME_ROOM = 10
SIZE_COLUMN = 12  # "  1.3 KiB" right-aligned in 10, and two spaces
EXPAND_ALL_BELOW = 200  # a filter matching fewer files opens every folder on the way


class FilesTree(Tree[str]):
    """A Tree of labels that FilesPane.label makes one line long: kept as they are (Tree
    splits every label into lines, a copy each), and measured from their text rather than
    by rendering each one whenever the tree's lines are built."""

    adding_nodes = False  # set by adding(), before any node

    def process_label(self, label: TextType) -> Text:
        if isinstance(label, Text) and "\n" not in label.plain:
            return label
        return super().process_label(label)

    def get_label_width(self, node: TreeNode[str]) -> int:
        label = node.label
        width = label.cell_len if isinstance(label, Text) else cell_len(label)
        return width + (cell_len(self.ICON_NODE) if node.allow_expand else 0)

    @contextmanager
    def adding(self) -> Iterator[None]:
        """Each node added asks for a refresh (1,585 entries: 8 of a folder's 23 ms to
        open): one at the end is enough."""
        self.adding_nodes = True
        try:
            yield
        finally:
            self.adding_nodes = False
            self.refresh(layout=True)

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> FilesTree:
        if self.adding_nodes:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)


@dataclass(frozen=True)
class PendingFilter:
    """The newest filter, matching in `worker`: only its result is shown."""

    needle: str
    worker: Worker[FileIndex | None]
    opened: set[str] = field(default_factory=set)  # folders to open again in its tree


class FilesPane(Horizontal):
    """Tree on the left, details of the highlighted path on the right."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.loaded: LoadedEnvironment | None = None
        self.report: RelocationReport | None = None
        self.findings: dict[str, list[Finding]] = {}
        self.index: FileIndex | None = None
        self.untracked: frozenset[str] = frozenset()
        self.modified: frozenset[str] = frozenset()
        self.filter_timer: Timer | None = None
        self.pending: PendingFilter | None = None
        self.files_tree = FilesTree("", data="", id="files-tree")  # labels ask its width
        self.files_tree.guide_depth = 2

    def compose(self) -> ComposeResult:
        with Vertical(id="files-left"):
            yield Input(placeholder="/ filter: part of a path", id="files-filter", compact=True)
            yield Static(id="files-summary")
            yield self.files_tree
        with VerticalScroll(id="file-details-scroll"):
            yield Static("Highlight a file to see its details.", id="file-details")

    def show_environment(self, loaded: LoadedEnvironment) -> None:
        self.loaded = loaded
        self.report = None
        self.findings = {}
        self.untracked = frozenset(loaded.env.untracked)
        self.modified = frozenset(loaded.env.modified)
        self.apply_filter(self.query_one("#files-filter", Input).value, keep_open=True)
        if self.pending is not None:  # no node of the last load's files until it matches
            self.files_tree.clear()

    def show_report(self, report: RelocationReport) -> None:
        """Badges such as "elf" need the analysis: relabel the nodes that exist so far."""
        self.report = report
        self.findings = {}
        for finding in report.findings:
            self.findings.setdefault(finding.path, []).append(finding)
        tree = self.query_one("#files-tree", Tree)
        stack = list(tree.root.children)
        width = self.tree_width()
        while stack:
            node = stack.pop()
            node.set_label(self.label(node.data or "", width))
            stack.extend(node.children)
        if tree.cursor_node is not None:
            self.show_details(tree.cursor_node.data or "")

    # the tree

    def show_walk(self, prefix: str, index: FileIndex) -> None:
        """The files the walk has found so far: sizes and names; owners come at its end."""
        if self.loaded is None:
            self.index = index
            summary = f"{count(index.counts[''], 'file')} so far, largest first; walking…"
            self.redraw(prefix, summary, opened=self.open_folders())

    def apply_filter(self, text: str, keep_open: bool = False) -> None:
        """No filter shows the whole index at once; any other is matched in a worker, and
        a newer filter replaces it (its result, even if already on its way, is dropped)."""
        if self.loaded is None:
            return
        env = self.loaded.env
        needle = text.strip().lower()
        opened = self.open_folders() if keep_open else set()
        if not needle:
            self.pending = None
            self.workers.cancel_group(self, "files-filter")
            self.index = self.loaded.index
            summary = f"{count(len(env.files), 'file')}, largest first"
            self.redraw(env.prefix, summary, opened=opened)
            return
        self.summary(f"matching {needle!r}…")
        self.pending = PendingFilter(needle, self.match(self.loaded, needle), opened)

    @work(thread=True, exclusive=True, group="files-filter")
    def match(self, loaded: LoadedEnvironment, needle: str) -> FileIndex | None:
        """The index of the files whose path contains `needle` (None once replaced)."""
        env = loaded.env
        matches = [p for p in env.files if needle in p.lower()]
        if get_current_worker().is_cancelled:
            return None
        return FileIndex.build(env.files, env.dirs, matches, loaded.index)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        pending = self.pending
        if pending is None or event.worker is not pending.worker:
            return  # another worker, or a filter since replaced
        if event.state is WorkerState.SUCCESS and self.loaded is not None:
            self.pending = None
            self.index = pending.worker.result
            assert self.index is not None
            matched = self.index.counts[""]
            summary = f"{count(matched, 'file')} match {pending.needle!r}"
            expand_all = matched < EXPAND_ALL_BELOW
            self.redraw(self.loaded.env.prefix, summary, expand_all, pending.opened)

    def summary(self, text: str) -> None:
        self.query_one("#files-summary", Static).update(Text(text, style="dim"))

    def open_folders(self) -> set[str]:
        """The folders open in the tree now, to open again in the next one."""
        opened: set[str] = set()
        stack = list(self.files_tree.root.children)
        while stack:
            node = stack.pop()
            if node.is_expanded:
                opened.add(node.data or "")
                stack.extend(node.children)
        return opened

    def redraw(
        self, prefix: str, summary: str, expand_all: bool = False, opened: set[str] | None = None
    ) -> None:
        """The tree anew from self.index, with the folders in `opened` open."""
        assert self.index is not None
        self.summary(summary)
        tree = self.files_tree
        tree.clear()
        room = self.label_room("", self.tree_width()) + tree.guide_depth - 2  # no guide, a mark
        shown = shorten(prefix, max(NAME_ROOM, room))
        tree.root.set_label(
            Text.assemble((f"{human_bytes(self.index.sizes['']):>10}  ", "dim"), (shown, "bold"))
        )
        self.populate(tree.root, expand_all=expand_all, opened=opened)
        tree.root.expand()

    def populate(
        self, node: TreeNode[str], expand_all: bool = False, opened: set[str] | None = None
    ) -> None:
        """Add a folder's entries to its node; done once, when the folder is first opened
        (and again for the folders in `opened` when the tree is redrawn)."""
        with self.files_tree.adding():
            self.add_entries(node, self.tree_width(), expand_all, opened)

    def add_entries(
        self, node: TreeNode[str], width: int, expand_all: bool, opened: set[str] | None
    ) -> None:
        assert self.index is not None
        for path in self.index.listing(node.data or ""):
            if self.index.is_dir(path):
                has_entries = bool(self.index.children[path])
                child = node.add(self.label(path, width), data=path, allow_expand=has_entries)
                if expand_all or (opened and path in opened and has_entries):
                    self.add_entries(child, width, expand_all, opened)
                    child.expand()
            else:
                node.add_leaf(self.label(path, width), data=path)

    def reveal(self, path: str) -> None:
        """Open the folders down to `path`, put the cursor on it and show its details
        (the filter is cleared if it hides the path, or may: still matching)."""
        if self.loaded is None:
            return
        assert self.index is not None
        if self.pending is not None or path not in self.index.sizes:
            field = self.query_one("#files-filter", Input)
            with field.prevent(Input.Changed):
                field.value = ""
            self.apply_filter("", keep_open=True)
        tree: Tree[str] = self.query_one("#files-tree", Tree)
        node = tree.root
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            if node is not tree.root and not node.children:
                self.populate(node)
            node.expand()
            wanted = "/".join(parts[:depth])
            child = next((c for c in node.children if c.data == wanted), None)
            if child is None:
                break
            node = child
        tree.last_line  # noqa: B018 (lays the tree out, so that the node has a line)
        tree.move_cursor(node)
        tree.focus()
        self.show_details(node.data or "")

    @on(Tree.NodeExpanded, "#files-tree")
    def expand(self, event: Tree.NodeExpanded[str]) -> None:
        if event.node is not event.node.tree.root and not event.node.children:
            self.populate(event.node)

    def tree_width(self) -> int:
        """Columns for the tree's lines (a hidden tab has no size yet: then from the
        screen's width, of which the tree is ~60%). Asked once per batch of labels."""
        width = self.files_tree.scrollable_content_region.width
        return width if width > 0 else int((self.app.size.width - 2) * 0.6) - 3

    def label_room(self, path: str, width: int) -> int:
        """Columns left for a name and its badges: the line less this depth's guides and
        the size column."""
        return width - self.files_tree.guide_depth * (path.count("/") + 1) - SIZE_COLUMN

    def label(self, path: str, width: int) -> Text:
        """Size, name, badges, owner; a long name is cut in the middle and the badges
        shortened so that they always show whole (the details panel has them in full); the
        owner goes if there is no room."""
        assert self.index is not None
        name = path.rpartition("/")[2]
        room = self.label_room(path, width)
        text = Text(f"{human_bytes(self.index.sizes[path]):>10}  ", style="dim")
        if self.index.is_dir(path):
            room -= 2  # the folder's open/closed mark
            text.append(f"{elide_middle(name, max(NAME_ROOM - 2, room - 1))}/", style="bold")
            return text
        badges = self.badges(path) if self.loaded is not None else []
        shown = {badge: badge for badge in badges}
        width = sum(len(badge) + 3 for badge in badges)
        if room - width < min(len(name), NAME_ROOM):
            shown = {badge: SHORT_BADGE[badge] for badge in badges}
            width = sum(len(short) + 3 for short in shown.values())
        text.append(elide_middle(name, max(5, room - width)))
        for badge, label in shown.items():
            text.append(" ")
            text.append(f"[{label}]", style=BADGE_STYLE[badge])
        owner = self.owner(path) if self.loaded is not None else ""
        if owner and len(name) + width + len(owner) + 2 <= room:
            text.append(f"  {owner}", style="dim italic")
        return text

    # what is known of one file

    def analysis(self, path: str) -> FileAnalysis | None:
        return self.report.files.get(path) if self.report is not None else None

    def prefix_mode(self, path: str) -> str | None:
        """text or binary: from the analysis when done, until then from the package record."""
        found = self.analysis(path)
        if found is not None:
            return found.prefix_mode
        assert self.loaded is not None
        entry = self.loaded.path_entries.get(path)
        if entry is None or not entry.prefix_placeholder:
            return None
        return entry.file_mode or "text"

    def badges(self, path: str) -> list[str]:
        found = []
        if path in self.untracked:
            found.append("untracked")
        if path in self.modified:
            found.append("modified")
        mode = self.prefix_mode(path)
        if mode in ("text", "binary"):
            found.append(f"{mode}-prefix")
        analysed = self.analysis(path)
        if analysed is not None and analysed.kind == "elf":
            found.append("elf")
        return found

    def owner(self, path: str) -> str:
        assert self.loaded is not None
        env = self.loaded.env
        record = env.owners.get(path)
        if record is not None:
            return record.name
        pip = env.pip_owners.get(path)
        return str(pip) if pip is not None else ""

    @on(Tree.NodeHighlighted, "#files-tree")
    def highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        self.show_details(event.node.data or "")

    def show_details(self, path: str) -> None:
        if self.loaded is None or self.index is None:
            return
        details = file_details(
            self.loaded,
            self.index,
            path,
            self.badges(path),
            self.analysis(path),
            self.report is not None,
            self.findings.get(path, ()),
        )
        self.query_one("#file-details", Static).update(details)

    # the filter

    @on(Input.Changed, "#files-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        """Wait for a pause in typing: each rebuild replaces the whole tree."""
        if self.filter_timer is not None:
            self.filter_timer.stop()
        self.filter_timer = self.set_timer(0.15, lambda: self.apply_filter(event.value))

    @on(Input.Submitted, "#files-filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        if self.filter_timer is not None:
            self.filter_timer.stop()
        self.apply_filter(event.value)
        self.query_one("#files-tree", Tree).focus()
