"""Result tables from eval summaries and pair files laid out as the workflow writes them."""

import json

import pytest

from ipr.records import write_jsonl
from ipr.report.results import parse_summary_path, write_report


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


# ----------------------------------------------------------------------------- paper tables (ipr.report.tables)

from pathlib import Path  # noqa: E402

from ipr.report.tables import Layout, cost_table, write_paper_tables  # noqa: E402
from ipr.workflow.plan import Plan, load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

LAYOUT = {
    "benchmarks": {"webshop": {"env": "webshop", "splits": ["test"]},
                   "intercode_sql": {"env": "intercode_sql", "splits": ["test"]},
                   "alfworld": {"env": "alfworld", "splits": ["test_seen", "test_unseen"]}},
    "models": {"llama": ["llama", 0]},
    "methods": ["sft", "eto", "ipr", "ipr_no_sft"],
    "iterations": 2,
    "gpus": {"train": 8},
}
# run -> (webshop, intercode_sql, alfworld seen, alfworld unseen); None = no summary written.
REWARDS = {
    "sft": (0.50, 0.20, 0.30, 0.10),
    "ipr/iter1": (0.55, 0.25, 0.40, 0.20),
    "ipr/iter2": (0.60, 0.22, 0.35, 0.30),
    "eto/iter1": (None, 0.21, 0.32, 0.12),
    "eto/iter2": (None, 0.24, 0.31, 0.15),
    "ipr_no_sft/iter1": (0.52, 0.23, 0.33, 0.13),
    "ipr_no_sft/iter2": (0.59, 0.23, 0.90, None),  # ALFWorld iteration 2 incomplete: not a candidate
}
COLUMNS = [("webshop", "test"), ("intercode_sql", "test"), ("alfworld", "test_seen"), ("alfworld", "test_unseen")]


def results_tree(root, rewards, model="llama"):
    paths = []
    for run, values in rewards.items():
        for (benchmark, split), value in zip(COLUMNS, values):
            if value is None:
                continue
            path = root / f"results/{benchmark}/{model}/{run}/eval/{split}.summary.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"n": 10, "reward": value, "success_rate": value, "mean_steps": 3}))
            paths.append(str(path))
    return paths


def rows_of(path):
    import csv

    return list(csv.reader(open(path)))


def test_paper_tables_every_cell(tmp_path):
    summaries = results_tree(tmp_path, REWARDS)
    bench = tmp_path / "benchmarks/webshop/llama/ipr/iter1"
    bench.mkdir(parents=True)
    (bench / "train.tsv").write_text("s\th:m:s\n1800.0\t0:30:00\n")
    cost_jobs = [("ipr", "train", bench / "train.tsv"), ("ipr", "train", tmp_path / "benchmarks/not_run.tsv")]
    write_paper_tables(Layout(**LAYOUT), summaries, [], cost_jobs, tmp_path / "tables", tmp_path / "figures")

    table2 = rows_of(tmp_path / "tables/table2.csv")
    assert table2 == [
        ["model", "method", "webshop", "intercode_sql", "alfworld seen", "alfworld unseen", "Average"],
        ["llama", "SFT", "50.0", "20.0", "30.0", "10.0", "27.5"],
        # webshop missing entirely -> blank, and so the average; ALFWorld best = iteration 2 (mean .23 > .22)
        ["llama", "ETO", "", "24.0", "31.0", "15.0", ""],
        # best per benchmark: webshop it2, intercode it1, ALFWorld it2 (mean .325 > .30, seen/unseen together)
        ["llama", "IPR", "60.0", "25.0", "35.0", "30.0", "37.5"],
        # intercode tie -> earliest (it1); ALFWorld it2 lacks unseen -> it1 despite seen .90
        ["llama", "IPR w/o SFT loss", "59.0", "23.0", "33.0", "13.0", "32.0"],
    ]
    md = (tmp_path / "tables/table2.md").read_text()
    assert "| llama | ETO | – | 24.0 | 31.0 | 15.0 | – |" in md
    assert "eval summaries missing" in md
    tex = (tmp_path / "tables/table2.tex").read_text()
    assert r"llama & IPR w/o SFT loss & 59.0 & 23.0 & 33.0 & 13.0 & 32.0 \\" in tex

    table4 = rows_of(tmp_path / "tables/table4.csv")
    assert table4 == [
        ["model", "run", "webshop", "intercode_sql", "alfworld seen", "alfworld unseen", "Average"],
        ["llama", "IPR", "60.0", "25.0", "35.0", "30.0", "37.5"],
        ["llama", "IPR w/o SFT loss", "59.0", "23.0", "33.0", "13.0", "32.0"],
        ["llama", "ETO iteration 1", "", "21.0", "32.0", "12.0", ""],
        ["llama", "ETO iteration 2", "", "24.0*", "31.0*", "15.0*", ""],
        ["llama", "IPR iteration 1", "55.0", "25.0*", "40.0", "20.0", "35.0"],
        ["llama", "IPR iteration 2", "60.0*", "22.0", "35.0*", "30.0*", "36.8"],
        ["llama", "IPR w/o SFT loss iteration 1", "52.0", "23.0*", "33.0*", "13.0*", "30.2"],
        ["llama", "IPR w/o SFT loss iteration 2", "59.0*", "23.0", "90.0", "", ""],
    ]
    table3 = rows_of(tmp_path / "tables/table3.csv")
    assert table3[0] == ["model", "webshop SFT", "webshop ETO", "webshop IPR",
                         "intercode_sql SFT", "intercode_sql ETO", "intercode_sql IPR"]
    assert table3[1] == ["llama", "50.0", "", "60.0", "20.0", "24.0", "25.0"]
    cost = rows_of(tmp_path / "tables/cost.csv")
    assert cost[1:] == [["ipr", "train", "1", "0.500", "8", "4.000"]]
    assert "1 of 2 planned jobs have no benchmark file" in (tmp_path / "tables/cost.md").read_text()
    assert (tmp_path / "figures/figure4.png").read_bytes()[:4] == b"\x89PNG"
    assert rows_of(tmp_path / "tables/figure4.csv")[1][2:] == ["", "", "", ""]  # nothing scored: all missing


