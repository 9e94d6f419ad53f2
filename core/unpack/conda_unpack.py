#!/bin/sh
"true" '''\'
# Run as a shell script: hand this file to the environment's own Python when it is 3.7 or
# newer (python 2 environments exist), else to one found on PATH.
case $0 in
*/*) here=${0%/*} ;;
*) here=. ;;
esac
for py in "$here/python" python3 python; do
    if "$py" -S -c 'import sys; sys.exit(sys.version_info < (3, 7))' >/dev/null 2>&1; then
        exec "$py" "$0" "$@"
    fi
done
echo "conda-unpack: no Python 3.7 or newer found (tried $here/python, python3, python)" >&2
exit 1
'''  # fmt: skip

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from typing import NoReturn

# The polyglot header above is the real docstring, so give the module a readable one.
__doc__ = """conda-unpack: relocate an environment unpacked from a conda-package archive in place.

This file is both conda_package.core.relocation (the packer uses the same functions) and,
copied verbatim, bin/conda-unpack inside every archive. There it runs under the environment's
Python, which may be 3.7: stdlib only, Python 3.7 syntax, no package imports.
"""

PLACEHOLDER_STATE_DIR = "conda-meta/conda-package"
MANIFEST_NAME = "manifest.json"
PREFIX_STATE_NAME = "prefix"
JOURNAL_NAME = "unpack.journal"
MANIFEST_VERSION = 1

# Linux and macOS read at most this much of a "#!" line (conda uses the same limit).
MAX_SHEBANG_LENGTH = 127
# binary_room() of a file that does not hold the prefix: any prefix fits.
UNLIMITED_ROOM = sys.maxsize

_NON_NUL = re.compile(b"[^\x00]")
_PYTHON_NAME = re.compile(rb"pythonw?(?:[0-9]+(?:\.[0-9]+)*[a-z]?)?")
_BLANK = (b" ", b"\t")
_WORD = re.compile(rb"[^ \t\r]*")
# Signals that would otherwise stop us between writing a file and journalling it.
_DEFERRED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


class RelocationError(Exception):
    """Relocation cannot be done safely; str() is one line naming the file(s) and the way out."""


class PrefixTooLongError(RelocationError):
    """The new prefix does not fit into the room binary files have for it."""

    def __init__(self, message: str, paths: list[str], room: int) -> None:
        super().__init__(message)
        self.paths = paths
        self.room = room


# --- byte-level replacement -------------------------------------------------------------


def replace_text(data: bytes, old: bytes, new: bytes) -> bytes:
    """Text files hold the prefix anywhere; conda replaces every occurrence."""
    if not old or old == new:
        return data
    return data.replace(old, new)


def _nul_run(data: bytes, start: int) -> int:
    """How many NUL bytes follow from `start`: the room a string ending before it can grow."""
    found = _NON_NUL.search(data, start)
    return (found.start() if found else len(data)) - start


def replace_binary(data: bytes, old: bytes, new: bytes) -> bytes:
    """conda's binary rule, usable both ways, so that file offsets never move.

    In each NUL-terminated string holding `old` (from its first occurrence to the NUL), every
    occurrence is replaced. A shorter result is padded with NULs after the terminator; a longer
    one may only take NULs that directly follow the terminator (the padding an earlier shrink
    left), else PrefixTooLongError. A string without a terminator is left alone, as conda does.
    """
    if not old or old == new:
        return data
    growth = len(new) - len(old)
    view = memoryview(data)
    chunks: list[bytes | memoryview] = []
    copied = 0
    start = data.find(old)
    while start != -1:
        end = data.find(b"\0", start + len(old))
        if end == -1:
            break
        string = data[start:end]
        extra = growth * string.count(old)
        region_end = end + 1
        if extra > 0:
            if not data.startswith(b"\0" * extra, region_end):
                room = binary_room(data, old)
                raise PrefixTooLongError(
                    f"{new.decode('utf-8', 'replace')} ({len(new)} bytes) does not fit where "
                    f"{old.decode('utf-8', 'replace')} was: there is room for {room} bytes",
                    [],
                    room,
                )
            region_end += extra
        replaced = string.replace(old, new)
        chunks.append(view[copied:start])
        chunks.append(replaced)
        chunks.append(b"\0" * (region_end - start - len(replaced)))
        copied = region_end
        start = data.find(old, region_end)
    if not chunks:
        return data
    chunks.append(view[copied:])
    return b"".join(chunks)


