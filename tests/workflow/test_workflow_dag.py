"""Workflow-level checks: DAG shape from dry runs, config errors, --lint, snakefmt.

Every snakemake call runs with `--directory <tmp>` so nothing is written into the repository,
and with `--workflow-profile none` so a local profile cannot change the DAG.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
DAG_CONFIG = REPO / "tests" / "configs" / "dag.yaml"
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
BIN = Path(sys.executable).parent


def tool(name: str) -> str | None:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name)


SNAKEMAKE = tool("snakemake")
pytestmark = pytest.mark.skipif(SNAKEMAKE is None, reason="snakemake not installed")

# tests/configs/dag.yaml: 2 benchmarks x 2 models (one built, one linked) x 2 iterations,
# shards explore=2, score=3, evaluate=2, methods sft + ipr + eto + rft, one eval split.
B, M, I, SPLITS = 2, 2, 2, 1
EXPLORE, SCORE, EVALUATE = 2, 3, 2
ITERATED = 3  # ipr, eto, rft
RUNS = 1 + ITERATED * I  # sft + <method>/iter1..iterI, per benchmark x model
DAG_COUNTS = {
    "prepare_data": B,
    "build_model": 1,
    "link_model": 1,
    "sft": B * M,
    "score_expert": B * M * SCORE,
    "gather_expert_scores": B * M,
    # iteration 1: one exploration per kind (every prefix: ipr; task start: eto, shared with rft)
    "explore": B * M * (2 + ITERATED * (I - 1)) * EXPLORE,
    "score": B * M * I * EXPLORE,  # ipr only (step pairs); scores/S.jsonl from explore/S.jsonl
    "build_pairs": B * M * 2 * I,  # ipr, eto
    "reference_logps": B * M * 2 * I,
    "train": B * M * 2 * I,
    "rft": B * M * I,
    "evaluate": B * M * RUNS * SPLITS * EVALUATE,
    "gather_eval": B * M * RUNS * SPLITS,
    "score_eval": B * M * 3 * SPLITS,  # Figure 4: sft, eto/iter2, ipr/iter2
    "report": 1,
    "all": 1,
}

# config/config.yaml: 2 benchmarks x 1 built model x 2 iterations, shards 2/2/2, sft + eto + ipr.
DEFAULT_COUNTS = {
    "prepare_data": 2,
    "build_model": 1,
    "sft": 2,
    "score_expert": 4,
    "gather_expert_scores": 2,
    "explore": 16,
    "score": 8,
    "build_pairs": 8,
    "reference_logps": 8,
    "train": 8,
    "evaluate": 20,
    "gather_eval": 10,
    "score_eval": 6,
    "report": 1,
    "all": 1,
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "-s", str(SNAKEFILE), "--directory", str(workdir), "--workflow-profile", "none"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)


def job_counts(output: str) -> dict[str, int]:
    """The per-rule counts of the dry run's 'Job stats' table."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    counts = {}
    for line in lines[start + 3 :]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match[1]] = int(match[2])
    total = counts.pop("total")
    assert total == sum(counts.values())
    return counts


def shell_commands(output: str, script: str) -> list[list[str]]:
    """Argument lists of the printed shell commands that run scripts/<script>."""
    out = []
    for line in output.splitlines():
        if line.startswith("Shell command: ") and f"scripts/{script} " in line:
            out.append(shlex.split(line.removeprefix("Shell command: ").split(" > ")[0]))
    return out


def arg(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def args(argv: list[str], name: str) -> list[str]:
    """The values of a multi-valued option: the tokens after `name` up to the next option."""
    if name not in argv:
        return []
    values = argv[argv.index(name) + 1 :]
    return values[: next((i for i, v in enumerate(values) if v.startswith("--")), len(values))]


@pytest.fixture(scope="module")
def dag_run(tmp_path_factory) -> str:
    workdir = tmp_path_factory.mktemp("dag")
    (workdir / "external_model").mkdir()
    result = snakemake(workdir, "-n", "-p", "--configfile", str(DAG_CONFIG))
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout + result.stderr


def test_dag_job_counts(dag_run):
    assert job_counts(dag_run) == DAG_COUNTS


def test_default_config_job_counts(tmp_path):
    result = snakemake(tmp_path, "-n", "--quiet", "rules", "--configfile", str(DEFAULT_CONFIG))
    assert result.returncode == 0, result.stderr + result.stdout
    assert job_counts(result.stdout + result.stderr) == DEFAULT_COUNTS


def test_null_benchmark_in_a_later_configfile_leaves_the_run(tmp_path):
    """config/effect.yaml sets webshop to null over the default: no job of that benchmark is planned."""
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(DEFAULT_CONFIG), str(REPO / "config/effect.yaml"))
    assert result.returncode == 0, result.stderr + result.stdout
    output = result.stdout + result.stderr
    assert "results/sql_embedded/" in output and "webshop" not in output
    assert job_counts(output)["sft"] == 5  # one SFT per seed of the protocol


