"""The rules for a file's prefix, its mode bits and symlinks: facts into findings.

ELF files have rules of their own (elf_rules.py); this module hands them over.
"""

from __future__ import annotations

import os
import posixpath
import stat

from ..load import Environment, MissingFile
from ..paths import fsencode
from ..unpack import UNLIMITED_ROOM
from .elf_rules import judge_elf
from .examine import FileFacts, FileTask
from .findings import FileAnalysis, Severity
from .judge import Judge


def judge_file(judge: Judge, task: FileTask, facts: FileFacts, mode: int) -> FileAnalysis | None:
    """What a regular file's facts mean; None when nothing about it is worth showing."""
    path = task.path
    before = len(judge.findings)
    _mode_bits(judge, path, mode)
    if facts.unreadable is not None:
        judge.add(
            "unreadable",
            Severity.WARNING,
            path,
            f"cannot be read: {facts.unreadable}",
            "fix its permissions; it was not analysed and cannot be packed",
        )
        return FileAnalysis(path, facts.kind, None, task.placeholder, None, None)
    prefix_mode, room = _prefix_use(judge, task, facts)
    needed = judge_elf(judge, task, facts) if facts.kind == "elf" else ()
    shown = facts.kind == "elf" or prefix_mode is not None or len(judge.findings) > before
    if not shown:
        return None
    return FileAnalysis(path, facts.kind, prefix_mode, task.placeholder, room, facts.elf, needed)


def is_modified(env: Environment, path: str, facts: FileFacts) -> bool:
    """Changed since install: a verified restore outweighs the size check, which a symlinked
    prefix can fool."""
    return (path in env.modified and facts.verified is not True) or facts.verified is False


def _mode_bits(judge: Judge, path: str, mode: int) -> None:
    if mode & 0o6000:
        bits = " and ".join(
            name for bit, name in ((0o4000, "setuid"), (0o2000, "setgid")) if mode & bit
        )
        judge.add(
            "setuid-setgid",
            Severity.WARNING,
            path,
            f"has the {bits} bit (mode {stat.S_IMODE(mode):o})",
            "archives keep the bit, which unpacking as root makes live: clear it"
            " (chmod u-s,g-s) unless it is meant",
        )


def _prefix_use(judge: Judge, task: FileTask, facts: FileFacts) -> tuple[str | None, int | None]:
    """How the file holds the prefix, and the longest target it can take."""
    path = task.path
    modified = is_modified(judge.env, path, facts)
    if modified:
        why = (
            "restoring the placeholder does not give the package's sha256"
            if facts.verified is False
            else "its size changed since install"
        )
        name = judge.env.owners[path].name
        hint = (
            f"reinstall it (conda install --force-reinstall {name}), or accept that it is"
            " packed as is and relocated by search"
        )
        diagnosis = judge.diagnosis(path)
        if diagnosis is not None:
            why, hint = f"{why}; {diagnosis.reason}", f"{diagnosis.fix}; it is packed as is"
        judge.add("modified-file", Severity.WARNING, path, f"differs from its package: {why}", hint)
    if task.placeholder is not None and not modified:
        mode = task.file_mode or "text"
        return mode, len(fsencode(task.placeholder)) if mode == "binary" else None
    if facts.found_mode is None:
        return (task.file_mode or "text", None) if task.placeholder is not None else (None, None)
    if path.endswith(".pyc"):
        judge.add(
            "bytecode-holds-prefix",
            Severity.INFO,
            path,
            "byte-code holds the prefix (its source's path); it is packed as is",
            "harmless: only tracebacks show the old path; delete it to have Python rebuild it",
        )
        return facts.found_mode, None
    room = facts.found_room
    if room == UNLIMITED_ROOM:
        room = None
    if (
        facts.found_mode == "binary"
        and room is not None
        and room <= len(fsencode(judge.env.prefix))
    ):
        judge.add(
            "binary-prefix-no-room",
            Severity.ERROR,
            path,
            f"binary holds the prefix with no spare room: it can only move to a path"
            f" of at most {room} bytes",
            f"unpack at a path of at most {room} bytes, or rebuild it as a conda package"
            " (a placeholder leaves room)",
        )
    return facts.found_mode, room


def judge_symlink(judge: Judge, path: str) -> FileAnalysis | None:
    full = posixpath.join(judge.env.prefix, path)
    try:
        target = os.readlink(full)
    except OSError:
        return None
    before = len(judge.findings)
    if posixpath.isabs(target):
        root = judge.in_prefix(posixpath.normpath(target))
        if root is not None:
            relative = posixpath.relpath(target, posixpath.dirname(full))
            judge.add(
                "symlink-absolute-into-prefix",
                Severity.ERROR,
                path,
                f"symlink to {target} by absolute path into the environment: it breaks"
                " when the environment moves",
                f"make it relative: ln -sfn {relative} {path}",
            )
        else:
            _outside_link(judge, path, target)
    else:
        lexical = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if lexical == ".." or lexical.startswith("../"):
            _outside_link(judge, path, target)
    if not os.path.exists(full):
        judge.add(
            "symlink-dangling",
            Severity.WARNING,
            path,
            f"symlink to {target}, which does not exist",
            "remove it, or install what it points to",
        )
    if len(judge.findings) == before:
        return None
    return FileAnalysis(path, "symlink", None, None, None, None)


def _outside_link(judge: Judge, path: str, target: str) -> None:
    judge.add(
        "symlink-outside-prefix",
        Severity.WARNING,
        path,
        f"symlink to {target}, outside the environment",
        "the archive keeps the link as it is: make sure the target exists where the"
        " environment goes, or copy it in",
    )


def judge_missing(judge: Judge, missing: MissingFile) -> None:
    diagnosis = judge.diagnosis(missing.path)
    reason = f": {diagnosis.reason}" if diagnosis is not None else ""
    fix = (
        diagnosis.fix
        if diagnosis is not None
        else f"reinstall it (conda install --force-reinstall {missing.package.name})"
    )
    judge.add(
        "missing-file",
        Severity.WARNING,
        missing.path,
        f"listed by its package but absent{reason}; packing stops on it unless"
        " --ignore-missing-files",
        fix if "--ignore-missing-files" in fix else f"{fix}; or pack with --ignore-missing-files",
    )


def judge_special(judge: Judge, path: str) -> None:
    judge.add(
        "special-file",
        Severity.INFO,
        path,
        "a socket, pipe or device: no archive holds one, packing leaves it out",
        "nothing to do, unless the environment needs it: then recreate it where it goes",
    )
