"""No token encoded or sampled twice, and no result changed by it.

The transformers backend carries an episode's KV cache from turn to turn and the N samples of an
action share their prompt's cache; Monte-Carlo scoring names each question (state + conversation)
and samples it once. Every test compares against the path without the saving: the tokens and the
estimates must be exactly the same. Real transformers backend on a tiny random model (its replies
are mostly invalid actions, so episodes run many turns).
"""

import copy

import pytest

from ipr.agent.backends import Request, Sampling, TransformersBackend
from ipr.agent.rollout import Episode, RolloutStats, run_episodes
from ipr.envs import generate, make_env
from ipr.method.scoring import (EnvSpec, ScoreRequest, expert_requests, known_estimates, mc_scheme,
                         mc_step_rewards)
from ipr.records import write_jsonl
from ipr.training.tiny_model import build_tiny_model

from _training_fixtures import CHATML

MODEL = {"vocab_size": 300, "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 2048}
MAX_TURNS = 3  # episodes from the task start
MC_TURNS = 5  # MC scoring: at least the expert's length


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("carry")
    splits = generate("sql_embedded", root / "assets", 0, train_per_template=1, test_per_template=1)
    corpus = [m["content"] for r in splits["train"] for m in r["messages"]]
    build_tiny_model(root / "model", corpus, MODEL, seed=0, chat_template=CHATML)
    return root, splits["train"]


def episodes_from_task_starts(root, tasks, groups=2, samples=3):
    spec = EnvSpec("sql_embedded", str(root / "assets"), MAX_TURNS)
    episodes = []
    for task in tasks[:groups]:
        for k in range(samples):
            env = spec.make()
            first = env.reset(task["task"])
            episodes.append(Episode(f"{task['task_id']}:s{k}", env, [{"role": "user", "content": first}],
                                    group=task["task_id"]))
    return episodes


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_carried_cache_gives_the_tokens_of_full_reencoding(world, temperature):
    root, tasks = world
    sampling = Sampling(temperature, 1.0, 8)
    outcomes, encoded = [], []
    for carry, batch_size in ((False, 64), (True, 64), (True, 2)):
        backend = TransformersBackend(root / "model", batch_size=batch_size, carry_cache=carry)
        episodes = run_episodes(backend, "sql_embedded", episodes_from_task_starts(root, tasks), sampling,
                                batch_size, seed=3, progress=False)
        outcomes.append([(e.messages, e.reward, e.turns) for e in episodes])
        encoded.append(backend.encoded_tokens)
        assert backend.kept == {}  # every episode's state released when it ended
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert max(e[2] for e in outcomes[0]) > 1  # several turns: the carried cache was used
    assert encoded[1] < encoded[0] / 2


def test_resume_cuts_the_kept_cache_to_the_shared_prefix(world):
    root, tasks = world
    sampling = Sampling(1.0, 1.0, 8)
    first = [{"role": "user", "content": tasks[0]["messages"][0]["content"]}]
    backend = TransformersBackend(root / "model", carry_cache=True)
    reply = backend.generate([Request(first, (7,), keep=("a",))], sampling)[0][0]
    assert len(backend.kept["a"][0]) > 0
    # A later turn that edits the conversation (another reply): only the common prefix is reused.
    for text in (reply, "Action: submit"):
        later = [*first, {"role": "assistant", "content": text}, {"role": "user", "content": "Observation: []"}]
        fresh = TransformersBackend(root / "model", carry_cache=False).generate([Request(later, (8, 9))], sampling)
        resumed = backend.generate([Request(later, (8, 9), resume="a")], sampling)
        assert resumed == fresh


def test_mc_step_rewards_equal_with_and_without_the_carried_cache(world):
    root, tasks = world
    spec = EnvSpec("sql_embedded", str(root / "assets"), MC_TURNS)
    by_id = {t["task_id"]: t for t in tasks[:2]}
    wanted = [r for t in by_id.values() for r in expert_requests(t)]
    sampling = Sampling(1.0, 1.0, 8)
    runs = [mc_step_rewards(TransformersBackend(root / "model", batch_size=b, carry_cache=carry), spec, by_id,
                            wanted, 3, sampling, b, seed=5, config_hash="h")
            for carry, b in ((False, 64), (True, 64), (True, 3))]
    assert runs[0] == runs[1] == runs[2]


def agent_copies_of_expert(by_id):
    """Agent actions equal to the expert's (as a policy trained on the expert often writes)."""
    return [ScoreRequest(r.task_id, r.t, "agent", r.action) for t in by_id.values() for r in expert_requests(t)]


def test_a_question_asked_twice_is_sampled_once_with_the_same_estimate(world, tmp_path):
    root, tasks = world
    spec = EnvSpec("sql_embedded", str(root / "assets"), MC_TURNS)
    by_id = {t["task_id"]: t for t in tasks[:2]}
    expert = [r for t in by_id.values() for r in expert_requests(t)]
    agent = agent_copies_of_expert(by_id)
    sampling = Sampling(1.0, 1.0, 8)
    scheme = mc_scheme("scorer", spec, 3, sampling, 5)
    backend = TransformersBackend(root / "model")

    def score(requests, known=None):
        stats = RolloutStats()
        records = mc_step_rewards(backend, spec, by_id, requests, 3, sampling, 8, 5, "h", stats, scheme, known)
        return records, stats.generated_tokens

    expert_alone, expert_tokens = score(expert)
    agent_alone, agent_tokens = score(agent)
    together, together_tokens = score(expert + agent)
    assert together == expert_alone + agent_alone  # the same estimates, one sampling of each question
    assert together_tokens == expert_tokens > 0 and agent_tokens == expert_tokens
    for e, a in zip(expert_alone, agent_alone):
        assert (e["samples"], e["step_reward"], e.get("mc_key")) == (a["samples"], a["step_reward"], a.get("mc_key"))

    # Across jobs: the expert scores file answers the agent's questions without a token generated.
    write_jsonl(tmp_path / "expert_scores.jsonl", expert_alone, "score")
    reused, reused_tokens = score(agent, known_estimates([tmp_path / "expert_scores.jsonl"]))
    assert reused == agent_alone and reused_tokens == 0

    # Another scheme (here N) never matches: its questions are sampled afresh.
    other = mc_step_rewards(backend, spec, by_id, agent, 2, sampling, 8, 5, "h",
                            scheme=mc_scheme("scorer", spec, 2, sampling, 5),
                            known=known_estimates([tmp_path / "expert_scores.jsonl"]))
    assert all(len(r["samples"]) == 2 for r in other if r["samples"])


@pytest.mark.parametrize("env_name", ["sql_embedded", "webshop", "alfworld"])
def test_state_key_names_the_state(tmp_path, env_name):
    settings = {"sql_embedded": {"train_per_template": 1, "test_per_template": 1},
                "webshop": {"num_products": 30, "num_train_tasks": 4, "num_test_tasks": 2},
                "alfworld": {"train_games": 2, "test_seen_games": 1, "test_unseen_games": 1}}[env_name]
    splits = generate(env_name, tmp_path, 0, **settings)
    task = splits["train"][0]
    from ipr.react import parse_action
    from ipr.method.scoring import assistant_indices

    actions = [parse_action(task["messages"][i]["content"]) for i in assistant_indices(task["messages"])]
    env, again = make_env(env_name, tmp_path, 30), make_env(env_name, tmp_path, 30)
    env.reset(task["task"])
    again.reset(copy.deepcopy(task["task"]))
    keys = [env.state_key()]
    assert again.state_key() == keys[0]
    snapshot = env.snapshot()
    for action in actions[:-1]:
        env.step(action)
        again.step(action)
        assert env.state_key() == again.state_key()
        keys.append(env.state_key())
    assert len(set(keys)) == len(keys)  # every expert step changes the state (its turn count at least)
    env.restore(snapshot)
    assert env.state_key() == keys[0]
