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
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clusters import CACHE, PROBE, Daemons, assert_runs_from, free_port, pip
from conftest import cli
from test_workers import renamed_away

PYSPARK = "pyspark==3.4.4"
PY4J = "py4j==0.10.9.7"
SPARK_WHEELS = CACHE / "pyspark-wheels"

# Runs in every task, on the executors: what a user of the environment would notice.
JOB = (
    PROBE
    + r"""
import time
from pyspark.sql import SparkSession

def task(_):
    time.sleep(1)  # keeps both executors busy, so each runs tasks
    return {**probe(), "cwd": os.getcwd()}

spark = SparkSession.builder.getOrCreate()
rows = spark.sparkContext.parallelize(range(8), 8).map(task).collect()
print("RESULT " + json.dumps(rows))
spark.stop()
"""
)


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java on PATH: apt-get install openjdk-17-jre-headless (see .ci/run)")
    return java


@pytest.fixture(scope="module")
def spark_wheels() -> list[Path]:
    """pyspark and py4j wheels, downloaded and built once into ~/.cache (pyspark ships only
    an sdist); skips when they are not cached and the network is not there."""
    wheels = sorted(SPARK_WHEELS.glob("*.whl"))
    if len(wheels) < 2:
        SPARK_WHEELS.mkdir(parents=True, exist_ok=True)
        r = pip("wheel", "--no-deps", "-w", str(SPARK_WHEELS), PYSPARK, PY4J)
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
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    daemons = Daemons(logs, _spark_env(spark_home))
    spark_class = spark_home / "bin" / "spark-class"
    try:
        master = daemons.start(
            "master",
            spark_class,
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", "0"),
        )
        daemons.wait_for("master", "I have been elected leader", master)
        worker = daemons.start(
            "worker",
            spark_class,
            "org.apache.spark.deploy.worker.Worker",
            master_url,
            *("--host", "127.0.0.1", "--cores", "2", "--memory", "2g", "--webui-port", "0"),
            *("--work-dir", str(logs / "work")),
        )
        daemons.wait_for("worker", "Successfully registered with master", worker)
        yield Cluster(master_url, driver / "bin" / "python", spark_home, logs)
    finally:
        daemons.stop_all()


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
        env_dir = row["real_prefix"]
        assert row["executable"].startswith(row["cwd"] + "/"), row
        assert env_dir.startswith(row["cwd"] + "/"), row
        assert_runs_from(row, env_dir, packed)
