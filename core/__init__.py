"""conda-package's engine: discover, load, analyse and pack conda environments.

Nothing here imports a UI toolkit; the CLI and the TUI both use this public API. Names are
imported on first use, so `conda-package -w` does not pay for the archive writers.
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "AnalysisCache": "analysis",
    "Finding": "analysis",
    "RelocationReport": "analysis",
    "Severity": "analysis",
    "analyse": "analysis",
    "default_cache": "analysis",
    "PackageResult": "condapkg",
    "build_package": "condapkg",
    "DiscoveredEnvironment": "discovery",
    "discover": "discovery",
    "resolve_name": "discovery",
    "Environment": "environment",
    "CondaPackageError": "errors",
    "PackOptions": "pack",
    "PackResult": "pack",
    "pack": "pack",
    "PackPlan": "plan",
    "make_plan": "plan",
    "Progress": "progress",
    "RemovalResult": "untracked",
    "default_backup_path": "untracked",
    "remove_untracked": "untracked",
}
__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
