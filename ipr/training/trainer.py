"""One training engine for SFT and the mixed loss: the HF Trainer, full or LoRA, optionally DeepSpeed.

The same call runs single-process on a laptop, under ``torchrun`` on one node and under
``srun`` + ``torchrun`` on several (``ipr.training.launch`` builds those commands). What the Trainer adds
over a plain loop is what scaling needs: DeepSpeed ZeRO-2/3 (``config.deepspeed``: a config
file, e.g. ``config/deepspeed/zero3.json``), data parallelism, bf16 on GPU, and resumable
checkpoints. What we add to the Trainer:

- the loss is an *objective* ``(model, batch) -> (loss, metrics)``: token-mean NLL for SFT,
  the IPR mixed loss for pairs; logits are projected only at target positions (``target_logps``);
- batches are length-grouped and dynamically padded, reproducibly from the seed and the epoch;
- metrics of the objective (each loss term, per-kind reward margins and accuracies) are averaged
  over the steps between two logs and over the ranks, and land in ``log_history``;
- checkpoints live next to the output (``.<name>.checkpoints``), tagged with a fingerprint of the
  run: a job killed by Slurm and started again resumes from the last one, a changed run starts over;
- the final model is written atomically by rank 0, LoRA adapters merged into full weights, so the
  next iteration and both generation backends load a plain model directory.

Traps handled here (see ML_STACK.md): on CPU, DeepSpeed's own communication must be initialised
on gloo before the Trainer, or ZeRO-3 sees world size 1; a single process without a launcher needs
the torch.distributed variables; processes must meet at a barrier and destroy the process group
before exiting, or a rank can abort at teardown.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from ipr.training.common import atomic_dir, pick_device, seed_everything, write_json_file
from ipr.training.config import LoraSettings, TrainingConfig

log = logging.getLogger(__name__)

Objective = Callable[..., tuple]  # (model, batch) -> (loss tensor, {name: float})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed(config: TrainingConfig) -> None:
    """Prepare torch.distributed / DeepSpeed for this process (no-op for a plain single process)."""
    if not config.deepspeed:
        return
    if "RANK" not in os.environ:  # DeepSpeed without a launcher: a world of one
        os.environ.update({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
                           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())})
    import deepspeed
    import torch

    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")


def finish_distributed() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class LengthGroupedSampler:
    """Indices in length-grouped batches of ``batch_size``, reshuffled each epoch from ``seed``.

    Shuffle, stable-sort by length (equal lengths keep shuffled order), cut into batches, shuffle
    the batch order, flatten. The DataLoader cuts the flat order back into the same batches, and
    under data parallelism accelerate deals whole batches to the ranks in turn. A function of
    (seed, epoch) only, so a resumed run sees the same batches as an uninterrupted one.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self) -> list[list[int]]:
        import torch

        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(len(self.lengths), generator=generator).tolist()
        perm.sort(key=lambda i: self.lengths[i])
        batches = [perm[i : i + self.batch_size] for i in range(0, len(perm), self.batch_size)]
        order = torch.randperm(len(batches), generator=generator).tolist()
        return [batches[i] for i in order]

    def __iter__(self):
        return iter([i for batch in self.batches() for i in batch])

    def __len__(self) -> int:
        return len(self.lengths)


def _make_trainer_class():
    """The Trainer subclass (built lazily: importing transformers costs seconds)."""
    import torch
    from transformers import Trainer

    class ObjectiveTrainer(Trainer):
        def __init__(self, *args, objective: Objective, lengths: Sequence[int], sampler_seed: int, **kwargs):
            super().__init__(*args, **kwargs)
            self.objective, self.lengths, self.sampler_seed = objective, lengths, sampler_seed
            # Our objectives return a per-batch mean, so let the Trainer divide by the
            # accumulation steps (it skips that when it thinks the model normalises by itself).
            self.model_accepts_loss_kwargs = False
            self._metric_sums: dict[str, float] = {}
            self._metric_counts: dict[str, int] = {}

        def _get_train_sampler(self, train_dataset=None):
            return LengthGroupedSampler(self.lengths, self.args.per_device_train_batch_size, self.sampler_seed)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss, metrics = self.objective(model, inputs)
            if model.training:
                for key, value in metrics.items():
                    if key == "loss":  # the Trainer logs the loss itself
                        continue
                    self._metric_sums[key] = self._metric_sums.get(key, 0.0) + float(value)
                    self._metric_counts[key] = self._metric_counts.get(key, 0) + 1
            return (loss, None) if return_outputs else loss

        def log(self, logs: dict, start_time: float | None = None) -> None:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            keys = set(self._metric_sums)
            if distributed:  # a rank may lack a key (e.g. no step pair in its batches): use the union
                every_rank = [None] * torch.distributed.get_world_size()
                torch.distributed.all_gather_object(every_rank, sorted(keys))
                keys = set().union(*every_rank)
            keys = sorted(keys)
            if keys:
                stats = torch.tensor([[self._metric_sums.get(k, 0.0), self._metric_counts.get(k, 0)] for k in keys],
                                     dtype=torch.float64)
                if distributed:
                    stats = stats.to(self.args.device)
                    torch.distributed.all_reduce(stats)
                    stats = stats.cpu()
                for key, (total, count) in zip(keys, stats.tolist()):
                    logs[key] = round(total / count, 6)
            self._metric_sums.clear()
            self._metric_counts.clear()
            super().log(logs, start_time)

    return ObjectiveTrainer


