"""Tokenize chat conversations with assistant-only loss masks, truncate, and pad batches dynamically.

Mask convention: ``mask[i] == 1`` means token ``i`` is a training target (it is predicted from the
logits at position ``i - 1``). Targets are exactly the assistant contents and their end-of-turn
token (``<|im_end|>``, ``</s>``, ``<|eot_id|>``), taken from the chat template's ``{% generation %}``
spans (config/templates/); system, user/observation turns, role headers and what follows the
end-of-turn token are never targets.

Truncation policy (both SFT and pairs): sequences longer than ``max_length`` are cut from the RIGHT,
i.e. the end of the conversation/completion is dropped. This keeps the system header (the
instruction and one-shot example every phase shares) and the first completion turns, which for a
step pair are where chosen and rejected differ. A sequence left without any target tokens is
reported by the callers (SFT skips it, the pair trainer drops the pair) rather than trained on.
"""

from __future__ import annotations

from collections.abc import Sequence


def encode_messages(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """``(input_ids, assistant_mask)`` of the whole conversation rendered with the chat template."""
    enc = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = list(enc["input_ids"])
    mask = [int(m) for m in enc["assistant_masks"]]
    if len(ids) != len(mask):
        raise ValueError("chat template gave an assistant mask of the wrong length")
    if any(m["role"] == "assistant" for m in messages) and not any(mask):
        raise ValueError(
            "the chat template produced no assistant mask; it needs {% generation %} markers"
        )
    return ids, mask


def encode_prompt(tokenizer, prompt: list[dict], add_generation_prompt: bool = True) -> list[int]:
    enc = tokenizer.apply_chat_template(
        prompt, tokenize=True, return_dict=True, add_generation_prompt=add_generation_prompt
    )
    return list(enc["input_ids"])


def encode_pair(tokenizer, prompt: list[dict], completion: list[dict]) -> tuple[list[int], list[int], int]:
    """``(input_ids, loss_mask, prompt_len)`` for ``prompt + completion``.

    The loss mask is 1 only on assistant tokens of the completion (observations inside a multi-turn
    completion and every prompt token are 0). ``prompt_len`` is the length of the rendered prompt
    (with the assistant generation header when the completion starts with an assistant turn), and
    it is asserted to be a token prefix of the full sequence.
    """
    if not completion:
        raise ValueError("empty completion")
    ids, mask = encode_messages(tokenizer, list(prompt) + list(completion))
    gen_prompt = completion[0]["role"] == "assistant"
    prompt_ids = encode_prompt(tokenizer, prompt, add_generation_prompt=gen_prompt) if prompt else []
    if ids[: len(prompt_ids)] != prompt_ids:
        raise ValueError("the prompt's tokens are not a prefix of prompt+completion's tokens")
    prompt_len = len(prompt_ids)
    loss_mask = [0] * prompt_len + mask[prompt_len:]
    return ids, loss_mask, prompt_len


def truncate(ids: list[int], mask: list[int], max_length: int | None) -> tuple[list[int], list[int], bool]:
    """Cut from the right to ``max_length``; returns ``(ids, mask, truncated)``."""
    if max_length is None or len(ids) <= max_length:
        return ids, mask, False
    return ids[:max_length], mask[:max_length], True


def pad_batch(
    sequences: Sequence[Sequence[int]], masks: Sequence[Sequence[int]], pad_id: int, padding_side: str = "right"
):
    """Pad to the longest sequence in the batch (never to a fixed max_length).

    Returns a dict of LongTensors ``input_ids``, ``attention_mask``, ``loss_mask`` with shape
    ``[batch, longest]``. Right padding is what training uses.
    """
    import torch

    width = max(len(s) for s in sequences)
    n = len(sequences)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    loss = torch.zeros((n, width), dtype=torch.long)
    for row, (seq, m) in enumerate(zip(sequences, masks)):
        k = len(seq)
        sl = slice(0, k) if padding_side == "right" else slice(width - k, width)
        input_ids[row, sl] = torch.tensor(seq, dtype=torch.long)
        attention[row, sl] = 1
        loss[row, sl] = torch.tensor(m, dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention, "loss_mask": loss}


class DynamicPaddingCollator:
    """Collate ``{"input_ids": [...], "loss_mask": [...]}`` examples, padding to the batch's longest."""

    def __init__(self, pad_id: int, padding_side: str = "right"):
        self.pad_id, self.padding_side = pad_id, padding_side

    def __call__(self, examples: Sequence[dict]):
        return pad_batch(
            [e["input_ids"] for e in examples], [e["loss_mask"] for e in examples], self.pad_id, self.padding_side
        )
