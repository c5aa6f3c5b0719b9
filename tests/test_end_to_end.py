"""One tiny run of the whole workflow (real Snakemake, real training and rollouts, CPU)."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ipr.records import load_jsonl

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def workflow_copy(tmp_path: Path, config: str = "tiny.yaml") -> Path:
    """The workflow files in a fresh directory with ``tests/configs/<config>`` as its config, so the
    run writes nothing into the repository."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in ("Snakefile", "rules", "scripts", "config", "envs", "report", "ipr"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, run_dir / name)
    shutil.copy(ROOT / "tests/configs" / config, run_dir / "config/config.yaml")
    return run_dir


@pytest.mark.slow
def test_whole_workflow_runs_and_reports(tmp_path):
    run_dir = workflow_copy(tmp_path)
    proc = subprocess.run([*SNAKEMAKE, "--cores", "2", "--workflow-profile", "none", "--show-failed-logs"],
                          cwd=run_dir, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = run_dir / "results"

    table = (results / "tables/main.md").read_text()
    assert "| sql_embedded | tiny | test |" in table
    rows = list(csv.DictReader(open(results / "tables/main.csv")))
    assert [(r["method"], r["iteration"]) for r in rows] == [("sft", "0"), ("ipr", "1"), ("ipr", "2")]
    assert (results / "figures/rewards.png").stat().st_size > 1000

    test_tasks = load_jsonl(results / "sql_embedded/data/test.jsonl", "trajectory")
    for run in ("sft", "ipr/iter1", "ipr/iter2"):
        evaluated = load_jsonl(results / f"sql_embedded/tiny/{run}/eval/test.jsonl", "trajectory")
        assert sorted(r["task_id"] for r in evaluated) == sorted(t["task_id"] for t in test_tasks)
        summary = json.loads((results / f"sql_embedded/tiny/{run}/eval/test.summary.json").read_text())
        assert summary["n"] == len(test_tasks)
        assert summary["reward"] == pytest.approx(sum(r["reward"] for r in evaluated) / len(evaluated))

    explored = [r for shard in (0, 1) for r in
                load_jsonl(results / f"sql_embedded/tiny/ipr/iter1/explore/{shard}.jsonl", "explore")]
    train = {t["task_id"]: t for t in load_jsonl(results / "sql_embedded/data/train.jsonl", "trajectory")}
    explored_tasks = sorted(train)[:4]
    expected_steps = sum(sum(m["role"] == "assistant" for m in train[t]["messages"]) for t in explored_tasks)
    assert len(explored) == expected_steps  # one record per expert prefix of each explored task
    expert_scores = load_jsonl(results / "sql_embedded/tiny/expert_scores.jsonl", "score")
    assert len(expert_scores) == expected_steps
    pairs = load_jsonl(results / "sql_embedded/tiny/ipr/iter1/pairs.jsonl", "pair")
    # A barely trained agent fails where the expert succeeds: every explored task gives an outcome pair.
    assert sum(p["kind"] == "outcome" for p in pairs) == len(explored_tasks)
    metrics = json.loads((results / "sql_embedded/tiny/ipr/iter1/policy/metrics.json").read_text())
    assert metrics["num_pairs"] == len(pairs)

    leftovers = [p for p in results.rglob("*") if p.name.endswith((".partial", ".tmp", ".staging", ".link"))
                 or (p.name.startswith(".") and p.name != ".snakemake_timestamp")]
    assert leftovers == []

    dry = subprocess.run([*SNAKEMAKE, "-n", "--workflow-profile", "none"], cwd=run_dir, capture_output=True, text=True)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
