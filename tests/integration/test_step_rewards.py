"""Step rewards studied (issue 10): MC step-reward accuracy against page scores, the learned step
reward model (scalar head on the shared training engine), the dataset and Table 5."""

import json
import random

import pytest

from _training_fixtures import CHATML, SETTINGS, corpus
from ipr.studies import step_accuracy
from ipr.records import InputError, RecordError, validate
from ipr.studies.reward_model import (
    ScalarCollator,
    dataset_records,
    encode_step,
    end_of_turn_ids,
    regression_metrics,
    scalar_pad_id,
    scores_source,
    spearman,
    split_by_task,
    train_reward_model,
)
from ipr.studies.step_reward_report import collect, markdown
from ipr.training.config import RewardModelConfig


def cand(expert_samples, agent_samples, expert_page, agent_page, expert_outcome=1.0, agent_outcome=0.0,
         task="t0", t=2):
    mean = lambda s: sum(s) / len(s) if s else 0.0  # noqa: E731
    return {"scorer": "m", "task_id": task, "t": t, "expert_samples": expert_samples, "agent_samples": agent_samples,
            "expert_step_reward": mean(expert_samples), "agent_step_reward": mean(agent_samples),
            "expert_outcome": expert_outcome, "agent_outcome": agent_outcome,
            "expert_page": expert_page, "agent_page": agent_page}


# ------------------------------------------------------------------------ accuracy


def test_accuracy_on_hand_made_pairs():
    cands = [
        cand([1.0, 1.0], [0.0, 0.0], 0.9, 0.2),  # constructed, page agrees -> correct
        cand([1.0, 0.5], [0.0, 0.0], 0.1, 0.6),  # constructed, page disagrees -> wrong
        cand([0.8, 0.8], [0.2, 0.2], 0.5, 0.5),  # constructed, page tie -> ties, not in accuracy
        cand([0.5, 0.5], [0.5, 0.5], 0.9, 0.1),  # equal MC rewards: not a pair
        cand([1.0, 1.0], [0.0, 0.0], 0.9, 0.1, expert_outcome=0.3, agent_outcome=0.5),  # outcome rule: no pair
        cand([0.0, 0.0], [1.0, 1.0], 0.2, 0.7),  # agent ahead by MC: ordered only, page agrees with MC
    ]
    row = step_accuracy.accuracy_at(cands, 2, tau=0.01, draws=5, seed=0)
    assert (row["pairs"], row["correct"], row["wrong"], row["ties"]) == (3, 1, 1, 1)
    assert row["accuracy"] == pytest.approx(0.5)
    assert row["draws"] == 1  # N = all samples: nothing to sub-sample
    # ordered: 5 candidates with |diff| > tau; page-decided 4 (one tie): correct = 1st, 5th, 6th
    assert row["ordered_pairs"] == 5
    assert row["ordered_accuracy"] == pytest.approx(3 / 4)


def test_accuracy_subsamples_the_same_rollouts():
    # Expert samples [1, 0]: with N = 1 half of the draws give 1 (pair) and half 0 (no pair).
    cands = [cand([1.0, 0.0], [0.0, 0.0], 0.9, 0.1)]
    full = step_accuracy.accuracy_at(cands, 2, 0.01, draws=400, seed=0)
    assert full["pairs"] == 1 and full["accuracy"] == 1.0
    sub = step_accuracy.accuracy_at(cands, 1, 0.01, draws=400, seed=0)
    assert sub["draws"] == 400 and 0.4 < sub["pairs"] < 0.6
    assert sub["accuracy"] == 1.0
    # deterministic for a seed
    assert step_accuracy.accuracy_at(cands, 1, 0.01, 400, 0) == sub


def test_terminal_actions_keep_their_outcome_and_missing_n_is_skipped():
    cands = [cand([], [0.0, 0.0, 0.0], 1.0, 0.0)]
    cands[0]["expert_step_reward"] = 1.0  # ended the episode with reward 1
    rows = step_accuracy.accuracy_table({"m": cands}, [1, 3, 5], 0.01, 3, 0, "webshop")
    assert [r["n"] for r in rows] == [1, 3, 5]
    assert rows[0]["pairs"] == 1 and rows[0]["accuracy"] == 1.0
    assert "skipped" in rows[2]
    text = step_accuracy.markdown(rows, 0.01)
    assert "only 3 samples" in text
    assert step_accuracy.csv_text(rows).splitlines()[0].startswith("benchmark,scorer,n,pairs")


