"""Build a tiny Qwen2-architecture model and byte-level BPE tokenizer from scratch, offline.

The tokenizer is trained with exactly the normalizer (NFC) and pre-tokenizer (Qwen2 split regex +
byte-level) that ``Qwen2Tokenizer`` rebuilds on load, so ``AutoTokenizer.from_pretrained(out_dir)``
gives the same ids as the raw ``tokenizers`` object (ML_STACK.md section 2). The chat template is
ChatML with ``{% generation %}`` around every assistant turn's content + ``<|im_end|>``, which is
what ``return_assistant_tokens_mask`` and TRL's ``assistant_only_loss`` need.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from ipr.training.common import atomic_dir

PAD_TOKEN = "<|endoftext|>"
BOS_TURN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"
SPECIAL_TOKENS = [PAD_TOKEN, BOS_TURN, EOS_TOKEN]

QWEN2_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% elif message['role'] in ['system', 'user'] %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% else %}{{ raise_exception('unknown role: ' + message['role']) }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CHAT_TEMPLATES = {"chatml": CHATML_TEMPLATE}
MIN_HEAD_DIM = 32  # vLLM's CPU attention rejects head_dim 16 (ML_STACK.md section 5)


def _with_template_text(corpus: Iterable[str]) -> Iterator[str]:
    # The role headers the template writes, so they become single merged tokens.
    yield from ("system\n", "user\n", "assistant\n")
    yield from corpus


def train_tokenizer(corpus: Iterable[str], vocab_size: int):
    """A ``PreTrainedTokenizerFast`` with byte-level BPE trained on ``corpus`` (deterministic)."""
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
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_with_template_text(corpus), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN, model_max_length=None
    )


def build_tiny_model(out_dir: str | os.PathLike, corpus: Iterable[str], settings: dict, seed: int) -> None:
    """Train the tokenizer on ``corpus`` (plain texts), init a Qwen2ForCausalLM with ``seed``, save atomically.

    ``settings``: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
    num_key_value_heads, max_position_embeddings, chat_template ("chatml"). Other keys are ignored.
    The model's vocabulary is the trained tokenizer's actual size (at most ``vocab_size``).
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    template_name = settings.get("chat_template", "chatml")
    if template_name not in CHAT_TEMPLATES:
        raise ValueError(f"unknown chat_template {template_name!r}; known: {sorted(CHAT_TEMPLATES)}")
    hidden, heads = int(settings["hidden_size"]), int(settings["num_attention_heads"])
    kv_heads = int(settings["num_key_value_heads"])
    if hidden % heads or hidden // heads < MIN_HEAD_DIM:
        raise ValueError(
            f"hidden_size {hidden} / num_attention_heads {heads} must be an integer head_dim >= {MIN_HEAD_DIM}"
        )
    if heads % kv_heads:
        raise ValueError(f"num_attention_heads {heads} must be a multiple of num_key_value_heads {kv_heads}")

    tokenizer = train_tokenizer(corpus, int(settings["vocab_size"]))
    tokenizer.chat_template = CHAT_TEMPLATES[template_name]
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
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None
    )
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
