"""InterCode's SQL reward: multiset intersection-over-union of result rows, scaled by Kendall's tau.

Semantics (InterCode ``SqlEnv.get_reward``; BENCHMARKS.md section 2):

* every row is compared through ``str(row)``; both sides are multisets (duplicates count);
* IoU = sum of intersection counts / sum of per-row maximum counts; 1 when both sides are empty;
* when the intersection is non-empty, the intersecting rows are listed in agent order and in gold
  order (each row as often as it intersects, earliest occurrences first), and the IoU is multiplied
  by Kendall's tau-b between those two lists and rounded to 2 decimals (numpy's half-to-even
  rounding of ``x * 100``); a NaN tau (fewer than two items, or all items equal) leaves the IoU
  unchanged and unrounded, as in InterCode. The reward can therefore be negative.

Items are compared as strings (scipy orders string arrays lexicographically), so tau here compares
the two lists of strings directly. Pure Python, no scipy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any


def _cmp(a: str, b: str) -> int:
    return (a > b) - (a < b)


def kendall_tau_b(x: Sequence[Any], y: Sequence[Any]) -> float:
    """Kendall's tau-b between two equally long sequences of comparable items (NaN if undefined)."""
    if len(x) != len(y):
        raise ValueError("kendall_tau_b needs sequences of equal length")
    n = len(x)
    if n < 2:
        return math.nan
    concordant = discordant = x_ties = y_ties = 0
    for i in range(n - 1):
        xi, yi = x[i], y[i]
        for j in range(i + 1, n):
            dx, dy = _cmp(xi, x[j]), _cmp(yi, y[j])
            if dx == 0:
                x_ties += 1
            if dy == 0:
                y_ties += 1
            if dx and dy:
                if dx == dy:
                    concordant += 1
                else:
                    discordant += 1
    total = n * (n - 1) // 2
    if x_ties == total or y_ties == total:
        return math.nan
    tau = (concordant - discordant) / math.sqrt(total - x_ties) / math.sqrt(total - y_ties)
    return min(1.0, max(-1.0, tau))


def _intersecting(items: list[str], counts: Counter) -> list[str]:
    """Items of ``items`` in order, each kept while ``counts`` still allows it."""
    remaining = dict(counts)
    kept = []
    for item in items:
        if remaining.get(item, 0) > 0:
            remaining[item] -= 1
            kept.append(item)
    return kept


def _round2(value: float) -> float:
    """numpy's ``round(x, 2)``: scale, round half to even, unscale."""
    return round(value * 100) / 100


def intercode_reward(agent_rows: Sequence[Any] | None, gold_rows: Sequence[Any] | None) -> float:
    """The InterCode SQL reward of ``agent_rows`` against ``gold_rows`` (0.0 if either is None)."""
    if agent_rows is None or gold_rows is None:
        return 0.0
    agent = [str(row) for row in agent_rows]
    gold = [str(row) for row in gold_rows]
    agent_counts, gold_counts = Counter(agent), Counter(gold)
    intersection = agent_counts & gold_counts
    union = agent_counts | gold_counts  # per-key maximum counts
    if not union:
        return 1.0
    reward = sum(intersection.values()) * 1.0 / sum(union.values())
    if intersection:
        tau = kendall_tau_b(_intersecting(agent, intersection), _intersecting(gold, intersection))
        if not math.isnan(tau):
            reward = _round2(tau * reward)
    return reward
