"""The ordered compression pipeline: jobs on a thread pool whose results are written in
the order they were given, so the output never depends on the number of threads."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, TypeVar

from ..errors import CondaPackageError
from .codecs import BlockCodec, BlockResult
from .entry import Buffer

_T = TypeVar("_T")

PIPELINE_BYTES = 64 << 20  # uncompressed input held by a writer's compression threads


class Pipeline:
    """Jobs run on a thread pool; their results are used in submission order.

    Input in flight is bounded by bytes, not by jobs: a full block per thread and one
    more keep every thread busy, and when jobs are small files many of them can queue
    up, so a large one at the head does not leave the other threads idle. On many cores
    PIPELINE_BYTES caps it (two blocks at least). Steps queued with then() run in order
    between job results.
    """

    def __init__(self, threads: int, block_size: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="compress")
        self._budget = max(2 * block_size, min((threads + 1) * block_size, PIPELINE_BYTES))
        self._in_flight = 0
        self._queue: deque[tuple[Future[Any] | None, Callable[..., None], int]] = deque()

    def submit(
        self, job: Callable[..., _T], size: int, *args: Any, then: Callable[[_T], None]
    ) -> None:
        """Run job(*args), where `size` is how many input bytes the job holds."""
        while self._in_flight and self._in_flight + size > self._budget:
            self._step()
        self._queue.append((self._pool.submit(job, *args), then, size))
        self._in_flight += size

    def then(self, step: Callable[[], None]) -> None:
        """Run step() once every job submitted so far has been used."""
        if self._queue:
            self._queue.append((None, step, 0))
        else:
            step()

    def _step(self) -> None:
        future, step, size = self._queue.popleft()
        if future is None:
            step()
        else:
            self._in_flight -= size
            step(future.result())

    def wait(self) -> None:
        """Run every queued step, waiting for the jobs they need."""
        while self._queue:
            self._step()

    def drain(self) -> None:
        """Run every queued step, then stop the threads."""
        self.wait()
        self._pool.shutdown()

    def abort(self) -> None:
        """Drop queued work without waiting: the output is being dropped."""
        self._queue.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)


class BlockStream:
    """Compress fixed-size blocks on a thread pool and write them back in order.

    Cutting the input at fixed offsets and compressing each block with a fresh
    compressor keeps the output one valid stream, byte-identical whatever the number
    of threads (zlib-ng's own threaded gzip writer reuses compressors, whose leftover
    state makes its output depend on the thread count).
    """

    def __init__(self, raw: BinaryIO, codec: BlockCodec, threads: int) -> None:
        self._raw = raw
        self.codec = codec
        self._pipeline = Pipeline(threads, codec.block_size)
        self._buf = bytearray()
        self._history = b""
        raw.write(codec.head())

    def write(self, data: Buffer) -> int:
        """Whole blocks of read-only data go out as views of it, uncopied."""
        size = self.codec.block_size
        view = memoryview(data).cast("B")
        if not view.readonly:  # the caller may change it once we return: keep a copy
            view = memoryview(bytes(view))
        start = 0
        if self._buf:
            start = size - len(self._buf)
            self._buf += view[:start]
            if len(self._buf) < size:
                return len(view)
            self._submit(self._buf)
            self._buf = bytearray()
        while len(view) - start >= size:
            self._submit(view[start : start + size])
            start += size
        self._buf += view[start:]
        return len(view)

    def _submit(self, block: bytearray | memoryview) -> None:
        history = self._history
        self._history = bytes(block[max(0, len(block) - self.codec.history) :])
        self._pipeline.submit(self.codec.compress, len(block), history, block, then=self._emit)

    def _emit(self, result: BlockResult) -> None:
        self._raw.write(self.codec.emit(result))

    def write_compressed(self, blocks: list[BlockResult]) -> None:
        """Blocks the codec compressed elsewhere, each starting afresh (compress_run()),
        placed in order after what came before."""
        if self._buf:  # which ends as a shorter block
            self._submit(self._buf)
            self._buf = bytearray()
        self._history = b""  # the next block starts afresh, as the run's first did
        self._pipeline.wait()  # written, so no output piles up behind a slow block
        for result in blocks:
            self._emit(result)

    def close(self) -> None:
        if self._buf:
            self._submit(self._buf)
            self._buf = bytearray()
        self._pipeline.drain()
        self._raw.write(self.codec.tail())

    def abort(self) -> None:
        self._pipeline.abort()


class BackgroundStream:
    """Feed a stream from its own thread, so building the tar overlaps compressing it.

    zstandard's writer releases the GIL but blocks its caller while its workers catch up;
    without this the main thread's per-entry work and the compression run in turn.
    """

    _DONE = object()

    def __init__(self, stream: Any, depth: int = 8) -> None:
        self._stream = stream
        self._queue: queue.Queue[Any] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="compress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            if data is self._DONE:
                return
            if self._error is None:
                try:
                    self._stream.write(data)
                except BaseException as exc:  # surfaced in the caller's thread
                    self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data: Buffer) -> int:
        self._check()
        self._queue.put(data)
        return len(data)

    def close(self) -> None:
        self._queue.put(self._DONE)
        self._thread.join()
        self._check()
        self._stream.close()

    def abort(self) -> None:
        self._error = self._error or CondaPackageError("aborted")
        self._queue.put(self._DONE)
        self._thread.join()
        self._stream.close()
