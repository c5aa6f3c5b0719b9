"""Exploration (one shard): from every expert prefix, the policy acts greedily and finishes the episode."""

from ipr import scoring
from ipr.cli import RolloutStage, rollout_parser, run


def main():
    args = rollout_parser(__doc__, "policy").parse_args()
    stage = RolloutStage(args, args.policy, "explore")
    tasks = stage.tasks(stage.settings.section("benchmark").get("explore_tasks"))

    def work(chunk, chunk_no):
        return scoring.explore_chunk(stage.generator, stage.env, chunk, stage.sampling(greedy=True),
                                     stage.stage["batch_size"], stage.run_seed("explore"),
                                     stage.config_hash)

    order = stage.run_chunks(tasks, scoring.explore_ids, work, chunk_tasks=16)
    print(f"explored {len(tasks)} tasks -> {len(order)} records")


if __name__ == "__main__":
    run(main)