def test_page_scores_and_candidates_on_webshop(tmp_path):
    from ipr.envs import generate
    from ipr.method.scoring import EnvSpec, assistant_indices

    data = generate("webshop", tmp_path, 0, catalog="embedded", num_products=40, num_train_tasks=3, num_test_tasks=1)
    spec = EnvSpec("webshop", str(tmp_path / "assets") if (tmp_path / "assets").exists() else str(tmp_path), 10)
    task = data["train"][0]
    steps = assistant_indices(task["messages"])
    last = task["messages"][steps[-1]]["content"]  # the expert's Buy Now: page score = the purchase reward
    bad = "Thought: x\nAction: click[back to search]"
    expert_page, agent_page = step_accuracy.page_scores_after(spec, task, len(steps), [last, bad])
    assert expert_page == pytest.approx(task["reward"])
    assert agent_page == 0.0  # the search page
    expert = [{"id": "e", "task_id": task["task_id"], "t": len(steps), "who": "expert", "action": last,
               "samples": [], "step_reward": task["reward"], "config_hash": "h"}]
    agent = [dict(expert[0], id="a", who="agent", action=bad, samples=[0.0, 0.0], step_reward=0.0)]
    explore = [{"task_id": task["task_id"], "t": len(steps), "outcome_reward": 0.0}]
    cands = step_accuracy.candidates(spec, {task["task_id"]: task}, explore, agent, expert, "tiny")
    assert len(cands) == 1 and cands[0]["expert_page"] > cands[0]["agent_page"]


def test_step_accuracy_script_reads_shared_exploration(tmp_path):
    """scripts/step_accuracy.py as the rule calls it: the scored iteration's explore/ and scores/ live in
    different method directories (iteration 1 shared), and a scorer without MC-scored runs gets a row."""
    import subprocess
    import sys
    from pathlib import Path

    from ipr.envs import generate
    from ipr.records import write_jsonl
    from ipr.method.scoring import assistant_indices

    data = generate("webshop", tmp_path / "data", 0, catalog="embedded", num_products=40, num_train_tasks=3,
                    num_test_tasks=1)
    task = data["train"][0]
    write_jsonl(tmp_path / "train.jsonl", data["train"])
    steps = assistant_indices(task["messages"])
    last = task["messages"][steps[-1]]["content"]
    bad = "Thought: x\nAction: click[back to search]"
    key = dict(task_id=task["task_id"], t=len(steps), config_hash="h")
    expert = [dict(key, id="e", who="expert", action=last, samples=[1.0, 1.0], step_reward=1.0)]
    agent = [dict(key, id="a", who="agent", action=bad, samples=[0.0, 0.0], step_reward=0.0)]
    explore = [dict(key, id="x", prefix=steps[-1], agent_action=bad, continuation=[], outcome_reward=0.0)]
    # A stale shard of an earlier, larger shard count (its action wins the pair there), left in the
    # scores folder: the rule names the files to read, so it must not count.
    stale = [dict(agent[0], id="stale", action=last, samples=[1.0, 1.0], step_reward=1.0)]
    for name, records in (("expert_scores.jsonl", expert), ("ipr/iter1/explore/0.jsonl", explore),
                          ("ipr_rm/iter1/scores/0.jsonl", agent), ("ipr_rm/iter1/scores/1.jsonl", stale)):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    settings = {"seed": 0, "step_accuracy": {"num_samples": [1, 2], "draws": 3},
                "benchmark": {"env": "webshop", "max_turns": 10, "tau_step": 0.01, "name": "webshop"}}
    script = Path(__file__).resolve().parents[2] / "scripts" / "step_accuracy.py"
    result = subprocess.run(
        [sys.executable, str(script), "--settings", json.dumps(settings), "--benchmark", "webshop",
         "--tasks", str(tmp_path / "train.jsonl"), "--assets", str(tmp_path / "data"),
         "--scorer", "m", str(tmp_path / "expert_scores.jsonl"),
         "--scorer", "idle", str(tmp_path / "expert_scores.jsonl"),
         "--explore", "m", "ipr_rm/iter1", str(tmp_path / "ipr/iter1/explore/0.jsonl"),
         "--scores", "m", "ipr_rm/iter1", str(tmp_path / "ipr_rm/iter1/scores/0.jsonl"),
         "--out-md", str(tmp_path / "acc.md"), "--out-csv", str(tmp_path / "acc.csv"),
         "--figure", str(tmp_path / "acc.png")],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "acc.csv").read_text().splitlines()
    assert rows[0].startswith("benchmark,scorer,n,pairs,correct,wrong,ties,accuracy")
    m_rows = [r.split(",") for r in rows[1:] if r.split(",")[1] == "m"]
    assert [(r[2], r[3], r[4], r[7]) for r in m_rows] == [("1", "1.0", "1.0", "1.0"), ("2", "1.0", "1.0", "1.0")]
    assert "only 0 samples" in (tmp_path / "acc.md").read_text()  # the idle scorer's rows say why they are empty
    assert (tmp_path / "acc.png").stat().st_size > 0


