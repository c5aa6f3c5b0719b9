"""Benchmark: Monte-Carlo step rewards of expert actions, the naive way against the rollout engine.

The naive way is how the reference code scores: one episode at a time, the expert prefix replayed
from reset for every step and again for every sample, one generate request per sample and turn.
The engine is the pipeline's own ``mc_step_rewards``: one replay pass per task (snapshots), the N
samples of an action branched from one snapshot and sent as one request, all live episodes stepped
in lock-step batches. Both run on the same backend object in this process, with the same per-turn
seeds, so their step rewards must agree (identical on the transformers backend).

    python scripts/benchmark_rollout.py --model results/sql_embedded/tiny/sft/policy \\
        --tasks results/sql_embedded/data/train.jsonl --assets results/sql_embedded/data/assets

Prints episodes/s, generated tokens/s, generate calls, environment steps and the share of wall time
spent outside generation for each way, then the speed-up (engine / naive). A benchmark, not a test:
nothing here asserts a time.
"""

import argparse
import json
import time
from pathlib import Path

from ipr.agent.backends import Request, Sampling, make_backend
from ipr.agent.prompts import observation_message, parse_action, with_header
from ipr.agent.rollout import Episode, RolloutStats, run_episodes
from ipr.cli import load_tasks, require_model_dir, run, setup
from ipr.scoring import EnvSpec, assistant_indices, expert_requests, mc_step_rewards

ENV_STEPS = [0]


class CountingSpec(EnvSpec):
    """Makes environments whose every ``step`` is counted (replays included)."""

    def make(self):
        env = super().make()
        step = env.step

        def counted(action):
            ENV_STEPS[0] += 1
            return step(action)

        env.step = counted
        return env


def naive_step_rewards(backend, spec, tasks, num_samples, sampling, seed, stats):
    """One episode at a time; the prefix replayed from reset for the action and for every sample."""

    def replayed(task, t):
        env = spec.make()
        env.reset(task["task"])
        for index in assistant_indices(task["messages"])[: t - 1]:
            env.step(parse_action(task["messages"][index]["content"]))
        return env

    records = []
    for task in tasks:
        for request in expert_requests(task):
            result = replayed(task, request.t).step(parse_action(request.action))
            samples = []
            if not result.done:
                prefix = task["messages"][: assistant_indices(task["messages"])[request.t - 1]]
                for k in range(num_samples):
                    env = replayed(task, request.t)
                    after = env.step(parse_action(request.action))
                    messages = [*prefix, {"role": "assistant", "content": request.action},
                                observation_message(after.observation)]
                    episode = Episode(f"{request.id}:s{k}", env, [dict(m) for m in messages])
                    run_episodes(backend, spec.name, [episode], sampling, 1, seed, progress=False, stats=stats)
                    samples.append(episode.reward)
            step_reward = sum(samples) / len(samples) if samples else float(result.reward)
            records.append({"id": request.id, "samples": samples, "step_reward": step_reward})
    return records


def timed(label, function):
    ENV_STEPS[0] = 0
    stats = RolloutStats()
    start = time.perf_counter()
    records = function(stats)
    wall = time.perf_counter() - start
    return records, {
        "way": label,
        "wall_s": round(wall, 2),
        "episodes": stats.episodes,
        "episodes_per_s": round(stats.episodes / wall, 2),
        "generated_tokens": stats.generated_tokens,
        "tokens_per_s": round(stats.generated_tokens / wall, 1),
        "generate_calls": stats.generate_calls,
        "env_steps": ENV_STEPS[0],
        "outside_generation": round(1 - stats.generate_s / wall, 4),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, type=Path, help="the scorer (an SFT policy directory)")
    p.add_argument("--tasks", required=True, type=Path, help="trajectory records (data/train.jsonl)")
    p.add_argument("--assets", required=True, type=Path)
    p.add_argument("--env", default="sql_embedded")
    p.add_argument("--max-turns", type=int, default=10)
    p.add_argument("--num-tasks", type=int, default=32)
    p.add_argument("--num-samples", type=int, default=5)
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--backend", default="transformers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    setup(args.seed)

    spec = CountingSpec(args.env, str(args.assets), args.max_turns)
    tasks = sorted(load_tasks(args.tasks), key=lambda t: t["task_id"])[: args.num_tasks]
    sampling = Sampling(args.temperature, 1.0, args.max_new_tokens)
    backend = make_backend(args.backend, require_model_dir(args.model), args.batch_size)
    # Warm-up (lazily initialised pieces, first-call allocations) before either clock starts.
    backend.generate([Request(with_header(args.env, tasks[0]["messages"][:1]))], sampling)

    requests = [r for task in tasks for r in expert_requests(task)]
    by_id = {t["task_id"]: t for t in tasks}
    naive, naive_figures = timed("naive", lambda stats: naive_step_rewards(
        backend, spec, tasks, args.num_samples, sampling, args.seed, stats))
    engine, engine_figures = timed("engine", lambda stats: mc_step_rewards(
        backend, spec, by_id, requests, args.num_samples, sampling, args.batch_size, args.seed, "bench", stats))

    same = sum(a["samples"] == b["samples"] and a["step_reward"] == b["step_reward"] for a, b in zip(naive, engine))
    gap = max(abs(a["step_reward"] - b["step_reward"]) for a, b in zip(naive, engine))
    speedup = naive_figures["wall_s"] / engine_figures["wall_s"]
    print(f"workload: {len(tasks)} tasks, {len(requests)} expert steps, N={args.num_samples}, "
          f"temperature {args.temperature}, backend {args.backend}, batch {args.batch_size}")
    print(f"{'':22s}{'naive':>12s}{'engine':>12s}")
    for key in ("wall_s", "episodes", "episodes_per_s", "generated_tokens", "tokens_per_s", "generate_calls",
                "env_steps", "outside_generation"):
        print(f"{key:22s}{naive_figures[key]:>12}{engine_figures[key]:>12}")
    print(f"identical step rewards and samples: {same}/{len(requests)} (largest step-reward gap {gap:.3f})")
    print(f"speed-up (engine / naive): {speedup:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"naive": naive_figures, "engine": engine_figures, "identical": same,
                                         "steps": len(requests), "speedup": round(speedup, 2)}, indent=1) + "\n")


if __name__ == "__main__":
    run(main)
