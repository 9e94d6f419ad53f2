"""How many worker threads a job runs: the one rule every room and both faces follow."""

from __future__ import annotations

import os

from .errors import UsageError


def worker_count(threads: int) -> int:
    """The threads to start for a request: 0, or -1 as conda-pack spells it, means one per
    core; other negatives are refused."""
    if threads < -1:
        raise UsageError(f"threads {threads}: must be 1 or more, or 0 or -1 for one per core")
    return threads if threads > 0 else os.cpu_count() or 1
