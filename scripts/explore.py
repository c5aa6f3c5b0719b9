"""Exploration (one shard): from every expert prefix, the policy acts greedily and finishes the episode.

Methods without step pairs (ETO, RFT, ipr_no_sdpo) explore from the task start only: t = 1, the
agent's whole trajectory."""

from ipr.method import scoring
from ipr.cli import RolloutStage, rollout_parser, run


def main():
    args = rollout_parser(__doc__, "policy").parse_args()
    stage = RolloutStage(args, args.policy, "explore")
    tasks = stage.tasks(stage.settings.benchmark.explore_tasks)
    max_t = None if "method" not in stage.settings or stage.settings.method.step_pairs else 1

    def ids_of(task):
        return scoring.explore_ids(task, max_t)

    def work(chunk, chunk_no):
        return scoring.explore_chunk(stage.generator, stage.env, chunk, stage.sampling(greedy=True),
                                     stage.stage.batch_size, stage.run_seed("explore"),
                                     stage.config_hash, max_t=max_t)

    order = stage.run_chunks(tasks, ids_of, work)
    print(f"explored {len(tasks)} tasks -> {len(order)} records")


if __name__ == "__main__":
    run(main)
