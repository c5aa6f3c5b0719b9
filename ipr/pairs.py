"""Step and outcome preference pairs (paper section 3.3, DESIGN.md section 3).

Outcome pair (from the t = 1 exploration, the agent's whole trajectory): the expert's and the
agent's trajectories when their outcome rewards differ by more than ``tau_outcome``; the better
one is chosen.

Step pair at t >= 2: prompt = expert prefix e_{t-1}; chosen = the expert's continuation from a_t;
rejected = the agent's continuation from its own action; built when
``r_s(a_t) - r_s(agent a_t) > tau_step`` and ``r_o(expert) > r_o(agent)``.
"""

from __future__ import annotations

import copy

from ipr.records import config_hash as hash_settings


def _pair(kind, task_id, t, prompt, chosen, rejected, rewards, step_rewards, config_hash) -> dict:
    return {
        "id": f"{task_id}:{kind}:t{t}",
        "kind": kind,
        "task_id": task_id,
        "t": t,
        "prompt": copy.deepcopy(prompt),
        "chosen": copy.deepcopy(chosen),
        "rejected": copy.deepcopy(rejected),
        "chosen_reward": rewards[0],
        "rejected_reward": rewards[1],
        "chosen_step_reward": step_rewards[0],
        "rejected_step_reward": step_rewards[1],
        "config_hash": config_hash,
    }


def build_pairs(
    tasks_by_id: dict[str, dict],
    explore_records: list[dict],
    agent_scores: list[dict],
    expert_scores: list[dict],
    tau_step: float,
    tau_outcome: float,
    step_pairs: bool = True,
    outcome_pairs: bool = True,
) -> list[dict]:
    settings_hash = hash_settings(
        {"tau_step": tau_step, "tau_outcome": tau_outcome, "step": step_pairs, "outcome": outcome_pairs}
    )
    agent_step = {(s["task_id"], s["t"]): s["step_reward"] for s in agent_scores}
    expert_step = {(s["task_id"], s["t"]): s["step_reward"] for s in expert_scores}
    pairs = []
    for record in explore_records:
        task = tasks_by_id[record["task_id"]]
        expert_messages, prefix = task["messages"], record["prefix"]
        expert_reward, agent_reward = float(task["reward"]), float(record["outcome_reward"])
        expert_rest, agent_rest = expert_messages[prefix:], record["continuation"]
        prompt = expert_messages[:prefix]
        key = (record["task_id"], record["t"])
        if not agent_rest:  # the agent never acted (its context was already full): nothing to compare
            continue
        if record["t"] == 1:
            if not outcome_pairs:
                continue
            if expert_reward - agent_reward > tau_outcome:
                pairs.append(_pair("outcome", key[0], 1, prompt, expert_rest, agent_rest,
                                   (expert_reward, agent_reward), (None, None), settings_hash))
            elif agent_reward - expert_reward > tau_outcome:
                pairs.append(_pair("outcome", key[0], 1, prompt, agent_rest, expert_rest,
                                   (agent_reward, expert_reward), (None, None), settings_hash))
            continue
        if not step_pairs or key not in agent_step:
            continue
        if key not in expert_step:
            raise KeyError(f"no expert step reward for task {key[0]} step {key[1]}")
        if expert_step[key] - agent_step[key] > tau_step and expert_reward > agent_reward:
            pairs.append(_pair("step", key[0], key[1], prompt, expert_rest, agent_rest,
                               (expert_reward, agent_reward), (expert_step[key], agent_step[key]),
                               settings_hash))
    return sorted(pairs, key=lambda p: p["id"])
