"""Helpers shared by the trainers: atomic model directories, seeding, loading, schedules, batching."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@contextlib.contextmanager
def atomic_dir(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory next to ``out_dir``; on success it replaces ``out_dir``.

    A directory that exists under the final name is therefore always complete.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rmdir(old)
            os.rename(out, old)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json_file(path: Path, obj: Any) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def load_model(model_dir: str | os.PathLike, device: str | None = None):
    """Load a causal LM in fp32 (never a guessed dtype: ETO issue #7) and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.config.use_cache = False
    if device:
        model.to(device)
    return model, tokenizer


def pick_device(device: str = "auto", num_threads: int | None = None) -> str:
    """``device`` ("auto" -> cuda if available, else cpu); also applies ``num_threads``.

    On CPU, two jobs that each use every core slow down by up to 10x (OpenMP oversubscription);
    ``num_threads`` (or OMP_NUM_THREADS) caps this job's share; None or 0 leaves torch's default.
    """
    import torch

    if num_threads:
        torch.set_num_threads(int(num_threads))
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def target_logps(model, input_ids, attention_mask, loss_mask):
    """Per-sequence SUM of log-probs of the target tokens (``loss_mask == 1``) and their counts.

    The model projects logits only at the positions that predict a target (``logits_to_keep`` as a
    boolean mask), so the vocabulary projection and log-softmax are skipped elsewhere and masked
    positions cannot carry gradient. It is a plain forward call, so it runs the same through DDP,
    DeepSpeed and PEFT wrappers. Batches must be right-padded: then no real token can attend to
    padding under the causal mask, and the forward runs without an explicit attention mask (faster
    SDPA path, identical values).
    """
    import torch

    if bool((attention_mask[:, 0] == 0).any()):
        raise ValueError("target_logps expects right-padded batches")
    select = loss_mask[:, 1:].bool() & attention_mask[:, 1:].bool()
    # Position t predicts token t + 1; the last position predicts nothing.
    keep = torch.cat([select, torch.zeros_like(select[:, :1])], dim=1)
    logits = model(input_ids=input_ids, logits_to_keep=keep, use_cache=False).logits
    logits = logits.reshape(-1, logits.shape[-1]).float()
    rows = torch.arange(input_ids.shape[0], device=input_ids.device).unsqueeze(1).expand_as(select)[select]
    targets = input_ids[:, 1:][select]
    token_logps = torch.log_softmax(logits, dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
    sums = torch.zeros(input_ids.shape[0], dtype=token_logps.dtype, device=token_logps.device)
    sums = sums.index_add(0, rows, token_logps)
    return sums, select.sum(dim=1)


def logps_from_logits(logits, input_ids, loss_mask):
    """Reference formula on full logits ``[B, T, V]``: per-sequence sum of target log-probs."""
    import torch

    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    tok = logp.gather(2, input_ids[:, 1:].unsqueeze(2)).squeeze(2)
    return (tok * loss_mask[:, 1:].to(tok.dtype)).sum(dim=1)
