"""Expert step rewards (one shard): N scorer continuations after every expert action.

The scorer (the SFT agent) is fixed, so these are computed once per (benchmark, model) and reused
by every iteration and method. The same stage scores the agent's own test trajectories (rule score_eval).
"""

from ipr.method import scoring
from ipr.cli import RolloutStage, rollout_parser, run


def main():
    p = rollout_parser(__doc__, "scorer")
    p.add_argument("--max-tasks", type=int, help="score the first N trajectories (default: the benchmark's "
                   "explore_tasks); with an eval file as --tasks, the agent's own test trajectories (Figure 4)")
    args = p.parse_args()
    stage = RolloutStage(args, args.scorer, "score")
    max_tasks = args.max_tasks if args.max_tasks is not None else stage.settings.benchmark.explore_tasks
    tasks = stage.tasks(max_tasks)
    tasks_by_id = {t["task_id"]: t for t in tasks}

    def ids_of(task):
        return [r.id for r in scoring.expert_requests(task)]

    seed, sampling = stage.run_seed("expert"), stage.sampling(greedy=False)
    # Named as the score rule names it, so the agent's scoring finds these estimates (mc_key).
    scheme = scoring.mc_scheme(str(args.scorer), stage.env, stage.stage.num_samples, sampling, seed)
    known: dict = {}  # questions asked twice within this shard are sampled once

    def work(chunk, chunk_no):
        requests = [r for task in chunk for r in scoring.expert_requests(task)]
        return scoring.mc_step_rewards(stage.generator, stage.env, tasks_by_id, requests,
                                       stage.stage.num_samples, sampling, stage.stage.batch_size, seed,
                                       stage.config_hash, scheme=scheme, known=known)

    order = stage.run_chunks(tasks, ids_of, work)
    print(f"scored {len(order)} expert steps of {len(tasks)} tasks")


if __name__ == "__main__":
    run(main)
