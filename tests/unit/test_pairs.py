"""Pair construction rules on hand-made rewards: thresholds both ways, step vs outcome pairs; held-out
pairs from evaluation trajectories and the log-prob changes measured on them."""

import pytest

from ipr.method.heldout import heldout_metrics, heldout_outcome_pairs
from ipr.method.pairs import build_pairs
from ipr.records import validate

U = {"role": "user", "content": "Question: q"}


def a(text):
    return {"role": "assistant", "content": f"Thought: t\nAction: {text}"}


def obs(text):
    return {"role": "user", "content": f"Observation: {text}"}


EXPERT = [U, a("SHOW TABLES"), obs("[('x',)]"), a("SELECT 1"), obs("[(1,)]"), a("submit")]


def task(reward=1.0):
    return {"t1": {"task_id": "t1", "messages": EXPERT, "reward": reward}}


def explore(t, reward, action="SELECT 2"):
    prefix = {1: 0, 2: 2, 3: 4}[t] + 1
    continuation = [a(action), obs("[(2,)]"), a("submit")]
    return {"id": f"t1:t{t}", "task_id": "t1", "t": t, "prefix": prefix, "agent_action": continuation[0]["content"],
            "continuation": continuation, "outcome_reward": reward, "config_hash": "h"}


def score(t, who, value):
    return {"id": f"t1:t{t}:{who}", "task_id": "t1", "t": t, "who": who, "action": "", "samples": [value],
            "step_reward": value, "config_hash": "h"}


def pairs_for(explored, agent, expert, tau_step=0.1, tau_outcome=0.1, **kw):
    pairs = build_pairs(task(), explored, agent, expert, tau_step, tau_outcome, **kw)
    for pair in pairs:
        validate(pair, "pair")
    return pairs


def test_outcome_pair_expert_chosen():
    (pair,) = pairs_for([explore(1, 0.2)], [], [])
    assert pair["kind"] == "outcome" and pair["t"] == 1
    assert pair["prompt"] == [U]
    assert pair["chosen"] == EXPERT[1:] and pair["rejected"] == explore(1, 0.2)["continuation"]
    assert (pair["chosen_reward"], pair["rejected_reward"]) == (1.0, 0.2)
    assert pair["chosen_step_reward"] is None


def test_outcome_pair_agent_chosen_when_agent_is_better():
    pairs = build_pairs(task(reward=0.5), [explore(1, 1.0)], [], [], 0.1, 0.1)
    (pair,) = pairs
    assert pair["chosen"] == explore(1, 1.0)["continuation"] and pair["rejected"] == EXPERT[1:]


@pytest.mark.parametrize(("agent_reward", "expected"), [(0.95, 0), (0.85, 1)])
def test_outcome_threshold(agent_reward, expected):
    assert len(pairs_for([explore(1, agent_reward)], [], [])) == expected


def test_step_pair_when_expert_step_reward_exceeds_agent_by_more_than_tau():
    explored = [explore(2, 0.0)]
    (pair,) = pairs_for(explored, [score(2, "agent", 0.25)], [score(2, "expert", 0.75)])
    assert pair["kind"] == "step" and pair["t"] == 2
    assert pair["prompt"] == EXPERT[:3]
    assert pair["chosen"] == EXPERT[3:] and pair["rejected"] == explored[0]["continuation"]
    assert (pair["chosen_step_reward"], pair["rejected_step_reward"]) == (0.75, 0.25)


@pytest.mark.parametrize(
    ("expert_step", "agent_step", "agent_outcome", "expected"),
    [
        (0.75, 0.70, 0.0, 0),  # step-reward gap 0.05 <= tau
        (0.75, 0.60, 0.0, 1),  # gap 0.15 > tau
        (0.60, 0.75, 0.0, 0),  # agent's step reward is higher: no expert-chosen step pair
        (0.75, 0.25, 1.0, 0),  # agent's outcome is not worse than the expert's
    ],
)
def test_step_pair_rule(expert_step, agent_step, agent_outcome, expected):
    pairs = pairs_for([explore(2, agent_outcome)], [score(2, "agent", agent_step)], [score(2, "expert", expert_step)])
    assert len(pairs) == expected


def test_unscored_steps_and_method_switches():
    explored = [explore(1, 0.0), explore(2, 0.0), explore(3, 0.0)]
    agent, expert = [score(2, "agent", 0.0)], [score(2, "expert", 1.0), score(3, "expert", 1.0)]
    assert [p["id"] for p in pairs_for(explored, agent, expert)] == ["t1:outcome:t1", "t1:step:t2"]
    assert [p["kind"] for p in pairs_for(explored, agent, expert, step_pairs=False)] == ["outcome"]
    assert [p["kind"] for p in pairs_for(explored, agent, expert, outcome_pairs=False)] == ["step"]


def test_missing_expert_score_is_an_error():
    with pytest.raises(KeyError, match="no expert step reward"):
        pairs_for([explore(2, 0.0)], [score(2, "agent", 0.0)], [])


# --------------------------------------------------------------------------- held-out pairs
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
