"""Bad input, faults and interruptions, through the real command.

Every case must end with one line on stderr that names the problem and the way out, a
documented exit code (1: the environment or the output, 2: usage, 130: interrupted), no
traceback unless -v, no half-written output (nothing named *.partial-* left beside it) and
the source environment byte-for-byte as it was.
"""

from __future__ import annotations

import codecs
import fcntl
import hashlib
import json
import os
import pty
import re
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conda_package.core import PackOptions, pack
from conda_package.core.errors import Cancelled, CondaPackageError
from conda_package.core.load.environment import Environment
from conda_package.core.progress import Progress
from conda_package.core.unpack.conda_unpack import (
    JOURNAL_NAME,
    MANIFEST_NAME,
    PLACEHOLDER_STATE_DIR,
)
from conftest import cli

EXE = shutil.which("conda-package") or str(Path(sys.executable).with_name("conda-package"))
PATH = f"{os.path.dirname(sys.executable)}:/usr/bin:/bin"
STATE = Path(PLACEHOLDER_STATE_DIR)


# --- helpers ----------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple]:
    """Kind, permission bits and content (sha256 or link target) of everything under root."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    content = hashlib.sha256(fh.read()).hexdigest()
            else:
                content = None
            out[os.path.relpath(path, root)] = (stat.S_IFMT(st.st_mode), st.st_mode, content)
    return out


def leftovers(folder: Path) -> list[str]:
    """Temporary outputs a failed pack could leave beside its target."""
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def one_line(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The single error line, after checking exit code, format and the words it must hold."""
    lines = result.stderr.splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("conda-package: error: "), lines[0]
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def run(*args: object, preexec: Callable[[], None] | None = None, prefix: tuple = ()):
    """The real command, optionally under a wrapper (setpriv) or with a preexec_fn."""
    return subprocess.run(
        [*prefix, EXE, *map(str, args)],
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        # no active environment: "no -p" must not fall back to the one running the tests
        env={**{k: v for k, v in os.environ.items() if k != "CONDA_PREFIX"}, "PATH": PATH},
    )


def file_size_limit(limit: int) -> Callable[[], None]:
    """A preexec_fn: writes past `limit` bytes fail with EFBIG, as on a full disk."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def record(prefix: Path, name: str) -> Path:
    return next((prefix / "conda-meta").glob(f"{name}-*.json"))


def edit_record(prefix: Path, name: str, change: Callable[[dict], None]) -> None:
    path = record(prefix, name)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def add_random_file(prefix: Path, rel: str = "share/blob.bin", size: int = 2 << 20) -> None:
    (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
    (prefix / rel).write_bytes(os.urandom(size))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def big_env(real_env_factory) -> Path:
    """A fresh copy of the real environment (11k files) that the tests here only read."""
    return real_env_factory("reliability")


@pytest.fixture(scope="module")
def big_env_state(big_env: Path) -> dict[str, tuple]:
    return snapshot(big_env)


# --- 1. bad input -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """args(env, tmp) -> the command's arguments; the env is a fresh small environment."""

    args: Callable[[Path, Path], list]
    code: int
    words: tuple[str, ...]
    details: bool = True  # -v prints a traceback (argparse's own errors come before -v)


def _no_env(tmp: Path) -> Path:
    return tmp / "nowhere"


def _a_file(tmp: Path) -> Path:
    path = tmp / "a-file"
    path.write_text("x")
    return path


def _plain_dir(tmp: Path) -> Path:
    path = tmp / "plain"
    (path / "bin").mkdir(parents=True)
    return path


def _corrupt(how: Callable[[Path], None]) -> Callable[[Path, Path], list]:
    def args(env: Path, tmp: Path) -> list:
        how(env)
        return ["-p", env, "-o", tmp / "out" / "x.tar.gz"]

    return args


def _outside_files(env: Path) -> None:
    (env.parent / "x").write_text("outside\n")
    edit_record(env, "data", lambda d: (d.pop("paths_data"), d.update(files=["../x"])))


