"""conda-package's engine: discover, load, analyse and pack conda environments.

Nothing here imports a UI toolkit; the CLI and the TUI both use this public API.
"""

__version__ = "0.1.0"
