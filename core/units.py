"""How sizes read for people, the same in the CLI and the TUI."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB': binary units, one decimal."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
