"""The plan (ipr/workflow/plan.py) and the results layout (ipr/workflow/layout.py), without Snakemake.

Job lists come from Plan.jobs() and are compared with the dry-run job lists stored in
tests/fixtures/dry_run/ (tools/dry_run_jobs.py writes them from `snakemake -n -p`): what the plan says
runs is what Snakemake plans. test_dry_run_fixture below checks the stored lists against real dry runs.
"""

import importlib.util
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ipr.workflow import layout
from ipr.workflow.plan import METHOD_RULES, SHARED_RULES, Plan, PlanError, load_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "config/schema.yaml"
_spec = importlib.util.spec_from_file_location("dry_run_jobs", ROOT / "tools/dry_run_jobs.py")
dry_run_jobs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dry_run_jobs)
FIXTURES = dry_run_jobs.FIXTURES


def plan_of(*configfiles, **overrides) -> Plan:
    config = load_config([ROOT / c for c in configfiles], SCHEMA)
    config.update(overrides)
    return Plan.from_config(config, ROOT)


def test_plan_imports_without_snakemake():
    code = "import sys, ipr.workflow.plan, ipr.workflow.layout; sys.exit('snakemake' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def expected_counts(plan: Plan) -> dict:
    """Jobs per rule by formula: iteration 1 is explored once per step_pairs value and scored once per
    scorer (the methods share it), later iterations once per method."""
    b, m, iters = len(plan.benchmarks), len(plan.models), plan.iterations
    iter_methods, mixed = plan.iter_methods, plan.mixed_methods
    scored = [x for x in iter_methods if plan.builds_step_pairs(x)]
    explorations = len({plan.builds_step_pairs(x) for x in iter_methods}) + len(iter_methods) * (iters - 1)
    scorings = len({plan.scorer_of(x) for x in scored}) + len(scored) * (iters - 1)
    runs = ("sft" in plan.methods) + len(iter_methods) * iters
    splits = sum(len(plan.eval_splits(x)) for x in plan.benchmarks)
    shards = plan.config["shards"]
    finer = {s for x in plan.benchmarks for s in plan.eval_splits(x) if s.startswith("test_")}
    counts = {
        "prepare_data": b, "select_split": len(finer), "link_model": len(plan.linked_models),
        "build_model": len(plan.built_models), "sft": b * m, "score_expert": b * m * shards["score"],
        "gather_expert_scores": b * m, "explore": b * m * explorations * shards["explore"],
        "score": b * m * scorings * shards["explore"], "build_pairs": b * m * len(mixed) * iters,
        "reference_logps": b * m * len(mixed) * iters, "train": b * m * len(mixed) * iters,
        "rft": b * m * len(plan.rft_methods) * iters, "evaluate": m * runs * splits * shards["evaluate"],
        "gather_eval": m * runs * splits, "score_eval": m * len(plan.step_reward_runs()) * splits,
        "report": 1, "all": 1,
    }
    return {rule: n for rule, n in counts.items() if n}


def test_paper_job_counts():
    """config/paper.yaml: 3 benchmarks (ALFWorld seen + unseen) x 6 hub models (the paper's 4, plus
    Qwen2.5-7B-Instruct and Llama-3.1-8B-Instruct) x 7 methods x 5 iterations."""
    plan = plan_of("config/paper.yaml")
    assert plan.benchmarks == ["webshop", "intercode_sql", "alfworld"]
    assert plan.methods == ["sft", "eto", "rft", "ipr", "ipr_no_odpo", "ipr_no_sdpo", "ipr_no_sft"]
    counts = plan.job_counts()
    assert counts == expected_counts(plan)
    assert len(plan.models) == 6 and sum(counts.values()) == 11041
    assert counts["train"] == 3 * 6 * 5 * 5 and counts["rft"] == 3 * 6 * 5
    # iteration 1: 2 explorations (eto; ipr) and 1 scoring (ipr) of 8 shards instead of 6 and 3
    assert counts["explore"] == 3 * 6 * (2 + 6 * 4) * 8 and counts["score"] == 3 * 6 * (1 + 3 * 4) * 8


def test_paper_grid_job_counts():
    plan = plan_of("config/paper.yaml", "config/paper_grid.yaml")
    assert len(plan.grids["ipr"]) == 6 and "ipr+learning_rate~5e-07_beta~0.1" in plan.methods
    assert sum(plan.job_counts().values()) == 21271
    assert plan.job_counts() == expected_counts(plan)


@pytest.mark.parametrize("name", list(FIXTURES))
def test_jobs_match_stored_dry_run(name):
    """Every job of the stored `snakemake -n` list, and no other, is in Plan.jobs()."""
    stored = dry_run_jobs.jobs_by_rule(dry_run_jobs.read(dry_run_jobs.FIXTURE_DIR / f"{name}.txt.gz"))
    assert plan_of(*FIXTURES[name]).jobs() == stored


