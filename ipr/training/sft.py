"""Supervised fine-tuning with assistant-only loss (paper Eq. 1-2), on the shared training engine.

Loss = mean NLL over all assistant target tokens of the batch (Eq. 2 normalised by the number of
assistant tokens); logits are projected only at target positions. Batches are length-grouped and
dynamically padded (right). Optimiser: AdamW, linear warmup (``warmup_ratio``) then cosine decay,
gradient clipping at ``max_grad_norm``; fp32 on CPU, bf16 on GPU. Full or LoRA, single process or
DeepSpeed: see ``ipr.training.trainer``. Same seed + same inputs + same thread count on CPU ->
identical weights.
"""

from __future__ import annotations

import logging

from ipr.training.common import target_logps
from ipr.training.config import SFTConfig
from ipr.training.masking import DynamicPaddingCollator, encode_messages, truncate

log = logging.getLogger(__name__)


def sft_objective(model, batch):
    """Token-mean NLL of the assistant targets of the batch."""
    sums, counts = target_logps(model, batch["input_ids"], batch["attention_mask"], batch["loss_mask"])
    n_tokens = counts.sum().clamp(min=1)
    loss = -sums.sum() / n_tokens
    return loss, {"target_tokens": float(n_tokens)}


def train_sft(model_dir, out_dir, conversations: list[list[dict]], config: SFTConfig, seed: int) -> dict:
    """Fine-tune the model in ``model_dir`` on full conversations; save model+tokenizer+metrics to ``out_dir``.

    ``config``: the engine's settings (``TrainingConfig``) and ``loss_on`` ("assistant", or "all"
    for language-model pretraining). Returns the metrics dict that is also written to
    ``out_dir/metrics.json``.
    """
    from transformers import AutoTokenizer

    from ipr.training.trainer import train

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    max_length = config.max_length
    loss_on_all = config.loss_on == "all"

    examples, n_truncated, n_empty = [], 0, 0
    for conv in conversations:
        ids, mask = encode_messages(tokenizer, conv)
        if loss_on_all:  # language-model pretraining: every token is a target
            mask = [1] * len(ids)
        ids, mask, cut = truncate(ids, mask, max_length)
        n_truncated += cut
        if sum(mask[1:]) == 0:
            n_empty += 1
            continue
        examples.append({"input_ids": ids, "loss_mask": mask})
    if not examples:
        raise ValueError("train_sft: no conversation has an assistant token to train on")

    metrics = {
        "kind": "sft",
        "settings": config.to_dict(),
        "num_conversations": len(conversations),
        "num_examples": len(examples),
        "num_truncated": n_truncated,
        "num_without_targets": n_empty,
        "target_tokens": sum(sum(e["loss_mask"][1:]) for e in examples),
    }
    return train(model_dir, out_dir, examples, [len(e["input_ids"]) for e in examples],
                 DynamicPaddingCollator(tokenizer.pad_token_id), sft_objective, config, seed, metrics)