def test_seeds_share_one_base_model(tmp_path):
    """With `seeds`, every seed fine-tunes the same base (built once, with config["seed"]) under its
    own instance name and seed; the base model is not rebuilt per seed."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["seeds"] = [3, 4, 5]
    (tmp_path / "seeds.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(tmp_path / "seeds.yaml"), "--replace-workflow-config")
    assert result.returncode == 0, result.stderr + result.stdout
    output = result.stdout + result.stderr
    counts = job_counts(output)
    assert counts["build_model"] == 1 and counts["sft"] == 2 * 3
    [build] = shell_commands(output, "build_model.py")
    assert arg(build, "--out") == "results/models/tiny"
    assert json.loads(arg(build, "--settings"))["seed"] == config["seed"]
    seeds = set()
    for argv in shell_commands(output, "sft.py"):
        assert arg(argv, "--model-dir") == "results/models/tiny"
        seed = json.loads(arg(argv, "--settings"))["seed"]
        assert f"/tiny-seed{seed}/sft/" in arg(argv, "--out")
        seeds.add(seed)
    assert seeds == {3, 4, 5}


def test_method_grid_runs_each_point_as_a_variant(tmp_path):
    """method_settings.<m>.grid: each grid point is a method variant with the point in its train
    settings; the report gets the variants as that method's grid."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["method_settings"]["ipr"]["grid"] = {"learning_rate": [1.0e-4, 3.0e-4], "beta": [0.1, 0.5]}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(tmp_path / "grid.yaml"), "--replace-workflow-config")
    assert result.returncode == 0, result.stderr + result.stdout
    output = result.stdout + result.stderr
    assert job_counts(output)["train"] == DEFAULT_COUNTS["train"] + 3 * 2 * 2  # ipr: 4 points instead of 1
    points = set()
    for argv in shell_commands(output, "train_mixed.py"):
        settings = json.loads(arg(argv, "--settings"))
        name = settings["method"]["name"]
        if name.startswith("ipr+"):
            lr, beta = settings["train"]["learning_rate"], settings["train"]["beta"]
            assert name == f"ipr+learning_rate~{lr}_beta~{beta}" and f"/{name}/iter" in arg(argv, "--out")
            assert "grid" not in settings["method"]
            points.add((lr, beta))
        else:
            assert name == "eto"
    assert points == {(1.0e-4, 0.1), (1.0e-4, 0.5), (3.0e-4, 0.1), (3.0e-4, 0.5)}
    [report] = shell_commands(output, "report.py")
    layout = json.loads(arg(report, "--layout"))
    assert layout["methods"] == ["sft", "eto", "ipr"] and len(layout["grid"]["ipr"]) == 4


