"""The rollout engine: many episodes stepped in lock-step through one backend.

Each turn, the prompts of all live episodes go to the backend in one ``generate`` call; every
reply is parsed and stepped in its own environment; finished episodes retire and waiting ones
take their places, so the batch stays full. Exploration, Monte-Carlo scoring and evaluation all
run through :func:`run_episodes`.

Each episode asks the backend to keep its encoded conversation after every turn and resumes from it
at the next, so a backend that can (the transformers backend) encodes only what a turn adds; the
state is released when the episode ends. The N samples of a group start from one encoded prompt.

Episodes that share a ``group`` start from one state with one prompt (the N Monte-Carlo samples
after an action): their first turn is one request with ``n = len(group)``, so a backend with prefix
caching encodes the shared prefix once. Each turn's seed comes from the run seed, the episode's key
and the turn, never from batch composition, so on the transformers backend results do not depend on
the batch size, on which episodes share a batch, on grouping, or on how tasks are split into shards.
"""

from __future__ import annotations

import itertools
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from itertools import groupby

from tqdm.auto import tqdm

from ipr.agent.backends import GenerationBackend, Request, Sampling
from ipr.agent.prompts import with_header
from ipr.react import observation_message, parse_action
from ipr.envs.base import Env

__all__ = ["Episode", "Sampling", "RolloutStats", "run_episodes", "key_seed"]


@dataclass
class Episode:
    """One episode: its environment (already reset or restored) and the messages so far."""

    key: str
    env: Env
    messages: list[dict]
    start: int = -1  # index in ``messages`` where this rollout's own turns begin
    group: str | None = None  # episodes of one group share their start state and first prompt
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


@dataclass
class RolloutStats:
    episodes: int = 0
    requests: int = 0
    generate_calls: int = 0
    env_steps: int = 0
    generated_tokens: int = 0
    generate_s: float = 0.0
    wall_s: float = 0.0


_RUNS = itertools.count()  # names kept backend states apart across calls sharing one backend


def key_seed(seed: int, key: str) -> int:
    return zlib.crc32(f"{seed}:{key}".encode())


def run_episodes(
    backend: GenerationBackend,
    env_name: str,
    episodes: list[Episode],
    sampling: Sampling,
    batch_size: int,
    seed: int = 0,
    desc: str = "rollouts",
    progress: bool = True,
    stats: RolloutStats | None = None,
) -> list[Episode]:
    """Play every episode to its end; return them (same objects, same order).

    Consecutive episodes with the same ``group`` are admitted together and their first turn is one
    request; ``batch_size`` bounds the live episodes (a group is never split, so it may overshoot).
    """
    stats = stats if stats is not None else RolloutStats()
    started = time.perf_counter()
    tokens_before = backend.generated_tokens
    units = deque(list(members) for group, members in groupby(episodes, key=lambda e: e.group or id(e)))
    run = next(_RUNS)
    session = {id(e): f"run{run}:{n}" for n, e in enumerate(episodes)}  # the backend's name for its state
    release = getattr(backend, "release", None)
    live: list[Episode] = []
    bar = tqdm(total=len(episodes), desc=desc, unit="ep", disable=not progress, mininterval=2.0)
    while units or live:
        while units and len(live) < batch_size:
            live.extend(units.popleft())
        requests, owners = [], []
        for _, members in groupby(live, key=lambda e: e.group if e.group and e.turns == 0 else id(e)):
            members = list(members)
            seeds = tuple(key_seed(seed, f"{e.key}:turn{e.turns}") for e in members)
            resume = session[id(members[0])] if members[0].turns else None
            requests.append(Request(with_header(env_name, members[0].messages), seeds, resume,
                                    tuple(session[id(e)] for e in members)))
            owners.append(members)
        tic = time.perf_counter()
        replies = backend.generate(requests, sampling)
        stats.generate_s += time.perf_counter() - tic
        stats.generate_calls += 1
        stats.requests += len(requests)
        still_live = []
        for members, texts in zip(owners, replies):
            for k, episode in enumerate(members):
                if not texts:  # no room left in the model's context: the episode ends unsolved
                    episode.done, episode.meta["context_exhausted"] = True, True
                    episode.env.close()
                    bar.update(1)
                    if release:
                        release([session[id(episode)]])
                    continue
                text = texts[k]
                episode.messages.append({"role": "assistant", "content": text})
                episode.turns += 1
                result = episode.env.step(parse_action(text))
                stats.env_steps += 1
                if result.done:
                    episode.done, episode.reward, episode.success = True, float(result.reward), bool(result.success)
                    episode.env.close()
                    bar.update(1)
                    if release:
                        release([session[id(episode)]])
                else:
                    episode.messages.append(observation_message(result.observation))
                    still_live.append(episode)
        live = still_live
        elapsed = time.perf_counter() - started
        bar.set_postfix_str(f"{(backend.generated_tokens - tokens_before) / max(elapsed, 1e-9):.0f} tok/s", refresh=False)
    bar.close()
    if release:
        release(session.values())
    stats.episodes += len(episodes)
    stats.generated_tokens += backend.generated_tokens - tokens_before
    stats.wall_s += time.perf_counter() - started
    return episodes
