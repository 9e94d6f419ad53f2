"""The rules for ELF files: architecture, interpreter, RPATH/RUNPATH, NEEDED, as ld.so sees them."""

from __future__ import annotations

import posixpath
import re

from .elf import ElfInfo, matches_subdir, origin_relative
from .examine import FileFacts, FileTask
from .findings import Severity
from .judge import Judge
from .ldso import expand_origin, resolve_needed

# glibc itself: present on every Linux machine, so needing it from the system is fine.
_BASE_LIBS = re.compile(
    r"(ld-linux[\w.-]*|ld64)\.so\.\d+|"
    r"lib(c|m|pthread|dl|rt|util|crypt|resolv|nsl|anl|mvec|BrokenLocale|thread_db|nss_\w+"
    r"|c_malloc_debug|memusage|pcprofile|SegFault)\.so(\.[\d.]+)?"
)
# Paths conda-build and friends leave behind: they exist on no user's machine.
_BUILD_DIR = re.compile(
    r"_h_env_placehold|_build_env|_placehold_|/conda-bld/|^/tmp/build(/|$)|/feedstock_root/"
)
# Cross toolchains ship their target's libraries to link against, never to load here.
_SYSROOT = re.compile(r"(^|/)sysroot/")
_TRIPLET_DIR = re.compile(r"(^|/)[\w.]+(-[\w.]+)*-linux-(gnu|musl)\w*/")


def judge_elf(
    judge: Judge, task: FileTask, facts: FileFacts
) -> tuple[tuple[str, str, str | None], ...]:
    """What an ELF file's headers mean; each NEEDED with where it comes from and its path."""
    path = task.path
    info = facts.elf
    if info is None:
        judge.add(
            "elf-unparsable",
            Severity.WARNING,
            path,
            f"ELF file cannot be parsed: {facts.elf_error}",
            "if it is truncated, reinstall its package; its libraries were not checked",
        )
        return ()
    for_target = _architecture(judge, path, info)
    if info.elf_type == "ET_EXEC" and not info.is_dynamic:
        judge.add(
            "static-binary",
            Severity.INFO,
            path,
            "statically linked: needs no libraries",
            "nothing to do unless it holds the prefix",
        )
    full = posixpath.join(judge.env.prefix, path)
    resolved = resolve_needed(info, full, (posixpath.join(judge.env.prefix, "lib"),))
    needed = tuple(
        (name, _where(judge, name, found, path, for_target), found)
        for name, found in resolved.items()
    )
    _search_path(judge, task, info, resolved)
    if info.interpreter and judge.in_prefix(info.interpreter):
        _absolute_into_prefix(
            judge,
            task,
            "interpreter-into-prefix",
            f"its interpreter {info.interpreter}",
            "relink it, or patchelf --set-interpreter to the system's ld.so",
        )
    return needed


def _architecture(judge: Judge, path: str, info: ElfInfo) -> bool:
    """Whether the file is a cross toolchain's target library (which nothing here loads);
    a foreign machine anywhere else is an error."""
    subdir = judge.env.subdir
    native = matches_subdir(info, subdir)
    for_target = bool(_SYSROOT.search(path) or (not native and _TRIPLET_DIR.search(path)))
    if not native and for_target:
        judge.add(
            "wrong-architecture",
            Severity.INFO,
            path,
            f"{info.machine} {info.elf_class}-bit ELF, in a cross toolchain's directory",
            "nothing to do: compilers link against it, nothing here loads it",
        )
    elif not native:
        judge.add(
            "wrong-architecture",
            Severity.ERROR,
            path,
            f"{info.machine} {info.elf_class}-bit ELF in a {subdir} environment",
            f"remove it, or install the build made for {subdir}",
        )
    return for_target


