"""conda-package's engine: discover, load, analyse and pack conda environments.

Nothing here imports a UI toolkit; the CLI and the TUI both use this public API. Names are
imported on first use, so `conda-package -w` does not pay for the archive writers.
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "AnalysisCache": "analyse.analysis",
    "Finding": "analyse.analysis",
    "RelocationReport": "analyse.analysis",
    "Severity": "analyse.analysis",
    "analyse": "analyse.analysis",
    "default_cache": "analyse.analysis",
    "PackageResult": "condapkg.build",
    "build_package": "condapkg.build",
    "DiscoveredEnvironment": "discover.envs",
    "discover": "discover.envs",
    "resolve_name": "discover.envs",
    "Environment": "load.environment",
    "CondaPackageError": "errors",
    "PackOptions": "plan.options",
    "PackResult": "write.pack",
    "pack": "write.pack",
    "PackPlan": "plan.plan",
    "make_plan": "plan.plan",
    "Progress": "progress",
    "RemovalResult": "untracked.remove",
    "default_backup_path": "untracked.remove",
    "remove_untracked": "untracked.remove",
}
__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> object:
    if name in _PUBLIC:
        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
