"""Held-out preference pairs: what an update does to pairs it never trained on.

DPO can raise the margin of its train pairs while the log-probs of both sides fall, and the
chosen side (the expert's actions) then loses probability mass that greedy decoding needed. The
train-pair metrics of ``metrics.json`` cannot show that. These pairs can: outcome pairs built, as
exploration builds them, from a fixed policy's greedy trajectories on a split no method trains on
(the validation split), chosen = the expert's trajectory, rejected = the policy's when its outcome
reward is lower by more than ``tau_outcome``.

The set is built once per seed from the SFT policy's evaluation, so that every method and
iteration of the seed is measured on the same pairs. Each trained policy is compared with its own
DPO reference (the SFT policy for IPR, the iteration's starting policy for ETO), as its loss
compares them.
"""

from __future__ import annotations

from ipr.method.pairs import build_pairs
from ipr.method.scoring import assistant_indices


def heldout_outcome_pairs(tasks_by_id: dict[str, dict], eval_records: list[dict], tau_outcome: float) -> list[dict]:
    """Outcome pairs of the expert's and a policy's whole trajectories on held-out tasks.

    ``eval_records``: the policy's evaluation trajectories (``trajectory`` records, each starting
    with the task's prompt). Each becomes the exploration record of step 1 (the agent from the
    task start), so the pairs are exactly those :func:`build_pairs` makes from exploration."""
    explored = []
    for record in eval_records:
        task = tasks_by_id.get(record["task_id"])
        if task is None:
            raise KeyError(f"evaluation record {record['id']}: task {record['task_id']} is not in the held-out tasks")
        prefix = assistant_indices(task["messages"])[0]
        if record["messages"][:prefix] != task["messages"][:prefix]:
            raise ValueError(f"evaluation record {record['id']}: its prompt differs from task {record['task_id']}'s")
        continuation = record["messages"][prefix:]
        explored.append({"task_id": record["task_id"], "t": 1, "prefix": prefix, "continuation": continuation,
                         "agent_action": continuation[0]["content"] if continuation else "",
                         "outcome_reward": record["reward"]})
    return build_pairs(tasks_by_id, explored, [], [], tau_step=0.0, tau_outcome=tau_outcome, step_pairs=False)


def heldout_metrics(policy_logps: list[tuple[float, float]], reference_logps: list[tuple[float, float]]) -> dict:
    """Means over the pairs of the policy's log-prob change from its reference on the chosen and the
    rejected side (summed over a side's assistant tokens), their difference (the DPO margin before
    beta) and the share of pairs whose margin is positive. ``None`` where there are no pairs."""
    if len(policy_logps) != len(reference_logps):
        raise ValueError(f"{len(policy_logps)} policy log-prob pairs against {len(reference_logps)} reference ones")
    n = len(policy_logps)
    chosen = [pc - rc for (pc, _), (rc, _) in zip(policy_logps, reference_logps)]
    rejected = [pr - rr for (_, pr), (_, rr) in zip(policy_logps, reference_logps)]
    margins = [c - r for c, r in zip(chosen, rejected)]

    def mean(values):
        return sum(values) / n if n else None

    return {
        "pairs": n,
        "chosen_logp_change": mean(chosen),
        "rejected_logp_change": mean(rejected),
        "margin": mean(margins),
        "accuracy": mean([float(m > 0) for m in margins]),
        "chosen_logp_fell": mean([float(c < 0) for c in chosen]),
    }
