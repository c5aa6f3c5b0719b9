"""Stage scripts as a rule runs them: bad input is one clear error and leaves no output;
the same config and seed give byte-identical JSONL; a shard killed with SIGKILL resumes to the
same bytes; records do not depend on the shard count; the held-out pair stage compares a policy
with its reference."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ipr.envs import generate
from ipr.records import write_jsonl
from ipr.training.tiny_model import build_tiny_model

from _training_fixtures import CHATML

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK = {"env": "sql_embedded", "max_turns": 5, "tau_step": 0.1, "tau_outcome": 0.1, "explore_tasks": 3}
MODEL = {"vocab_size": 300, "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 2048}


def script(name, *args, settings=None):
    command = [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *map(str, args)]
    if settings is not None:
        command += ["--settings", json.dumps(settings)]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    splits = generate("sql_embedded", root / "assets", 0, train_per_template=1, test_per_template=1)
    write_jsonl(root / "train.jsonl", splits["train"], "trajectory")
    corpus = [m["content"] for r in splits["train"] for m in r["messages"]]
    build_tiny_model(root / "model", corpus, MODEL, seed=0, chat_template=CHATML)
    return root


def explore_args(world, out):
    # One task per chunk: a resumed shard redoes whole chunks, and batch composition is part of
    # what makes CPU runs bit-identical.
    settings = {"seed": 0, "benchmark": BENCHMARK,
                "explore": {"batch_size": 8, "max_new_tokens": 12, "chunk_tasks": 1}}
    return ("explore", "--benchmark", "b", "--policy", world / "model", "--tasks", world / "train.jsonl",
            "--assets", world / "assets", "--out", out), settings


def test_explore_is_repeatable_and_resumes_to_the_same_file(world, tmp_path):
    args, settings = explore_args(world, tmp_path / "a.jsonl")
    assert script(*args, settings=settings).returncode == 0
    args, settings = explore_args(world, tmp_path / "b.jsonl")
    assert script(*args, settings=settings).returncode == 0
    first = (tmp_path / "a.jsonl").read_bytes()
    assert first == (tmp_path / "b.jsonl").read_bytes()

    # A shard killed after its first chunk: the partial file holds its source header (the hashes
    # the stage computes for these inputs) and that chunk's records.
    lines = first.decode().splitlines(keepends=True)
    first_task = json.loads(lines[0])["task_id"]
    done = [line for line in lines if json.loads(line)["task_id"] == first_task]
    args, _ = explore_args(world, tmp_path / "c.jsonl")
    header = json.dumps({"partial_source": stage_source(args, settings, "policy")}, sort_keys=True) + "\n"
    (tmp_path / "c.jsonl.partial").write_text(header + "".join(done) + '{"id": "torn')
    proc = script(*args, settings=settings)
    assert proc.returncode == 0 and "restarting" not in proc.stderr
    assert (tmp_path / "c.jsonl").read_bytes() == first


def stage_source(args, settings, model_flag):
    """The ``.partial`` header a rollout stage writes for these arguments."""
    from ipr.cli import RolloutStage, rollout_parser

    parsed = rollout_parser("", model_flag).parse_args([*map(str, args[1:]), "--settings", json.dumps(settings)])
    return RolloutStage(parsed, getattr(parsed, model_flag), "explore").source()


def test_malformed_input_line_is_one_error_and_no_output(world, tmp_path):
    bad = tmp_path / "explore.jsonl"
    bad.write_text('{"id": "x"}\n')
    out = tmp_path / "pairs.jsonl"
    settings = {"seed": 0, "benchmark": BENCHMARK, "method": {"step_pairs": True, "outcome_pairs": True}}
    proc = script("build_pairs", "--benchmark", "b", "--tasks", world / "train.jsonl", "--explore", bad,
                  "--scores", bad, "--expert-scores", bad, "--out", out, settings=settings)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: bad record: {bad}:1: field 'task_id': missing (required in explore records)")
    assert "Traceback" not in proc.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_missing_model_directory_is_one_error(world, tmp_path):
    args, settings = explore_args(world, tmp_path / "e.jsonl")
    args = tuple(tmp_path / "no-such-model" if a == world / "model" else a for a in args)
    proc = script(*args, settings=settings)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: not a model directory (no config.json): {tmp_path / 'no-such-model'}")
    assert not (tmp_path / "e.jsonl").exists()


def score_expert_args(world, out, *, shard=0, num_shards=1):
    settings = {"seed": 0, "benchmark": {**BENCHMARK, "explore_tasks": 4},
                "score": {"num_samples": 2, "temperature": 1.0, "top_p": 1.0, "batch_size": 8, "max_new_tokens": 12,
                          "chunk_tasks": 1}}
    args = ("score_expert", "--benchmark", "b", "--scorer", world / "model", "--tasks", world / "train.jsonl",
            "--assets", world / "assets", "--shard", shard, "--num-shards", num_shards, "--out", out)
    return args, settings


def test_scoring_shard_killed_mid_run_resumes_to_identical_bytes(world, tmp_path):
    args, settings = score_expert_args(world, tmp_path / "whole.jsonl")
    assert script(*args, settings=settings).returncode == 0
    whole = (tmp_path / "whole.jsonl").read_bytes()

    out = tmp_path / "killed.jsonl"
    args, settings = score_expert_args(world, out)
    command = [sys.executable, str(ROOT / "scripts" / "score_expert.py"), *map(str, args[1:]),
               "--settings", json.dumps(settings)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = out.with_name(out.name + ".partial")
    deadline = time.monotonic() + 300
    while not (partial.exists() and partial.read_text().count("\n") >= 2) and proc.poll() is None:
        assert time.monotonic() < deadline, "no record written within 300 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the shard finished before it could be killed"
    assert not out.exists() and 1 < partial.read_text().count("\n") < 1 + whole.count(b"\n")  # header + records

    assert script(*args, settings=settings).returncode == 0
    assert out.read_bytes() == whole and not partial.exists()


def test_scoring_records_do_not_depend_on_the_shard_count(world, tmp_path):
    args, settings = score_expert_args(world, tmp_path / "one.jsonl")
    assert script(*args, settings=settings).returncode == 0
    records = []
    for shard in (0, 1):
        args, settings = score_expert_args(world, tmp_path / f"{shard}.jsonl", shard=shard, num_shards=2)
        assert script(*args, settings=settings).returncode == 0
        records += (tmp_path / f"{shard}.jsonl").read_text().splitlines()
    assert sorted(records) == sorted((tmp_path / "one.jsonl").read_text().splitlines())


def heldout_run(world, out, policy, reference):
    """The held-out stage on the world's tasks, each with a failed evaluation: the query changed, reward 0."""
    evals = []
    for task in [json.loads(line) for line in (world / "train.jsonl").read_text().splitlines()][:4]:
        messages = [dict(m) for m in task["messages"]]
        query = [i for i, m in enumerate(messages) if m["role"] == "assistant"][-2]
        messages[query]["content"] = messages[query]["content"].replace("SELECT", "SELECT DISTINCT")
        evals.append(dict(task, id=task["task_id"] + ":eval", messages=messages, reward=0.0, success=False))
    write_jsonl(world / "heldout_evals.jsonl", evals, "trajectory")
    settings = {"seed": 0, "benchmark": {"env": "sql_embedded", "tau_outcome": 0.1},
                "method": {"name": "ipr", "outcome_weight": 1.0, "step_weight": 1.0, "sft_weight": 1.0},
                "train": {"epochs": 1, "learning_rate": 1e-4, "beta": 0.1, "batch_size": 2, "max_length": 1024}}
    proc = script("heldout_pairs", "--benchmark", "b", "--policy", policy, "--reference", reference,
                  "--tasks", world / "train.jsonl", "--evals", world / "heldout_evals.jsonl", "--out", out,
                  settings=settings)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def test_heldout_pairs_measure_the_policy_against_its_reference(world, tmp_path):
    other = tmp_path / "other"
    corpus = [m["content"] for line in (world / "train.jsonl").read_text().splitlines()
              for m in json.loads(line)["messages"]]
    build_tiny_model(other, corpus, MODEL, seed=1, chat_template=CHATML)
    forward = heldout_run(world, tmp_path / "forward.json", other, world / "model")
    backward = heldout_run(world, tmp_path / "backward.json", world / "model", other)
    assert forward["pairs"] == backward["pairs"] == 4
    # Two models differ on every pair; swapping policy and reference negates each change.
    assert forward["chosen_logp_change"] != 0 and forward["rejected_logp_change"] != 0
    for key in ("chosen_logp_change", "rejected_logp_change", "margin"):
        assert forward[key] == pytest.approx(-backward[key], abs=1e-4)
