"""The entries of a stage job's ``--settings`` JSON as frozen dataclasses (in the style of
``ipr.training.config``).

``Plan.settings`` (ipr/workflow/plan.py) builds that JSON from the config; ``ipr.cli.Settings``
reads it through these classes, so every default lives here once (equal to config/schema.yaml's
default where the schema has one: tests/unit/test_stage_settings.py compares), every value has its
type, and a key that is no field is a one-line ``ConfigError`` naming the entry and the key::

    BenchmarkSettings   the "benchmark" entry: a config benchmark's keys the stage reads, plus its name
    RolloutConfig       the explore, score and evaluate sections (the stages that play episodes)
    MethodSettings      the "method" entry: a method_settings entry plus its name

The trainers' sections (sft, train, reward_model, a model's pretrain) are ``ipr.training.config``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ipr.records import ConfigError, config_from
from ipr.records import help_field as _help


@dataclass(frozen=True, kw_only=True)
class BenchmarkSettings:
    """A config ``benchmarks`` entry (the keys ``BENCHMARK_KEYS`` gives the stage, or all of them for
    the step-reward rules) plus ``name``."""

    name: str | None = _help("the benchmark's name (its key in the config)", None)
    env: str | None = _help("environment family (webshop, sql_embedded, intercode_sql, alfworld, ...)", None)
    max_turns: int = _help("agent turns per episode", 10)
    max_new_tokens: int | None = _help("a tighter bound on tokens per turn than the stage's; null: the stage's", None)
    stop: list[str] | None = _help("stop strings that end a turn; null: the backends' STOP_STRINGS", None)
    tau_step: float = _help("step-pair threshold on the step-reward gap", 0.1)
    tau_outcome: float = _help("outcome-pair threshold on the outcome-reward gap", 0.1)
    eval_splits: list[str] | None = _help("splits evaluated on; null: the evaluate section's", None)
    explore_tasks: int | None = _help("train tasks explored and scored per iteration; null: all", None)
    generate: dict[str, Any] = _help("the data generator's options (prepare_data)", factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], source: str = "benchmark settings") -> BenchmarkSettings:
        return config_from(cls, settings, source)

    def require_env(self, source: str = "benchmark settings") -> str:
        """``env``, which every stage but build_pairs gets."""
        if self.env is None:
            raise ConfigError(f"{source}: missing field 'env'")
        return self.env


@dataclass(frozen=True, kw_only=True)
class RolloutConfig:
    """The section of a stage that plays episodes: ``explore``, ``score`` (its scoring fields) or
    ``evaluate`` (its splits)."""

    backend: str = _help("generation backend: transformers, vllm or openai", "transformers")
    openai: dict[str, Any] | None = _help("the openai backend's server (ipr.agent.backends.OpenAISettings)", None)
    python: str = _help("interpreter the rule runs the stage with", "python")
    batch_size: int = _help("prompts per generate call", 64)
    max_new_tokens: int = _help("generated tokens per turn", 96)
    chunk_tasks: int = _help("tasks per resumable chunk", 16)
    num_samples: int = _help("Monte-Carlo continuations per action (score)", 4)
    temperature: float = _help("sampling temperature of the continuations (score)", 1.0)
    top_p: float = _help("nucleus sampling top-p (score)", 1.0)
    only_candidates: bool = _help("score only agent actions that could form a step pair (score)", True)
    scorer: str = _help("step-reward scorer of the methods without their own: mc or rm (score)", "mc")
    splits: list[str] = _help("data splits evaluated on (evaluate)", factory=lambda: ["test"])

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], source: str = "rollout settings") -> RolloutConfig:
        return config_from(cls, settings, source)


@dataclass(frozen=True, kw_only=True)
class MethodSettings:
    """A config ``method_settings`` entry plus ``name`` (explore gets only ``step_pairs``)."""

    name: str | None = _help("the method's name (a variant's, for a grid point)", None)
    outcome_weight: float | None = _help("weight w_o of the outcome-level DPO loss", None)
    step_weight: float | None = _help("weight w_s of the step-level DPO loss", None)
    sft_weight: float | None = _help("weight w_sft of the SFT loss on the chosen side", None)
    step_pairs: bool = _help("build step-level pairs (explore from every expert prefix)", True)
    outcome_pairs: bool = _help("build outcome-level pairs", True)
    trainer: str = _help("mixed (pairs and the mixed loss) or sft (rejection-sampling fine-tuning)", "mixed")
    reference: str = _help("DPO reference: sft (the SFT policy) or policy (the iteration's starting policy)", "sft")
    tau_outcome: float | None = _help("outcome-pair threshold; null: the benchmark's", None)
    rft_min_reward: float = _help("outcome reward an explored trajectory needs to join RFT's data", 1.0)
    train: dict[str, Any] = _help("overrides of the train (rft: sft) section", factory=dict)
    later_train: dict[str, Any] = _help("overrides from iteration 2 on", factory=dict)
    grid: dict[str, list] | None = _help("hyper-parameter grid: one variant per point", None)
    scorer: str | None = _help("step-reward scorer: mc or rm; null: score.scorer (rm for ipr_rm)", None)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], source: str = "method settings") -> MethodSettings:
        return config_from(cls, settings, source)

    def loss_weights(self, source: str = "method settings") -> dict[str, float]:
        """outcome_weight, step_weight and sft_weight of the mixed loss, all of which it needs."""
        weights = {"outcome_weight": self.outcome_weight, "step_weight": self.step_weight,
                   "sft_weight": self.sft_weight}
        for key, value in weights.items():
            if value is None:
                raise ConfigError(f"{source}: missing field {key!r}")
        return weights