def run_fingerprint(config: TrainingConfig, seed: int, examples: Sequence[dict], base_dir) -> str:
    """Identifies a training run: its settings (every field, defaults included), seed, data and starting model."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"settings": config.to_dict(), "seed": seed, "base": str(Path(base_dir).resolve())},
                             sort_keys=True, default=str).encode())
    for example in examples:
        digest.update(json.dumps(example, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def checkpoint_dir(out_dir) -> Path:
    out = Path(out_dir)
    return out.with_name(f".{out.name}.checkpoints")


def _prepare_checkpoints(ckpt_dir: Path, fingerprint: str) -> str | None:
    """The checkpoint to resume from (None: start fresh). Checkpoints of another run are removed."""
    from transformers.trainer_utils import get_last_checkpoint

    tag = ckpt_dir / "run.json"
    if is_main_process():
        if ckpt_dir.exists() and (not tag.exists() or json.loads(tag.read_text())["fingerprint"] != fingerprint):
            log.info("removing checkpoints of a different run in %s", ckpt_dir)
            shutil.rmtree(ckpt_dir)
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        write_json_file(tag, {"fingerprint": fingerprint})
    _barrier()
    return get_last_checkpoint(str(ckpt_dir))


def per_device_batch_size(config: TrainingConfig) -> int:
    """``batch_size`` is the global batch (per optimizer step): split over processes and accumulation,
    so the same config trains the same way on 1 CPU process or 8 GPUs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    accumulation = config.gradient_accumulation_steps
    batch = config.batch_size
    if batch % (world * accumulation):
        raise ValueError(f"batch_size {batch} does not divide into {world} processes x "
                         f"{accumulation} gradient_accumulation_steps")
    return batch // (world * accumulation)


def training_arguments(config: TrainingConfig, ckpt_dir: Path, seed: int, device: str):
    """HF TrainingArguments from a trainer's config (``ipr.training.config``)."""
    import torch
    from transformers import TrainingArguments

    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=per_device_batch_size(config),
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.epochs,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio
        lr_scheduler_type="cosine",
        max_grad_norm=config.max_grad_norm,
        activation_checkpointing=config.gradient_checkpointing,
        bf16=bf16,
        use_cpu=device == "cpu",
        deepspeed=config.deepspeed or None,
        seed=seed,
        data_seed=seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=1,
        report_to="none",
        disable_tqdm=not config.progress,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        average_tokens_across_devices=False,
    )


# Model heads train() can load: the Auto class and the PEFT task type (SEQ_CLS trains the new
# scalar head in full next to the adapters: PEFT puts it in modules_to_save).
HEADS = {"causal_lm": ("AutoModelForCausalLM", "CAUSAL_LM"),
         "scalar": ("AutoModelForSequenceClassification", "SEQ_CLS")}


def load_with_head(model_dir, head: str = "causal_lm", model_kwargs: dict | None = None):
    """The model in ``model_dir`` with ``head``: ``causal_lm`` (the LM head) or ``scalar`` (a
    sequence-classification head with one output, ``num_labels=1``; ``model_kwargs`` may set its
    ``pad_token_id``, which decides the pooled position), in fp32."""
    import torch
    import transformers

    if head not in HEADS:
        raise ValueError(f"unknown model head {head!r} (one of {sorted(HEADS)})")
    kwargs = dict(model_kwargs or {})
    if head == "scalar":
        kwargs.setdefault("num_labels", 1)
    auto_class = getattr(transformers, HEADS[head][0])
    return auto_class.from_pretrained(str(model_dir), dtype=torch.float32, **kwargs)


def _lora_model(model, lora: LoraSettings, head: str = "causal_lm"):
    from peft import LoraConfig, get_peft_model

    peft_config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type=HEADS[head][1],
    )
    return get_peft_model(model, peft_config)


