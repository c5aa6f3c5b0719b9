"""Pair diagnostic on hand-made pairs: copies of outcome pairs, first differing turn, MC gap, table."""

import pytest

from ipr.method.pairs import build_pairs, first_difference_turn, pair_diagnostic, step_pairs_not_outcome
from ipr.report.results import pair_diagnostic_csv, pair_diagnostic_rows
from ipr.records import write_jsonl

Q = {"role": "user", "content": "Question: q"}


def a(text):
    return {"role": "assistant", "content": f"Thought: t\nAction: {text}"}


def obs(text):
    return {"role": "user", "content": f"Observation: {text}"}


# SHOW TABLES, DESC, query, submit: the shape of the embedded SQL expert.
EXPERT = [Q, a("SHOW TABLES"), obs("[('x',)]"), a("DESC x"), obs("[('c',)]"), a("SELECT c FROM x"), obs("[(1,)]"),
          a("submit")]
PREFIX = {1: 1, 2: 3, 3: 5, 4: 7}  # messages before action t


def explored(task_id, t, continuation, reward):
    return {"id": f"{task_id}:t{t}", "task_id": task_id, "t": t, "prefix": PREFIX[t],
            "agent_action": continuation[0]["content"], "continuation": continuation, "outcome_reward": reward,
            "config_hash": "h"}


def score(task_id, t, who, value):
    return {"id": f"{task_id}:t{t}:{who}", "task_id": task_id, "t": t, "who": who, "action": "", "samples": [value],
            "step_reward": value, "config_hash": "h"}


WRONG_QUERY = [a("SELECT d FROM x"), obs("[(2,)]"), a("submit")]


def pairs_of(records, agent, expert_scores, tasks=("copy",)):
    by_id = {t: {"task_id": t, "messages": EXPERT, "reward": 1.0} for t in tasks}
    return build_pairs(by_id, records, agent, expert_scores, tau_step=0.1, tau_outcome=0.1)


def copy_task():
    """The agent repeats SHOW TABLES and DESC, then writes a wrong query: its outcome pair and its
    step pair at t = 3 are the same two conversations."""
    records = [explored("copy", 1, [*EXPERT[1:5], *WRONG_QUERY], 0.0), explored("copy", 3, WRONG_QUERY, 0.0)]
    return records, [score("copy", 3, "agent", 0.0)], [score("copy", 3, "expert", 0.9)]


def mid_task():
    """The agent's own trajectory fails at DESC (t = 2); from the expert's prefix it also fails at the
    query (t = 3): the t = 3 step pair is a comparison no outcome pair makes."""
    records = [explored("mid", 1, [EXPERT[1], EXPERT[2], a("DESC y"), obs("error"), a("submit")], 0.0),
               explored("mid", 2, [a("DESC y"), obs("error"), a("submit")], 0.0),
               explored("mid", 3, WRONG_QUERY, 0.0)]
    agent = [score("mid", 2, "agent", 0.25), score("mid", 3, "agent", 0.0)]
    expert = [score("mid", 2, "expert", 1.0), score("mid", 3, "expert", 0.75)]
    return records, agent, expert


def test_a_step_pair_equal_to_the_outcome_pair_is_a_copy():
    pairs = pairs_of(*copy_task())
    assert sorted(p["kind"] for p in pairs) == ["outcome", "step"]
    assert step_pairs_not_outcome(pairs) == []
    diagnostic = pair_diagnostic(pairs)
    assert diagnostic["step_pairs"] == 1 and diagnostic["step_pairs_not_outcome"] == 0
    assert diagnostic["share_not_outcome"] == 0.0
    # Both pairs first differ at the query, the third action.
    assert diagnostic["first_diff_turn_mean"] == 3 and diagnostic["outcome_first_diff_turn_mean"] == 3
    assert diagnostic["mc_reward_gap_mean"] == pytest.approx(0.9)


def test_step_pairs_that_differ_from_outcome_pairs_are_counted():
    records, agent, expert = mid_task()
    pairs = pairs_of(records, agent, expert, tasks=("mid",))
    step = [p for p in pairs if p["kind"] == "step"]
    assert [p["t"] for p in step] == [2, 3]
    # t = 2 repeats the outcome pair (the agent's own run left the expert at DESC); t = 3 does not.
    assert [p["t"] for p in step_pairs_not_outcome(pairs)] == [3]
    diagnostic = pair_diagnostic(pairs)
    assert diagnostic == {"step_pairs": 2, "outcome_pairs": 1, "step_pairs_not_outcome": 1, "share_not_outcome": 0.5,
                          "first_diff_turn_mean": 2.5, "outcome_first_diff_turn_mean": 2.0,
                          "mc_reward_gap_mean": pytest.approx((0.75 + 0.75) / 2)}


def test_an_outcome_pair_of_another_task_is_not_a_match():
    records, agent, expert = copy_task()
    pairs = pairs_of(records, agent, expert)
    moved = [dict(p, task_id="other") if p["kind"] == "outcome" else p for p in pairs]
    assert len(step_pairs_not_outcome(moved)) == 1


def test_first_difference_turn_counts_actions_of_the_whole_conversation():
    pair = {"prompt": EXPERT[:5], "chosen": EXPERT[5:], "rejected": WRONG_QUERY}
    assert first_difference_turn(pair) == 3
    same_action_other_observation = {"prompt": [Q], "chosen": [a("x"), obs("1")], "rejected": [a("x"), obs("2")]}
    assert first_difference_turn(same_action_other_observation) == 2
    assert first_difference_turn({"prompt": [Q], "chosen": [a("x")], "rejected": [a("x")]}) is None


def test_no_pairs_and_outcome_only():
    assert pair_diagnostic([]) == {"step_pairs": 0, "outcome_pairs": 0, "step_pairs_not_outcome": 0,
                                   "share_not_outcome": None, "first_diff_turn_mean": None,
                                   "outcome_first_diff_turn_mean": None, "mc_reward_gap_mean": None}


def test_table_rows_from_pairs_files(tmp_path):
    records, agent, expert = mid_task()
    path = tmp_path / "results/sql_embedded/tiny/ipr/iter1/pairs.jsonl"
    path.parent.mkdir(parents=True)
    write_jsonl(path, pairs_of(records, agent, expert, tasks=("mid",)), "pair")
    eto = tmp_path / "results/sql_embedded/tiny/eto/iter2/pairs.jsonl"
    eto.parent.mkdir(parents=True)
    write_jsonl(eto, [p for p in pairs_of(*copy_task()) if p["kind"] == "outcome"], "pair")
    rows = pair_diagnostic_rows([str(eto), str(path)])
    assert [(r["method"], r["iteration"], r["step_pairs"], r["step_pairs_not_outcome"]) for r in rows] == [
        ("eto", 2, 0, 0), ("ipr", 1, 2, 1)]
    text = pair_diagnostic_csv(rows).splitlines()
    assert text[0].startswith("benchmark,iteration,step_pairs,step_pairs_not_outcome,first_diff_turn_mean,")
    assert text[2].startswith("sql_embedded,1,2,1,2.5,0.75,0.5,1,2.0,tiny,ipr")