# Iteration 1 shared across methods: the default config with eto, rft and a 2-point grid of ipr.
FIRST, SECOND = "ipr+learning_rate~0.0001", "ipr+learning_rate~0.0003"
ROLLOUT_OUT = re.compile(r"results/(\w+)/tiny/([^/]+)/iter(\d+)/(explore|scores)/(\d+)\.jsonl")


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory) -> str:
    workdir = tmp_path_factory.mktemp("shared")
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["methods"] = ["sft", "eto", "rft", "ipr"]
    config["method_settings"]["ipr"]["grid"] = {"learning_rate": [1.0e-4, 3.0e-4]}
    (workdir / "shared.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workdir, "-n", "-p", "--configfile", str(workdir / "shared.yaml"), "--replace-workflow-config")
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout + result.stderr


def test_iteration1_is_explored_and_scored_once_per_kind_of_exploration(shared_run):
    """Every method's iteration 1 explores greedily from the SFT policy, so methods with equal explore
    settings (step_pairs) share one exploration, and with the same scorer one scoring: the first of them
    runs it in its own directory (eto for rft, the first grid point for the second). From iteration 2
    each method explores and scores from its own policy."""
    b, shards = 2, 2  # sql_embedded and webshop, explore shards
    explored = Counter(ROLLOUT_OUT.fullmatch(arg(argv, "--out")).group(2, 3)
                       for argv in shell_commands(shared_run, "explore.py"))
    assert explored == {(m, k): b * shards for m, k in
                        [("eto", "1"), (FIRST, "1"), ("eto", "2"), ("rft", "2"), (FIRST, "2"), (SECOND, "2")]}
    scored = Counter()
    for argv in shell_commands(shared_run, "score.py"):
        scored[ROLLOUT_OUT.fullmatch(arg(argv, "--out")).group(2, 3)] += 1
        assert arg(argv, "--explore") == arg(argv, "--out").replace("/scores/", "/explore/")
    assert scored == {(FIRST, "1"): b * shards, (FIRST, "2"): b * shards, (SECOND, "2"): b * shards}
    counts = job_counts(shared_run)
    assert (counts["explore"], counts["score"], counts["build_pairs"], counts["rft"]) == (24, 12, 12, 4)

    pairs = {(arg(a, "--benchmark"), json.loads(arg(a, "--settings"))["method"]["name"],
              re.search(r"/iter(\d+)/", arg(a, "--out"))[1]): a for a in shell_commands(shared_run, "build_pairs.py")}
    for benchmark in ("sql_embedded", "webshop"):
        for k, owner in (("1", FIRST), ("2", SECOND)):
            argv = pairs[(benchmark, SECOND, k)]
            run = f"results/{benchmark}/tiny/{owner}/iter{k}"
            assert args(argv, "--explore") == [f"{run}/explore/{s}.jsonl" for s in range(shards)]
            assert args(argv, "--scores") == [f"{run}/scores/{s}.jsonl" for s in range(shards)]
        rft = {re.search(r"/iter(\d+)/", arg(a, "--out"))[1]: args(a, "--explored")
               for a in shell_commands(shared_run, "sft.py") if arg(a, "--benchmark") == benchmark and "--explored" in a}
        assert rft == {k: [f"results/{benchmark}/tiny/{owner}/iter{k}/explore/{s}.jsonl" for s in range(shards)]
                       for k, owner in (("1", "eto"), ("2", "rft"))}


def test_explore_settings_are_equal_for_methods_that_explore_alike(shared_run):
    """The explore settings hold only what exploration reads (step_pairs, no method name): equal
    strings for methods that explore alike (iteration 2 explores per method), so the shared iteration-1
    job is the one each of them would run, and a new loss weight reruns no exploration."""
    settings = {}
    for argv in shell_commands(shared_run, "explore.py"):
        benchmark, method = ROLLOUT_OUT.fullmatch(arg(argv, "--out")).group(1, 2)
        settings.setdefault((benchmark, method.startswith("ipr")), set()).add(arg(argv, "--settings"))
    assert len(settings) == 4 and all(len(texts) == 1 for texts in settings.values())
    for benchmark in ("sql_embedded", "webshop"):
        assert settings[(benchmark, True)] != settings[(benchmark, False)]


def test_step_reward_inputs_list_shared_iteration1_once(tmp_path):
    """The step-reward study (2 iterations, a 2-point grid of ipr, ipr_rm): ipr_rm scores the first grid
    point's iteration-1 exploration with the reward model; the rules that gather every MC score file
    list the shared iteration-1 files once, and each still parses as <method>/iter<k>."""
    from ipr.studies.reward_model import scores_source

    config = yaml.safe_load((REPO / "config" / "webshop_step_rewards.yaml").read_text())
    config["models"] = {"tiny": config["models"]["tiny"]}  # one scorer keeps the expected lists short
    config["iterations"] = 2
    config["method_settings"]["ipr"]["grid"] = {"learning_rate": [1.0e-4, 3.0e-4]}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(tmp_path / "study.yaml"), "--replace-workflow-config")
    assert result.returncode == 0, result.stderr + result.stdout
    output = result.stdout + result.stderr
    run = "results/webshop/tiny/{}/iter{}".format

    rm_scored = {arg(a, "--out"): arg(a, "--explore") for a in shell_commands(output, "score_rm.py")
                 if "--explore" in a}  # not score_expert_rm
    assert rm_scored == {f"{run('ipr_rm', 1)}/scores/0.jsonl": f"{run(FIRST, 1)}/explore/0.jsonl",
                         f"{run('ipr_rm', 2)}/scores/0.jsonl": f"{run('ipr_rm', 2)}/explore/0.jsonl"}
    [rm_pairs] = [a for a in shell_commands(output, "build_pairs.py")
                  if arg(a, "--out") == f"{run('ipr_rm', 1)}/pairs.jsonl"]
    assert args(rm_pairs, "--explore") == [f"{run(FIRST, 1)}/explore/0.jsonl"]
    assert args(rm_pairs, "--scores") == [f"{run('ipr_rm', 1)}/scores/0.jsonl"]

    # MC-scored: the step-pair methods whose scorer is mc (not eto: it has no agent action to score)
    mc_runs = [run(FIRST, 1), run(FIRST, 2), run(SECOND, 2)]
    [data] = shell_commands(output, "step_reward_data.py")
    expert = "results/webshop/tiny/expert_scores.jsonl"
    assert args(data, "--scores") == [expert] + [f"{r}/scores/0.jsonl" for r in mc_runs]
    sources = [scores_source(path) for path in args(data, "--scores")]
    assert sources == [("tiny", "expert")] + [("tiny", r.split("/tiny/")[1]) for r in mc_runs]
    [accuracy] = shell_commands(output, "step_accuracy.py")
    # Every shard file by name, never a folder: a stale shard of an earlier shard count is not read.
    explored = [accuracy[i + 1 : i + 4] for i, token in enumerate(accuracy) if token == "--explore"]
    scored = [accuracy[i + 1 : i + 4] for i, token in enumerate(accuracy) if token == "--scores"]
    assert explored == [["tiny", r, f"{r}/explore/0.jsonl"] for r in mc_runs]
    assert scored == [["tiny", r, f"{r}/scores/0.jsonl"] for r in mc_runs]


