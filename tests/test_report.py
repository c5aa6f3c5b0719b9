"""Result tables from eval summaries and pair files laid out as the workflow writes them."""

import json

import pytest

from ipr.records import write_jsonl
from ipr.report import parse_summary_path, write_report


def pair(i, kind):
    return {"id": f"t{i}:{kind}:t1", "kind": kind, "task_id": f"t{i}", "t": 1, "prompt": [], "chosen": [],
            "rejected": [], "chosen_reward": 1.0, "rejected_reward": 0.0, "chosen_step_reward": None,
            "rejected_step_reward": None, "config_hash": "h"}


def test_parse_summary_path():
    assert parse_summary_path("results/sql/tiny/sft/eval/test.summary.json") == {
        "benchmark": "sql", "model": "tiny", "method": "sft", "iteration": 0, "split": "test"}
    assert parse_summary_path("results/sql/tiny/ipr/iter2/eval/test.summary.json")["iteration"] == 2
    with pytest.raises(ValueError, match="not an eval summary path"):
        parse_summary_path("results/sql/tiny/eval.json")


def test_tables_and_figure(tmp_path):
    results = tmp_path / "results"
    summaries = []
    for run, reward in [("sft", 0.25), ("ipr/iter1", 0.5), ("ipr/iter2", 0.75)]:
        path = results / f"sql/tiny/{run}/eval/test.summary.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"n": 4, "reward": reward, "success_rate": reward / 2, "mean_steps": 3}))
        summaries.append(str(path))
    pairs = []
    for k, (steps, outcomes) in enumerate([(3, 2), (1, 1)], start=1):
        path = results / f"sql/tiny/ipr/iter{k}/pairs.jsonl"
        write_jsonl(path, [pair(i, "step") for i in range(steps)] + [pair(i, "outcome") for i in range(outcomes)])
        pairs.append(str(path))
    write_report(summaries, pairs, tmp_path / "tables", tmp_path / "figures")
    table = (tmp_path / "tables/main.md").read_text()
    assert "| benchmark | model | split | SFT | IPR it1 | IPR it2 |" in table
    assert "| sql | tiny | test | 0.250 / 0.125 | 0.500 / 0.250 | 0.750 / 0.375 |" in table
    assert "| sql | tiny | ipr | 1 | 3 | 2 |" in table and "| sql | tiny | ipr | 2 | 1 | 1 |" in table
    csv_lines = (tmp_path / "tables/main.csv").read_text().splitlines()
    assert csv_lines[0] == "benchmark,model,method,iteration,split,n,reward,success_rate,step_pairs,outcome_pairs"
    assert csv_lines[2] == "sql,tiny,ipr,1,test,4,0.5000,0.2500,3,2"
    assert (tmp_path / "figures/rewards.png").read_bytes()[:4] == b"\x89PNG"
