"""The project as installed: a wheel that holds every module."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source tree")
def test_wheel_contains_every_module(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
    )
    wheel = next(tmp_path.glob("conda_package-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in (("core", "conda_package/core"), ("tui", "conda_package/tui")):
        for source in (ROOT / folder).rglob("*"):
            if (
                source.suffix in (".py", ".tcss", ".sh", ".fish")
                and "__pycache__" not in source.parts
            ):
                assert f"{package}/{source.relative_to(ROOT / folder).as_posix()}" in names
