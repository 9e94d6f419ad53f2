"""One environment in tabs; loading and the relocation analysis run in thread workers."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import ClassVar

from conda_package.core import (
    AnalysisCache,
    Cancelled,
    PackageRecord,
    RelocationReport,
    analyse,
    default_cache,
    is_demo,
)
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import (
    Footer,
    Header,
    Input,
    ProgressBar,
    Static,
    Tab,
    TabbedContent,
    TabPane,
    Tabs,
    Tree,
)
from textual.worker import Worker, WorkerState, get_current_worker

from .display import count
from .files import FilesPane
from .messages import JobProgress, LeaveEnvironment, RecordsRead, ShowFile, WalkProgress
from .modals import show_failure
from .model import LoadedEnvironment, WalkState
from .overview import OverviewPane
from .packages import PackagesPane, PackagesTable
from .packing import PACKAGE, PackPane
from .relocation import RelocationPane
from .untracked import EnvironmentChanged, UntrackedPane

PROGRESS_EVERY_S = 0.25
# Each tab's main widget, focused when the tab is shown so that keys act on what is seen.
TAB_FOCUS = {
    "overview": "#overview-pane",
    "packages": "#packages-table",
    "files": "#files-tree",
    "untracked": "#untracked-table",
    "relocation": "#findings-tree",
    "pack": "#pack-format",  # the form from its top: what to make
}


class EnvironmentScreen(Screen[None]):
    """Tabs are filled as the workers report; nothing here blocks on the disk."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("p", "pack", "Pack"),
        Binding("a", "analyse", "Analyse"),
        Binding("u", "show_tab('untracked')", "Untracked", show=False),
        Binding("o", "app.open_prefix", "Open", show=False),
        *(
            Binding(str(n), f"show_tab('{tab}')", tab.capitalize(), show=False)
            for n, tab in enumerate(TAB_FOCUS, 1)
        ),
        Binding("down", "enter_tab", "Into the tab", show=False),
    ]

    def __init__(self, prefix: str, clock: Callable[[], float]) -> None:
        super().__init__()
        self.prefix = prefix
        self.clock = clock
        self.loaded: LoadedEnvironment | None = None
        self.tab_clicked = False
        self.progress_shown = 0.0
        self.cache: AnalysisCache | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs"):
            with TabPane("Overview", id="overview"):
                yield OverviewPane(id="overview-pane")
            with TabPane("Packages", id="packages"):
                yield PackagesPane(id="packages-pane")
            with TabPane("Files", id="files"):
                yield FilesPane(id="files-pane")
            with TabPane("Untracked", id="untracked"):
                yield UntrackedPane(self.clock, id="untracked-pane")
            with TabPane("Relocation", id="relocation"):
                yield RelocationPane(id="relocation-pane")
            with TabPane("Pack", id="pack"):
                yield PackPane(self.clock, id="pack-pane")
        with Horizontal(id="status-row"):
            yield Static(id="status")
            yield ProgressBar(id="job-progress", show_eta=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"demo: {self.prefix}" if is_demo(self.prefix) else self.prefix
        self.reload()

    def say(self, text: str) -> None:
        self.query_one("#status", Static).update(Text(text))

    def show_bar(self, done: int | None, total: int = 1) -> None:
        """The bar beside the status line: loading, then the analysis; None hides it."""
        bar = self.query_one("#job-progress", ProgressBar)
        bar.display = done is not None
        if done is not None:
            bar.update(total=max(1, total or 0), progress=done)  # never the animated one

    # loading

    def reload(self) -> None:
        gc.unfreeze()  # the last load may be garbage now: the collector may take it
        self.say(f"Loading {self.prefix}…")
        self.show_bar(0, 1)
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load(self) -> LoadedEnvironment:
        worker = get_current_worker()

        def records_read(records: tuple[PackageRecord, ...]) -> None:
            if worker.is_cancelled:  # a newer load replaced this one: stop the walk
                raise Cancelled("loading cancelled")
            self.post_message(RecordsRead(records))

        def walked(state: WalkState) -> None:
            if worker.is_cancelled:
                raise Cancelled("loading cancelled")
            self.post_message(WalkProgress(state))

        return LoadedEnvironment.load(self.prefix, records_read, walked)

    def on_records_read(self, message: RecordsRead) -> None:
        """On a network filesystem the walk takes seconds: show what is known already."""
        if self.loaded is not None:
            return  # loading again: the tabs show the last load until this one ends
        self.query_one(PackagesTable).show_records(message.records)
        self.show_bar(0, 1)
        self.say(f"{count(len(message.records), 'package')}; walking the files…")

    def on_walk_progress(self, message: WalkProgress) -> None:
        if self.loaded is None:
            state = message.state
            if state.index is not None:
                self.query_one(FilesPane).show_walk(self.prefix, state.index)
            # A bar that never animates: an animation redraws 30 times a second and slows
            # the walk, whose every lstat waits for the UI thread to give up the GIL.
            self.show_bar(state.folders_done, state.folders_found)
            packages = count(self.query_one(PackagesTable).row_count, "package")
            self.say(
                f"{packages}; walking: {count(state.files, 'file')},"
                f" {state.folders_done:,} of {count(state.folders_found, 'folder')} so far"
            )

    def end_loading(self) -> None:
        self.show_bar(None)

    def show_environment(self, loaded: LoadedEnvironment) -> None:
        self.loaded = loaded
        env = loaded.env
        self.end_loading()
        self.query_one(OverviewPane).show_environment(loaded)
        self.query_one(PackagesTable).show_environment(loaded)
        self.query_one(FilesPane).show_environment(loaded)
        self.query_one(UntrackedPane).show_environment(loaded)
        self.query_one(PackPane).show_environment(loaded)
        self.say(
            f"{count(len(env.records), 'package')}, {count(len(env.files), 'file')};"
            " analysing relocation…"
        )
        self.start_analysis()
        gc.freeze()  # see on_unmount

    def on_unmount(self) -> None:
        """The environment is frozen out of the collector's full passes while shown (each
        walked its 126,000 files' objects: 90-190 ms with the UI held, mid-filter or
        mid-scroll); they are given back when the screen goes, or the environment is
        loaded again, so that what it leaves in cycles can be collected."""
        gc.unfreeze()

    def on_environment_changed(self, _: EnvironmentChanged) -> None:
        self.reload()

    # the relocation analysis

    def start_analysis(self) -> None:
        if self.loaded is None:
            return
        self.show_bar(0, 1)
        self.query_one(OverviewPane).show_analysing()
        self.query_one(RelocationPane).show_analysing()
        self.analyse_environment(self.loaded)

    @work(thread=True, exclusive=True, exit_on_error=False, group="analysis")
    def analyse_environment(self, loaded: LoadedEnvironment) -> RelocationReport:
        """Reads every file that can matter: seconds on a cold cache, so never on the UI."""
        if self.cache is None:
            self.cache = default_cache(loaded.env.prefix)
        report = analyse(
            loaded.env,
            progress=lambda p: self.post_message(JobProgress("analysis", p)),
            cancel=get_current_worker().cancelled_event,
            cache=self.cache,
        )
        self.cache.save()
        return report

    def on_job_progress(self, message: JobProgress) -> None:
        if message.job == "analysis":
            # Each update lays out the overview anew: four a second are enough to read.
            now = time.monotonic()
            if now - self.progress_shown < PROGRESS_EVERY_S:
                return
            self.progress_shown = now
            self.show_bar(message.progress.done_files, message.progress.total_files)
            self.query_one(OverviewPane).show_progress(message.progress)
            self.query_one(RelocationPane).show_progress(message.progress)

    def show_report(self, report: RelocationReport) -> None:
        gc.freeze()  # the report too (see on_unmount)
        self.show_bar(None)
        self.query_one(OverviewPane).show_report(report)
        self.query_one(RelocationPane).show_report(report)
        self.query_one(FilesPane).show_report(report)
        self.query_one(PackPane).show_report(report)
        assert self.loaded is not None
        env = self.loaded.env
        self.say(
            f"{count(len(env.records), 'package')}, {count(len(env.files), 'file')};"
            f" {count(len(report.findings), 'finding')}"
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.node is not self or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        if event.state is WorkerState.SUCCESS:
            if worker.group == "load":
                self.show_environment(worker.result)
            elif worker.group == "analysis":
                self.show_report(worker.result)
        elif event.state is WorkerState.ERROR:
            if worker.group == "load":
                self.end_loading()
                self.say("Could not load the environment.")
                show_failure(self.app, "Cannot open the environment", worker.error)
            elif worker.group == "analysis" and not isinstance(worker.error, Cancelled):
                self.show_bar(None)
                message = str(worker.error)
                self.query_one(OverviewPane).show_failure(message)
                self.query_one(RelocationPane).show_failure(message)
                self.say(f"The analysis failed: {message}")

    # actions

    def action_back(self) -> None:
        """Escape stops a running job first; only then does it leave the environment."""
        if self.query_one(PackPane).cancel() or self.query_one(UntrackedPane).cancel():
            return
        if isinstance(self.focused, Input) and self.focused.id == "files-filter":
            self.query_one("#files-tree", Tree).focus()
            return
        self.post_message(LeaveEnvironment())

    def action_show_tab(self, tab: str) -> None:
        """Switch tabs and focus the tab's main widget: keys then act on what is shown."""
        self.query_one("#tabs", TabbedContent).active = tab
        self.focus_tab_content()

    def focus_tab_content(self) -> None:
        tab = self.query_one("#tabs", TabbedContent).active
        widget = self.query_one(TAB_FOCUS[tab])
        if widget.focusable:
            widget.focus()
        else:  # a disabled pane, or a table with no rows: the first thing that takes focus
            for child in widget.query("*"):
                if child.focusable:
                    child.focus()
                    return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "enter_tab":  # down on the tab bar goes into the tab; elsewhere it scrolls
            return isinstance(self.focused, Tabs)
        return True

    def action_enter_tab(self) -> None:
        self.focus_tab_content()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Left and right on the tab bar keep it focused, to go on to the next tab; any
        other way of changing tabs (a number key, the mouse) focuses the tab's content,
        unless the focus is in it already (`/` focuses the filter)."""
        focused = self.focused
        if focused is not None and event.pane in focused.ancestors:
            return
        if not isinstance(focused, Tabs) or self.tab_clicked:
            self.tab_clicked = False
            self.focus_tab_content()

    def on_click(self, event: events.Click) -> None:
        """A tab clicked: its content takes the keys (the tab may already be active)."""
        if isinstance(event.widget, Tab):
            tabs = self.query_one("#tabs", TabbedContent)
            if event.widget is tabs.get_tab(tabs.active):
                self.call_after_refresh(self.focus_tab_content)
            else:
                self.tab_clicked = True

    def on_show_file(self, message: ShowFile) -> None:
        """Enter on a finding or an untracked file: the file in the tree, details shown."""
        self.action_show_tab("files")
        self.query_one(FilesPane).reveal(message.path)

    def action_filter(self) -> None:
        self.action_show_tab("files")
        self.query_one("#files-filter", Input).focus()

    def action_pack(self) -> None:
        self.action_show_tab("pack")

    def action_analyse(self) -> None:
        self.start_analysis()

    def action_remove_untracked(self) -> None:
        self.action_show_tab("untracked")
        self.query_one(UntrackedPane).ask_remove()

    def action_build_package(self) -> None:
        self.action_show_tab("pack")
        self.query_one(PackPane).choose_kind(PACKAGE)
