"""The Pack tab: the form (pack_form.py), then progress, then the outcome and the command
line that does the same."""

from __future__ import annotations

from collections.abc import Callable

from conda_package.core import (
    Cancelled,
    PackageResult,
    PackOptions,
    PackResult,
    Progress,
    RelocationReport,
    pack,
    pack_command,
    package_command,
)
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, ContentSwitcher, Input, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from .display import duration, human_bytes, rate, shorten
from .messages import JobProgress
from .modals import show_failure
from .model import LoadedEnvironment
from .overview import room_text
from .pack_form import PACKAGE, PackageRequest, PackForm

__all__ = ["PACKAGE", "PackPane"]


class PackPane(VerticalScroll):
    """Runs core's pack() or build_package() in a thread worker; escape (on the screen)
    cancels it."""

    def __init__(self, clock: Callable[[], float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.loaded: LoadedEnvironment | None = None
        self.worker: Worker[PackResult | PackageResult] | None = None
        self.started = 0.0
        self.command = ""  # the command line of the job running or done

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="pack-form", id="pack-switcher"):
            with Vertical(id="pack-form"):
                yield PackForm(id="pack-fields")
                with Horizontal(classes="buttons"):
                    yield Button("Start packing", id="pack-start", variant="primary", compact=True)
            with Vertical(id="pack-running"):
                yield Static(id="pack-title")
                yield ProgressBar(id="pack-bar", show_eta=False)
                yield Static(id="pack-stats")
                yield Static("Press escape to cancel.", classes="hint")
            with Vertical(id="pack-done"):
                yield Static(id="pack-summary")
                with Horizontal(classes="buttons"):
                    yield Button("Back to the form", id="pack-again", compact=True)

    @property
    def form(self) -> PackForm:
        return self.query_one(PackForm)

    def show_environment(self, loaded: LoadedEnvironment) -> None:
        self.loaded = loaded
        self.form.show_environment(loaded)
        self.form.schedule_preview()

    def show_report(self, report: RelocationReport) -> None:
        self.form.show_report(report)

    def choose_kind(self, kind: str) -> None:
        self.form.choose_kind(kind)

    # the job

    @on(Button.Pressed, "#pack-start")
    @on(Input.Submitted)
    def start(self) -> None:
        if self.loaded is None or self.packing:
            return
        form = self.form
        if not form.validate_all():
            self.notify("Fix the fields marked ✗ first.", severity="warning")
            return
        prefix = self.loaded.env.prefix
        if form.package:
            request = form.package_request()
            target = request.output or f"{request.name}-{request.version}-…"
            self.command = package_command(
                prefix, request.name, request.version, request.build_number, request.output
            )
            self.worker = self.run_build(self.loaded, request)
        else:
            options = form.options()
            target = options.output or f"{self.loaded.env.name}.{form.kind}"
            self.command = pack_command(prefix, options)
            self.worker = self.run_pack(self.loaded, options)
        self.started = self.clock()
        verb = "Building" if form.package else "Packing into"
        self.query_one("#pack-title", Static).update(Text(f"{verb} {target}", style="bold"))
        self.query_one("#pack-bar", ProgressBar).update(total=None, progress=0)
        self.query_one("#pack-stats", Static).update("Planning…")
        self.query_one("#pack-switcher", ContentSwitcher).current = "pack-running"

    @property
    def packing(self) -> bool:
        return self.worker is not None and not self.worker.is_finished  # pending or running

    def cancel(self) -> bool:
        """Ask the running pack to stop; core removes the partial output. False: none ran."""
        if not self.packing:
            return False
        assert self.worker is not None
        # The worker keeps running until core sees the event, so it ends (and cleans up)
        # before anyone waiting on it carries on.
        self.worker.cancelled_event.set()
        self.query_one("#pack-stats", Static).update("Cancelling…")
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="pack")
    def run_build(self, loaded: LoadedEnvironment, request: PackageRequest) -> PackageResult:
        return request.build(
            loaded.env,
            progress=lambda p: self.post_message(JobProgress("pack", p)),
            cancel=get_current_worker().cancelled_event,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="pack")
    def run_pack(self, loaded: LoadedEnvironment, options: PackOptions) -> PackResult:
        worker = get_current_worker()
        return pack(
            loaded.env,
            options,
            progress=lambda p: self.post_message(JobProgress("pack", p)),
            cancel=worker.cancelled_event,
        )

    def on_job_progress(self, message: JobProgress) -> None:
        message.stop()
        if message.job == "pack" and self.packing:
            self.show_progress(message.progress)

    def show_progress(self, p: Progress) -> None:
        assert self.worker is not None
        if self.worker.cancelled_event.is_set():
            return
        self.query_one("#pack-bar", ProgressBar).update(
            total=p.total_bytes or None, progress=p.done_bytes
        )
        elapsed = max(self.clock() - self.started, 1e-6)
        speed = p.done_bytes / elapsed
        eta = (p.total_bytes - p.done_bytes) / speed if speed else 0.0
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(no_wrap=True, overflow="ellipsis")
        table.add_row("files", f"{p.done_files:,} of {p.total_files:,}")
        table.add_row("bytes", f"{human_bytes(p.done_bytes)} of {human_bytes(p.total_bytes)}")
        table.add_row("speed", rate(speed))
        table.add_row("time left", duration(eta) if p.done_bytes else "…")
        table.add_row("current", Text(shorten(p.current, 60)))
        self.query_one("#pack-stats", Static).update(table)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker:
            return
        event.stop()
        switcher = self.query_one("#pack-switcher", ContentSwitcher)
        if event.state is WorkerState.SUCCESS:
            result = event.worker.result
            if isinstance(result, PackageResult):
                self.show_package(result)
            else:
                self.show_done(result)
            switcher.current = "pack-done"
        elif event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            switcher.current = "pack-form"
            error = event.worker.error
            if error is None or isinstance(error, Cancelled):
                self.notify("Pack cancelled; nothing was written.", title="Pack")
            else:
                show_failure(self.app, "Cannot pack", error)
            self.form.validate_all()

    def show_done(self, result: PackResult | None) -> None:
        assert result is not None
        ratio = f" ({result.bytes_out / result.bytes_in:.0%} of {human_bytes(result.bytes_in)})"
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        table.add_row("packed into", Text(str(result.output)))
        table.add_row("format", result.format)
        table.add_row("size", human_bytes(result.bytes_out) + (ratio if result.bytes_in else ""))
        table.add_row("entries", f"{len(result.names):,}")
        table.add_row("time", duration(self.clock() - self.started))  # the app's clock
        table.add_row("prefix files", f"{len(result.relocations):,}")
        table.add_row("longest target", room_text(result.room))
        if result.plan.missing:
            left_out = Text("\n".join(result.plan.missing), style="yellow")
            table.add_row("missing, left out", left_out)
        warnings = Text()
        for finding in result.findings:
            warnings.append(f"! {finding}\n", style="yellow")
        warnings.rstrip()
        table.add_row("warnings", warnings if result.findings else Text("none"))
        table.add_row("command", Text(self.command, style="cyan"))
        done = Text.assemble(("✓ Done. ", "bold green"), "Unpack it, then source bin/activate.\n")
        self.query_one("#pack-summary", Static).update(Group(done, table))

    def show_package(self, result: PackageResult) -> None:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        table.add_row("package", Text(f"{result.dist} ({result.format})"))
        table.add_row("written to", Text(result.output))
        table.add_row("size", human_bytes(result.size))
        table.add_row("files", f"{len(result.files):,} packed, {len(result.left_out):,} left out")
        table.add_row("time", duration(self.clock() - self.started))
        warnings = Text("\n".join(f"! {w}" for w in result.warnings), style="yellow")
        table.add_row("warnings", warnings if result.warnings else Text("none"))
        table.add_row("command", Text(self.command, style="cyan"))
        done = Text.assemble(("✓ Done. ", "bold green"), "Install it with conda, mamba or pixi.\n")
        self.query_one("#pack-summary", Static).update(Group(done, table))

    @on(Button.Pressed, "#pack-again")
    def back_to_form(self) -> None:
        self.query_one("#pack-switcher", ContentSwitcher).current = "pack-form"
        self.form.validate_all()
