"""Evaluation: the policy plays every task of a split greedily; average reward and success rate."""

from __future__ import annotations

from ipr.agent.backends import GenerationBackend
from ipr.agent.rollout import Episode, Sampling, run_episodes
from ipr.method.scoring import EnvSpec


def evaluate_chunk(
    backend: GenerationBackend,
    spec: EnvSpec,
    tasks: list[dict],
    sampling: Sampling,
    batch_size: int,
    seed: int,
    config_hash: str,
) -> list[dict]:
    episodes = []
    for task in tasks:
        env = spec.make()
        first = env.reset(task["task"])
        episodes.append(Episode(key=task["task_id"], env=env, messages=[{"role": "user", "content": first}],
                                start=0, meta={"task": task}))
    run_episodes(backend, spec.name, episodes, sampling, batch_size, seed, desc="evaluate")
    return [
        {
            "id": ep.key,
            "benchmark": ep.meta["task"]["benchmark"],
            "task_id": ep.key,
            "split": ep.meta["task"]["split"],
            "task": ep.meta["task"]["task"],
            "messages": ep.messages,
            "reward": ep.reward,
            "success": ep.success,
            "steps": ep.turns,
            "config_hash": config_hash,
        }
        for ep in episodes
    ]


def summarize(records: list[dict]) -> dict:
    n = len(records)
    return {
        "n": n,
        "reward": sum(r["reward"] for r in records) / n if n else 0.0,
        "success_rate": sum(r["success"] for r in records) / n if n else 0.0,
        "mean_steps": sum(r["steps"] for r in records) / n if n else 0.0,
    }
