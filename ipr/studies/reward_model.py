"""A learned step reward model (paper section 5.5): a scalar head trained on Monte-Carlo step rewards.

Data: every scored action (expert and agent, every iteration and scorer model that exists) as a
``step_reward`` record: the history before the action plus the action as the last assistant
message, and its MC step reward (:func:`dataset_records`).

Model: the base (by default the SFT policy) with a one-output sequence-classification head
(``AutoModelForSequenceClassification``, ``num_labels=1``). Each sequence is the prompt header +
history + action, cut right after the action's last assistant token (the end-of-turn token), so
the head reads the hidden state of the last assistant token: HF pools at the rightmost token that is
not the pad token, and we pick a pad id that no sequence ends with (:func:`scalar_pad_id`).
Loss: MSE against the MC step reward. Train/validation split by task (:func:`split_by_task`),
full or LoRA, DeepSpeed: the shared engine ``ipr.training.trainer.train`` with ``head="scalar"``.

Scoring with the model (:func:`rm_step_rewards`): one forward pass per action, no rollouts. An
action that ends the episode is scored by its own outcome reward, as in the MC scorer (Eq. 5: the
last step's reward is the outcome); that needs one environment step, no model.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

from ipr.agent.prompts import with_header
from ipr.react import parse_action
from ipr.records import InputError
from ipr.method.scoring import EnvSpec, ScoreRequest, assistant_indices, branch, expert_states
from ipr.training.config import RewardModelConfig

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- dataset


def history_with_action(task: dict, t: int, action: str) -> list[dict]:
    """Expert prefix e_{t-1} (from the task message) + ``action`` as the last assistant message."""
    steps = assistant_indices(task["messages"])
    if not 1 <= t <= len(steps):
        raise InputError(f"task {task['task_id']}: step t={t} is outside the expert's 1..{len(steps)} steps")
    return copy.deepcopy(task["messages"][: steps[t - 1]]) + [{"role": "assistant", "content": action}]


def dataset_records(tasks_by_id: dict[str, dict], scores: list[dict], benchmark: str, scorer: str,
                    source: str, config_hash: str, path: str = "<scores>") -> list[dict]:
    """``step_reward`` records of the score records ``scores`` (one scorer model, one source:
    ``expert`` or ``<method>/iter<k>``)."""
    out = []
    for line, score in enumerate(scores, start=1):
        task = tasks_by_id.get(score["task_id"])
        if task is None:
            raise InputError(f"{path}:{line}: field 'task_id': {score['task_id']!r} is not a train task")
        out.append({
            "id": f"{scorer}:{source}:{score['id']}",
            "benchmark": benchmark,
            "task_id": score["task_id"],
            "t": score["t"],
            "who": score["who"],
            "scorer": scorer,
            "source": source,
            "messages": history_with_action(task, score["t"], score["action"]),
            "samples": list(score["samples"]),
            "step_reward": float(score["step_reward"]),
            "config_hash": config_hash,
        })
    return out


def split_by_task(records: list[dict], validation_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, validation): whole tasks go to one side, by a seeded hash of the task id. With two or
    more tasks each side gets at least one."""
    def key(task_id: str) -> float:
        return int(hashlib.sha256(f"{seed}:{task_id}".encode()).hexdigest()[:12], 16) / 16**12

    tasks = sorted({r["task_id"] for r in records}, key=key)
    n_val = round(len(tasks) * validation_fraction)
    if len(tasks) >= 2:
        n_val = min(max(n_val, 1), len(tasks) - 1)
    val_tasks = set(tasks[:n_val])
    return ([r for r in records if r["task_id"] not in val_tasks], [r for r in records if r["task_id"] in val_tasks])


# --------------------------------------------------------------------------- encoding


def encode_step(tokenizer, env_name: str, messages: list[dict], max_length: int | None) -> list[int]:
    """Token ids of header + ``messages``, ending at the last assistant token (the action's end of
    turn); cut from the left to ``max_length`` so the action is always kept."""
    from ipr.training.masking import encode_messages

    ids, mask = encode_messages(tokenizer, with_header(env_name, messages))
    last = max(i for i, m in enumerate(mask) if m)
    ids = ids[: last + 1]
    if max_length is not None and len(ids) > max_length:
        ids = ids[-max_length:]
    return ids


