"""Benchmark: the cost of Monte-Carlo step rewards, the naive way against the rollout engine.

Part 1, time. Monte-Carlo step rewards of every expert action of the first tasks, three ways on
one backend object in this process, with the same per-sample seeds:
  * naive: how the reference code scores: one episode at a time, the expert prefix replayed from
    reset for the action and again for every sample, one request per sample and turn, the whole
    conversation encoded again at every turn;
  * engine, re-encoding: the pipeline's ``mc_step_rewards`` (snapshots, the N samples of an action
    one request, lock-step batches) with every turn's prompt encoded in full;
  * engine: the same, with each episode's KV cache carried from turn to turn.
All three must give identical step rewards and samples. The thread count is pinned (``--threads``,
default 1: the pipeline runs each job on one thread) and the headline is engine / naive at it.

Part 2, tokens. On each benchmark, the scorer's questions of one round, as the pipeline asks them:
the expert's actions (score_expert), then the agent's explored actions (score). Without the state
cache each job samples every question it is asked; with it a question already answered (same
state, same conversation, same scheme; ``ipr.method.scoring.mc_key``) reuses the answer. Prints generated
tokens per scored action both ways (the estimates must be identical), and the bound the issue
names: N x the turns left after the action.

    python tools/benchmark_rollout.py --quick          # builds its own small model and data
    python tools/benchmark_rollout.py --model results/sql_embedded/tiny/sft/policy \\
        --tasks results/sql_embedded/data/train.jsonl --assets results/sql_embedded/data/assets

``--quick`` generates a small embedded SQL benchmark and WebShop, builds a tiny model, fine-tunes
it briefly on both benchmarks' expert trajectories and runs both parts on it (about 3 to 5 minutes
on 2 cores). A benchmark, not a test: nothing here asserts a time; it exits non-zero only if the
ways disagree on a step reward.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from ipr.agent.backends import Request, Sampling, make_backend
from ipr.agent.prompts import with_header
from ipr.react import observation_message, parse_action
from ipr.agent.rollout import Episode, RolloutStats, run_episodes
from ipr.method.scoring import (EnvSpec, agent_requests, assistant_indices, expert_requests, explore_chunk, mc_scheme,
                         mc_step_rewards)

ENV_STEPS = [0]
QUICK_MODEL = {"vocab_size": 700, "hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2,
               "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 2048,
               "chat_template": "chatml"}
QUICK_SFT = {"epochs": 10, "learning_rate": 5.0e-3, "batch_size": 8, "warmup_ratio": 0.03, "max_length": 1536,
             "progress": False}


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


def naive_step_rewards(backend, spec, tasks, num_samples, sampling, seed, stats, scheme):
    """One episode at a time; the prefix replayed from reset for the action and for every sample.

    Each sample is seeded as the engine seeds it (from the question's name), so the two must agree.
    """
    from ipr.method.scoring import mc_key

    def replayed(task, t):
        env = spec.make()
        env.reset(task["task"])
        for index in assistant_indices(task["messages"])[: t - 1]:
            env.step(parse_action(task["messages"][index]["content"]))
        return env

    records = []
    for task in tasks:
        for request in expert_requests(task):
            before = replayed(task, request.t)
            result = before.step(parse_action(request.action))
            samples = []
            if not result.done:
                prefix = task["messages"][: assistant_indices(task["messages"])[request.t - 1]]
                messages = [*prefix, {"role": "assistant", "content": request.action},
                            observation_message(result.observation)]
                key = mc_key(scheme, before.state_key(), messages)
                for k in range(num_samples):
                    env = replayed(task, request.t)
                    env.step(parse_action(request.action))
                    episode = Episode(f"{key}:s{k}", env, [dict(m) for m in messages])
                    run_episodes(backend, spec.name, [episode], sampling, 1, seed, progress=False, stats=stats)
                    samples.append(episode.reward)
            step_reward = sum(samples) / len(samples) if samples else float(result.reward)
            records.append({"id": request.id, "samples": samples, "step_reward": step_reward})
    return records


def timed(label, function):
    ENV_STEPS[0] = 0
    stats = RolloutStats()
    start, cpu = time.perf_counter(), time.process_time()
    records = function(stats)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return records, {
        "way": label,
        "wall_s": round(wall, 2),
        # CPU seconds of this process: on shared cores, wall time includes waiting for them.
        "cpu_s": round(cpu, 2),
        "episodes": stats.episodes,
        "episodes_per_s": round(stats.episodes / wall, 2),
        "generated_tokens": stats.generated_tokens,
        "tokens_per_s": round(stats.generated_tokens / wall, 1),
        "generate_calls": stats.generate_calls,
        "env_steps": ENV_STEPS[0],
        "generate_s": round(stats.generate_s, 2),
        "outside_generation": round(1 - stats.generate_s / wall, 4),
    }


def speed(backend, env, assets, tasks, args, sampling):
    """Part 1: naive, engine re-encoding, engine; step rewards compared."""
    spec = CountingSpec(env, str(assets), args.max_turns)
    tasks = sorted(tasks, key=lambda t: t["task_id"])[: args.num_tasks]
    by_id = {t["task_id"]: t for t in tasks}
    requests = [r for task in tasks for r in expert_requests(task)]
    scheme = mc_scheme("benchmark", spec, args.num_samples, sampling, args.seed)
    backend.generate([Request(with_header(env, tasks[0]["messages"][:1]))], sampling)  # warm-up

    def engine(stats):
        return mc_step_rewards(backend, spec, by_id, requests, args.num_samples, sampling, args.batch_size,
                               args.seed, "bench", stats, scheme)

    ways = []
    for label, carry, work in (
        ("naive", False, lambda stats: naive_step_rewards(backend, spec, tasks, args.num_samples, sampling,
                                                          args.seed, stats, scheme)),
        ("engine, re-encoding", False, engine),
        ("engine", True, engine),
    ):
        backend.carry_cache = carry
        encoded = getattr(backend, "encoded_tokens", 0)
        records, figures = timed(label, work)
        figures["encoded_tokens"] = getattr(backend, "encoded_tokens", 0) - encoded
        ways.append((records, figures))
    backend.carry_cache = True
    naive = ways[0][0]
    print(f"\n== time: {env}, {len(tasks)} tasks, {len(requests)} expert steps, N={args.num_samples}, "
          f"temperature {args.temperature}, batch {args.batch_size}, torch threads {args.threads}")
    print(f"{'':22s}" + "".join(f"{f['way']:>22s}" for _, f in ways))
    for key in ("wall_s", "cpu_s", "episodes", "episodes_per_s", "generated_tokens", "tokens_per_s", "encoded_tokens",
                "generate_calls", "env_steps", "generate_s", "outside_generation"):
        print(f"{key:22s}" + "".join(f"{f[key]:>22}" for _, f in ways))
    identical = all(
        sum(a["samples"] == b["samples"] and a["step_reward"] == b["step_reward"] for a, b in zip(naive, records))
        == len(requests) for records, _ in ways[1:])
    print(f"identical step rewards and samples in all three ways: {identical} ({len(requests)} steps)")
    result = {"env": env, "tasks": len(tasks), "steps": len(requests), "threads": args.threads,
              "ways": [f for _, f in ways], "identical": identical,
              "speedup_engine": round(ways[0][1]["wall_s"] / ways[2][1]["wall_s"], 2),
              "speedup_engine_reencoding": round(ways[0][1]["wall_s"] / ways[1][1]["wall_s"], 2),
              "cpu_speedup_engine": round(ways[0][1]["cpu_s"] / ways[2][1]["cpu_s"], 2),
              "cpu_speedup_engine_reencoding": round(ways[0][1]["cpu_s"] / ways[1][1]["cpu_s"], 2)}
    print(f"speed-up at {args.threads} thread(s), wall: engine / naive {result['speedup_engine']}x "
          f"(engine re-encoding / naive {result['speedup_engine_reencoding']}x); CPU seconds: "
          f"{result['cpu_speedup_engine']}x ({result['cpu_speedup_engine_reencoding']}x)")
    return result


def tokens(backend, env, assets, tasks, args, sampling):
    """Part 2: one round's questions (expert, then agent) with and without the state cache."""
    spec = EnvSpec(env, str(assets), args.max_turns)
    tasks = sorted(tasks, key=lambda t: t["task_id"])[: args.token_tasks]
    by_id = {t["task_id"]: t for t in tasks}
    greedy = Sampling(0.0, 1.0, sampling.max_new_tokens)
    explored = explore_chunk(backend, spec, tasks, greedy, args.batch_size, args.seed, "bench")
    expert = [r for task in tasks for r in expert_requests(task)]
    scheme = mc_scheme("benchmark", spec, args.num_samples, sampling, args.seed)
    result = {"env": env, "tasks": len(tasks), "expert_actions": len(expert)}

    def job(requests, known):
        stats = RolloutStats()
        records = mc_step_rewards(backend, spec, by_id, requests, args.num_samples, sampling, args.batch_size,
                                  args.seed, "bench", stats, scheme, known)
        return records, stats

    expert_known: dict = {}
    expert_records, expert_stats = job(expert, expert_known)  # score_expert: the same either way
    for only_candidates in (False, True):
        agent = agent_requests(explored, by_id, only_candidates)
        plain, plain_stats = job(agent, {})  # score without the state cache
        reused, reused_stats = job(agent, dict(expert_known))  # score reading the expert scores
        identical = plain == reused
        records = expert_records + plain
        sampled = [r for r in records if r["samples"]]
        bound_turns = sum(args.num_samples * (args.max_turns - r["t"]) for r in sampled)
        equal_to_expert = sum(r.action == by_id[r.task_id]["messages"][assistant_indices(
            by_id[r.task_id]["messages"])[r.t - 1]]["content"] for r in agent)
        scored = len(records)
        without = expert_stats.generated_tokens + plain_stats.generated_tokens
        with_cache = expert_stats.generated_tokens + reused_stats.generated_tokens
        entry = {
            "agent_actions": len(agent), "agent_equal_to_expert_text": equal_to_expert, "scored_actions": scored,
            "tokens_without_cache": without, "tokens_with_cache": with_cache,
            "tokens_per_action_without": round(without / scored, 1),
            "tokens_per_action_with": round(with_cache / scored, 1),
            "fewer": round(1 - with_cache / without, 3) if without else 0.0,
            "turns_per_action_without": round((expert_stats.env_steps + plain_stats.env_steps) / scored, 2),
            "bound_turns_per_action": round(bound_turns / scored, 2),
            "identical": identical,
        }
        result["only_candidates" if only_candidates else "every_agent_action"] = entry
        label = "agent candidates only (pipeline default)" if only_candidates else "every agent action (paper)"
        print(f"\n== tokens: {env}, {len(tasks)} tasks, {label}: {len(expert)} expert + {len(agent)} agent actions "
              f"({equal_to_expert} agent texts equal the expert's), N={args.num_samples}, max_turns {args.max_turns}")
        print(f"generated tokens per scored action: {entry['tokens_per_action_without']} without the state cache, "
              f"{entry['tokens_per_action_with']} with it ({100 * entry['fewer']:.1f}% fewer); generated turns per "
              f"scored action {entry['turns_per_action_without']} against the bound N x turns left "
              f"{entry['bound_turns_per_action']}; identical estimates: {identical}")
    return result


def build_quick(root: Path) -> tuple[Path, dict]:
    """A small embedded SQL benchmark and WebShop, and a tiny model fine-tuned on both (a model
    already in ``root`` is reused)."""
    from ipr.envs import generate
    from ipr.training.config import SFTConfig
    from ipr.training.sft import train_sft
    from ipr.training.templates import load_template
    from ipr.training.tiny_model import build_tiny_model

    benchmarks = {
        "sql_embedded": generate("sql_embedded", root / "sql", 0, train_per_template=4, test_per_template=1),
        "webshop": generate("webshop", root / "webshop", 0, catalog="embedded", num_products=40,
                            num_train_tasks=24, num_test_tasks=4),
    }
    conversations = [with_header(env, r["messages"]) for env, splits in benchmarks.items() for r in splits["train"]]
    texts = [m["content"] for c in conversations for m in c]
    template = load_template("chatml", Path(__file__).resolve().parents[1] / "config" / "templates")
    tic = time.perf_counter()
    if (root / "model" / "config.json").exists():
        metrics = json.loads((root / "model" / "metrics.json").read_text())
    else:
        build_tiny_model(root / "base", texts, QUICK_MODEL, seed=0, chat_template=template)
        metrics = train_sft(root / "base", root / "model", conversations, SFTConfig.from_settings(QUICK_SFT), seed=0)
    losses = metrics.get("train_loss") or ["?"]
    final = losses[-1] if isinstance(losses, list) else losses
    print(f"quick model: {len(conversations)} expert trajectories, last SFT loss {final}, "
          f"built in {time.perf_counter() - tic:.0f} s")
    data = {env: (root / ("sql" if env == "sql_embedded" else "webshop"), splits["train"])
            for env, splits in benchmarks.items()}
    return root / "model", data


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="build a small model and data here; run both parts")
    p.add_argument("--quick-dir", type=Path, help="build (or reuse) the --quick model and data here, not in a "
                   "temporary directory")
    p.add_argument("--model", type=Path, help="the scorer (an SFT policy directory)")
    p.add_argument("--tasks", type=Path, help="trajectory records (data/train.jsonl)")
    p.add_argument("--assets", type=Path)
    p.add_argument("--env", default="sql_embedded")
    p.add_argument("--max-turns", type=int, default=10)
    p.add_argument("--num-tasks", type=int, help="tasks of part 1 (default 32; --quick: 8)")
    p.add_argument("--token-tasks", type=int, help="tasks of part 2 per benchmark (default 16; --quick: 12)")
    p.add_argument("--num-samples", type=int, default=5)
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the pipeline's jobs run with 1)")
    p.add_argument("--backend", default="transformers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-tokens", action="store_true", help="part 1 only")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    if not args.quick and not (args.model and args.tasks and args.assets):
        p.error("give --model, --tasks and --assets, or --quick")
    args.num_tasks = args.num_tasks or (8 if args.quick else 32)
    args.token_tasks = args.token_tasks or (12 if args.quick else 16)

    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    print(f"torch threads pinned to {torch.get_num_threads()} (cores visible: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f})")
    from ipr.cli import load_tasks, require_model_dir, setup

    setup(args.seed)
    sampling = Sampling(args.temperature, 1.0, args.max_new_tokens)
    with tempfile.TemporaryDirectory(prefix="benchmark_rollout.") as scratch:
        if args.model is None:
            model, data = build_quick(args.quick_dir or Path(scratch))
        else:
            model = require_model_dir(args.model)
            data = {args.env: (args.assets, load_tasks(args.tasks))}
        backend = make_backend(args.backend, model, args.batch_size)
        env = args.env if args.env in data else "sql_embedded"
        figures = {"speed": speed(backend, env, data[env][0], data[env][1], args, sampling)}
        if not args.skip_tokens:
            figures["tokens"] = [tokens(backend, name, assets, tasks, args, sampling)
                                 for name, (assets, tasks) in data.items()]
    ok = figures["speed"]["identical"] and all(
        t[kind]["identical"] for t in figures.get("tokens", []) for kind in ("every_agent_action", "only_candidates"))
    print(f"\nheadline ({args.threads} thread(s), the pipeline's setting when 1): engine "
          f"{figures['speed']['speedup_engine']}x the naive way, identical step rewards: {figures['speed']['identical']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    if not ok:
        sys.exit("the ways disagree on a step reward")


if __name__ == "__main__":
    main()
