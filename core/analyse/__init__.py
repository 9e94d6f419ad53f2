"""Relocation findings per file: the ELF reader, the rules, and their cache."""

from .analysis import (
    AnalysisCache,
    FileAnalysis,
    Finding,
    RelocationReport,
    Severity,
    analyse,
    default_cache,
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