def binary_room(data: bytes, old: bytes) -> int:
    """The longest prefix replace_binary() could put in place of `old` in every string here.

    Each string can take len(old) plus its share of the NULs after its terminator; the file can
    take the smallest of those. UNLIMITED_ROOM when no NUL-terminated string holds `old`.
    """
    room = UNLIMITED_ROOM
    if not old:
        return room
    start = data.find(old)
    while start != -1:
        end = data.find(b"\0", start + len(old))
        if end == -1:
            break
        count = data.count(old, start, end)
        room = min(room, len(old) + _nul_run(data, end + 1) // count)
        start = data.find(old, end + 1)
    return room


def _sh_word(word: bytes) -> bytes | None:
    """`word` double-quoted for sh inside the Python string of the exec trick, if both agree.

    None when no quoting is safe for both languages ($ and ` would need escapes Python warns
    about, ''' would end the Python string, and the file must stay valid UTF-8).
    """
    if b"$" in word or b"`" in word or b"'''" in word:
        return None
    try:
        word.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return b'"' + word.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def fix_shebang(data: bytes, prefix: bytes) -> bytes:
    """Keep a script runnable after its "#!" line got a prefix the kernel cannot use.

    The kernel truncates lines over MAX_SHEBANG_LENGTH and splits at blanks. Python scripts get
    the /bin/sh exec trick (valid sh and Python, needs no PATH); other interpreters get
    "#!/usr/bin/env NAME", as conda does. Anything else is returned unchanged.
    """
    if not prefix or not data.startswith(b"#!"):
        return data
    eol = data.find(b"\n")
    line = data if eol == -1 else data[:eol]
    rest = b"" if eol == -1 else data[eol + 1 :]
    command = line[2:].lstrip(b" \t")
    if not command.startswith(prefix + b"/"):
        return data
    # The interpreter is the prefix plus the path up to the next blank; the rest are arguments.
    cut = _WORD.match(command, len(prefix)).end()
    interpreter, args = command[:cut], command[cut:].split()
    if len(line) <= MAX_SHEBANG_LENGTH and not any(blank in prefix for blank in _BLANK):
        return data
    name = interpreter.rsplit(b"/", 1)[1]
    if _PYTHON_NAME.fullmatch(name):
        quoted = [word for word in map(_sh_word, [interpreter, *args]) if word is not None]
        if len(quoted) == 1 + len(args):
            exec_line = b"'''exec' " + b" ".join(quoted) + b' "$0" "$@"\n'
            return b"#!/bin/sh\n" + exec_line + b"' '''\n" + rest
    return b" ".join([b"#!/usr/bin/env", name, *args]) + b"\n" + rest


def _encode(prefix: str) -> bytes:
    return prefix.encode("utf-8", "surrogateescape")


def relocate_bytes(data: bytes, old: str, new: str, mode: str) -> bytes:
    """One file's bytes with prefix `old` replaced by `new`, the way conda does at install.

    Text files also get fix_shebang(), which is meant for real prefixes: to restore a file to
    its placeholder, call replace_text() or replace_binary() directly.
    """
    if mode == "text":
        return fix_shebang(replace_text(data, _encode(old), _encode(new)), _encode(new))
    if mode == "binary":
        return replace_binary(data, _encode(old), _encode(new))
    raise RelocationError(f"unknown file mode {mode!r} (expected 'text' or 'binary')")


# --- the manifest and the state it leaves -----------------------------------------------


def _state_path(prefix: str, name: str) -> str:
    return os.path.join(prefix, PLACEHOLDER_STATE_DIR, name)


def load_manifest(prefix: str) -> dict:
    """The packer's list of files holding a prefix, checked so later steps can trust its shape."""
    path = _state_path(prefix, MANIFEST_NAME)
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise RelocationError(
            f"{path} is missing: {prefix} was not unpacked from a conda-package archive"
        ) from None
    except (OSError, ValueError) as e:
        raise RelocationError(f"cannot read {path} ({e}); unpack the archive again") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise RelocationError(f"{path} is not a conda-package manifest; unpack the archive again")
    version = manifest.get("version")
    if version != MANIFEST_VERSION:
        raise RelocationError(
            f"{path} has version {version!r}, this conda-unpack reads version "
            f"{MANIFEST_VERSION}; use the bin/conda-unpack that came with the archive"
        )
    for entry in manifest["files"]:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("placeholder"), str)
            and entry["placeholder"]
            and entry.get("mode") in ("text", "binary")
        ):
            raise RelocationError(
                f"{path} has a malformed entry {entry!r}; unpack the archive again"
            )
    return manifest