def _where(judge: Judge, name: str, found: str | None, path: str, for_target: bool) -> str:
    """Where a NEEDED library comes from; a worrying answer is also a finding, unless
    the file is a toolchain's target library, which only the linker reads."""
    if found is None:
        if for_target:
            return "not-found"
        judge.add(
            "needed-not-found",
            Severity.ERROR,
            path,
            f"needs {name}, found neither by its search path, nor in lib/, nor on this system",
            f"install the package that provides {name}, or fix its RPATH",
        )
        return "not-found"
    root = judge.in_prefix(found)
    if root is None:
        if not for_target and not _BASE_LIBS.fullmatch(name):
            judge.add(
                "needed-system-only",
                Severity.WARNING,
                path,
                f"needs {name}, found only outside the environment ({found})",
                f"install a package that provides {name}, or make sure every target machine has it",
            )
        return "system"
    record = judge.env.owners.get(posixpath.relpath(found, root))
    return f"package:{record.dist}" if record is not None else "untracked"


def _search_path(
    judge: Judge, task: FileTask, info: ElfInfo, resolved: dict[str, str | None]
) -> None:
    path = task.path
    file_dir = posixpath.dirname(posixpath.join(judge.env.prefix, path))
    tags = [("RPATH", e) for e in info.rpath] + [("RUNPATH", e) for e in info.runpath]
    for tag, entry in dict.fromkeys(tags):
        if not entry:
            judge.add(
                "rpath-empty",
                Severity.WARNING,
                path,
                f"{tag} has an empty entry: ld.so searches the current directory",
                "relink or patchelf --set-rpath without the empty entry",
            )
            continue
        expanded = expand_origin(entry, file_dir)
        if not posixpath.isabs(expanded):
            judge.add(
                "rpath-relative",
                Severity.WARNING,
                path,
                f"{tag} entry {entry} is relative: ld.so resolves it against the current directory",
                "use an $ORIGIN-relative entry instead (patchelf --set-rpath)",
            )
        elif "ORIGIN" in entry:
            if judge.in_prefix(expanded) is None:
                judge.add(
                    "rpath-origin-escapes",
                    Severity.WARNING,
                    path,
                    f"{tag} entry {entry} leads outside the environment, to {expanded}",
                    "keep $ORIGIN entries inside the environment and ship what they point to",
                )
        elif (root := judge.in_prefix(expanded)) is not None:
            relative = origin_relative(entry, path, root)
            _absolute_into_prefix(
                judge,
                task,
                "rpath-absolute-into-prefix",
                f"{tag} entry {entry}",
                f"pack with --fix-rpath (rewrites it to {relative} in the archive), or"
                f" relink with -Wl,-rpath,'{relative}'",
            )
        else:
            _outside(judge, path, tag, entry, expanded, resolved)


def _outside(
    judge: Judge, path: str, tag: str, entry: str, expanded: str, resolved: dict[str, str | None]
) -> None:
    """A build directory only breaks anything when this machine has it and it supplies
    a library: then the file works here and nowhere else."""
    build = _BUILD_DIR.search(entry) is not None
    supplies = sorted(n for n, f in resolved.items() if f and posixpath.dirname(f) == expanded)
    if build and supplies:
        judge.add(
            "rpath-outside-prefix",
            Severity.ERROR,
            path,
            f"{tag} entry {entry} is a build directory that supplies"
            f" {', '.join(supplies)} here; other machines lack it",
            f"install the package providing {supplies[0]} into the environment",
        )
        return
    what = "a build directory" if build else "outside the environment"
    judge.add(
        "rpath-outside-prefix",
        Severity.WARNING,
        path,
        f"{tag} entry {entry} is {what}",
        "harmless where the directory is absent; else ship its libraries in the"
        " environment and use an $ORIGIN-relative entry",
    )


def _absolute_into_prefix(judge: Judge, task: FileTask, code: str, what: str, fix: str) -> None:
    """Absolute paths into the prefix move only if a package placeholder covers them."""
    if task.placeholder is not None:
        judge.add(
            code,
            Severity.INFO,
            task.path,
            f"{what} is an absolute path into the environment; its package's placeholder"
            " lets conda-unpack rewrite it",
            "nothing to do",
        )
        return
    judge.add(
        code,
        Severity.ERROR,
        task.path,
        f"{what} is an absolute path into the environment that no package record"
        " relocates: it breaks when the environment moves",
        fix,
    )
