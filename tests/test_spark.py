"""A real Spark 3.4.4 standalone cluster runs jobs with our tar.gz, nothing run on the executors.

One master and one worker on 127.0.0.1 (Java 17), started once for the module and stopped
at its end. The driver runs in a fresh real environment with pyspark pip-installed; the
executors get another fresh real environment as `--archives env.tar.gz#environment` and
start ./environment/bin/python, while the packed prefix is renamed away.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import cli
from test_workers import renamed_away

PYSPARK = "pyspark==3.4.4"
PY4J = "py4j==0.10.9.7"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "conda-package-tests"
SPARK_WHEELS = CACHE / "pyspark-wheels"

# Runs in every task, on the executors: what a user of the environment would notice.
JOB = r"""
import json, os, ssl, subprocess, sys, time
from pyspark.sql import SparkSession

def probe(_):
    time.sleep(1)  # keeps both executors busy, so each runs tasks
    prefix = sys.prefix
    def run(*cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    return {
        "cwd": os.getcwd(),
        "executable": sys.executable,
        "prefix": prefix,
        "real_prefix": os.path.realpath(prefix),
        "pip": run(os.path.join(prefix, "bin", "pip"), "--version"),
        "openssl": run(os.path.join(prefix, "bin", "openssl"), "version", "-d"),
        "ca": ssl.create_default_context().cert_store_stats()["x509_ca"],
    }

spark = SparkSession.builder.getOrCreate()
rows = spark.sparkContext.parallelize(range(8), 8).map(probe).collect()
print("RESULT " + json.dumps(rows))
spark.stop()
"""


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java on PATH: apt-get install openjdk-17-jre-headless (see .ci/run)")
    return java


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args, "-q", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="module")
def spark_wheels() -> list[Path]:
    """pyspark and py4j wheels, downloaded and built once into ~/.cache (pyspark ships only
    an sdist); skips when they are not cached and the network is not there."""
    wheels = sorted(SPARK_WHEELS.glob("*.whl"))
    if len(wheels) < 2:
        SPARK_WHEELS.mkdir(parents=True, exist_ok=True)
        r = _pip("wheel", "--no-deps", "-w", str(SPARK_WHEELS), PYSPARK, PY4J)
        if r.returncode != 0:
            pytest.skip(f"cannot download {PYSPARK} (offline?): {r.stderr.strip()[-300:]}")
        wheels = sorted(SPARK_WHEELS.glob("*.whl"))
    return wheels


@dataclass(frozen=True)
class Cluster:
    master: str
    driver_python: Path
    spark_home: Path
    log_dir: Path

    def submit(self, script: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
        """spark-submit in client mode: the driver runs here, the tasks on the worker."""
        return subprocess.run(
            [str(self.spark_home / "bin" / "spark-submit"), "--master", self.master, *args, script],
            capture_output=True,
            text=True,
            env={**_spark_env(self.spark_home), **env},
            timeout=600,
        )


def _spark_env(spark_home: Path) -> dict[str, str]:
    return {
        "PATH": f"{spark_home / 'bin'}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "SPARK_HOME": str(spark_home),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(log: Path, text: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"spark did not say {text!r}:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """The daemon and its children (executors) were started in a session of their own."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def spark_cluster(real_env_factory, spark_wheels, tmp_path_factory) -> Iterator[Cluster]:
    """A master and a worker (2 cores: two executors at once) on 127.0.0.1."""
    _java()
    driver = real_env_factory("spark-driver")
    r = subprocess.run(
        [str(driver / "bin" / "python"), "-m", "pip", "install", "--no-index", "--no-deps"]
        + ["--no-compile", "--disable-pip-version-check", "-q"]
        + [str(w) for w in spark_wheels],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    spark_home = driver / "lib" / "python3.7" / "site-packages" / "pyspark"
    logs = tmp_path_factory.mktemp("spark-logs")
    port = _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    env = _spark_env(spark_home)
    started: list[subprocess.Popen] = []

    def daemon(name: str, *args: str) -> subprocess.Popen:
        with open(logs / f"{name}.log", "wb") as out:
            proc = subprocess.Popen(
                [str(spark_home / "bin" / "spark-class"), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        started.append(proc)
        return proc

    try:
        master = daemon(
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", "0"),
        )
        _wait_for(logs / "master.log", "I have been elected leader", master)
        worker = daemon(
            "worker",
            "org.apache.spark.deploy.worker.Worker",
            master_url,
            *("--host", "127.0.0.1", "--cores", "2", "--memory", "2g", "--webui-port", "0"),
            *("--work-dir", str(logs / "work")),
        )
        _wait_for(logs / "worker.log", "Successfully registered with master", worker)
        yield Cluster(master_url, driver / "bin" / "python", spark_home, logs)
    finally:
        for proc in reversed(started):
            _stop(proc)


@pytest.fixture(scope="module")
def spark_archive(real_env_factory, tmp_path_factory) -> tuple[Path, Path]:
    """Another fresh real environment, packed as tar.gz."""
    packed = real_env_factory("spark-packed")
    archive = tmp_path_factory.mktemp("spark-archive") / "env.tar.gz"
    r = cli("-p", packed, "-o", archive, "-q")
    assert r.returncode == 0, r.stderr
    return packed, archive


# The two ways the README gives: options of spark-submit, or configuration and variables.
WAYS = {
    "--archives": lambda archive, driver: (
        [
            *("--archives", f"{archive}#environment"),
            *("--conf", "spark.pyspark.python=./environment/bin/python"),
            *("--conf", f"spark.pyspark.driver.python={driver}"),
        ],
        {},
    ),
    "spark.archives": lambda archive, driver: (
        ["--conf", f"spark.archives={archive}#environment"],
        {"PYSPARK_PYTHON": "./environment/bin/python", "PYSPARK_DRIVER_PYTHON": str(driver)},
    ),
}


@pytest.mark.parametrize("way", list(WAYS))
def test_spark_executors_run_the_archive_as_extracted(spark_cluster, spark_archive, tmp_path, way):
    packed, archive = spark_archive
    job = tmp_path / "job.py"
    job.write_text(JOB)
    args, env = WAYS[way](archive, spark_cluster.driver_python)
    with renamed_away(packed):
        done = spark_cluster.submit(
            job,
            *args,
            *("--conf", "spark.executor.cores=1", "--conf", "spark.executor.memory=512m"),
            *("--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0"),
            *("--conf", "spark.scheduler.maxRegisteredResourcesWaitingTime=60s"),
            **env,
        )
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and result, done.stderr[-5000:]
    rows = json.loads(result[0][len("RESULT ") :])
    executors = {row["cwd"] for row in rows}
    assert len(executors) == 2  # two executors on one node, started at once, both worked
    for row in rows:
        env_dir = row["real_prefix"]  # self-relocation uses the resolved path
        assert row["executable"].startswith(row["cwd"] + "/"), row
        assert env_dir.startswith(row["cwd"] + "/"), row
        assert f"from {env_dir}/lib/python3.7/site-packages/pip (python 3.7)" in row["pip"], row
        assert row["openssl"] == f'OPENSSLDIR: "{env_dir}/ssl"', row
        assert row["ca"] > 100, row  # the environment's ca-certificates, not 0
        assert str(packed) not in json.dumps(row)
