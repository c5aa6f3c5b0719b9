"""The plan of a run: what a validated config asks the workflow to do, as plain Python.

``Plan.from_config(config, basedir)`` turns the config (after the schema check) into the model
instances and seeds, the grid variants, the method taxonomy, the iteration-1 sharing rule, the shard
counts, every target list and each job's ``--settings`` JSON. rules/common.smk builds one Plan and its
input functions forward to it; nothing here imports Snakemake, so all of it is unit-tested directly
(tests/workflow/test_plan.py) and ``Plan.jobs()`` lists every job of the default target without a DAG
(``Plan.cost_jobs()``: the benchmark files of those jobs that the report's cost table reads).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shlex
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ipr.workflow import layout
from ipr.workflow.settings import BenchmarkSettings, MethodSettings, RolloutConfig

# Methods that never iterate: the SFT baseline.
BASELINE = "sft"
# The stages that are split in shards (config["shards"]).
SHARDED = ("explore", "score", "evaluate")
# Paper tables written by the report (results/tables/<table>.{md,csv,tex}).
PAPER_TABLES = ["table2", "table3", "table4", "figure4", "cost"]
TABLE_FORMATS = ["md", "csv", "tex"]

# The benchmark keys each stage reads. A job's settings (and so its params, a rerun trigger) hold only
# those: a new tau_step reruns pair construction onward, not data generation, SFT or exploration.
_ROLLOUT_KEYS = ("env", "max_turns", "max_new_tokens", "stop")
BENCHMARK_KEYS = {
    "prepare_data": ("env", "generate"),
    "sft": ("env",),
    "rft": ("env",),
    "reference_logps": ("env",),
    "heldout_pairs": ("env", "tau_outcome"),
    "train": ("env",),
    "explore": _ROLLOUT_KEYS + ("explore_tasks",),
    "score_expert": _ROLLOUT_KEYS + ("explore_tasks",),
    "score": _ROLLOUT_KEYS + ("explore_tasks",),
    "score_eval": _ROLLOUT_KEYS,  # its tasks: report.step_rewards.tasks (--max-tasks)
    "evaluate": _ROLLOUT_KEYS,
    "build_pairs": ("tau_step", "tau_outcome"),
}
# The config section each stage's --settings carries under its own name (None: no section).
SETTINGS_SECTION = {
    "prepare_data": None,
    "build_model": None,
    "sft": "sft",
    "score_expert": "score",
    "explore": "explore",
    "score": "score",
    "build_pairs": None,
    "reference_logps": "train",
    "heldout_pairs": "train",
    "train": "train",
    "rft": "sft",
    "score_eval": "score",
    "evaluate": "evaluate",
}
# The config sections of the step-reward rules' --settings (besides seed and benchmark).
STEP_REWARD_SECTIONS = {
    "step_reward_data": [],
    "train_reward_model": ["reward_model"],
    "score_expert_rm": ["score", "reward_model"],
    "scorer_cost": ["score", "reward_model"],
    "step_accuracy": ["step_accuracy"],
}
# Table 5's runs (besides sft): no step reward, the reward model, MC.
TABLE5_METHODS = ("eto", "ipr_rm", "ipr")
# The cost table's rules (cost_jobs): those whose jobs serve every method (data, base models, expert
# scores), and those of the pipeline that it attributes to a method; the step-reward study's are not in it.
SHARED_RULES = ("prepare_data", "select_split", "validation_split", "build_model", "link_model",
                "fetch_gguf_model", "score_expert", "gather_expert_scores")
METHOD_RULES = ("sft", "explore", "score", "build_pairs", "reference_logps", "train", "heldout_pairs", "rft",
                "evaluate", "gather_eval", "score_eval")
# The split whose held-out pairs measure each trained policy (ipr.method.heldout), where a benchmark
# is evaluated on it.
HELDOUT_SPLIT = "valid"


class PlanError(ValueError):
    """A config that passes the schema but cannot be run; the message is one line naming the key."""


def dump(obj, sort_keys: bool = True) -> str:
    """One-line JSON with no single quotes, safe inside '...' in a shell command."""
    return json.dumps(obj, sort_keys=sort_keys, separators=(",", ":")).replace("'", "\\u0027")


def method_family(method: str) -> str:
    """The config method of a method or of one of its grid variants."""
    return method.split("+", 1)[0]


def expand_grids(methods: list, method_settings: dict) -> dict:
    """Hyper-parameter grids -> method variants, {method: {variant: point}}.

    A method with method_settings.<m>.grid (e.g. the paper's learning rate x beta search) runs once per
    grid point as "<m>+<key>~<value>_<key>~<value>" (Paramspace's naming), with a method_settings entry
    of its own: the method's, the point merged into its train overrides. Adds those entries to
    method_settings, so every stage treats a variant as a method.
    """
    grids = {}
    for method in methods:
        if method not in method_settings or "grid" not in method_settings[method]:
            continue
        entry = method_settings[method]
        keys = list(entry["grid"])
        grids[method] = {}
        for values in itertools.product(*(entry["grid"][k] for k in keys)):
            point = dict(zip(keys, values))
            variant = "{}+{}".format(method, "_".join(f"{k}~{v}" for k, v in point.items()))
            settings = {k: v for k, v in entry.items() if k != "grid"}
            settings["train"] = {**MethodSettings.from_settings(entry, f"method_settings.{method}").train, **point}
            method_settings[variant] = settings
            grids[method][variant] = point
    return grids


@dataclass(frozen=True)
class Plan:
    """A validated config's run. ``config`` is the config as run: grid variants are method_settings
    entries and DeepSpeed config paths are absolute; treat it as read-only."""

    config: dict
    basedir: Path
    grids: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict, basedir: str | Path = ".") -> "Plan":
        """The plan of a config that passed config/schema.yaml. The config is copied, not changed.

        basedir is the workflow directory: relative DeepSpeed configs and chat templates are found
        there (the working directory may be anywhere, --directory).
        """
        basedir = Path(basedir).resolve()
        config = copy.deepcopy(dict(config))
        for section in ("sft", "train", "reward_model"):
            path = config.get(section, {}).get("deepspeed")
            if path and not Path(path).expanduser().is_absolute():
                config[section]["deepspeed"] = str(basedir / path)
        grids = expand_grids(config["methods"], config["method_settings"])
        plan = cls(config, basedir, grids)
        plan._check()
        return plan

    # ------------------------------------------------------------------ checks

    def _check(self):
        missing = [m for m in self.iter_methods if m not in self.config["method_settings"]]
        if missing:
            raise PlanError(
                "Invalid config: method(s) {} listed in config['methods'] have no entry in "
                "config['method_settings'] (every method other than sft needs "
                "outcome_weight, step_weight, sft_weight, step_pairs, outcome_pairs).".format(
                    ", ".join(repr(m) for m in missing)))
        if self.rm_methods and "reward_model" not in self.config:
            raise PlanError(
                "Invalid config: method(s) {} score with the reward model (scorer: rm) but the config has "
                "no 'reward_model' section.".format(", ".join(repr(m) for m in self.rm_methods)))

    def check_files(self):
        """The config's local files exist: model directories (source: path) and chat templates."""
        for name, entry in self.config["models"].items():
            if entry["source"] == "path" and not Path(entry["path"]).expanduser().is_dir():
                raise PlanError(
                    f"Invalid config: config['models'][{name!r}]['path'] = {entry['path']!r} does not "
                    "exist or is not a directory (source: path needs an existing local model directory).")
            template = self.chat_template_file(name)
            if template and not Path(template).is_file():
                raise PlanError(f"Invalid config: config['models'][{name!r}]['chat_template'] = "
                                f"{entry['chat_template']!r} is not a file.")

    # ------------------------------------------------------------------ what runs

    @cached_property
    def benchmarks(self) -> list:
        return list(self.config["benchmarks"])

    @cached_property
    def model_instances(self) -> dict:
        """Model wildcard values -> (config model name, seed). Without `seeds` a model runs once with
        config["seed"] under its own name; with `seeds` once per seed as <model>-seed<S>."""
        config = self.config
        if not config.get("seeds"):
            return {m: (m, int(config["seed"])) for m in config["models"]}
        return {f"{m}-seed{s}": (m, int(s)) for m in config["models"] for s in config["seeds"]}

    @cached_property
    def models(self) -> list:
        return list(self.model_instances)

    def base_model(self, model: str) -> str:
        """The config["models"] name of a model instance."""
        return self.model_instances[model][0]

    def model_seed(self, model: str) -> int:
        return self.model_instances[model][1]

    # Base models are built or linked once per config["models"] entry, with config["seed"]: like a hub
    # checkpoint, the base is fixed, and the seeds of config["seeds"] vary what is done with it.
    @cached_property
    def built_models(self) -> list:
        return [m for m, e in self.config["models"].items() if e["source"] == "build"]

    @cached_property
    def linked_models(self) -> list:
        return [m for m, e in self.config["models"].items() if e["source"] in ("path", "hub")]

    @cached_property
    def gguf_models(self) -> list:
        """Models converted from a GGUF file inside a pinned PyPI wheel (rule fetch_gguf_model)."""
        return [m for m, e in self.config["models"].items() if e["source"] == "pypi_gguf"]

    @cached_property
    def methods(self) -> list:
        """Every method the rules run: config["methods"] with each gridded method replaced by its variants."""
        return [v for m in self.config["methods"] for v in self.grids.get(m, [m])]

    @cached_property
    def iter_methods(self) -> list:
        """Methods that iterate (everything but the SFT baseline)."""
        return [m for m in self.methods if m != BASELINE]

    def method_setting(self, method: str, key: str):
        """A method_settings value, with MethodSettings' default (the schema's) for the optional keys."""
        return getattr(self.method_entries[method], key)

    @cached_property
    def method_entries(self) -> dict[str, MethodSettings]:
        """Every method_settings entry (grid variants included) as MethodSettings."""
        return {method: MethodSettings.from_settings(entry, f"method_settings.{method}")
                for method, entry in self.config["method_settings"].items()}

    @cached_property
    def mixed_methods(self) -> list:
        """Preference methods: pairs, reference log-probs and the mixed loss."""
        return [m for m in self.iter_methods if m in self.config["method_settings"]
                and self.method_setting(m, "trainer") == "mixed"]

    @cached_property
    def rft_methods(self) -> list:
        """Rejection-sampling methods (the SFT trainer on successful explorations)."""
        return [m for m in self.iter_methods if m in self.config["method_settings"]
                and self.method_setting(m, "trainer") == "sft"]

    def builds_step_pairs(self, method: str) -> bool:
        """Whether a method builds step pairs: it explores from every expert prefix, and its agent and
        expert actions get step rewards (only these methods are scored)."""
        return bool(self.config["method_settings"][method]["step_pairs"])

    def scorer_of(self, method: str) -> str:
        """A method's step-reward scorer: mc (Monte-Carlo rollouts of the SFT scorer) or rm (the learned
        reward model). method_settings[method].scorer, else rm for ipr_rm, else score.scorer (mc)."""
        own = self.method_setting(method, "scorer") if method in self.config["method_settings"] else None
        if own is not None:
            return own
        return "rm" if method_family(method) == "ipr_rm" else self.score_config.scorer

    @cached_property
    def score_config(self) -> RolloutConfig:
        """The score stage's settings, parsed once: input functions ask for its scorer once per job."""
        return RolloutConfig.from_settings(self.config["score"], "score")

    # The methods whose agent actions get step rewards (they build step pairs), by scorer. A method
    # without step pairs (eto, rft) explores from the task start only and has no agent action to score.
    @cached_property
    def mc_methods(self) -> list:
        return [m for m in self.iter_methods if self.builds_step_pairs(m) and self.scorer_of(m) == "mc"]

    @cached_property
    def rm_methods(self) -> list:
        return [m for m in self.iter_methods
                if m in self.config["method_settings"] and self.builds_step_pairs(m) and self.scorer_of(m) == "rm"]

    @cached_property
    def iterations(self) -> int:
        return int(self.config["iterations"])

    def eval_splits(self, benchmark: str) -> list:
        """Splits a benchmark is evaluated on: its own eval_splits, else config["evaluate"]["splits"]."""
        own = self.benchmark_entries[benchmark].eval_splits
        return list(own if own is not None else self.config["evaluate"]["splits"])

    @cached_property
    def benchmark_entries(self) -> dict[str, BenchmarkSettings]:
        """Every config benchmark entry as BenchmarkSettings."""
        return {name: BenchmarkSettings.from_settings(entry, f"benchmarks.{name}")
                for name, entry in self.config["benchmarks"].items()}

    @cached_property
    def all_splits(self) -> list:
        return sorted({s for b in self.benchmarks for s in self.eval_splits(b)})

    def num_shards(self, stage: str) -> int:
        return int(self.config["shards"][stage])

    def shard_ids(self, stage: str) -> list:
        """Shard indices of a sharded stage (explore, score, evaluate)."""
        return list(range(self.num_shards(stage)))

    def gpus(self, rule: str) -> int:
        """GPUs per job of a GPU rule, config["gpus"]; 0 in the embedded CPU default (on Slurm the
        profile's set-resources overrides this)."""
        return int(self.config.get("gpus", {}).get(rule, 0))

    def processes(self, stage: str) -> int:
        """Training processes per node for ipr.training.launch: config[stage]["processes"], 0 = one per GPU."""
        return int(self.config[stage].get("processes") or 0)

    def runs(self) -> list:
        """Every evaluated policy: 'sft' and '<method>/iter<k>'."""
        out = [BASELINE] if BASELINE in self.methods else []
        out += [layout.run_name(m, k) for m in self.iter_methods for k in range(1, self.iterations + 1)]
        return out

    # ------------------------------------------------------------------ models

    def chat_template_file(self, model: str):
        """The template file of a config model ([] for a linked model that keeps its own template).

        A name is config/templates/<name>.jinja, a value ending in .jinja a path (the rule of
        ipr.training.templates.template_path). Built models default to chatml. The file is a rule
        input, so editing it rebuilds or relinks the model."""
        entry = self.config["models"][model]
        template = entry.get("chat_template", "chatml" if entry["source"] == "build" else None)
        if template is None:
            return []
        if template.endswith(".jinja"):
            return str(Path(template).expanduser())
        return str(self.basedir / "config" / "templates" / f"{template}.jinja")

    def linked_model_source(self, model: str) -> str:
        """link_model's source argument: --path DIR (source path) or --hub-id ID (source hub)."""
        entry = self.config["models"][model]
        if entry["source"] == "hub":
            return f"--hub-id {shlex.quote(entry['hub_id'])}"
        return "--path " + shlex.quote(str(Path(entry["path"]).expanduser()))

    def gguf_model_source(self, model: str) -> str:
        """fetch_gguf_model's source arguments: the pinned wheel, its sha256 and the GGUF member."""
        entry = self.config["models"][model]
        return " ".join(f"--{option} {shlex.quote(entry[key])}"
                        for option, key in (("package", "package"), ("sha256", "sha256"), ("gguf-file", "gguf_file")))

    def data_sources(self, benchmark: str) -> list:
        """Local source files of a real-data importer (URLs are downloaded by the job, not tracked)."""
        source = self.config["benchmarks"][benchmark].get("generate", {}).get("source", {})
        return [s for s in source.values() if not re.match(r"^(https?|file)://", s)]

    def data_file(self, benchmark, split) -> str:
        return layout.DATA.format(benchmark=benchmark, split=split)

    def corpus_files(self) -> list:
        """The corpus of a built model: every configured benchmark's train split."""
        return [layout.TRAIN.format(benchmark=b) for b in self.benchmarks]

    def model_dir(self, model: str) -> str:
        """The base model directory of a model instance (shared by all seeds of a config model)."""
        return layout.MODEL.format(model=self.base_model(model))

    # ------------------------------------------------------------------ iterations

    def iter_dir(self, benchmark, model, method, k) -> str:
        return layout.ITER.format(benchmark=benchmark, model=model, method=method, iter=k)

    def sft_policy(self, benchmark, model) -> str:
        return layout.SFT_POLICY.format(benchmark=benchmark, model=model)

    @cached_property
    def _explore_owner(self) -> dict:
        """Iteration 1's exploring method of each method: the first (METHODS order) with equal
        explore settings."""
        key = self.explore_method_settings
        return {m: next(o for o in self.iter_methods if key(o) == key(m)) for m in self.iter_methods}

    @cached_property
    def _score_owner(self) -> dict:
        key = lambda m: (self.explore_method_settings(m), self.scorer_of(m))  # noqa: E731
        return {m: next(o for o in self.iter_methods if key(o) == key(m)) for m in self.iter_methods}

    def explore_dir(self, benchmark, model, method, k) -> str:
        """The iteration directory whose explore/ holds a method's exploration in iteration k.

        Iteration 1 of every method starts from the SFT policy (policy) and explores greedily, so
        methods with equal explore settings (explore_method_settings) explore identically there: the
        first of them explores for all (a grid's variants, ipr and ipr_rm, eto and rft). From
        iteration 2 each method explores with its own policy, in its own directory."""
        if int(k) == 1:
            method = self._explore_owner[method]
        return self.iter_dir(benchmark, model, method, k)

    def scores_dir(self, benchmark, model, method, k) -> str:
        """The iteration directory whose scores/ holds a method's step rewards in iteration k: as
        explore_dir, in iteration 1 the first method that explores alike and has the same scorer."""
        if int(k) == 1:
            method = self._score_owner[method]
        return self.iter_dir(benchmark, model, method, k)

    def explore_method_settings(self, method) -> dict:
        """The method keys exploration reads (scripts/explore.py): step_pairs, whether the policy
        explores from every expert prefix or from the task start only. No method name, so methods
        that explore alike get equal settings (see explore_dir)."""
        return {"step_pairs": self.builds_step_pairs(method)}

    def policy(self, benchmark, model, method, k) -> str:
        """The policy iteration k starts from: SFT for iteration 1 (RFT too: it trains from the base
        model but explores with SFT, which lets methods share iteration 1), else iteration k-1."""
        k = int(k)
        if k < 1:
            raise PlanError(f"Iterations are numbered from 1, got iter{k}.")
        if k == 1:
            return self.sft_policy(benchmark, model)
        return layout.ITER_POLICY.format(benchmark=benchmark, model=model, method=method, iter=k - 1)

    def reference(self, benchmark, model, method, k) -> str:
        """DPO reference of a method's iteration: the SFT policy (IPR), or the policy the iteration
        starts from (method_settings reference: policy; ETO)."""
        if self.method_setting(method, "reference") == "policy":
            return self.policy(benchmark, model, method, k)
        return self.sft_policy(benchmark, model)

    def explore_shards(self, benchmark, model, method, k) -> list:
        run_dir = self.explore_dir(benchmark, model, method, k)
        return [f"{run_dir}/explore/{s}.jsonl" for s in self.shard_ids("explore")]

    def score_explore_shard(self, benchmark, model, method, k, shard) -> str:
        """The explore shard a scores shard scores: the method's own, or in iteration 1 the shared one."""
        return f"{self.explore_dir(benchmark, model, method, k)}/explore/{shard}.jsonl"

    def score_known(self, benchmark, model, method, k, shard) -> list:
        """Earlier MC estimates by the same scorer that a score shard reuses (ipr.method.scoring.mc_key): the
        expert scores, and this shard of the method's earlier iterations (a shard number holds the same
        tasks in every iteration). The reward model scores afresh: none."""
        if self.scorer_of(method) == "rm":
            return []
        files = [self.expert_scores(benchmark, model, method)]
        for earlier in range(1, int(k)):
            files.append(f"{self.scores_dir(benchmark, model, method, earlier)}/scores/{shard}.jsonl")
        return files

    def score_shards(self, benchmark, model, method, k) -> list:
        """Scores per explore shard (iteration 1's may be another method's); none without step pairs."""
        if not self.builds_step_pairs(method):
            return []
        run_dir = self.scores_dir(benchmark, model, method, k)
        return [f"{run_dir}/scores/{s}.jsonl" for s in self.shard_ids("explore")]

    def expert_scores(self, benchmark, model, method) -> str:
        """Expert step rewards by the method's scorer (build_pairs compares them with the agent's)."""
        pattern = layout.EXPERT_SCORES_RM if self.scorer_of(method) == "rm" else layout.EXPERT_SCORES
        return pattern.format(benchmark=benchmark, model=model)

    def pair_expert_scores(self, benchmark, model, method):
        return self.expert_scores(benchmark, model, method) if self.builds_step_pairs(method) else []

    def expert_score_shards(self, benchmark, model) -> list:
        return [layout.EXPERT_SCORES_SHARD.format(benchmark=benchmark, model=model, shard=s)
                for s in self.shard_ids("score")]

    def score_scorer(self, benchmark, model, method) -> str:
        """The score rule's scorer: the SFT policy (mc) or the reward model directory (rm)."""
        if self.scorer_of(method) == "rm":
            return layout.REWARD_MODEL.format(benchmark=benchmark, model=model)
        return self.sft_policy(benchmark, model)

    def eval_shards(self, benchmark, model, run, split) -> list:
        return [layout.EVAL_SHARD.format(benchmark=benchmark, model=model, run=run, split=split, shard=s)
                for s in self.shard_ids("evaluate")]

    # ------------------------------------------------------------------ targets

    def eval_summary(self, benchmark, model, run, split) -> str:
        return layout.EVAL_SUMMARY.format(benchmark=benchmark, model=model, run=run, split=split)

    def all_eval_summaries(self) -> list:
        return [self.eval_summary(b, m, r, s) for b in self.benchmarks for m in self.models
                for r in self.runs() for s in self.eval_splits(b)]

    def all_pairs(self) -> list:
        return [layout.PAIRS.format(benchmark=b, model=m, method=method, iter=k)
                for b in self.benchmarks for m in self.models for method in self.mixed_methods
                for k in range(1, self.iterations + 1)]

    def step_reward_methods(self) -> list:
        """Figure 4's methods that run (a gridded method: each of its variants)."""
        wanted = self.config["report"]["step_rewards"]["methods"]
        return [m for m in self.methods if method_family(m) in wanted]

    def step_reward_runs(self) -> list:
        """Runs whose test trajectories are MC-scored for Figure 4: sft and the last iteration of the others."""
        if not self.config["report"]["step_rewards"]["tasks"]:
            return []
        return [layout.run_name(m, self.iterations) for m in self.step_reward_methods()]

    def all_step_rewards(self) -> list:
        return [layout.EVAL_STEP_REWARDS.format(benchmark=b, model=m, run=r, split=s)
                for b in self.benchmarks for m in self.models for r in self.step_reward_runs()
                for s in self.eval_splits(b)]

    def report_inputs(self, paths: list) -> list:
        """All configured results, or with report.partial only those that exist (the rest is marked missing)."""
        if self.config["report"]["partial"]:
            return [p for p in paths if Path(p).exists()]
        return paths

    def report_layout(self) -> dict:
        """What the config would produce, for the report to mark what is missing (ipr.report.tables.Layout)."""
        return {
            "benchmarks": {b: {"env": self.config["benchmarks"][b]["env"], "splits": self.eval_splits(b)}
                           for b in self.benchmarks},
            "models": {m: list(v) for m, v in self.model_instances.items()},
            "methods": list(self.config["methods"]),
            "grid": self.grids,
            "iterations": self.iterations,
            "gpus": self.config.get("gpus", {}),
        }

    def config_json(self) -> str:
        """The config as run for the report, which rebuilds this plan from it (Plan.cost_jobs): one
        shell-safe JSON line in the config's own key order, because a grid variant's name follows
        its grid's key order ("ipr+learning_rate~..._beta~..."), which sorted keys would change."""
        return dump(self.config, sort_keys=False)

    def report_tables(self) -> list:
        return [layout.TABLE.format(table=t, ext=e) for t in PAPER_TABLES for e in TABLE_FORMATS]

    def final_outputs(self) -> list:
        """Default targets: the report outputs (the report depends on every eval summary)."""
        return ([layout.MAIN_MD, layout.MAIN_CSV, layout.REWARDS_FIGURE, layout.FIGURE4]
                + self.report_tables() + self.step_reward_outputs())

    # ------------------------------------------------------------------ step-reward study

    def mc_runs(self, benchmark, model) -> list:
        """(explore_dir, scores_dir) of every MC-scored iteration of a model, each once: the iteration 1
        that methods share is listed once, so its records are counted once."""
        runs = [(self.explore_dir(benchmark, model, m, k), self.scores_dir(benchmark, model, m, k))
                for m in self.mc_methods for k in range(1, self.iterations + 1)]
        return list(dict.fromkeys(runs))

    def accuracy_benchmarks(self) -> list:
        """WebShop benchmarks with a step_accuracy section and MC-scored methods (page scores are WebShop's)."""
        if "step_accuracy" not in self.config or not self.mc_methods:
            return []
        return [b for b in self.benchmarks if self.config["benchmarks"][b]["env"] == "webshop"]

    def step_reward_outputs(self) -> list:
        """Targets of the step-reward study: Fig. 3 per WebShop benchmark, Table 5 when a method uses the RM."""
        out = []
        for b in self.accuracy_benchmarks():
            out += [layout.STEP_ACCURACY_MD.format(benchmark=b), layout.STEP_ACCURACY_CSV.format(benchmark=b),
                    layout.STEP_ACCURACY_FIGURE.format(benchmark=b)]
        if self.rm_methods:
            out += [layout.STEP_REWARDS_MD, layout.STEP_REWARDS_CSV]
        return out

    def step_reward_score_files(self, benchmark) -> list:
        """Every MC score file of a benchmark: each model's expert scores and its MC methods' agent scores."""
        files = []
        for model in self.models:
            files.append(layout.EXPERT_SCORES.format(benchmark=benchmark, model=model))
            for _, scored in self.mc_runs(benchmark, model):
                files += [f"{scored}/scores/{s}.jsonl" for s in self.shard_ids("explore")]
        return files

    def step_accuracy_inputs(self, benchmark) -> list:
        """step_reward_score_files and the explore shards they score."""
        explored = [f"{explore_run}/explore/{s}.jsonl" for model in self.models
                    for explore_run, _ in self.mc_runs(benchmark, model) for s in self.shard_ids("explore")]
        return self.step_reward_score_files(benchmark) + explored

    def step_accuracy_scorers(self, benchmark) -> str:
        """--scorer MODEL EXPERT_SCORES, --explore MODEL RUN FILE and --scores MODEL RUN FILE arguments
        of scripts/step_accuracy.py: every shard file by name (the same files as step_accuracy_inputs),
        so a stale shard of an earlier shard count in the folder is never read."""
        args = []
        for model in self.models:
            args.append(f"--scorer {model} {layout.EXPERT_SCORES.format(benchmark=benchmark, model=model)}")
            for explored, scored in self.mc_runs(benchmark, model):
                for s in self.shard_ids("explore"):
                    args.append(f"--explore {model} {scored} {explored}/explore/{s}.jsonl")
                    args.append(f"--scores {model} {scored} {scored}/scores/{s}.jsonl")
        return " ".join(args)

    def step_reward_evals(self) -> list:
        """Eval summaries of Table 5's runs (SFT, ETO, ipr_rm, ipr) that the config has."""
        wanted = [r for r in self.runs() if r == BASELINE or r.split("/")[0] in TABLE5_METHODS]
        return [self.eval_summary(b, m, r, s) for b in self.benchmarks for m in self.models
                for r in wanted for s in self.eval_splits(b)]

    def has_heldout_pairs(self, benchmark) -> bool:
        """Whether a benchmark's trained policies are measured on held-out pairs: where it is
        evaluated on the validation split (the SFT policy's evaluation there makes the pairs)."""
        return HELDOUT_SPLIT in self.eval_splits(benchmark)

    def all_heldout_pairs(self) -> list:
        """The held-out pair diagnostic of every trained (mixed-loss) policy, where one is made."""
        return [layout.HELDOUT_PAIRS.format(benchmark=b, model=m, method=method, iter=k)
                for b in self.benchmarks if self.has_heldout_pairs(b) for m in self.models
                for method in self.mixed_methods for k in range(1, self.iterations + 1)]

    def all_reward_models(self) -> list:
        if not self.rm_methods:
            return []
        return [layout.REWARD_MODEL.format(benchmark=b, model=m) for b in self.benchmarks for m in self.models]

    def all_scorer_costs(self) -> list:
        if not self.rm_methods:
            return []
        return [layout.SCORER_COST.format(benchmark=b, model=m) for b in self.benchmarks for m in self.models]

    # ------------------------------------------------------------------ --settings JSON

    def settings(self, stage, benchmark=None, model=None, method=None, k=None) -> dict:
        """The --settings object of a stage's job.

        Keys: "seed"; the stage's config section under its own name (SETTINGS_SECTION); "benchmark"
        (the benchmark entry's BENCHMARK_KEYS[stage] plus "name") for benchmark-dependent stages;
        "method": for explore only the keys it reads (explore_method_settings), for build_pairs,
        reference_logps, train and rft the method_settings entry plus "name", whose train overrides
        (later_train from iteration 2) replace keys of the train (rft: sft) section; "model" (the
        config["models"] entry plus "name") and "envs" (benchmark -> env) for build_model. The seed is
        the model instance's; build_model, whose output every seed shares, takes config["seed"]."""
        config = self.config
        if stage not in SETTINGS_SECTION:
            raise PlanError(f"No --settings defined for stage {stage!r}.")
        section = SETTINGS_SECTION[stage]
        out = {"seed": self.model_seed(model) if model and stage != "build_model" else config["seed"]}
        if section is not None:
            out[section] = config[section]
        if stage == "build_model":
            out["model"] = dict(config["models"][model], name=model)
            # Environment family of each benchmark, to render the corpus with the right prompt header.
            out["envs"] = {b: config["benchmarks"][b]["env"] for b in self.benchmarks}
        else:
            entry = config["benchmarks"][benchmark]
            out["benchmark"] = dict({k: entry[k] for k in BENCHMARK_KEYS[stage] if k in entry}, name=benchmark)
        if stage == "score" and self.scorer_of(method) == "rm":
            out["score"] = dict(config["score"], scorer="rm")
            out["reward_model"] = config["reward_model"]
        if stage in ("explore", "build_pairs", "reference_logps", "heldout_pairs", "train", "rft"):
            if method not in config["method_settings"]:
                raise PlanError(f"Method {method!r} has no entry in config['method_settings'].")
        if stage == "explore":
            out["method"] = self.explore_method_settings(method)
        elif stage in ("build_pairs", "reference_logps", "heldout_pairs", "train", "rft"):
            out["method"] = dict(config["method_settings"][method], name=method)
            overrides = self.method_setting(method, "train")
            if int(k) > 1:
                overrides = {**overrides, **self.method_setting(method, "later_train")}
            if overrides and stage in ("reference_logps", "heldout_pairs", "train", "rft"):
                out[section] = dict(out[section], **overrides)
        return out

    def step_reward_settings(self, stage, benchmark) -> dict:
        """The --settings of a step-reward rule: seed, the benchmark entry and the sections it needs."""
        out = {"seed": self.config["seed"],
               "benchmark": dict(self.config["benchmarks"][benchmark], name=benchmark)}
        for name in STEP_REWARD_SECTIONS[stage]:
            out[name] = self.config[name]
        return out

    # ------------------------------------------------------------------ every job

    def jobs(self) -> dict:
        """rule -> the first output of each of its jobs in the default target's DAG, from the plan
        alone (what `snakemake -n` lists; tests/workflow/test_plan.py checks the two agree)."""
        jobs: dict[str, set] = {}

        def add(rule, path):
            jobs.setdefault(rule, set()).add(path)

        for b in self.benchmarks:
            add("prepare_data", layout.TRAIN.format(benchmark=b))
            for s in self.eval_splits(b):
                if s == "valid":
                    add("validation_split", layout.VALID.format(benchmark=b))
                elif s not in ("train", "test"):
                    add("select_split", layout.DATA.format(benchmark=b, split=s))
        for model in self.config["models"]:
            rule = ("build_model" if model in self.built_models
                    else "fetch_gguf_model" if model in self.gguf_models else "link_model")
            add(rule, layout.MODEL.format(model=model))
        wanted_scorers = set()  # (benchmark, model, scorer) of expert scores that some job reads
        for b, m in itertools.product(self.benchmarks, self.models):
            w = dict(benchmark=b, model=m)
            add("sft", layout.SFT_POLICY.format(**w))
            for method, k in itertools.product(self.iter_methods, range(1, self.iterations + 1)):
                for path in self.explore_shards(b, m, method, k):
                    add("explore", path)
                for path in self.score_shards(b, m, method, k):
                    add("score", path)
                if method in self.mixed_methods:
                    add("build_pairs", layout.PAIRS.format(**w, method=method, iter=k))
                    add("reference_logps", layout.PAIRS_REFERENCE.format(**w, method=method, iter=k))
                    add("train", layout.ITER_POLICY.format(**w, method=method, iter=k))
                    if self.has_heldout_pairs(b):
                        add("heldout_pairs", layout.HELDOUT_PAIRS.format(**w, method=method, iter=k))
                    if self.builds_step_pairs(method):
                        wanted_scorers.add("expert_" + self.scorer_of(method))
                else:
                    add("rft", layout.ITER_POLICY.format(**w, method=method, iter=k))
            for run in self.runs():
                for s in self.eval_splits(b):
                    for path in self.eval_shards(b, m, run, s):
                        add("evaluate", path)
                    add("gather_eval", layout.EVAL.format(**w, run=run, split=s))
            for run in self.step_reward_runs():
                for s in self.eval_splits(b):
                    add("score_eval", layout.EVAL_STEP_REWARDS.format(**w, run=run, split=s))
        study = self.accuracy_benchmarks()
        rm_models = self.all_reward_models()
        for b, m in itertools.product(self.benchmarks, self.models):
            w = dict(benchmark=b, model=m)
            if "expert_mc" in wanted_scorers or b in study:
                add("gather_expert_scores", layout.EXPERT_SCORES.format(**w))
                for path in self.expert_score_shards(b, m):
                    add("score_expert", path)
            if rm_models:
                add("train_reward_model", layout.REWARD_MODEL.format(**w))
                add("scorer_cost", layout.SCORER_COST.format(**w))
                if "expert_rm" in wanted_scorers:
                    add("score_expert_rm", layout.EXPERT_SCORES_RM.format(**w))
        if rm_models:
            for b in self.benchmarks:
                add("step_reward_data", layout.STEP_REWARD_DATA.format(benchmark=b))
                if "expert_mc" not in wanted_scorers:  # the RM's training data reads the MC expert scores
                    for m in self.models:
                        add("gather_expert_scores", layout.EXPERT_SCORES.format(benchmark=b, model=m))
                        for path in self.expert_score_shards(b, m):
                            add("score_expert", path)
            add("step_reward_table", layout.STEP_REWARDS_MD)
        for b in study:
            add("step_accuracy", layout.STEP_ACCURACY_MD.format(benchmark=b))
        add("report", layout.MAIN_MD)
        add("all", "all")
        return {rule: sorted(paths) for rule, paths in jobs.items()}

    def job_counts(self) -> dict:
        return {rule: len(paths) for rule, paths in self.jobs().items()}

    def job_benchmarks(self) -> list[tuple[str, dict, str]]:
        """(rule, wildcards, benchmark file) of every job of jobs() but the target rule: the wildcards
        read back from the job's first output (layout.job_wildcards) fill the rule's benchmark: pattern,
        as Snakemake fills it (tests/workflow/test_plan.py checks them against `snakemake -n`)."""
        out = []
        for rule, outputs in self.jobs().items():
            if rule == "all":
                continue
            for output in outputs:
                wildcards = layout.job_wildcards(rule, output)
                out.append((rule, wildcards, layout.benchmark(rule).format(**wildcards)))
        return out

    def cost_jobs(self) -> list[tuple[str, str, str]]:
        """(method, rule, benchmark file) of every job the cost table counts, and of no other job: a
        SHARED_RULES job under "shared", a METHOD_RULES job under the method of its run or iteration
        directory ("sft" for the SFT policy; iteration 1's shared explore and score jobs under the
        method that runs them). The report reads exactly these files, so a file left by an earlier
        run with other settings (another shard count, method or iteration count) is never counted."""
        return [("shared" if rule in SHARED_RULES else wildcards.get("method", BASELINE), rule, path)
                for rule, wildcards, path in self.job_benchmarks() if rule in SHARED_RULES + METHOD_RULES]


# ---------------------------------------------------------------------- configs outside Snakemake


def merge(base: dict, update: dict) -> dict:
    """Config files merged as Snakemake merges --configfile arguments: nested mappings key by key,
    anything else replaced by the later file's value."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def drop_removed_benchmarks(config: dict) -> None:
    """Takes out of `config` (in place) each benchmark whose entry is null.

    Config files are merged in order, so a later file cannot delete an earlier file's benchmark; it
    sets it to null instead (`benchmarks: {webshop: null}` over the default runs sql_embedded alone).
    Called before schema validation, which knows benchmarks as objects only.
    """
    benchmarks = config.get("benchmarks")
    if isinstance(benchmarks, dict):
        for name in [name for name, entry in benchmarks.items() if entry is None]:
            del benchmarks[name]


def load_config(paths, schema_path) -> dict:
    """Config files merged in order and validated against the schema with its defaults filled in,
    as rules/common.smk sees them (snakemake.utils.validate with set_default)."""
    import jsonschema
    import yaml

    config: dict = {}
    for path in paths:
        merge(config, yaml.safe_load(Path(path).read_text()) or {})
    drop_removed_benchmarks(config)
    schema = yaml.safe_load(Path(schema_path).read_text())
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        for name, sub in properties.items():
            if isinstance(instance, dict) and "default" in sub:
                instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    validator = jsonschema.validators.extend(base, {"properties": set_defaults})
    validator(schema).validate(config)
    return config
