"""What every relocation rule needs of the environment, and the findings the rules add."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..load import Environment, PackageDiagnosis
from ..paths import inside
from .findings import Finding, Severity


@dataclass
class Judge:
    """The environment being judged, the prefix's spellings, and the findings so far."""

    env: Environment
    prefixes: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    diagnoses: dict[str, PackageDiagnosis] = field(default_factory=dict)  # by the package's dist

    def diagnosis(self, path: str) -> PackageDiagnosis | None:
        """Why the package owning `path` has missing or changed files, if it has."""
        record = self.env.owners.get(path)
        return self.diagnoses.get(record.dist) if record is not None else None

    def owner(self, path: str) -> str:
        record = self.env.owners.get(path)
        return record.dist if record is not None else "untracked"

    def add(self, code: str, severity: Severity, path: str, message: str, hint: str) -> None:
        self.findings.append(Finding(code, severity, path, self.owner(path), message, hint))

    def in_prefix(self, path: str) -> str | None:
        """The prefix spelling `path` lies under, if any."""
        return next((p for p in self.prefixes if inside(path, p)), None)
