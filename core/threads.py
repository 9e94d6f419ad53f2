"""How many worker threads a job runs: the one rule every room and both faces follow."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from .errors import UsageError

T = TypeVar("T")
R = TypeVar("R")


def worker_count(threads: int) -> int:
    """The threads to start for a request: 0, or -1 as conda-pack spells it, means one per
    core; other negatives are refused."""
    if threads < -1:
        raise UsageError(f"threads {threads}: must be 1 or more, or 0 or -1 for one per core")
    return threads if threads > 0 else os.cpu_count() or 1


# Calls that wait on the filesystem at once when loading and packing. A network filesystem
# answers many requests in parallel: at 1 ms per call the walk gains little past 16 threads,
# at 2 ms past 32; threads start only where calls are slow (README, Performance).
IO_THREADS = 64
# A call slower than this is a round trip to a server (or a cold disk): worth a thread.
# Warm local lstat, open and directory reads take 1-10 microseconds.
SLOW_CALL_S = 50e-6
# Slow runs in a row that prove it: on a busy machine a single run of local calls can be
# stalled for milliseconds by a preempted thread or the garbage collector.
SLOW_RUNS = 3


def io_thread_count(threads: int) -> int:
    """The I/O threads to start for a request: 0 means IO_THREADS, 1 none (this thread)."""
    if threads < 0:
        raise UsageError(f"I/O threads {threads}: must be 0 (the default, {IO_THREADS}) or more")
    return threads or IO_THREADS


class IOPool:
    """Threads for calls that wait on the filesystem, started only once calls prove slow.

    On a local disk a call takes microseconds and threads only add GIL hand-overs, so the
    work runs on the caller's thread; `timed` measures it, and SLOW_RUNS slow measures in
    a row send all later work to the threads, where round trips to a server overlap.
    """

    def __init__(self, threads: int = 0, slow: bool | None = None) -> None:
        """`slow`, when known (the walk measured it), is the verdict for good: timings
        taken beside busy threads measure their hold on the GIL, not the filesystem."""
        self.threads = io_thread_count(threads)
        self.slow = bool(slow)
        self._learns = slow is None
        self._streak = 0
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def __enter__(self) -> IOPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for the calls under way and drop the queued ones (after an error)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    @property
    def executor(self) -> ThreadPoolExecutor | None:
        """The threads, when calls have proved slow and more than one thread is allowed."""
        if not self.slow or self.threads == 1:
            return None
        with self._lock:  # the packer's workers may ask at once
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.threads, "io")
            return self._executor

    def note(self, seconds: float, calls: int) -> None:
        """`calls` filesystem calls took `seconds` on this thread (0 calls: not a measure)."""
        if not calls or not self._learns:
            return
        self._streak = self._streak + 1 if seconds > SLOW_CALL_S * calls else 0
        if self._streak >= SLOW_RUNS:
            self.slow = True

    def timed(self, fn: Callable[..., R], *args: object, calls: int = 1) -> R:
        """Run `fn` here, and note whether its `calls` filesystem calls were slow."""
        start = time.perf_counter()
        result = fn(*args)
        self.note(time.perf_counter() - start, calls)
        return result

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], calls: Callable[[T], int] | int = 1
    ) -> Iterator[R]:
        """fn over items, results in order: here and timed until the calls prove slow,
        then the rest on the threads. `calls`: the filesystem calls fn makes for an item
        (0: its time says nothing of the filesystem)."""
        todo = iter(items)
        head: list[R] = []
        for item in todo:
            if (executor := self.executor) is not None:
                return _chain(head, executor.map(fn, itertools.chain((item,), todo)))
            head.append(self.timed(fn, item, calls=calls(item) if callable(calls) else calls))
        return iter(head)

    def submit(self, fn: Callable[..., R], *args: object) -> Future[R]:
        """fn on the threads (call only when `executor` is not None)."""
        assert self._executor is not None
        return self._executor.submit(fn, *args)


def _chain(head: list[R], rest: Iterator[R]) -> Iterator[R]:
    yield from head
    yield from rest