# ------------------------------------------------------------------------ metrics and data


def test_spearman_with_ties():
    # ranks of x (ties averaged) = [1.5, 1.5, 3, 4], of y = [1, 2, 3, 4]: Pearson of the ranks
    assert spearman([0.0, 0.0, 0.5, 1.0], [0.1, 0.2, 0.3, 0.9]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == pytest.approx(1.0)  # monotone, not linear
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    m = regression_metrics([0.0, 1.0], [0.0, 1.0], 0.5)
    assert m["mse"] == 0.0 and m["constant_mse"] == 0.25 and m["spearman"] == pytest.approx(1.0)


def task_record(task_id):
    msgs = [{"role": "user", "content": "find a red shirt"},
            {"role": "assistant", "content": "Thought: s\nAction: search[red shirt]"},
            {"role": "user", "content": "Observation: results"},
            {"role": "assistant", "content": "Thought: b\nAction: click[buy now]"}]
    return {"task_id": task_id, "messages": msgs, "reward": 1.0}


def test_dataset_records_history_split_and_source():
    tasks = {f"w{i}": task_record(f"w{i}") for i in range(10)}
    scores = [{"id": f"w{i}:t2:agent", "task_id": f"w{i}", "t": 2, "who": "agent", "action": "Action: click[x]",
               "samples": [0.0, 1.0], "step_reward": 0.5, "config_hash": "h"} for i in range(10)]
    records = dataset_records(tasks, scores, "webshop", "tiny", "ipr/iter1", "h")
    for r in records:
        validate(r, "step_reward")
    assert records[0]["messages"][-1] == {"role": "assistant", "content": "Action: click[x]"}
    assert len(records[0]["messages"]) == 4  # task, expert action a_1, observation, the agent's a_2
    train, val = split_by_task(records, 0.3, seed=0)
    assert {r["task_id"] for r in train}.isdisjoint({r["task_id"] for r in val}) and len(val) == 3
    assert scores_source("results/webshop/tiny/expert_scores.jsonl") == ("tiny", "expert")
    assert scores_source("results/webshop/tiny/ipr/iter2/scores/0.jsonl") == ("tiny", "ipr/iter2")
    with pytest.raises(InputError, match="not a score file path"):
        scores_source("results/webshop/tiny/pairs.jsonl")
    with pytest.raises(InputError, match="scores.jsonl:1: field 'task_id'"):
        dataset_records({}, scores, "webshop", "tiny", "expert", "h", "scores.jsonl")
    with pytest.raises(RecordError, match="field 'step_reward'"):
        validate(dict(records[0], step_reward="high"), "step_reward", "d.jsonl", 3)


# ------------------------------------------------------------------------ the reward model


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from ipr.training.tiny_model import build_tiny_model

    out = tmp_path_factory.mktemp("rm") / "base"
    text = list(corpus()) + ["Thought: buy it\nAction: click[buy now]", "Thought: hm\nAction: click[back]",
                             "find a red shirt", "Observation: results"]
    build_tiny_model(out, text, SETTINGS, seed=0, chat_template=CHATML)
    return out


def synthetic_records(n_tasks=24):
    """Good actions (buy now) have high MC rewards, bad ones (back to search) low: learnable from text."""
    rng = random.Random(1)
    records = []
    for i in range(n_tasks):
        for t, (action, value) in enumerate([("click[buy now]", 0.9), ("click[back to search]", 0.1)], start=1):
            records.append({"id": f"s{i}:{t}", "benchmark": "webshop", "task_id": f"task{i}", "t": t,
                            "who": "agent", "scorer": "tiny", "source": "expert",
                            "messages": [{"role": "user", "content": f"find a red shirt {i}"},
                                         {"role": "assistant", "content": f"Thought: go\nAction: {action}"}],
                            "samples": [], "step_reward": value + rng.uniform(-0.05, 0.05), "config_hash": "h"})
    return records


def test_scalar_encoding_ends_at_the_last_assistant_token(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    msgs = synthetic_records(1)[0]["messages"]
    ids = encode_step(tok, "webshop", msgs, None)
    assert ids[-1] in end_of_turn_ids(tok)
    assert encode_step(tok, "webshop", msgs, 16)[-16:] == ids[-16:]  # cut from the left
    pad = scalar_pad_id(tok, [ids[-1]])
    assert pad != ids[-1]
    batch = ScalarCollator(pad)([{"input_ids": ids, "label": 0.5}, {"input_ids": ids[:5], "label": 0.1}])
    assert batch["input_ids"].shape == (2, len(ids)) and batch["attention_mask"][1].sum() == 5


@pytest.mark.parametrize("finetuning", ["full", "lora"])
def test_reward_head_beats_constant_predictor(tiny_model, tmp_path, finetuning):
    settings = {"epochs": 10, "learning_rate": 1e-3 if finetuning == "full" else 5e-3, "batch_size": 8,
                "warmup_ratio": 0.0, "max_length": 256, "validation_fraction": 0.25, "progress": False,
                "finetuning": finetuning, "lora": {"r": 4, "alpha": 8}, "save_steps": 1000}
    out = tmp_path / "rm"
    metrics = train_reward_model(tiny_model, out, synthetic_records(), "webshop",
                                 RewardModelConfig.from_settings(settings), seed=0)
    val = metrics["validation"]
    assert metrics["num_validation"] > 0 and val["n"] == metrics["num_validation"]
    assert val["mse"] < val["constant_mse"], val  # better than predicting the training mean
    assert val["spearman"] > 0.5
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["validation"] == val and saved["finetuning"] == finetuning
    config = json.loads((out / "config.json").read_text())
    assert config["num_labels"] == 1 if "num_labels" in config else len(config.get("id2label", {0: 0})) == 1
    assert config["pad_token_id"] == metrics["pad_token_id"]


# ------------------------------------------------------------------------ Table 5


def test_table5_marks_missing_methods(tmp_path):
    base = tmp_path / "results" / "webshop" / "tiny"
    for run, reward in (("sft", 0.3), ("ipr/iter1", 0.4), ("ipr/iter2", 0.5), ("ipr_rm/iter1", 0.45)):
        path = base / run / "eval" / "test.summary.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"n": 3, "reward": reward, "success_rate": 0.0}))
    rm_dir = base / "reward_model" / "model"
    rm_dir.mkdir(parents=True)
    (rm_dir / "metrics.json").write_text(json.dumps({"validation": {"mse": 0.01, "constant_mse": 0.05,
                                                                     "spearman": 0.7}}))
    (base / "reward_model" / "cost.json").write_text(json.dumps({"mc": {"cpu_s_per_1000": 900.0,
                                                                         "wall_s_per_1000": 500.0},
                                                                  "rm": {"cpu_s_per_1000": 9.0,
                                                                         "wall_s_per_1000": 5.0}}))
    summaries = [str(p) for p in base.rglob("*.summary.json")]
    rows = collect(summaries, [str(rm_dir)], [str(base / "reward_model" / "cost.json")])
    assert len(rows) == 1
    row = rows[0]
    assert row["eto"] is None and row["ipr"] == 0.5 and row["ipr_iteration"] == 2 and row["ipr_rm"] == 0.45
    text = markdown(rows)
    assert "| webshop | tiny | test | 0.300 | - | 0.450 | 0.500 |" in text
    assert "0.700" in text and "900.0 (500.0)" in text
    # no reward model and no cost: still a table
    assert "| - |" in markdown(collect(summaries, [], []))


# ------------------------------------------------------------------------ workflow


def _dry_run(tmp_path, config_text):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config_text)
    snakemake = shutil.which("snakemake") or str(Path(sys.executable).parent / "snakemake")
    return subprocess.run([snakemake, "-n", "-p", "--workflow-profile", "none", "-s", str(root / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", str(cfg), "--replace-workflow-config"],
                          capture_output=True, text=True, cwd=root)


def test_dag_of_the_step_reward_configuration(tmp_path):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "config" / "webshop_step_rewards.yaml").read_text()
    run = _dry_run(tmp_path, text)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout + run.stderr
    for rule in ("step_reward_data", "train_reward_model", "score_expert_rm", "scorer_cost", "step_accuracy",
                 "step_reward_table"):
        assert f"{rule}  " in out or f"rule {rule}:" in out, rule
    # ipr_rm scores with the reward model, ipr with MC rollouts; the pair rule reads the matching expert scores
    assert "scripts/score_rm.py" in out and "scripts/score.py" in out
    assert "expert_scores.rm.jsonl" in out
    # without an rm method and a step_accuracy section nothing of the study is planned
    plain = _dry_run(tmp_path / "plain", text.replace("methods: [sft, eto, ipr, ipr_rm]", "methods: [sft, ipr]")
                     .replace("step_accuracy: {num_samples: [1, 3, 5, 10], draws: 20}", ""))
    assert plain.returncode == 0, plain.stderr[-2000:]
    planned = plain.stdout + plain.stderr
    assert "rule train_reward_model:" not in planned and "rule step_accuracy:" not in planned


def test_rm_method_without_reward_model_section_is_one_clear_error(tmp_path):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "config" / "webshop_step_rewards.yaml").read_text()
    text = re.sub(r"reward_model: \{.*?\}\n", "", text, flags=re.S)
    run = _dry_run(tmp_path, text)
    assert run.returncode != 0
    assert "score with the reward model (scorer: rm) but the config has no 'reward_model' section" in run.stdout + run.stderr
