"""The results/ layout: where every rule writes, in one place.

The rules use these patterns as their outputs (Snakemake fills the ``{wildcards}``), the plan fills
them with ``format`` to name inputs and targets, and the report reads paths back with ``parse``.
Patterns are relative to the working directory; ``{run}`` is ``sft`` or ``<method>/iter<k>`` (one
evaluate rule for every policy). Each rule's log and benchmark files (``log``, ``benchmark``) mirror its
outputs under ``logs/`` and ``benchmarks/``; ``job_wildcards`` reads a job's wildcards back from its
first output (``JOB_OUTPUTS``), so the plan names each planned job's benchmark file (the cost table's).
"""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = "results"

# data (per benchmark)
DATA = "results/{benchmark}/data/{split}.jsonl"
TRAIN = "results/{benchmark}/data/train.jsonl"
TEST = "results/{benchmark}/data/test.jsonl"
VALID = "results/{benchmark}/data/valid.jsonl"
ASSETS = "results/{benchmark}/data/assets"
STEP_REWARD_DATA = "results/{benchmark}/step_rewards.jsonl"

# models (per config model) and policies (per model instance)
MODEL = "results/models/{model}"
INSTANCE = "results/{benchmark}/{model}"
SFT_POLICY = "results/{benchmark}/{model}/sft/policy"
RUN_POLICY = "results/{benchmark}/{model}/{run}/policy"
ITER = "results/{benchmark}/{model}/{method}/iter{iter}"
ITER_POLICY = ITER + "/policy"

# one method iteration
EXPLORE = ITER + "/explore/{shard}.jsonl"
SCORES = ITER + "/scores/{shard}.jsonl"
PAIRS = ITER + "/pairs.jsonl"
PAIRS_REFERENCE = ITER + "/pairs.reference.jsonl"
# the trained policy on held-out pairs of the validation split (ipr.method.heldout)
HELDOUT_PAIRS = ITER + "/heldout_pairs.json"

# expert step rewards (per model instance)
EXPERT_SCORES_SHARD = "results/{benchmark}/{model}/expert_scores/{shard}.jsonl"
EXPERT_SCORES = "results/{benchmark}/{model}/expert_scores.jsonl"
EXPERT_SCORES_RM = "results/{benchmark}/{model}/expert_scores.rm.jsonl"
REWARD_MODEL = "results/{benchmark}/{model}/reward_model/model"
SCORER_COST = "results/{benchmark}/{model}/reward_model/cost.json"

# evaluation of a policy
EVAL_SHARD = "results/{benchmark}/{model}/{run}/eval/{split}/{shard}.jsonl"
EVAL = "results/{benchmark}/{model}/{run}/eval/{split}.jsonl"
EVAL_SUMMARY = "results/{benchmark}/{model}/{run}/eval/{split}.summary.json"
EVAL_STEP_REWARDS = "results/{benchmark}/{model}/{run}/eval/{split}.step_rewards.jsonl"

# report
TABLE = "results/tables/{table}.{ext}"
FIGURE = "results/figures/{figure}.png"
MAIN_MD = TABLE.format(table="main", ext="md")
MAIN_CSV = TABLE.format(table="main", ext="csv")
REWARDS_FIGURE = FIGURE.format(figure="rewards")
FIGURE4 = FIGURE.format(figure="figure4")
CONFIG_AS_RUN = "results/tables/config.yaml"
PAIRS_MD = TABLE.format(table="pairs", ext="md")
PAIRS_CSV = TABLE.format(table="pairs", ext="csv")
EFFECT_MD = TABLE.format(table="effect", ext="md")
EFFECT_CSV = TABLE.format(table="effect", ext="csv")
EFFECT_FIGURE = FIGURE.format(figure="effect")
HELDOUT_MD = TABLE.format(table="heldout", ext="md")
HELDOUT_CSV = TABLE.format(table="heldout", ext="csv")
STEP_ACCURACY_MD = "results/tables/step_accuracy.{benchmark}.md"
STEP_ACCURACY_CSV = "results/tables/step_accuracy.{benchmark}.csv"
STEP_ACCURACY_FIGURE = "results/figures/step_accuracy.{benchmark}.png"
STEP_REWARDS_MD = "results/tables/step_rewards.md"
STEP_REWARDS_CSV = "results/tables/step_rewards.csv"

