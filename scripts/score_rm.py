"""Step rewards by the learned reward model: one forward pass per action, no rollouts.

With --explore: the agent's explored actions of that shard (the same selection as the MC scorer,
scripts/score.py). Without: every expert action of the benchmark's explored train tasks.
"""

from collections import defaultdict
from pathlib import Path

from ipr import scoring
from ipr.cli import env_spec, load_tasks, require_model_dir, rollout_parser, run, select_tasks, setup
from ipr.records import ResumableWriter, config_hash, load_jsonl
from ipr.reward_model import RewardModel, rm_step_rewards


def main():
    p = rollout_parser(__doc__, "scorer")
    p.add_argument("--explore", type=Path, help="this shard's exploration records (agent actions)")
    args = p.parse_args()
    settings = args.settings
    setup(settings.get("seed", 0))
    spec = env_spec(settings, args.assets)
    rm = settings.section("reward_model")
    all_tasks = load_tasks(args.tasks)
    tasks_by_id = {t["task_id"]: t for t in all_tasks}
    if args.explore is not None:
        explored = load_jsonl(args.explore, "explore")
        requests = scoring.agent_requests(explored, tasks_by_id, settings.stage.get("only_candidates", True))
    else:
        tasks = select_tasks(all_tasks, settings.section("benchmark").get("explore_tasks"), args.shard,
                             args.num_shards)
        requests = [r for task in tasks for r in scoring.expert_requests(task)]
    by_task = defaultdict(list)
    for request in requests:
        by_task[request.task_id].append(request)
    tasks = [tasks_by_id[task_id] for task_id in sorted(by_task)]
    writer = ResumableWriter(args.out, "score")
    model = RewardModel(require_model_dir(args.scorer), spec.name, rm.get("max_length"),
                        int(rm.get("eval_batch_size", 16)))

    def work(chunk, chunk_no):
        return rm_step_rewards(model, spec, tasks_by_id, [r for t in chunk for r in by_task[t["task_id"]]],
                               config_hash(settings))

    order = scoring.process_in_chunks(writer, tasks, lambda t: [r.id for r in by_task[t["task_id"]]], work, 64)
    writer.finish(order)
    print(f"scored {len(order)} actions with the reward model")


if __name__ == "__main__":
    run(main)
