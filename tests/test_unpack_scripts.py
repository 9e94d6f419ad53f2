"""bin/conda-unpack and the activation scripts, run for real on a fake unpacked environment."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conda_package.core.unpack import conda_unpack as relocation
from conda_package.core.unpack import relocate_bytes, shipped_files

PLACEHOLDER = "/tmp/build/" + "_placehold" * 14  # 151 bytes, like conda-build's padding
OPT = "/opt/anaconda1anaconda2anaconda3"
OLD_TIME = 1_000_000_000
PATH = f"{os.path.dirname(sys.executable)}:/usr/bin:/bin"
STATE = Path(relocation.PLACEHOLDER_STATE_DIR)


def _binary() -> bytes:
    ph = PLACEHOLDER.encode()
    return (
        b"\x7fELF\x02\x01\x01\0"
        + b"RPATH=" + ph + b"/lib:" + ph + b"/lib64\0" + b"\0" * 7
        + b"\x01\x02\x03\0"
        + ph + b"/share/data\0"
        + b"\xff\xfe tail holds " + ph  # not NUL-terminated: conda leaves it, so do we
    )  # fmt: skip


FILES = {
    # path: (mode, placeholder, bytes, permissions)
    "bin/myscript": (
        "text",
        PLACEHOLDER,
        f"#!{PLACEHOLDER}/bin/python\nimport sys\nprint('myscript', sys.argv[1:])\n".encode(),
        0o755,
    ),
    "bin/tool.sh": ("text", OPT, f"#!/bin/sh\necho {OPT}/share\n".encode(), 0o755),
    "lib/libfoo.so": ("binary", PLACEHOLDER, _binary(), 0o755),
    "lib/readonly.txt": ("text", PLACEHOLDER, f"home={PLACEHOLDER}\n".encode(), 0o444),
    "lib/hard1.txt": ("text", PLACEHOLDER, f"a={PLACEHOLDER}/a\n".encode(), 0o644),
}
HARD_LINK = "lib/hard2.txt"  # a second name for lib/hard1.txt, also in the manifest
SYMLINK = "lib/link.txt"  # in the manifest, but now a link to a file outside


def make_env(prefix: Path, placeholder_for_link: str = PLACEHOLDER) -> Path:
    """An environment as extracted from an archive, before bin/conda-unpack ran."""
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    (prefix / STATE).mkdir(parents=True)
    entries = []
    for path, (mode, placeholder, data, _) in FILES.items():
        (prefix / path).write_bytes(data)
        entries.append({"path": path, "placeholder": placeholder, "mode": mode})
    os.link(prefix / "lib/hard1.txt", prefix / HARD_LINK)
    entries.append({"path": HARD_LINK, "placeholder": PLACEHOLDER, "mode": "text"})
    outside = prefix.parent / "outside.txt"
    outside.write_text(f"keep {placeholder_for_link}\n")
    (prefix / SYMLINK).symlink_to(outside)
    entries.append({"path": SYMLINK, "placeholder": PLACEHOLDER, "mode": "text"})
    write_manifest(prefix, entries)
    for name, (data, mode) in shipped_files().items():
        (prefix / name).write_bytes(data)
        (prefix / name).chmod(mode)
    hooks = {
        "activate": ("export CP_HOOK=on:$CONDA_PREFIX", "set -gx CP_HOOK on:$CONDA_PREFIX"),
        "deactivate": ("unset CP_HOOK", "set -e CP_HOOK"),
    }
    for kind, (sh, fish) in hooks.items():
        hook_dir = prefix / "etc/conda" / f"{kind}.d"
        hook_dir.mkdir(parents=True)
        (hook_dir / "hook.sh").write_text(sh + "\n")
        (hook_dir / "hook.fish").write_text(fish + "\n")
    for path, (_, _, _, perms) in FILES.items():
        os.utime(prefix / path, (OLD_TIME, OLD_TIME))
        (prefix / path).chmod(perms)
    return prefix


def write_manifest(prefix: Path, entries: list[dict]) -> None:
    manifest = {
        "version": 1,
        "created_by": "conda-package 0.1.0",
        "source_prefix": "/old/prefix",
        "subdir": "linux-64",
        "files": entries,
    }
    (prefix / STATE / relocation.MANIFEST_NAME).write_text(json.dumps(manifest))


def run_unpack(prefix: Path, *args: str, path: str = PATH) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(prefix / "bin/conda-unpack"), *args],
        capture_output=True,
        text=True,
        env={"PATH": path},
    )


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything a write would change, for every entry under root."""
    result = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        content = os.readlink(path) if path.is_symlink() else None
        if content is None and path.is_file():
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        result[str(path.relative_to(root))] = (content, st.st_mode, st.st_mtime_ns, st.st_ctime_ns)
    return result


