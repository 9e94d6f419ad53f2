"""The demo environment and the ELF writer that makes its binaries."""

from .build import (
    DEMO_NAME,
    create_demo,
)

__all__ = [
    "DEMO_NAME",
    "create_demo",
]
