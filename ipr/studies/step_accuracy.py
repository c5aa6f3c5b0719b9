"""Accuracy of Monte-Carlo step rewards against WebShop's page-level scores (paper Fig. 3).

For every (task, step t) where both the expert's action a_t and the agent's action â_t were scored
with MC samples, both actions are replayed after the expert prefix e_{t-1} and the environment's
page-level score of the resulting state is read (``WebShopEnv.page_score``, paper Appendix B).

A *constructed step pair* with N samples is what the pair rule (``ipr.method.pairs``) would build from MC
step rewards estimated with N of the scorer's continuations: ``r_s^N(a_t) - r_s^N(â_t) > tau_step``
and ``r_o(expert) > r_o(agent)``; the expert's action is the chosen one. Its order is

- *correct* when the page score after the expert's action is higher than after the agent's,
- *wrong* when it is lower,
- a *tie* when the two page scores are equal (within ``1e-9``). Ties are left out of the accuracy
  (the page score cannot order the pair) and counted separately.

accuracy(N) = correct / (correct + wrong). ``ordered_accuracy`` is the same over every candidate the
MC rewards order either way (|r_s^N(a_t) - r_s^N(â_t)| > tau_step, no outcome condition), the
order being the MC one.

N < the number of samples taken: each action's MC reward is the mean of a random subset of N of its
samples (the same rollouts, no new ones), drawn ``draws`` times with a seeded RNG; counts are summed
over draws (accuracy is the pooled ratio; the pair counts in the table are per draw). An action that
ended the episode has no samples: its step reward is its outcome at every N.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from ipr.report import results as report
from ipr.react import parse_action
from ipr.method.scoring import EnvSpec, branch, expert_states

TIE_EPS = 1e-9
COLUMNS = ["benchmark", "scorer", "n", "pairs", "correct", "wrong", "ties", "accuracy", "ordered_pairs",
           "ordered_accuracy", "draws"]


def page_scores_after(spec: EnvSpec, task: dict, t: int, actions: list[str], states=None) -> list[float]:
    """Page score of the state after each of ``actions`` taken at expert step ``t``."""
    states = states if states is not None else expert_states(spec, task)
    out = []
    for action in actions:
        env = branch(spec, states[t - 1].snapshot)
        env.step(parse_action(action))
        out.append(float(env.page_score()))
    return out


def candidates(spec: EnvSpec, tasks_by_id: dict[str, dict], explore: list[dict], agent_scores: list[dict],
               expert_scores: list[dict], scorer: str) -> list[dict]:
    """Every (task, t) with an agent score and an expert score, with samples, outcomes and page scores."""
    expert = {(s["task_id"], s["t"]): s for s in expert_scores}
    outcome = {(e["task_id"], e["t"]): float(e["outcome_reward"]) for e in explore}
    states: dict[str, list] = {}
    out = []
    for score in sorted(agent_scores, key=lambda s: (s["task_id"], s["t"])):
        key = (score["task_id"], score["t"])
        if key not in expert or key not in outcome:
            continue
        task = tasks_by_id[score["task_id"]]
        if score["task_id"] not in states:
            states[score["task_id"]] = expert_states(spec, task)
        expert_page, agent_page = page_scores_after(spec, task, score["t"], [expert[key]["action"], score["action"]],
                                                    states[score["task_id"]])
        out.append({
            "scorer": scorer, "task_id": key[0], "t": key[1],
            "expert_samples": list(expert[key]["samples"]), "agent_samples": list(score["samples"]),
            "expert_step_reward": float(expert[key]["step_reward"]), "agent_step_reward": float(score["step_reward"]),
            "expert_outcome": float(task["reward"]), "agent_outcome": outcome[key],
            "expert_page": expert_page, "agent_page": agent_page,
        })
    return out


def _estimate(samples: list[float], fallback: float, n: int, rng: random.Random | None) -> float:
    if not samples:
        return fallback  # the action ended the episode: its outcome
    chosen = samples if rng is None or n >= len(samples) else rng.sample(samples, n)
    return sum(chosen) / len(chosen)


def _order(expert_page: float, agent_page: float) -> int:
    """+1 if the expert's page score is higher, -1 if lower, 0 for a tie."""
    if abs(expert_page - agent_page) <= TIE_EPS:
        return 0
    return 1 if expert_page > agent_page else -1


def max_samples(cands: list[dict]) -> int:
    """The N available to sub-sample from (the fewest samples of any sampled action)."""
    sizes = [len(s) for c in cands for s in (c["expert_samples"], c["agent_samples"]) if s]
    return min(sizes) if sizes else 0