# The paths the report reads back (parse): kind -> pattern, and what a path of that kind is called.
PARSED = {
    "eval_summary": EVAL_SUMMARY,
    "eval_step_rewards": EVAL_STEP_REWARDS,
    "pairs": PAIRS,
    "heldout_pairs": HELDOUT_PAIRS,
    "reward_model": REWARD_MODEL,
    "scorer_cost": SCORER_COST,
}
KIND_NAMES = {
    "eval_summary": "an eval summary",
    "eval_step_rewards": "a step-reward",
    "pairs": "a pairs",
    "heldout_pairs": "a held-out pairs",
    "reward_model": "a reward-model",
    "scorer_cost": "a scorer-cost",
}

# Each rule's log and benchmark file (logs/<path>.log, benchmarks/<path>.tsv): the job's outputs'
# path without results/, so that a job's three files are found side by side. `{run}` as above.
JOB_FILES = {
    "prepare_data": "{benchmark}/prepare_data",
    "select_split": "{benchmark}/select_split_{split}",
    "validation_split": "{benchmark}/validation_split",
    "build_model": "models/{model}/build_model",
    "link_model": "models/{model}/link_model",
    "fetch_gguf_model": "models/{model}/fetch_gguf_model",
    "sft": "{benchmark}/{model}/sft/sft",
    "score_expert": "{benchmark}/{model}/expert_scores/{shard}",
    "gather_expert_scores": "{benchmark}/{model}/gather_expert_scores",
    "explore": "{benchmark}/{model}/{method}/iter{iter}/explore/{shard}",
    "score": "{benchmark}/{model}/{method}/iter{iter}/scores/{shard}",
    "build_pairs": "{benchmark}/{model}/{method}/iter{iter}/build_pairs",
    "reference_logps": "{benchmark}/{model}/{method}/iter{iter}/reference_logps",
    "heldout_pairs": "{benchmark}/{model}/{method}/iter{iter}/heldout_pairs",
    "train": "{benchmark}/{model}/{method}/iter{iter}/train",
    "rft": "{benchmark}/{model}/{method}/iter{iter}/rft",
    "evaluate": "{benchmark}/{model}/{run}/eval/{split}/{shard}",
    "gather_eval": "{benchmark}/{model}/{run}/eval/gather_{split}",
    "score_eval": "{benchmark}/{model}/{run}/eval/score_eval_{split}",
    "step_reward_data": "{benchmark}/step_reward_data",
    "train_reward_model": "{benchmark}/{model}/train_reward_model",
    "score_expert_rm": "{benchmark}/{model}/score_expert_rm",
    "scorer_cost": "{benchmark}/{model}/scorer_cost",
    "step_accuracy": "{benchmark}/step_accuracy",
    "step_reward_table": "step_reward_table",
    "report": "report",
}


