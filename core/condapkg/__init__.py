"""Conda packages built from the files no package owns."""

from .build import (
    PackageResult,
    build_package,
    package_level,
)
from .naming import (
    package_format,
    parse_build_number,
    validate_name,
    validate_version,
)

__all__ = [
    "PackageResult",
    "build_package",
    "package_format",
    "package_level",
    "parse_build_number",
    "validate_name",
    "validate_version",
]
