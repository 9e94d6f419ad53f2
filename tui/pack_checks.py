"""What the Pack tab's form may make, and core's checks of its fields for each kind."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from conda_package.core import (
    PACK_FORMATS,
    Environment,
    PackageResult,
    PackOptions,
    ProgressCallback,
    RelocationReport,
    UsageError,
    archive_label,
    build_package,
    check_relocate_prefix,
    package_format,
    package_level,
    parse_build_number,
    resolve_output,
    squashfs_settings,
    target_findings,
    validate_level,
    validate_name,
    validate_version,
    worker_count,
)

from .display import count
from .forms import parse_int

PACKAGE = "package"  # the kind that is not an archive of the environment
KINDS: dict[str, str] = {
    "tar.gz": "tar.gz archive (the default)",
    "tar.zst": "tar.zst archive (fastest)",
    "tar.bz2": "tar.bz2 archive",
    "tar.xz": "tar.xz archive (smallest)",
    "tar": "tar archive, not compressed",
    "zip": "zip archive",
    "dir": "dir: a folder, no archive",
    "parcel": "parcel for Cloudera clusters",
    "squashfs": "squashfs image, to mount",
    "sh": "sh installer, self-extracting",
    PACKAGE: "package: a .conda of the untracked files",
}
assert set(KINDS) == {*PACK_FORMATS, PACKAGE}
NAMED = ("pack-name", "pack-version", "pack-build")
FIELDS = (*NAMED, "pack-output", "pack-level", "pack-threads", "pack-relocate")


def with_format(path: str, old: str, new: str) -> str:
    """Swap the format's extension when the user changes the format."""
    suffix = "" if old == "dir" else f".{old}"
    if suffix and not path.endswith(suffix):
        return path
    stem = path[: -len(suffix)] if suffix else path
    return stem + ("" if new == "dir" else f".{new}")


@dataclass(frozen=True)
class PackageRequest:
    """The form, for a package of the untracked files; core checked each field."""

    name: str
    version: str
    build_number: int
    output: str | None
    level: int | None
    threads: int
    force: bool

    def build(
        self,
        env: Environment,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> PackageResult:
        """The package, by core's build_package (a dry run for the form's preview)."""
        return build_package(
            env,
            self.name,
            self.version,
            self.build_number,
            output=self.output,
            level=self.level,
            threads=self.threads,
            force=self.force or dry_run,
            dry_run=dry_run,
            progress=progress,
            cancel=cancel,
        )


class PackChecks:
    """The form's checks, each run by core as the user types: the same rules as the job."""

    kind: str
    report: RelocationReport | None

    @property
    def package(self) -> bool:
        return self.kind == PACKAGE

    @property
    def env(self) -> Environment | None:
        raise NotImplementedError

    @property
    def env_name(self) -> str:
        return self.env.name if self.env is not None else "env"

    @property
    def default_package_name(self) -> str:
        return f"{self.env_name.lower()}-extras"

    def value(self, field: str) -> str:
        raise NotImplementedError

    def switch(self, field: str) -> bool:
        raise NotImplementedError

    def compressor(self) -> str:
        raise NotImplementedError

    def check_name(self, value: str) -> None:
        if self.package:
            validate_name(value.strip() or self.default_package_name)
        else:
            archive_label(self.env_name, name=value.strip())

    def check_version(self, value: str) -> None:
        if self.package:
            validate_version(value.strip() or "0.0")
        else:
            archive_label(self.env_name, version=value.strip())

    def check_build(self, value: str) -> None:
        if self.package:
            parse_build_number(value.strip() or "0")
        else:
            archive_label(self.env_name, build=value.strip())

    def check_output(self, value: str) -> None:
        if self.package:
            if value.strip():
                package_format(value.strip())
        elif self.env is not None:
            resolve_output(
                self.env,
                PackOptions(
                    output=value.strip() or None, format=self.kind, force=self.switch("pack-force")
                ),
            )

    def check_level(self, value: str) -> None:
        level = parse_int(value, "the compression level")
        if self.package:
            output = self.value("pack-output")
            fmt = package_format(output) if output.endswith(".tar.bz2") else "conda"
            package_level(fmt, level)
        elif self.kind == "squashfs":
            squashfs_settings(self.compressor(), level, None)
        else:
            validate_level(self.kind, level)

    def check_threads(self, value: str) -> None:
        threads = parse_int(value, "threads")
        if threads is not None:
            worker_count(threads)

    def check_relocate(self, value: str) -> None:
        """Too long for a binary's room is an error now, not at the end of the pack."""
        target = value.strip()
        if not target or self.package or self.kind == "parcel":
            return
        check_relocate_prefix(target)
        if self.env is not None and self.report is not None:
            too_long = target_findings(self.env, self.report, target)
            if too_long:
                raise UsageError(
                    f"{len(target.encode())} bytes is longer than the room in"
                    f" {count(len(too_long), 'binary file')}; {too_long[0].hint}"
                )
