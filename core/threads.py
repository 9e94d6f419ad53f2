"""How many worker threads a job runs: the one rule every room and both faces follow."""

from __future__ import annotations

import os

from .errors import UsageError


def worker_count(threads: int) -> int:
    """The threads to start for a request: 0 means one per core; below 0 is refused."""
    if threads < 0:
        raise UsageError(f"threads {threads}: must be 0 (one per core) or more")
    return threads or os.cpu_count() or 1