# The first output of each rule, as the rules name it and Plan.jobs lists a job: the job's wildcards
# are read back from it (job_wildcards) to name the job's benchmark file (Plan.job_benchmarks).
JOB_OUTPUTS = {
    "prepare_data": TRAIN,
    "select_split": DATA,
    "validation_split": VALID,
    "build_model": MODEL,
    "link_model": MODEL,
    "fetch_gguf_model": MODEL,
    "sft": SFT_POLICY,
    "score_expert": EXPERT_SCORES_SHARD,
    "gather_expert_scores": EXPERT_SCORES,
    "explore": EXPLORE,
    "score": SCORES,
    "build_pairs": PAIRS,
    "reference_logps": PAIRS_REFERENCE,
    "heldout_pairs": HELDOUT_PAIRS,
    "train": ITER_POLICY,
    "rft": ITER_POLICY,
    "evaluate": EVAL_SHARD,
    "gather_eval": EVAL,
    "score_eval": EVAL_STEP_REWARDS,
    "step_reward_data": STEP_REWARD_DATA,
    "train_reward_model": REWARD_MODEL,
    "score_expert_rm": EXPERT_SCORES_RM,
    "scorer_cost": SCORER_COST,
    "step_accuracy": STEP_ACCURACY_MD,
    "step_reward_table": STEP_REWARDS_MD,
    "report": MAIN_MD,
}


def log(rule: str) -> str:
    """The log: file pattern of a rule."""
    return f"logs/{JOB_FILES[rule]}.log"


def benchmark(rule: str) -> str:
    """The benchmark: file pattern of a rule (filled with a job's job_wildcards: its benchmark file)."""
    return f"benchmarks/{JOB_FILES[rule]}.tsv"


_RUN = r"(?:sft|(?P<method>[^/]+)/iter(?P<iteration>\d+))"
_WILDCARD = re.compile(r"\{(\w+)\}")


def _regex(pattern: str) -> re.Pattern:
    """A pattern as a regex over a path's tail: each wildcard one path segment (or part of one)."""
    out, last = [], 0
    for match in _WILDCARD.finditer(pattern):
        out.append(re.escape(pattern[last:match.start()]))
        name = match.group(1)
        if name == "run":
            out.append(_RUN)
        elif name in ("iter", "shard"):
            out.append(rf"(?P<{'iteration' if name == 'iter' else name}>\d+)")
        else:
            out.append(rf"(?P<{name}>[^/]+?)")
        last = match.end()
    out.append(re.escape(pattern[last:]))
    return re.compile("(?:^|/)" + "".join(out) + "$")


_PARSERS = {kind: _regex(pattern.removeprefix(RESULTS + "/")) for kind, pattern in PARSED.items()}
_OUTPUT_PARSERS = {rule: _regex(pattern) for rule, pattern in JOB_OUTPUTS.items()}


def _fields(match: re.Match) -> dict:
    found = {k: v for k, v in match.groupdict().items()}
    if "iteration" in found or "method" in found:
        found["method"] = found.get("method") or "sft"
        found["iteration"] = int(found.get("iteration") or 0)
    if "shard" in found:
        found["shard"] = int(found["shard"])
    return found


def parse(path: str | Path, kind: str) -> dict:
    """The wildcards of a results path of the given kind (a PARSED key); the path may carry any
    directory before the results/ tree. A run comes back as method ("sft" for the SFT policy) and
    iteration (0 for SFT). A path of another shape is a one-line ValueError."""
    match = _PARSERS[kind].search(Path(path).as_posix())
    if not match:
        raise ValueError(f"{path}: not {KIND_NAMES[kind]} path ({PARSED[kind]})")
    return _fields(match)


def job_wildcards(rule: str, output: str) -> dict:
    """The wildcards of a rule's job from its first output (JOB_OUTPUTS[rule], relative to the working
    directory), named as the rule's patterns name them ({run} and {iter}), plus method ("sft" for the
    SFT policy) and iteration where the output names a run or an iteration. An output of another shape
    is a one-line ValueError."""
    match = _OUTPUT_PARSERS[rule].match(output)
    if not match:
        raise ValueError(f"{output}: not an output of rule {rule} ({JOB_OUTPUTS[rule]})")
    found = _fields(match)
    if "iteration" in found:
        found.update(iter=found["iteration"], run=run_name(found["method"], found["iteration"]))
    return found


def run_name(method: str, iteration: int) -> str:
    """The {run} of a policy: "sft", or "<method>/iter<k>"."""
    return "sft" if method == "sft" else f"{method}/iter{iteration}"
