"""Dry run of the paper-sized sweep through the Slurm profile: every job is planned, none submitted.

tests/configs/sweep.yaml: 3 benchmarks x 4 base models x 4 IPR iterations, 64 shards per sharded
stage. `snakemake --profile profiles/slurm -n` needs no scheduler (a dry run never starts the
executor), so this runs without the tests/e2e/slurm/ cluster.
"""

import gzip
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "tests/configs/sweep.yaml"
# Speed is not asserted here (no timed assertions in tests); the test prints the wall and CPU time,
# and the README gives the measured figures. Nearly all of it is Snakemake's own per-job work.


def expected_counts(config: dict) -> dict:
    """Jobs per rule, from the config alone."""
    benchmarks = config["benchmarks"]
    b, m = len(benchmarks), len(config["models"]) * len(config.get("seeds") or [0])
    iters = config["iterations"]
    settings = config.get("method_settings", {})
    iter_methods = [x for x in config["methods"] if x != "sft"]
    mixed = [x for x in iter_methods if settings[x].get("trainer", "mixed") == "mixed"]
    scored = [x for x in iter_methods if settings[x]["step_pairs"]]
    default_scorer = config.get("score", {}).get("scorer", "mc")
    scorer = {x: settings[x].get("scorer", "rm" if x == "ipr_rm" else default_scorer) for x in scored}
    # Iteration 1 starts from the SFT policy for every method: explored once per step_pairs value and
    # scored once per scorer (explore_dir, scores_dir in rules/common.smk); later iterations per method.
    explorations = len({settings[x]["step_pairs"] for x in iter_methods}) + len(iter_methods) * (iters - 1)
    scorings = len(set(scorer.values())) + len(scored) * (iters - 1)
    runs = ("sft" in config["methods"]) + len(iter_methods) * iters  # evaluated policies per benchmark x model
    default_splits = config.get("evaluate", {}).get("splits", ["test"])
    splits = sum(len(e.get("eval_splits", default_splits)) for e in benchmarks.values())  # over benchmarks
    step = config.get("report", {}).get("step_rewards", {})
    step_runs = len([x for x in step.get("methods", ["sft", "eto", "ipr"]) if x in config["methods"]])
    step_runs *= step.get("tasks", 16) > 0
    shards = config["shards"]
    built = sum(e["source"] == "build" for e in config["models"].values()) * len(config.get("seeds") or [0])
    finer = {s for e in benchmarks.values() for s in e.get("eval_splits", default_splits) if s.startswith("test_")}
    counts = {
        "prepare_data": b,
        "select_split": len(finer),
        "build_model": built,
        "link_model": m - built,
        "sft": b * m,
        "score_expert": b * m * shards["score"],
        "gather_expert_scores": b * m,
        "explore": b * m * explorations * shards["explore"],
        "score": b * m * scorings * shards["explore"],  # one per explore shard, step-pair methods
        "build_pairs": b * m * len(mixed) * iters,
        "reference_logps": b * m * len(mixed) * iters,
        "train": b * m * len(mixed) * iters,
        "rft": b * m * (len(iter_methods) - len(mixed)) * iters,
        "evaluate": m * runs * splits * shards["evaluate"],
        "gather_eval": m * runs * splits,
        "score_eval": m * step_runs * splits,
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
    for name in ("Snakefile", "rules", "scripts", "config", "workflow-envs", "profiles", "report", "ipr"):
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
    assert sum(expected_counts(config).values()) == 10989 + 3 * 4 * 2  # + Figure 4 scoring: sft, ipr/iter4
    assert "This was a dry-run" in output
    assert not (tmp_path / "logs/slurm").exists()  # nothing submitted


PAPER = ROOT / "config/paper.yaml"


def paper_dry_run(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
                           "--workflow-profile", "none", "--configfile", str(PAPER), "--replace-workflow-config",
                           *args, "-n", "--quiet", "rules"], capture_output=True, text=True, timeout=600)


def test_paper_config_lists_the_full_sweep():
    """config/paper.yaml: 3 benchmarks (ALFWorld seen + unseen) x 6 hub models (the paper's 4, Qwen2.5-7B-
    and Llama-3.1-8B-Instruct) x 7 methods x 5 iterations."""
    config = yaml.safe_load(PAPER.read_text())
    assert list(config["benchmarks"]) == ["webshop", "intercode_sql", "alfworld"]
    assert config["benchmarks"]["alfworld"]["eval_splits"] == ["test_seen", "test_unseen"]
    assert len(config["models"]) == 6 and config["iterations"] == 5
    assert config["methods"] == ["sft", "eto", "rft", "ipr", "ipr_no_odpo", "ipr_no_sdpo", "ipr_no_sft"]
    # The stored job list of config/paper.yaml: test_dry_run_fixture[paper] (tests/workflow/test_plan.py)
    # proves it equal to a real `snakemake -n`, so the counts need no second dry run of 11,041 jobs.
    with gzip.open(ROOT / "tests/fixtures/dry_run/paper.txt.gz", "rt") as jobs:
        counts = dict(Counter(line[len("rule "):-1] for line in jobs.read().splitlines() if line.startswith("rule ")))
    assert counts == expected_counts(config)
    assert counts["train"] == 3 * 6 * 5 * 5 and counts["rft"] == 3 * 6 * 5 and sum(counts.values()) == 11041
    # iteration 1: 2 explorations (eto; ipr) and 1 scoring (ipr) of 8 shards instead of 6 and 3
    assert counts["explore"] == 3 * 6 * (2 + 6 * 4) * 8 and counts["score"] == 3 * 6 * (1 + 3 * 4) * 8


@pytest.mark.slow
def test_paper_config_target_runs_one_benchmark_and_model(tmp_path):
    proc = paper_dry_run(tmp_path, "results/webshop/llama-3-8b/ipr/iter2/eval/test.summary.json")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    counts = job_stats(proc.stdout + proc.stderr)
    assert counts == {"prepare_data": 1, "link_model": 1, "sft": 1, "score_expert": 8, "gather_expert_scores": 1,
                      "explore": 2 * 8, "score": 2 * 8, "build_pairs": 2, "reference_logps": 2, "train": 2,
                      "evaluate": 4, "gather_eval": 1}