def expected(path: str, prefix: Path) -> bytes:
    mode, placeholder, data, _ = FILES[path]
    return relocate_bytes(data, placeholder, str(prefix), mode)


def assert_relocated(prefix: Path) -> None:
    new = str(prefix)
    assert (prefix / "bin/myscript").read_text().startswith(f"#!{new}/bin/python\n")
    assert (prefix / "bin/tool.sh").read_text() == f"#!/bin/sh\necho {new}/share\n"
    assert (prefix / "lib/readonly.txt").read_text() == f"home={new}\n"
    assert (prefix / HARD_LINK).read_text() == f"a={new}/a\n"
    binary = (prefix / "lib/libfoo.so").read_bytes()
    assert len(binary) == len(_binary())
    assert f"RPATH={new}/lib:{new}/lib64\0".encode() in binary
    assert f"\3\0{new}/share/data\0".encode() in binary
    assert binary.endswith(b"tail holds " + PLACEHOLDER.encode())
    for path in FILES:
        assert (prefix / path).read_bytes() == expected(path, prefix), path
    assert (prefix / STATE / relocation.PREFIX_STATE_NAME).read_text() == new + "\n"
    assert not (prefix / STATE / relocation.JOURNAL_NAME).exists()


def test_unpack_relocates_in_place_and_reruns_as_no_op(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / "a" / "env")
    inodes = {path: (prefix / path).stat().st_ino for path in FILES}
    result = run_unpack(prefix, "-v")
    assert result.returncode == 0, result.stderr
    assert_relocated(prefix)
    assert "relocated bin/myscript" in result.stdout
    assert f"relocated 6 file(s) to {prefix}" in result.stdout
    assert "skipping lib/link.txt: it is a symbolic link" in result.stderr
    assert (tmp_path / "a/outside.txt").read_text() == f"keep {PLACEHOLDER}\n"
    for path, (_, _, _, perms) in FILES.items():
        st = (prefix / path).stat()
        assert (st.st_mode & 0o7777, st.st_mtime, st.st_ino) == (perms, OLD_TIME, inodes[path])
    assert (prefix / HARD_LINK).stat().st_ino == inodes["lib/hard1.txt"]
    assert (prefix / HARD_LINK).stat().st_nlink == 2

    before = snapshot(tmp_path)
    again = run_unpack(prefix)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"conda-unpack: relocated 0 file(s) to {prefix}\n"
    assert snapshot(tmp_path) == before


def test_moving_again_to_a_prefix_containing_the_old_one(tmp_path: Path) -> None:
    current = make_env(tmp_path / "a" / "env")
    assert run_unpack(current).returncode == 0
    for name in ("env2", "e", "env"):  # longer and containing the old, shorter, longer again
        target = current.with_name(name)
        current.rename(target)
        current = target
        result = run_unpack(current)
        assert result.returncode == 0, result.stderr
        assert_relocated(current)
        for path in FILES:
            assert b"env22" not in (current / path).read_bytes()


def test_env_python_is_preferred(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / "env")
    (prefix / "bin/python").symlink_to(sys.executable)
    # Nothing on PATH: only bin/python can run it.
    result = run_unpack(prefix, "-q", path="/nonexistent")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert_relocated(prefix)
    ran = subprocess.run([str(prefix / "bin/myscript"), "x"], capture_output=True, text=True)
    assert ran.stdout == "myscript ['x']\n"


