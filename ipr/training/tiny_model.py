"""Build a tiny Qwen2-architecture model and byte-level BPE tokenizer from scratch, offline.

The tokenizer is trained with exactly the normalizer (NFC) and pre-tokenizer (Qwen2 split regex +
byte-level) that ``Qwen2Tokenizer`` rebuilds on load, so ``AutoTokenizer.from_pretrained(out_dir)``
gives the same ids as the raw ``tokenizers`` object (ML_STACK.md section 2). The chat template is one
of ``config/templates/`` (``ipr.training.templates``), with the special tokens that template writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from ipr.training.common import atomic_dir
from ipr.training.templates import TEMPLATE_TOKENS, TemplateTokens

QWEN2_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

MIN_HEAD_DIM = 32  # vLLM's CPU attention rejects head_dim 16 (ML_STACK.md section 5)


def _with_template_text(corpus: Iterable[str], tokens: TemplateTokens) -> Iterator[str]:
    # The text the template writes around messages (role headers), so it becomes merged tokens.
    yield from tokens.header_texts
    yield from corpus


def train_tokenizer(corpus: Iterable[str], vocab_size: int, tokens: TemplateTokens):
    """A ``PreTrainedTokenizerFast`` with byte-level BPE trained on ``corpus`` (deterministic), with the
    special tokens of a chat template (``tokens``)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=tokens.special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_with_template_text(corpus, tokens), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=tokens.bos, eos_token=tokens.eos, pad_token=tokens.pad, model_max_length=None
    )


def build_tiny_model(
    out_dir: str | os.PathLike, corpus: Iterable[str], settings: dict, seed: int, chat_template: str
) -> None:
    """Train the tokenizer on ``corpus`` (plain texts), init a Qwen2ForCausalLM with ``seed``, save atomically.

    ``settings``: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
    num_key_value_heads, max_position_embeddings, chat_template (a name of ``TEMPLATE_TOKENS``: which
    special tokens the tokenizer gets). Other keys are ignored. ``chat_template`` is that template's
    text (``templates.load_template``). The model's vocabulary is the trained tokenizer's actual size
    (at most ``vocab_size``).
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    template_name = settings.get("chat_template", "chatml")
    if template_name not in TEMPLATE_TOKENS:
        raise ValueError(f"a built model needs a named chat_template, one of {sorted(TEMPLATE_TOKENS)}; got {template_name!r}")
    hidden, heads = int(settings["hidden_size"]), int(settings["num_attention_heads"])
    kv_heads = int(settings["num_key_value_heads"])
    if hidden % heads or hidden // heads < MIN_HEAD_DIM:
        raise ValueError(
            f"hidden_size {hidden} / num_attention_heads {heads} must be an integer head_dim >= {MIN_HEAD_DIM}"
        )
    if heads % kv_heads:
        raise ValueError(f"num_attention_heads {heads} must be a multiple of num_key_value_heads {kv_heads}")

    tokenizer = train_tokenizer(corpus, int(settings["vocab_size"]), TEMPLATE_TOKENS[template_name])
    tokenizer.chat_template = chat_template
    max_pos = int(settings["max_position_embeddings"])
    tokenizer.model_max_length = max_pos

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=int(settings["intermediate_size"]),
        num_hidden_layers=int(settings["num_hidden_layers"]),
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden // heads,
        max_position_embeddings=max_pos,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id
    )
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