def _read_state(prefix: str) -> str | None:
    try:
        with open(
            _state_path(prefix, PREFIX_STATE_NAME), encoding="utf-8", errors="surrogateescape"
        ) as f:
            return f.read().rstrip("\n")
    except FileNotFoundError:
        return None


def _read_journal(path: str) -> dict[str, str]:
    """Files an interrupted run already relocated, and to which prefix."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    done = {}
    for line in text.split("\n")[:-1]:  # the last piece is empty or a line cut short
        name, tab, value = line.rpartition("\t")
        if tab:
            done[name] = value
    return done


def _write_atomic(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".conda-unpack-")
    try:
        with open(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- unpack -----------------------------------------------------------------------------


class _File:
    """Manifest entries that are one file on disk (hard links): relocated once, together."""

    def __init__(self, path: str, full: str, entry: dict, st: os.stat_result) -> None:
        self.paths = [path]
        self.full = full
        self.placeholder = entry["placeholder"]
        self.mode = entry["mode"]
        self.st = st
        self.current = ""


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _check_path(path: str, prefix: str, root: str, real_dirs: dict[str, str]) -> str:
    """The file's full path, or RelocationError when the manifest points outside the prefix."""
    parts = path.split("/")
    if not path or os.path.isabs(path) or ".." in parts or "\n" in path:
        raise RelocationError(
            f"the manifest lists {path!r}, which is not a path inside the environment; "
            "nothing was changed: unpack the archive again from a trusted source"
        )
    full = os.path.join(prefix, *parts)
    parent = os.path.dirname(full)
    if parent not in real_dirs:
        real_dirs[parent] = os.path.realpath(parent)
    if not _inside(root, real_dirs[parent]):
        raise RelocationError(
            f"the manifest lists {path}, whose directory leads outside {prefix} "
            f"(to {real_dirs[parent]}); nothing was changed: remove that link and run again"
        )
    return full


def _mapped_files() -> set[tuple[int, int]]:
    """Files this process has mapped (its interpreter, libraries): writing them in place could
    crash it, so they are replaced by a new file instead."""
    mapped = set()
    paths = {sys.executable}
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:  # not Linux
        lines = []
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/"):
            paths.add(fields[5])
    for path in paths:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            mapped.add((st.st_dev, st.st_ino))
    return mapped


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl-C and friends while a file and its journal line are written: a rerun would
    replace a file written but not journalled a second time."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {getattr(signal, name) for name in _DEFERRED_SIGNALS if hasattr(signal, name)}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _read(full: str) -> bytes:
    fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as f:
        return f.read()


