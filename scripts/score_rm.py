"""Step rewards by the learned reward model: one forward pass per action, no rollouts.

With --explore: the agent's explored actions of that shard (the same selection as the MC scorer,
scripts/score.py). Without: every expert action of the benchmark's explored train tasks.
"""

from collections import defaultdict
from pathlib import Path

from ipr.method import scoring
from ipr.cli import env_spec, load_tasks, require_model_dir, rollout_parser, run, select_tasks, setup
from ipr.records import model_digest, tree_digest
from ipr.records import ResumableWriter, claim_partial, config_hash, load_jsonl
from ipr.studies.reward_model import RewardModel, rm_step_rewards
from ipr.training.config import RewardModelConfig


def main():
    p = rollout_parser(__doc__, "scorer")
    p.add_argument("--explore", type=Path, help="this shard's exploration records (agent actions)")
    args = p.parse_args()
    settings = args.settings
    setup(settings.seed)
    claim_partial(args.out)
    scorer = require_model_dir(args.scorer)
    spec = env_spec(settings, args.assets)
    rm = RewardModelConfig.from_settings(settings.section("reward_model"), source="--settings reward_model")
    all_tasks = load_tasks(args.tasks, spec.name)
    tasks_by_id = {t["task_id"]: t for t in all_tasks}
    inputs = {"tasks": args.tasks, "assets": args.assets}
    if args.explore is not None:
        inputs["explore"] = args.explore
        explored = load_jsonl(args.explore, "explore")
        requests = scoring.agent_requests(explored, tasks_by_id, settings.rollout.only_candidates)
    else:
        tasks = select_tasks(all_tasks, settings.benchmark.explore_tasks, args.shard,
                             args.num_shards)
        requests = [r for task in tasks for r in scoring.expert_requests(task)]
    by_task = defaultdict(list)
    for request in requests:
        by_task[request.task_id].append(request)
    tasks = [tasks_by_id[task_id] for task_id in sorted(by_task)]
    source = {"settings": config_hash(settings), "seed": settings.seed,
              "shard": {"shard": args.shard, "num_shards": args.num_shards}, "model": model_digest(scorer),
              **{name: tree_digest(path) for name, path in inputs.items()}}
    writer = ResumableWriter(args.out, "score", source)
    model = RewardModel(scorer, spec.name, rm.max_length, rm.eval_batch_size)

    def work(chunk, chunk_no):
        return rm_step_rewards(model, spec, tasks_by_id, [r for t in chunk for r in by_task[t["task_id"]]],
                               config_hash(settings))

    order = scoring.process_in_chunks(writer, tasks, lambda t: [r.id for r in by_task[t["task_id"]]], work, 64)
    writer.finish(order)
    print(f"scored {len(order)} actions with the reward model")


if __name__ == "__main__":
    run(main)
