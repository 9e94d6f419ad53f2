"""conda-package's terminal UI (Textual), built on conda_package.core's public API."""
