"""The Overview tab: the environment at a glance, findings added when the analysis ends."""

from __future__ import annotations

from conda_package.core import PackageDiagnosis, Progress, RelocationReport, Severity
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import ProgressBar, Static

from .display import SEVERITY_GLYPH, SEVERITY_ORDER, SEVERITY_STYLE, count, human_bytes
from .model import LoadedEnvironment


def findings_summary(report: RelocationReport) -> Text:
    """'✗ 2 errors  ! 5 warnings  i 1 info': the glyph and the word carry the severity."""
    text = Text()
    for severity in SEVERITY_ORDER:
        n = report.count(Severity(severity))
        label = f"{n:,} info" if severity == "info" else count(n, severity)
        text.append(f"{SEVERITY_GLYPH[severity]} {label}", SEVERITY_STYLE[severity] if n else "dim")
        text.append("   ")
    text.rstrip()
    return text


def changed_packages(packages: tuple[PackageDiagnosis, ...]) -> Text:
    """Each package with missing or changed files: why, and the fix, in the user's words."""
    text = Text()
    for d in packages:
        text.append(f"{d.package.dist}", "bold yellow")
        text.append(f": {d.reason}\n")
        text.append(f"  fix: {d.fix}\n", "italic")
    text.rstrip()
    return text


def room_text(room: int | None) -> str:
    if room is None:
        return "any length (no binary file holds the prefix)"
    return f"{room} bytes"


class OverviewPane(VerticalScroll):
    """Facts from loading at once; the analysis line fills in when its worker finishes."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.loaded: LoadedEnvironment | None = None
        self.report: RelocationReport | None = None
        self.analysis_state = "waiting for the environment"

    def compose(self) -> ComposeResult:
        yield Static("Reading the environment… (the bar below shows how far)", id="overview-facts")
        yield ProgressBar(id="analysis-progress", show_eta=False)

    def show_environment(self, loaded: LoadedEnvironment) -> None:
        self.loaded = loaded
        self.show_analysing()

    def show_analysing(self) -> None:
        self.report = None
        self.analysis_state = "analysing…"
        bar = self.query_one("#analysis-progress", ProgressBar)
        bar.update(total=1, progress=0)
        bar.display = True
        self.refresh_facts()

    def show_progress(self, progress: Progress) -> None:
        bar = self.query_one("#analysis-progress", ProgressBar)
        bar.update(total=max(1, progress.total_files), progress=progress.done_files)
        self.analysis_state = (
            f"analysing… {progress.done_files:,} of {progress.total_files:,} files"
        )
        self.refresh_facts()

    def show_report(self, report: RelocationReport) -> None:
        self.report = report
        self.query_one("#analysis-progress", ProgressBar).display = False
        self.refresh_facts()

    def show_failure(self, message: str) -> None:
        self.analysis_state = f"analysis failed: {message}"
        self.query_one("#analysis-progress", ProgressBar).display = False
        self.refresh_facts()

    def refresh_facts(self) -> None:
        if self.loaded is None:
            return
        env = self.loaded.env
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        pip = len(env.pip_owners)
        untracked = count(len(env.untracked), "file")
        if pip:
            untracked += f" ({pip:,} installed by pip)"
        table.add_row("prefix", Text(env.prefix))
        if self.loaded.demo:
            table.add_row(
                "demo",
                Text("yes: made by conda-package; its edits and findings are staged", style="bold"),
            )
        table.add_row("packages", f"{len(env.records):,}")
        table.add_row(
            "files", f"{count(len(env.files), 'file')} in {count(len(env.dirs), 'folder')}"
        )
        table.add_row("size on disk", human_bytes(self.loaded.size))
        table.add_row("untracked", untracked)
        table.add_row("missing", count(len(env.missing), "file"))
        table.add_row("modified", count(len(env.modified), "file"))
        table.add_row("subdir", env.subdir)
        table.add_row("python", env.python_version or "none")
        if self.report is None:
            table.add_row("findings", Text(self.analysis_state, style="italic"))
        else:
            table.add_row("findings", findings_summary(self.report))
            table.add_row("longest target prefix", room_text(self.report.room))
        # Last, being long. The analysis knows more (sha256 of prefix files); until then,
        # what the load saw.
        packages = self.report.packages if self.report is not None else self.loaded.diagnosis
        if packages:
            table.add_row("changed packages", changed_packages(packages))
        self.query_one("#overview-facts", Static).update(table)
