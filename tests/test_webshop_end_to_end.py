"""One tiny run of the whole workflow on WebShop's embedded catalog (real Snakemake, CPU)."""

import csv
import shutil
import subprocess

import pytest

from ipr.records import load_jsonl
from test_end_to_end import ROOT, SNAKEMAKE, workflow_copy


@pytest.mark.slow
def test_whole_workflow_runs_on_webshop(tmp_path):
    run_dir = workflow_copy(tmp_path)
    shutil.copy(ROOT / "tests/configs/webshop_tiny.yaml", run_dir / "config/config.yaml")
    proc = subprocess.run([*SNAKEMAKE, "--cores", "2", "--workflow-profile", "none", "--show-failed-logs"],
                          cwd=run_dir, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = run_dir / "results"

    assert "| webshop | tiny | test |" in (results / "tables/main.md").read_text()
    rows = list(csv.DictReader(open(results / "tables/main.csv")))
    assert [(r["method"], r["iteration"]) for r in rows] == [("sft", "0"), ("ipr", "1")]
    train = load_jsonl(results / "webshop/data/train.jsonl", "trajectory")
    assert len(train) == 6 and all(r["reward"] >= 0.7 for r in train)
    test = load_jsonl(results / "webshop/data/test.jsonl", "trajectory")
    evaluated = load_jsonl(results / "webshop/tiny/sft/eval/test.jsonl", "trajectory")
    assert sorted(r["task_id"] for r in evaluated) == sorted(t["task_id"] for t in test)
    assert (results / "webshop/tiny/ipr/iter1/pairs.jsonl").is_file()