def test_a_new_tau_changes_only_the_pair_settings(tmp_path):
    """Each stage's settings hold only the benchmark keys it reads, so a new tau_step (a params
    change, which reruns a job) leaves data, SFT, exploration and scoring as they are."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    settings = []
    for tau in (0.1, 0.3):
        config["benchmarks"]["sql_embedded"]["tau_step"] = tau
        path = tmp_path / f"tau{tau}.yaml"
        path.write_text(yaml.safe_dump(config))
        result = snakemake(tmp_path / f"run{tau}", "-n", "-p", "--configfile", str(path), "--replace-workflow-config")
        assert result.returncode == 0, result.stderr + result.stdout
        output = result.stdout + result.stderr
        settings.append({script: sorted(arg(argv, "--settings") for argv in shell_commands(output, script))
                         for script in ("prepare_data.py", "sft.py", "explore.py", "score.py", "evaluate.py",
                                        "build_pairs.py")})
    before, after = settings
    for script in ("prepare_data.py", "sft.py", "explore.py", "score.py", "evaluate.py"):
        assert before[script] and before[script] == after[script], script
    assert before["build_pairs.py"] != after["build_pairs.py"]


def test_iteration_chain(dag_run):
    for argv in shell_commands(dag_run, "train_mixed.py"):
        out = arg(argv, "--out")
        base, method, k = re.fullmatch(r"(results/\w+/\w+)/(ipr|eto)/iter(\d+)/policy", out).groups()
        expected = f"{base}/sft/policy" if k == "1" else f"{base}/{method}/iter{int(k) - 1}/policy"
        assert arg(argv, "--policy") == expected
        assert arg(argv, "--pairs") == f"{base}/{method}/iter{k}/pairs.reference.jsonl"
    for argv in shell_commands(dag_run, "reference_logps.py"):
        out = arg(argv, "--out")
        base, method, k = re.fullmatch(r"(results/\w+/\w+)/(ipr|eto)/iter(\d+)/pairs.reference.jsonl", out).groups()
        if method == "ipr":
            assert arg(argv, "--reference") == f"{base}/sft/policy"  # IPR: always SFT, never the previous policy
        else:  # ETO: the policy the iteration starts from
            assert arg(argv, "--reference") == (f"{base}/sft/policy" if k == "1" else f"{base}/eto/iter{int(k) - 1}/policy")
        assert arg(argv, "--pairs") == f"{base}/{method}/iter{k}/pairs.jsonl"
    for argv in shell_commands(dag_run, "explore.py"):
        out = arg(argv, "--out")
        base, method, k = re.fullmatch(r"(results/\w+/\w+)/(ipr|eto|rft)/iter(\d+)/explore/\d+\.jsonl", out).groups()
        expected = f"{base}/sft/policy" if k == "1" else f"{base}/{method}/iter{int(k) - 1}/policy"
        assert arg(argv, "--policy") == expected
    for argv in shell_commands(dag_run, "sft.py"):
        out = arg(argv, "--out")
        if out.endswith("/sft/policy"):
            assert "--explored" not in argv
            continue
        base, k = re.fullmatch(r"(results/\w+/\w+)/rft/iter(\d+)/policy", out).groups()
        assert arg(argv, "--model-dir") == "results/models/" + base.split("/")[-1]  # RFT starts from the base model
        explorer = "eto" if k == "1" else "rft"  # iteration 1: ETO's exploration (from the task start, as RFT's)
        assert argv[argv.index("--explored") + 1 : argv.index("--settings")] == [
            f"{base}/{explorer}/iter{k}/explore/{s}.jsonl" for s in range(EXPLORE)]
    for argv in shell_commands(dag_run, "build_pairs.py"):
        explore, scores = [], []
        target = None
        for token in argv:
            if token.startswith("--"):
                target = {"--explore": explore, "--scores": scores}.get(token)
            elif target is not None:
                target.append(token)
        method = json.loads(arg(argv, "--settings"))["method"]["name"]
        assert len(explore) == EXPLORE
        # ETO builds outcome pairs only: no step rewards (no score jobs, no expert scores)
        assert len(scores) == (EXPLORE if method == "ipr" else 0)
        assert ("--expert-scores" in argv) == (method == "ipr")
    corpus = shell_commands(dag_run, "build_model.py")[0]
    start = corpus.index("--corpus") + 1
    assert corpus[start : start + 2] == ["results/sql_a/data/train.jsonl", "results/sql_b/data/train.jsonl"]


def test_model_rules_get_their_chat_template_file(dag_run):
    """The built model's template defaults to chatml; the linked one gets its configured template."""
    templates = REPO / "config" / "templates"
    [build] = shell_commands(dag_run, "build_model.py")
    [link] = shell_commands(dag_run, "link_model.py")
    assert Path(arg(build, "--chat-template")) == templates / "chatml.jinja"
    assert Path(arg(link, "--chat-template")) == templates / "llama-2.jinja"


