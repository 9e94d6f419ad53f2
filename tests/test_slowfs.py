"""Loading and packing where calls are slow: the parallel walk gives the sequential one's
result, and a pack through a slow mount (benchmarks/slowfs.py, FUSE) the same bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conda_package.core import CondaPackageError, Environment, IOPool, find_owners
from conda_package.core.load.walk import STAT_CHUNK, walk_prefix
from conda_package.tui.app import CondaPackageApp
from conda_package.tui.env_screen import EnvironmentScreen
from conftest import cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_tui import rendered, run, wait_for
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import slowfs

needs_fuse = pytest.mark.skipif(
    slowfs.available() is not None or shutil.which("fusermount3") is None,
    reason=f"no FUSE mount here: {slowfs.available() or 'fusermount3 missing (apt fuse3)'}",
)


def threads_from_the_start(threads: int = 8) -> IOPool:
    """A pool that does not wait for slow calls to use its threads: on a local disk the
    walk would otherwise run on one thread and these tests prove nothing."""
    return IOPool(threads, slow=True)


def walked(prefix: Path, pool: IOPool | None) -> tuple[list, list, list, list, dict]:
    """The walk's result, its order included, and what on_directory heard."""
    heard: dict[str, dict] = {}

    def on_directory(rel: str, entries: dict) -> None:
        assert rel not in heard, f"{rel} reported twice"
        heard[rel] = entries

    files, dirs, special, ignorable = walk_prefix(str(prefix), pool, on_directory)
    return list(files.items()), list(dirs.items()), special, ignorable, heard


NAMES = st.sampled_from(
    ["a", "b", "lib", "bin", "pkgs", "conda-meta", "x~", "é s", "conda", "activate", "f.txt"]
)
TREES = st.lists(
    st.tuples(
        st.lists(NAMES, min_size=1, max_size=4),
        st.sampled_from(["file", "dir", "symlink", "dangling", "many"]),
    ),
    max_size=12,
)


def make_tree(root: Path, spec: list[tuple[list[str], str]]) -> None:
    """Files, folders, symlinks (also to folders and to nothing), ignored names, and
    folders of more than one lstat chunk, at random depths."""
    root.mkdir()
    for parts, kind in spec:
        path = root.joinpath(*parts)
        if path.exists() or path.is_symlink():
            continue  # a name already taken: the tree keeps the first
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "file":
                path.write_text(str(parts))
            elif kind == "dir":
                path.mkdir()
            elif kind == "symlink":
                path.symlink_to(root / "lib")
            elif kind == "dangling":
                path.symlink_to("nowhere")
            else:
                path.mkdir()
                for i in range(STAT_CHUNK * 2 + 5):
                    (path / f"n{i}").write_bytes(b"x" * i)
        except OSError:
            pass  # a folder on its way is a file or a symlink that loops or dangles


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=TREES)
def test_parallel_walk_gives_the_sequential_result(tmp_path_factory, spec):
    root = tmp_path_factory.mktemp("tree") / "env"
    make_tree(root, spec)
    with threads_from_the_start() as pool:
        parallel = walked(root, pool)
    sequential = walked(root, None)
    assert parallel[:4] == sequential[:4]  # files, dirs (in the same order), specials, ignorable
    files, dirs, _, _, heard = parallel
    reported = {path: st for entries in heard.values() for path, st in entries.items()}
    assert reported == dict(files) | dict(dirs)  # every entry heard of, once
    assert set(heard) == {""} | {f"{d}/" for d, _ in dirs}


