"""Dry run of the paper-sized sweep through the Slurm profile: every job is planned, none submitted.

tests/configs/sweep.yaml: 3 benchmarks x 4 base models x 4 IPR iterations, 64 shards per sharded
stage. `snakemake --profile profiles/slurm -n` needs no scheduler (a dry run never starts the
executor), so this runs without the tests/slurm/ cluster.
"""

import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "tests/configs/sweep.yaml"
# Speed is not asserted here (no timed assertions in tests); the test prints the wall and CPU time,
# and the README gives the measured figures. Nearly all of it is Snakemake's own per-job work.


def expected_counts(config: dict) -> dict:
    """Jobs per rule, from the config alone."""
    b, m = len(config["benchmarks"]), len(config["models"])
    iters = config["iterations"]
    iter_methods = [x for x in config["methods"] if x != "sft"]
    runs = ("sft" in config["methods"]) + len(iter_methods) * iters  # evaluated policies per benchmark x model
    splits = len(config.get("evaluate", {}).get("splits", ["test"]))
    shards = config["shards"]
    built = sum(e["source"] == "build" for e in config["models"].values())
    counts = {
        "prepare_data": b,
        "build_model": built,
        "link_model": m - built,
        "sft": b * m,
        "score_expert": b * m * shards["score"],
        "gather_expert_scores": b * m,
        "explore": b * m * len(iter_methods) * iters * shards["explore"],
        "score": b * m * len(iter_methods) * iters * shards["explore"],  # one per explore shard
        "build_pairs": b * m * len(iter_methods) * iters,
        "reference_logps": b * m * len(iter_methods) * iters,
        "train": b * m * len(iter_methods) * iters,
        "evaluate": b * m * runs * splits * shards["evaluate"],
        "gather_eval": b * m * runs * splits,
        "report": 1,
        "all": 1,
    }
    return {rule: n for rule, n in counts.items() if n}


def job_stats(output: str) -> dict:
    """The "Job stats" table of a (dry) run: rule -> count."""
    counts = {}
    for line in output.split("Job stats:", 1)[1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


@pytest.mark.slow
def test_sweep_dry_run_lists_every_job(tmp_path):
    config = yaml.safe_load(SWEEP.read_text())
    assert (len(config["benchmarks"]), len(config["models"]), config["iterations"]) == (3, 4, 4)
    assert set(config["shards"].values()) == {64}
    for name in ("Snakefile", "rules", "scripts", "config", "envs", "profiles"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    shutil.copy(SWEEP, tmp_path / "config/config.yaml")

    started, cpu_before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(tmp_path / "dry_run.out", "w") as out:  # about 30 MB: one entry per job
        proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/slurm", "-n"],
                              cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, timeout=300)
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    output = (tmp_path / "dry_run.out").read_text()
    assert proc.returncode == 0, output[-4000:]
    print(f"\nsweep dry run: {seconds:.1f} s wall, {cpu:.1f} s CPU, {sum(job_stats(output).values())} jobs")

    assert job_stats(output) == expected_counts(config)
    assert sum(expected_counts(config).values()) == 10989
    assert "This was a dry-run" in output
    assert not (tmp_path / "logs/slurm").exists()  # nothing submitted