def train(
    base_dir,
    out_dir,
    examples: list[dict],
    lengths: Sequence[int],
    collate: Callable[[list[dict]], dict],
    objective: Objective,
    config: TrainingConfig,
    seed: int,
    metrics: dict,
    head: str = "causal_lm",
    model_kwargs: dict | None = None,
) -> dict:
    """Train the model in ``base_dir`` on ``examples`` and write the final model to ``out_dir``.

    ``collate`` turns a list of examples into a batch of tensors, ``objective`` a batch into
    ``(loss, metrics)``. ``config``: the trainer's config (``ipr.training.config``: batch_size,
    epochs, learning_rate, warmup_ratio, ...; ``finetuning: full|lora`` with ``lora``; ``deepspeed``:
    a DeepSpeed config path or null; ``save_steps``). ``metrics`` are written to
    ``out_dir/metrics.json`` together with the training history. ``head``: ``causal_lm`` (default)
    or ``scalar`` (``load_with_head``: a one-output sequence-classification head, e.g. a reward
    model), with ``model_kwargs`` passed to ``from_pretrained``. Returns the metrics.
    """
    import time

    from transformers import AutoTokenizer

    init_distributed(config)
    seed_everything(seed)
    device = pick_device(config.device, config.num_threads)
    ckpt_dir = checkpoint_dir(out_dir)
    fingerprint = run_fingerprint(config, seed, examples, base_dir)
    resume_from = _prepare_checkpoints(ckpt_dir, fingerprint)
    # Before loading the model: under ZeRO-3 the arguments make from_pretrained partition the
    # weights across ranks as they load (a 13B model never sits whole in one process).
    args = training_arguments(config, ckpt_dir, seed, device)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    model = load_with_head(base_dir, head, model_kwargs)
    model.config.use_cache = False
    lora = config.finetuning == "lora"
    if lora:
        model = _lora_model(model, config.lora, head)

    trainer = _make_trainer_class()(
        model=model, args=args, train_dataset=examples, data_collator=collate,
        objective=objective, lengths=lengths, sampler_seed=seed,
    )
    if resume_from:
        log.info("resuming from %s", resume_from)
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    wall = time.perf_counter() - start

    staging = ckpt_dir / "final"
    trainer.save_model(str(staging))  # collective under ZeRO-3: every rank takes part
    history = [h for h in trainer.state.log_history if "loss" in h]
    metrics = {
        **metrics,
        "seed": seed,
        "device": device,
        "world_size": trainer.args.world_size,
        "finetuning": "lora" if lora else "full",
        "deepspeed": config.deepspeed or None,
        "resumed_from": Path(resume_from).name if resume_from else None,
        "steps": trainer.state.global_step,
        "history": history,
        "train_loss": [h["loss"] for h in history],
        "final_loss": history[-1]["loss"] if history else None,
        "mean_train_loss": round(result.training_loss, 6),
        "wall_time_s": round(wall, 3),
    }
    if is_main_process():
        # Loading the base for a LoRA merge must not start a ZeRO-3 partitioned (collective) load
        # on rank 0 alone: that waits for the other ranks forever.
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
        _write_final_model(staging, base_dir, tokenizer, out_dir, metrics, lora, head, model_kwargs)
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    finish_distributed()
    return metrics


def _write_final_model(staging: Path, base_dir, tokenizer, out_dir, metrics: dict, lora: bool,
                       head: str = "causal_lm", model_kwargs: dict | None = None) -> None:
    """The output model directory, atomically; a LoRA adapter is merged into the base weights."""
    with atomic_dir(out_dir) as tmp:
        if lora:
            from peft import PeftModel

            base = load_with_head(base_dir, head, model_kwargs)
            merged = PeftModel.from_pretrained(base, str(staging)).merge_and_unload()
            merged.config.use_cache = True
            merged.save_pretrained(tmp)
        else:
            for item in staging.iterdir():
                if item.is_file() and item.name != "training_args.bin":
                    shutil.copy2(item, tmp / item.name)
            config = json.loads((tmp / "config.json").read_text())
            config["use_cache"] = True
            write_json_file(tmp / "config.json", config)
        tokenizer.save_pretrained(tmp)
        if (Path(base_dir) / "generation_config.json").exists() and not (tmp / "generation_config.json").exists():
            shutil.copy2(Path(base_dir) / "generation_config.json", tmp / "generation_config.json")
        write_json_file(tmp / "metrics.json", metrics)
        plot_training_curve(metrics, tmp / "training_curve.png")


def plot_training_curve(metrics: dict, path: Path) -> None:
    curve = metrics.get("train_loss")
    if not curve:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is optional
        return
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(curve) + 1), curve)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(metrics.get("kind", "training"))
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
