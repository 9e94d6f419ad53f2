"""Dask distributed runs from extracted copies of our tar.gz through its console scripts.

dask-yarn starts `environment/bin/dask-yarn` in YARN containers; there is no YARN here,
so this starts what it would start, Dask's own scheduler and workers, from two places
the archive was extracted to: `bin/dask-scheduler` and `bin/dask-worker` must find their
Python without `activate`, with the packed environment renamed away.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from clusters import CACHE, PROBE, Daemons, assert_runs_from, free_port, pip_of
from conftest import cli
from test_workers import PLAIN_ENV, extract, renamed_away

# The last release for Python 3.7 (the real environment's), its dask, and the last click it
# works with (its command line imports click._unicodefun, gone in click 8.1).
DASK = ("distributed==2022.2.0", "dask==2022.2.0", "click==8.0.4")
DASK_WHEELS = CACHE / "dask-2022.2.0-click-8.0.4-py37-wheels"

CLIENT = (
    PROBE
    + r"""
from dask.distributed import Client

client = Client(sys.argv[1], timeout=60)
client.wait_for_workers(2)
workers = sorted(client.scheduler_info()["workers"])
futures = [client.submit(probe, workers=[w], pure=False) for w in workers]
print("RESULT " + json.dumps(client.gather(futures)))
client.close()
"""
)


def _dask_wheels(python: Path) -> Path:
    """distributed, dask and their dependencies for Python 3.7, downloaded once into
    ~/.cache by the environment's own pip; skips when offline."""
    done = DASK_WHEELS / ".complete"
    if not done.exists():
        DASK_WHEELS.mkdir(parents=True, exist_ok=True)
        r = pip_of(python, "download", "-d", str(DASK_WHEELS), *DASK)
        if r.returncode != 0:
            pytest.skip(f"cannot download {DASK[0]} (offline?): {r.stderr.strip()[-300:]}")
        done.touch()
    return DASK_WHEELS


@pytest.fixture(scope="module")
def dask_archive(real_env_factory, tmp_path_factory) -> tuple[Path, Path]:
    """A fresh real environment with Dask pip-installed, and its tar.gz."""
    packed = real_env_factory("dask-packed")
    python = packed / "bin" / "python"
    wheels = _dask_wheels(python)
    r = pip_of(python, "install", "--no-index", "--find-links", str(wheels), "--no-compile", *DASK)
    assert r.returncode == 0, r.stderr
    archive = tmp_path_factory.mktemp("dask-archive") / "env.tar.gz"
    r = cli("-p", packed, "-o", archive, "-q")
    assert r.returncode == 0, r.stderr
    return packed, archive


def test_dask_scheduler_and_workers_start_from_extracted_console_scripts(dask_archive, tmp_path):
    packed, archive = dask_archive
    envs = [extract(archive, tmp_path / name / "environment") for name in ("a", "b")]
    logs = tmp_path / "logs"
    logs.mkdir()
    daemons = Daemons(logs, PLAIN_ENV)
    address = f"tcp://127.0.0.1:{free_port()}"
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    with renamed_away(packed):
        try:
            # All at once, as a cluster's containers start: the workers retry until the
            # scheduler listens, and the first start of each copy relocates it.
            scheduler = daemons.start(
                "scheduler",
                envs[0] / "bin" / "dask-scheduler",
                *("--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"),
            )
            workers = {
                name: daemons.start(
                    f"worker-{name}",
                    env / "bin" / "dask-worker",
                    address,
                    *("--nthreads", "1", "--no-dashboard", "--name", name),
                    *("--local-directory", str(logs / f"worker-{name}")),
                )
                for name, env in zip("ab", envs, strict=True)
            }
            daemons.wait_for("scheduler", "Scheduler at:", scheduler)
            for name, worker in workers.items():
                daemons.wait_for(f"worker-{name}", "Registered to:", worker)
            done = subprocess.run(
                [str(envs[0] / "bin" / "python"), str(client), address],
                capture_output=True,
                text=True,
                env=PLAIN_ENV,
                cwd=tmp_path,
                timeout=120,
            )
        finally:
            daemons.stop_all()
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and result, done.stderr[-5000:]
    rows = json.loads(result[0][len("RESULT ") :])
    assert sorted(row["real_prefix"] for row in rows) == [str(env) for env in envs]
    for row in rows:
        assert_runs_from(row, row["real_prefix"], packed)
