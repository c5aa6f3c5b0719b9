"""Harness of the Slurm tests: a live single-node Slurm (started once, stopped at the end, even on
failure), snakemake runs whose jobs get everything they need, and the scheduler's job records.

tests/e2e/slurm/cluster.sh does the work: it needs root and the Debian packages in system-packages.txt
(`make system`). Without them the tests fail with that message instead of hanging; run
`pytest -m "not slurm"` to leave them out on a machine where that is not possible.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CLUSTER = ROOT / "tests/e2e/slurm/cluster.sh"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Polling interval for this CI cluster (the profile's 20 s suits a real one); the cluster's MinJobAge
# (3600 s) is far above the 3 x interval that squeue polling needs.
FAST_POLLING = ["--slurm-init-seconds-before-status-checks", "3"]


def job_env():
    """Environment of the snakemake processes, inherited by every Slurm job (sbatch --export=ALL).

    Nothing is taken from the developer's shell that the jobs need: the Python that runs the tests
    comes first on PATH (jobs call `python -m snakemake` and `python scripts/...`), and `ipr` is
    imported from this checkout.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "/usr/bin:/bin")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH")] if p)
    env.update(HF_HUB_OFFLINE="1", DS_ACCELERATOR="cpu", TOKENIZERS_PARALLELISM="false")
    return env


def workflow_copy(directory: Path, configfile: str) -> Path:
    """The workflow and its profiles in a fresh directory, with `configfile` as config/config.yaml."""
    directory.mkdir(parents=True)
    # ipr/ and report/ too: the report rule lists the report code as an input, next to the Snakefile,
    # and the Snakefile's report: directive names report/workflow.rst.
    for name in ("Snakefile", "rules", "scripts", "config", "workflow-envs", "profiles", "report", "ipr"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, directory / name)
    shutil.copy(ROOT / configfile, directory / "config/config.yaml")
    return directory


class Snakemake:
    """A snakemake run in its own process group, output to <cwd>/snakemake.out."""

    def __init__(self, args, cwd: Path):
        self.args, self.cwd, self.log = list(args), cwd, cwd / "snakemake.out"
        self.started = time.monotonic()
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([*SNAKEMAKE, *self.args], cwd=cwd, env=job_env(), stdout=out,
                                         stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> subprocess.CompletedProcess:
        """Wait for the end; past `timeout` interrupt it (it ignores SIGTERM while it waits for Slurm
        jobs), then kill it, and fail with the end of its output."""
        try:
            self.proc.wait(timeout=max(1.0, timeout - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            pytest.fail(f"snakemake {' '.join(self.args)} ran over {timeout} s:\n{self.log.read_text()[-4000:]}")
        self.seconds = time.monotonic() - self.started
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, self.log.read_text(), "")


def run_snakemake(args, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return Snakemake(args, cwd).wait(timeout)


def cluster(action: str, timeout: float = 120) -> None:
    try:
        proc = subprocess.run(["bash", str(CLUSTER), action], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tests/e2e/slurm/cluster.sh {action} did not finish within {timeout} s")
    if proc.returncode != 0:
        pytest.fail(f"tests/e2e/slurm/cluster.sh {action} failed:\n{proc.stdout}{proc.stderr}", pytrace=False)


def slurm_cluster():
    """A running single-node Slurm (partitions cpu and gpu, 8 fake A100s); stopped afterwards."""
    missing = [tool for tool in ("slurmctld", "slurmd", "munged", "sbatch") if
               shutil.which(tool, path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", "")) is None]
    if missing:
        pytest.fail(f"Slurm test needs {', '.join(missing)}: run `make system` (installs "
                    "system-packages.txt), or leave these tests out with -m 'not slurm'", pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("Slurm test must run as root (it starts slurmctld/slurmd and writes /etc/slurm); "
                    "run it with sudo, or leave it out with -m 'not slurm'", pytrace=False)
    try:
        cluster("start")  # a start that fails half-way is cleaned up too
        yield
    finally:
        cluster("stop")


def slurm_jobs(workdir: Path) -> list[dict]:
    """Every job slurmctld still knows (finished ones stay MinJobAge = 1 h) that ran in `workdir`,
    as dicts of `scontrol -d show job` fields plus "rule" (from the plugin's --comment rule_<name>...)."""
    out = subprocess.run(["scontrol", "-d", "-o", "show", "job"], capture_output=True, text=True,
                         check=True).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if fields.get("WorkDir") != str(workdir):
            continue
        comment = fields.get("Comment", "")
        fields["rule"] = comment.removeprefix("rule_").split("_wildcards_")[0]
        jobs.append(fields)
    return jobs
