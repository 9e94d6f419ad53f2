"""Entry point of conda-package-tui (placeholder until the TUI issue lands)."""

import sys


def main() -> int:
    print(
        "conda-package-tui: the terminal UI is not built yet; use conda-package.", file=sys.stderr
    )
    return 2
