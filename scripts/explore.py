"""Exploration (one shard): from every expert prefix, the policy acts greedily and finishes the episode."""

from ipr import scoring
from ipr.cli import (backend, chunk_seed, env_spec, load_tasks, run, sampling,
                     select_tasks, setup, rollout_parser)
from ipr.records import ResumableWriter, config_hash


def main():
    p = rollout_parser(__doc__, "policy")
    args = p.parse_args()
    settings, stage = args.settings, args.settings.stage
    seed = settings.get("seed", 0)
    setup(seed)
    tasks = select_tasks(load_tasks(args.tasks), settings.section("benchmark").get("explore_tasks"),
                         args.shard, args.num_shards)
    spec, generator = env_spec(settings, args.assets), backend(settings, args.policy)
    writer = ResumableWriter(args.out, "explore")

    def work(chunk, chunk_no):
        return scoring.explore_chunk(generator, spec, chunk, sampling(settings, greedy=True),
                                     stage["batch_size"], chunk_seed(seed, chunk, "explore"),
                                     config_hash(settings))

    order = scoring.process_in_chunks(writer, tasks, scoring.explore_ids, work, stage.get("chunk_tasks", 16))
    writer.finish(order)
    print(f"explored {len(tasks)} tasks -> {len(order)} records")


if __name__ == "__main__":
    run(main)
