"""Tiny model builder, assistant masks, SFT and the mixed-loss trainer (tiny models in tmp dirs)."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from safetensors.torch import load_file

from _training_fixtures import CHATML, SETTINGS, SYSTEM, conversation, corpus, make_pair, with_reference
from ipr.training.config import MixedLossConfig, SFTConfig
from ipr.training.masking import DynamicPaddingCollator, encode_messages, encode_pair, truncate
from ipr.training.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def weights(d):
    return load_file(os.path.join(d, "model.safetensors"))


def test_build_is_deterministic_and_atomic(model_dir, tmp_path):
    again = tmp_path / "again"
    build_tiny_model(again, corpus(), SETTINGS, seed=0, chat_template=CHATML)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "chat_template.jinja"):
        assert (again / name).read_bytes() == (model_dir / name).read_bytes(), name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dir left
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["tie_word_embeddings"] and cfg["hidden_size"] // cfg["num_attention_heads"] >= 32
    with pytest.raises(ValueError):
        build_tiny_model(tmp_path / "bad", corpus(), {**SETTINGS, "num_attention_heads": 4}, seed=0, chat_template=CHATML)


def test_tokenizer_round_trip_and_same_ids(model_dir, tokenizer):
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    for text in ["Thought: count.\nAction: ```sql\nSELECT COUNT(*) FROM users\n```", "Ünïcödé  café 42!",
                 "<|im_start|>user\nhi<|im_end|>\n"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == raw.encode(text, add_special_tokens=False).ids
        assert tokenizer.decode(ids) == text
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"
    prompt = tokenizer.apply_chat_template([SYSTEM], add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")


def masked_text(tokenizer, ids, mask):
    return tokenizer.decode([i for i, m in zip(ids, mask) if m])


def test_assistant_mask_is_exact(tokenizer):
    conv = conversation(3)
    ids, mask = encode_messages(tokenizer, conv)
    expected = "".join(m["content"] + "<|im_end|>" for m in conv if m["role"] == "assistant")
    assert masked_text(tokenizer, ids, mask) == expected
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template(conv, tokenize=False)


def test_pair_mask_covers_only_completion_assistant_turns(tokenizer):
    conv = conversation(5)
    prompt, completion = conv[:4], conv[4:]  # completion: assistant, observation, assistant
    ids, mask, plen = encode_pair(tokenizer, prompt, completion)
    assert ids[:plen] == tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert not any(mask[:plen])
    expected = completion[0]["content"] + "<|im_end|>" + completion[2]["content"] + "<|im_end|>"
    assert masked_text(tokenizer, ids, mask) == expected
    assert "Observation" not in masked_text(tokenizer, ids, mask)


def test_collator_pads_to_longest_and_truncates_right(tokenizer):
    a = encode_messages(tokenizer, conversation(1))
    b = encode_messages(tokenizer, conversation(2)[:3])
    ids, mask, cut = truncate(*a, max_length=20)
    assert cut and len(ids) == 20 and ids == a[0][:20]
    batch = DynamicPaddingCollator(tokenizer.pad_token_id)(
        [{"input_ids": a[0], "loss_mask": a[1]}, {"input_ids": b[0], "loss_mask": b[1]}])
    width = max(len(a[0]), len(b[0]))
    assert batch["input_ids"].shape == (2, width)
    short = 1 if len(b[0]) < len(a[0]) else 0
    n = len((a, b)[short][0])
    assert batch["attention_mask"][short, :n].all() and not batch["attention_mask"][short, n:].any()
    assert (batch["input_ids"][short, n:] == tokenizer.pad_token_id).all()


SFT = SFTConfig(epochs=3, learning_rate=3e-3, batch_size=8, warmup_ratio=0.1, max_length=256, progress=False)


def test_sft_lowers_loss_and_is_repeatable(model_dir, tmp_path):
    from ipr.training.sft import train_sft

    convs = [conversation(i) for i in range(24)]
    m1 = train_sft(model_dir, tmp_path / "a", convs, SFT, seed=1)
    m2 = train_sft(model_dir, tmp_path / "b", convs, SFT, seed=1)
    assert m1["steps"] == 9 and len(m1["train_loss"]) == 9
    assert sum(m1["train_loss"][-3:]) < sum(m1["train_loss"][:3])
    assert m1["train_loss"] == m2["train_loss"]
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["target_tokens"] > 0
    assert (tmp_path / "a" / "tokenizer.json").exists()
    assert not list(tmp_path.glob(".a.*"))  # checkpoints and staging removed after success


def test_train_mixed_raises_margin(model_dir, tmp_path):
    from ipr.training.mixed_loss import train_mixed

    pairs = [make_pair(0, "step"), make_pair(1, "outcome"), make_pair(2, "step"), make_pair(3, "outcome")]
    config = MixedLossConfig(epochs=8, learning_rate=3e-3, batch_size=4, beta=0.1, label_smoothing=0.0,
                             max_length=256, progress=False)
    w = {"outcome_weight": 1.0, "step_weight": 1.0, "sft_weight": 1.0}
    m = train_mixed(model_dir, tmp_path / "p", with_reference(model_dir, pairs, config), config, w, seed=0)
    first, last = m["history"][0], m["history"][-1]
    assert first["reward_margin"] == pytest.approx(0.0, abs=1e-4)  # policy == reference at step 0
    assert first["loss_odpo"] == pytest.approx(0.6931, abs=1e-3)
    assert last["reward_margin"] > first["reward_margin"] + 0.1
    assert last["accuracy"] == 1.0
    assert {"outcome/reward_margin", "step/accuracy", "loss_sft"} <= set(last)
    assert (tmp_path / "p" / "model.safetensors").exists()


def test_train_mixed_empty_pairs_copies_policy(model_dir, tmp_path):
    from ipr.training.mixed_loss import train_mixed

    m = train_mixed(model_dir, tmp_path / "p", [], MixedLossConfig(epochs=1, learning_rate=1e-3, batch_size=2,
                    beta=0.1, label_smoothing=0.0, max_length=256), {}, seed=0)
    assert m["skipped"] and m["steps"] == 0
    assert (tmp_path / "p" / "model.safetensors").read_bytes() == (model_dir / "model.safetensors").read_bytes()
    assert json.loads((tmp_path / "p" / "metrics.json").read_text())["skipped"]
