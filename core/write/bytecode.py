"""Byte-code compiled at pack time by the environment's own Python, for what it lacks.

Without byte-code, every start on a read-only or shared install compiles each module it
imports (json, ssl, asyncio, pip: over a second), and a writable one writes it all again.
The environment is never written to: its Python (3.7 has no sys.pycache_prefix) compiles
each source's bytes in memory and appends the byte-code to one file per group of sources,
in a temporary folder beside the output, from which the packer adds each where Python looks
for it. One file a group, not one a module: beside the output is often Lustre or GPFS, where
creating and removing thousands of small files is what takes the time (and on this
machine's ext4 too: 1,584 files cost 1.2-1.7 s of system time, a group file 0.1 s).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import subprocess
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, replace
from itertools import pairwise

from ..errors import CondaPackageError
from ..load import Environment, pyc_source
from ..paths import fsencode
from ..plan import PackPlan, PlanEntry, env_python, keeps_bytecode
from .bytecache import BytecodeCache, group_key

# Run by the environment's Python (-s -S -B: no site, no user paths, writes no byte-code of
# its own): sources on stdin, NUL-separated; compiles those of its own library tree that
# have no valid byte-code for this interpreter, one after the other into the file OUT;
# prints "NAME\0SIZE\0" for each, NAME where it goes in the archive.
_COMPILER = r"""
import importlib.util, os, sys
from importlib._bootstrap_external import _code_to_timestamp_pyc
prefix, out = sys.argv[1], sys.argv[2]
pack, index = open(out, "wb"), []
library = os.path.relpath(os.path.dirname(os.__file__), prefix) + os.sep
def valid(cached, st):
    try:
        with open(cached, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    if head[:4] != importlib.util.MAGIC_NUMBER or len(head) < 16:
        return False
    if int.from_bytes(head[4:8], "little") & 1:
        return True
    stamp = (int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)
    return stamp == (int.from_bytes(head[8:12], "little"), int.from_bytes(head[12:16], "little"))
for name in sys.stdin.buffer.read().decode("utf-8", "surrogateescape").split("\0"):
    if not name.startswith(library):
        continue
    source = os.path.join(prefix, name)
    st = os.stat(source)
    cached = importlib.util.cache_from_source(source)
    if valid(cached, st):
        continue
    with open(source, "rb") as f:
        data = f.read()
    try:
        code = compile(data, source, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        continue
    data = _code_to_timestamp_pyc(code, st.st_mtime, st.st_size)
    pack.write(data)
    index.append("%s\0%d\0" % (os.path.relpath(cached, prefix), len(data)))
pack.close()
sys.stdout.buffer.write("".join(index).encode("utf-8", "surrogateescape"))
"""


# Sources per interpreter: each start costs ~30 ms of CPU; 128 a group took 0.3 s more CPU
# than 512 on the real environment's 1,584 sources (2.3 against 2.0 s), which still gives
# -j 2 four groups to share.
_GROUP = 512


@dataclass(frozen=True)
class CompiledFile:
    """One module's byte-code: `size` bytes at `offset` in the group file `pack`."""

    pack: str
    offset: int
    size: int


@dataclass(frozen=True)
class CompiledBytecode:
    """Byte-code compiled into group files in `root`, a temporary folder."""

    root: str
    files: Mapping[str, CompiledFile]  # by name in the archive, sorted

    def read(self, name: str) -> bytes:
        """One file's byte-code, whole: its compiler held it whole too."""
        where = self.files[name]
        fd = os.open(where.pack, os.O_RDONLY)
        try:
            return os.pread(fd, where.size, where.offset)
        finally:
            os.close(fd)


def can_compile(env: Environment) -> bool:
    """Whether the environment has a Python of its own to compile byte-code with."""
    return os.access(env_python(env.prefix), os.X_OK)


def compile_bytecode(
    env: Environment, plan: PackPlan, into: str, relocate_prefix: str | None, jobs: int = 1
) -> CompiledBytecode:
    """Compile, into the empty folder `into` (outside the environment), the byte-code that
    the plan's sources lack, with `jobs` interpreters at once, and wait for all of it."""
    job = BytecodeCompile(env, plan, into, relocate_prefix, jobs)
    try:
        job.plan()
    finally:
        job.close()
    return CompiledBytecode(into, dict(sorted(job.compiled.files.items())))  # by name


class BytecodeCompile:
    """compile_bytecode() started: the groups compile in the background while entries()
    hands out the plan with their byte-code in it, in plan order, as far as the groups that
    have ended allow. So the packer writes what sorts before the first byte-code (bin/,
    include/, lib/*.so: half the real environment's bytes) while the compilers run.

    Only sources packed as they are on disk are compiled: byte-code records its source's
    size and mtime, not its text. Each group's byte-code can only be named once it has ended,
    but its place can be bounded before: a source's byte-code and its folder sort at or after
    `<its folder>/__pycache__`, so anything that sorts before the least such name of a group
    goes out without waiting for it.
    """

    def __init__(
        self,
        env: Environment,
        plan: PackPlan,
        into: str,
        relocate_prefix: str | None,
        jobs: int = 1,
        cache: BytecodeCache | None = None,
    ) -> None:
        sources = [
            e.name
            for e in plan.entries
            if e.kind == "file"
            and e.name.endswith(".py")
            and keeps_bytecode(e.action, relocate_prefix)
        ]
        self.python = env_python(env.prefix)
        self._files: dict[str, CompiledFile] = {}  # filled as the groups are taken in
        self.compiled = CompiledBytecode(into, self._files)
        self._plan = plan
        self._by_name = {e.name: e for e in plan.entries}
        self._entries = plan.entries  # sorted by name, as make_plan makes them: merged so
        if any(a.name >= b.name for a, b in pairwise(self._entries)):
            self._entries = tuple(sorted(self._entries))
        # -s -S -B and no PYTHON* variables but a fixed hash seed: isolated as -I would be
        # (which ignores the seed), while set constants come out in one order. And the same
        # output whatever `jobs` or the timing: marshal marks an object shared by its
        # reference count, which what a process compiled before can change, so the sources
        # go in fixed groups, each to an interpreter of its own.
        self._command = [self.python, "-s", "-S", "-B", "-c", _COMPILER, env.prefix]
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self._env["PYTHONHASHSEED"] = "0"
        self._groups = [sources[i : i + _GROUP] for i in range(0, len(sources), _GROUP)]
        self._cache = cache
        self._keys = self._cache_keys(env) if cache is not None else {}
        self._bounds = [min(map(_pycache, group)) for group in self._groups]
        self._order = sorted(range(len(self._groups)), key=self._bounds.__getitem__)
        self._gate = 0  # groups taken in: self._order[: self._gate]
        self._heap: list[tuple[str, PlanEntry]] = []  # taken in, not yet handed out
        self._folders: set[str] = set()  # __pycache__ folders the plan lacks, added
        self._next = 0  # the plan's next entry to hand out
        self._out: list[PlanEntry] = []
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._closed = False
        self._pool = ThreadPoolExecutor(max(1, jobs), thread_name_prefix="bytecode")
        # Started in the order they are needed: the stream waits for the first ones first.
        self._futures: dict[int, Future[tuple[str, bytes]]] = {}
        for number in self._order:
            self._futures[number] = self._pool.submit(self._run, number)

    def _cache_keys(self, env: Environment) -> dict[int, str]:
        """Each group's key in the cache: its sources, and the byte-code already in their
        __pycache__ folders (what the compiler finds valid, it leaves out)."""
        beside: dict[str, list[str]] = {}
        for name in env.files:
            if "__pycache__/" in name:
                beside.setdefault(os.path.dirname(name), []).append(name)
        keys = {}
        for number, group in enumerate(self._groups):
            folders = {_pycache(source) for source in group}
            near = sorted(n for folder in folders for n in beside.get(folder, ()))
            key = group_key(_COMPILER, self.python, env.prefix, group, env.files, near)
            if key is not None:
                keys[number] = key
        return keys

    def _run(self, number: int) -> tuple[str, bytes]:
        key = self._keys.get(number)
        if self._cache is None or key is None:
            return self._compile(number)
        if (cached := self._cache.get(key)) is not None:
            return cached
        pack = self._compile(number)
        self._cache.put(key, *pack)
        return pack

    def _compile(self, number: int) -> tuple[str, bytes]:
        pack = os.path.join(self.compiled.root, str(number))
        stdin = fsencode("\0".join(self._groups[number]))
        with self._lock:
            if self._closed:
                raise CondaPackageError("byte-code compile stopped")
            proc = subprocess.Popen(
                [*self._command, pack],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
            )
            self._running.add(proc)
        try:
            out, err = proc.communicate(stdin)
        finally:
            with self._lock:
                self._running.discard(proc)
        if proc.returncode:
            last = err.decode(errors="replace").strip().splitlines()[-1:] or [
                f"exit status {proc.returncode}"
            ]
            raise CondaPackageError(
                f"{self.python}: cannot compile byte-code ({last[0]}); it must run on this"
                " machine for --compile-bytecode and for squashfs images (pack without"
                " --compile-bytecode, or as another format)"
            )
        return pack, out

    def close(self) -> None:
        """Stop what still runs (the pack failed or is over); wait for it to be gone."""
        with self._lock:
            self._closed = True
            for proc in self._running:
                with contextlib.suppress(OSError):
                    proc.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _head(self) -> str | None:
        """The name of the next entry to hand out, of those known now."""
        names = [self._heap[0][0]] if self._heap else []
        if self._next < len(self._entries):
            names.append(self._entries[self._next].name)
        return min(names) if names else None

    def _due(self) -> int | None:
        """The next group that must be taken in before the next entry, if any."""
        if self._gate == len(self._order):
            return None
        number = self._order[self._gate]
        head = self._head()
        return number if head is None or self._bounds[number] <= head else None

    def ready(self) -> bool:
        """Whether the next entry (or the end) can be handed out without waiting."""
        number = self._due()
        return number is None or self._futures[number].done()

    def wait(self, timeout: float | None = None) -> None:
        """Wait at most `timeout` seconds for ready()."""
        number = self._due()
        if number is not None:
            futures_wait([self._futures[number]], timeout)

    def _take(self, number: int) -> None:
        """Take in one ended group: its byte-code files, and the folders they need."""
        pack, out = self._futures[number].result()
        fields = out.decode("utf-8", "surrogateescape").split("\0")[:-1]
        offset = 0
        files = []
        for name, size in zip(fields[::2], map(int, fields[1::2]), strict=True):
            if name < self._bounds[number]:
                raise CondaPackageError(f"{name}: byte-code outside __pycache__ (not packed)")
            where = CompiledFile(pack, offset, size)
            self._files[name] = where
            files.append((name, where))
            offset += size
        for entry in _bytecode_entries(self._by_name, files, self._folders):
            heapq.heappush(self._heap, (entry.name, entry))

    def entries(self) -> Iterator[PlanEntry]:
        """The plan with the byte-code in it, in order; waits for a group only when the
        next entry could be one of its own."""
        plan = self._entries
        while True:
            while (number := self._due()) is not None:
                self._take(number)
                self._gate += 1
            if self._heap and (
                self._next == len(plan) or self._heap[0][0] <= plan[self._next].name
            ):
                name, entry = heapq.heappop(self._heap)
                if self._next < len(plan) and plan[self._next].name == name:
                    self._next += 1  # stale byte-code of the same name: replaced
            elif self._next < len(plan):
                entry = plan[self._next]
                self._next += 1
            else:
                return
            self._out.append(entry)
            yield entry

    def plan(self) -> PackPlan:
        """The plan with all the byte-code in it: what entries() hands out, whole (what it
        has not handed out yet is waited for)."""
        for _ in self.entries():
            pass
        return replace(self._plan, entries=tuple(self._out))

    def totals(self) -> tuple[int, int] | None:
        """Entries and file bytes of plan(), once every group is taken in."""
        if self._gate < len(self._order):
            return None
        count, size = len(self._entries) + len(self._folders), self._plan.total_bytes
        for name, where in self._files.items():
            old = self._by_name.get(name)
            count += old is None
            size += where.size - (old.size if old is not None and old.kind == "file" else 0)
        return count, size


def _pycache(source: str) -> str:
    """Where a source's byte-code and its folder sort from: `<its folder>/__pycache__`."""
    return os.path.join(os.path.dirname(source), "__pycache__")


def _bytecode_entries(
    by_name: Mapping[str, PlanEntry],
    files: Iterable[tuple[str, CompiledFile]],
    folders: set[str],
) -> list[PlanEntry]:
    """Plan entries for compiled byte-code files and the __pycache__ folders that neither
    the plan (`by_name`) nor `folders` (added to) holds. Each file takes its source's mtime,
    a folder its parent's, so two packs of the same environment agree."""
    added = []
    for name, where in files:
        source = by_name.get(pyc_source(name) or "")
        mtime = source.mtime if source else 0
        added.append(PlanEntry(name, "file", 0o644, mtime, where.size, action="compiled"))
        folder = os.path.dirname(name)
        if folder not in by_name and folder not in folders:
            folders.add(folder)
            parent = by_name.get(os.path.dirname(folder))
            added.append(PlanEntry(folder, "dir", 0o755, parent.mtime if parent else 0))
    return added


def with_bytecode(plan: PackPlan, compiled: CompiledBytecode) -> PackPlan:
    """The plan with the compiled byte-code in it (over stale byte-code of the same name),
    and the __pycache__ folders it needs: what BytecodeCompile.entries() hands out."""
    by_name = {e.name: e for e in plan.entries}
    added = _bytecode_entries(by_name, compiled.files.items(), set())
    merged = {**by_name, **{e.name: e for e in added}}
    return replace(plan, entries=tuple(sorted(merged.values())))
