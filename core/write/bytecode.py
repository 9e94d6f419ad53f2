"""Byte-code compiled at pack time by the environment's own Python, for what it lacks.

Without byte-code, every start on a read-only or shared install compiles each module it
imports (json, ssl, asyncio, pip: over a second), and a writable one writes it all again.
The environment is never written to: its Python (3.7 has no sys.pycache_prefix) compiles
each source's bytes in memory and writes the byte-code into a temporary tree beside the
output, which the packer adds to the archive where Python looks for it.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from ..errors import CondaPackageError
from ..load import Environment, pyc_source
from ..plan import PackPlan, PlanEntry, env_python, keeps_bytecode

# Run by the environment's Python (-s -S -B: no site, no user paths, writes no byte-code of
# its own): sources on stdin, NUL-separated; compiles those of its own library tree that
# have no valid byte-code for this interpreter, writing to OUT; prints what it wrote.
_COMPILER = r"""
import importlib.util, os, sys
from importlib._bootstrap_external import _code_to_timestamp_pyc
prefix, out = sys.argv[1], sys.argv[2]
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
    pyc = os.path.join(out, os.path.relpath(cached, prefix))
    os.makedirs(os.path.dirname(pyc), exist_ok=True)
    with open(pyc, "wb") as f:
        f.write(_code_to_timestamp_pyc(code, st.st_mtime, st.st_size))
"""


# Sources per interpreter: each start costs ~30 ms of CPU; 128 a group took 0.3 s more CPU
# than 512 on the real environment's 1,584 sources (2.3 against 2.0 s), which still gives
# -j 2 four groups to share.
_GROUP = 512


@dataclass(frozen=True)
class CompiledBytecode:
    """Byte-code compiled into `root` (a temporary tree shaped like the environment)."""

    root: str
    names: tuple[str, ...]  # relative to root, as they go into the archive


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
    command = [python, "-s", "-S", "-B", "-c", _COMPILER, env.prefix, into]
    seeded = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    seeded["PYTHONHASHSEED"] = "0"
    groups = [sources[i : i + _GROUP] for i in range(0, len(sources), _GROUP)]

    def run(group: list[str]) -> subprocess.CompletedProcess[bytes]:
        stdin = "\0".join(group).encode("utf-8", "surrogateescape")
        return subprocess.run(command, input=stdin, capture_output=True, env=seeded)

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for done in pool.map(run, groups):
            if done.returncode:
                last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [
                    f"exit status {done.returncode}"
                ]
                raise CondaPackageError(
                    f"{python}: cannot compile byte-code ({last[0]});"
                    " pack without --compile-bytecode"
                )
    names = sorted(
        os.path.relpath(os.path.join(folder, name), into)
        for folder, _, files in os.walk(into)
        for name in files
    )
    return CompiledBytecode(into, tuple(names))


def with_bytecode(plan: PackPlan, compiled: CompiledBytecode) -> PackPlan:
    """The plan with the compiled byte-code in it (over stale byte-code of the same name),
    and the __pycache__ folders it needs. Each file takes its source's mtime, so two packs
    of the same environment agree."""
    by_name = {e.name: e for e in plan.entries}
    for name in compiled.names:
        size = os.path.getsize(os.path.join(compiled.root, name))
        source = by_name.get(pyc_source(name) or "")
        mtime = source.mtime if source else 0
        by_name[name] = PlanEntry(name, "file", 0o644, mtime, size, action="compiled")
        folder = os.path.dirname(name)
        if folder not in by_name:
            parent = by_name.get(os.path.dirname(folder))
            by_name[folder] = PlanEntry(folder, "dir", 0o755, parent.mtime if parent else 0)
    return replace(plan, entries=tuple(sorted(by_name.values())))