def test_paper_tables_seeds_mean_and_sd(tmp_path):
    layout = dict(LAYOUT, benchmarks={"webshop": LAYOUT["benchmarks"]["webshop"]}, methods=["sft", "ipr"],
                  models={"llama-seed0": ["llama", 0], "llama-seed1": ["llama", 1]})
    summaries = []
    # seed 0: sft .4, it1 .5, it2 .7; seed 1: sft .6, it1 .7, it2 .5 -> it1 mean .6 = it2 mean .6 -> tie: it1
    for model, values in (("llama-seed0", (0.4, 0.5, 0.7)), ("llama-seed1", (0.6, 0.7, 0.5))):
        rewards = {"sft": (values[0],), "ipr/iter1": (values[1],), "ipr/iter2": (values[2],)}
        summaries += results_tree(tmp_path, rewards, model)
    write_paper_tables(Layout(**layout), summaries, [], [], tmp_path / "tables", tmp_path / "figures")
    table2 = rows_of(tmp_path / "tables/table2.csv")
    assert table2[1] == ["llama, mean ± sd over seeds 0, 1", "SFT", "50.0 ± 14.1", "50.0 ± 14.1"]
    assert table2[2] == ["llama, mean ± sd over seeds 0, 1", "IPR", "60.0 ± 14.1", "60.0 ± 14.1"]


def test_paper_tables_grid_reports_the_best_grid_point(tmp_path):
    """A gridded method is reported at its best (grid point, iteration) per benchmark; Table 4 lists every
    point's iterations with * on the reported one; the notes name the chosen point."""
    low, high = "ipr+learning_rate~1e-06_beta~0.1", "ipr+learning_rate~3e-06_beta~0.1"
    layout = dict(LAYOUT, benchmarks={b: LAYOUT["benchmarks"][b] for b in ("webshop", "intercode_sql")},
                  methods=["sft", "ipr"], grid={"ipr": {low: {"learning_rate": 1e-06, "beta": 0.1},
                                                        high: {"learning_rate": 3e-06, "beta": 0.1}}})
    # webshop: best = high it1 (.70); intercode: low it2 = high it2 = .40 -> tie -> the earlier point, low
    rewards = {"sft": (0.50, 0.20), f"{low}/iter1": (0.55, 0.30), f"{low}/iter2": (0.60, 0.40),
               f"{high}/iter1": (0.70, 0.35), f"{high}/iter2": (0.65, 0.40)}
    summaries = results_tree(tmp_path, rewards)
    write_paper_tables(Layout(**layout), summaries, [], [], tmp_path / "tables", tmp_path / "figures")
    table2 = rows_of(tmp_path / "tables/table2.csv")
    assert table2[1:] == [["llama", "SFT", "50.0", "20.0", "35.0"], ["llama", "IPR", "70.0", "40.0", "55.0"]]
    md = (tmp_path / "tables/table2.md").read_text()
    assert "IPR on webshop (llama): IPR (learning_rate=3e-06, beta=0.1), iteration 1." in md
    assert "IPR on intercode_sql (llama): IPR (learning_rate=1e-06, beta=0.1), iteration 2." in md
    assert "eval summaries missing" not in md
    table4 = rows_of(tmp_path / "tables/table4.csv")
    assert table4[1:] == [
        ["llama", "IPR", "70.0", "40.0", "55.0"],
        ["llama", "IPR (learning_rate=1e-06, beta=0.1) iteration 1", "55.0", "30.0", "42.5"],
        ["llama", "IPR (learning_rate=1e-06, beta=0.1) iteration 2", "60.0", "40.0*", "50.0"],
        ["llama", "IPR (learning_rate=3e-06, beta=0.1) iteration 1", "70.0*", "35.0", "52.5"],
        ["llama", "IPR (learning_rate=3e-06, beta=0.1) iteration 2", "65.0", "40.0", "52.5"],
    ]


