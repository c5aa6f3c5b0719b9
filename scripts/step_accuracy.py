"""Accuracy of MC step rewards against WebShop's page-level scores (paper Fig. 3), per scorer model
and per N (sub-sampled from the same rollouts): a markdown table, a CSV and a plot."""

import argparse
import json
from pathlib import Path

from ipr import step_accuracy
from ipr.cli import load_tasks, run, setup
from ipr.records import InputError, atomic_path, load_jsonl
from ipr.scoring import EnvSpec


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--settings", required=True, type=json.loads)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--tasks", required=True, type=Path)
    p.add_argument("--assets", required=True, type=Path)
    p.add_argument("--scorer", action="append", nargs=2, metavar=("MODEL", "EXPERT_SCORES"), required=True,
                   help="a scorer model and its expert_scores.jsonl")
    p.add_argument("--run", action="append", nargs=3, metavar=("MODEL", "EXPLORE_DIR", "SCORES_DIR"), default=[],
                   help="an MC-scored iteration of a scorer model: its explore/ and scores/ directories (methods "
                   "that share iteration 1 share them, so the explore/ may be another method's)")
    p.add_argument("--out-md", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    p.add_argument("--figure", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    setup(settings.get("seed", 0))
    benchmark, options = settings["benchmark"], settings["step_accuracy"]
    if benchmark["env"] != "webshop":
        raise InputError(f"benchmark {args.benchmark}: page-level scores exist for WebShop only, not {benchmark['env']}")
    spec = EnvSpec(benchmark["env"], str(args.assets), int(benchmark["max_turns"]))
    tasks_by_id = {t["task_id"]: t for t in load_tasks(args.tasks)}
    expert_by_model = {model: load_jsonl(path, "score") for model, path in args.scorer}
    cands = {model: [] for model in expert_by_model}  # a scorer without MC-scored runs still gets its rows
    for model, explore_dir, scores_dir in args.run:
        if model not in expert_by_model:
            raise InputError(f"--run {model} {explore_dir} {scores_dir}: no --scorer {model} EXPERT_SCORES")
        explore = [r for f in sorted(Path(explore_dir).glob("*.jsonl")) for r in load_jsonl(f, "explore")]
        scores = [r for f in sorted(Path(scores_dir).glob("*.jsonl")) for r in load_jsonl(f, "score")]
        cands[model] += step_accuracy.candidates(spec, tasks_by_id, explore, scores, expert_by_model[model], model)
    rows = step_accuracy.accuracy_table(cands, options["num_samples"], benchmark["tau_step"], options["draws"],
                                        settings.get("seed", 0), args.benchmark)
    with atomic_path(args.out_md) as tmp:
        tmp.write_text(step_accuracy.markdown(rows, benchmark["tau_step"]))
    with atomic_path(args.out_csv) as tmp:
        tmp.write_text(step_accuracy.csv_text(rows))
    step_accuracy.figure(rows, args.figure)
    print(step_accuracy.markdown(rows, benchmark["tau_step"]))


if __name__ == "__main__":
    run(main)
