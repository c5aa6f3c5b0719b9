"""The trainers' settings as documented dataclasses, one per trainer (modelled on TRL's configs).

A stage's config section (``config/schema.yaml``: ``sft``, ``train``, ``reward_model``, a model's
``pretrain``) reaches its script as a plain mapping inside ``--settings``; ``from_settings`` turns
it into the trainer's config, so every default lives here once, every value has its type, and a
misspelt key is an error instead of a silently used default::

    TrainingConfig            the engine (ipr.training.trainer.train): optimiser, batching, scale-out
    ├── SFTConfig             ipr.training.sft.train_sft
    ├── MixedLossConfig       ipr.training.mixed_loss.train_mixed and reference_logps
    └── RewardModelConfig     ipr.studies.reward_model.train_reward_model

``docs/reference/training.md`` lists the fields; ``tests/unit/test_training_config.py`` keeps that
table and these defaults in step.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ipr.records import ConfigError, config_from
from ipr.records import help_field as _help

__all__ = ["ConfigError", "TrainingConfig", "SFTConfig", "MixedLossConfig", "RewardModelConfig", "LoraSettings",
           "fields_table"]


@dataclass(frozen=True, kw_only=True)
class LoraSettings:
    """The LoRA adapter of ``finetuning: lora`` (the ``lora:`` mapping of a training section)."""

    r: int = _help("rank of the adapter matrices", 16)
    alpha: int = _help("LoRA scaling numerator (the update is scaled by alpha / r)", 32)
    dropout: float = _help("dropout on the adapter input", 0.0)
    target_modules: str | list[str] = _help("modules that get adapters ('all-linear' or a list of names)",
                                            "all-linear")


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """What every trainer on the shared engine (``ipr.training.trainer.train``) reads."""

    epochs: float = _help("passes over the training examples (a fraction is allowed)")
    learning_rate: float = _help("peak AdamW learning rate (linear warmup, then cosine decay)")
    batch_size: int = _help("global batch per optimiser step, split over processes and accumulation steps")
    gradient_accumulation_steps: int = _help("micro-batches accumulated into one optimiser step", 1)
    weight_decay: float = _help("AdamW weight decay", 0.0)
    warmup_ratio: float = _help("fraction of the steps spent in linear warmup", 0.0)
    max_grad_norm: float = _help("gradient clipping norm", 1.0)
    max_length: int | None = _help("tokens kept per sequence (longer ones are cut); null keeps all", None)
    gradient_checkpointing: bool = _help("recompute activations in backward (less memory, slower)", False)
    deepspeed: str | None = _help("DeepSpeed config file (e.g. config/deepspeed/zero3.json); null: none", None)
    processes: int = _help("training processes per node, read by the launcher (ipr.training.launch); 0: one per GPU", 0)
    save_steps: int = _help("optimiser steps between resumable checkpoints", 500)
    finetuning: str = _help("'full' (every weight) or 'lora' (adapters merged into full weights at the end)",
                            "full")
    lora: LoraSettings = field(default_factory=LoraSettings,
                               metadata={"help": "the adapter of finetuning: lora (r, alpha, dropout, target_modules)"})
    device: str = _help("'auto' (cuda if available, else cpu), 'cpu' or 'cuda'", "auto")
    num_threads: int | None = _help("CPU threads for torch (null or 0: torch's default or OMP_NUM_THREADS)", None)
    progress: bool = _help("show progress bars", True)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], source: str = "training settings"):
        """The config of ``settings`` (a stage's config section); a key that is no field of this
        config, a missing required field or a value of the wrong type raises one ``ConfigError``
        line that names ``source`` and the field."""
        return config_from(cls, settings, source)

    def to_dict(self) -> dict[str, Any]:
        """Every field (defaults included) as plain JSON values: recorded in metrics.json and hashed
        into the checkpoint fingerprint; ``from_settings(to_dict())`` gives the config back."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class SFTConfig(TrainingConfig):
    """Supervised fine-tuning (``train_sft``): the ``sft`` section and a model's ``pretrain``."""

    loss_on: str = _help("'assistant' (assistant tokens only) or 'all' (every token: language-model pretraining)",
                         "assistant")


@dataclass(frozen=True, kw_only=True)
class MixedLossConfig(TrainingConfig):
    """The IPR mixed loss (``train_mixed``) and its reference pass (``reference_logps``): the ``train``
    section. The loss weights come from the method, not from here."""

    beta: float = _help("DPO inverse temperature: the implicit reward is beta * (policy - reference) log-prob")
    label_smoothing: float = _help("conservative-DPO label smoothing (0: plain DPO)", 0.0)
    sft_normalize: str = _help("SFT term: 'token' (mean NLL per chosen token) or 'sum' (mean per-pair summed NLL)",
                               "token")
    loss_variant: str = _help("'ipr' (paper Eq. 10) or 'reference_code' (the authors' dpo_with_sft_loss)", "ipr")


@dataclass(frozen=True, kw_only=True)
class RewardModelConfig(TrainingConfig):
    """The step reward model (``train_reward_model``): the ``reward_model`` section."""

    validation_fraction: float = _help("fraction of the tasks held out for validation", 0.2)
    eval_batch_size: int = _help("sequences per batch when the trained model scores", 16)
    cost_tasks: int = _help("tasks the reward-model cost measurement scores (read by rules/reward_model.smk)", 8)


CONFIGS = (TrainingConfig, SFTConfig, MixedLossConfig, RewardModelConfig, LoraSettings)


def fields_table(cls) -> str:
    """A markdown table of the fields ``cls`` declares itself (not those it inherits): name, type,
    default and help. ``docs/reference/training.md`` holds one per config (a unit test compares)."""
    inherited = {f.name for base in cls.__mro__[1:] if dataclasses.is_dataclass(base) for f in dataclasses.fields(base)}
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.name in inherited:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default if isinstance(f.default, str) else json.dumps(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = "LoraSettings defaults"
        else:
            default = "required"
        kind = str(f.type).replace(" | ", " or ").replace("None", "null")
        rows.append(f"| `{f.name}` | {kind} | {default} | {f.metadata['help']} |")
    return "\n".join(rows)
