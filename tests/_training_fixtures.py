"""Shared tiny corpus, conversations and model settings for the training tests."""

import random
from pathlib import Path

from ipr.training.templates import load_template

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "config" / "templates"
CHATML = load_template("chatml", TEMPLATES_DIR)

SETTINGS = dict(vocab_size=400, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, chat_template="chatml")
SYSTEM = {"role": "system", "content": "You are an SQL agent. Answer with Thought: and Action: lines."}


def conversation(i: int) -> list[dict]:
    rng = random.Random(i)
    table = rng.choice(["users", "orders", "items"])
    return [
        SYSTEM,
        {"role": "user", "content": f"How many rows are in {table} with id {rng.randint(1, 50)}?"},
        {"role": "assistant", "content": "Thought: list the tables.\nAction: ```sql\nSHOW TABLES\n```"},
        {"role": "user", "content": f"Observation: [('{table}',), ('other',)]"},
        {"role": "assistant", "content": f"Thought: count.\nAction: ```sql\nSELECT COUNT(*) FROM {table}\n```"},
        {"role": "user", "content": f"Observation: [({rng.randint(1, 9)},)]"},
        {"role": "assistant", "content": "Thought: done.\nAction: submit"},
    ]


def corpus(n: int = 40):
    for i in range(n):
        for m in conversation(i):
            yield m["content"]


def make_pair(i: int, kind: str) -> dict:
    """A pair over conversation ``i``: a step pair has multi-turn completions with an observation."""
    conv = conversation(i)
    bad = {"role": "assistant", "content": "Thought: guess.\nAction: ```sql\nSELECT name FROM nowhere\n```"}
    if kind == "step":
        return {"kind": kind, "prompt": conv[:2], "chosen": conv[2:],
                "rejected": [bad, {"role": "user", "content": "Observation: Error executing query"}, conv[-1]]}
    return {"kind": kind, "prompt": conv[:4], "chosen": conv[4:5], "rejected": [bad]}


def with_reference(reference_dir, pairs: list[dict], config) -> list[dict]:
    """``pairs`` with reference log-probs under ``config`` (a ``MixedLossConfig``), as the reference
    pass writes them."""
    from ipr.training.mixed_loss import reference_logps

    return [dict(p, ref_chosen_logp=c, ref_rejected_logp=r, ref_max_length=config.max_length)
            for p, (c, r) in zip(pairs, reference_logps(reference_dir, pairs, config))]