def test_settings_are_single_json_objects(dag_run):
    expected = {
        "prepare_data.py": {"seed", "benchmark"},
        "build_model.py": {"seed", "model", "envs"},
        "score_expert.py": {"seed", "score", "benchmark"},
        "explore.py": {"seed", "explore", "benchmark", "method"},
        "score.py": {"seed", "score", "benchmark"},
        "build_pairs.py": {"seed", "benchmark", "method"},
        "reference_logps.py": {"seed", "train", "benchmark", "method"},
        "train_mixed.py": {"seed", "train", "benchmark", "method"},
        "evaluate.py": {"seed", "evaluate", "benchmark"},
    }
    for script, keys in expected.items():
        commands = shell_commands(dag_run, script)
        assert commands, script
        for argv in commands:
            settings = json.loads(arg(argv, "--settings"))
            assert set(settings) == keys, script
            if "benchmark" in settings:
                assert settings["benchmark"]["name"] == arg(argv, "--benchmark")
            if script == "explore.py":  # only what exploration reads, no method name
                assert settings["method"] == {"step_pairs": "/ipr/" in arg(argv, "--out")}
            elif "method" in settings:
                assert settings["method"]["name"] in arg(argv, "--out")
                assert settings["method"]["step_pairs"] is (settings["method"]["name"] == "ipr")
            if "train" in settings and settings["method"]["name"] == "eto":
                # train overrides; later_train's from iteration 2 on
                lr = 5.0e-5 if "/iter1/" in arg(argv, "--out") else 2.0e-5
                assert (settings["train"]["beta"], settings["train"]["learning_rate"]) == (0.5, lr)
            elif "train" in settings:
                assert (settings["train"]["beta"], settings["train"]["learning_rate"]) == (0.1, 1.0e-4)
            if "model" in settings:
                assert settings["model"]["name"] == "tiny"
    for argv in shell_commands(dag_run, "sft.py"):
        settings = json.loads(arg(argv, "--settings"))
        assert set(settings) == ({"seed", "sft", "benchmark"} if "--explored" not in argv
                                 else {"seed", "sft", "benchmark", "method"})


