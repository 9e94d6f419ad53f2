"""The Pack tab: the options form (checked live by core), then progress, then the outcome."""

from __future__ import annotations

import os
from collections.abc import Callable

from conda_package.core import (
    FORMATS,
    Cancelled,
    PackOptions,
    PackResult,
    Progress,
    RelocationReport,
    UsageError,
    check_relocate_prefix,
    default_level,
    diagnose,
    pack,
    resolve_output,
    target_findings,
    validate_level,
    worker_count,
)
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Button,
    ContentSwitcher,
    Input,
    ProgressBar,
    Select,
    Static,
    Switch,
)
from textual.worker import Worker, WorkerState, get_current_worker

from .display import count, duration, human_bytes, rate, shorten
from .forms import FieldError, WordSwitch, checked_field, field_row, parse_int
from .messages import JobProgress
from .modals import show_failure
from .model import LoadedEnvironment
from .overview import room_text

FIELDS = ("pack-output", "pack-level", "pack-threads", "pack-relocate")


def with_format(path: str, old: str, new: str) -> str:
    """Swap the format's extension when the user changes the format."""
    suffix = "" if old == "dir" else f".{old}"
    if suffix and not path.endswith(suffix):
        return path
    stem = path[: -len(suffix)] if suffix else path
    return stem + ("" if new == "dir" else f".{new}")


