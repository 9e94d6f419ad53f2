"""The Relocation tab: the analysis' findings by severity and file, each with its hint."""

from __future__ import annotations

from typing import ClassVar

from conda_package.core import Finding, Progress, RelocationReport, Severity
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static, Tree

from .display import SEVERITY_GLYPH, SEVERITY_ORDER, SEVERITY_STYLE, count
from .messages import ShowFile
from .overview import findings_summary, room_text

EXPAND_FILES_BELOW = 60  # with more findings, files stay closed until opened
ENVIRONMENT = "(the environment)"  # the group of findings about no single file


def severity_label(severity: str, n: int) -> Text:
    noun = "info" if severity == "info" else f"{severity}s"
    return Text(f"{SEVERITY_GLYPH[severity]} {noun} ({n:,})", style=SEVERITY_STYLE[severity])


FindingData = Severity | Finding | str


class FindingsTree(Tree[FindingData]):
    """Enter on a file or one of its findings shows the file in the Files tab."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "show_file", "Show file"),
        Binding("space", "toggle_node", "Open or close", show=False),
    ]

    def action_show_file(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        data = node.data
        path = data.path if isinstance(data, Finding) else data
        if isinstance(path, str) and path and path != ENVIRONMENT:
            self.post_message(ShowFile(path))
        else:  # a severity, or a finding about the whole environment: open or close it
            node.toggle()


class RelocationPane(Vertical):
    """Findings in a tree; the highlighted one is spelt out in full below it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.by_path: dict[str, list[Finding]] = {}

    def compose(self) -> ComposeResult:
        yield Static("Analysing…", id="relocation-summary")
        tree = FindingsTree("findings", id="findings-tree")
        tree.show_root = False
        tree.guide_depth = 2
        yield tree
        with VerticalScroll(id="finding-detail-scroll"):
            yield Static(id="finding-detail")

    def show_progress(self, progress: Progress) -> None:
        self.query_one("#relocation-summary", Static).update(
            Text(f"Analysing… {progress.done_files:,} of {progress.total_files:,} files")
        )

    def show_analysing(self) -> None:
        self.query_one("#relocation-summary", Static).update(Text("Analysing…"))
        self.query_one("#findings-tree", Tree).clear()
        self.query_one("#finding-detail", Static).update("")

    def show_failure(self, message: str) -> None:
        self.query_one("#relocation-summary", Static).update(
            Text(f"✗ The analysis failed: {message}", style="red")
        )

    def show_report(self, report: RelocationReport) -> None:
        summary = Text.assemble(
            findings_summary(report),
            "\nLongest target prefix that fits: ",
            (room_text(report.room), "bold"),
        )
        if not report.findings:
            summary.append("\nNo findings: nothing stands in the way of moving this environment.")
        self.query_one("#relocation-summary", Static).update(summary)
        tree = self.query_one("#findings-tree", Tree)
        tree.clear()
        self.by_path = {}
        for finding in report.findings:
            self.by_path.setdefault(finding.path or ENVIRONMENT, []).append(finding)
        open_files = len(report.findings) < EXPAND_FILES_BELOW
        for severity in SEVERITY_ORDER:
            findings = [f for f in report.findings if f.severity.value == severity]
            if not findings:
                continue
            group = tree.root.add(severity_label(severity, len(findings)), data=Severity(severity))
            by_file: dict[str, list[Finding]] = {}
            for finding in findings:
                by_file.setdefault(finding.path or ENVIRONMENT, []).append(finding)
            for path, found in by_file.items():
                label = Text(path, style="bold")
                label.append(f"  {found[0].owner or 'untracked'}", style="dim italic")
                node = group.add(label, data=path, expand=open_files)
                for finding in found:
                    node.add_leaf(
                        Text.assemble(
                            (f"{SEVERITY_GLYPH[severity]} ", SEVERITY_STYLE[severity]),
                            f"{finding.code}: {finding.message}",
                        ),
                        data=finding,
                    )
                    node.add_leaf(Text(f"  hint: {finding.hint}", style="italic"), data=finding)
            group.expand()
        if report.findings:
            tree.move_cursor_to_line(0)

    @on(Tree.NodeHighlighted, "#findings-tree")
    def highlighted(self, event: Tree.NodeHighlighted[Severity | Finding | str]) -> None:
        data = event.node.data
        detail = self.query_one("#finding-detail", Static)
        if isinstance(data, Severity):
            files = count(len(event.node.children), "file")
            detail.update(Text(f"{files} with {data.value} findings; open one to see why"))
        elif isinstance(data, Finding):
            detail.update(finding_table([data]))
        elif data is not None:
            detail.update(finding_table(self.by_path.get(data, [])))


def finding_table(findings: list[Finding]) -> Table:
    """Every finding spelt out: the tree cuts long messages, this panel wraps them."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for i, finding in enumerate(findings):
        severity = finding.severity.value
        if i:
            table.add_row("", "")
        table.add_row(
            Text(f"{SEVERITY_GLYPH[severity]} {severity}", style=SEVERITY_STYLE[severity]),
            Text(finding.code),
        )
        table.add_row("file", Text(finding.path or ENVIRONMENT))
        table.add_row("owner", Text(finding.owner or "untracked"))
        table.add_row("finding", Text(finding.message))
        table.add_row("hint", Text(finding.hint))
    return table