@pytest.mark.parametrize("name", list(FIXTURES))
def test_job_benchmarks_match_stored_dry_run(name):
    """Each planned job's benchmark file is the one Snakemake names, and the plan that scripts/report.py
    rebuilds from the report command's --config-json names exactly the cost rules' files (grid variants
    included: their names follow the grid's key order, which the JSON keeps)."""
    text = dry_run_jobs.read(dry_run_jobs.FIXTURE_DIR / f"{name}.txt.gz")
    stored = dry_run_jobs.benchmarks_by_rule(text)
    planned = {}
    for rule, _, path in plan_of(*FIXTURES[name]).job_benchmarks():
        planned.setdefault(rule, []).append(path)
    assert {rule: sorted(paths) for rule, paths in planned.items()} == stored
    [report] = [line for line in text.splitlines() if line.startswith("Shell command: python <ROOT>/scripts/report.py")]
    argv = shlex.split(report.removeprefix("Shell command: "))
    rebuilt = Plan.from_config(json.loads(argv[argv.index("--config-json") + 1]), ROOT)
    cost_files = [path for rule in SHARED_RULES + METHOD_RULES for path in stored.get(rule, [])]
    assert sorted(path for _, _, path in rebuilt.cost_jobs()) == sorted(cost_files)


def test_cost_jobs_name_method_and_stage():
    """Shared stages under "shared", the SFT policy under sft, the rest under the method whose run or
    iteration directory the job writes; nothing of the step-reward study."""
    config = load_config([ROOT / "config/config.yaml", ROOT / "config/webshop_step_rewards.yaml"], SCHEMA)
    config.update(iterations=2, shards={"explore": 2, "score": 2, "evaluate": 2})
    config["report"]["step_rewards"]["tasks"] = 2
    plan = Plan.from_config(config, ROOT)
    jobs = plan.cost_jobs()
    assert len(jobs) == len(set(jobs))
    for job in [("shared", "build_model", "benchmarks/models/tiny/build_model.tsv"),
                ("shared", "prepare_data", "benchmarks/webshop/prepare_data.tsv"),
                ("shared", "score_expert", "benchmarks/webshop/tiny/expert_scores/0.tsv"),
                ("sft", "sft", "benchmarks/webshop/tiny/sft/sft.tsv"),
                ("ipr", "score", "benchmarks/webshop/tiny/ipr/iter1/scores/0.tsv"),
                ("ipr_rm", "score", "benchmarks/webshop/tiny/ipr_rm/iter1/scores/0.tsv"),
                ("eto", "explore", "benchmarks/webshop/tiny/eto/iter2/explore/1.tsv"),
                ("eto", "reference_logps", "benchmarks/webshop/tiny/eto/iter1/reference_logps.tsv"),
                ("sft", "evaluate", "benchmarks/webshop/tiny/sft/eval/test/0.tsv"),
                ("ipr", "gather_eval", "benchmarks/webshop/tiny/ipr/iter1/eval/gather_test.tsv"),
                ("ipr", "score_eval", "benchmarks/webshop/tiny/ipr/iter2/eval/score_eval_test.tsv")]:
        assert job in jobs, job
    assert {rule for _, rule, _ in jobs} <= set(SHARED_RULES + METHOD_RULES)
    assert "train_reward_model" in plan.jobs() and not any(r == "train_reward_model" for _, r, _ in jobs)
    # iteration 1 is explored once for the methods that explore alike: under the first of them
    assert not any(path.endswith("ipr_rm/iter1/explore/0.tsv") for _, _, path in jobs)


def test_iteration_one_is_shared():
    plan = plan_of("config/paper.yaml")
    # ipr and its ablations explore alike (step pairs) and score alike (MC): ipr's directory serves them
    assert plan.explore_dir("webshop", "mistral-7b", "ipr_no_sft", 1) == "results/webshop/mistral-7b/ipr/iter1"
    assert plan.scores_dir("webshop", "mistral-7b", "ipr_no_odpo", 1) == "results/webshop/mistral-7b/ipr/iter1"
    # eto, rft and ipr_no_sdpo explore from the task start only: eto's directory serves them
    assert plan.explore_dir("webshop", "mistral-7b", "rft", 1) == "results/webshop/mistral-7b/eto/iter1"
    assert plan.explore_dir("webshop", "mistral-7b", "ipr_no_sdpo", 1) == "results/webshop/mistral-7b/eto/iter1"
    assert plan.explore_dir("webshop", "mistral-7b", "rft", 2) == "results/webshop/mistral-7b/rft/iter2"
    assert plan.score_shards("webshop", "mistral-7b", "eto", 1) == []
    assert plan.policy("webshop", "mistral-7b", "ipr", 1) == "results/webshop/mistral-7b/sft/policy"
    assert plan.policy("webshop", "mistral-7b", "ipr", 3) == "results/webshop/mistral-7b/ipr/iter2/policy"
    assert plan.reference("webshop", "mistral-7b", "eto", 3) == "results/webshop/mistral-7b/eto/iter2/policy"
    with pytest.raises(PlanError, match="numbered from 1"):
        plan.policy("webshop", "mistral-7b", "ipr", 0)


