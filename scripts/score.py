"""Monte-Carlo step rewards of the agent's explored actions (one shard), by the fixed SFT scorer."""

from collections import defaultdict
from pathlib import Path

from ipr.method import scoring
from ipr.cli import RolloutStage, rollout_parser, run
from ipr.records import load_jsonl


def main():
    p = rollout_parser(__doc__, "scorer", sharded=False)
    p.add_argument("--explore", required=True, type=Path, help="this shard's exploration records")
    p.add_argument("--known", nargs="*", type=Path, default=[],
                   help="earlier score files of the same scorer (expert scores, earlier iterations): "
                   "an action already scored there reuses its estimate")
    args = p.parse_args()
    stage = RolloutStage(args, args.scorer, "score", inputs={"explore": args.explore})
    explored = load_jsonl(args.explore, "explore")
    tasks_by_id = {t["task_id"]: t for t in stage.all_tasks()}
    requests = scoring.agent_requests(explored, tasks_by_id, stage.stage.only_candidates)
    by_task = defaultdict(list)
    for request in requests:
        by_task[request.task_id].append(request)
    tasks = [tasks_by_id[task_id] for task_id in sorted(by_task)]

    # The expert's scorer seed: an agent action equal to the expert's is the same question.
    seed, sampling = stage.run_seed("expert"), stage.sampling(greedy=False)
    scheme = scoring.mc_scheme(str(args.scorer), stage.env, stage.stage.num_samples, sampling, seed)
    known = scoring.known_estimates(args.known)
    reused_before = len(known)

    def work(chunk, chunk_no):
        chunk_requests = [r for task in chunk for r in by_task[task["task_id"]]]
        return scoring.mc_step_rewards(stage.generator, stage.env, tasks_by_id, chunk_requests,
                                       stage.stage.num_samples, sampling, stage.stage.batch_size, seed,
                                       stage.config_hash, scheme=scheme, known=known)

    order = stage.run_chunks(tasks, lambda task: [r.id for r in by_task[task["task_id"]]], work)
    print(f"{len(explored)} explored steps -> {len(order)} agent actions scored "
          f"({reused_before} known estimates read, {len(known) - reused_before} new questions sampled)")


if __name__ == "__main__":
    run(main)
