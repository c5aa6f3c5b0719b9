"""Build a tiny Qwen2-architecture model and byte-level BPE tokenizer from scratch, offline.

The tokenizer is trained with exactly the normalizer (NFC) and pre-tokenizer (Qwen2 split regex +
byte-level) that ``Qwen2Tokenizer`` rebuilds on load, so ``AutoTokenizer.from_pretrained(out_dir)``
gives the same ids as the raw ``tokenizers`` object (ML_STACK.md section 2). The chat template is one
of ``config/templates/`` (``ipr.training.templates``), with the special tokens that template writes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ipr.records import config_from
from ipr.records import help_field as _help
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


@dataclass(frozen=True, kw_only=True)
class TinyModelSettings:
    """The architecture of a built model: the keys of its config ``models`` entry that it reads."""

    vocab_size: int = _help("tokenizer vocabulary size (at most; the trained tokenizer's actual size is used)")
    hidden_size: int = _help("hidden size")
    intermediate_size: int = _help("MLP intermediate size")
    num_hidden_layers: int = _help("transformer layers")
    num_attention_heads: int = _help("attention heads")
    num_key_value_heads: int = _help("key/value heads (GQA)")
    max_position_embeddings: int = _help("maximum sequence length")
    chat_template: str = _help("a name of TEMPLATE_TOKENS: which special tokens the tokenizer gets", "chatml")

    @classmethod
    def from_model_entry(cls, entry: Mapping[str, Any], source: str = "model settings") -> TinyModelSettings:
        """The architecture keys of ``entry``; its other keys (name, source, pretrain) are the build
        rule's, not the architecture's."""
        names = {f.name for f in dataclasses.fields(cls)}
        return config_from(cls, {k: v for k, v in entry.items() if k in names}, source)


def build_tiny_model(
    out_dir: str | os.PathLike, corpus: Iterable[str], settings: Mapping[str, Any], seed: int, chat_template: str
) -> None:
    """Train the tokenizer on ``corpus`` (plain texts), init a Qwen2ForCausalLM with ``seed``, save atomically.

    ``settings``: the model's config entry, read as ``TinyModelSettings`` (its other keys are
    ignored). ``chat_template`` is that template's text (``templates.load_template``). The model's vocabulary is the trained tokenizer's actual size
    (at most ``vocab_size``).
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    arch = TinyModelSettings.from_model_entry(settings)
    template_name = arch.chat_template
    if template_name not in TEMPLATE_TOKENS:
        raise ValueError(f"a built model needs a named chat_template, one of {sorted(TEMPLATE_TOKENS)}; got {template_name!r}")
    hidden, heads = arch.hidden_size, arch.num_attention_heads
    kv_heads = arch.num_key_value_heads
    if hidden % heads or hidden // heads < MIN_HEAD_DIM:
        raise ValueError(
            f"hidden_size {hidden} / num_attention_heads {heads} must be an integer head_dim >= {MIN_HEAD_DIM}"
        )
    if heads % kv_heads:
        raise ValueError(f"num_attention_heads {heads} must be a multiple of num_key_value_heads {kv_heads}")

    tokenizer = train_tokenizer(corpus, arch.vocab_size, TEMPLATE_TOKENS[template_name])
    tokenizer.chat_template = chat_template
    max_pos = arch.max_position_embeddings
    tokenizer.model_max_length = max_pos

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_hidden_layers,
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
