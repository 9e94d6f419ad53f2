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

import os
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from ..errors import CondaPackageError
from ..load import Environment, pyc_source
from ..plan import PackPlan, PlanEntry, env_python, keeps_bytecode

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
    the plan's sources lack, with `jobs` interpreters at once. Only sources packed as they
    are on disk: byte-code records its source's size and mtime, not its text."""
    sources = [
        e.name
        for e in plan.entries
        if e.kind == "file" and e.name.endswith(".py") and keeps_bytecode(e.action, relocate_prefix)
    ]
    python = env_python(env.prefix)
    # -s -S -B and no PYTHON* variables but a fixed hash seed: isolated as -I would be
    # (which ignores the seed), while set constants come out in one order. And the same
    # output whatever `jobs`: marshal marks an object shared by its reference count, which
    # what a process compiled before can change, so the sources go in fixed groups, each
    # to an interpreter of its own.
    command = [python, "-s", "-S", "-B", "-c", _COMPILER, env.prefix]
    seeded = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    seeded["PYTHONHASHSEED"] = "0"
    groups = [sources[i : i + _GROUP] for i in range(0, len(sources), _GROUP)]

    def run(number: int) -> tuple[str, subprocess.CompletedProcess[bytes]]:
        pack = os.path.join(into, str(number))
        stdin = "\0".join(groups[number]).encode("utf-8", "surrogateescape")
        done = subprocess.run([*command, pack], input=stdin, capture_output=True, env=seeded)
        return pack, done

    files: dict[str, CompiledFile] = {}
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for pack, done in pool.map(run, range(len(groups))):
            if done.returncode:
                last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [
                    f"exit status {done.returncode}"
                ]
                raise CondaPackageError(
                    f"{python}: cannot compile byte-code ({last[0]}); it must run on this"
                    " machine for --compile-bytecode and for squashfs images (pack without"
                    " --compile-bytecode, or as another format)"
                )
            fields = done.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]
            offset = 0
            for name, size in zip(fields[::2], map(int, fields[1::2]), strict=True):
                files[name] = CompiledFile(pack, offset, size)
                offset += size
    return CompiledBytecode(into, dict(sorted(files.items())))


def with_bytecode(plan: PackPlan, compiled: CompiledBytecode) -> PackPlan:
    """The plan with the compiled byte-code in it (over stale byte-code of the same name),
    and the __pycache__ folders it needs. Each file takes its source's mtime, so two packs
    of the same environment agree."""
    by_name = {e.name: e for e in plan.entries}
    for name, where in compiled.files.items():
        size = where.size
        source = by_name.get(pyc_source(name) or "")
        mtime = source.mtime if source else 0
        by_name[name] = PlanEntry(name, "file", 0o644, mtime, size, action="compiled")
        folder = os.path.dirname(name)
        if folder not in by_name:
            parent = by_name.get(os.path.dirname(folder))
            by_name[folder] = PlanEntry(folder, "dir", 0o755, parent.mtime if parent else 0)
    return replace(plan, entries=tuple(sorted(by_name.values())))