def test_the_running_interpreter_is_relocated_too(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / "env")
    # The env's own interpreter holds the prefix (ELF ignores bytes after its end) and runs
    # conda-unpack: it must be replaced by a new file, not overwritten under itself.
    python = prefix / "bin/python3.x"
    tail = b"\0" + PLACEHOLDER.encode() + b"/lib\0"
    python.write_bytes(Path(os.path.realpath(sys.executable)).read_bytes() + tail)
    python.chmod(0o755)
    (prefix / "bin/python").symlink_to(python.name)
    manifest = json.loads((prefix / STATE / relocation.MANIFEST_NAME).read_text())
    entry = {"path": "bin/python3.x", "placeholder": PLACEHOLDER, "mode": "binary"}
    write_manifest(prefix, [*manifest["files"], entry])
    inode = python.stat().st_ino
    result = run_unpack(prefix, "-v", path="/nonexistent")
    assert result.returncode == 0, result.stderr
    assert "relocated bin/python3.x" in result.stdout
    assert_relocated(prefix)
    padding = b"\0" * (len(PLACEHOLDER) - len(str(prefix)))
    assert python.read_bytes().endswith(b"\0" + f"{prefix}/lib\0".encode() + padding)
    assert python.stat().st_mode & 0o7777 == 0o755
    assert python.stat().st_ino != inode  # a new file took its name


