"""One tiny run of the whole workflow (real Snakemake, real training and rollouts, CPU)."""

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest

from _workflow_runs import SNAKEMAKE, run_workflow
from ipr.records import load_jsonl


@pytest.mark.slow
def test_whole_workflow_runs_and_reports(tmp_path):
    run_dir = run_workflow(tmp_path / "run", "tiny.yaml")
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
    # The train rule launched 2 DeepSpeed processes and merged the LoRA adapter into a plain model.
    assert (metrics["world_size"], metrics["finetuning"]) == (2, "lora")
    assert metrics["deepspeed"].endswith("zero2.json")
    assert not (results / "sql_embedded/tiny/ipr/iter1/policy/adapter_config.json").exists()
    referenced = load_jsonl(results / "sql_embedded/tiny/ipr/iter1/pairs.reference.jsonl", "reference_pair")
    assert [p["id"] for p in referenced] == [p["id"] for p in pairs]

    leftovers = [p for p in results.rglob("*") if p.name.endswith((".partial", ".tmp", ".staging", ".link"))
                 or (p.name.startswith(".") and p.name != ".snakemake_timestamp")]
    assert leftovers == []

    dry = subprocess.run([*SNAKEMAKE, "-n", "--workflow-profile", "none"], cwd=run_dir, capture_output=True, text=True)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr


def check_methods_sweep(run_dir: Path) -> None:
    """Assertions on a finished run of tests/configs/methods_tiny.yaml (also usable on a kept run dir)."""
    results = run_dir / "results"
    table2 = list(csv.reader(open(results / "tables/table2.csv")))
    assert table2[0] == ["model", "method", "sql_embedded", "webshop", "Average"]
    assert [row[1] for row in table2[1:]] == ["SFT", "ETO", "IPR"]
    for row in table2[1:]:
        assert all(re.fullmatch(r"-?\d+\.\d", cell) for cell in row[2:]), row  # real numbers, nothing missing
    table4 = list(csv.reader(open(results / "tables/table4.csv")))
    assert [row[1] for row in table4[1:]] == ["IPR", "ETO iteration 1", "ETO iteration 2",
                                              "IPR iteration 1", "IPR iteration 2"]
    figure4 = list(csv.reader(open(results / "tables/figure4.csv")))
    assert [row[1] for row in figure4[1:]] == ["SFT", "ETO iteration 2", "IPR iteration 2"]
    assert all(re.fullmatch(r"-?\d\.\d{3}( ± \d\.\d{3})?", cell) for row in figure4[1:] for cell in row[2:])
    cost = list(csv.reader(open(results / "tables/cost.csv")))
    assert {(r[0], r[1]) for r in cost[1:]} >= {("shared", "build_model"), ("sft", "sft"), ("ipr", "train"),
                                                 ("eto", "train"), ("ipr", "score"), ("eto", "explore")}
    assert not any(r[0] == "eto" and r[1] == "score" for r in cost[1:])  # ETO scores nothing
    for ext in ("md", "tex"):
        assert (results / f"tables/table2.{ext}").stat().st_size > 100
    assert (results / "figures/figure4.png").read_bytes()[:4] == b"\x89PNG"
    # WebShop on the embedded catalog: experts above the minimum reward, every test task evaluated.
    assert "| webshop | tiny | test |" in (results / "tables/main.md").read_text()
    train = load_jsonl(results / "webshop/data/train.jsonl", "trajectory")
    assert len(train) == 6 and all(r["reward"] >= 0.7 for r in train)
    test = load_jsonl(results / "webshop/data/test.jsonl", "trajectory")
    for run in ("sft", "eto/iter2", "ipr/iter2"):
        evaluated = load_jsonl(results / f"webshop/tiny/{run}/eval/test.jsonl", "trajectory")
        assert sorted(r["task_id"] for r in evaluated) == sorted(t["task_id"] for t in test)
    for benchmark in ("sql_embedded", "webshop"):
        for k in (1, 2):
            pairs = load_jsonl(results / f"{benchmark}/tiny/eto/iter{k}/pairs.jsonl", "pair")
            assert all(p["kind"] == "outcome" for p in pairs)
            explored = load_jsonl(results / f"{benchmark}/tiny/eto/iter{k}/explore/0.jsonl", "explore")
            assert explored and all(r["t"] == 1 for r in explored)  # whole trajectories from the task start
        log = (run_dir / f"logs/{benchmark}/tiny/eto/iter2/reference_logps.log").read_text()
        assert f"scored by results/{benchmark}/tiny/eto/iter1/policy" in log  # ETO: reference = current policy
        log = (run_dir / f"logs/{benchmark}/tiny/ipr/iter2/reference_logps.log").read_text()
        assert f"scored by results/{benchmark}/tiny/sft/policy" in log
    # The effect table (one seed: tasks resampled) and the pair diagnostic of every pairs file.
    effect = list(csv.DictReader(open(results / "tables/effect.csv")))
    assert [(r["benchmark"], r["comparison"], r["seeds"]) for r in effect] == [
        (b, c, "1") for b in ("sql_embedded", "webshop") for c in ("ipr-sft", "ipr-eto", "eto-sft")]
    assert all(float(r["ci_low"]) <= float(r["mean"]) <= float(r["ci_high"]) for r in effect)
    diagnostic = list(csv.DictReader(open(results / "tables/pairs.csv")))
    assert {(r["benchmark"], r["method"], r["iteration"]) for r in diagnostic} == {
        (b, m, str(k)) for b in ("sql_embedded", "webshop") for m in ("eto", "ipr") for k in (1, 2)}
    assert all(r["step_pairs"] == "0" for r in diagnostic if r["method"] == "eto")
    assert (results / "figures/effect.png").read_bytes()[:4] == b"\x89PNG"
    # Only the report code changed (its content: Snakemake skips inputs whose checksum is unchanged):
    # the tables are regenerated, nothing is re-run.
    with open(run_dir / "ipr/report/tables.py", "a") as code:
        code.write("\n# changed\n")
    dry = subprocess.run([*SNAKEMAKE, "-n", "--quiet", "rules", "--workflow-profile", "none"], cwd=run_dir,
                         capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr[-2000:]
    stats = (dry.stdout + dry.stderr).split("Job stats:", 1)[1]
    jobs = {line.split()[0] for line in stats.splitlines()[3:] if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert jobs == {"report", "all", "total"}


@pytest.mark.slow
def test_methods_sweep_writes_tables(tmp_path):
    """The embedded sweep in small: 2 benchmarks x sft/eto/ipr x 2 iterations, every table with real numbers
    (the workflow's run on WebShop's embedded catalog included)."""
    check_methods_sweep(run_workflow(tmp_path / "run", "methods_tiny.yaml"))
