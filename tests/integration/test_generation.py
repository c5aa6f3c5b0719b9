"""Seeded generation: a sample depends on its own seed only, never on its batch, and the seeded
Gumbel-max sampler draws from the right distribution. Real transformers backend on a tiny model."""

import math

import pytest
import torch

from ipr.agent.backends import Request, Sampling, TransformersBackend, pick_tokens, seeded_uniform
from ipr.agent.rollout import Episode, run_episodes
from ipr.envs import generate
from ipr.method.scoring import EnvSpec, ScoreRequest, expert_requests, mc_step_rewards
from ipr.training.tiny_model import build_tiny_model

from _training_fixtures import CHATML

MODEL = {"vocab_size": 300, "hidden_size": 64, "intermediate_size": 64, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 2048}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    splits = generate("sql_embedded", root / "assets", 0, train_per_template=1, test_per_template=1)
    corpus = [m["content"] for r in splits["train"] for m in r["messages"]]
    build_tiny_model(root / "model", corpus, MODEL, seed=0, chat_template=CHATML)
    return root, splits["train"]


def test_noise_is_a_function_of_seed_step_and_token_only():
    seeds = torch.tensor([3, 7, 11], dtype=torch.int64)
    together = seeded_uniform(seeds, step=5, vocab_size=50)
    alone = torch.cat([seeded_uniform(seeds[i : i + 1], step=5, vocab_size=50) for i in range(3)])
    assert torch.equal(together, alone)
    assert not torch.equal(together, seeded_uniform(seeds, step=6, vocab_size=50))
    assert 0.0 < together.min() and together.max() < 1.0


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.5, 1.0), (1.0, 0.7)])
def test_gumbel_max_samples_from_the_tempered_nucleus(temperature, top_p):
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    draws = 20000
    picks = pick_tokens(logits.expand(draws, 4), torch.arange(draws, dtype=torch.int64), 0,
                        Sampling(temperature, top_p))
    frequency = torch.bincount(picks, minlength=4).double() / draws
    probs = torch.softmax(logits / temperature, -1).double()
    if top_p < 1.0:  # keep the smallest prefix of tokens whose mass reaches top_p
        keep = (probs.cumsum(0) - probs) < top_p
        probs = torch.where(keep, probs, 0.0)
        probs /= probs.sum()
    assert torch.allclose(frequency, probs, atol=4 * math.sqrt(0.25 / draws))


def requests(tasks):
    return [Request([{"role": "user", "content": t["messages"][0]["content"]}], (i, 100 + i)) for i, t in enumerate(tasks)]


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_completion_does_not_depend_on_its_batch(world, temperature):
    root, tasks = world
    sampling = Sampling(temperature, 1.0, 16)
    wanted = requests(tasks[:6])
    together = TransformersBackend(root / "model", batch_size=16).generate(wanted, sampling)
    small_batches = TransformersBackend(root / "model", batch_size=3)
    alone = [small_batches.generate([r], sampling)[0] for r in wanted]
    assert together == alone
    if temperature > 0:  # different seeds do give different samples
        assert len({text for texts in together for text in texts}) > len(together)


def test_group_first_turn_is_one_request_with_n_samples(world):
    root, tasks = world
    spec = EnvSpec("sql_embedded", str(root / "assets"), 5)

    class Recorder:
        generated_tokens = 0

        def __init__(self):
            self.ns = []

        def generate(self, batch, sampling):
            self.ns.append([r.n for r in batch])
            return [["Action: submit"] * r.n for r in batch]

    episodes = []
    for group in ("a", "b"):
        for k in range(4):
            env = spec.make()
            first = env.reset(tasks[0]["task"])
            episodes.append(Episode(f"{group}:s{k}", env, [{"role": "user", "content": first}], group=group))
    backend = Recorder()
    run_episodes(backend, "sql_embedded", episodes, Sampling(), batch_size=5, progress=False)
    assert backend.ns == [[4, 4]]  # both groups admitted whole (batch 5 overshoots to 8), one request each


def test_mc_step_rewards_do_not_depend_on_batch_size(world):
    root, tasks = world
    spec = EnvSpec("sql_embedded", str(root / "assets"), 5)
    by_id = {t["task_id"]: t for t in tasks[:3]}
    wanted: list[ScoreRequest] = [r for t in by_id.values() for r in expert_requests(t)]
    sampling = Sampling(1.0, 1.0, 12)
    runs = [mc_step_rewards(TransformersBackend(root / "model", batch_size=b), spec, by_id, wanted, 3, sampling, b,
                            seed=5, config_hash="h") for b in (2, 64)]
    assert runs[0] == runs[1]
    assert any(len(r["samples"]) == 3 for r in runs[0])
