"""Make an existing model directory (e.g. Llama-2-7b-hf in a shared, read-only model store) a
pipeline artifact, optionally with a configured chat template, never writing into the source.

Without a template the artifact is a symlink to the source directory, and the source's own template
must have ``{% generation %}`` markers. With one, the artifact is a real directory of symlinks to every
file of the source plus ``chat_template.jinja``. transformers 5 (checked on 5.24) takes a tokenizer's
default template from, lowest precedence first: ``tokenizer_config.json``'s ``chat_template`` <
``chat_template.jinja`` < ``additional_chat_templates/default.jinja``; so the source's files of the two
latter names are not linked, and the written file wins over whatever ``tokenizer_config.json`` says.

The template's end-of-turn token (``templates.turn_end_token``) is what SFT teaches the model to write
last, so it must stop generation. A base model's eos often differs (Llama-3-8B: ``<|end_of_text|>``,
while llama-3 turns end with ``<|eot_id|>``), so the artifact gets real copies, not links, of
``tokenizer_config.json`` (and a legacy ``special_tokens_map.json``) with that token as ``eos_token``, and
of ``generation_config.json`` with ``eos_token_id`` = [end-of-turn id, the source's eos ids]: the
transformers backend, vLLM and training then all stop at either. transformers 5 (checked on 5.24) reads
``special_tokens_map.json`` only when ``tokenizer_config.json`` has no ``added_tokens_decoder``, and then
over it, so both are rewritten. ``config.json`` keeps its eos: generation reads ``generation_config.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ipr.records import InputError
from ipr.training.common import atomic_dir
from ipr.training.templates import TEMPLATE_NAMES, has_generation_markers, turn_end_token

TEMPLATE_FILE = "chat_template.jinja"
# Files that would override the written template (see the module docstring).
OVERRIDING_TEMPLATE_FILES = frozenset({Path(TEMPLATE_FILE), Path("additional_chat_templates/default.jinja")})
# Tokenizer files that name the eos token (see the module docstring).
EOS_TOKEN_FILES = ("tokenizer_config.json", "special_tokens_map.json")
GENERATION_CONFIG_FILE = "generation_config.json"


def default_chat_template(model_dir: str | os.PathLike) -> str | None:
    """The template ``apply_chat_template`` uses for the tokenizer in ``model_dir`` (None if it has none)."""
    from transformers import AutoTokenizer

    template = AutoTokenizer.from_pretrained(model_dir).chat_template
    return template.get("default") if isinstance(template, dict) else template


def check_own_template(model: str, model_dir: Path) -> None:
    """Fail with one line naming ``model`` when its own template cannot give assistant masks."""
    template = default_chat_template(model_dir)
    fix = f"set models.{model}.chat_template to one of {list(TEMPLATE_NAMES)} or a .jinja path"
    if template is None:
        raise InputError(f"model {model!r} ({model_dir}) has no chat template; {fix}")
    if not has_generation_markers(template):
        raise InputError(
            f"model {model!r} ({model_dir}): its chat template has no {{% generation %}} markers, so "
            f"assistant masks would be all 0; {fix}"
        )


def _link_tree(source: Path, target: Path) -> None:
    """Mirror ``source`` under ``target``: real directories, symlinks to its files, less the overriding ones."""
    for dirpath, _, filenames in os.walk(source, followlinks=True):
        relative_dir = Path(dirpath).relative_to(source)
        (target / relative_dir).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            if relative_dir / name not in OVERRIDING_TEMPLATE_FILES:
                os.symlink(Path(dirpath) / name, target / relative_dir / name)


def _as_list(ids) -> list[int]:
    return [] if ids is None else [ids] if isinstance(ids, int) else list(ids)


def _write_copy(path: Path, data: dict) -> None:
    """Replace the link ``path`` (if any) by a real file, so the source behind it is never written."""
    path.unlink(missing_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _stop_at_turn_end(model: str, source: Path, target: Path, end: str) -> None:
    """Make ``end`` the eos of the linked tokenizer in ``target`` and add its id to the generation
    config's eos ids (see the module docstring)."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(source)
    end_id = tokenizer.convert_tokens_to_ids(end)
    if end_id in (None, tokenizer.unk_token_id) or tokenizer(end, add_special_tokens=False)["input_ids"] != [end_id]:
        raise InputError(
            f"model {model!r} ({source}): its chat template ends assistant turns with {end!r}, which is not a "
            "single token of its tokenizer; use a template whose turns end with one of the model's special tokens"
        )
    for name in EOS_TOKEN_FILES:
        data = json.loads((source / name).read_text(encoding="utf-8")) if (source / name).is_file() else {}
        if name == "tokenizer_config.json" or "eos_token" in data:
            _write_copy(target / name, {**data, "eos_token": end})
    if (source / GENERATION_CONFIG_FILE).is_file():
        generation = json.loads((source / GENERATION_CONFIG_FILE).read_text(encoding="utf-8"))
    else:  # what transformers derives from config.json when the file is missing
        generation = GenerationConfig.from_model_config(AutoConfig.from_pretrained(source)).to_diff_dict()
    eos_ids = [end_id, *_as_list(generation.get("eos_token_id")), tokenizer.eos_token_id]
    generation["eos_token_id"] = list(dict.fromkeys(i for i in eos_ids if i is not None))
    _write_copy(target / GENERATION_CONFIG_FILE, generation)
    if AutoTokenizer.from_pretrained(target).eos_token != end:  # transformers changed which file wins
        raise RuntimeError(f"model {model!r}: the tokenizer in {target} does not load eos_token {end!r}")


def _remove_link(path: Path) -> None:
    # A previous whole-directory link: atomic_dir would move the link, then fail to rmtree it.
    if path.is_symlink():
        path.unlink()


def link_model(model: str, source: str | os.PathLike, out: str | os.PathLike, chat_template: str | None) -> None:
    """Publish ``source`` as ``out``: a symlink (``chat_template`` None) or a directory of symlinks
    with ``chat_template`` (a template's text) as its ``chat_template.jinja`` and, unless the template
    ends turns with ``eos_token``, its end-of-turn token as the model's eos."""
    source, out = Path(source).resolve(), Path(out)
    if chat_template is None:
        check_own_template(model, source)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.link")
        _remove_link(tmp)
        os.symlink(source, tmp, target_is_directory=True)
        os.replace(tmp, out)  # atomic over an older link
        return
    if not has_generation_markers(chat_template):
        raise InputError(f"model {model!r}: the configured chat template has no {{% generation %}} markers")
    try:
        end = turn_end_token(chat_template)
    except InputError as error:
        raise InputError(f"model {model!r}: {error}") from None
    _remove_link(out)
    with atomic_dir(out) as tmp:
        _link_tree(source, tmp)
        (tmp / TEMPLATE_FILE).write_text(chat_template, encoding="utf-8")
        if end is not None:  # None: the template ends turns with the tokenizer's own eos_token
            _stop_at_turn_end(model, source, tmp, end)
        if default_chat_template(tmp) != chat_template:  # transformers changed which file wins
            raise RuntimeError(f"model {model!r}: the tokenizer in {out} does not load {TEMPLATE_FILE}")