def _keep_times(full: str, st: os.stat_result) -> None:
    """Keep mtime: Python checks .pyc files against their sources' mtimes."""
    os.utime(full, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _replace_file(full: str, data: bytes, st: os.stat_result) -> None:
    """Write a new file and rename it over `full`: for executables that are running."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(full), prefix=".conda-unpack-")
    try:
        with open(fd, "wb") as f:
            f.write(data)
        with contextlib.suppress(OSError):  # only root can give files away
            os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        _keep_times(tmp, st)
        os.replace(tmp, full)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.ftruncate(fd, len(data))


def _write_file(
    full: str, data: bytes, st: os.stat_result, in_place: bool, original: bytes
) -> None:
    """Write in place so hard links stay hard links, keeping mode and times.

    A write that fails half-way (a full disk or quota) would leave new bytes over old ones,
    which no rerun could repair: the `original` bytes are put back before the error goes on.
    """
    if not in_place:
        _replace_file(full, data, st)
        return
    mode = stat.S_IMODE(st.st_mode)
    read_only = not mode & stat.S_IWUSR
    if read_only:
        os.chmod(full, mode | stat.S_IWUSR)
    try:
        try:
            fd = os.open(
                full, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
            )
        except OSError as e:
            if e.errno != errno.ETXTBSY:
                raise
            _replace_file(full, data, st)
            return
        try:
            _write_all(fd, data)
        except BaseException as e:
            os.lseek(fd, 0, os.SEEK_SET)
            _write_all(fd, original)  # fits: these bytes were there a moment ago
            with contextlib.suppress(OSError):
                _keep_times(full, st)
            if isinstance(e, OSError) and e.filename is None:
                e.filename = full  # so the one-line error names the file
            raise
        finally:
            os.close(fd)
        _keep_times(full, st)
    finally:
        if read_only:
            os.chmod(full, mode)


def _codesign(full: str) -> None:
    """Apple silicon kills binaries whose signature no longer matches; conda re-signs too."""
    import subprocess  # macOS only: not worth its import time elsewhere

    subprocess.run(
        ["/usr/bin/codesign", "-s", "-", "-f", full],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def _collect(prefix: str, manifest: dict, verbose: bool) -> list[_File]:
    """Check every manifest path, then group hard links; raises before anything is written."""
    root = os.path.realpath(prefix)
    real_dirs: dict[str, str] = {}
    checked = [
        (entry, _check_path(entry["path"], prefix, root, real_dirs)) for entry in manifest["files"]
    ]
    files: dict[tuple[int, int], _File] = {}
    for entry, full in checked:
        path = entry["path"]
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            if verbose:
                print(f"conda-unpack: skipping {path}: it is missing", file=sys.stderr)
            continue
        if not stat.S_ISREG(st.st_mode):
            if verbose:
                kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
                print(f"conda-unpack: skipping {path}: it is {kind}", file=sys.stderr)
            continue
        key = (st.st_dev, st.st_ino)
        if key in files:
            files[key].paths.append(path)
        else:
            files[key] = _File(path, full, entry, st)
    return list(files.values())


def _check_room(files: list[_File], new: str) -> None:
    """Refuse a prefix that some binary file cannot take, before anything is written."""
    new_len = len(_encode(new))
    room = UNLIMITED_ROOM
    too_long = []
    for file in files:
        if file.mode != "binary":
            continue
        fits = len(_encode(file.placeholder))
        if file.current != new and len(_encode(file.current)) < new_len <= fits:
            fits = min(fits, binary_room(_read(file.full), _encode(file.current)))
        room = min(room, fits)
        if file.current != new and new_len > fits:
            too_long.append(file.paths[0])
    if too_long:
        too_long.sort()
        shown = ", ".join(too_long[:3]) + (f" and {len(too_long) - 3} more" if too_long[3:] else "")
        files_have = (
            "1 binary file has" if len(too_long) == 1 else f"{len(too_long)} binary files have"
        )
        raise PrefixTooLongError(
            f"the environment's path {new} is {new_len} bytes long, but {files_have} room for "
            f"at most {room} ({shown}); nothing was changed: move the environment to a path of "
            f"at most {room} bytes and run bin/conda-unpack again",
            too_long,
            room,
        )


def unpack(prefix: str, *, verbose: bool = False, dry_run: bool = False) -> list[str]:
    """Relocate the environment extracted at `prefix` in place; return the paths changed.

    Safe to rerun: after a move, after an interruption (the journal says which files already
    hold which prefix), or when nothing needs doing.
    """
    if not os.path.isabs(prefix):
        raise RelocationError(f"the prefix {prefix} is not an absolute path")
    if "\n" in prefix or "\t" in prefix:
        raise RelocationError(
            f"the prefix {prefix!r} contains a tab or newline; move the environment to a "
            "plainer path"
        )
    manifest = load_manifest(prefix)
    files = _collect(prefix, manifest, verbose)
    journal_path = _state_path(prefix, JOURNAL_NAME)
    journal = _read_journal(journal_path)
    state = _read_state(prefix)
    for file in files:
        done = [journal[path] for path in file.paths if path in journal]
        file.current = done[-1] if done else state if state is not None else file.placeholder
    _check_room(files, prefix)

    changed: list[str] = []
    pending = [file for file in files if file.current != prefix]
    if not pending and state == prefix and not journal:
        return changed
    mapped = _mapped_files() if pending and not dry_run else set()
    sign = manifest.get("subdir") == "osx-arm64" and sys.platform == "darwin"
    with contextlib.ExitStack() as stack:
        log = None
        if not dry_run:
            log = stack.enter_context(
                open(journal_path, "a", encoding="utf-8", errors="surrogateescape", newline="")
            )
        for file in pending:
            data = _read(file.full)
            relocated = relocate_bytes(data, file.current, prefix, file.mode)
            if relocated == data:
                continue
            if log is not None:
                in_place = (file.st.st_dev, file.st.st_ino) not in mapped
                with _signals_held():
                    _write_file(file.full, relocated, file.st, in_place, data)
                    log.write("".join(f"{path}\t{prefix}\n" for path in file.paths))
                    log.flush()
                if sign and file.mode == "binary":
                    _codesign(file.full)
            changed.extend(file.paths)
            if verbose:
                verb = "would relocate" if dry_run else "relocated"
                for path in file.paths:
                    print(f"{verb} {path}")
    if not dry_run:
        _write_atomic(_state_path(prefix, PREFIX_STATE_NAME), prefix + "\n")
        os.unlink(journal_path)
    return changed


def unpack_script_source() -> str:
    """This file's text, which the packer ships as bin/conda-unpack."""
    with open(__file__, encoding="utf-8") as f:
        return f.read()


# --- bin/conda-unpack -------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Usage errors are one line too, like every other error."""
        print(f"conda-unpack: {message} (see conda-unpack --help)", file=sys.stderr)
        sys.exit(2)


def _describe(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}; fix that and run conda-unpack again to finish"


def main(argv: list[str] | None = None) -> int:
    """bin/conda-unpack: relocate the environment this script lives in to where it now is."""
    parser = _Parser(
        prog="conda-unpack",
        description="Fix the paths inside this conda environment after unpacking or moving "
        "it. Safe to run again.",
    )
    parser.add_argument(
        "--prefix",
        help="the environment's directory (default: the parent of this script's directory)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list each file changed")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change, change nothing"
    )
    args = parser.parse_args(argv)
    script_dir = os.path.dirname(os.path.realpath(__file__))
    prefix = os.path.realpath(args.prefix or os.path.dirname(script_dir))
    try:
        changed = unpack(prefix, verbose=args.verbose and not args.quiet, dry_run=args.dry_run)
    except RelocationError as e:
        print(f"conda-unpack: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"conda-unpack: {_describe(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("conda-unpack: interrupted; run it again to finish", file=sys.stderr)
        return 130
    if not args.quiet:
        verb = "would relocate" if args.dry_run else "relocated"
        print(f"conda-unpack: {verb} {len(changed)} file(s) to {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
