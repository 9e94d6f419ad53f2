"""What a pack will hold and leave out, as the Pack tab shows it before the start."""

from __future__ import annotations

import os
from collections import Counter

from conda_package.core import PackageResult, PackPlan, PackSettings
from rich.text import Text

from .display import count, human_bytes


def archive_preview(settings: PackSettings, plan: PackPlan) -> Text:
    """Entries and bytes that go in; what stays out, and why."""
    entries = f"{len(plan.entries):,} entr{'y' if len(plan.entries) == 1 else 'ies'}"
    text = Text.assemble(
        ("In: ", "bold"),
        f"{entries} ({count(len(plan.files), 'file')},"
        f" {human_bytes(plan.total_bytes)}) as {settings.format}",
        " into " + os.path.basename(settings.output),
        ", with conda-unpack, activate and the manifest",
    )
    out = []
    if plan.missing:
        out.append(f"{count(len(plan.missing), 'missing file')}")
    if plan.excluded:
        out.append(f"{len(plan.excluded):,} excluded by patterns")
    if plan.skipped_pyc:
        out.append(f"{plan.skipped_pyc:,} byte-code files of sources that change at the target")
    if plan.special:
        out.append(f"{len(plan.special):,} sockets, pipes or devices")
    text.append("\nOut: ", "bold")
    text.append("; ".join(out) if out else "nothing")
    return text


def package_preview(result: PackageResult) -> Text:
    text = Text.assemble(
        ("In: ", "bold"),
        f"{count(len(result.files), 'file')} ({human_bytes(result.bytes_in)}) as {result.dist}",
        f" ({result.format})",
    )
    reasons = Counter(item.reason for item in result.left_out)
    text.append("\nOut: ", "bold")
    text.append("; ".join(f"{n:,}: {why}" for why, n in reasons.items()) or "nothing")
    return text
