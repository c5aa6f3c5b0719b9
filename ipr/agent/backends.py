"""Generation backends behind one interface.

``generate(prompts, n, ...)`` takes chat conversations and returns, for each prompt, ``n``
completions (the assistant turn's text), or an empty list when the prompt leaves no room for
``max_new_tokens`` in the model's context (the episode then ends with reward 0). The transformers backend runs left-padded batches with
the KV cache on CPU or GPU; a vLLM backend (offline ``LLM`` + ``SamplingParams(n=...)``) plugs in
behind the same interface.
"""

from __future__ import annotations

import os
from typing import Protocol

# Text a model may run on into after its action; cut there so one turn is one action.
STOP_STRINGS = ("\nObservation:", "<|im_end|>")


class GenerationBackend(Protocol):
    def generate(
        self,
        prompts: list[list[dict]],
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_new_tokens: int = 128,
        seed: int = 0,
    ) -> list[list[str]]: ...


def cut_at_stop(text: str) -> str:
    for stop in STOP_STRINGS:
        index = text.find(stop)
        if index >= 0:
            text = text[:index]
    return text.strip()


class TransformersBackend:
    """Batched ``model.generate`` with left padding; deterministic for a seed on CPU."""

    def __init__(self, model_dir: str | os.PathLike, batch_size: int = 64, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(self.device).eval()
        self.batch_size = batch_size
        self.max_context = int(getattr(self.model.config, "max_position_embeddings", 1 << 30))

    def generate(self, prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=128, seed=0):
        torch = self.torch
        texts = [
            self.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in prompts
        ]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        fits = [i for i in range(len(texts)) if lengths[i] + max_new_tokens <= self.max_context]
        # Sort by length so each batch pads little; results go back in the caller's order.
        order = sorted(fits, key=lambda i: (lengths[i], i))
        results: list[list[str]] = [[] for _ in texts]
        rows_per_batch = max(1, self.batch_size // n)
        for batch_no, start in enumerate(range(0, len(order), rows_per_batch)):
            index = order[start : start + rows_per_batch]
            encoded = self.tokenizer(
                [texts[i] for i in index], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.device)
            sampling = (
                {"do_sample": True, "temperature": temperature, "top_p": top_p}
                if temperature > 0
                else {"do_sample": False}
            )
            torch.manual_seed(seed * 1_000_003 + batch_no)
            with torch.inference_mode():
                output = self.model.generate(
                    **encoded,
                    **sampling,
                    num_return_sequences=n,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=self.tokenizer.eos_token_id,
                )
            new_tokens = output[:, encoded["input_ids"].shape[1] :]
            decoded = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for row, i in enumerate(index):  # rows i*n .. i*n+n-1 belong to prompt i
                results[i] = [cut_at_stop(t) for t in decoded[row * n : (row + 1) * n]]
        return results


def make_backend(name: str, model_dir: str | os.PathLike, batch_size: int) -> GenerationBackend:
    if name == "transformers":
        return TransformersBackend(model_dir, batch_size=batch_size)
    raise ValueError(f"unknown generation backend {name!r}; known: transformers")
