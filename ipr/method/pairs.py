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


# --------------------------------------------------------------------------- pair diagnostic
# Does IPR have anything to work with? A step pair whose whole conversations (prompt + chosen,
# prompt + rejected) equal those of an outcome pair of the same task gives the DPO loss the very
# term the outcome pair gives: its shared leading turns cancel in the margin, and what is left is
# the same comparison. That happens when the agent, exploring from the task start, repeats the
# expert's first t-1 actions and goes wrong at step t. Only step pairs that differ from every
# outcome pair carry a step-level signal of their own.


def _conversations(pair: dict) -> tuple[str, str]:
    """The pair's two whole conversations, as canonical text (prompt + chosen, prompt + rejected)."""
    import json

    def text(side):
        return json.dumps(pair["prompt"] + pair[side], sort_keys=True, ensure_ascii=False)

    return text("chosen"), text("rejected")


def first_difference_turn(pair: dict) -> int | None:
    """The action (1-based assistant turn of the whole conversation) where the chosen and rejected
    conversations first differ: 1 + the number of assistant turns before the first differing message.
    None when one conversation is the other's prefix without a differing message (no real pair)."""
    chosen, rejected = pair["prompt"] + pair["chosen"], pair["prompt"] + pair["rejected"]
    turns_before = 0
    for left, right in zip(chosen, rejected):
        if left != right:
            return turns_before + 1
        turns_before += left["role"] == "assistant"
    return None if len(chosen) == len(rejected) else turns_before + 1


def step_pairs_not_outcome(pairs: list[dict]) -> list[dict]:
    """The step pairs whose two conversations are not those of an outcome pair of the same task."""
    outcome = {(p["task_id"], _conversations(p)) for p in pairs if p["kind"] == "outcome"}
    return [p for p in pairs if p["kind"] == "step" and (p["task_id"], _conversations(p)) not in outcome]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def pair_diagnostic(pairs: list[dict]) -> dict:
    """What one pairs file offers IPR beyond ETO.

    - ``step_pairs``, ``outcome_pairs``: counts by kind;
    - ``step_pairs_not_outcome``: step pairs that are no copy of an outcome pair (see above), and
      ``share_not_outcome``, their share of the step pairs (None without step pairs);
    - ``first_diff_turn_mean``: mean action index where a step pair's chosen and rejected first
      differ (``first_difference_turn``); ``outcome_first_diff_turn_mean`` the same for outcome
      pairs, i.e. where the agent's own whole trajectory first leaves the expert's;
    - ``mc_reward_gap_mean``: mean Monte-Carlo step-reward gap of the step pairs (expert step
      reward - agent step reward; each exceeds tau_step by construction).
    """
    step = [p for p in pairs if p["kind"] == "step"]
    outcome = [p for p in pairs if p["kind"] == "outcome"]
    distinct = step_pairs_not_outcome(pairs)
    step_turns = [t for t in map(first_difference_turn, step) if t is not None]
    outcome_turns = [t for t in map(first_difference_turn, outcome) if t is not None]
    gaps = [p["chosen_step_reward"] - p["rejected_step_reward"] for p in step
            if p.get("chosen_step_reward") is not None and p.get("rejected_step_reward") is not None]
    return {
        "step_pairs": len(step),
        "outcome_pairs": len(outcome),
        "step_pairs_not_outcome": len(distinct),
        "share_not_outcome": len(distinct) / len(step) if step else None,
        "first_diff_turn_mean": _mean(step_turns),
        "outcome_first_diff_turn_mean": _mean(outcome_turns),
        "mc_reward_gap_mean": _mean(gaps),
    }
