"""The workflow through `snakemake --profile profiles/slurm` on a live single-node Slurm (slurm_harness.py).

One run of tests/configs/slurm_tiny.yaml through Slurm, with one MC scoring job cancelled by
`scancel` while it runs, is checked job by job against the scheduler's records and file by file
against a local-profile run of the same config and seed. A third run, of a model directory that holds
no model, checks that a deterministic failure stops the workflow with its log and no output.
"""

import json
import re
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from slurm_harness import FAST_POLLING, Snakemake, run_snakemake, slurm_jobs, workflow_copy

CONFIG = "tests/configs/slurm_tiny.yaml"
GPU_RULES = {"sft", "score_expert", "explore", "score", "reference_logps", "train", "evaluate", "score_eval"}
LOCAL_RULES = {"report", "all"}
TIMING_KEY = re.compile(r"(time|_per_s)")  # wall-clock measurements in metrics.json


def job_counts(dry_run_output: str) -> Counter:
    """Rule -> number of jobs, from the "Job stats" table of a (dry) run."""
    table = dry_run_output.split("Job stats:", 1)[1]
    counts = Counter()
    for line in table.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


class ScoreCanceller(threading.Thread):
    """Cancels the first `score` job of `workdir` with scancel, a few seconds after it starts running."""

    def __init__(self, run: Snakemake):
        super().__init__(daemon=True)
        self.run_, self.cancelled = run, None

    def run(self):
        while self.run_.running() and self.cancelled is None:
            running = [j for j in slurm_jobs(self.run_.cwd) if j["rule"] == "score" and j["JobState"] == "RUNNING"]
            if running:
                time.sleep(2)  # mid-run: the job's own snakemake is up, the scoring has started
                job = running[0]
                # An array task is addressed as <array id>_<task id> (scancel of its raw id does nothing).
                target = (f"{job['ArrayJobId']}_{job['ArrayTaskId']}" if "ArrayJobId" in job else job["JobId"])
                subprocess.run(["scancel", target], check=True)
                self.cancelled = job["JobId"]
            time.sleep(0.5)


def megabytes(slurm_memory: str) -> float:
    """Slurm's memory notation (64001M, 125G) in MB."""
    return float(slurm_memory[:-1]) * {"M": 1, "G": 1024, "T": 1024**2}[slurm_memory[-1]]


def comparable(path: Path):
    """File content, with the wall-clock measurements dropped from JSON metrics."""
    if path.suffix == ".json":
        def drop(value):
            if isinstance(value, dict):
                return {k: drop(v) for k, v in value.items() if not TIMING_KEY.search(k)}
            return [drop(v) for v in value] if isinstance(value, list) else value
        return drop(json.loads(path.read_text()))
    return path.read_bytes()


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory):
    """Three runs at once (most of a Slurm run is waiting): the config through Slurm with one scoring
    job cancelled, the same config with the local profile, and a run whose only job always fails."""
    base = tmp_path_factory.mktemp("slurm")
    slurm = workflow_copy(base / "slurm", CONFIG)
    dry = run_snakemake(["--profile", "profiles/slurm", "-n"], slurm, timeout=120)
    assert dry.returncode == 0, dry.stdout[-4000:]

    # A model given as a directory without a model in it: its link_model job fails on every attempt.
    broken = workflow_copy(base / "broken", CONFIG)
    (broken / "not_a_model").mkdir()
    config = yaml.safe_load((broken / "config/config.yaml").read_text())
    config["models"]["broken"] = {"source": "path", "path": "not_a_model"}
    (broken / "config/config.yaml").write_text(yaml.safe_dump(config))

    main = Snakemake(["--profile", "profiles/slurm", *FAST_POLLING], slurm)
    canceller = ScoreCanceller(main)
    canceller.start()
    failing = Snakemake(["--profile", "profiles/slurm", *FAST_POLLING, "results/models/broken"], broken)
    local = Snakemake(["--profile", "profiles/local"], workflow_copy(base / "local", CONFIG))
    out = SimpleNamespace(failing_proc=failing.wait(timeout=600), local_proc=local.wait(timeout=600),
                          proc=main.wait(timeout=600))
    canceller.join(timeout=10)
    assert out.local_proc.returncode == 0, out.local_proc.stdout[-4000:]
    print(f"\nSlurm run {main.seconds:.0f} s, local run {local.seconds:.0f} s, failing run {failing.seconds:.0f} s")
    return SimpleNamespace(**vars(out), local=local.cwd, slurm=slurm, broken=broken, expected=job_counts(dry.stdout),
                           cancelled=canceller.cancelled)


