"""The lock-step rollout engine, driven by a scripted backend (stands in for the model only) on the
real SQL environment: batching, refill, invalid actions, context overflow, snapshot branching."""

import pytest

from ipr.react import parse_action
from ipr.agent.rollout import Episode, Sampling, run_episodes
from ipr.envs import generate
from ipr.records import InputError
from ipr.method.scoring import EnvSpec, expert_states


class ScriptedBackend:
    """Replies by a rule on the last user message; records every batch it was asked for."""

    def __init__(self, reply, room=10**9):
        self.reply, self.room, self.calls = reply, room, []

    generated_tokens = 0

    def generate(self, requests, sampling):
        self.calls.append(len(requests))
        return [[self.reply(r.messages)] * r.n if len(r.messages) <= self.room else [] for r in requests]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("sql")
    splits = generate("sql_embedded", root, 0, train_per_template=1, test_per_template=1)
    return EnvSpec("sql_embedded", str(root), 6), splits["train"]


def episodes_for(spec, tasks):
    out = []
    for task in tasks:
        env = spec.make()
        out.append(Episode(task["task_id"], env, [{"role": "user", "content": env.reset(task["task"])}], start=0))
    return out


def test_expert_replies_solve_every_task_in_batches(bench):
    spec, tasks = bench
    scripts = {t["messages"][0]["content"]: [m["content"] for m in t["messages"] if m["role"] == "assistant"]
               for t in tasks[:10]}

    def reply(prompt):
        turn = sum(m["role"] == "assistant" for m in prompt)
        return scripts[prompt[1]["content"]][turn]

    backend = ScriptedBackend(reply)
    done = run_episodes(backend, "sql_embedded", episodes_for(spec, tasks[:10]), Sampling(), batch_size=4,
                        progress=False)
    assert all(ep.done and ep.reward == 1.0 and ep.success for ep in done)
    assert max(backend.calls) == 4  # never more than batch_size prompts per call
    assert sum(backend.calls) == sum(len(s) for s in scripts.values())  # finished episodes are refilled


def test_text_without_action_is_an_observation_not_a_crash(bench):
    spec, tasks = bench
    (episode,) = run_episodes(ScriptedBackend(lambda p: "I am not sure."), "sql_embedded",
                              episodes_for(spec, tasks[:1]), Sampling(), batch_size=2, progress=False)
    assert episode.done and episode.reward == 0.0 and episode.turns == 6  # max_turns
    assert episode.messages[2]["content"].startswith("Observation: Invalid action")


def test_full_context_ends_the_episode_unsolved(bench):
    spec, tasks = bench
    backend = ScriptedBackend(lambda p: "Thought: look.\nAction: ```sql\nSHOW TABLES\n```", room=4)
    (episode,) = run_episodes(backend, "sql_embedded", episodes_for(spec, tasks[:1]), Sampling(), batch_size=2,
                              progress=False)
    assert episode.done and episode.reward == 0.0 and episode.meta["context_exhausted"]


def test_snapshot_states_match_replay_from_reset(bench):
    spec, tasks = bench
    task = tasks[0]
    for state in expert_states(spec, task):
        branched = spec.make()
        branched.restore(state.snapshot)
        replayed = spec.make()
        replayed.reset(task["task"])
        for message in task["messages"][1 : state.prefix : 2]:
            replayed.step(parse_action(message["content"]))
        for action in ("```sql\nSHOW TABLES\n```", "submit"):
            a, b = branched.step(action), replayed.step(action)
            assert (a.observation, a.reward, a.done) == (b.observation, b.reward, b.done)


def test_horizon_shorter_than_the_expert_is_one_clear_error(bench):
    spec, tasks = bench
    short = EnvSpec(spec.name, spec.assets_dir, max_turns=2)
    with pytest.raises(InputError, match=r"expert takes \d+ steps but the episode ends after 2 .*max_turns is 2"):
        expert_states(short, tasks[0])
