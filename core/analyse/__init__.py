"""Relocation findings per file: the ELF reader, the rules, and their cache."""

from .cache import (
    AnalysisCache,
    default_cache,
)
from .findings import (
    FileAnalysis,
    Finding,
    RelocationReport,
    Severity,
)
from .run import (
    analyse,
    target_findings,
)

__all__ = [
    "AnalysisCache",
    "FileAnalysis",
    "Finding",
    "RelocationReport",
    "Severity",
    "analyse",
    "default_cache",
    "target_findings",
]
