"""The whole workflow on the embedded ALFWorld games (real Snakemake, training and rollouts, CPU)."""

import csv
import json

import pytest

from ipr.records import load_jsonl
from _workflow_runs import run_workflow


@pytest.mark.slow
def test_alfworld_workflow_reports_seen_and_unseen(tmp_path):
    results = run_workflow(tmp_path / "run", "alfworld_tiny.yaml") / "results"

    table = (results / "tables/main.md").read_text()
    assert "| benchmark | model | run | test_seen | test_unseen |" in table
    rows = list(csv.DictReader(open(results / "tables/main.csv")))
    assert sorted((r["split"], r["method"]) for r in rows) == [
        ("test_seen", "ipr"), ("test_seen", "sft"), ("test_unseen", "ipr"), ("test_unseen", "sft")]
    for split in ("test_seen", "test_unseen"):
        tasks = load_jsonl(results / f"alfworld/data/{split}.jsonl", "trajectory")
        assert len(tasks) == 4 and {t["split"] for t in tasks} == {split}
        for run in ("sft", "ipr/iter1"):
            summary = json.loads((results / f"alfworld/tiny/{run}/eval/{split}.summary.json").read_text())
            assert summary["n"] == 4
    pairs = load_jsonl(results / "alfworld/tiny/ipr/iter1/pairs.jsonl", "pair")
    assert pairs  # a barely trained agent fails where the expert succeeds
