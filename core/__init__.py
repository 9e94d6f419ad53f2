"""conda-package's engine: discover, load, analyse and pack conda environments.

This module is the public API: the CLI (core/cli/) and the TUI (tui/) use only the names in
__all__. Nothing here imports a UI toolkit. Names are imported on first use, so that
`conda-package -w` does not pay for the archive writers or the ELF reader.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each public name and the room (or module) that defines it.
_API: dict[str, str] = {
    # discover: where environments are
    "DiscoveredEnvironment": "discover",
    "WHERE_DISCOVERY_LOOKS": "discover",
    "discover": "discover",
    "locate": "discover",
    "resolve_name": "discover",
    # load: the environment model
    "DEMO_MARKER": "load",
    "DiagnosisCause": "load",
    "DirectoryCallback": "load",
    "Environment": "load",
    "FileStat": "load",
    "Ownership": "load",
    "PackageDiagnosis": "load",
    "PackageRecord": "load",
    "PathEntry": "load",
    "check_prefix": "load",
    "diagnose": "load",
    "find_owners": "load",
    "find_prefix_of": "load",
    "is_demo": "load",
    "read_records": "load",
    "shown_prefix": "load",
    # analyse: relocation findings
    "AnalysisCache": "analyse",
    "FileAnalysis": "analyse",
    "Finding": "analyse",
    "RelocationReport": "analyse",
    "Severity": "analyse",
    "analyse": "analyse",
    "default_cache": "analyse",
    "target_findings": "analyse",
    # plan: options, their checks, the plan
    "ArchiveLabel": "plan",
    "archive_label": "plan",
    "PackOptions": "plan",
    "PackPlan": "plan",
    "PackSettings": "plan",
    "Parcel": "plan",
    "PathFilter": "plan",
    "PlanEntry": "plan",
    "check_arcroot": "plan",
    "check_compile_bytecode": "plan",
    "check_relocate_prefix": "plan",
    "check_subdir": "plan",
    "make_plan": "plan",
    "preview_plan": "plan",
    "default_output_name": "plan",
    "path_kept": "plan",
    "resolve_output": "plan",
    "subdir_from_options": "plan",
    "validate": "plan",
    # write and archive: packing
    "ALIASES": "archive",
    "FORMATS": "archive",
    "PACK_FORMATS": "archive",
    "PackFormat": "archive",
    "pack_format": "archive",
    "SQUASHFS_COMPRESSORS": "archive",
    "SquashfsCompressor": "archive",
    "SquashfsSettings": "archive",
    "squashfs_settings": "archive",
    "default_level": "archive",
    "format_from_path": "archive",
    "validate_level": "archive",
    "InstallerInfo": "archive",
    "CompiledBytecode": "write",
    "CompiledFile": "write",
    "FileMode": "write",
    "ModuleSyntax": "write",
    "ImageLayout": "write",
    "PackResult": "write",
    "Relocation": "write",
    "compile_bytecode": "write",
    "modulefile_syntax": "write",
    "modulefile_text": "write",
    "pack": "write",
    "with_bytecode": "write",
    # condapkg: a conda package of the untracked files
    "PackageResult": "condapkg",
    "build_package": "condapkg",
    "package_format": "condapkg",
    "package_level": "condapkg",
    "parse_build_number": "condapkg",
    "validate_name": "condapkg",
    "validate_version": "condapkg",
    # untracked: removing them
    "RemovalResult": "untracked",
    "default_backup_path": "untracked",
    "remove_untracked": "untracked",
    # demo
    "DEMO_NAME": "demo",
    "create_demo": "demo",
    # the command line's syntax, for faces that show the command a pack equals
    "pack_command": "cli.command",
    "package_command": "cli.command",
    # shared
    "Cancelled": "errors",
    "CondaPackageError": "errors",
    "CorruptRecord": "errors",
    "EditablePackages": "errors",
    "EnvironmentNotFound": "errors",
    "MissingFiles": "errors",
    "NotAnEnvironment": "errors",
    "OutputExists": "errors",
    "OutputInsideEnvironment": "errors",
    "PrefixTooLong": "errors",
    "UsageError": "errors",
    "ZipNeedsZip64": "errors",
    "Progress": "progress",
    "ProgressCallback": "progress",
    "Throttle": "progress",
    "check_cancel": "progress",
    "IO_THREADS": "threads",
    "IOPool": "threads",
    "io_thread_count": "threads",
    "worker_count": "threads",
    "human_bytes": "units",
    "fsencode": "paths",
}

__all__ = ["__version__", *sorted(_API)]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on use
    from .analyse import (
        AnalysisCache,
        FileAnalysis,
        Finding,
        RelocationReport,
        Severity,
        analyse,
        default_cache,
        target_findings,
    )
    from .archive import (
        ALIASES,
        FORMATS,
        PACK_FORMATS,
        SQUASHFS_COMPRESSORS,
        InstallerInfo,
        PackFormat,
        SquashfsCompressor,
        SquashfsSettings,
        default_level,
        format_from_path,
        pack_format,
        squashfs_settings,
        validate_level,
    )
    from .cli.command import pack_command, package_command
    from .condapkg import (
        PackageResult,
        build_package,
        package_format,
        package_level,
        parse_build_number,
        validate_name,
        validate_version,
    )
    from .demo import DEMO_NAME, create_demo
    from .discover import (
        WHERE_DISCOVERY_LOOKS,
        DiscoveredEnvironment,
        discover,
        locate,
        resolve_name,
    )
    from .errors import (
        Cancelled,
        CondaPackageError,
        CorruptRecord,
        EditablePackages,
        EnvironmentNotFound,
        MissingFiles,
        NotAnEnvironment,
        OutputExists,
        OutputInsideEnvironment,
        PrefixTooLong,
        UsageError,
        ZipNeedsZip64,
    )
    from .load import (
        DEMO_MARKER,
        DiagnosisCause,
        DirectoryCallback,
        Environment,
        FileStat,
        Ownership,
        PackageDiagnosis,
        PackageRecord,
        PathEntry,
        check_prefix,
        diagnose,
        find_owners,
        find_prefix_of,
        is_demo,
        read_records,
        shown_prefix,
    )
    from .paths import fsencode
    from .plan import (
        ArchiveLabel,
        PackOptions,
        PackPlan,
        PackSettings,
        Parcel,
        PathFilter,
        PlanEntry,
        archive_label,
        check_arcroot,
        check_compile_bytecode,
        check_relocate_prefix,
        check_subdir,
        default_output_name,
        make_plan,
        path_kept,
        preview_plan,
        resolve_output,
        subdir_from_options,
        validate,
    )
    from .progress import Progress, ProgressCallback, Throttle, check_cancel
    from .threads import IO_THREADS, IOPool, io_thread_count, worker_count
    from .units import human_bytes
    from .untracked import RemovalResult, default_backup_path, remove_untracked
    from .write import (
        CompiledBytecode,
        CompiledFile,
        FileMode,
        ImageLayout,
        ModuleSyntax,
        PackResult,
        Relocation,
        compile_bytecode,
        modulefile_syntax,
        modulefile_text,
        pack,
        with_bytecode,
    )


def __getattr__(name: str) -> Any:
    room = _API.get(name)
    if room is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{room}", __name__), name)
    globals()[name] = value  # cached: the next look-up does not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Core(types.ModuleType):
    """Two rooms share their names with functions of the API (discover, analyse). Importing a
    room sets the package attribute of its name to the room; here the function keeps it, so
    `core.analyse` is the function however and whenever the room was imported."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and _API.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Core