def accuracy_at(cands: list[dict], n: int, tau: float, draws: int, seed: int) -> dict:
    """Counts and accuracies of the pairs constructed with N = ``n`` samples (module docstring)."""
    full = n >= max_samples(cands)
    draws = 1 if full else draws
    counts = dict(pairs=0, correct=0, wrong=0, ties=0, ordered_pairs=0, ordered_correct=0, ordered_wrong=0)
    rng = random.Random(f"{seed}:{n}")
    for _ in range(draws):
        for c in cands:
            expert = _estimate(c["expert_samples"], c["expert_step_reward"], n, None if full else rng)
            agent = _estimate(c["agent_samples"], c["agent_step_reward"], n, None if full else rng)
            truth = _order(c["expert_page"], c["agent_page"])
            if abs(expert - agent) > tau:
                counts["ordered_pairs"] += 1
                mc = 1 if expert > agent else -1
                if truth:
                    counts["ordered_correct" if mc == truth else "ordered_wrong"] += 1
            if expert - agent > tau and c["expert_outcome"] > c["agent_outcome"]:
                counts["pairs"] += 1
                counts["ties" if truth == 0 else "correct" if truth > 0 else "wrong"] += 1
    decided = counts["correct"] + counts["wrong"]
    ordered = counts["ordered_correct"] + counts["ordered_wrong"]
    return {
        "n": n,
        "pairs": counts["pairs"] / draws,
        "correct": counts["correct"] / draws,
        "wrong": counts["wrong"] / draws,
        "ties": counts["ties"] / draws,
        "accuracy": counts["correct"] / decided if decided else None,
        "ordered_pairs": counts["ordered_pairs"] / draws,
        "ordered_accuracy": counts["ordered_correct"] / ordered if ordered else None,
        "draws": draws,
    }


def accuracy_table(cands_by_scorer: dict[str, list[dict]], ns: Iterable[int], tau: float, draws: int, seed: int,
                   benchmark: str) -> list[dict]:
    """One row per scorer model and N; an N above the samples taken is left out (noted in ``skipped``)."""
    rows = []
    for scorer, cands in sorted(cands_by_scorer.items()):
        available = max_samples(cands)
        for n in ns:
            if n > available:
                rows.append({"benchmark": benchmark, "scorer": scorer, "n": n, "skipped":
                             f"only {available} samples per action were taken"})
                continue
            rows.append({"benchmark": benchmark, "scorer": scorer, **accuracy_at(cands, n, tau, draws, seed)})
    return rows


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if value != int(value) else f"{int(value)}"
    return str(value)


def markdown(rows: list[dict], tau: float) -> str:
    lines = ["# Step-reward accuracy against page-level scores (paper Fig. 3)", "",
             f"Constructed step pairs (expert MC step reward above the agent's by more than tau = {tau}, expert "
             "outcome above the agent's) whose order agrees with the page-level scores of the states after the "
             "two actions. Page-score ties are left out of the accuracy. N < samples taken: sub-sampled from the "
             "same rollouts (pair counts per draw). ordered: every candidate the MC rewards order either way. "
             "A constructed pair is wrong only when the agent's page scores above the expert's: with an expert "
             "whose pages score 1.0 (the embedded catalog's), every decided pair is correct, and N shows in the "
             "pair counts and the ordered accuracy.", "",
             "| benchmark | scorer | N | pairs | correct | wrong | ties | accuracy | ordered pairs | ordered accuracy |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['benchmark']} | {r['scorer']} | {r['n']} | - | - | - | - | - ({r['skipped']}) | - | - |")
            continue
        lines.append("| " + " | ".join(_fmt(r[k]) for k in ["benchmark", "scorer", "n", "pairs", "correct", "wrong",
                                                             "ties", "accuracy", "ordered_pairs",
                                                             "ordered_accuracy"]) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict]) -> str:
    return report.csv_text(rows, COLUMNS)


def figure(rows: list[dict], path) -> None:
    """Against N, one colour per scorer model: accuracy (solid) and ordered accuracy (dashed) on the
    left; constructed pairs (solid) and the decided ones, correct + wrong (dashed), on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (acc_ax, pairs_ax) = plt.subplots(1, 2, figsize=(8, 3.4))
    for scorer in sorted({r["scorer"] for r in rows}):
        mine = [r for r in rows if r["scorer"] == scorer and "skipped" not in r]
        ns = [r["n"] for r in mine]
        (line,) = acc_ax.plot(ns, [r["accuracy"] for r in mine], marker="o", label=f"{scorer} accuracy")
        acc_ax.plot(ns, [r["ordered_accuracy"] for r in mine], marker="x", linestyle="--", color=line.get_color(),
                    label=f"{scorer} ordered")
        pairs_ax.plot(ns, [r["pairs"] for r in mine], marker="o", color=line.get_color(), label=f"{scorer} pairs")
        pairs_ax.plot(ns, [r["correct"] + r["wrong"] for r in mine], marker="x", linestyle="--",
                      color=line.get_color(), label=f"{scorer} decided")
    acc_ax.set_ylabel("pair-order accuracy")
    acc_ax.set_ylim(0, 1.05)
    pairs_ax.set_ylabel("step pairs (per draw)")
    pairs_ax.set_ylim(bottom=0)
    for ax in (acc_ax, pairs_ax):
        ax.set_xlabel("N (MC samples)")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle(", ".join(sorted({r["benchmark"] for r in rows})) or "step-reward accuracy", fontsize=10)
    fig.tight_layout()
    report.save_figure(fig, path)