class PackPane(VerticalScroll):
    """Runs core's pack() in a thread worker; escape (on the screen) cancels it."""

    def __init__(self, clock: Callable[[], float], **kwargs) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.loaded: LoadedEnvironment | None = None
        self.report: RelocationReport | None = None
        self.worker: Worker[PackResult] | None = None
        self.started = 0.0
        self.format = "tar.gz"

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="pack-form", id="pack-switcher"):
            with Vertical(id="pack-form"):
                with Vertical(classes="form"):
                    yield from checked_field("Output", "pack-output", self.check_output)
                    yield field_row(
                        "Format",
                        Select(
                            [(fmt, fmt) for fmt in FORMATS],
                            value=self.format,
                            allow_blank=False,
                            id="pack-format",
                            compact=True,
                        ),
                    )
                    yield from checked_field("Compression level", "pack-level", self.check_level)
                    yield from checked_field("Threads", "pack-threads", self.check_threads, "0")
                    yield from checked_field(
                        "Relocate to prefix",
                        "pack-relocate",
                        self.check_relocate,
                        "",
                        placeholder="keep: conda-unpack moves it at the target",
                    )
                    yield field_row("Ignore missing files", WordSwitch(id="pack-ignore-missing"))
                    yield FieldError(id="pack-ignore-missing-error")
                    yield field_row("Overwrite the output", WordSwitch(id="pack-force"))
                yield Static(id="pack-room")
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

    # what the form holds, and the checks core makes of it

    def value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def options(self) -> PackOptions:
        """The form as core's options; raises the UsageError of the first bad field."""
        return PackOptions(
            output=self.value("pack-output") or None,
            format=self.format,
            level=parse_int(self.value("pack-level"), "the compression level"),
            threads=parse_int(self.value("pack-threads"), "threads") or 0,
            force=self.query_one("#pack-force", Switch).value,
            ignore_missing_files=self.query_one("#pack-ignore-missing", Switch).value,
            relocate_prefix=self.value("pack-relocate") or None,
        )

    def check_output(self, value: str) -> None:
        if self.loaded is not None:
            resolve_output(
                self.loaded.env,
                PackOptions(
                    output=value.strip() or None,
                    format=self.format,
                    force=self.query_one("#pack-force", Switch).value,
                ),
            )

    def check_level(self, value: str) -> None:
        validate_level(self.format, parse_int(value, "the compression level"))

    def check_threads(self, value: str) -> None:
        threads = parse_int(value, "threads")
        if threads is not None:
            worker_count(threads)

    def check_relocate(self, value: str) -> None:
        """Too long for a binary's room is an error now, not at the end of the pack."""
        target = value.strip()
        if not target:
            return
        check_relocate_prefix(target)
        if self.loaded is not None and self.report is not None:
            too_long = target_findings(self.loaded.env, self.report, target)
            if too_long:
                raise UsageError(
                    f"{len(target.encode())} bytes is longer than the room in"
                    f" {count(len(too_long), 'binary file')}; {too_long[0].hint}"
                )

    def validate_all(self) -> bool:
        valid = self.show_missing()
        for field in FIELDS:
            widget = self.query_one(f"#{field}", Input)
            result = widget.validate(widget.value)
            self.query_one(f"#{field}-error", FieldError).show(result)
            valid = valid and (result is None or result.is_valid)
        return valid

    # feeding the form

    def show_environment(self, loaded: LoadedEnvironment) -> None:
        first = self.loaded is None
        self.loaded = loaded
        self.report = None
        if first:
            output = self.query_one("#pack-output", Input)
            output.value = os.path.abspath(f"{loaded.env.name}.{self.format}")
        self.show_level_default()
        self.show_room()
        self.validate_all()

    def show_report(self, report: RelocationReport) -> None:
        self.report = report
        self.show_room()
        relocate = self.query_one("#pack-relocate", Input)
        self.query_one("#pack-relocate-error", FieldError).show(relocate.validate(relocate.value))

    def show_room(self) -> None:
        if self.report is None:
            text = Text("The target prefix is checked against the analysis when it ends.")
        else:
            text = Text.assemble(
                "Longest target prefix that fits: ", (room_text(self.report.room), "bold")
            )
        self.query_one("#pack-room", Static).update(text)

    @on(Switch.Changed, "#pack-ignore-missing")
    def show_missing(self) -> bool:
        """Files a package lists but the disk lacks stop the pack: say so before it starts.
        Whether the pack may start."""
        line = self.query_one("#pack-ignore-missing-error", FieldError)
        env = self.loaded.env if self.loaded is not None else None
        if env is None or not env.missing or self.query_one("#pack-ignore-missing", Switch).value:
            line.say(None)
            return True
        why = [d for d in diagnose(env) if d.missing]  # each says what happened and the fix
        others = len(why) - 1
        more = f" (and {others} more package{'s' if others > 1 else ''})" if others else ""
        files = f" and {len(env.missing) - 1:,} more" if len(env.missing) > 1 else ""
        line.say(
            f"{count(len(env.missing), 'file')} missing ({env.missing[0].path}{files}):"
            f" {why[0].package.name}: {why[0].reason}; fix: {why[0].fix}{more}."
            " Packing stops unless this is on"
        )
        return False

    def show_level_default(self) -> None:
        level = self.query_one("#pack-level", Input)
        default = default_level(self.format)
        level.disabled = default is None
        level.placeholder = "not compressed" if default is None else f"default {default}"
        if default is None:
            level.value = ""

    @on(Select.Changed, "#pack-format")
    def format_changed(self, event: Select.Changed) -> None:
        new = str(event.value)
        if new == self.format:
            return
        output = self.query_one("#pack-output", Input)
        output.value = with_format(output.value, self.format, new)
        self.format = new
        self.show_level_default()
        self.validate_all()

    @on(Switch.Changed, "#pack-force")
    def force_changed(self) -> None:
        output = self.query_one("#pack-output", Input)
        self.query_one("#pack-output-error", FieldError).show(output.validate(output.value))

    @on(Input.Changed)
    def field_changed(self, event: Input.Changed) -> None:
        if event.input.id in FIELDS:
            self.query_one(f"#{event.input.id}-error", FieldError).show(event.validation_result)

    # the job

    @on(Button.Pressed, "#pack-start")
    @on(Input.Submitted)
    def start(self) -> None:
        if self.loaded is None or self.packing:
            return
        if not self.validate_all():
            self.notify("Fix the fields marked ✗ first.", severity="warning")
            return
        options = self.options()
        self.started = self.clock()
        target = options.output or f"{self.loaded.env.name}.{self.format}"
        self.query_one("#pack-title", Static).update(Text(f"Packing into {target}", style="bold"))
        self.query_one("#pack-bar", ProgressBar).update(total=None, progress=0)
        self.query_one("#pack-stats", Static).update("Planning…")
        self.query_one("#pack-switcher", ContentSwitcher).current = "pack-running"
        self.worker = self.run_pack(self.loaded, options)

    @property
    def packing(self) -> bool:
        return self.worker is not None and self.worker.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )

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
            self.show_done(event.worker.result)
            switcher.current = "pack-done"
        elif event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            switcher.current = "pack-form"
            error = event.worker.error
            if error is None or isinstance(error, Cancelled):
                self.notify("Pack cancelled; nothing was written.", title="Pack")
            else:
                show_failure(self.app, "Cannot pack", error)
            self.validate_all()

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
        table.add_row("time", duration(result.seconds))
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
        done = Text.assemble(("✓ Done. ", "bold green"), "Unpack it, then source bin/activate.\n")
        self.query_one("#pack-summary", Static).update(Group(done, table))

    @on(Button.Pressed, "#pack-again")
    def back_to_form(self) -> None:
        self.query_one("#pack-switcher", ContentSwitcher).current = "pack-form"
        self.validate_all()
