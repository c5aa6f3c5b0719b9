"""Config validation, the plan, wildcard constraints and the input functions of the rules.

What runs and where it is written lives in the library (ipr/workflow/plan.py, ipr/workflow/layout.py,
unit-tested without Snakemake); the functions here only forward the rules' wildcards to PLAN.
"""

import re
import shlex
from pathlib import Path

import jsonschema

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from ipr.workflow import layout
from ipr.workflow.code import library_digest, shell_prefix
from ipr.workflow.plan import (
    BASELINE,
    HELDOUT_SPLIT,
    PAPER_TABLES,
    Plan,
    PlanError,
    drop_removed_benchmarks,
    dump,
)


def config_error(exc):
    """One short message for a schema violation: the key path and what is wrong."""
    err = exc.__context__
    if not isinstance(err, jsonschema.exceptions.ValidationError):
        return exc
    where = "config" + "".join(f"[{p!r}]" for p in err.absolute_path)
    message = err.message
    if err.validator == "not":
        reason = err.validator_value.get("description", "a reserved value")
        message = f"{err.instance!r} is not allowed ({reason})"
    return WorkflowError(f"Invalid config: {where}: {message}")


drop_removed_benchmarks(config)
try:
    validate(config, "../config/schema.yaml")
except WorkflowError as exc:
    raise config_error(exc) from None

try:
    PLAN = Plan.from_config(config, workflow.basedir)
    PLAN.check_files()
except PlanError as exc:
    raise WorkflowError(str(exc)) from None


def alternation(names):
    """Regex matching exactly one of `names` (never matches if there are none)."""
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


wildcard_constraints:
    benchmark=alternation(PLAN.benchmarks),
    model=alternation(PLAN.models),
    method=alternation(PLAN.iter_methods),
    iter=r"\d+",
    shard=r"\d+",
    split=alternation(PLAN.all_splits),
    run="sft|(?:{})/iter\\d+".format(alternation(PLAN.iter_methods)),


def forward(name, *keys):
    """An input function: PLAN.<name>(*the wildcards `keys`)."""

    def lookup(wildcards):
        try:
            return getattr(PLAN, name)(*(getattr(wildcards, k) for k in keys))
        except PlanError as exc:
            raise WorkflowError(str(exc)) from None

    lookup.__name__ = name
    return lookup


def stage_script(name):
    """A stage script by absolute path (jobs run wherever --directory puts them); an input, so an
    edited script reruns its rule."""
    return str(Path(workflow.basedir) / "scripts" / name)


def library_code(*scripts):
    """Digest of the ipr modules stage scripts import, directly or not: a rule's params, so an edit
    of one reruns the rule (ipr.workflow.code)."""
    return library_digest([stage_script(s) for s in scripts], workflow.basedir)


# Jobs import the ipr of this checkout in any environment (conda, venv, Slurm node).
shell.prefix(shell_prefix(workflow.basedir).replace("{", "{{").replace("}", "}}"))


def score_script_name(w):
    return "score_rm.py" if PLAN.scorer_of(w.method) == "rm" else "score.py"


score_script = lambda w: stage_script(score_script_name(w))
gpus, num_shards, processes_for = PLAN.gpus, PLAN.num_shards, PLAN.processes
BUILT_MODELS, LINKED_MODELS, GGUF_MODELS = PLAN.built_models, PLAN.linked_models, PLAN.gguf_models
MIXED_METHODS, RFT_METHODS = PLAN.mixed_methods, PLAN.rft_methods

data_sources = forward("data_sources", "benchmark")
corpus_files = forward("corpus_files")
linked_model_source = forward("linked_model_source", "model")
gguf_model_source = forward("gguf_model_source", "model")
model_chat_template = forward("chat_template_file", "model")
base_model_dir = forward("model_dir", "model")
policy_for = forward("policy", "benchmark", "model", "method", "iter")
reference_for = forward("reference", "benchmark", "model", "method", "iter")
explore_shards = forward("explore_shards", "benchmark", "model", "method", "iter")
score_explore_shard = forward(
    "score_explore_shard", "benchmark", "model", "method", "iter", "shard"
)
score_known = forward("score_known", "benchmark", "model", "method", "iter", "shard")
score_shards = forward("score_shards", "benchmark", "model", "method", "iter")
pair_expert_scores = forward("pair_expert_scores", "benchmark", "model", "method")
# Static lists with the rule's wildcards left in: no function for Snakemake to call per job.
score_expert_shards = expand(
    layout.EXPERT_SCORES_SHARD, shard=PLAN.shard_ids("score"), allow_missing=True
)
eval_shards = expand(layout.EVAL_SHARD, shard=PLAN.shard_ids("evaluate"), allow_missing=True)
eval_tasks = layout.DATA
# The held-out pairs of heldout_pairs jobs come from the validation split: its experts against the SFT policy.
heldout_tasks = expand(layout.DATA, split=HELDOUT_SPLIT, allow_missing=True)
heldout_evals = expand(layout.EVAL, run=BASELINE, split=HELDOUT_SPLIT, allow_missing=True)
score_scorer = forward("score_scorer", "benchmark", "model", "method")
step_reward_score_files = forward("step_reward_score_files", "benchmark")
step_accuracy_inputs = forward("step_accuracy_inputs", "benchmark")
step_accuracy_scorers = forward("step_accuracy_scorers", "benchmark")
report_evals = lambda w: PLAN.report_inputs(PLAN.all_eval_summaries())
report_pairs = lambda w: PLAN.report_inputs(PLAN.all_pairs())
report_heldout = lambda w: PLAN.report_inputs(PLAN.all_heldout_pairs())
report_step_rewards = lambda w: PLAN.report_inputs(PLAN.all_step_rewards())
report_layout = lambda w: dump(PLAN.report_layout())
report_config = lambda w: PLAN.config_json()
final_outputs, step_reward_methods = PLAN.final_outputs, PLAN.step_reward_methods
step_reward_evals, all_reward_models = PLAN.step_reward_evals, PLAN.all_reward_models
all_scorer_costs = PLAN.all_scorer_costs


def known_scores_option(wildcards, input):
    """score's --known arguments: the earlier estimates it may reuse, or nothing."""
    return " ".join(["--known", *input.known]) if input.known else ""


def chat_template_option(wildcards, input):
    """link_model's --chat-template argument, or nothing when the model keeps its own template."""
    return f"--chat-template {shlex.quote(input.template)}" if input.template else ""


def pair_score_options(wildcards, input):
    """build_pairs' --scores/--expert-scores arguments (none when the method has no step pairs)."""
    if not input.scores:
        return ""
    return "--scores {} --expert-scores {}".format(" ".join(input.scores), input.expert_scores)


def parent_dir(wildcards, output):
    """Directory holding the first output (for scripts that take --out-dir)."""
    return str(Path(output[0]).parent)


def tables_dir(wildcards, output):
    return str(Path(output.md).parent)


def figures_dir(wildcards, output):
    return str(Path(output.rewards).parent)


def settings_for(stage):
    """A params function: the --settings JSON of a stage's job (Plan.settings)."""

    def settings(w):
        keys = ("benchmark", "model", "method", "iter")
        return dump(PLAN.settings(stage, *(w.get(k) for k in keys)))

    settings.__name__ = f"settings_{stage}"
    return settings


def step_reward_settings(stage):
    """A params function: the --settings JSON of a step-reward rule (Plan.step_reward_settings)."""

    def settings(w):
        return dump(PLAN.step_reward_settings(stage, w.benchmark))

    settings.__name__ = f"settings_{stage}"
    return settings
