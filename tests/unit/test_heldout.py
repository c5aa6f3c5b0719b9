"""Held-out pairs from a policy's evaluation trajectories, and the log-prob changes measured on them."""

import pytest

from ipr.method.heldout import heldout_metrics, heldout_outcome_pairs
from ipr.records import validate

U = {"role": "user", "content": "Question: q"}


def a(text):
    return {"role": "assistant", "content": f"Thought: t\nAction: {text}"}


def obs(text):
    return {"role": "user", "content": f"Observation: {text}"}


EXPERT = [U, a("SHOW TABLES"), obs("[('x',)]"), a("SELECT 1"), obs("[(1,)]"), a("submit")]
TASKS = {"v1": {"task_id": "v1", "messages": EXPERT, "reward": 1.0}}


def evaluation(messages, reward, task_id="v1"):
    return {"id": f"{task_id}:eval", "task_id": task_id, "messages": messages, "reward": reward}


def test_a_failed_evaluation_is_an_outcome_pair_with_the_expert_chosen():
    failed = [U, a("SHOW TABLES"), obs("[('x',)]"), a("SELECT 2"), obs("[(2,)]"), a("submit")]
    (pair,) = heldout_outcome_pairs(TASKS, [evaluation(failed, 0.0)], tau_outcome=0.1)
    validate(pair, "pair")
    assert pair["kind"] == "outcome" and pair["prompt"] == [U]
    assert pair["chosen"] == EXPERT[1:] and pair["rejected"] == failed[1:]
    assert (pair["chosen_reward"], pair["rejected_reward"]) == (1.0, 0.0)


@pytest.mark.parametrize("reward", [1.0, 0.95])
def test_a_solved_evaluation_gives_no_pair(reward):
    assert heldout_outcome_pairs(TASKS, [evaluation(EXPERT, reward)], tau_outcome=0.1) == []


def test_an_evaluation_of_another_prompt_is_an_error():
    other = [{"role": "user", "content": "Question: other"}, a("submit")]
    with pytest.raises(ValueError, match="v1:eval: its prompt differs from task v1"):
        heldout_outcome_pairs(TASKS, [evaluation(other, 0.0)], tau_outcome=0.1)
    with pytest.raises(KeyError, match="task v2 is not in the held-out tasks"):
        heldout_outcome_pairs(TASKS, [evaluation(EXPERT, 0.0, task_id="v2")], tau_outcome=0.1)


def test_metrics_are_changes_from_the_reference():
    policy = [(-10.0, -20.0), (-12.0, -11.0)]
    reference = [(-11.0, -15.0), (-10.0, -12.0)]
    # chosen changes +1, -2; rejected changes -5, +1; margins 6, -3
    assert heldout_metrics(policy, reference) == {
        "pairs": 2, "chosen_logp_change": -0.5, "rejected_logp_change": -2.0, "margin": 1.5,
        "accuracy": 0.5, "chosen_logp_fell": 0.5}


def test_metrics_without_pairs_are_none_and_mismatched_lists_an_error():
    assert heldout_metrics([], [])["margin"] is None
    with pytest.raises(ValueError, match="1 policy log-prob pairs against 0 reference ones"):
        heldout_metrics([(0.0, 0.0)], [])
