"""What the cluster tests (Spark, Slurm, Dask) share: daemons started and stopped as a
group, wheels downloaded once, and the probe every task runs with its assertions."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "conda-package-tests"

# Defines probe(): what a user of the environment would notice, from inside a task.
PROBE = r"""
import json, os, ssl, subprocess, sys

def probe():
    prefix = sys.prefix
    def run(*cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    return {
        "executable": sys.executable,
        "prefix": prefix,
        "real_prefix": os.path.realpath(prefix),
        "pip": run(os.path.join(prefix, "bin", "pip"), "--version"),
        "openssl": run(os.path.join(prefix, "bin", "openssl"), "version", "-d"),
        "ca": ssl.create_default_context().cert_store_stats()["x509_ca"],
    }
"""


def assert_runs_from(row: dict, env_dir: str, packed: Path) -> None:
    """The task's Python, pip, openssl and CA certificates are those of `env_dir` (the
    resolved path: self-relocation uses it)."""
    assert row["real_prefix"] == env_dir, row
    assert row["executable"].startswith(row["prefix"] + "/bin/python"), row
    assert f"from {env_dir}/lib/python3.7/site-packages/pip (python 3.7)" in row["pip"], row
    assert row["openssl"] == f'OPENSSLDIR: "{env_dir}/ssl"', row
    assert row["ca"] > 100, row  # the environment's ca-certificates, not 0
    assert str(packed) not in json.dumps(row)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pip(*args: str) -> subprocess.CompletedProcess:
    """pip of the Python running the tests."""
    return pip_of(Path(sys.executable), *args)


def pip_of(python: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "pip", *args, "-q", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=1200,
    )


@dataclass
class Daemons:
    """Long-running processes, each in a session of its own (so its children go with it),
    logging to `logs`; `stop_all` ends them, last started first."""

    logs: Path
    env: dict[str, str]
    started: list[subprocess.Popen] = field(default_factory=list)

    def start(self, name: str, *argv: str | Path) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "wb") as out:
            proc = subprocess.Popen(
                [str(a) for a in argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.logs,
                start_new_session=True,
            )
        self.started.append(proc)
        return proc

    def wait_for(self, name: str, text: str, proc: subprocess.Popen, seconds: float = 120) -> None:
        log = self.logs / f"{name}.log"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in log.read_text(errors="replace"):
                return
            if proc.poll() is not None:
                break
            time.sleep(0.3)
        pytest.fail(f"{name} did not say {text!r}:\n{log.read_text(errors='replace')[-3000:]}")

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process's session (its children too, even when it has ended),
    SIGKILL after 20 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue
