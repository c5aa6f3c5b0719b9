"""InterCode's SQL reward on hand-made cases (IoU of str(row) multisets x Kendall tau-b)."""

import math

import pytest

from ipr.envs.sql.reward import intercode_reward, kendall_tau_b


def test_identical():
    rows = [("a", 1), ("b", 2), ("c", 3)]
    assert intercode_reward(rows, list(rows)) == 1.0


def test_reversed_is_negative():
    rows = [(1,), (2,), (3,)]
    assert intercode_reward(rows[::-1], rows) == -1.0


def test_partially_reordered():
    # tau-b of (a,c,b) vs (a,b,c): 2 concordant, 1 discordant of 3 pairs -> 1/3
    assert intercode_reward([("a",), ("c",), ("b",)], [("a",), ("b",), ("c",)]) == 0.33


def test_partial_overlap_scaled_and_rounded():
    # intersection {1,2} (agent order 2,1 vs gold 1,2 -> tau -1); union {1,2,3,4} -> -0.5
    assert intercode_reward([(2,), (1,), (4,)], [(1,), (2,), (3,)]) == -0.5
    # same order: IoU 2/4 times tau 1
    assert intercode_reward([(1,), (2,), (4,)], [(1,), (2,), (3,)]) == 0.5


def test_duplicates_count_as_multiset():
    # agent {x:2}, gold {x:1, y:1}: intersection 1, union max counts 2 + 1 = 3; single item -> tau NaN
    assert intercode_reward([("x",), ("x",)], [("x",), ("y",)]) == pytest.approx(1 / 3)
    # agent x,x,y vs gold x,y: intersection x,y in the same order -> 2/3 rounded
    assert intercode_reward([("x",), ("x",), ("y",)], [("x",), ("y",)]) == 0.67
    # all intersecting items equal -> tau NaN -> plain IoU (not rounded, as in InterCode)
    assert intercode_reward([("x",), ("x",)], [("x",), ("x",), ("x",)]) == pytest.approx(2 / 3)


def test_disjoint():
    assert intercode_reward([(1,)], [(2,)]) == 0.0


def test_empty_vs_empty():
    assert intercode_reward([], []) == 1.0


def test_empty_vs_nonempty():
    assert intercode_reward([], [(1,)]) == 0.0
    assert intercode_reward([(1,)], []) == 0.0


def test_none_is_zero():
    assert intercode_reward(None, [(1,)]) == 0.0


def test_single_row():
    assert intercode_reward([(5,)], [(5,)]) == 1.0
    assert intercode_reward([(5,), (6,)], [(5,)]) == 0.5


def test_rows_compared_as_strings():
    assert intercode_reward([(1,)], [(1.0,)]) == 0.0
    assert intercode_reward([(1, "a")], [(1, "a")]) == 1.0


def test_kendall_tau_b_with_ties():
    # scipy.stats.kendalltau([1, 1, 2, 3], [1, 2, 2, 3]).statistic == 0.8
    assert kendall_tau_b([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8)
    assert math.isnan(kendall_tau_b([1], [1]))
    assert math.isnan(kendall_tau_b([1, 1], [2, 3]))
    # strings are ordered lexicographically, as scipy does
    assert kendall_tau_b(["b", "a", "c"], ["a", "b", "c"]) == pytest.approx(1 / 3)
