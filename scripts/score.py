"""Monte-Carlo step rewards of the agent's explored actions (one shard), by the fixed SFT scorer."""

from collections import defaultdict
from pathlib import Path

from ipr import scoring
from ipr.cli import rollout_parser, backend, chunk_seed, env_spec, load_tasks, run, sampling, setup
from ipr.records import ResumableWriter, config_hash, load_jsonl


def main():
    p = rollout_parser(__doc__, "scorer", sharded=False)
    p.add_argument("--explore", required=True, type=Path, help="this shard's exploration records")
    args = p.parse_args()
    settings, stage = args.settings, args.settings.stage
    seed = settings.get("seed", 0)
    setup(seed)
    explored = load_jsonl(args.explore, "explore")
    tasks_by_id = {t["task_id"]: t for t in load_tasks(args.tasks)}
    requests = scoring.agent_requests(explored, tasks_by_id, stage.get("only_candidates", True))
    by_task = defaultdict(list)
    for request in requests:
        by_task[request.task_id].append(request)
    tasks = [tasks_by_id[task_id] for task_id in sorted(by_task)]
    writer = ResumableWriter(args.out, "score")
    generator = None  # loaded only if something is left to score

    def work(chunk, chunk_no):
        nonlocal generator
        generator = generator or backend(settings, args.scorer)
        chunk_requests = [r for task in chunk for r in by_task[task["task_id"]]]
        return scoring.mc_step_rewards(generator, env_spec(settings, args.assets), tasks_by_id, chunk_requests,
                                       stage["num_samples"], sampling(settings, greedy=False),
                                       stage["batch_size"], chunk_seed(seed, chunk, "agent"),
                                       config_hash(settings))

    order = scoring.process_in_chunks(writer, tasks, lambda task: [r.id for r in by_task[task["task_id"]]],
                                      work, stage.get("chunk_tasks", 16))
    writer.finish(order)
    print(f"{len(explored)} explored steps -> {len(order)} agent actions scored")


if __name__ == "__main__":
    run(main)
