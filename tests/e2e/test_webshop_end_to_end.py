"""One tiny run of the whole workflow on WebShop's embedded catalog (real Snakemake, CPU)."""

import csv

import pytest

from ipr.records import load_jsonl
from _workflow_runs import run_workflow


@pytest.mark.slow
def test_whole_workflow_runs_on_webshop(tmp_path):
    results = run_workflow(tmp_path / "run", "webshop_tiny.yaml") / "results"

    assert "| webshop | tiny | test |" in (results / "tables/main.md").read_text()
    rows = list(csv.DictReader(open(results / "tables/main.csv")))
    assert [(r["method"], r["iteration"]) for r in rows] == [("sft", "0"), ("ipr", "1")]
    train = load_jsonl(results / "webshop/data/train.jsonl", "trajectory")
    assert len(train) == 6 and all(r["reward"] >= 0.7 for r in train)
    test = load_jsonl(results / "webshop/data/test.jsonl", "trajectory")
    evaluated = load_jsonl(results / "webshop/tiny/sft/eval/test.jsonl", "trajectory")
    assert sorted(r["task_id"] for r in evaluated) == sorted(t["task_id"] for t in test)
    assert (results / "webshop/tiny/ipr/iter1/pairs.jsonl").is_file()
