"""SFT and the mixed loss under DeepSpeed ZeRO-2/3 with 2 processes (torchrun over gloo on CPU),
full and LoRA; ZeRO-3 against single-process training on the same data and seed; a killed job
resuming from its last checkpoint."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from _training_fixtures import make_pair, with_reference
from ipr.training.launch import command
from ipr.training.config import MixedLossConfig

ROOT = Path(__file__).resolve().parents[2]
WORKER = str(ROOT / "tests/_training_worker.py")
BASE = dict(epochs=2, learning_rate=2e-3, batch_size=4, warmup_ratio=0.0, max_length=256, beta=0.1,
            label_smoothing=0.0, progress=False, save_steps=1000)
# ZeRO-3 partitions parameters and reduces gradients in another order than one process: equal up to
# float32 rounding, which a few optimizer steps grow to about 1e-6.
TOLERANCE = 1e-4

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pairs_file(model_dir, tmp_path_factory):
    pairs = [make_pair(i, "step" if i % 2 else "outcome") for i in range(16)]
    path = tmp_path_factory.mktemp("pairs") / "pairs.json"
    path.write_text(json.dumps(with_reference(model_dir, pairs, MixedLossConfig.from_settings(BASE))))
    return path


def run_worker(tmp_path, name, objective, model_dir, pairs_file, nproc, kill_after_checkpoint=None, **settings):
    out = tmp_path / name
    spec = {"objective": objective, "model": str(model_dir), "out": str(out), "seed": 0,
            "pairs": str(pairs_file), "settings": {**BASE, **settings}, "kill_after_checkpoint": kill_after_checkpoint}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command([WORKER, json.dumps(spec)], env={}, nproc=nproc), env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def train(tmp_path, name, objective, model_dir, pairs_file, nproc, **settings):
    """Run the worker under ipr.training.launch's command; return the metrics of the written model."""
    proc = run_worker(tmp_path, name, objective, model_dir, pairs_file, nproc, **settings)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((tmp_path / name / "metrics.json").read_text())


@pytest.mark.parametrize("finetuning", ["full", "lora"])
@pytest.mark.parametrize("zero", [2, 3])
@pytest.mark.parametrize("objective", ["sft", "mixed"])
def test_deepspeed_two_processes(tmp_path, model_dir, pairs_file, objective, zero, finetuning):
    deepspeed = str(ROOT / f"config/deepspeed/zero{zero}.json")
    metrics = train(tmp_path, "out", objective, model_dir, pairs_file, 2, deepspeed=deepspeed,
                    finetuning=finetuning, lora={"r": 4, "alpha": 8})
    assert metrics["world_size"] == 2 and metrics["deepspeed"] == deepspeed
    assert metrics["steps"] == 8 and all(torch.isfinite(torch.tensor(metrics["train_loss"])))
    if objective == "mixed":
        logged = set().union(*metrics["history"])  # per kind, from the steps whose batches had that kind
        assert {"step/reward_margin", "outcome/accuracy", "loss_sdpo", "loss_sft"} <= logged
    # A plain model directory (LoRA merged): the base's tensors (DeepSpeed also writes the tied
    # lm_head), new values.
    trained, base = load_file(tmp_path / "out/model.safetensors"), load_file(model_dir / "model.safetensors")
    assert set(base) <= set(trained) and not (tmp_path / "out/adapter_config.json").exists()
    assert any(not torch.equal(trained[k], base[k]) for k in base)
    assert not list(tmp_path.glob(".out.*"))


@pytest.mark.parametrize("objective", ["sft", "mixed"])
def test_zero3_two_processes_matches_single_process(tmp_path, model_dir, pairs_file, objective):
    # Same global batch of 4: 2 processes x 2, or 1 process x 2 micro-batches accumulated.
    ds = train(tmp_path, "zero3", objective, model_dir, pairs_file, 2,
               deepspeed=str(ROOT / "config/deepspeed/zero3.json"))
    single = train(tmp_path, "single", objective, model_dir, pairs_file, 1, gradient_accumulation_steps=2)
    assert single["world_size"] == 1 and len(ds["train_loss"]) == len(single["train_loss"]) == 8
    assert ds["train_loss"] == pytest.approx(single["train_loss"], abs=TOLERANCE)
    a, b = load_file(tmp_path / "zero3/model.safetensors"), load_file(tmp_path / "single/model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < TOLERANCE


@pytest.mark.parametrize("deepspeed", [None, "zero3"])
def test_killed_job_resumes_from_its_last_checkpoint(tmp_path, model_dir, pairs_file, deepspeed):
    nproc = 2 if deepspeed else 1
    settings = dict(save_steps=2, deepspeed=deepspeed and str(ROOT / f"config/deepspeed/{deepspeed}.json"))
    killed = run_worker(tmp_path, "out", "mixed", model_dir, pairs_file, nproc, kill_after_checkpoint=4, **settings)
    assert killed.returncode != 0
    assert not (tmp_path / "out").exists()  # no half-written output
    assert (tmp_path / ".out.checkpoints/checkpoint-4").is_dir()

    resumed = train(tmp_path, "out", "mixed", model_dir, pairs_file, nproc, **settings)
    assert resumed["resumed_from"] == "checkpoint-4" and resumed["steps"] == 8
    assert not (tmp_path / ".out.checkpoints").exists()  # removed once the model is written
    straight = train(tmp_path, "straight", "mixed", model_dir, pairs_file, nproc, **settings)
    assert straight["resumed_from"] is None
    assert resumed["train_loss"] == pytest.approx(straight["train_loss"], abs=1e-6)
    a, b = load_file(tmp_path / "out/model.safetensors"), load_file(tmp_path / "straight/model.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6


def test_checkpoints_of_another_run_are_not_resumed(tmp_path, model_dir, pairs_file):
    run_worker(tmp_path, "out", "sft", model_dir, pairs_file, 1, kill_after_checkpoint=2, save_steps=2)
    assert (tmp_path / ".out.checkpoints/checkpoint-2").is_dir()
    changed = train(tmp_path, "out", "sft", model_dir, pairs_file, 1, save_steps=2, learning_rate=1e-3)
    assert changed["resumed_from"] is None and changed["steps"] == 8