def test_grid_variant_settings():
    plan = plan_of("config/paper.yaml", "config/paper_grid.yaml")
    variant = "ipr+learning_rate~1e-06_beta~0.5"
    train = plan.settings("train", "webshop", "llama-2-7b", variant, 1)
    assert train["train"]["learning_rate"] == 1e-06 and train["train"]["beta"] == 0.5
    assert train["method"]["name"] == variant and train["benchmark"] == {"env": "webshop", "name": "webshop"}
    assert train["train"]["deepspeed"] == str(ROOT / "config/deepspeed/zero3.json")
    explore = plan.settings("explore", "webshop", "llama-2-7b", variant, 1)
    assert explore["method"] == {"step_pairs": True}  # no name: the variants share iteration 1
    assert plan.report_layout()["grid"]["ipr"][variant] == {"learning_rate": 1e-06, "beta": 0.5}


def test_seeds_make_instances():
    plan = plan_of("config/config.yaml", seeds=[1, 2])
    assert plan.models == ["tiny-seed1", "tiny-seed2"]
    assert plan.settings("sft", "webshop", "tiny-seed2")["seed"] == 2
    assert plan.model_dir("tiny-seed2") == "results/models/tiny"


def test_null_benchmark_leaves_the_run():
    config = load_config([ROOT / "config/config.yaml", ROOT / "config/effect_search.yaml"], SCHEMA)
    assert list(config["benchmarks"]) == ["sql_embedded"]
    plan = Plan.from_config(config, ROOT)
    assert plan.models == ["tiny-seed0"]
    assert plan.corpus_files() == ["results/sql_embedded/data/train.jsonl"]
    assert {variant.split("+")[0] for variant in plan.iter_methods} == {"eto", "ipr"}
    assert len(plan.iter_methods) == 24


def test_config_is_not_changed():
    config = load_config([ROOT / "config/paper.yaml", ROOT / "config/paper_grid.yaml"], SCHEMA)
    before = repr(config)
    Plan.from_config(config, ROOT)
    assert repr(config) == before


def test_one_line_errors(tmp_path):
    config = load_config([ROOT / "config/config.yaml"], SCHEMA)
    config["methods"] = ["sft", "nope"]
    with pytest.raises(PlanError, match=r"method\(s\) 'nope' .* no entry in config\['method_settings'\]"):
        Plan.from_config(config, ROOT)
    config = load_config([ROOT / "config/config.yaml"], SCHEMA)
    config["models"]["tiny"]["chat_template"] = str(tmp_path / "missing.jinja")
    with pytest.raises(PlanError, match=r"config\['models'\]\['tiny'\]\['chat_template'\] = .* is not a file"):
        Plan.from_config(config, ROOT).check_files()


def test_layout_parse_round_trip():
    values = {"benchmark": "webshop", "model": "llama-3-8b", "split": "test_seen", "iter": 3}
    for kind, pattern in layout.PARSED.items():
        runs = ("sft", "ipr+learning_rate~1e-06_beta~0.5/iter3") if "{run}" in pattern else ("-/iter3",)
        for run in runs:
            method = "sft" if run == "sft" else "ipr+learning_rate~1e-06_beta~0.5"
            path = "/some/where/" + pattern.format(**values, run=run, method=method)
            found = layout.parse(path, kind)
            assert found["benchmark"] == "webshop" and found["model"] == "llama-3-8b"
            if "{run}" in pattern or "{method}" in pattern:
                assert (found["method"], found["iteration"]) == (method, 0 if run == "sft" else 3)
    with pytest.raises(ValueError, match="not an eval summary path"):
        layout.parse("results/webshop/tiny/eval.json", "eval_summary")


def test_layout_job_wildcards_of_every_rule():
    assert set(layout.JOB_OUTPUTS) == set(layout.JOB_FILES)
    for run, method, iteration in (("ipr+learning_rate~1e-06_beta~0.5/iter2", "ipr+learning_rate~1e-06_beta~0.5", 2),
                                   ("sft", "sft", 0)):
        values = {"benchmark": "sql", "model": "tiny-seed1", "method": method, "iter": iteration, "run": run,
                  "split": "test_seen", "shard": 1}
        for rule, pattern in layout.JOB_OUTPUTS.items():
            if "{iter}" in pattern and run == "sft":
                continue
            found = layout.job_wildcards(rule, pattern.format(**values))
            names = set(layout._WILDCARD.findall(pattern))
            assert {k: found[k] for k in names} == {k: values[k] for k in names}, rule
            if names & {"run", "iter", "method"}:
                assert (found["method"], found["iteration"]) == (method, iteration)
    with pytest.raises(ValueError, match="not an output of rule explore"):
        layout.job_wildcards("explore", "results/sql/tiny/ipr/iter1/explore/a.jsonl")


def test_rules_write_no_results_literal():
    for smk in (ROOT / "rules").glob("*.smk"):
        assert '"results/' not in smk.read_text(), smk
    assert len((ROOT / "rules/common.smk").read_text().splitlines()) <= 200


@pytest.mark.parametrize("name", ["config", pytest.param("paper", marks=pytest.mark.slow)])
def test_dry_run_fixture(name):
    """A real `snakemake -n -p` gives the stored job list: rules, files, params and shell commands."""
    assert dry_run_jobs.main(["--fixture", name, "--check"]) == 0
