#!/bin/sh
"true" '''\'
# Run as a shell script: hand this file to the environment's own Python when it is 3.7 or
# newer (python 2 environments exist), else to one found on PATH; -S: without `site`, so
# the environment's self-relocation hook does not run conda-unpack a second time.
case $0 in
*/*) here=${0%/*} ;;
*) here=. ;;
esac
for py in "$here/python" python3 python; do
    if "$py" -S -c 'import sys; sys.exit(sys.version_info < (3, 7))' >/dev/null 2>&1; then
        exec "$py" -S "$0" "$@"
    fi
done
echo "conda-unpack: no Python 3.7 or newer found (tried $here/python, python3, python)" >&2
exit 1
'''  # fmt: skip

from __future__ import annotations

import argparse
import contextlib
import json
import os
import stat
import sys
from typing import NoReturn

# The polyglot header above is the real docstring, so give the module a readable one.
__doc__ = """conda-unpack: relocate an environment unpacked from a conda-package archive in place.

This file is both conda_package.core.unpack.conda_unpack and, copied verbatim, bin/conda-unpack
inside every archive, next to its sibling modules relocate.py and rewrite.py in the state
directory. There it runs under the environment's Python, which may be 3.7: stdlib only.
"""

PLACEHOLDER_STATE_DIR = "conda-meta/conda-package"
MANIFEST_NAME = "manifest.json"
PREFIX_STATE_NAME = "prefix"
LABEL_NAME = "label"  # NAME-VERSION-BUILD of the archive, one line, for bin/activate
JOURNAL_NAME = "unpack.journal"
MANIFEST_VERSION = 1
# The environment this file is bin/conda-unpack of (when it is).
_SCRIPT_PREFIX = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))

if __package__:  # imported by the packer
    from . import relocate, rewrite
