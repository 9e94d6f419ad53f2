"""What the analysis reports: findings per file, what it learnt of each file, the report."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..load import PackageDiagnosis
from .elf import ElfInfo


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


# Errors first, then warnings, then info.
RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    """One problem with one file; `code` is stable for scripts and filters."""

    code: str
    severity: Severity
    path: str
    owner: str
    message: str
    hint: str


@dataclass(frozen=True)
class FileAnalysis:
    """What the analysis learnt about one file, for display (the TUI's file view)."""

    path: str
    kind: str
    prefix_mode: str | None
    placeholder: str | None
    room: int | None
    elf: ElfInfo | None
    needed: tuple[tuple[str, str, str | None], ...] = ()


@dataclass(frozen=True)
class RelocationReport:
    prefix: str
    files: dict[str, FileAnalysis]
    findings: tuple[Finding, ...]
    room: int | None
    seconds: float
    scanned: int  # files looked at (every file and symlink of the environment)
    packages: tuple[PackageDiagnosis, ...] = ()  # with missing or changed files, and why

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)