def _find_python(version: str) -> str | None:
    """A real interpreter of that version, if this machine has one."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{version}")]
    candidates += [str(p) for p in sorted(root.glob(f"{version}*/bin/python{version}"))]
    for candidate in filter(None, candidates):
        check = subprocess.run([candidate, "-c", "pass"], capture_output=True)
        if check.returncode == 0:
            return candidate
    return None


def test_runs_under_python37(tmp_path: Path) -> None:
    python37 = _find_python("3.7")
    if python37 is None:
        pytest.skip("no Python 3.7 on this machine")
    prefix = make_env(tmp_path / "env")
    (prefix / "bin/python").symlink_to(python37)
    result = run_unpack(prefix, path="/nonexistent")
    assert result.returncode == 0, result.stderr
    assert_relocated(prefix)


def test_python2_env_falls_back_to_python3(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / "env")
    python2 = _find_python("2.7")
    if python2 is None:
        (prefix / "bin/python").write_text("#!/bin/sh\nexit 3\n")  # present but unusable
        (prefix / "bin/python").chmod(0o755)
    else:
        (prefix / "bin/python").symlink_to(python2)
    result = run_unpack(prefix)
    assert result.returncode == 0, result.stderr
    assert_relocated(prefix)


def test_no_python_at_all(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / "env")
    result = run_unpack(prefix, path="/nonexistent")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no Python 3.7 or newer" in result.stderr


def test_too_long_prefix_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / ("x" * 160) / "env")
    before = snapshot(tmp_path)
    result = run_unpack(prefix)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("conda-unpack: ")
    assert "lib/libfoo.so" in lines[0] and f"at most {len(PLACEHOLDER)} bytes" in lines[0]
    assert "Traceback" not in result.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "lib/../../x", "escape/f.txt"])
def test_paths_outside_the_prefix_are_refused(tmp_path: Path, bad: str) -> None:
    prefix = make_env(tmp_path / "env")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "f.txt").write_text(PLACEHOLDER)
    (prefix / "escape").symlink_to(elsewhere)
    manifest = json.loads((prefix / STATE / relocation.MANIFEST_NAME).read_text())
    write_manifest(prefix, [*manifest["files"], {"path": bad, "placeholder": OPT, "mode": "text"}])
    before = snapshot(tmp_path)
    result = run_unpack(prefix)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "nothing was changed" in result.stderr
    assert snapshot(tmp_path) == before


def test_interrupted_run_is_finished_without_replacing_twice(tmp_path: Path) -> None:
    old = make_env(tmp_path / "a" / "env")
    assert run_unpack(old).returncode == 0
    prefix = tmp_path / "a" / "env2"
    old.rename(prefix)
    # A run to env2 stopped after two files (one of them the hard-linked pair), with the
    # journal's last line cut short by the kill.
    journal = prefix / STATE / relocation.JOURNAL_NAME
    lines = []
    for path in ("lib/libfoo.so", "lib/hard1.txt"):
        data = (prefix / path).read_bytes()
        mode = FILES[path][0]
        (prefix / path).write_bytes(relocate_bytes(data, str(old), str(prefix), mode))
        lines.append(f"{path}\t{prefix}\n")
    lines.append(f"{HARD_LINK}\t{prefix}\n")
    journal.write_text("".join(lines) + f"bin/myscript\t{prefix}")
    result = run_unpack(prefix)
    assert result.returncode == 0, result.stderr
    assert_relocated(prefix)
    for path in FILES:
        assert b"env22" not in (prefix / path).read_bytes()


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / "env")
    before = snapshot(tmp_path)
    result = run_unpack(prefix, "--dry-run", "-v")
    assert result.returncode == 0, result.stderr
    assert "would relocate lib/libfoo.so" in result.stdout
    assert "would relocate 6 file(s)" in result.stdout
    assert snapshot(tmp_path) == before


def test_missing_manifest_and_bad_options_are_one_line(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / "env")
    (prefix / STATE / relocation.MANIFEST_NAME).unlink()
    result = run_unpack(prefix)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "not unpacked from a conda-package archive" in result.stderr
    result = run_unpack(prefix, "--bogus")
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_python_runs_it_by_relative_path_and_it_follows_further_moves(tmp_path: Path) -> None:
    """`python bin/conda-unpack` finds its modules too, and byte-code is never left behind."""
    prefix = make_env(tmp_path / "a" / "env")
    env = {"PATH": PATH}
    python = [sys.executable, "bin/conda-unpack"]
    helped = subprocess.run([*python, "-h"], cwd=prefix, capture_output=True, text=True, env=env)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: conda-unpack")
    assert run_unpack(prefix, "-h").stdout == helped.stdout
    result = subprocess.run(python, cwd=prefix, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert_relocated(prefix)
    moved = tmp_path / "b" / "env2"
    moved.parent.mkdir()
    prefix.rename(moved)
    result = subprocess.run(python, cwd=moved, capture_output=True, text=True, env=env)
    assert result.stdout == f"conda-unpack: relocated 6 file(s) to {moved}\n", result.stderr
    assert_relocated(moved)
    state = {"manifest.json", "prefix", "relocate.py", "rewrite.py"}
    assert {path.name for path in (moved / STATE).iterdir()} == state


def test_a_missing_shipped_module_is_one_line(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / "env")
    (prefix / STATE / "rewrite.py").unlink()
    before = snapshot(tmp_path)
    result = run_unpack(prefix)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"conda-unpack: cannot import rewrite from {prefix / STATE}; unpack the archive again\n"
    )
    assert snapshot(tmp_path) == before


# --- activation -------------------------------------------------------------------------

SH_SESSION = r"""
cd "$1" || exit 9
PS1='$ '
export CONDA_PREFIX=/base  # another environment is active: restored on deactivate
. "$2/bin/activate" || { echo "ACTIVATE FAILED"; exit 0; }
echo "PREFIX=$CONDA_PREFIX"
echo "NAME=$CONDA_DEFAULT_ENV"
echo "PS1=$PS1"
echo "FIRST=${PATH%%:*}"
echo "WHICH=$(command -v myscript)"
echo "HOOK=${CP_HOOK:-}"
. "$2/bin/activate"
echo "PATH2=$PATH"
deactivate
echo "AFTER=$PATH"
echo "PS1_AFTER=$PS1"
echo "HOOK_AFTER=${CP_HOOK:-}"
echo "CONDA_AFTER=${CONDA_PREFIX:-unset}"
echo "MODIFIER_AFTER=${CONDA_PROMPT_MODIFIER:-unset}"
"""

FISH_SESSION = r"""
cd $argv[1]; or exit 9
set -gx CONDA_PREFIX /base
source $argv[2]/bin/activate.fish; or begin; echo "ACTIVATE FAILED"; exit 0; end
echo "PREFIX=$CONDA_PREFIX"
echo "NAME=$CONDA_DEFAULT_ENV"
echo "PS1=($CONDA_DEFAULT_ENV) \$ "
echo "FIRST=$PATH[1]"
echo "WHICH="(command -v myscript)
echo "HOOK=$CP_HOOK"
source $argv[2]/bin/activate.fish
echo "PATH2="(string join : $PATH)
deactivate
echo "AFTER="(string join : $PATH)
echo "PS1_AFTER=\$ "
echo "HOOK_AFTER=$CP_HOOK"
echo "CONDA_AFTER=$CONDA_PREFIX"
set -q CONDA_PROMPT_MODIFIER; or set CONDA_PROMPT_MODIFIER unset
echo "MODIFIER_AFTER=$CONDA_PROMPT_MODIFIER"
"""

SHELLS = {
    "bash": ["bash", "--norc", "--noprofile", "-c", SH_SESSION, "bash"],
    "dash": ["dash", "-c", SH_SESSION, "dash"],
    "zsh": ["zsh", "-f", "-c", SH_SESSION, "zsh"],
    "fish": ["fish", "--no-config", "-c", FISH_SESSION],
}


def activate_in(shell: str, somewhere: Path, prefix: Path) -> tuple[dict[str, str], str]:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    result = subprocess.run(
        [*SHELLS[shell], str(somewhere), str(prefix)],
        capture_output=True,
        text=True,
        env={"PATH": PATH, "HOME": str(somewhere)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert "ACTIVATE FAILED" not in result.stdout, result.stderr
    return values, result.stderr


@pytest.mark.parametrize("shell", list(SHELLS))
def test_activate_relocates_once_then_activates(tmp_path: Path, shell: str) -> None:
    built = make_env(tmp_path / "build" / "env")
    prefix = tmp_path / "moved" / "env"
    prefix.parent.mkdir()
    built.rename(prefix)
    somewhere = tmp_path / "somewhere"
    somewhere.mkdir()
    values, stderr = activate_in(shell, somewhere, prefix)
    assert stderr == f"conda-package: relocated environment to {prefix}\n"  # no label file
    assert values["PREFIX"] == str(prefix)
    assert values["NAME"] == "env"
    assert values["PS1"] == "(env) $ "
    assert values["FIRST"] == f"{prefix}/bin"
    assert values["WHICH"] == f"{prefix}/bin/myscript"
    assert values["HOOK"] == f"on:{prefix}"
    assert values["PATH2"] == f"{prefix}/bin:{PATH}"  # activating again does not stack
    assert values["AFTER"] == PATH
    assert values["PS1_AFTER"] == "$ "
    assert values["HOOK_AFTER"] == ""
    assert values["CONDA_AFTER"] == "/base"
    assert values["MODIFIER_AFTER"] == "unset"
    assert_relocated(prefix)

    values, stderr = activate_in(shell, somewhere, prefix)  # a new shell: nothing to relocate
    assert stderr == ""
    assert values["PREFIX"] == str(prefix)


def test_activate_from_inside_the_environment_in_dash_without_exec_bit(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / "env")
    if shutil.which("dash") is None:
        pytest.skip("dash is not installed")
    (prefix / "bin/conda-unpack").chmod(0o644)  # as some unzip tools leave it
    session = '. bin/activate && echo "PREFIX=$CONDA_PREFIX"'
    result = subprocess.run(
        ["dash", "-c", session], cwd=prefix, capture_output=True, text=True, env={"PATH": PATH}
    )
    assert result.stdout == f"PREFIX={prefix}\n", result.stderr


def test_activate_refuses_when_relocation_fails(tmp_path: Path) -> None:
    prefix = make_env(tmp_path / ("x" * 160) / "env")
    session = '. "$1/bin/activate"; echo "STATUS=$? PREFIX=${CONDA_PREFIX:-unset} PATH=$PATH"'
    result = subprocess.run(
        ["bash", "--norc", "-c", session, "bash", str(prefix)],
        capture_output=True,
        text=True,
        env={"PATH": PATH},
    )
    assert result.stdout == f"STATUS=1 PREFIX=unset PATH={PATH}\n"
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("conda-unpack: ")
