"""Exploration along expert prefixes and Monte-Carlo step rewards (paper Eq. 3-5).

States after each expert prefix come from ONE replay pass per task (snapshots), not a replay
from reset for every step; the N Monte-Carlo continuations after an action branch from one
snapshot. Work is done in fixed chunks of tasks written through a :class:`ResumableWriter`, so a
killed shard resumes where it stopped and ends with exactly the records of an uninterrupted run.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ipr.agent.backends import GenerationBackend
from ipr.react import observation_message, parse_action
from ipr.agent.rollout import Episode, RolloutStats, Sampling, run_episodes
from ipr.envs import make_env
from ipr.records import InputError, ResumableWriter


@dataclass(frozen=True)
class EnvSpec:
    name: str
    assets_dir: str
    max_turns: int

    def make(self):
        return make_env(self.name, self.assets_dir, self.max_turns)


@dataclass
class ExpertState:
    t: int  # 1-based expert step
    prefix: int  # number of trajectory messages before expert action a_t
    snapshot: Any  # env state before a_t


def assistant_indices(messages: list[dict]) -> list[int]:
    return [i for i, m in enumerate(messages) if m["role"] == "assistant"]


def expert_states(spec: EnvSpec, task: dict) -> list[ExpertState]:
    """Replay the expert once; snapshot the state before every expert action."""
    env = spec.make()
    env.reset(task["task"])
    states = []
    expert_steps = assistant_indices(task["messages"])
    for t, index in enumerate(expert_steps, start=1):
        states.append(ExpertState(t, index, env.snapshot()))
        result = env.step(parse_action(task["messages"][index]["content"]))
        if result.done:
            break
    env.close()
    if len(states) < len(expert_steps):
        # A horizon shorter than the expert leaves prefixes no agent could ever be scored from.
        raise InputError(f"task {task['task_id']}: the expert takes {len(expert_steps)} steps but the episode "
                         f"ends after {len(states)} (benchmark max_turns is {spec.max_turns}); raise max_turns")
    return states


def branch(spec: EnvSpec, snapshot: Any):
    env = spec.make()
    env.restore(copy.deepcopy(snapshot))
    return env


def chunked(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def process_in_chunks(
    writer: ResumableWriter,
    tasks: list[dict],
    ids_of: Callable[[dict], list[str]],
    work: Callable[[list[dict], int], list[dict]],
    chunk_tasks: int,
) -> list[str]:
    """Run ``work(chunk, chunk_no)`` on every chunk not already complete; return all ids in order."""
    order: list[str] = []
    for chunk_no, chunk in enumerate(chunked(tasks, chunk_tasks)):
        ids = [i for task in chunk for i in ids_of(task)]
        order.extend(ids)
        if set(ids) <= writer.done:
            continue
        for record in work(chunk, chunk_no):
            writer.write(record)
    return order


# --------------------------------------------------------------------------- exploration


def explore_ids(task: dict, max_t: int | None = None) -> list[str]:
    steps = len(assistant_indices(task["messages"]))
    return [f"{task['task_id']}:t{t}" for t in range(1, (steps if max_t is None else min(steps, max_t)) + 1)]


def explore_chunk(
    backend: GenerationBackend,
    spec: EnvSpec,
    tasks: list[dict],
    sampling: Sampling,
    batch_size: int,
    seed: int,
    config_hash: str,
    max_t: int | None = None,
) -> list[dict]:
    """From every expert prefix of every task (the first ``max_t`` ones if given; 1 = from the task
    start only, as ETO explores), let the policy act and finish the episode."""
    episodes = []
    for task in tasks:
        states = expert_states(spec, task)
        for state in states if max_t is None else states[:max_t]:
            episodes.append(
                Episode(
                    key=f"{task['task_id']}:t{state.t}",
                    env=branch(spec, state.snapshot),
                    messages=copy.deepcopy(task["messages"][: state.prefix]),
                    meta={"task_id": task["task_id"], "t": state.t, "prefix": state.prefix},
                )
            )
    run_episodes(backend, spec.name, episodes, sampling, batch_size, seed, desc="explore")
    return [
        {
            "id": ep.key,
            "task_id": ep.meta["task_id"],
            "t": ep.meta["t"],
            "prefix": ep.meta["prefix"],
            "agent_action": ep.continuation[0]["content"] if ep.continuation else "",
            "continuation": ep.continuation,
            "outcome_reward": ep.reward,
            "config_hash": config_hash,
        }
        for ep in episodes
    ]


# --------------------------------------------------------------------------- Monte-Carlo scoring


@dataclass
class ScoreRequest:
    task_id: str
    t: int
    who: str  # "agent" | "expert"
    action: str  # the full assistant turn whose step reward is wanted

    @property
    def id(self) -> str:
        return f"{self.task_id}:t{self.t}:{self.who}"


def mc_scheme(scorer: str, env: EnvSpec, num_samples: int, sampling: Sampling, seed: int) -> str:
    """Everything besides the state and the action that an MC estimate depends on: equal schemes,
    equal estimates for equal questions (the scorer is named by its path: it is fixed per model)."""
    return json.dumps([scorer, env.name, env.max_turns, num_samples, sampling.temperature, sampling.top_p,
                       sampling.max_new_tokens, list(sampling.stop), seed])


def mc_key(scheme: str, state_key: str, prompt: list[dict]) -> str:
    """The name of one Monte-Carlo question: the environment state after the action and the
    conversation the scorer continues (the same state reached by another conversation is another
    question: the scorer reads the conversation)."""
    text = json.dumps([scheme, state_key, prompt], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def mc_step_rewards(
    backend: GenerationBackend,
    spec: EnvSpec,
    tasks_by_id: dict[str, dict],
    requests: list[ScoreRequest],
    num_samples: int,
    sampling: Sampling,
    batch_size: int,
    seed: int,
    config_hash: str,
    stats: RolloutStats | None = None,
    scheme: str | None = None,
    known: dict[str, dict] | None = None,
) -> list[dict]:
    """Step reward of each requested action: the mean outcome of N scorer continuations after it.

    An action that ends the episode (the last step) is scored by its own outcome reward.

    Every question asked of the scorer is named by :func:`mc_key` (recorded as ``mc_key``), and its
    N samples are seeded from that name, not from the request: an estimate is a function of the
    scheme, the state and the conversation only. So a question asked twice is sampled once (the
    agent's action equal to the expert's; the same action in a later iteration), and an estimate
    found in ``known`` (mc_key -> an earlier score record of the same ``scheme``, which this call
    extends with its own answers) is reused: the records equal those computed without any reuse.
    ``scheme`` defaults to one without the scorer's name, for callers that reuse nothing.
    """
    scheme = scheme if scheme is not None else mc_scheme("", spec, num_samples, sampling, seed)
    known = known if known is not None else {}
    states: dict[str, list[ExpertState]] = {}
    episodes: list[Episode] = []
    finished: dict[str, dict] = {}
    asked: dict[str, list[dict]] = {}  # mc_key -> the records waiting for its samples
    for request in requests:
        task = tasks_by_id[request.task_id]
        if request.task_id not in states:
            states[request.task_id] = expert_states(spec, task)
        state = states[request.task_id][request.t - 1]
        env = branch(spec, state.snapshot)
        result = env.step(parse_action(request.action))
        record = {
            "id": request.id,
            "task_id": request.task_id,
            "t": request.t,
            "who": request.who,
            "action": request.action,
            "samples": [],
            "step_reward": float(result.reward),
            "config_hash": config_hash,
        }
        finished[request.id] = record
        if result.done:
            continue
        prefix = copy.deepcopy(task["messages"][: state.prefix])
        prefix += [{"role": "assistant", "content": request.action}, observation_message(result.observation)]
        key = mc_key(scheme, env.state_key(), prefix)
        record["mc_key"] = key
        if key in known:
            record["samples"] = list(known[key]["samples"])
            continue
        if key in asked:
            asked[key].append(record)
            continue
        asked[key] = [record]
        after = env.snapshot()
        # The N samples share their first prompt: one group, so one request with n = N.
        for k in range(num_samples):
            episodes.append(
                Episode(
                    key=f"{key}:s{k}",
                    env=branch(spec, after),
                    messages=copy.deepcopy(prefix),
                    group=key,
                    meta={"mc_key": key},
                )
            )
    run_episodes(backend, spec.name, episodes, sampling, batch_size, seed, desc="mc-samples", stats=stats)
    for episode in episodes:
        for record in asked[episode.meta["mc_key"]]:
            record["samples"].append(episode.reward)
    for record in finished.values():
        if record["samples"]:
            record["step_reward"] = sum(record["samples"]) / len(record["samples"])
    for key, records in asked.items():
        known[key] = records[0]
    return [finished[r.id] for r in requests]


def known_estimates(paths) -> dict[str, dict]:
    """mc_key -> score record, from earlier score files (expert scores, earlier iterations) whose
    records carry ``mc_key`` (a key names its scheme, so another scheme's records never match)."""
    from ipr.records import read_jsonl

    known: dict[str, dict] = {}
    for path in paths:
        for record in read_jsonl(path, "score"):
            if record.get("mc_key") and record["samples"]:
                known.setdefault(record["mc_key"], record)
    return known


def expert_requests(task: dict) -> list[ScoreRequest]:
    messages = task["messages"]
    return [
        ScoreRequest(task["task_id"], t, "expert", messages[i]["content"])
        for t, i in enumerate(assistant_indices(messages), start=1)
    ]


def agent_requests(
    explore_records: list[dict], tasks_by_id: dict[str, dict], only_candidates: bool
) -> list[ScoreRequest]:
    """Agent actions to score. Step pairs exist only for t >= 2 (t = 1 is the outcome pair).

    With ``only_candidates`` we skip actions whose score cannot create a step pair: the same
    action as the expert's (equal step reward) or an agent outcome no worse than the expert's
    (the pair rule needs r_o(expert) > r_o(agent)). This changes no pair, and saves most samples.
    """
    requests = []
    for record in explore_records:
        if record["t"] < 2:
            continue
        task = tasks_by_id[record["task_id"]]
        expert_action = task["messages"][record["prefix"]]["content"]
        if only_candidates and (
            parse_action(record["agent_action"]) == parse_action(expert_action)
            or record["outcome_reward"] >= task["reward"]
        ):
            continue
        requests.append(ScoreRequest(record["task_id"], record["t"], "agent", record["agent_action"]))
    return requests