else:  # run as bin/conda-unpack: the siblings ship in the state directory
    sys.path.insert(0, os.path.join(_SCRIPT_PREFIX, PLACEHOLDER_STATE_DIR))
    sys.dont_write_bytecode = True  # a rerun changes nothing, and the prefix may be read-only
    try:
        import relocate  # type: ignore[no-redef,import-not-found]
        import rewrite  # type: ignore[no-redef,import-not-found]
    except ImportError as e:
        sys.exit(
            f"conda-unpack: cannot import {e.name} from {sys.path[0]}; unpack the archive again"
        )


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
        raise relocate.RelocationError(
            f"{path} is missing: {prefix} was not unpacked from a conda-package archive"
        ) from None
    except (OSError, ValueError) as e:
        raise relocate.RelocationError(
            f"cannot read {path} ({e}); unpack the archive again"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise relocate.RelocationError(
            f"{path} is not a conda-package manifest; unpack the archive again"
        )
    version = manifest.get("version")
    if version != MANIFEST_VERSION:
        raise relocate.RelocationError(
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
            raise relocate.RelocationError(
                f"{path} has a malformed entry {entry!r}; unpack the archive again"
            )
    return manifest


def _read_state(prefix: str) -> str | None:
    """The prefix every file was last relocated to; None while each holds its placeholder
    (the archive ships the record empty)."""
    try:
        with open(
            _state_path(prefix, PREFIX_STATE_NAME), encoding="utf-8", errors="surrogateescape"
        ) as f:
            return f.read().rstrip("\n") or None
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


# --- unpack -----------------------------------------------------------------------------


class _File:
    """Manifest entries that are one file on disk (hard links): relocated once, together."""

    def __init__(self, path: str, full: str, entry: dict, st: os.stat_result) -> None:
        self.paths = [path]
        self.fulls = [full]
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
        raise relocate.RelocationError(
            f"the manifest lists {path!r}, which is not a path inside the environment; "
            "nothing was changed: unpack the archive again from a trusted source"
        )
    full = os.path.join(prefix, *parts)
    parent = os.path.dirname(full)
    if parent not in real_dirs:
        real_dirs[parent] = os.path.realpath(parent)
    if not _inside(root, real_dirs[parent]):
        raise relocate.RelocationError(
            f"the manifest lists {path}, whose directory leads outside {prefix} "
            f"(to {real_dirs[parent]}); nothing was changed: remove that link and run again"
        )
    return full


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
            files[key].fulls.append(full)
        else:
            files[key] = _File(path, full, entry, st)
    return list(files.values())


def _check_room(files: list[_File], new: str) -> None:
    """Refuse a prefix that some binary file cannot take, before anything is written."""
    new_len = len(relocate.fsencode(new))
    room = relocate.UNLIMITED_ROOM
    too_long = []
    for file in files:
        if file.mode != "binary":
            continue
        fits = len(relocate.fsencode(file.placeholder))
        current = relocate.fsencode(file.current)
        if file.current != new and len(current) < new_len <= fits:
            fits = min(fits, relocate.binary_room(rewrite.read_file(file.full), current))
        room = min(room, fits)
        if file.current != new and new_len > fits:
            too_long.append(file.paths[0])
    if too_long:
        too_long.sort()
        shown = ", ".join(too_long[:3]) + (f" and {len(too_long) - 3} more" if too_long[3:] else "")
        files_have = (
            "1 binary file has" if len(too_long) == 1 else f"{len(too_long)} binary files have"
        )
        raise relocate.PrefixTooLongError(
            f"the environment's path {new} is {new_len} bytes long, but {files_have} room for "
            f"at most {room} ({shown}); nothing was changed: move the environment to a path of "
            f"at most {room} bytes and run bin/conda-unpack again",
            too_long,
            room,
        )


def unpack(
    prefix: str, *, verbose: bool = False, dry_run: bool = False, shared: bool = False
) -> list[str]:
    """Relocate the environment extracted at `prefix` in place; return the paths changed.

    Safe to rerun: after a move, after an interruption (the journal says which files already
    hold which prefix), or when nothing needs doing. Runs under the environment's lock, so
    that of many processes starting at once (self-relocation) one relocates and the others
    then find nothing to do. `shared`: other processes may be running from the environment,
    so every file is replaced by a renamed new one, never changed under their feet.
    """
    if not os.path.isabs(prefix):
        raise relocate.RelocationError(f"the prefix {prefix} is not an absolute path")
    if "\n" in prefix or "\t" in prefix:
        raise relocate.RelocationError(
            f"the prefix {prefix!r} contains a tab or newline; move the environment to a "
            "plainer path"
        )
    manifest = load_manifest(prefix)
    with rewrite.locked(os.path.join(prefix, PLACEHOLDER_STATE_DIR), not dry_run):
        return _unpack_locked(prefix, manifest, verbose, dry_run, shared)


def _unpack_locked(
    prefix: str, manifest: dict, verbose: bool, dry_run: bool, shared: bool
) -> list[str]:
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
    mapped = rewrite.mapped_files() if pending and not dry_run and not shared else set()
    sign = manifest.get("subdir") == "osx-arm64" and sys.platform == "darwin"
    with contextlib.ExitStack() as stack:
        log = None
        if not dry_run:
            log = stack.enter_context(
                open(journal_path, "a", encoding="utf-8", errors="surrogateescape", newline="")
            )
        for file in pending:
            data = rewrite.read_file(file.full)
            relocated = relocate.relocate_bytes(data, file.current, prefix, file.mode)
            if relocated == data:
                continue
            if log is not None:
                in_place = (file.st.st_dev, file.st.st_ino) not in mapped
                with rewrite.signals_held():
                    for path in file.paths:  # first: a rerun rewrites no journalled file
                        rewrite.drop_bytecode(os.path.join(prefix, path))
                    if shared:
                        for full in file.fulls:
                            rewrite.replace_file(full, relocated, file.st)
                    else:
                        rewrite.write_file(file.full, relocated, file.st, in_place, data)
                    log.write("".join(f"{path}\t{prefix}\n" for path in file.paths))
                    log.flush()
                if sign and file.mode == "binary":
                    for full in file.fulls if shared else [file.full]:
                        rewrite.codesign(full)
            changed.extend(file.paths)
            if verbose:
                verb = "would relocate" if dry_run else "relocated"
                for path in file.paths:
                    print(f"{verb} {path}")
    if not dry_run:
        rewrite.write_atomic(_state_path(prefix, PREFIX_STATE_NAME), prefix + "\n")
        os.unlink(journal_path)
    return changed


# --- bin/conda-unpack -------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Usage errors are one line too, like every other error."""
        print(f"conda-unpack: {message} (see conda-unpack --help)", file=sys.stderr)
        sys.exit(2)


def _describe(error: OSError) -> str:
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}; fix that and run conda-unpack again to finish"


def _version() -> str:
    """What made this environment's archive, as its manifest says (conda-pack prints its own
    version; this script is the archive's, so it names the packer that wrote it)."""
    try:
        manifest = load_manifest(_SCRIPT_PREFIX)
    except relocate.RelocationError:
        manifest = {}
    made_by = manifest.get("created_by")
    package = manifest.get("package")
    label = ""
    if isinstance(package, dict):  # what the archive was called (--pkg-name, ...)
        parts = (package.get(key) for key in ("name", "version", "build"))
        label = "-".join(part for part in parts if isinstance(part, str) and part)
    of = f" of {label}" if label else ""
    return f"conda-unpack{of} (from {made_by or 'an unknown conda-package'})"


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
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "--shared",
        action="store_true",
        help="other processes may be running from the environment: write each changed file "
        "anew and rename it into place (hard links among them are split)",
    )
    args = parser.parse_args(argv)
    prefix = os.path.realpath(args.prefix or _SCRIPT_PREFIX)
    try:
        changed = unpack(
            prefix,
            verbose=args.verbose and not args.quiet,
            dry_run=args.dry_run,
            shared=args.shared,
        )
    except relocate.RelocationError as e:
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
