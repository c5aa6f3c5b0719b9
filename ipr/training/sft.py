"""Supervised fine-tuning with assistant-only loss (paper Eq. 1-2), a small plain torch loop.

Why not TRL's ``SFTTrainer``: this loop is shorter than the configuration needed to make TRL do
the same thing (length grouping, exact multi-turn masks from our template, repeatable CPU runs),
does not write a ``datasets`` cache, projects logits only at target positions, and shares its
masking and batching with the mixed-loss trainer. Loss = mean NLL over all assistant target tokens
of the batch (token-mean, Eq. 2 normalised by the number of assistant tokens).

Optimiser: AdamW (weight decay 0), linear warmup (``warmup_ratio``) then cosine decay to 0,
gradient clipping at ``max_grad_norm`` (default 1.0), fp32. Batches are length-grouped and
dynamically padded (right). Same seed + same inputs + same thread count on CPU -> identical weights.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from ipr.training.common import (
    atomic_dir,
    cosine_schedule,
    length_grouped_batches,
    load_model,
    pick_device,
    seed_everything,
    target_logps,
    write_json_file,
)
from ipr.training.masking import encode_messages, pad_batch, truncate

log = logging.getLogger(__name__)


def train_sft(model_dir, out_dir, conversations: list[list[dict]], settings: dict, seed: int) -> dict:
    """Fine-tune the model in ``model_dir`` on full conversations; save model+tokenizer+metrics to ``out_dir``.

    ``settings``: epochs, learning_rate, batch_size, warmup_ratio, max_length; optional
    max_grad_norm (1.0), weight_decay (0.0), device ("auto"), num_threads (torch default),
    progress (True), loss_on ("assistant", or "all" for language-model pretraining).
    Returns the metrics dict that is also written to ``out_dir/metrics.json``.
    """
    import torch
    from tqdm import tqdm

    seed_everything(seed)
    device = pick_device(settings)
    model, tokenizer = load_model(model_dir, device)
    max_length = settings.get("max_length")
    loss_on_all = settings.get("loss_on", "assistant") == "all"

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
        examples.append((ids, mask))
    if not examples:
        raise ValueError("train_sft: no conversation has an assistant token to train on")
    lengths = [len(ids) for ids, _ in examples]

    batch_size = int(settings["batch_size"])
    epochs = int(settings["epochs"])
    steps_per_epoch = math.ceil(len(examples) / batch_size)
    total_steps = steps_per_epoch * epochs
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(settings["learning_rate"]), weight_decay=float(settings.get("weight_decay", 0.0))
    )
    scheduler = cosine_schedule(optimizer, total_steps, float(settings.get("warmup_ratio", 0.0)))
    max_grad_norm = float(settings.get("max_grad_norm", 1.0))
    generator = torch.Generator().manual_seed(seed)

    model.train()
    curve, epoch_losses = [], []
    real_tokens = padded_tokens = target_tokens = 0
    start = time.perf_counter()
    bar = tqdm(total=total_steps, desc="sft", disable=not settings.get("progress", True), mininterval=2.0)
    for epoch in range(epochs):
        loss_sum = tok_sum = 0.0
        for batch_idx in length_grouped_batches(lengths, batch_size, generator):
            batch = pad_batch([examples[i][0] for i in batch_idx], [examples[i][1] for i in batch_idx],
                              tokenizer.pad_token_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            sums, counts = target_logps(model, batch["input_ids"], batch["attention_mask"], batch["loss_mask"])
            n_tok = int(counts.sum())
            loss = -sums.sum() / n_tok
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            scheduler.step()
            value = float(loss.detach())
            curve.append(round(value, 6))
            loss_sum += value * n_tok
            tok_sum += n_tok
            real_tokens += int(batch["attention_mask"].sum())
            padded_tokens += batch["input_ids"].numel()
            target_tokens += n_tok
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{value:.4f}")
        epoch_losses.append(round(loss_sum / max(tok_sum, 1), 6))
        log.info("sft epoch %d: mean token loss %.4f", epoch, epoch_losses[-1])
    bar.close()
    wall = time.perf_counter() - start

    metrics = {
        "kind": "sft",
        "seed": seed,
        "settings": dict(settings),
        "device": device,
        "num_threads": torch.get_num_threads(),
        "num_conversations": len(conversations),
        "num_examples": len(examples),
        "num_truncated": n_truncated,
        "num_without_targets": n_empty,
        "steps": total_steps,
        "train_loss": curve,
        "epoch_loss": epoch_losses,
        "final_loss": epoch_losses[-1],
        "tokens": real_tokens,
        "padded_tokens": padded_tokens,
        "target_tokens": target_tokens,
        "padding_fraction": round(1 - real_tokens / max(padded_tokens, 1), 4),
        "wall_time_s": round(wall, 3),
        "tokens_per_s": round(real_tokens / wall, 1),
    }
    save_model_dir(model, tokenizer, out_dir, metrics)
    return metrics


def save_model_dir(model, tokenizer, out_dir, metrics: dict) -> None:
    """Save model, tokenizer and ``metrics.json`` to ``out_dir`` atomically."""
    model.config.use_cache = True
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json_file(Path(tmp) / "metrics.json", metrics)
        _maybe_plot(metrics, Path(tmp) / "training_curve.png")


def _maybe_plot(metrics: dict, path: Path) -> None:
    curve = metrics.get("train_loss")
    if not curve:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is optional
        return
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(curve) + 1), curve)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(metrics.get("kind", "training"))
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
