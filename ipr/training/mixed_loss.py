"""The IPR mixed loss (paper Eq. 7-10) and its trainer.

    L = w_o * L_oDPO + w_s * L_sDPO + w_sft * L_SFT

For each pair, ``logp`` is the SUM of token log-probs over the assistant tokens of the completion
only: every prompt token, every role header and every observation/user turn inside a multi-turn
chosen/rejected completion is masked out (``ipr.training.masking.encode_pair``). Per pair,

    z = (pc - rc) - (pr - rr)                      (policy/reference, chosen/rejected)
    l = -(1 - ls) * logsigmoid(beta * z) - ls * logsigmoid(-beta * z)

L_oDPO is the mean of ``l`` over the outcome pairs of the batch and L_sDPO the mean over its step
pairs (0 when the batch has none of that kind). L_SFT is the NLL of the chosen completion's
assistant tokens over all pairs of the batch: ``sft_normalize="token"`` (default) divides the summed
NLL by the number of chosen assistant tokens in the batch; ``"sum"`` is the mean over pairs of each
pair's summed NLL, which is what the authors' ``dpo_with_sft_loss`` does (it is ~tokens-per-
completion times larger, so it dominates the DPO terms at w_sft = 1).

Differences from the authors' trainer, on purpose: reference log-probs are computed once up front
(the reference is frozen), DPO terms are averaged per pair kind so each weight means what Eq. 10
says, and batches are dynamically padded.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Sequence
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
from ipr.training.masking import encode_pair, pad_batch, truncate

log = logging.getLogger(__name__)
KINDS = ("outcome", "step")


def mixed_loss(
    policy_chosen_logps,
    policy_rejected_logps,
    ref_chosen_logps,
    ref_rejected_logps,
    chosen_nll,
    chosen_tokens,
    kinds: Sequence[str],
    beta: float,
    weights: dict,
    label_smoothing: float = 0.0,
    sft_normalize: str = "token",
):
    """The pure IPR loss on per-pair tensors of shape ``[B]``; returns ``(loss, metrics)``.

    ``chosen_nll``: per-pair SUMMED NLL of the chosen assistant tokens (normally
    ``-policy_chosen_logps``); ``chosen_tokens``: their counts. ``kinds``: "outcome"|"step" per pair.
    ``weights``: outcome_weight, step_weight, sft_weight. ``metrics`` holds floats: each loss term,
    and per kind the mean implicit rewards (beta * (policy - reference)), margin and accuracy.
    """
    import torch
    import torch.nn.functional as F

    if sft_normalize not in ("token", "sum"):
        raise ValueError(f"sft_normalize must be 'token' or 'sum', got {sft_normalize!r}")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown pair kind(s) {sorted(unknown)}; expected {KINDS}")
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps)
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps)
    logits = chosen_rewards - rejected_rewards  # = beta * z
    per_pair = -(1.0 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)

    # 0 for an absent kind; stays on the graph (so backward works even if only SFT is weighted), and
    # "+ 0.0" turns the -0.0 of a negative sum times 0 into 0.0 for the logs.
    zero = policy_chosen_logps.sum() * 0.0 + 0.0
    terms, metrics = {}, {}
    for kind in KINDS:
        sel = torch.tensor([k == kind for k in kinds], device=per_pair.device)
        n = int(sel.sum())
        metrics[f"{kind}/count"] = n
        if n == 0:
            terms[kind] = zero
            continue
        terms[kind] = per_pair[sel].mean()
        cr, rr = chosen_rewards[sel].detach(), rejected_rewards[sel].detach()
        metrics[f"{kind}/rewards_chosen"] = float(cr.mean())
        metrics[f"{kind}/rewards_rejected"] = float(rr.mean())
        metrics[f"{kind}/reward_margin"] = float((cr - rr).mean())
        metrics[f"{kind}/accuracy"] = float((cr > rr).float().mean())

    if sft_normalize == "token":
        sft = chosen_nll.sum() / chosen_tokens.sum().clamp(min=1)
    else:
        sft = chosen_nll.mean()
    loss = (
        float(weights.get("outcome_weight", 1.0)) * terms["outcome"]
        + float(weights.get("step_weight", 1.0)) * terms["step"]
        + float(weights.get("sft_weight", 1.0)) * sft
    )
    metrics.update(
        {
            "loss": float(loss.detach()),
            "loss_odpo": float(terms["outcome"].detach()),
            "loss_sdpo": float(terms["step"].detach()),
            "loss_sft": float(sft.detach()),
            "reward_margin": float((chosen_rewards - rejected_rewards).detach().mean()),
            "accuracy": float((chosen_rewards > rejected_rewards).float().mean()),
        }
    )
    return loss, metrics


def sequence_logps(model, input_ids, attention_mask, loss_mask):
    """Per-sequence SUM of log-probs over tokens with ``loss_mask == 1`` (right-padded batch, ``[B]``)."""
    return target_logps(model, input_ids, attention_mask, loss_mask)[0]


def _encode_pairs(tokenizer, pairs: list[dict], max_length: int | None):
    """Tokenize pairs; drop (and count) those left without targets on either side."""
    encoded, dropped, truncated = [], 0, 0
    for pair in pairs:
        kind = pair["kind"]
        if kind not in KINDS:
            raise ValueError(f"pair {pair.get('id', '?')}: unknown kind {kind!r}")
        sides = []
        for side in ("chosen", "rejected"):
            ids, mask, _ = encode_pair(tokenizer, pair["prompt"], pair[side])
            ids, mask, cut = truncate(ids, mask, max_length)
            truncated += cut
            sides.append((ids, mask))
        if any(sum(m[1:]) == 0 for _, m in sides):
            dropped += 1
            continue
        encoded.append({"kind": kind, "chosen": sides[0], "rejected": sides[1]})
    return encoded, dropped, truncated


def _pair_batch(encoded: list[dict], idx: list[int], pad_id: int):
    """Chosen rows first, then rejected rows: one forward for both."""
    seqs = [encoded[i]["chosen"][0] for i in idx] + [encoded[i]["rejected"][0] for i in idx]
    masks = [encoded[i]["chosen"][1] for i in idx] + [encoded[i]["rejected"][1] for i in idx]
    return pad_batch(seqs, masks, pad_id)


def _reference_logps(reference_dir, encoded, batch_size: int, device: str):
    """Chosen/rejected reference log-probs of every pair, computed once with the frozen reference."""
    import torch

    ref, tokenizer = load_model(reference_dir, device)
    ref.eval()
    lengths = [max(len(e["chosen"][0]), len(e["rejected"][0])) for e in encoded]
    order = sorted(range(len(encoded)), key=lambda i: lengths[i])
    chosen = torch.zeros(len(encoded), dtype=torch.float64)
    rejected = torch.zeros(len(encoded), dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in _pair_batch(encoded, idx, tokenizer.pad_token_id).items()}
            sums = sequence_logps(ref, batch["input_ids"], batch["attention_mask"], batch["loss_mask"]).cpu()
            chosen[idx] = sums[: len(idx)].double()
            rejected[idx] = sums[len(idx) :].double()
    del ref
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return chosen.float(), rejected.float()


def _copy_unchanged(policy_dir, out_dir, metrics: dict) -> None:
    with atomic_dir(out_dir) as tmp:
        for item in Path(policy_dir).iterdir():
            if item.name in ("metrics.json", "training_curve.png"):
                continue
            if item.is_dir():
                shutil.copytree(item, tmp / item.name)
            else:
                shutil.copy2(item, tmp / item.name)
        write_json_file(tmp / "metrics.json", metrics)


def train_mixed(
    policy_dir, reference_dir, out_dir, pairs: list[dict], settings: dict, weights: dict, seed: int
) -> dict:
    """Train the policy in ``policy_dir`` on ``pairs`` with the IPR mixed loss; save to ``out_dir``.

    ``settings``: epochs, learning_rate, batch_size (pairs per step), beta, label_smoothing,
    max_length; optional sft_normalize ("token"), warmup_ratio (0.0; then cosine decay to 0),
    max_grad_norm (1.0), weight_decay (0.0), device ("auto"), num_threads (torch default),
    progress (True).
    ``weights``: outcome_weight, step_weight, sft_weight. ``pairs``: dicts with kind, prompt, chosen,
    rejected (full message lists). With no usable pairs, the policy is copied unchanged and
    ``metrics["skipped"]`` says why. Returns the metrics written to ``out_dir/metrics.json``.
    """
    import torch
    from tqdm import tqdm

    seed_everything(seed)
    device = pick_device(settings)
    base = {
        "kind": "mixed",
        "seed": seed,
        "settings": dict(settings),
        "weights": dict(weights),
        "num_pairs": len(pairs),
        "pair_kinds": {k: sum(p["kind"] == k for p in pairs) for k in KINDS},
    }
    if not pairs:
        metrics = {**base, "skipped": "no pairs: policy copied unchanged", "steps": 0}
        _copy_unchanged(policy_dir, out_dir, metrics)
        return metrics

    model, tokenizer = load_model(policy_dir, device)
    encoded, dropped, truncated = _encode_pairs(tokenizer, pairs, settings.get("max_length"))
    base.update({"num_dropped_pairs": dropped, "num_truncated_sequences": truncated})
    if not encoded:
        metrics = {**base, "skipped": "no pair has assistant tokens on both sides: policy copied unchanged",
                   "steps": 0}
        _copy_unchanged(policy_dir, out_dir, metrics)
        return metrics

    batch_size = int(settings["batch_size"])
    t0 = time.perf_counter()
    ref_chosen, ref_rejected = _reference_logps(reference_dir, encoded, batch_size, device)
    ref_time = time.perf_counter() - t0

    beta = float(settings["beta"])
    label_smoothing = float(settings.get("label_smoothing", 0.0))
    sft_normalize = settings.get("sft_normalize", "token")
    epochs = int(settings["epochs"])
    total_steps = math.ceil(len(encoded) / batch_size) * epochs
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(settings["learning_rate"]), weight_decay=float(settings.get("weight_decay", 0.0))
    )
    scheduler = cosine_schedule(optimizer, total_steps, float(settings.get("warmup_ratio", 0.0)))
    max_grad_norm = float(settings.get("max_grad_norm", 1.0))
    generator = torch.Generator().manual_seed(seed)
    lengths = [max(len(e["chosen"][0]), len(e["rejected"][0])) for e in encoded]

    model.train()
    history, tokens = [], 0
    start = time.perf_counter()
    bar = tqdm(total=total_steps, desc="mixed", disable=not settings.get("progress", True), mininterval=2.0)
    for epoch in range(epochs):
        for idx in length_grouped_batches(lengths, batch_size, generator):
            batch = {k: v.to(device) for k, v in _pair_batch(encoded, idx, tokenizer.pad_token_id).items()}
            sums, counts = target_logps(model, batch["input_ids"], batch["attention_mask"], batch["loss_mask"])
            n = len(idx)
            loss, m = mixed_loss(
                sums[:n], sums[n:], ref_chosen[idx].to(device), ref_rejected[idx].to(device),
                -sums[:n], counts[:n], [encoded[i]["kind"] for i in idx],
                beta, weights, label_smoothing, sft_normalize,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm > 0:
                m["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm))
            optimizer.step()
            scheduler.step()
            tokens += int(batch["attention_mask"].sum())
            history.append({"epoch": epoch, **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in m.items()}})
            bar.update(1)
            bar.set_postfix(loss=f"{m['loss']:.4f}", margin=f"{m['reward_margin']:.3f}")
    bar.close()
    wall = time.perf_counter() - start

    metrics = {
        **base,
        "device": device,
        "num_trained_pairs": len(encoded),
        "steps": total_steps,
        "history": history,
        "train_loss": [h["loss"] for h in history],
        "final": _summarise(history[-max(1, math.ceil(len(encoded) / batch_size)):]),
        "reference_time_s": round(ref_time, 3),
        "wall_time_s": round(wall, 3),
        "tokens": tokens,
        "tokens_per_s": round(tokens / wall, 1) if wall > 0 else None,
    }
    from ipr.training.sft import save_model_dir

    save_model_dir(model, tokenizer, out_dir, metrics)
    return metrics


def _summarise(history: list[dict]) -> dict:
    """Mean of each numeric metric over the given steps (the last epoch, for ``metrics['final']``)."""
    keys = sorted({k for h in history for k, v in h.items() if isinstance(v, (int, float)) and k != "epoch"})
    return {k: round(sum(h[k] for h in history if k in h) / sum(1 for h in history if k in h), 6) for k in keys}
