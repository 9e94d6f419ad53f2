"""The Pack tab's form: what to make (the environment in any of the CLI's formats, or a
conda package of its untracked files), what it is called, then how; each field checked
live by core, and what will go in (and what stays out, and why) shown before the start."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from conda_package.core import (
    SQUASHFS_COMPRESSORS,
    CondaPackageError,
    Environment,
    PackOptions,
    RelocationReport,
    default_level,
    default_output_name,
    diagnose,
    parse_build_number,
    preview_plan,
    squashfs_settings,
)
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Input, Label, Select, Static, Switch

from .display import count
from .forms import CoreCheck, FieldError, WordSwitch, parse_int
from .model import LoadedEnvironment
from .overview import room_text
from .pack_checks import FIELDS, KINDS, NAMED, PACKAGE, PackageRequest, PackChecks, with_format
from .pack_preview import archive_preview, package_preview


def _input(field_id: str, placeholder: str = "", value: str = "", **kwargs) -> Input:
    return Input(value, id=field_id, compact=True, placeholder=placeholder, **kwargs)


class PackForm(PackChecks, Vertical):
    """The fields, their checks, and the options they make; the pane runs the job."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.loaded: LoadedEnvironment | None = None
        self.report: RelocationReport | None = None
        self.kind = "tar.gz"
        self.auto_output = ""  # the output the form chose; a user's own is left alone
        self.preview_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        checks = {
            "pack-name": self.check_name,
            "pack-version": self.check_version,
            "pack-build": self.check_build,
            "pack-output": self.check_output,
            "pack-level": self.check_level,
            "pack-threads": self.check_threads,
            "pack-relocate": self.check_relocate,
        }

        def field(field_id: str, placeholder: str = "", value: str = "", **kw) -> Input:
            return _input(
                field_id, placeholder, value, validators=[CoreCheck(checks[field_id])], **kw
            )

        with Vertical(classes="form"):
            with Horizontal(classes="field"):
                yield Label("Make", classes="field-label")
                yield Select(
                    [(label, kind) for kind, label in KINDS.items()],
                    value=self.kind,
                    allow_blank=False,
                    id="pack-format",
                    compact=True,
                    classes="wide",
                )
            with Horizontal(classes="field"):
                yield Label("Name", classes="field-label")
                yield field("pack-name", "the environment's")
                yield Label(" version ", classes="inline-label")
                yield field("pack-version", "none", classes="short")
                yield Label(" build ", classes="inline-label")
                yield field("pack-build", "none", classes="short")
            for field_id in NAMED:
                yield FieldError(id=f"{field_id}-error")
            with Horizontal(classes="field"):
                yield Label("Output", classes="field-label")
                yield field("pack-output")
            yield FieldError(id="pack-output-error")
            with Horizontal(classes="field"):
                yield Label("Compression level", classes="field-label")
                yield Select(
                    [(name, name) for name in SQUASHFS_COMPRESSORS],
                    value=SQUASHFS_COMPRESSORS[0],
                    allow_blank=False,
                    id="pack-compressor",
                    compact=True,
                )
                yield field("pack-level", classes="short")
                yield Label(" threads ", classes="inline-label")
                yield field("pack-threads", "0: all cores", "0", classes="short")
            yield FieldError(id="pack-level-error")
            yield FieldError(id="pack-threads-error")
            with Horizontal(classes="field", id="pack-relocate-row"):
                yield Label("Relocate to prefix", classes="field-label", id="pack-relocate-label")
                yield field("pack-relocate", "keep: conda-unpack moves it at the target")
            yield FieldError(id="pack-relocate-error")
            with Horizontal(classes="field switches", id="pack-switches"):
                yield Label("Ignore missing", classes="switch-label", id="pack-missing-label")
                yield WordSwitch(id="pack-ignore-missing")
                yield Label("Byte-code", classes="switch-label", id="pack-bytecode-label")
                yield WordSwitch(id="pack-bytecode")
                yield Label("Overwrite", classes="switch-label")
                yield WordSwitch(id="pack-force")
            yield FieldError(id="pack-ignore-missing-error")
        yield Static(id="pack-room")
        yield Static(id="pack-preview")

    # what the form holds

    @property
    def env(self) -> Environment | None:
        return self.loaded.env if self.loaded is not None else None

    def value(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def switch(self, field: str) -> bool:
        return self.query_one(f"#{field}", Switch).value

    def compressor(self) -> str:
        return str(self.query_one("#pack-compressor", Select).value)

    def options(self, **changes: Any) -> PackOptions:
        """The form as core's options (with `changes`); raises the UsageError of the first
        bad number."""
        squashfs = self.kind == "squashfs"
        options = PackOptions(
            output=self.value("pack-output") or None,
            format=self.kind,
            level=parse_int(self.value("pack-level"), "the compression level"),
            threads=parse_int(self.value("pack-threads"), "threads") or 0,
            force=self.switch("pack-force"),
            ignore_missing_files=self.switch("pack-ignore-missing"),
            # a parcel sets its own prefix (PARCEL_ROOT/NAME-VERSION): the row is hidden
            relocate_prefix=None if self.kind == "parcel" else self.value("pack-relocate") or None,
            compile_bytecode=self.switch("pack-bytecode") and not squashfs,
            squashfs_compressor=self.compressor() if squashfs else None,  # type: ignore[arg-type]
            pkg_name=self.value("pack-name") or None,
            pkg_version=self.value("pack-version") or None,
            pkg_build=self.value("pack-build") or None,
        )
        return replace(options, **changes)

    def package_request(self) -> PackageRequest:
        output = self.value("pack-output")
        return PackageRequest(
            name=self.value("pack-name") or self.default_package_name,
            version=self.value("pack-version") or "0.0",
            build_number=parse_build_number(self.value("pack-build") or "0"),
            output=os.path.abspath(output) if output else None,
            level=parse_int(self.value("pack-level"), "the compression level"),
            threads=parse_int(self.value("pack-threads"), "threads") or 0,
            force=self.switch("pack-force"),
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
            self.set_output(self.default_output())
        self.show_kind()
        self.show_room()
        self.validate_all()

    def show_report(self, report: RelocationReport) -> None:
        self.report = report
        self.show_room()
        relocate = self.query_one("#pack-relocate", Input)
        self.query_one("#pack-relocate-error", FieldError).show(relocate.validate(relocate.value))

    def show_room(self) -> None:
        if self.package:
            text = Text("Untracked files keep the prefix they hold; conda relocates them.")
        elif self.report is None:
            text = Text("The target prefix is checked against the analysis when it ends.")
        else:
            text = Text.assemble(
                "Longest target prefix that fits: ", (room_text(self.report.room), "bold")
            )
        self.query_one("#pack-room", Static).update(text)

    def choose_kind(self, kind: str) -> None:
        """What to make, as if chosen in the form (the Untracked tab's button uses it)."""
        self.query_one("#pack-format", Select).value = kind

    @on(Switch.Changed, "#pack-ignore-missing")
    def show_missing(self) -> bool:
        """Files a package lists but the disk lacks stop the pack: say so before it starts.
        Whether the pack may start."""
        line = self.query_one("#pack-ignore-missing-error", FieldError)
        env = self.loaded.env if self.loaded is not None else None
        if env is None or not env.missing or self.package or self.switch("pack-ignore-missing"):
            line.say(None)
            return True
        why = [d for d in diagnose(env) if d.missing]  # each says what happened and the fix
        others = len(why) - 1
        more = f" (and {others} more package{'s' if others > 1 else ''})" if others else ""
        files = f" and {len(env.missing) - 1:,} more" if len(env.missing) > 1 else ""
        line.say(
            f"{count(len(env.missing), 'file')} missing ({env.missing[0].path}{files}):"
            f" {why[0].package.name}: {why[0].reason}; fix: {why[0].fix}{more}."
            " Packing stops unless Ignore missing is on"
        )
        return False

    def show_kind(self) -> None:
        """The fields that apply to what is made, with its defaults as placeholders."""
        squashfs, package = self.kind == "squashfs", self.package
        self.query_one("#pack-compressor", Select).display = squashfs
        self.query_one("#pack-relocate-row").display = not (package or self.kind == "parcel")
        self.query_one("#pack-missing-label").display = not package
        self.query_one("#pack-ignore-missing").display = not package
        self.query_one("#pack-bytecode-label").display = not (package or squashfs)
        self.query_one("#pack-bytecode").display = not (package or squashfs)
        self.query_one("#pack-relocate-label", Label).update(
            "Mount point" if squashfs else "Relocate to prefix"
        )
        self.query_one("#pack-relocate", Input).placeholder = (
            "none: mount anywhere, run through bin/cpk-run"
            if squashfs
            else "keep: conda-unpack moves it at the target"
        )
        self.query_one("#pack-name", Input).placeholder = (
            self.default_package_name if package else self.env_name
        )
        self.query_one("#pack-version", Input).placeholder = "0.0" if package else "none"
        self.query_one("#pack-build", Input).placeholder = "0" if package else "none"
        self.query_one("#pack-output", Input).placeholder = (
            "NAME-VERSION-BUILD.conda here" if package else ""
        )
        level = self.query_one("#pack-level", Input)
        if package:
            default: int | None = 19
        elif squashfs:
            default = squashfs_settings(self.compressor(), None, None).level
        else:
            default = default_level(self.kind)
        level.disabled = default is None and not squashfs
        level.placeholder = "none" if default is None else f"default {default}"
        if level.disabled:
            level.value = ""

    def default_output(self) -> str:
        """NAME-VERSION-BUILD.EXT in the current folder, as the CLI names it; "" when the
        name has a mistake (its field says so) or for a package (core names it)."""
        if self.loaded is None or self.package:
            return ""
        try:
            options = self.options(output=None)
            name = default_output_name(self.loaded.env, options, self.kind)  # type: ignore[arg-type]
        except CondaPackageError:
            return ""
        return os.path.abspath(name)

    def set_output(self, value: str) -> None:
        self.auto_output = value
        self.query_one("#pack-output", Input).value = value

    def rename_output(self, old_kind: str | None = None) -> None:
        """The output follows the name and the format until the user writes their own."""
        output = self.query_one("#pack-output", Input)
        if output.value.strip() in ("", self.auto_output):
            new = self.default_output()
            if new or self.package:
                self.set_output(new)
        elif old_kind and PACKAGE not in (old_kind, self.kind):
            output.value = with_format(output.value, old_kind, self.kind)

    @on(Select.Changed, "#pack-format")
    def kind_changed(self, event: Select.Changed) -> None:
        new = str(event.value)
        if new == self.kind:
            return
        old, self.kind = self.kind, new
        self.show_kind()
        self.rename_output(old)
        self.show_room()
        self.validate_all()
        self.schedule_preview()

    @on(Select.Changed, "#pack-compressor")
    def compressor_changed(self) -> None:
        self.show_kind()
        self.validate_all()

    @on(Switch.Changed)
    def switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id == "pack-force":
            output = self.query_one("#pack-output", Input)
            self.query_one("#pack-output-error", FieldError).show(output.validate(output.value))
        self.schedule_preview()

    @on(Input.Changed)
    def field_changed(self, event: Input.Changed) -> None:
        if event.input.id not in FIELDS:
            return
        self.query_one(f"#{event.input.id}-error", FieldError).show(event.validation_result)
        if event.input.id in NAMED and not self.package:
            self.rename_output()
        if event.input.id in NAMED or event.input.id == "pack-output":
            # the level's check depends on the output's format; the output's on the name
            for other in ("pack-level", "pack-output"):
                if other != event.input.id:
                    widget = self.query_one(f"#{other}", Input)
                    self.query_one(f"#{other}-error", FieldError).show(
                        widget.validate(widget.value)
                    )
        self.schedule_preview()

    # what will go in, before anything starts

    def schedule_preview(self) -> None:
        """After the typing pauses: a plan is cheap, a package's dry run reads its files."""
        if self.preview_timer is not None:
            self.preview_timer.stop()
        self.preview_timer = self.set_timer(0.3, self.start_preview)

    @property
    def preview_pending(self) -> bool:
        """A preview is due (the typing has not paused long enough yet)."""
        return self.preview_timer is not None

    def start_preview(self) -> None:
        self.preview_timer = None
        if self.loaded is None or not self.is_mounted:
            return
        results = [self.query_one(f"#{f}", Input).validate(self.value(f)) for f in FIELDS]
        if not all(result is None or result.is_valid for result in results):
            self.say_preview(Text("Fix the fields marked ✗ to see what goes in.", style="dim"))
            return
        try:
            # Missing files would stop the plan: the line under Ignore missing tells of them,
            # and the plan counts them as left out.
            job: PackOptions | PackageRequest = (
                self.package_request()
                if self.package
                else self.options(dry_run=True, ignore_missing_files=True)
            )
        except CondaPackageError as exc:
            self.say_preview(Text(f"Nothing to show yet: {exc}", style="dim"))
            return
        self.preview(self.loaded, job)

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def preview(self, loaded: LoadedEnvironment, job: PackOptions | PackageRequest) -> None:
        try:
            if isinstance(job, PackageRequest):
                text = package_preview(job.build(loaded.env, dry_run=True))
            else:
                text = archive_preview(*preview_plan(loaded.env, job))
        except CondaPackageError as exc:
            text = Text(f"Cannot pack as it stands: {exc}", style="yellow")
        self.app.call_from_thread(self.say_preview, text)

    def say_preview(self, text: Text) -> None:
        if self.is_mounted:
            self.query_one("#pack-preview", Static).update(text)
