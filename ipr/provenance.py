"""Content hashes of what a stage's records depend on: its input files, its environment assets and
the model that generates them.

A resumable stage (``ResumableWriter``) stores these hashes in the header of its ``.partial`` file;
a rerun whose hashes differ (the config, the model or an input changed between the kill and the
restart) starts over instead of appending to records of another run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20

# What a model directory needs before a backend loads it.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (symlinks followed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(root: str | os.PathLike, recursive: bool = True) -> str:
    """sha256 over every regular file under ``root`` (relative path and content, in path order).

    Hidden names (``.``-prefixed: temporary files of an atomic write, Snakemake's markers) are
    left out; they are not part of what a stage reads. A file is hashed as-is, so a model's weights
    count byte for byte: a retrained policy with the same settings is a different model.
    """
    root = Path(root)
    if root.is_file():
        return file_digest(root)
    digest = hashlib.sha256()
    paths = root.rglob("*") if recursive else root.iterdir()
    for path in sorted(p for p in paths if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in Path(relative).parts):
            continue
        digest.update(f"{relative}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()


def model_digest(model_dir: str | os.PathLike) -> str:
    """The identity of a model directory: the hash of its top-level files (weights, config,
    tokenizer, chat template). Subfolders (a trainer's checkpoints) are not part of the model."""
    return tree_digest(model_dir, recursive=False)
