"""Build step and outcome preference pairs for one iteration from exploration and MC scores."""

from pathlib import Path

from ipr.cli import load_tasks, parser, run, setup
from ipr.method.pairs import build_pairs
from ipr.records import load_jsonl, write_jsonl


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--tasks", required=True, type=Path)
    p.add_argument("--explore", nargs="+", required=True, type=Path)
    p.add_argument("--scores", nargs="*", default=[], type=Path, help="agent step rewards (step pairs only)")
    p.add_argument("--expert-scores", type=Path, help="expert step rewards (step pairs only)")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    setup(settings.seed)
    benchmark, method = settings.benchmark, settings.method
    explored = [r for path in args.explore for r in load_jsonl(path, "explore")]
    agent_scores = [r for path in args.scores for r in load_jsonl(path, "score")]
    step_pairs = method.step_pairs
    if step_pairs and not (args.scores and args.expert_scores):
        raise SystemExit("error: step pairs need --scores and --expert-scores")
    pairs = build_pairs(
        {t["task_id"]: t for t in load_tasks(args.tasks)},
        explored,
        agent_scores,
        load_jsonl(args.expert_scores, "score") if args.expert_scores else [],
        tau_step=benchmark.tau_step,
        tau_outcome=method.tau_outcome if method.tau_outcome is not None else benchmark.tau_outcome,
        step_pairs=step_pairs,
        outcome_pairs=method.outcome_pairs,
    )
    write_jsonl(args.out, pairs, "pair")
    kinds = {k: sum(p["kind"] == k for p in pairs) for k in ("step", "outcome")}
    print(f"{len(explored)} explored steps, {len(agent_scores)} scored -> pairs {kinds}")


if __name__ == "__main__":
    run(main)
