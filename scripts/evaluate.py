"""Evaluation (one shard): the policy plays each task of a split greedily."""

from ipr import scoring
from ipr.cli import (backend, chunk_seed, env_spec, load_tasks, run, sampling,
                     select_tasks, setup, rollout_parser)
from ipr.evaluation import evaluate_chunk
from ipr.records import ResumableWriter, config_hash


def main():
    p = rollout_parser(__doc__, "policy")
    args = p.parse_args()
    settings, stage = args.settings, args.settings.stage
    seed = settings.get("seed", 0)
    setup(seed)
    tasks = select_tasks(load_tasks(args.tasks), None, args.shard, args.num_shards)
    spec, generator = env_spec(settings, args.assets), backend(settings, args.policy)
    writer = ResumableWriter(args.out, "trajectory")

    def work(chunk, chunk_no):
        return evaluate_chunk(generator, spec, chunk, sampling(settings, greedy=True), stage["batch_size"],
                              chunk_seed(seed, chunk, "evaluate"), config_hash(settings))

    order = scoring.process_in_chunks(writer, tasks, lambda task: [task["task_id"]], work,
                                      stage.get("chunk_tasks", 64))
    writer.finish(order)
    print(f"evaluated {len(order)} tasks")


if __name__ == "__main__":
    run(main)
