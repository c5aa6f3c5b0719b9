"""Cost of the two step-reward scorers on the same actions: MC (N scorer rollouts per action) and the
learned reward model (one forward pass per action). Every expert action of the first --tasks-limit
explored train tasks is scored by both; CPU-seconds (all threads of this process) and wall-seconds
per 1,000 scored actions go to --out (JSON). Model loading is timed apart and left out of the rates.
"""

import time
from pathlib import Path

from ipr.method import scoring
from ipr.cli import backend, env_spec, load_tasks, require_model_dir, rollout_parser, run, sampling, select_tasks, setup
from ipr.records import config_hash, write_json
from ipr.studies.reward_model import RewardModel, rm_step_rewards
from ipr.training.config import RewardModelConfig


def timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    value = fn()
    return value, time.process_time() - cpu, time.perf_counter() - wall


def rates(actions: int, cpu: float, wall: float, load_cpu: float, load_wall: float, **extra) -> dict:
    return {"actions": actions, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "cpu_s_per_1000": round(1000 * cpu / actions, 2), "wall_s_per_1000": round(1000 * wall / actions, 2),
            "load_cpu_s": round(load_cpu, 3), "load_wall_s": round(load_wall, 3), **extra}


def main():
    p = rollout_parser(__doc__, "scorer", sharded=False)
    p.add_argument("--reward-model", required=True, type=Path)
    p.add_argument("--tasks-limit", type=int, default=8)
    args = p.parse_args()
    settings = args.settings
    seed = settings.seed
    setup(seed)
    import torch

    spec = env_spec(settings, args.assets)
    stage = settings.rollout
    rm = RewardModelConfig.from_settings(settings.section("reward_model"), source="--settings reward_model")
    tasks = select_tasks(load_tasks(args.tasks), settings.benchmark.explore_tasks, 0, 1)
    tasks = tasks[: args.tasks_limit]
    tasks_by_id = {t["task_id"]: t for t in tasks}
    requests = [r for task in tasks for r in scoring.expert_requests(task)]
    digest = config_hash(settings)

    generator, mc_load_cpu, mc_load_wall = timed(lambda: backend(settings, require_model_dir(args.scorer)))
    mc_records, mc_cpu, mc_wall = timed(lambda: scoring.mc_step_rewards(
        generator, spec, tasks_by_id, requests, stage.num_samples, sampling(settings, greedy=False),
        stage.batch_size, seed, digest))
    del generator
    model, rm_load_cpu, rm_load_wall = timed(lambda: RewardModel(require_model_dir(args.reward_model), spec.name,
                                                                 rm.max_length, rm.eval_batch_size))
    _, rm_cpu, rm_wall = timed(lambda: rm_step_rewards(model, spec, tasks_by_id, requests, digest))
    rollouts = sum(len(r["samples"]) for r in mc_records)
    result = {
        "tasks": len(tasks),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "mc": rates(len(requests), mc_cpu, mc_wall, mc_load_cpu, mc_load_wall, num_samples=stage.num_samples,
                    rollouts=rollouts, backend=stage.backend),
        "rm": rates(len(requests), rm_cpu, rm_wall, rm_load_cpu, rm_load_wall),
    }
    result["mc_over_rm_cpu"] = round(mc_cpu / rm_cpu, 1) if rm_cpu else None
    write_json(args.out, result)
    print(result)


if __name__ == "__main__":
    run(main)
