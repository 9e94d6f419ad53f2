"""The pack plan: every archive entry and what happens to it, decided without reading files."""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import EditablePackages, MissingFiles, PrefixTooLong
from ..load import Environment, PackageDiagnosis, diagnose, pyc_source
from ..paths import fsencode
from ..threads import IOPool
from .entry import Action, PlanEntry
from .filters import PathFilter, apply_filters
from .scripts import ScriptClash, script_clashes
from .symlinks import dereference_symlinks

STATE_DIR = "conda-meta/conda-package"
_NS = 1_000_000_000  # mtimes in whole seconds, as tar keeps them
_new = tuple.__new__  # builds a PlanEntry without its Python __new__: per file, it counts
PLAIN_PATH_TYPES = frozenset({"hardlink", "softlink", "directory"})


def keeps_bytecode(source_action: Action, relocate_prefix: str | None) -> bool:
    """Whether byte-code still matches its source at the target: the source's bytes must be
    packed as they are on disk (the byte-code checks its size and mtime, not its text). A
    searched source is rewritten only if it holds the prefix: at pack time under
    --relocate-prefix, too late to leave its byte-code out; by conda-unpack otherwise,
    which removes the byte-code of each source it rewrites."""
    if source_action == "search":
        return relocate_prefix is None
    return source_action == "copy"


@dataclass(frozen=True)
class PackPlan:
    prefix: str
    subdir: str
    entries: tuple[PlanEntry, ...]
    skipped_pyc: int = 0  # byte-code of sources that change at the target, left out
    missing: tuple[str, ...] = ()  # "dist: path" left out by --ignore-missing-files
    editable: tuple[str, ...] = ()  # editable installs packed by --ignore-editable-packages
    special: tuple[str, ...] = ()  # sockets, pipes and devices, left out
    excluded: tuple[str, ...] = ()  # files and links left out by --exclude/--include
    notes: tuple[str, ...] = ()  # what the user should know about the choices made
    clashes: tuple[ScriptClash, ...] = ()  # shipped scripts a package installed too
    # The package files of clashes that move aside (`ScriptClash.theirs`), as on disk.
    displaced: tuple[PlanEntry, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries if e.kind == "file")

    @property
    def files(self) -> tuple[PlanEntry, ...]:
        return tuple(e for e in self.entries if e.kind != "dir")


def _readlink(prefix: str, name: str) -> str:
    return os.readlink(os.path.join(prefix, name))


def make_plan(
    env: Environment,
    *,
    subdir: str | None = None,
    ignore_missing_files: bool = False,
    ignore_editable_packages: bool = False,
    relocate_prefix: str | None = None,
    filters: Sequence[PathFilter] = (),
    dereference: bool = False,
    pool: IOPool | None = None,
) -> PackPlan:
    """Decide every entry from the loaded model alone; errors for what would not work.

    filters: --exclude/--include in order; dereference: symlinks as copies of what they
    point to (zip without --zip-symlinks). The model has no symlink targets: they are
    read here, on the pool's threads when the filesystem is slow.
    """
    missing, editable = _check_packable(env, ignore_missing_files, ignore_editable_packages)
    sources = _Sources.of(env)
    if relocate_prefix:
        _check_room(env, sources.placeholders, relocate_prefix)
    clashes = script_clashes(env, relocate_prefix)
    moved = {c.path for c in clashes if c.theirs != c.path}
    entries, skipped_pyc = _file_entries(env, sources, moved, relocate_prefix, pool)
    entries += _meta_entries(env)
    displaced: list[PlanEntry] = []
    if moved:  # read like the others, written under another name (ScriptClash.theirs)
        displaced = [e for e in entries if e.name in moved]
        entries = [e for e in entries if e.name not in moved]
    entries.sort()  # by name: tuples compare their first field first, and names are unique
    entries, excluded = apply_filters(entries, filters)
    notes = _excluded_notes(excluded)
    if dereference:
        entries, link_notes = dereference_symlinks(env, entries)
        notes += link_notes
    return PackPlan(
        env.prefix,
        subdir or env.subdir,
        tuple(entries),
        skipped_pyc,
        missing,
        editable,
        env.special,
        tuple(excluded),
        tuple(notes),
        clashes,
        tuple(displaced),
    )


