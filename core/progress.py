"""Progress reporting and cancellation shared by long-running core operations."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """A snapshot of a long job, handed to the caller's callback."""

    phase: str
    done_files: int
    total_files: int
    done_bytes: int
    total_bytes: int
    current: str = ""


ProgressCallback = Callable[[Progress], None]


def check_cancel(cancel: threading.Event | None) -> None:
    """Stop the job at a safe point when the caller asked for it."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


class Throttle:
    """Lets a progress report through at most every `every` seconds (forced ones always):
    a callback per file would cost more than the work it reports on."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.last = -every

    def ready(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self.last >= self.every:
            self.last = now
            return True
        return False