def test_grid_point_is_chosen_on_validation_not_test(tmp_path):
    """With a validation split to select on (scripts/report.py: a benchmark's valid split), the reported
    grid point and iteration are those with the best validation reward, even where another point has
    the better test reward."""
    low, high = "ipr+learning_rate~1e-06_beta~0.1", "ipr+learning_rate~3e-06_beta~0.1"
    layout = dict(LAYOUT, benchmarks={"webshop": {"env": "webshop", "splits": ["test"], "select_on": ["valid"]}},
                  methods=["sft", "ipr"], iterations=1,
                  grid={"ipr": {low: {"learning_rate": 1e-06, "beta": 0.1}, high: {"learning_rate": 3e-06, "beta": 0.1}}})
    rewards = {"sft": (0.50, 0.50), f"{low}/iter1": (0.60, 0.52), f"{high}/iter1": (0.55, 0.90)}  # (valid, test)
    summaries = []
    for run, values in rewards.items():
        for split, value in zip(("valid", "test"), values):
            path = tmp_path / f"results/webshop/llama/{run}/eval/{split}.summary.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"n": 10, "reward": value, "success_rate": value, "mean_steps": 3}))
            summaries.append(str(path))
    write_paper_tables(Layout(**layout), summaries, [], [], tmp_path / "tables", tmp_path / "figures")
    table2 = rows_of(tmp_path / "tables/table2.csv")
    assert table2[2] == ["llama", "IPR", "52.0", "52.0"]  # low: best on valid (.60), not high (test .90)
    assert "IPR (learning_rate=1e-06, beta=0.1), iteration 1." in (tmp_path / "tables/table2.md").read_text()


def test_step_rewards_figure(tmp_path):
    layout = dict(LAYOUT, benchmarks={"webshop": LAYOUT["benchmarks"]["webshop"]}, methods=["sft", "ipr"])
    paths = []
    for run, per_task in (("sft", {"a": [0.2, 0.4], "b": [0.0]}), ("ipr/iter2", {"a": [1.0], "b": [0.5, 0.5]})):
        path = tmp_path / f"results/webshop/llama/{run}/eval/test.step_rewards.jsonl"
        write_jsonl(path, [{"id": f"{task}:t{t}:expert", "task_id": task, "t": t, "who": "expert", "action": "x",
                            "samples": [], "step_reward": r, "config_hash": "h"}
                           for task, rewards in per_task.items() for t, r in enumerate(rewards, 1)], "score")
        paths.append(str(path))
    write_paper_tables(Layout(**layout), [], paths, [], tmp_path / "tables", tmp_path / "figures",
                       ["sft", "ipr"])
    rows = rows_of(tmp_path / "tables/figure4.csv")
    # per trajectory: sft a .3, b 0 -> .150 ± sd .212; ipr a 1, b .5 -> .750 ± .354
    assert rows[1] == ["llama", "SFT", "0.150 ± 0.212"]
    assert rows[2] == ["llama", "IPR iteration 2", "0.750 ± 0.354"]


def test_cost_table_reads_the_planned_jobs_only(tmp_path, monkeypatch):
    """tests/configs/tiny.yaml (sft + ipr, 2 iterations, 2 shards): every planned job's benchmark file
    counts once, under its method and stage; files an earlier run left with other settings (shard 5 of
    the 2 explore shards, a method and an iteration the config does not have) are not read; a planned
    job without a file (not run yet) is not counted and the note says so."""
    config = load_config([ROOT / "tests/configs/tiny.yaml"], ROOT / "config/schema.yaml")
    plan = Plan.from_config(config, ROOT)
    jobs = plan.cost_jobs()
    monkeypatch.chdir(tmp_path)  # the plan's benchmark files are relative to the working directory

    def measured(path, seconds):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(f"s\th:m:s\n{seconds}\t0:00:00\n")

    not_run = "benchmarks/sql_embedded/tiny/sft/eval/test/1.tsv"
    assert ("sft", "evaluate", not_run) in jobs
    for _, _, path in jobs:
        if path != not_run:
            measured(path, 3600.0)
    stale = ["benchmarks/sql_embedded/tiny/ipr/iter1/explore/5.tsv", "benchmarks/sql_embedded/tiny/eto/iter1/train.tsv",
             "benchmarks/sql_embedded/tiny/ipr/iter3/train.tsv", "benchmarks/sql_embedded/tiny/sft/eval/valid/0.tsv"]
    for path in stale:
        measured(path, 360000.0)
    table = cost_table(Layout(**plan.report_layout()), jobs)

    rows = {(r[0], r[1]): r[2:4] for r in table.rows}
    assert rows[("ipr", "explore")] == ["4", "4.000"]  # 2 iterations x 2 shards, not shard 5
    assert rows[("ipr", "train")] == ["2", "2.000"]  # iterations 1 and 2, not 3
    assert rows[("sft", "evaluate")] == ["1", "1.000"]  # shard 1 not run yet; no valid split
    assert rows[("shared", "build_model")] == ["1", "1.000"] and rows[("sft", "sft")] == ["1", "1.000"]
    assert not any(method == "eto" for method, _ in rows)
    assert sum(int(n) for n, _ in rows.values()) == len(jobs) - 1
    assert f"1 of {len(jobs)} planned jobs have no benchmark file" in table.markdown()
