"""The IPR mixed loss (paper Eq. 7-10), the reference pass, and the pair trainer.

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
pair's summed NLL.

``variant="reference_code"`` reproduces the authors' ``dpo_with_sft_loss`` instead: one sigmoid term
averaged over every pair of the batch whatever its kind, plus the mean of the chosen side's summed
NLL, with equal weights (the config weights are ignored). Its SFT term is ~tokens-per-completion
times larger than the token mean, so it dominates the DPO term.

The reference model is never in memory while training: :func:`reference_logps` runs it once
over a pairs file (its own job in the workflow) and stores the log-probs with the pairs, computed on
exactly the sequences the trainer will see (same template, same truncation).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ipr.training.common import atomic_dir, load_model, pick_device, target_logps, write_json_file
from ipr.training.config import MixedLossConfig
from ipr.training.masking import encode_pair, pad_batch, truncate

log = logging.getLogger(__name__)
KINDS = ("outcome", "step")
VARIANTS = ("ipr", "reference_code")


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
    variant: str = "ipr",
):
    """The pure IPR loss on per-pair tensors of shape ``[B]``; returns ``(loss, metrics)``.

    ``chosen_nll``: per-pair SUMMED NLL of the chosen assistant tokens (normally
    ``-policy_chosen_logps``); ``chosen_tokens``: their counts. ``kinds``: "outcome"|"step" per pair.
    ``weights``: outcome_weight, step_weight, sft_weight. ``metrics`` holds floats: each loss term,
    and per kind the mean implicit rewards (beta * (policy - reference)), margin and accuracy.
    ``variant``: "ipr" (Eq. 10) or "reference_code" (the authors' loss, see the module docstring).
    """
    import torch
    import torch.nn.functional as F

    if variant not in VARIANTS:
        raise ValueError(f"loss variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "reference_code":
        sft_normalize, weights = "sum", {"outcome_weight": 1.0, "step_weight": 1.0, "sft_weight": 1.0}
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
    if variant == "reference_code":
        loss = per_pair.mean() + sft
    else:
        loss = (
            float(weights["outcome_weight"]) * terms["outcome"]
            + float(weights["step_weight"]) * terms["step"]
            + float(weights["sft_weight"]) * sft
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


def encode_pairs(tokenizer, pairs: Iterable[dict], max_length: int | None) -> Iterator[dict]:
    """Tokenized pairs: ``{"kind", "chosen": (ids, mask), "rejected": (ids, mask), "trainable"}``.

    ``trainable`` is False for a pair left without targets on a side after truncation (the trainer
    drops it); ``truncated`` counts the sides that were cut.
    """
    for pair in pairs:
        if pair["kind"] not in KINDS:
            raise ValueError(f"pair {pair.get('id', '?')}: unknown kind {pair['kind']!r}")
        sides, truncated = [], 0
        for side in ("chosen", "rejected"):
            ids, mask, _ = encode_pair(tokenizer, pair["prompt"], pair[side])
            ids, mask, cut = truncate(ids, mask, max_length)
            truncated += cut
            sides.append((ids, mask))
        yield {"kind": pair["kind"], "chosen": sides[0], "rejected": sides[1], "truncated": truncated,
               "trainable": all(sum(m[1:]) > 0 for _, m in sides)}


def reference_logps(reference_dir, pairs: list[dict], config: MixedLossConfig) -> list[tuple[float, float]]:
    """``(chosen, rejected)`` summed log-probs of each pair under the frozen reference model.

    Sequences are sorted by length and batched (``config.batch_size`` pairs) under no_grad; the
    values do not depend on the batching. ``config`` is the trainer's (the same ``max_length``).
    """
    import torch
    from tqdm import tqdm

    device = pick_device(config.device, config.num_threads)
    model, tokenizer = load_model(reference_dir, device)
    model.eval()
    max_length = config.max_length
    encoded = list(encode_pairs(tokenizer, pairs, max_length))
    order = sorted(range(len(encoded)), key=lambda i: max(len(encoded[i]["chosen"][0]), len(encoded[i]["rejected"][0])))
    values = [(0.0, 0.0)] * len(encoded)
    batch_size = config.batch_size
    progress = config.progress
    with torch.no_grad(), tqdm(total=len(order), desc="reference log-probs", unit="pair", disable=not progress) as bar:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = pad_batch([encoded[i]["chosen"][0] for i in idx] + [encoded[i]["rejected"][0] for i in idx],
                              [encoded[i]["chosen"][1] for i in idx] + [encoded[i]["rejected"][1] for i in idx],
                              tokenizer.pad_token_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            sums = sequence_logps(model, batch["input_ids"], batch["attention_mask"], batch["loss_mask"]).tolist()
            for j, i in enumerate(idx):
                values[i] = (sums[j], sums[len(idx) + j])
            bar.update(len(idx))
    return values


class PairCollator:
    """Chosen rows first, then rejected rows (one forward for both), right-padded to the longest."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, examples: Sequence[dict]) -> dict:
        import torch

        batch = pad_batch([e["chosen_ids"] for e in examples] + [e["rejected_ids"] for e in examples],
                          [e["chosen_mask"] for e in examples] + [e["rejected_mask"] for e in examples],
                          self.pad_id)
        batch["ref_chosen"] = torch.tensor([e["ref_chosen"] for e in examples], dtype=torch.float32)
        batch["ref_rejected"] = torch.tensor([e["ref_rejected"] for e in examples], dtype=torch.float32)
        batch["kind"] = torch.tensor([KINDS.index(e["kind"]) for e in examples], dtype=torch.long)
        return batch


class MixedObjective:
    """The mixed loss of a collated pair batch under the policy being trained."""

    def __init__(self, beta: float, weights: dict, label_smoothing: float, sft_normalize: str, variant: str):
        self.beta, self.weights, self.label_smoothing = beta, weights, label_smoothing
        self.sft_normalize, self.variant = sft_normalize, variant

    def __call__(self, model, batch):
        sums, counts = target_logps(model, batch["input_ids"], batch["attention_mask"], batch["loss_mask"])
        n = batch["kind"].shape[0]
        return mixed_loss(
            sums[:n], sums[n:], batch["ref_chosen"], batch["ref_rejected"], -sums[:n], counts[:n],
            [KINDS[k] for k in batch["kind"].tolist()], self.beta, self.weights, self.label_smoothing,
            self.sft_normalize, self.variant,
        )


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


def train_mixed(policy_dir, out_dir, pairs: list[dict], config: MixedLossConfig, weights: dict, seed: int) -> dict:
    """Train the policy in ``policy_dir`` on reference-scored ``pairs`` with the mixed loss; save to ``out_dir``.

    ``pairs``: ``reference_pair`` records (kind, prompt, chosen, rejected as full message lists, and
    ``ref_chosen_logp``/``ref_rejected_logp`` from :func:`reference_logps` with the same
    ``max_length``). ``config``: the engine's settings and the loss's (beta, label_smoothing,
    sft_normalize, loss_variant). ``weights``: outcome_weight, step_weight, sft_weight.
    With no usable pairs, the policy is copied unchanged and ``metrics["skipped"]`` says why.
    Returns the metrics written to ``out_dir/metrics.json``.
    """
    from transformers import AutoTokenizer

    from ipr.training.trainer import is_main_process, train

    max_length = config.max_length
    for pair in pairs:
        if pair.get("ref_max_length", max_length) != max_length:
            raise ValueError(f"pair {pair.get('id', '?')}: reference log-probs were computed with max_length "
                             f"{pair['ref_max_length']}, training uses {max_length}; recompute them")
    variant = config.loss_variant
    metrics = {
        "kind": "mixed",
        "settings": config.to_dict(),
        "weights": dict(weights),
        "loss_variant": variant,
        "num_pairs": len(pairs),
        "pair_kinds": {k: sum(p["kind"] == k for p in pairs) for k in KINDS},
    }
    tokenizer = AutoTokenizer.from_pretrained(str(policy_dir))
    examples, dropped, truncated = [], 0, 0
    for pair, enc in zip(pairs, encode_pairs(tokenizer, pairs, max_length)):
        truncated += enc["truncated"]
        if not enc["trainable"]:
            dropped += 1
            continue
        examples.append({"kind": enc["kind"], "chosen_ids": enc["chosen"][0], "chosen_mask": enc["chosen"][1],
                         "rejected_ids": enc["rejected"][0], "rejected_mask": enc["rejected"][1],
                         "ref_chosen": float(pair["ref_chosen_logp"]), "ref_rejected": float(pair["ref_rejected_logp"])})
    metrics.update({"num_dropped_pairs": dropped, "num_truncated_sequences": truncated,
                    "num_trained_pairs": len(examples)})
    if not examples:
        why = "no pairs" if not pairs else "no pair has assistant tokens on both sides"
        metrics.update({"skipped": f"{why}: policy copied unchanged", "steps": 0})
        if is_main_process():
            _copy_unchanged(policy_dir, out_dir, metrics)
        return metrics

    objective = MixedObjective(config.beta, weights, config.label_smoothing, config.sft_normalize, variant)
    lengths = [max(len(e["chosen_ids"]), len(e["rejected_ids"])) for e in examples]
    return train(policy_dir, out_dir, examples, lengths, PairCollator(tokenizer.pad_token_id), objective,
                 config, seed, metrics)
