"""Packing several environments one after another with the same options: the small form
that asks for them, and the panel with a progress line per environment (the list screen
runs the job and cancels one or all)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import ClassVar

from conda_package.core import (
    PACK_FORMATS,
    Cancelled,
    CondaPackageError,
    Environment,
    PackOptions,
    Progress,
    UsageError,
    archive_label,
    default_output_name,
    pack,
    validate_level,
    worker_count,
)
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static, Switch

from .display import human_bytes
from .forms import FieldError, WordSwitch, checked_field, field_row, parse_int
from .messages import JobProgress
from .modals import Question


@dataclass(frozen=True)
class BatchRequest:
    """The options every marked environment is packed with, into one folder."""

    options: PackOptions  # output None: each is NAME[-VERSION].EXT in `folder`
    folder: str


def check_folder(value: str) -> None:
    folder = os.path.abspath(value.strip() or ".")
    if not os.path.isdir(folder):
        raise UsageError(f"{folder}: no such folder; create it first")


class BatchPackModal(Question[BatchRequest | None]):
    """Format, level, threads, version and folder for all the marked environments."""

    FIELDS = ("batch-level", "batch-threads", "batch-version", "batch-folder")

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names
        self.format = "tar.gz"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            shown = ", ".join(self.names[:4]) + (" …" if len(self.names) > 4 else "")
            yield Label(
                f"Pack {len(self.names)} environments one after another", classes="dialog-title"
            )
            yield Static(Text(shown))
            with Vertical(classes="form"):
                yield field_row(
                    "Format",
                    Select(
                        [(fmt, fmt) for fmt in PACK_FORMATS if fmt != "parcel"],
                        value=self.format,
                        allow_blank=False,
                        id="batch-format",
                        compact=True,
                    ),
                )
                yield from checked_field(
                    "Compression level", "batch-level", self.check_level, placeholder="default"
                )
                yield from checked_field("Threads", "batch-threads", self.check_threads, "0")
                yield from checked_field(
                    "Version", "batch-version", self.check_version, placeholder="none"
                )
                yield from checked_field(
                    "Into the folder", "batch-folder", check_folder, os.path.abspath(".")
                )
                yield field_row("Ignore missing files", WordSwitch(id="batch-ignore-missing"))
                yield field_row("Overwrite outputs", WordSwitch(id="batch-force"))
            yield self.buttons("Pack all", "batch-start")

    def check_level(self, value: str) -> None:
        validate_level(self.format, parse_int(value, "the compression level"))

    def check_threads(self, value: str) -> None:
        threads = parse_int(value, "threads")
        if threads is not None:
            worker_count(threads)

    def check_version(self, value: str) -> None:
        archive_label("env", version=value.strip())

    @on(Select.Changed, "#batch-format")
    def format_changed(self, event: Select.Changed) -> None:
        self.format = str(event.value)
        self.show("batch-level")

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        if event.input.id in self.FIELDS:
            self.query_one(f"#{event.input.id}-error", FieldError).show(event.validation_result)

    def show(self, field_id: str) -> bool:
        field = self.query_one(f"#{field_id}", Input)
        result = field.validate(field.value)
        self.query_one(f"#{field_id}-error", FieldError).show(result)
        return result is None or result.is_valid

    @on(Input.Submitted)
    @on(Button.Pressed, "#batch-start")
    def submit(self) -> None:
        if not all([self.show(field_id) for field_id in self.FIELDS]):
            return
        value = {f: self.query_one(f"#{f}", Input).value.strip() for f in self.FIELDS}
        options = PackOptions(
            format=self.format,
            level=parse_int(value["batch-level"], "the compression level"),
            threads=parse_int(value["batch-threads"], "threads") or 0,
            pkg_version=value["batch-version"] or None,
            ignore_missing_files=self.query_one("#batch-ignore-missing", Switch).value,
            force=self.query_one("#batch-force", Switch).value,
        )
        self.dismiss(BatchRequest(options, os.path.abspath(value["batch-folder"] or ".")))


class BatchState(Message):
    """One environment of the batch started, ended, failed or was cancelled."""

    def __init__(self, prefix: str, state: str, detail: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        self.state = state
        self.detail = detail


def run_batch(
    post: Callable[[Message], object],
    prefixes: list[str],
    request: BatchRequest,
    cancels: dict[str, threading.Event],
) -> None:
    """Pack each environment in turn (in a thread worker); each has its own cancel event,
    so cancelling one lets the others go on."""
    for prefix in prefixes:
        cancel = cancels[prefix]
        if cancel.is_set():
            post(BatchState(prefix, "cancelled", "not started"))
            continue
        post(BatchState(prefix, "packing"))
        try:
            env = Environment.load(prefix)
            fmt = request.options.format or "tar.gz"
            name = default_output_name(env, request.options, fmt)  # type: ignore[arg-type]
            options = replace(request.options, output=os.path.join(request.folder, name))
            result = pack(env, options, progress=partial(_report, post, prefix), cancel=cancel)
        except Cancelled:
            post(BatchState(prefix, "cancelled", "nothing was written"))
        except CondaPackageError as exc:
            post(BatchState(prefix, "failed", str(exc)))
        except OSError as exc:  # a full disk, a folder gone: this one fails, the next may not
            where = f"{exc.filename}: " if exc.filename else ""
            post(BatchState(prefix, "failed", f"{where}{exc.strerror or exc}"))
        else:
            post(BatchState(prefix, "done", f"{result.output} ({human_bytes(result.bytes_out)})"))


def _report(post: Callable[[Message], object], prefix: str, progress: Progress) -> None:
    post(JobProgress(prefix, progress))


def _bar(p: Progress, width: int = 12) -> str:
    done = p.done_bytes / p.total_bytes if p.total_bytes else 0.0
    filled = round(done * width)
    return f"{'█' * filled}{'░' * (width - filled)} {done:4.0%}"


class BatchPanel(VerticalScroll):
    """A line per environment of the batch: waiting, its progress, then how it ended."""

    GLYPHS: ClassVar[dict[str, str]] = {
        "waiting": "·",
        "packing": "▶",
        "done": "✓",
        "failed": "✗",
        "cancelled": "–",
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.names: dict[str, str] = {}
        self.lines: dict[str, Static] = {}

    def start(self, rows: list[tuple[str, str]]) -> None:
        """(prefix, name) in packing order."""
        self.remove_children()
        self.names = dict(rows)
        self.lines = {
            prefix: Static(id=f"batch-{i}", classes="batch-line")
            for i, (prefix, _) in enumerate(rows)
        }
        self.mount_all(self.lines.values())
        for prefix in self.names:
            self.say(prefix, "waiting")
        self.display = True

    def say(self, prefix: str, state: str, detail: str = "") -> None:
        line = self.lines.get(prefix)
        if line is None:
            return
        text = Text(f"{self.GLYPHS.get(state, ' ')} {self.names[prefix]:<14.14} ", style="bold")
        text.append(state)
        if detail:
            text.append(f": {detail}", style="red" if state == "failed" else "")
        line.update(text)
        line.set_class(state in ("done", "failed", "cancelled"), "ended")

    def progress(self, prefix: str, p: Progress) -> None:
        line = self.lines.get(prefix)
        if line is not None and not line.has_class("ended"):
            self.say(
                prefix,
                "packing",
                f"{_bar(p)} {human_bytes(p.done_bytes)} of {human_bytes(p.total_bytes)}",
            )
