"""Chat templates read from ``.jinja`` files (``config/templates/``) and the special tokens each writes.

Every template marks what the model writes with ``{% generation %}...{% endgeneration %}``: that span
is what ``apply_chat_template(return_assistant_tokens_mask=True)`` and TRL's ``assistant_only_loss``
train on, and a template without it gives all-zero masks. The span is exactly what the model writes
after the generation prompt (content + end-of-turn token), so a prompt rendered with
``add_generation_prompt=True`` is a token prefix of prompt + completion.

The templates directory is always passed in (the rules pass ``config/templates``, the tests the
repository's copy) rather than found from this package's install path: the rules declare the template
file as an input of the model rules, so editing a template rebuilds or relinks the models that use it,
and the package does not assume that it is installed inside the repository.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ipr.records import InputError

TEMPLATE_SUFFIX = ".jinja"
GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")
GENERATION_SPAN = re.compile(r"\{%-?\s*generation\s*-?%\}(.*?)\{%-?\s*endgeneration\s*-?%\}", re.DOTALL)
# The last thing a span writes: a quoted string literal or the tokenizer's ``eos_token`` variable.
SPAN_PIECE = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|\b(eos_token)\b")
# A special token such as <|eot_id|>, </s> or <|im_end|> closing a literal.
TRAILING_TOKEN = re.compile(r"<[^<>\s'\"]+>\Z")


@dataclass(frozen=True)
class TemplateTokens:
    """The special tokens a named template writes, for a tokenizer built from scratch for it."""

    eos: str  # ends an assistant turn, inside the generation span; the model's eos
    pad: str
    bos: str | None = None
    others: tuple[str, ...] = ()
    # Plain text the template writes around messages, added to the tokenizer's training corpus so
    # that it gets merged tokens.
    header_texts: tuple[str, ...] = ()

    @property
    def special_tokens(self) -> list[str]:
        """Every special token, pad first (id 0), without repeats."""
        tokens = [self.pad, self.bos, *self.others, self.eos]
        return list(dict.fromkeys(t for t in tokens if t is not None))


TEMPLATE_TOKENS: dict[str, TemplateTokens] = {
    "chatml": TemplateTokens(
        eos="<|im_end|>", pad="<|endoftext|>", others=("<|im_start|>",),
        header_texts=("system\n", "user\n", "assistant\n"),
    ),
    "llama-2": TemplateTokens(
        eos="</s>", pad="<unk>", bos="<s>", header_texts=("[INST] ", " [/INST]", "<<SYS>>\n", "\n<</SYS>>\n\n"),
    ),
    "llama-3": TemplateTokens(
        eos="<|eot_id|>", pad="<|end_of_text|>", bos="<|begin_of_text|>",
        others=("<|start_header_id|>", "<|end_header_id|>"), header_texts=("system", "user", "assistant", "\n\n"),
    ),
    # SmolLM2-Instruct: eos = pad = <|im_end|>, and a default system message (see the template).
    "smollm2": TemplateTokens(
        eos="<|im_end|>", pad="<|im_end|>", others=("<|endoftext|>", "<|im_start|>"),
        header_texts=("system\n", "user\n", "assistant\n", "You are a helpful AI assistant named SmolLM"),
    ),
    "qwen2.5": TemplateTokens(
        eos="<|im_end|>", pad="<|endoftext|>", others=("<|im_start|>",),
        header_texts=("system\n", "user\n", "assistant\n", "You are Qwen, created by Alibaba Cloud."),
    ),
    "llama-3.1": TemplateTokens(
        eos="<|eot_id|>", pad="<|finetune_right_pad_id|>", bos="<|begin_of_text|>",
        others=("<|start_header_id|>", "<|end_header_id|>"),
        header_texts=("system", "user", "assistant", "\n\n", "Cutting Knowledge Date: December 2023"),
    ),
}
TEMPLATE_NAMES = tuple(TEMPLATE_TOKENS)


def has_generation_markers(template: str) -> bool:
    return GENERATION_MARKER.search(template) is not None


def template_path(name_or_path: str | os.PathLike, templates_dir: str | os.PathLike | None = None) -> Path:
    """The file of a template given by name (``<templates_dir>/<name>.jinja``) or as a ``.jinja`` path."""
    if str(name_or_path).endswith(TEMPLATE_SUFFIX):
        return Path(name_or_path).expanduser()
    if templates_dir is None:
        raise ValueError(f"chat template {name_or_path!r} is a name, but no templates directory was given")
    path = Path(templates_dir) / f"{name_or_path}{TEMPLATE_SUFFIX}"
    if not path.is_file():
        known = sorted(p.stem for p in Path(templates_dir).glob(f"*{TEMPLATE_SUFFIX}"))
        raise InputError(f"unknown chat template {name_or_path!r}; known: {known} or a path to a .jinja file")
    return path


def load_template(name_or_path: str | os.PathLike, templates_dir: str | os.PathLike | None = None) -> str:
    """The text of a template (see ``template_path``); it must have ``{% generation %}`` markers."""
    path = template_path(name_or_path, templates_dir)
    text = path.read_text(encoding="utf-8")
    if not has_generation_markers(text):
        raise InputError(f"chat template {path} has no {{% generation %}} markers (assistant masks would be all 0)")
    return text


def turn_end_token(template: str) -> str | None:
    """The token that ends an assistant turn under ``template``: None when its ``{% generation %}``
    spans end with the tokenizer's own ``eos_token`` (llama-2), else the special token (``<...>``)
    that closes the last string literal of every span (``'<|eot_id|>'`` in llama-3).

    Linking a model with a template makes this token the model's eos, so generation stops where
    SFT taught the model to end its turn. A template whose spans end otherwise is refused (a
    one-line InputError), rather than guessing where the model's turns end.
    """
    ends = set()
    for span in GENERATION_SPAN.findall(template):
        pieces = SPAN_PIECE.findall(span)
        if not pieces:
            ends.add("")
            continue
        single, double, variable = pieces[-1]
        if variable:
            ends.add(None)
        else:
            token = TRAILING_TOKEN.search(single or double)
            ends.add(token.group() if token else "")
    if len(ends) != 1 or "" in ends:
        raise InputError(
            "cannot tell which token ends an assistant turn: every {% generation %} span of the chat template "
            "must end with eos_token or with the same special token in a string literal (e.g. '<|eot_id|>')"
        )
    return ends.pop()
