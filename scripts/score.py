"""Monte-Carlo step rewards of the agent's explored actions (one shard), by the fixed SFT scorer."""

from collections import defaultdict
from pathlib import Path

from ipr import scoring
from ipr.cli import RolloutStage, rollout_parser, run
from ipr.records import load_jsonl


def main():
    p = rollout_parser(__doc__, "scorer", sharded=False)
    p.add_argument("--explore", required=True, type=Path, help="this shard's exploration records")
    args = p.parse_args()
    stage = RolloutStage(args, args.scorer, "score", inputs={"explore": args.explore})
    explored = load_jsonl(args.explore, "explore")
    tasks_by_id = {t["task_id"]: t for t in stage.all_tasks()}
    requests = scoring.agent_requests(explored, tasks_by_id, stage.stage.get("only_candidates", True))
    by_task = defaultdict(list)
    for request in requests:
        by_task[request.task_id].append(request)
    tasks = [tasks_by_id[task_id] for task_id in sorted(by_task)]

    def work(chunk, chunk_no):
        chunk_requests = [r for task in chunk for r in by_task[task["task_id"]]]
        return scoring.mc_step_rewards(stage.generator, stage.env, tasks_by_id, chunk_requests,
                                       stage.stage["num_samples"], stage.sampling(greedy=False),
                                       stage.stage["batch_size"], stage.run_seed("agent"),
                                       stage.config_hash)

    order = stage.run_chunks(tasks, lambda task: [r.id for r in by_task[task["task_id"]]], work, chunk_tasks=16)
    print(f"{len(explored)} explored steps -> {len(order)} agent actions scored")


if __name__ == "__main__":
    run(main)