def _absolute_path(env: Path) -> None:
    edit_record(env, "tool", lambda d: d["paths_data"]["paths"][0].update(_path="/etc/passwd"))


def _dotdot_path(env: Path) -> None:
    edit_record(env, "tool", lambda d: d["paths_data"]["paths"][1].update(_path="lib/../../x"))


def _bad_size(env: Path) -> None:
    edit_record(env, "tool", lambda d: d["paths_data"]["paths"][0].update(size_in_bytes="x"))


def _pack(env: Path, tmp: Path, *extra: object) -> list:
    return ["-p", env, "-o", tmp / "out" / "x.tar.gz", *extra]


LONG_PREFIX = "/" + "p" * 299  # 300 characters

CASES: dict[str, Case] = {
    "no such prefix": Case(
        lambda env, tmp: ["-p", _no_env(tmp), "-o", tmp / "out/x.tar.gz"],
        1,
        ("nowhere: no such directory", "check the path"),
    ),
    "prefix is a file": Case(
        lambda env, tmp: ["-p", _a_file(tmp), "-o", tmp / "out/x.tar.gz"],
        1,
        ("a-file: not a directory", "give the environment's prefix"),
    ),
    "not an environment": Case(
        lambda env, tmp: ["-p", _plain_dir(tmp), "-o", tmp / "out/x.tar.gz"],
        1,
        ("plain: not a conda environment (no conda-meta/", "give the environment's prefix"),
    ),
    "no environment at all": Case(
        lambda env, tmp: ["-o", tmp / "out/x.tar.gz"],
        1,
        ("no environment given and none is active", "-p PREFIX"),
    ),
    "empty record": Case(
        _corrupt(lambda env: record(env, "data").write_text("")),
        1,
        ("conda-meta/data-2.1-0.json: empty file", "reinstall the package"),
    ),
    "corrupt record": Case(
        _corrupt(lambda env: record(env, "data").write_text('{"name": "data", ')),
        1,
        ("conda-meta/data-2.1-0.json: not valid JSON", "remove it or reinstall"),
    ),
    "record not an object": Case(
        _corrupt(lambda env: record(env, "data").write_text("[1, 2]")),
        1,
        ("data-2.1-0.json: not a package record", "remove it or reinstall"),
    ),
    "files holds ../x": Case(
        _corrupt(_outside_files), 1, ("path '../x' points outside the environment",)
    ),
    "paths_data holds /etc/passwd": Case(
        _corrupt(_absolute_path), 1, ("'/etc/passwd' points outside the environment",)
    ),
    "paths_data holds lib/../../x": Case(
        _corrupt(_dotdot_path), 1, ("'lib/../../x' points outside the environment",)
    ),
    "size_in_bytes not a number": Case(
        _corrupt(_bad_size), 1, ("bin/tool: size_in_bytes 'x' is not a number", "reinstall")
    ),
    "output exists": Case(
        lambda env, tmp: ["-p", env, "-o", tmp / "out/kept.tar.gz"],
        1,
        ("kept.tar.gz: already exists", "use --force"),
    ),
    "output inside the environment": Case(
        lambda env, tmp: ["-p", env, "-o", env / "share/x.tar.gz"],
        1,
        ("inside the environment it packs", "choose an output outside it"),
    ),
    "--force onto the folder holding the environment": Case(
        lambda env, tmp: ["-p", env, "-o", tmp, "--format", "tar.gz", "--force"],
        1,
        ("holds the environment it packs", "would delete it", "choose an output outside it"),
    ),
    "--force onto the environment itself, as dir": Case(
        lambda env, tmp: ["-p", env, "-o", env, "--format", "dir", "--force"],
        1,
        ("small-env: holds the environment it packs", "choose an output outside it"),
    ),
    "--force onto a directory, as an archive": Case(
        lambda env, tmp: ["-p", env, "-o", tmp / "out", "--format", "tar", "--force"],
        1,
        ("out: is a directory, and --force replaces archives", "choose another output"),
    ),
    "output directory missing": Case(
        lambda env, tmp: ["-p", env, "-o", tmp / "out/missing/x.tar.gz"],
        2,
        ("missing: output directory does not exist", "create it first"),
    ),
    "zstd level 0": Case(
        lambda env, tmp: _pack(env, tmp, "--zstd", "--zstd-compression-level", 0),
        2,
        ("--zstd-compression-level 0: must be between 1 and 22",),
    ),
    "zstd level 23": Case(
        lambda env, tmp: _pack(env, tmp, "--zstd", "--zstd-compression-level", 23),
        2,
        ("--zstd-compression-level 23: must be between 1 and 22",),
    ),
    "zstd level x": Case(
        lambda env, tmp: _pack(env, tmp, "--zstd-compression-level", "x"),
        2,
        ("--zstd-compression-level: invalid int value: 'x'",),
        details=False,
    ),
    "zstd level for a .tar.gz": Case(
        lambda env, tmp: _pack(env, tmp, "--zstd-compression-level", 5),
        2,
        ("--zstd-compression-level is for tar.zst output, not tar.gz", "--compression-level"),
    ),
    "unknown platform": Case(
        lambda env, tmp: _pack(env, tmp, "--platform", "linux-potato"),
        2,
        ("--platform 'linux-potato': unknown platform", "use one of linux-64"),
    ),
    "unknown format": Case(
        lambda env, tmp: _pack(env, tmp, "--format", "rar"),
        2,
        ("unknown archive format 'rar'", "choose one of"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_writes_nothing(small_env: Path, tmp_path: Path, name: str):
    case = CASES[name]
    (tmp_path / "out").mkdir()
    kept = tmp_path / "out/kept.tar.gz"
    kept.write_bytes(b"an archive from yesterday")
    args = case.args(small_env, tmp_path)
    before = snapshot(small_env)
    outside = snapshot(tmp_path / "out")

    line = one_line(run(*args), case.code, *case.words)

    verbose = run(*args, "-v")
    assert verbose.returncode == case.code
    assert verbose.stderr.splitlines()[-1] == line
    assert ("Traceback (most recent call last)" in verbose.stderr) == case.details
    assert snapshot(small_env) == before
    assert snapshot(tmp_path / "out") == outside  # only the old archive, unchanged
    if (small_env.parent / "x").exists():
        assert (small_env.parent / "x").read_text() == "outside\n"


def test_relocate_prefix_that_no_binary_can_take(big_env: Path, big_env_state, out: Path):
    r = run("-p", big_env, "-o", out / "x.tar.gz", "--relocate-prefix", LONG_PREFIX)
    one_line(r, 1, "--relocate-prefix is 300 bytes", "room for 255", "bin/python3.7")
    assert "choose a shorter prefix" in r.stderr
    assert list(out.iterdir()) == []
    assert snapshot(big_env) == big_env_state


def test_symlink_loops_and_links_out_of_the_prefix_are_packed_as_links(
    small_env: Path, tmp_path: Path, out: Path
):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the archive\n")
    share = small_env / "share"
    (share / "loop-a").symlink_to("loop-b")
    (share / "loop-b").symlink_to("loop-a")
    (share / "self").symlink_to("self")
    (share / "up").symlink_to("../..")  # a directory loop if it were followed
    (share / "secret").symlink_to(secret)
    (share / "etc").symlink_to("/etc")
    (share / "data" / "a.txt").unlink()
    (share / "data" / "a.txt").symlink_to(secret)  # a package's file, now a link out
    before = snapshot(small_env)

    r = cli("-p", small_env, "-o", out / "x.tar", "-q", "--ignore-missing-files")
    assert r.returncode == 0, r.stderr
    with tarfile.open(out / "x.tar") as tf:
        links = {m.name: m.linkname for m in tf if m.issym()}
        contents = b"".join(tf.extractfile(m).read() for m in tf if m.isfile())
    assert links["share/loop-a"] == "loop-b"
    assert links["share/self"] == "self"
    assert links["share/up"] == "../.."
    assert links["share/secret"] == str(secret)
    assert links["share/etc"] == "/etc"
    assert links["share/data/a.txt"] == str(secret)
    assert b"not for the archive" not in contents
    assert not any(name.startswith(("share/etc/", "share/up/")) for name in links)
    assert snapshot(small_env) == before
    assert leftovers(out) == []


def _without_root_override() -> tuple[str, ...]:
    """A command prefix under which file permissions apply, even to root."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is missing: permissions would not apply")
    caps = "-dac_override,-dac_read_search"
    return (setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}")


@pytest.mark.parametrize(
    ("what", "words"),
    [
        ("file", ("share/blob.bin: permission denied", "make it readable")),
        ("directory", ("share/tool: cannot list this directory", "make it readable")),
        ("record", ("conda-meta/tool-1.0-0.json: cannot read (Permission denied)",)),
    ],
)
def test_unreadable_parts_are_named(small_env: Path, out: Path, what: str, words: tuple):
    wrapper = _without_root_override()
    add_random_file(small_env, size=1000)
    target = {
        "file": small_env / "share/blob.bin",
        "directory": small_env / "share/tool",
        "record": record(small_env, "tool"),
    }[what]
    mode = target.stat().st_mode
    target.chmod(0)
    try:
        before = snapshot(small_env)
        one_line(run("-p", small_env, "-o", out / "x.tar.gz", prefix=wrapper), 1, *words)
        assert snapshot(small_env) == before
    finally:
        target.chmod(stat.S_IMODE(mode))
    assert list(out.iterdir()) == []


def test_a_file_that_vanishes_while_packing(small_env: Path, out: Path):
    many = small_env / "share/many"
    many.mkdir()
    for i in range(600):  # more than the read-ahead window, so the last is read later
        (many / f"f{i:03}.txt").write_text(f"{i}\n")
    doomed = small_env / "zzz/doomed.bin"
    add_random_file(small_env, "zzz/doomed.bin", 1000)
    calls: list[Progress] = []

    def progress(p: Progress) -> None:
        if not calls:
            doomed.unlink()
        calls.append(p)

    env = Environment.load(str(small_env))
    with pytest.raises(CondaPackageError) as info:
        pack(env, PackOptions(output=str(out / "x.tar.zst")), progress=progress)
    assert str(info.value) == (f"{doomed}: vanished while packing; nothing was written, run again")
    assert info.value.exit_code == 1
    assert list(out.iterdir()) == []


# --- 2. faults --------------------------------------------------------------------------

FORMATS = ["tar.gz", "tar.zst", "tar.bz2", "tar.xz", "tar", "zip", "dir"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_disk_full_leaves_nothing(small_env: Path, out: Path, fmt: str):
    add_random_file(small_env)  # 2 MiB that no compressor can shrink
    before = snapshot(small_env)
    target = out / ("x" if fmt == "dir" else f"x.{fmt}")
    r = run("-p", small_env, "-o", target, "--format", fmt, preexec=file_size_limit(256 << 10))
    one_line(r, 1, f"{target}: File too large while writing", "free some space", "with -o")
    assert list(out.iterdir()) == []
    assert snapshot(small_env) == before


def test_disk_full_while_backing_up_removes_nothing(small_env: Path, out: Path):
    add_random_file(small_env)
    before = snapshot(small_env)
    backup = out / "backup.tar.gz"
    r = run(
        "-r", "--yes", "-q", "--backup", backup, "-p", small_env, preexec=file_size_limit(64 << 10)
    )
    one_line(r, 1, f"{backup}: File too large while writing the backup", "nothing was removed")
    assert list(out.iterdir()) == []
    assert snapshot(small_env) == before


ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BAR = re.compile(r"(\d+)/(\d+) files ([\d.]+)/[\d.]+ (bytes|kB|MB|GB)")
UNITS = {"bytes": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9}
XZ_BLOCK = 12 << 20  # what the xz writer hands its threads at a time, at the default level
# A plain 200-column terminal, whatever the tests run in (rich takes TTY_COMPATIBLE and
# TTY_INTERACTIVE over what it detects).
TERMINAL_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("TTY_")},
    **{"PATH": PATH, "TERM": "xterm", "COLUMNS": "200"},
}


class Terminal:
    """The child's stderr as a terminal, so the command draws its progress bar there: the
    test learns how far the work got by reading it, as the user would."""

    def __init__(self) -> None:
        self.master, self.child_end = pty.openpty()
        tty.setraw(self.child_end)  # "\n" stays "\n": the text reads as it was written
        self._decode = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = ""  # all read so far, escape codes removed

    def read_until(self, seen: Callable[[str], bool], proc: subprocess.Popen) -> None:
        """Read until seen(the text so far) holds; fail if the child ends before that."""
        while not seen(self.text):
            if not self._read():
                proc.wait(timeout=60)
                pytest.fail(f"ended (exit {proc.returncode}) before that: {self.text[-500:]}")

    def read_to_end(self) -> None:
        while self._read():
            pass

    def _read(self) -> bool:
        """One chunk more; False at the end (every copy of the child's end is closed)."""
        assert select.select([self.master], [], [], 60)[0], "no output for a minute"
        try:
            chunk = os.read(self.master, 1 << 16)
        except OSError:  # EIO: Linux's way to say the other end is closed
            chunk = b""
        # over all the text again: an escape code may be split between two reads
        self.text = ESCAPE.sub("", self.text + self._decode.decode(chunk, final=not chunk))
        return bool(chunk)


def packed(at_least: int) -> Callable[[str], bool]:
    """Whether the last progress bar drawn shows files and `at_least` bytes packed, and
    files still to pack."""

    def seen(text: str) -> bool:
        bars = BAR.findall(text[-1000:])
        if not bars:
            return False
        files, total, done, unit = bars[-1]
        return 0 < int(files) < int(total) and float(done) * UNITS[unit] >= at_least

    return seen


def _interrupt(
    args: list, sig: int, after_bytes: int = 1, again: bool = False
) -> subprocess.CompletedProcess:
    """Run the command, send `sig` once its progress bar shows files and `after_bytes`
    packed, and with `again` once more when it says it was interrupted, as an impatient
    user would. The stderr returned is what the terminal shows after the bar went away."""

    def default_signals() -> None:  # a shell may start the tests with these ignored
        for s in (signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)

    terminal = Terminal()
    proc = subprocess.Popen(
        [EXE, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=terminal.child_end,
        preexec_fn=default_signals,
        env=TERMINAL_ENV,
    )
    os.close(terminal.child_end)
    try:
        terminal.read_until(packed(after_bytes), proc)
        proc.send_signal(sig)
        if again:
            terminal.read_until(lambda text: "interrupted" in text, proc)
            assert proc.poll() is None, "exited before the second signal: nothing tested"
            proc.send_signal(sig)
        terminal.read_to_end()
    finally:
        os.close(terminal.master)
    stdout = proc.communicate(timeout=60)[0].decode()
    assert "Traceback" not in terminal.text, terminal.text
    after_the_bar = terminal.text.rpartition("\r")[2]
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, after_the_bar)


@pytest.mark.parametrize(
    ("sig", "fmt"),
    [
        (signal.SIGINT, "tar.gz"),
        (signal.SIGTERM, "tar.zst"),
        (signal.SIGHUP, "zip"),
        (signal.SIGINT, "dir"),
    ],
    ids=["SIGINT-tar.gz", "SIGTERM-tar.zst", "SIGHUP-zip", "SIGINT-dir"],
)
def test_interrupted_pack_keeps_the_old_output(
    big_env: Path, big_env_state, out: Path, sig: int, fmt: str
):
    target = out / ("x" if fmt == "dir" else f"x.{fmt}")
    if fmt == "dir":
        target.mkdir()
        (target / "old.txt").write_text("yesterday's copy\n")
    else:
        target.write_bytes(b"yesterday's archive")
    old = snapshot(out)

    r = _interrupt(["-p", big_env, "-o", target, "--format", fmt, "--force"], sig)
    assert r.returncode == 130, r.stderr
    assert r.stderr == "conda-package: interrupted; nothing was written\n"
    assert snapshot(out) == old  # the previous output, whole; no .partial left
    assert snapshot(big_env) == big_env_state


def test_second_ctrl_c_while_winding_down_is_quiet(big_env: Path, big_env_state, out: Path):
    # xz compresses 12 MiB blocks: the threads busy with one finish it before the process
    # can exit, so the second Ctrl-C, sent when the first one's message is out, lands in
    # that wait.
    args = ["-p", big_env, "-o", out / "x.tar.xz"]
    r = _interrupt(args, signal.SIGINT, after_bytes=XZ_BLOCK, again=True)
    assert r.returncode == 130
    assert r.stderr == "conda-package: interrupted; nothing was written\n"
    assert list(out.iterdir()) == []
    assert snapshot(big_env) == big_env_state


def test_cancel_from_the_api(small_env: Path, out: Path):
    add_random_file(small_env)
    before = snapshot(small_env)
    cancel = threading.Event()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        cancel.set()

    env = Environment.load(str(small_env))
    with pytest.raises(Cancelled) as info:
        pack(env, PackOptions(output=str(out / "x.tar.gz")), progress=progress, cancel=cancel)
    assert info.value.exit_code == 130
    assert seen and seen[-1].done_files < seen[-1].total_files
    assert list(out.iterdir()) == []
    assert snapshot(small_env) == before


# --- 3. conda-unpack on archives tampered with or disturbed -----------------------------


def unpack(prefix: Path, *args: str, preexec: Callable[[], None] | None = None):
    return subprocess.run(
        [str(prefix / "bin/conda-unpack"), *args],
        capture_output=True,
        text=True,
        env={"PATH": PATH},
        preexec_fn=preexec,
    )


def extract(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(dest)], check=True)
    return dest


def test_tampered_archive_symlink_not_followed_read_only_kept(small_env: Path, tmp_path: Path):
    (small_env / "share/tool/config.txt").chmod(0o444)
    archive = tmp_path / "x.tar.gz"
    assert cli("-p", small_env, "-o", archive, "-q").returncode == 0
    target = extract(archive, tmp_path / "unpacked")
    outside = tmp_path / "outside.txt"
    outside.write_text("#!/opt/anaconda1anaconda2anaconda3/bin/sh\n")
    (target / "bin/tool").unlink()
    (target / "bin/tool").symlink_to(outside)  # bin/tool is in the manifest

    r = unpack(target, "-v")
    assert r.returncode == 0, r.stderr
    assert "skipping bin/tool: it is a symbolic link" in r.stderr
    assert outside.read_text() == "#!/opt/anaconda1anaconda2anaconda3/bin/sh\n"
    assert os.readlink(target / "bin/tool") == str(outside)
    config = target / "share/tool/config.txt"
    assert config.read_text() == f"prefix={target}\n"
    assert stat.S_IMODE(config.stat().st_mode) == 0o444


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        ('{"version": 1, "files": [', ("cannot read", "unpack the archive again")),
        ('{"version": 7, "files": []}', ("has version 7", "use the bin/conda-unpack")),
        (
            '{"version": 1, "files": [{"path": "bin/tool"}]}',
            ("malformed entry", "unpack the archive again"),
        ),
    ],
    ids=["truncated", "future-version", "malformed-entry"],
)
def test_broken_manifest_changes_nothing(small_env: Path, tmp_path: Path, manifest, words):
    archive = tmp_path / "x.tar"
    assert cli("-p", small_env, "-o", archive, "-q").returncode == 0
    target = extract(archive, tmp_path / "unpacked")
    (target / STATE / MANIFEST_NAME).write_text(manifest)
    before = snapshot(target)
    r = unpack(target)
    assert r.returncode == 1
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("conda-unpack: ")
    assert all(word in r.stderr for word in words), r.stderr
    assert snapshot(target) == before


def _relocated_reference(archive: Path, target: Path) -> dict[str, tuple]:
    """What an undisturbed conda-unpack makes of the archive at `target`."""
    extract(archive, target)
    r = unpack(target, "-q")
    assert r.returncode == 0, r.stderr
    reference = snapshot(target)
    shutil.rmtree(target)
    return reference


def test_disk_full_during_unpack_then_rerun_finishes(small_env: Path, tmp_path: Path):
    text = "".join(f"line {i} {small_env}/lib\n" for i in range(400))
    (small_env / "share/many.txt").write_text(text)  # holds the prefix: relocated by search
    archive = tmp_path / "x.tar"
    assert cli("-p", small_env, "-o", archive, "-q").returncode == 0
    target = tmp_path / ("long-" * 30) / "env"  # the file grows by 400 * ~130 bytes
    reference = _relocated_reference(archive, target)
    extract(archive, target)
    original = (target / "share/many.txt").read_bytes()

    r = unpack(target, preexec=file_size_limit(len(original) + 1000))
    assert r.returncode == 1
    assert r.stderr == (
        f"conda-unpack: {target}/share/many.txt: File too large;"
        " fix that and run conda-unpack again to finish\n"
    )
    assert (target / "share/many.txt").read_bytes() == original  # whole, not half-written
    assert (target / STATE / JOURNAL_NAME).exists()

    r = unpack(target)
    assert r.returncode == 0, r.stderr
    assert snapshot(target) == reference


def test_sigkill_during_unpack_then_rerun_finishes(big_env: Path, tmp_path: Path):
    archive = tmp_path / "big.tar"
    assert cli("-p", big_env, "-o", archive, "-q").returncode == 0
    target = tmp_path / "unpacked"
    reference = _relocated_reference(archive, target)
    journal = target / STATE / JOURNAL_NAME
    extract(archive, target)
    # -v prints a line for each file once it is journalled, so the first line says one is
    # done. The pipe holds one page, about a hundred lines, of some 300 files: conda-unpack
    # waits on it, still unfinished, until the kill lands.
    lines, child_end = os.pipe()
    fcntl.fcntl(lines, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen(
        [str(target / "bin/conda-unpack"), "-v"],
        env={"PATH": PATH, "PYTHONUNBUFFERED": "1"},
        stdout=child_end,
        stderr=subprocess.PIPE,
    )
    os.close(child_end)
    with os.fdopen(lines, "rb") as stdout:
        assert select.select([stdout], [], [], 60)[0], "no line for a minute"
        first = stdout.readline()
        proc.kill()
        stderr = proc.communicate(timeout=60)[1]
    assert first.startswith(b"relocated "), stderr
    assert proc.returncode == -signal.SIGKILL, stderr
    manifest = json.loads((target / STATE / MANIFEST_NAME).read_text())
    done = journal.read_text().count("\n")
    assert 0 < done < len(manifest["files"])
    assert (target / STATE / "prefix").read_text() == ""  # as shipped: not recorded yet

    r = unpack(target)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("conda-unpack: relocated ")
    # The environment's Python ran conda-unpack and cached byte-code of the modules it
    # imported; marshal output differs from run to run, so leave those out.
    assert without_pycache(snapshot(target)) == without_pycache(reference)


def without_pycache(state: dict[str, tuple]) -> dict[str, tuple]:
    return {k: v for k, v in state.items() if "__pycache__" not in k}


def test_disk_full_while_making_the_demo_leaves_nothing(tmp_path: Path):
    """The folders made for it go too; an empty folder the user gave stays, empty."""
    target = tmp_path / "new" / "deeper" / "demo"
    one_line(run("--demo-env", target, "-u", preexec=file_size_limit(4096)), 1, "File too large")
    assert list(tmp_path.iterdir()) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line(run("--demo-env", empty, "-u", preexec=file_size_limit(4096)), 1, "File too large")
    assert list(empty.iterdir()) == []