def test_every_rule_runs_as_a_slurm_job_with_gpus_where_asked(runs):
    assert runs.proc.returncode == 0, runs.proc.stdout[-6000:]
    jobs = slurm_jobs(runs.slurm)
    completed = Counter(j["rule"] for j in jobs if j["JobState"] == "COMPLETED")
    expected = Counter({rule: n for rule, n in runs.expected.items() if rule not in LOCAL_RULES})
    assert completed == expected
    assert set(expected) > GPU_RULES
    for job in jobs:
        if job["rule"] in GPU_RULES:
            # --gpus=a100:1 from profiles/slurm set-resources (gpu: 1, gpu_model: a100), one fake GPU allocated
            assert (job["Partition"], job.get("TresPerJob"), job.get("JOB_GRES")) == \
                   ("gpu", "gres:gpu:a100:1", "gpu:a100:1"), job
        else:
            assert job["Partition"] == "cpu" and "TresPerJob" not in job, job
    # The shards of a stage go out together as one job array.
    for job in jobs:
        if job["rule"] in {"explore", "score_expert", "evaluate"}:
            assert "ArrayJobId" in job, job
    # The report (localrules) runs on the submitting host, not as a job.
    assert "localrule report:" in runs.proc.stdout


def test_cancelled_scoring_job_is_retried(runs):
    assert runs.cancelled is not None, "no score job was seen running"
    states = {j["JobId"]: j["JobState"] for j in slurm_jobs(runs.slurm)}
    assert states[runs.cancelled] == "CANCELLED"
    assert Counter(j["JobState"] for j in slurm_jobs(runs.slurm) if j["rule"] == "score") == \
           Counter({"COMPLETED": runs.expected["score"], "CANCELLED": 1})
    assert "CANCELLED" in runs.proc.stdout
    assert runs.proc.returncode == 0
    # The retry (the last score job submitted) asks for twice the memory and time of the first attempt.
    score_jobs = {int(j["JobId"]): j for j in slurm_jobs(runs.slurm) if j["rule"] == "score"}
    first, retry = score_jobs[int(runs.cancelled)], score_jobs[max(score_jobs)]
    # (The plugin adds 1 MB to an array job's request; Slurm prints 128000M as 125G.)
    assert (round(megabytes(first["MinMemoryNode"]) / 1000), megabytes(retry["MinMemoryNode"])) == (64, 128000)
    assert (first["TimeLimit"], retry["TimeLimit"]) == ("04:00:00", "08:00:00")


def test_same_results_as_the_local_profile(runs):
    assert runs.proc.returncode == 0
    local = sorted(p.relative_to(runs.local) for p in (runs.local / "results").rglob("*") if p.is_file())
    slurm = sorted(p.relative_to(runs.slurm) for p in (runs.slurm / "results").rglob("*") if p.is_file())
    assert slurm == local
    assert Path("results/tables/main.csv") in local
    # The cost table is wall-clock time per stage: it differs between any two runs.
    compared = [p for p in local if not p.name.startswith("cost.")]
    different = [str(p) for p in compared if comparable(runs.local / p) != comparable(runs.slurm / p)]
    assert different == []


def test_deterministic_failure_stops_with_its_log_and_no_output(runs):
    proc = runs.failing_proc
    assert proc.returncode != 0
    assert not (runs.broken / "results/models/broken").exists()
    assert not (runs.broken / "results/models/.broken.link").exists()
    failed = [j for j in slurm_jobs(runs.broken) if j["JobState"] == "FAILED"]
    assert [j["rule"] for j in failed] == ["link_model"] * 3  # the first attempt and the profile's 2 retries
    assert [j for j in slurm_jobs(runs.broken) if j["JobState"] != "FAILED"] == []
    log = (runs.broken / "logs/models/broken/link_model.log").read_text().strip()
    assert log and log.splitlines()[-1] in proc.stdout  # --show-failed-logs printed the rule's log
    assert "SLURM status is: 'FAILED'" in proc.stdout
    # The Slurm logs of failed jobs are kept, one per attempt.
    assert len(list((runs.broken / "logs/slurm/rule_link_model").rglob("*.log"))) == 3