def scalar_pad_id(tokenizer, final_ids: Sequence[int] = ()) -> int:
    """A pad id no sequence ends with (HF pools at the rightmost non-pad token): the tokenizer's pad,
    else eos/unk, else the smallest id not among ``final_ids``. Fixed per tokenizer: the end-of-turn
    token of the chat template is what sequences end with."""
    end = set(final_ids) | set(end_of_turn_ids(tokenizer))
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id):
        if candidate is not None and candidate not in end:
            return int(candidate)
    return next(i for i in range(len(tokenizer)) if i not in end)


def end_of_turn_ids(tokenizer) -> list[int]:
    """The token(s) an assistant turn of the chat template ends with (the last masked token)."""
    from ipr.training.masking import encode_messages

    probe = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    ids, mask = encode_messages(tokenizer, probe)
    return [ids[max(i for i, m in enumerate(mask) if m)]]


class ScalarCollator:
    """Right-pad ``input_ids`` with ``pad_id``; ``labels`` = the step rewards (float)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, examples: Sequence[dict]) -> dict:
        import torch

        width = max(len(e["input_ids"]) for e in examples)
        ids = torch.full((len(examples), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(examples), width), dtype=torch.long)
        for row, example in enumerate(examples):
            n = len(example["input_ids"])
            ids[row, :n] = torch.tensor(example["input_ids"], dtype=torch.long)
            attention[row, :n] = 1
        labels = torch.tensor([float(e.get("label", 0.0)) for e in examples], dtype=torch.float32)
        return {"input_ids": ids, "attention_mask": attention, "labels": labels}


def mse_objective(model, batch):
    """MSE between the scalar head at the last assistant token and the MC step reward."""
    values = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
    loss = ((values.float() - batch["labels"].float()) ** 2).mean()
    return loss, {"mse": float(loss.detach())}


# --------------------------------------------------------------------------- metrics


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties get the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation; None when either side is constant or there are fewer than 2 points."""
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (Pearson of the tie-averaged ranks)."""
    return pearson(ranks(x), ranks(y))


def regression_metrics(predictions: Sequence[float], targets: Sequence[float], train_mean: float) -> dict:
    """MSE and Spearman of the predictions, and the MSE of the constant predictor ``train_mean``."""
    n = len(targets)
    if n == 0:
        return {"n": 0, "mse": None, "spearman": None, "pearson": None, "constant_mse": None}
    return {
        "n": n,
        "mse": sum((p - t) ** 2 for p, t in zip(predictions, targets)) / n,
        "spearman": spearman(predictions, targets),
        "pearson": pearson(predictions, targets),
        "constant_mse": sum((train_mean - t) ** 2 for t in targets) / n,
    }


# --------------------------------------------------------------------------- model


class RewardModel:
    """A trained step reward model directory, for inference (batched, no gradients)."""

    def __init__(self, model_dir, env_name: str, max_length: int | None = None, batch_size: int = 16,
                 device: str | None = None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.env_name, self.max_length, self.batch_size = env_name, max_length, int(batch_size)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch.float32)
        self.model.to(self.device).eval()
        if self.model.config.num_labels != 1 or self.model.config.pad_token_id is None:
            raise InputError(f"{model_dir}: not a step reward model (needs num_labels 1 and a pad_token_id)")
        self.collate = ScalarCollator(int(self.model.config.pad_token_id))

    def score(self, conversations: list[list[dict]]) -> list[float]:
        """One value per conversation (history + action), batched by length."""
        import torch

        encoded = [encode_step(self.tokenizer, self.env_name, c, self.max_length) for c in conversations]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = [0.0] * len(encoded)
        with torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.collate([{"input_ids": encoded[i]} for i in idx])
                logits = self.model(input_ids=batch["input_ids"].to(self.device),
                                    attention_mask=batch["attention_mask"].to(self.device)).logits
                for i, value in zip(idx, logits.squeeze(-1).float().cpu().tolist()):
                    out[i] = float(value)
        return out


def train_reward_model(base_dir, out_dir, records: list[dict], env_name: str, config: RewardModelConfig,
                       seed: int) -> dict:
    """Train a step reward model on ``records`` (``step_reward``), validate on held-out tasks.

    ``config``: the ``reward_model`` section as a ``RewardModelConfig`` (the engine's settings,
    validation_fraction, eval_batch_size). Writes the
    model to ``out_dir`` with ``metrics.json`` holding ``validation`` (MSE, Spearman, Pearson, the
    constant predictor's MSE) and ``train_fit`` (the same on the training records).
    """
    from transformers import AutoTokenizer

    from ipr.training.common import write_json_file
    from ipr.training.trainer import is_main_process, train

    train_records, val_records = split_by_task(records, config.validation_fraction, seed)
    if not train_records:
        raise InputError("no step-reward records to train on")
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    max_length = config.max_length
    examples = [{"input_ids": encode_step(tokenizer, env_name, r["messages"], max_length),
                 "label": float(r["step_reward"])} for r in train_records]
    pad_id = scalar_pad_id(tokenizer, [e["input_ids"][-1] for e in examples])
    train_mean = sum(e["label"] for e in examples) / len(examples)
    metrics = {
        "kind": "reward_model",
        "settings": config.to_dict(),
        "num_train": len(train_records),
        "num_validation": len(val_records),
        "train_tasks": len({r["task_id"] for r in train_records}),
        "validation_tasks": len({r["task_id"] for r in val_records}),
        "train_mean": train_mean,
        "pad_token_id": pad_id,
    }
    metrics = train(base_dir, out_dir, examples, [len(e["input_ids"]) for e in examples], ScalarCollator(pad_id),
                    mse_objective, config, seed, metrics, head="scalar", model_kwargs={"pad_token_id": pad_id})
    if is_main_process():
        model = RewardModel(out_dir, env_name, max_length, config.eval_batch_size)
        for name, part in (("validation", val_records), ("train_fit", train_records)):
            predictions = model.score([r["messages"] for r in part]) if part else []
            metrics[name] = regression_metrics(predictions, [float(r["step_reward"]) for r in part], train_mean)
        write_json_file(Path(out_dir) / "metrics.json", metrics)
        log.info("validation: %s", metrics["validation"])
    return metrics


# --------------------------------------------------------------------------- scoring


def rm_step_rewards(model: RewardModel, spec: EnvSpec, tasks_by_id: dict[str, dict], requests: list[ScoreRequest],
                    config_hash: str) -> list[dict]:
    """``score`` records of ``requests`` by the reward model (``samples`` is empty, ``scorer`` = rm)."""
    states: dict[str, list] = {}
    records, pending = [], []
    for request in requests:
        task = tasks_by_id[request.task_id]
        if request.task_id not in states:
            states[request.task_id] = expert_states(spec, task)
        env = branch(spec, states[request.task_id][request.t - 1].snapshot)
        result = env.step(parse_action(request.action))
        record = {"id": request.id, "task_id": request.task_id, "t": request.t, "who": request.who,
                  "action": request.action, "samples": [], "step_reward": float(result.reward),
                  "scorer": "rm", "config_hash": config_hash}
        records.append(record)
        if not result.done:
            pending.append((record, history_with_action(task, request.t, request.action)))
    values = model.score([messages for _, messages in pending]) if pending else []
    for (record, _), value in zip(pending, values):
        record["step_reward"] = value
    return records


SCORES_PATH = re.compile(r"(?P<model>[^/]+)/(?:expert_scores|(?P<method>[^/]+)/iter(?P<iteration>\d+)/scores/\d+)"
                         r"\.jsonl$")


def scores_source(path) -> tuple[str, str]:
    """(scorer model, source) of a score file from its path: ``expert`` for
    ``<model>/expert_scores.jsonl``, ``<method>/iter<k>`` for ``<model>/<method>/iter<k>/scores/<s>.jsonl``."""
    match = SCORES_PATH.search(Path(path).as_posix())
    if not match:
        raise InputError(f"{path}: not a score file path (<model>/expert_scores.jsonl or "
                         "<model>/<method>/iter<k>/scores/<shard>.jsonl)")
    source = "expert" if match["method"] is None else f"{match['method']}/iter{match['iteration']}"
    return match["model"], source