def _broken_config(tmp_path: Path, change) -> Path:
    config = yaml.safe_load(DAG_CONFIG.read_text())
    change(config)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(config))
    (tmp_path / "external_model").mkdir(exist_ok=True)
    return path


def _set_env(config):
    config["benchmarks"]["sql_b"]["env"] = "sql_embeded"


def _set_method(config):
    config["methods"] = ["sft", "ipr", "ipr_typo"]


def _set_missing_path(config):
    config["models"]["external"]["path"] = "no/such/model"


def _set_missing_template(config):
    config["models"]["external"]["chat_template"] = "no/such.jinja"


def _set_method_without_settings(config):
    config["methods"] = ["sft", "ipr_no_sft"]


def _set_typo_key(config):
    config["shards"]["scores"] = 2


@pytest.mark.parametrize(
    "change, expected",
    [
        (_set_env, ["config['benchmarks']['sql_b']['env']", "'sql_embeded' is not one of"]),
        (_set_method, ["config['methods'][2]", "'ipr_typo' is not one of"]),
        (_set_missing_path, ["config['models']['external']['path']", "'no/such/model' does not exist"]),
        (_set_missing_template, ["config['models']['external']['chat_template']", "'no/such.jinja' is not a file"]),
        (_set_method_without_settings, ["'ipr_no_sft'", "config['method_settings']"]),
        (_set_typo_key, ["config['shards']", "'scores' was unexpected"]),
    ],
    ids=["unknown-env", "unknown-method", "missing-model-path", "missing-template", "method-without-settings", "typo-key"],
)
def test_bad_config_fails_dry_run(tmp_path, change, expected):
    result = snakemake(tmp_path, "-n", "--configfile", str(_broken_config(tmp_path, change)))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    errors = [line for line in output.splitlines() if line.startswith("Invalid config:")]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0], output
    assert "Job stats" not in output


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint", "--configfile", str(DEFAULT_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt_is_clean():
    snakefmt = tool("snakefmt")
    if snakefmt is None:
        pytest.skip("snakefmt not installed")
    result = subprocess.run([snakefmt, "--check", "."], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


INTERCODE_CONFIG = REPO / "config" / "intercode_sql.yaml"


def test_intercode_config_dry_run(tmp_path):
    result = snakemake(tmp_path, "-n", "--quiet", "rules", "--configfile", str(INTERCODE_CONFIG))
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout + result.stderr)
    assert counts["prepare_data"] == 1 and counts["train"] == 1 and counts["evaluate"] == 2


def test_intercode_bad_backend_is_one_error(tmp_path):
    config = yaml.safe_load(INTERCODE_CONFIG.read_text())
    config["benchmarks"]["intercode_sql"]["generate"]["backend"] = "postgres"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "--configfile", str(path))
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Invalid config:")]
    assert result.returncode != 0 and len(errors) == 1
    assert "config['benchmarks']['intercode_sql']['generate']['backend']" in errors[0]


ALFWORLD_REAL_CONFIG = REPO / "config" / "alfworld_real.yaml"


def test_alfworld_real_config_dry_run(tmp_path):
    result = snakemake(tmp_path, "-n", "-p", "--configfile", str(ALFWORLD_REAL_CONFIG))
    assert result.returncode == 0, result.stderr + result.stdout
    output = result.stdout + result.stderr
    counts = job_counts(output)
    assert counts["prepare_data"] == 1 and counts["select_split"] == 2 and counts["gather_eval"] == 6
    (prepare,) = shell_commands(output, "prepare_data.py")
    generate = json.loads(arg(prepare, "--settings"))["benchmark"]["generate"]
    assert generate == {"data_dir": "$ALFWORLD_DATA", "engine_python": ".venv-alfworld/bin/python", "train_games": None,
                        "test_seen_games": 140, "test_unseen_games": 134, "max_expert_steps": 20}
