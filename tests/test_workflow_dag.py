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
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
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
    "explore": B * M * ITERATED * I * EXPLORE,
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
        assert argv[argv.index("--explored") + 1 : argv.index("--settings")] == [
            f"{base}/rft/iter{k}/explore/{s}.jsonl" for s in range(EXPLORE)]
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
