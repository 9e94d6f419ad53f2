"""Every file the packer ships from this room into an archive, with its mode."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from . import autorelocate, conda_unpack, relocate, rewrite
from .activate import activate_scripts

# What bin/conda-unpack imports from the state directory, where nothing shadows them.
_SCRIPT_MODULES = (relocate, rewrite)


def _source(module: ModuleType) -> bytes:
    assert module.__file__ is not None  # modules of a package, read from their files
    return Path(module.__file__).read_bytes()


def unpack_script_source() -> str:
    """conda_unpack.py's text, which the packer ships as bin/conda-unpack."""
    return _source(conda_unpack).decode("utf-8")


def entry_scripts() -> tuple[str, ...]:
    """The shipped scripts a user runs, outside the state directory (where a package's own
    file may stand: conda installs bin/activate and bin/deactivate)."""
    return ("bin/conda-unpack", *activate_scripts())


def shipped_files(site_packages: str | None = None) -> dict[str, tuple[bytes, int]]:
    """Archive path -> (bytes, permission bits) of the scripts that relocate and activate.

    bin/conda-unpack and the modules it imports are this room's own source files, so the
    packer and every archive run the same code. With a Python 3 `site_packages` directory,
    also the self-relocation hook: a .pth file that imports autorelocate's module.
    """
    files = {"bin/conda-unpack": (_source(conda_unpack), 0o755)}
    for module in _SCRIPT_MODULES:
        name = module.__name__.rpartition(".")[2]
        files[f"{conda_unpack.PLACEHOLDER_STATE_DIR}/{name}.py"] = (_source(module), 0o644)
    for name, text in activate_scripts().items():
        files[name] = (text.encode(), 0o644)
    if site_packages:
        hook = f"{site_packages}/{autorelocate.SHIPPED_NAME}"
        files[f"{hook}.py"] = (_source(autorelocate), 0o644)
        files[f"{hook}.pth"] = (f"import {autorelocate.SHIPPED_NAME}\n".encode(), 0o644)
    return files
