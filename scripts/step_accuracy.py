"""Accuracy of MC step rewards against WebShop's page-level scores (paper Fig. 3), per scorer model
and per N (sub-sampled from the same rollouts): a markdown table, a CSV and a plot."""

from pathlib import Path

from ipr.studies import step_accuracy
from ipr.cli import load_tasks, parser, run, setup
from ipr.records import InputError, atomic_path, load_jsonl
from ipr.method.scoring import EnvSpec


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--tasks", required=True, type=Path)
    p.add_argument("--assets", required=True, type=Path)
    p.add_argument("--scorer", action="append", nargs=2, metavar=("MODEL", "EXPERT_SCORES"), required=True,
                   help="a scorer model and its expert_scores.jsonl")
    p.add_argument("--explore", action="append", nargs=3, metavar=("MODEL", "RUN", "FILE"), default=[],
                   help="an explore shard of an MC-scored iteration RUN (a label) of a scorer model (methods "
                   "that share iteration 1 share it, so it may be another method's)")
    p.add_argument("--scores", action="append", nargs=3, metavar=("MODEL", "RUN", "FILE"), default=[],
                   help="an agent score shard of that iteration: every file is named, none is globbed, so a "
                   "stale shard of an earlier shard count is never read")
    p.add_argument("--out-md", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--figure", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    setup(settings.seed)
    benchmark, options = settings.benchmark, settings.section("step_accuracy")
    if benchmark.require_env() != "webshop":
        raise InputError(f"benchmark {args.benchmark}: page-level scores exist for WebShop only, not {benchmark.env}")
    spec = EnvSpec(benchmark.env, str(args.assets), benchmark.max_turns)
    tasks_by_id = {t["task_id"]: t for t in load_tasks(args.tasks)}
    expert_by_model = {model: load_jsonl(path, "score") for model, path in args.scorer}
    cands = {model: [] for model in expert_by_model}  # a scorer without MC-scored runs still gets its rows
    files: dict[tuple[str, str], dict[str, list[str]]] = {}  # (model, run) -> explore / scores files
    for option, entries in (("explore", args.explore), ("scores", args.scores)):
        for model, run_label, path in entries:
            if model not in expert_by_model:
                raise InputError(f"--{option} {model} {run_label} {path}: no --scorer {model} EXPERT_SCORES")
            files.setdefault((model, run_label), {"explore": [], "scores": []})[option].append(path)
    for (model, run_label), run_files in files.items():
        if not run_files["explore"] or not run_files["scores"]:
            raise InputError(f"run {model} {run_label}: needs both --explore and --scores files")
        explore = [r for f in run_files["explore"] for r in load_jsonl(f, "explore")]
        scores = [r for f in run_files["scores"] for r in load_jsonl(f, "score")]
        cands[model] += step_accuracy.candidates(spec, tasks_by_id, explore, scores, expert_by_model[model], model)
    rows = step_accuracy.accuracy_table(cands, options["num_samples"], benchmark.tau_step, options["draws"],
                                        settings.seed, args.benchmark)
    with atomic_path(args.out_md) as tmp:
        tmp.write_text(step_accuracy.markdown(rows, benchmark.tau_step))
    with atomic_path(args.out_csv) as tmp:
        tmp.write_text(step_accuracy.csv_text(rows))
    step_accuracy.figure(rows, args.figure)
    print(step_accuracy.markdown(rows, benchmark.tau_step))


if __name__ == "__main__":
    run(main)