def _check_packable(
    env: Environment, ignore_missing_files: bool, ignore_editable_packages: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The missing files and editable installs, each an error unless it is to be ignored."""
    missing = tuple(f"{m.package.dist}: {m.path}" for m in env.missing)
    if missing and not ignore_missing_files:
        raise MissingFiles(
            f"{len(missing)} {'file' if len(missing) == 1 else 'files'} listed by packages"
            f" {'is' if len(missing) == 1 else 'are'} missing: "
            + "; ".join(_missing_line(d) for d in diagnose(env) if d.missing)
            + "; or use --ignore-missing-files to pack without them"
        )
    editable = tuple(f"{d.name} ({d.editable_location})" for d in env.editable_distributions)
    if editable and not ignore_editable_packages:
        raise EditablePackages(
            f"editable pip installs point outside the environment: {', '.join(editable)};"
            " install them normally or use --ignore-editable-packages"
        )
    return missing, editable


@dataclass(frozen=True)
class _Sources:
    """How each file's bytes are to be made: restored to its package's (placeholders, by
    path), searched for the prefix (untracked, modified, or written by the installer), or
    copied."""

    placeholders: dict[str, dict]
    searched: frozenset[str]
    modified: frozenset[str]

    @classmethod
    def of(cls, env: Environment) -> _Sources:
        placeholders: dict[str, dict] = {}
        generated: set[str] = set()  # written by the installer (entry points): no placeholder
        for record in env.records:
            for item in record.path_items:
                if item.get("prefix_placeholder"):
                    placeholders[item["_path"]] = item
                elif item.get("path_type", "hardlink") not in PLAIN_PATH_TYPES:
                    generated.add(item["_path"])
        searched = frozenset({*env.untracked, *env.modified, *generated})
        return cls(placeholders, searched, frozenset(env.modified))

    def action(self, name: str) -> Action:
        if name in self.placeholders and name not in self.modified:
            return "restore"
        return "search" if name in self.searched else "copy"


def _check_room(env: Environment, placeholders: dict[str, dict], relocate_prefix: str) -> None:
    """A target prefix longer than a binary's placeholder cannot be written into it."""
    too_long = sorted(
        path
        for path, item in placeholders.items()
        if item.get("file_mode") == "binary"
        and len(fsencode(relocate_prefix)) > len(fsencode(item["prefix_placeholder"]))
        and path in env.files
    )
    if too_long:
        room = min(len(fsencode(placeholders[p]["prefix_placeholder"])) for p in too_long)
        raise PrefixTooLong(
            f"--relocate-prefix is {len(fsencode(relocate_prefix))} bytes but {len(too_long)}"
            f" binary files have room for {room}: {', '.join(too_long[:5])}"
            f"{' ...' if len(too_long) > 5 else ''}; choose a shorter prefix"
        )


def _file_entries(
    env: Environment,
    sources: _Sources,
    moved: set[str],
    relocate_prefix: str | None,
    pool: IOPool | None,
) -> tuple[list[PlanEntry], int]:
    """The entries of the environment's folders and files, and how much byte-code is left
    out (that of sources which change at the target)."""
    entries: list[PlanEntry] = [
        PlanEntry(name, "dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns // _NS)
        for name, st in env.dirs.items()
    ]
    skipped_pyc = 0
    # The first path of a hard-linked group holds the data; later ones made the same way
    # (copied, or searched for the prefix) link to it.
    firsts: dict[tuple[int, int, str], str] = {}
    owners, files = env.owners, env.files
    placeholders, searched, modified = sources.placeholders, sources.searched, sources.modified
    links = [name for name, st in files.items() if stat.S_ISLNK(st.st_mode)]
    read = functools.partial(_readlink, env.prefix)
    targets = dict(zip(links, pool.map(read, links) if pool else map(read, links), strict=True))
    for name in sorted(files):
        st = files[name]
        mtime = st.st_mtime_ns // _NS
        owner = owners.get(name)
        dist = owner.dist if owner else ""
        if stat.S_ISLNK(st.st_mode):
            target = targets[name]
            # PlanEntry(name, "symlink", 0o777, mtime, target=target, owner=dist), made faster
            entries.append(
                _new(
                    PlanEntry, (name, "symlink", 0o777, mtime, 0, target, "copy", "", "", "", dist)
                )
            )
            continue
        if not stat.S_ISREG(st.st_mode):
            continue  # a socket, pipe or device (env.special): no content to carry
        mode = stat.S_IMODE(st.st_mode)
        source = pyc_source(name)
        if source is not None and source in files:
            # Byte-code names the old prefix, harmlessly: Python sets a loaded code object's
            # file name to where it was found. It is packed as is, unless its source changes.
            if not keeps_bytecode(sources.action(source), relocate_prefix):
                skipped_pyc += 1
                continue
            fields = (name, "file", mode, mtime, st.st_size, "", "copy", "", "", "", dist)
            entries.append(_new(PlanEntry, fields))
            continue
        with_prefix = placeholders.get(name)
        if with_prefix is not None and name not in modified:
            entries.append(
                PlanEntry(
                    name, "file", mode, mtime, st.st_size, action="restore",
                    placeholder=with_prefix["prefix_placeholder"],
                    file_mode=with_prefix.get("file_mode") or "text",
                    sha256=with_prefix.get("sha256") or "", owner=dist,
                )
            )  # fmt: skip
            continue
        action: Action = "search" if name in searched else "copy"
        if st.st_nlink > 1 and name not in moved:  # a moved file stands alone
            key = (st.st_dev, st.st_ino, action)
            if key in firsts:
                entries.append(
                    PlanEntry(name, "hardlink", mode, mtime, target=firsts[key], owner=dist)
                )
                continue
            firsts[key] = name
        # PlanEntry(name, "file", mode, mtime, size, action=action, owner=dist), faster
        entries.append(
            _new(PlanEntry, (name, "file", mode, mtime, st.st_size, "", action, "", "", "", dist))
        )
    return entries, skipped_pyc


def _meta_entries(env: Environment) -> list[PlanEntry]:
    """conda-meta: the records (blanked of this machine's paths when written), conda's
    history and pinned files (searched for the prefix), and the folder."""
    entries = []
    for record in env.records:
        meta = os.stat(os.path.join(env.prefix, "conda-meta", record.record_file))
        name = f"conda-meta/{record.record_file}"
        entries.append(
            PlanEntry(name, "file", 0o644, int(meta.st_mtime), meta.st_size, action="record")
        )
    for extra in ("history", "pinned"):
        path = os.path.join(env.prefix, "conda-meta", extra)
        if os.path.isfile(path) and not os.path.islink(path):
            meta = os.stat(path)
            mode, mtime = stat.S_IMODE(meta.st_mode), int(meta.st_mtime)
            entries.append(
                PlanEntry(f"conda-meta/{extra}", "file", mode, mtime, meta.st_size, action="search")
            )
    entries.append(PlanEntry("conda-meta", "dir", 0o755, 0))
    return entries


def _excluded_notes(excluded: list[str]) -> list[str]:
    """One note for what the patterns left out, and one for the conda-meta records among
    them: relocation does not need them, but conda and friends do."""
    if not excluded:
        return []
    shown = ", ".join(excluded[:3]) + (" ..." if len(excluded) > 3 else "")
    notes = [f"{len(excluded)} files and links excluded by pattern (--exclude/--include): {shown}"]
    records = [n for n in excluded if n.startswith("conda-meta/") and n.endswith(".json")]
    if records:
        notes.append(
            f"{len(records)} conda-meta records excluded by pattern: the environment still"
            " relocates and runs, but conda, mamba and pixi will not see those packages in it"
        )
    return notes


def _missing_line(d: PackageDiagnosis) -> str:
    """A package's part of the error: its missing files, why, and the fix."""
    paths = d.missing
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return f"{d.package.dist} lacks {', '.join(paths[:3])}{more}: {d.reason}; fix: {d.fix}"
