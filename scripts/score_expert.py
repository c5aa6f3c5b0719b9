"""Expert step rewards (one shard): N scorer continuations after every expert action.

The scorer (the SFT agent) is fixed, so these are computed once per (benchmark, model) and reused
by every iteration and method.
"""

from ipr import scoring
from ipr.cli import (backend, chunk_seed, env_spec, load_tasks, run, sampling,
                     select_tasks, setup, rollout_parser)
from ipr.records import ResumableWriter, config_hash


def main():
    p = rollout_parser(__doc__, "scorer")
    args = p.parse_args()
    settings, stage = args.settings, args.settings.stage
    seed = settings.get("seed", 0)
    setup(seed)
    tasks = select_tasks(load_tasks(args.tasks), settings.section("benchmark").get("explore_tasks"),
                         args.shard, args.num_shards)
    tasks_by_id = {t["task_id"]: t for t in tasks}
    spec, generator = env_spec(settings, args.assets), backend(settings, args.scorer)
    writer = ResumableWriter(args.out, "score")

    def ids_of(task):
        return [r.id for r in scoring.expert_requests(task)]

    def work(chunk, chunk_no):
        requests = [r for task in chunk for r in scoring.expert_requests(task)]
        return scoring.mc_step_rewards(generator, spec, tasks_by_id, requests, stage["num_samples"],
                                       sampling(settings, greedy=False), stage["batch_size"],
                                       chunk_seed(seed, chunk, "expert"), config_hash(settings))

    order = scoring.process_in_chunks(writer, tasks, ids_of, work, stage.get("chunk_tasks", 16))
    writer.finish(order)
    print(f"scored {len(order)} expert steps of {len(tasks)} tasks")


if __name__ == "__main__":
    run(main)
