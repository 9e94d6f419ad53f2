"""The Files tab's details panel: everything known of one path, in full (the tree cuts)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from conda_package.core import FileAnalysis, Finding
from rich.table import Table
from rich.text import Text

from .display import SEVERITY_GLYPH, SEVERITY_STYLE, count, human_bytes
from .model import FileIndex, LoadedEnvironment


def placeholder_text(placeholder: str) -> Text:
    """Build placeholders are often 255 characters of padding: their start says enough."""
    if len(placeholder) <= 48:
        return Text(placeholder)
    return Text.assemble(placeholder[:40], ("…", "dim"), f" ({len(placeholder.encode())} bytes)")


def file_details(
    loaded: LoadedEnvironment,
    index: FileIndex,
    path: str,
    badges: list[str],
    analysed: FileAnalysis | None,
    analysis_done: bool,
    findings: Sequence[Finding],
) -> Table:
    """Size, owner, mode, placeholder; with the analysis: kind, ELF facts, findings."""
    env = loaded.env
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("path", Text(path or env.prefix))
    table.add_row("size", human_bytes(index.sizes.get(path, 0)))
    if index.is_dir(path):
        table.add_row("folder", count(index.counts[path], "file"))
        return table
    st = env.files[path]
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(os.path.join(env.prefix, path))
        except OSError as exc:
            target = f"unreadable ({exc.strerror})"
        table.add_row("symlink", Text(f"→ {target}"))
    table.add_row("mode", stat.filemode(st.st_mode))
    record = env.owners.get(path)
    pip = env.pip_owners.get(path)
    if record is not None:
        table.add_row("owner", Text(f"{record.dist} ({record.channel_name})"))
    else:
        table.add_row("owner", Text(f"untracked, {pip}" if pip else "untracked"))
    if badges:
        table.add_row("badges", " ".join(badges))
    entry = loaded.path_entries.get(path)
    if entry is not None and entry.prefix_placeholder:
        table.add_row("placeholder", placeholder_text(entry.prefix_placeholder))
        table.add_row("file mode", entry.file_mode or "text")
    if analysed is None:
        if not analysis_done:
            table.add_row("analysis", Text("running…", style="italic"))
        return table
    table.add_row("kind", analysed.kind)
    if analysed.placeholder and entry is None:
        table.add_row("placeholder", placeholder_text(analysed.placeholder))
    if analysed.room is not None:
        table.add_row("room", f"{analysed.room} bytes")
    elf = analysed.elf
    if elf is not None:
        table.add_row("machine", elf.machine)
        if elf.soname:
            table.add_row("SONAME", Text(elf.soname))
        if elf.interpreter:
            table.add_row("interpreter", Text(elf.interpreter))
        table.add_row("RPATH", Text(":".join(elf.rpath) or "-"))
        table.add_row("RUNPATH", Text(":".join(elf.runpath) or "-"))
        needed = Text()
        for soname, where, resolved in analysed.needed:
            needed.append(f"{soname} → {where}")
            if resolved:
                needed.append(f" ({resolved})", style="dim")
            needed.append("\n")
        needed.rstrip()
        table.add_row("NEEDED", needed or Text("-"))
    for finding in findings:
        severity = str(finding.severity.value)
        table.add_row(
            Text(f"{SEVERITY_GLYPH[severity]} {severity}", style=SEVERITY_STYLE[severity]),
            Text(finding.message),
        )
    return table
