"""A real Slurm cluster runs the README's two flows with our tar.gz, nothing run by hand.

slurmctld and slurmd (Debian's slurm-wlm) for one node of 2 CPUs on 127.0.0.1, from a
slurm.conf in a temporary directory, started once for the module and stopped at its end.
The commands are the README's own code blocks, with /shared and /tmp moved into pytest's
temporary directory; the packed environment is renamed away while the jobs run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clusters import PROBE, Daemons, assert_runs_from, free_port
from conftest import cli
from test_workers import PLAIN_ENV, renamed_away

README = Path(__file__).resolve().parent.parent / "README.md"
SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"
TOOLS = (
    "munged",
    "slurmctld",
    "slurmd",
    "sinfo",
    "srun",
    "sbatch",
    "sbcast",
    "scontrol",
    "scancel",
)
PARTITION = "tests"

# job.py of the README: every task prints one line of what it sees.
JOB = PROBE + 'print(json.dumps({**probe(), "task": os.environ["SLURM_PROCID"]}), flush=True)\n'

CONF = """\
ClusterName=conda-package-tests
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@dataclass(frozen=True)
class Slurm:
    conf: Path

    @property
    def env(self) -> dict[str, str]:
        return {**PLAIN_ENV, "SLURM_CONF": str(self.conf)}

    def run(self, *command: str | Path, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(c) for c in command],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=cwd,
            timeout=180,
        )

    def batch(self, script: Path, output: Path, cwd: Path, seconds: float = 180) -> tuple[str, str]:
        """`sbatch script`: its job id and final JobState (polled: `sbatch --wait` sleeps
        in steps of seconds)."""
        r = self.run("sbatch", "--parsable", f"--output={output}", script, cwd=cwd)
        assert r.returncode == 0, r.stderr
        job = r.stdout.strip().split(";")[0]
        deadline = time.monotonic() + seconds
        state = ""
        while time.monotonic() < deadline:
            shown = self.run("scontrol", "--oneliner", "show", "job", job, cwd=cwd).stdout
            found = re.search(r"\bJobState=(\S+)", shown)
            state = found[1] if found else ""
            if state not in ("", "PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
                return job, state
            time.sleep(0.2)
        pytest.fail(f"job {job} still {state} after {seconds} s")


def _sbin(tool: str) -> str:
    return shutil.which(tool, path=SBIN) or tool


def _skip_without_slurm() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool, path=SBIN) is None]
    if missing:
        pytest.skip(f"no {' '.join(missing)}: apt-get install slurm-wlm (see .ci/run)")
    if os.geteuid() != 0:
        pytest.skip("slurmd starts job steps as their user: needs root")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> Iterator[Slurm]:
    """munged (a key of its own), slurmctld and slurmd for this machine as one node."""
    _skip_without_slurm()
    top = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool"):
        (top / sub).mkdir()
    host = socket.gethostname().split(".")[0]
    conf = top / "slurm.conf"
    conf.write_text(
        CONF.format(
            host=host,
            ctld_port=free_port(),
            d_port=free_port(),
            dir=top,
            partition=PARTITION,
        )
    )
    cluster = Slurm(conf)
    daemons = Daemons(top, {**cluster.env, "PATH": SBIN})
    key = top / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    try:
        munged = daemons.start(
            "munged",
            _sbin("munged"),
            *("--foreground", "--force", f"--key-file={key}", f"--socket={top}/munge.socket"),
            *(f"--pid-file={top}/munged.pid", f"--seed-file={top}/munged.seed"),
        )
        daemons.wait_for("munged", "Created socket", munged, seconds=30)
        daemons.start("slurmctld", _sbin("slurmctld"), "-D", "-i")
        daemons.start("slurmd", _sbin("slurmd"), "-D", "-N", host)
        _wait_until_idle(cluster, top)
        yield cluster
    finally:
        subprocess.run(
            ["scancel", "--partition", PARTITION],
            env=cluster.env,
            capture_output=True,
            timeout=30,
        )
        daemons.stop_all()


def _wait_until_idle(cluster: Slurm, top: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    state = ""
    while time.monotonic() < deadline:
        state = cluster.run("sinfo", "--noheader", "--format=%T", cwd=top).stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    logs = "\n".join((top / f"{d}.log").read_text()[-1500:] for d in ("slurmctld", "slurmd"))
    pytest.fail(f"the Slurm node is {state!r}, not idle:\n{logs}")


@pytest.fixture(scope="module")
def submit_dir(real_env_factory, tmp_path_factory) -> tuple[Path, Path]:
    """A fresh real environment (renamed away by the tests) and the directory a user
    submits from: analysis.tar.gz, packed from it, and job.py."""
    packed = real_env_factory("slurm-packed")
    work = tmp_path_factory.mktemp("slurm-submit")
    r = cli("-p", packed, "-o", work / "analysis.tar.gz", "-q")
    assert r.returncode == 0, r.stderr
    (work / "job.py").write_text(JOB)
    return packed, work


def readme_blocks() -> list[str]:
    """The bash blocks of the README's Slurm section, as users copy them."""
    section = README.read_text().split("\n### Slurm\n", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def _task_rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _assert_two_tasks_ran_from(rows: list[dict], env: Path, packed: Path) -> None:
    assert sorted(row["task"] for row in rows) == ["0", "1"], rows
    for row in rows:
        assert_runs_from(row, str(env), packed)


def test_shared_filesystem_extract_once_and_srun(slurm, submit_dir, tmp_path):
    packed, work = submit_dir
    shared = tmp_path / "shared"
    block = readme_blocks()[0].replace("/shared/", f"{shared}/")
    with renamed_away(packed):
        r = slurm.run("sh", "-ec", block, cwd=work)
    assert r.returncode == 0, r.stderr
    _assert_two_tasks_ran_from(_task_rows(r.stdout), shared / "envs" / "analysis", packed)


def test_node_local_sbcast_extract_and_srun_in_a_batch_job(slurm, submit_dir, tmp_path):
    packed, work = submit_dir
    node_tmp = tmp_path / "node-tmp"  # the node's /tmp
    node_tmp.mkdir()
    job = tmp_path / "job.sh"
    job.write_text(readme_blocks()[1].replace("/tmp/", f"{node_tmp}/"))
    out = tmp_path / "slurm-out.txt"
    with renamed_away(packed):
        job_id, state = slurm.batch(job, out, cwd=work)
    output = out.read_text() if out.exists() else ""
    assert state == "COMPLETED", output
    assert "Warning" not in output  # --ntasks-per-node was honoured: one tar per node
    _assert_two_tasks_ran_from(_task_rows(output), node_tmp / f"analysis-{job_id}", packed)
    assert list(node_tmp.iterdir()) == []  # the job cleaned up after itself
