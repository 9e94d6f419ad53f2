"""Why a package's files are missing or changed, and the fix: pip (which replaced, uninstalled
or overwrote it) or a hand. conda-pack stops with a bare list here; its users then ask why."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from .environment import Environment
from .pip import PipDistribution
from .records import PackageRecord

DiagnosisCause = Literal["pip-replaced", "pip-uninstalled", "pip-overwrote", "by-hand"]
_DIST_INFO = re.compile(r"(?:^|/)site-packages/([^/]+)-[^/-]+\.(?:dist|egg)-info(?:/|$)")


def normalize(name: str) -> str:
    """A Python distribution's name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class PackageDiagnosis:
    """What happened to one package's files since conda installed them."""

    package: PackageRecord
    cause: DiagnosisCause
    missing: tuple[str, ...]
    modified: tuple[str, ...]  # present, but not as installed
    # pip-replaced: the distribution that owns its files now; pip-overwrote: those whose
    # RECORD lists the changed files.
    by: tuple[PipDistribution, ...] = ()

    @property
    def reason(self) -> str:
        by = ", ".join(f"{d.name} {d.version} ({posixpath.basename(d.dist_info)})" for d in self.by)
        if self.cause == "pip-replaced":
            return f"pip replaced it with {by}, which owns its files now"
        if self.cause == "pip-uninstalled":
            return "pip uninstalled it: its files are gone and no dist-info for it remains"
        if self.cause == "pip-overwrote":
            return f"pip overwrote {_count(len(self.modified), 'file')} of it installing {by}"
        how = " or ".join(w for w, f in (("deleted", self.missing), ("edited", self.modified)) if f)
        return f"{_changed(self)} since install, and no pip install explains it: {how} by hand"

    @property
    def fix(self) -> str:
        name = self.package.name
        reinstall = f"conda install --force-reinstall {name}"
        if self.cause == "pip-replaced":
            pip = self.by[0]
            return (
                f"pip uninstall {pip.name}, then {reinstall} (or keep pip's {pip.name}"
                f" {pip.version}: pack with --ignore-missing-files)"
            )
        if self.cause == "pip-uninstalled":
            return f"{reinstall} to have it back, or conda remove --force {name} if it should go"
        if self.cause == "pip-overwrote":
            pips = " ".join(d.name for d in self.by)
            return f"pip uninstall {pips}, then {reinstall} (or accept pip's files, packed as is)"
        return reinstall

    @property
    def message(self) -> str:
        """One line: the package, what happened, and the fix."""
        return f"{self.package.dist}: {self.reason}; fix: {self.fix}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _changed(d: PackageDiagnosis) -> str:
    parts = []
    if d.missing:
        parts.append(f"{_count(len(d.missing), 'file')} missing")
    if d.modified:
        parts.append(f"{_count(len(d.modified), 'file')} changed")
    return " and ".join(parts)


def _python_names(record: PackageRecord) -> set[str]:
    """The package's names as pip knows them: its dist-infos', and its conda name."""
    names = {normalize(record.name)}
    for item in record.path_items:
        m = _DIST_INFO.search(item["_path"])
        if m:
            names.add(normalize(m.group(1)))
    return names


def diagnose(
    env: Environment, modified: Collection[str] | None = None
) -> tuple[PackageDiagnosis, ...]:
    """Each package with missing or changed files, and why. `modified` defaults to what the
    load saw (sizes); the analysis passes what it verified (sha256). No file is read."""
    changed = set(env.modified if modified is None else modified)
    missing_by: dict[str, list[str]] = {}
    for m in env.missing:
        missing_by.setdefault(m.package.dist, []).append(m.path)
    modified_by: dict[str, list[str]] = {}
    for path in sorted(changed):
        owner = env.owners.get(path)
        if owner is not None:
            modified_by.setdefault(owner.dist, []).append(path)
    pips = {normalize(d.name): d for d in env.pip_distributions}
    listed: dict[str, list[PipDistribution]] = {}
    for dist in env.pip_distributions:
        for path in dist.files:
            if path in changed:
                listed.setdefault(path, []).append(dist)
    out = []
    for record in env.records:
        missing = tuple(missing_by.get(record.dist, ()))
        mods = tuple(modified_by.get(record.dist, ()))
        if not missing and not mods:
            continue
        names = _python_names(record)
        replacing = [pips[n] for n in sorted(names) if n in pips]
        overwriting = list({d.dist_info: d for p in mods for d in listed.get(p, ())}.values())
        own_info_gone = any(_DIST_INFO.search(p) for p in missing)
        cause: DiagnosisCause
        by: list[PipDistribution] = []
        if replacing:
            cause, by = "pip-replaced", replacing
        elif own_info_gone:
            cause = "pip-uninstalled"
        elif overwriting:
            cause, by = "pip-overwrote", overwriting
        else:
            cause = "by-hand"
        out.append(PackageDiagnosis(record, cause, missing, mods, tuple(by)))
    return tuple(out)
