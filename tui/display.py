"""How numbers and states read on screen, with words or glyphs so NO_COLOR stays readable."""

from __future__ import annotations

from conda_package.core import human_bytes

__all__ = [
    "SEVERITY_GLYPH",
    "SEVERITY_ORDER",
    "SEVERITY_STYLE",
    "count",
    "duration",
    "elide_middle",
    "human_bytes",
    "rate",
    "shorten",
]

SEVERITY_ORDER = ("error", "warning", "info")
SEVERITY_GLYPH = {"error": "✗", "warning": "!", "info": "i"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def count(n: int, noun: str) -> str:
    """'1 file', '2 files': screen text reads as sentences, not as column dumps."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def rate(bytes_per_second: float) -> str:
    return f"{human_bytes(bytes_per_second)}/s"


def shorten(path: str, width: int) -> str:
    """Keep a path's end, which names the file, when it does not fit."""
    return path if len(path) <= width else "…" + path[-(width - 1) :]


def elide_middle(text: str, width: int) -> str:
    """Keep both ends, which tell names apart: "python-…-3.7.12" (at least 1 character)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")
