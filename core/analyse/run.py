"""analyse(): every file of an environment examined in parallel (or taken from the cache),
then judged; and target_findings() for a chosen target prefix."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from ..load import Environment, PackageDiagnosis, diagnose, prefix_spellings
from ..paths import fsencode
from ..progress import Progress, ProgressCallback, check_cancel
from .cache import AnalysisCache
from .examine import FileFacts, FileTask, examine
from .findings import RANK, FileAnalysis, Finding, RelocationReport, Severity
from .judge import Judge
from .rules import is_modified, judge_file, judge_missing, judge_special, judge_symlink

# Files a worker takes at a time: one future per file would cost more than the reads.
_BATCH_FILES = 48
_BATCH_BYTES = 8 << 20
_PROGRESS_EVERY = 0.1  # seconds


def _tasks(env: Environment) -> Iterator[tuple[FileTask, int]]:
    """Every regular file with what its facts depend on, and its mode bits."""
    items = {item["_path"]: item for record in env.records for item in record.path_items}
    search = set(env.untracked) | set(env.modified)
    for path, st in env.files.items():
        if not stat.S_ISREG(st.st_mode):
            continue
        item = items.get(path, {})
        placeholder = item.get("prefix_placeholder") or None
        yield (
            FileTask(
                path,
                env.prefix,
                (st.st_size, st.st_mtime_ns, st.st_ino),
                placeholder,
                (item.get("file_mode") or "text") if placeholder else None,
                item.get("sha256") if placeholder else None,
                path in search,
            ),
            st.st_mode,
        )


def _batches(tasks: list[FileTask]) -> Iterator[list[FileTask]]:
    """Big reads first and alone, so that no worker is left with a long tail."""
    batch: list[FileTask] = []
    cost = 0
    for task in sorted(tasks, key=lambda t: -t.cost):
        batch.append(task)
        cost += task.cost
        if len(batch) >= _BATCH_FILES or cost >= _BATCH_BYTES:
            yield batch
            batch, cost = [], 0
    if batch:
        yield batch


def _examine_batch(
    batch: list[FileTask], prefixes: tuple[bytes, ...], cancel: threading.Event | None
) -> list[tuple[FileTask, FileFacts]]:
    return [(task, examine(task, prefixes, cancel)) for task in batch]


@dataclass
class _Tally:
    """Files and bytes done so far, told to the caller at most every _PROGRESS_EVERY."""

    progress: ProgressCallback | None
    total_files: int
    total_bytes: int
    done_files: int = 0
    done_bytes: int = 0
    last: float = 0.0

    def add(self, task: FileTask) -> None:
        self.done_files += 1
        self.done_bytes += task.size
        self.tell(task.path)

    def tell(self, current: str, final: bool = False) -> None:
        now = time.perf_counter()
        if self.progress is not None and (final or now - self.last >= _PROGRESS_EVERY):
            self.last = now
            done = (self.done_files, self.total_files, self.done_bytes, self.total_bytes)
            self.progress(Progress("analyse", *done, current))


def _examine_all(
    pending: list[FileTask],
    prefixes: tuple[bytes, ...],
    threads: int,
    cancel: threading.Event | None,
) -> Iterator[tuple[FileTask, FileFacts]]:
    """Each pending file's facts as workers finish them; cancelling stops the rest."""
    workers = threads if threads > 0 else os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyse") as pool:
        futures: set[Future] = {
            pool.submit(_examine_batch, batch, prefixes, cancel) for batch in _batches(pending)
        }
        try:
            while futures:
                done, futures = wait(futures, timeout=_PROGRESS_EVERY, return_when=FIRST_COMPLETED)
                check_cancel(cancel)
                for future in done:
                    yield from future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _judge_all(
    env: Environment,
    prefixes: tuple[str, ...],
    tasks: list[tuple[FileTask, int]],
    facts: dict[str, FileFacts],
) -> tuple[dict[str, FileAnalysis], list[Finding], tuple[PackageDiagnosis, ...]]:
    """Every file, symlink, missing and special file judged; the files worth showing, and
    why packages have missing or changed files."""
    changed = [
        t.path for t, _ in tasks if t.path in env.owners and is_modified(env, t.path, facts[t.path])
    ]
    packages = diagnose(env, changed)
    judge = Judge(env, prefixes, diagnoses={d.package.dist: d for d in packages})
    files: dict[str, FileAnalysis] = {}
    for task, mode in tasks:
        analysis = judge_file(judge, task, facts[task.path], mode)
        if analysis is not None:
            files[task.path] = analysis
    for path, st in env.files.items():
        if stat.S_ISLNK(st.st_mode):
            analysis = judge_symlink(judge, path)
            if analysis is not None:
                files[path] = analysis
    for missing in env.missing:
        judge_missing(judge, missing)
    for path in env.special:
        judge_special(judge, path)
    return files, judge.findings, packages


def analyse(
    env: Environment,
    *,
    threads: int = 0,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cache: AnalysisCache | None = None,
) -> RelocationReport:
    """Find what would break or leak when `env` moves; `threads` 0 means one per core."""
    started = time.perf_counter()
    cache = cache if cache is not None else AnalysisCache()
    prefixes = prefix_spellings(env)
    key = "\0".join(prefixes)

    tasks = list(_tasks(env))
    facts: dict[str, FileFacts] = {}
    pending: list[FileTask] = []
    for task, _ in tasks:
        hit = cache.lookup(key, task)
        if hit is None:
            pending.append(task)
        else:
            facts[task.path] = hit
    cache.retain(key, {task.path for task, _ in tasks})

    tally = _Tally(
        progress,
        total_files=len(tasks),
        total_bytes=sum(task.size for task, _ in tasks),
        done_files=len(facts),
        done_bytes=sum(task.size for task, _ in tasks if task.path in facts),
    )
    tally.tell("")
    encoded = tuple(fsencode(p) for p in prefixes)
    for task, result in _examine_all(pending, encoded, threads, cancel):
        facts[task.path] = result
        cache.store(key, task, result)
        tally.add(task)
    tally.tell("", final=True)
    check_cancel(cancel)

    files, findings, packages = _judge_all(env, prefixes, tasks, facts)
    rooms = [a.room for a in files.values() if a.prefix_mode == "binary" and a.room is not None]
    return RelocationReport(
        prefix=env.prefix,
        files=dict(sorted(files.items())),
        findings=tuple(sorted(findings, key=lambda f: (RANK[f.severity], f.path, f.code))),
        room=min(rooms) if rooms else None,
        seconds=time.perf_counter() - started,
        scanned=len(env.files),
        packages=packages,
    )


def target_findings(env: Environment, report: RelocationReport, target: str) -> tuple[Finding, ...]:
    """Errors for the binaries a chosen target prefix does not fit (--relocate-prefix)."""
    size = len(fsencode(target))
    judge = Judge(env, (env.prefix,))
    return tuple(
        Finding(
            "target-prefix-too-long",
            Severity.ERROR,
            a.path,
            judge.owner(a.path),
            f"{target} ({size} bytes) does not fit: this binary has room for {a.room} bytes",
            f"choose a target prefix of at most {report.room} bytes",
        )
        for a in report.files.values()
        if a.prefix_mode == "binary" and a.room is not None and a.room < size
    )
