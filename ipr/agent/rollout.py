"""The rollout engine: many episodes stepped in lock-step through one backend.

Each turn, the prompts of all live episodes go to the backend in one ``generate`` call; every
reply is parsed and stepped in its own environment; finished episodes retire and waiting ones
take their places, so the batch stays full. Exploration, Monte-Carlo scoring and evaluation all
run through :func:`run_episodes`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from ipr.agent.backends import GenerationBackend
from ipr.agent.prompts import observation_message, parse_action, with_header
from ipr.envs.base import Env


@dataclass
class Episode:
    """One episode: its environment (already reset or restored) and the messages so far."""

    key: str
    env: Env
    messages: list[dict]
    start: int = -1  # index in ``messages`` where this rollout's own turns begin
    reward: float = 0.0
    success: bool = False
    done: bool = False
    turns: int = 0  # turns taken in this rollout
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.start < 0:
            self.start = len(self.messages)

    @property
    def continuation(self) -> list[dict]:
        return self.messages[self.start :]


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 128


def run_episodes(
    backend: GenerationBackend,
    env_name: str,
    episodes: list[Episode],
    sampling: Sampling,
    batch_size: int,
    seed: int = 0,
    desc: str = "rollouts",
    progress: bool = True,
) -> list[Episode]:
    """Play every episode to its end; return them (same objects, same order)."""
    waiting = deque(episodes)
    live: list[Episode] = []
    bar = tqdm(total=len(episodes), desc=desc, unit="ep", disable=not progress, mininterval=2.0)
    turn = 0
    while waiting or live:
        while waiting and len(live) < batch_size:
            live.append(waiting.popleft())
        prompts = [with_header(env_name, ep.messages) for ep in live]
        replies = backend.generate(
            prompts,
            n=1,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_new_tokens=sampling.max_new_tokens,
            seed=seed * 7919 + turn,
        )
        still_live = []
        for episode, reply in zip(live, replies):
            if not reply:  # no room left in the model's context: the episode ends unsolved
                episode.done, episode.meta["context_exhausted"] = True, True
                bar.update(1)
                continue
            text = reply[0]
            episode.messages.append({"role": "assistant", "content": text})
            episode.turns += 1
            result = episode.env.step(parse_action(text))
            if result.done:
                episode.done, episode.reward, episode.success = True, float(result.reward), bool(result.success)
                bar.update(1)
            else:
                episode.messages.append(observation_message(result.observation))
                still_live.append(episode)
        live = still_live
        turn += 1
    bar.close()
    return episodes
