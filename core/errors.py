"""Errors a user can cause; the CLI turns each into one line and an exit code."""

from __future__ import annotations


class CondaPackageError(Exception):
    """Base of every error the user can act on. str() is the one line shown."""

    exit_code = 1


class UsageError(CondaPackageError):
    """Options that do not fit together or values out of range."""

    exit_code = 2


class EnvironmentNotFound(CondaPackageError):
    """The prefix does not exist, is not a directory, or no environment was named."""


class NotAnEnvironment(CondaPackageError):
    """A directory without conda-meta/."""


class CorruptRecord(CondaPackageError):
    """A conda-meta/*.json that cannot be read or holds paths outside the prefix."""


class MissingFiles(CondaPackageError):
    """Files listed by packages are absent (use --ignore-missing-files)."""


class EditablePackages(CondaPackageError):
    """Editable pip installs point outside the environment."""


class OutputExists(CondaPackageError):
    """The output path exists and --force was not given."""


class OutputInsideEnvironment(CondaPackageError):
    """The archive would be written into the environment it packs."""


class PrefixTooLong(CondaPackageError):
    """A target prefix does not fit into the room a binary file has."""


class ZipNeedsZip64(CondaPackageError):
    """A zip with --no-zip-64 would need ZIP64 extensions (too many entries, too large)."""


class Cancelled(CondaPackageError):
    """The user cancelled (Ctrl-C, the TUI's Esc, a cancel event)."""

    exit_code = 130
