"""Make an existing model directory (e.g. Llama-2-7b-hf in a shared, read-only model store) a
pipeline artifact, optionally with a configured chat template, never writing into the source.

Without a template the artifact is a symlink to the source directory, and the source's own template
must have ``{% generation %}`` markers. With one, the artifact is a real directory of symlinks to every
file of the source plus ``chat_template.jinja``. transformers 5 (checked on 5.24) takes a tokenizer's
default template from, lowest precedence first: ``tokenizer_config.json``'s ``chat_template`` <
``chat_template.jinja`` < ``additional_chat_templates/default.jinja``; so the source's files of the two
latter names are not linked, and the written file wins over whatever ``tokenizer_config.json`` says.
"""

from __future__ import annotations

import os
from pathlib import Path

from ipr.records import InputError
from ipr.training.common import atomic_dir
from ipr.training.templates import TEMPLATE_NAMES, has_generation_markers

TEMPLATE_FILE = "chat_template.jinja"
# Files that would override the written template (see the module docstring).
OVERRIDING_TEMPLATE_FILES = frozenset({Path(TEMPLATE_FILE), Path("additional_chat_templates/default.jinja")})


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


def _remove_link(path: Path) -> None:
    # A previous whole-directory link: atomic_dir would move the link, then fail to rmtree it.
    if path.is_symlink():
        path.unlink()


def link_model(model: str, source: str | os.PathLike, out: str | os.PathLike, chat_template: str | None) -> None:
    """Publish ``source`` as ``out``: a symlink (``chat_template`` None) or a directory of symlinks
    with ``chat_template`` (a template's text) as its ``chat_template.jinja``."""
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
    _remove_link(out)
    with atomic_dir(out) as tmp:
        _link_tree(source, tmp)
        (tmp / TEMPLATE_FILE).write_text(chat_template, encoding="utf-8")
        if default_chat_template(tmp) != chat_template:  # transformers changed which file wins
            raise RuntimeError(f"model {model!r}: the tokenizer in {out} does not load {TEMPLATE_FILE}")
