"""Evaluation (one shard): the policy plays each task of a split greedily."""

from ipr.cli import RolloutStage, rollout_parser, run
from ipr.method.evaluation import evaluate_chunk


def main():
    args = rollout_parser(__doc__, "policy").parse_args()
    stage = RolloutStage(args, args.policy, "trajectory")

    def work(chunk, chunk_no):
        return evaluate_chunk(stage.generator, stage.env, chunk, stage.sampling(greedy=True),
                              stage.stage.batch_size, stage.run_seed("evaluate"), stage.config_hash)

    order = stage.run_chunks(stage.tasks(), lambda task: [task["task_id"]], work, chunk_tasks=64)
    print(f"evaluated {len(order)} tasks")


if __name__ == "__main__":
    run(main)