def _walk_error(prefix: str, pool: str) -> str:
    code = (
        "import sys\n"
        "from conda_package.core import IOPool\n"
        "from conda_package.core.load.walk import walk_prefix\n"
        "pool = IOPool(8)\n"
        f"pool.slow = {pool == 'threads'}\n"
        "try:\n"
        f"    walk_prefix({prefix!r}, pool)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    wrapper: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root reads any directory: drop the capabilities that allow it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is missing: permissions would not apply")
        caps = "-dac_override,-dac_read_search"
        wrapper = (setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}")
    done = subprocess.run(
        [*wrapper, sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_an_unreadable_directory_is_reported_as_before(tmp_path):
    root = tmp_path / "env"
    make_tree(root, [(["a", "b", "many"], "many"), (["lib", "f.txt"], "file")])
    (root / "a" / "b").chmod(0)
    try:
        threads, one = _walk_error(str(root), "threads"), _walk_error(str(root), "one")
    finally:
        (root / "a" / "b").chmod(0o755)
    assert threads == one
    assert threads.startswith(f"CondaPackageError {root}/a/b: cannot list this directory")


@pytest.fixture
def slow_source(tmp_path):
    """A folder to serve through a slow mount, and where to mount it."""
    if os.path.ismount(tmp_path / "mnt"):
        pytest.fail("mount point busy")
    return tmp_path / "src", tmp_path / "mnt"


@needs_fuse
def test_files_vanishing_mid_walk_are_left_out(slow_source):
    src, mnt = slow_source
    make_tree(src, [([f"d{i}", "many"], "many") for i in range(8)])
    doomed = src / "d7" / "many"
    before = {p.relative_to(src).as_posix() for p in src.rglob("*")}

    def remove_some(rel: str, entries: dict) -> None:
        if rel == "d0/many/":  # the walk has listed d7 or will: these go now
            for child in sorted(doomed.iterdir())[::2]:
                child.unlink()

    with slowfs.mount(src, mnt, delay_ms=2) as mount, IOPool(16) as pool:
        files, dirs, _, _ = walk_prefix(str(mount), pool, remove_some)
    assert pool.slow  # the calls were found slow: the walk went to the threads
    after = {p.relative_to(src).as_posix() for p in src.rglob("*")}
    found = set(files) | set(dirs)
    assert after <= found <= before  # nothing invented, nothing left that is still there
    assert len(list(doomed.iterdir())) == (STAT_CHUNK * 2 + 5) // 2  # half of them went


@needs_fuse
def test_pack_through_a_slow_mount_gives_the_same_bytes(small_env, tmp_path):
    """The same prefix packed from the disk and through the slow mount: same archive."""
    for i in range(300):  # many directories and files, so the mount's threads are used
        extra = small_env / "share" / f"extra{i % 30}"
        extra.mkdir(parents=True, exist_ok=True)
        (extra / f"f{i}.txt").write_text(f"{small_env} {i}\n" if i % 7 == 0 else f"{i}\n")
    os.link(small_env / "share" / "extra0" / "f0.txt", small_env / "share" / "hard.txt")
    (small_env / "share" / "link").symlink_to("extra1/f1.txt")
    out = tmp_path / "out"
    out.mkdir()
    assert cli("-p", str(small_env), "--zstd", "-o", str(out / "disk.tar.zst")).returncode == 0
    source = tmp_path / "source"
    small_env.rename(source)
    with slowfs.mount(source, small_env, delay_ms=0.05):
        start = time.perf_counter()
        done = cli("-p", str(small_env), "--zstd", "-o", str(out / "slow.tar.zst"))
        assert done.returncode == 0, done.stderr
        assert time.perf_counter() - start < 60
        assert Environment.load(str(small_env)).files.keys() == (
            Environment.load(str(source)).files.keys()
        )
    assert (out / "slow.tar.zst").read_bytes() == (out / "disk.tar.zst").read_bytes()


def test_a_pool_given_the_walks_verdict_keeps_it():
    """The packer's reads are timed beside its compressing workers, whose hold on the GIL
    looks like a slow disk: it keeps the walk's verdict instead of learning its own."""
    learning, local, remote = IOPool(4), IOPool(4, slow=False), IOPool(4, slow=True)
    for pool in (learning, local):
        for _ in range(5):
            pool.note(0.004, 3)  # 4 ms for an open, a read and a close
    assert learning.executor is not None
    assert local.executor is None
    assert remote.executor is not None
    for pool in (learning, local, remote):
        pool.close()


@needs_fuse
def test_the_walk_tells_the_packer_the_filesystem_is_slow(small_env, tmp_path):
    source = tmp_path / "source"
    small_env.rename(source)
    assert not Environment.load(str(source)).slow_filesystem
    with slowfs.mount(source, small_env, delay_ms=1):
        assert Environment.load(str(small_env)).slow_filesystem


def test_which_answers_from_the_records_as_the_walk_would(real_env):
    """-w without the walk: every file, folder and ignored name of the real environment
    gets the answer the loaded model gives."""
    env = Environment.load(str(real_env))
    asked = [*env.files, *list(env.dirs)[:50], "bin/conda", "pkgs/x", "conda-meta/history", "no"]
    for found in find_owners(str(real_env), asked):
        owner = env.owner(found.relpath)
        if owner is not None:
            expected = "owned"
        elif found.relpath in env.files:
            expected = "untracked"
        elif found.relpath.startswith("conda-meta/"):
            expected = "conda-meta"
        else:
            expected = "no such file"
        assert (found.status, found.package) == (expected, owner), found.relpath
        assert found.pip == env.pip_owners.get(found.relpath), found.relpath


def test_io_threads_is_checked(small_env):
    done = cli("-p", str(small_env), "-u", "--io-threads", "-1")
    assert done.returncode == 2
    assert "I/O threads -1: must be 0" in done.stderr
    with pytest.raises(CondaPackageError):
        IOPool(-1)


@needs_fuse
def test_tui_shows_packages_and_files_before_the_walk_ends(small_env, tmp_path):
    """On a slow mount the package table comes from conda-meta/ at once, and the Files
    tree fills while the walk goes on; the tree is whole once it ends."""
    for i in range(1500):
        extra = small_env / "share" / f"extra{i % 60}"
        extra.mkdir(parents=True, exist_ok=True)
        (extra / f"f{i}.txt").write_text(f"{i}\n")
    source = tmp_path / "source"
    small_env.rename(source)
    total = len(Environment.load(str(source)).files)
    seen: dict[str, object] = {}

    async def scenario(pilot: Pilot) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, EnvironmentScreen)
        table = screen.query_one("#packages-table", DataTable)
        summary = screen.query_one("#files-summary", Static)
        start = time.monotonic()
        await wait_for(pilot, lambda: table.row_count > 0)
        seen["table after"] = time.monotonic() - start
        seen["walk done with the table"] = screen.loaded is not None
        await wait_for(pilot, lambda: "so far" in rendered(summary) or screen.loaded is not None)
        seen["partial tree"] = rendered(summary)
        await wait_for(pilot, lambda: screen.loaded is not None)
        await pilot.pause()
        seen["final"] = rendered(summary)

    with slowfs.mount(source, small_env, delay_ms=20):
        run(CondaPackageApp(str(small_env)), scenario)
    assert seen["table after"] < 1.0
    assert seen["walk done with the table"] is False
    assert "walking" in str(seen["partial tree"])
    assert f"{total:,} files, largest first" in str(seen["final"])
