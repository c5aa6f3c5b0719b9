"""Record schemas and JSONL input/output for every artifact that passes between stages.

Every reader validates; a bad record raises :class:`RecordError` with one line naming the file,
the line number and the field. Every writer writes to a temporary name in the same directory and
renames on success, so a file that exists is complete (Snakemake never sees a half-written output).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonlines

ROLES = ("system", "user", "assistant")
_log = logging.getLogger("ipr")


class InputError(ValueError):
    """Bad input data other than a record (a source file of a benchmark importer): the message is
    one line naming the file, the line or item, and the problem."""


class ConfigError(InputError):
    """A setting a user wrote that its stage cannot use: one line naming the source and the field
    (an ``InputError``, so a stage script reports it as one line and exits 1)."""


class RecordError(ValueError):
    """A record that does not match its schema: ``file:line: field: problem``."""

    def __init__(self, path: str | os.PathLike, line: int, field: str, problem: str):
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        super().__init__(f"{path}:{line}: field '{field}': {problem}")


# Field name -> expected type(s). ``messages`` means a list of chat messages.
_NUM = (int, float)
SCHEMAS: dict[str, dict[str, Any]] = {
    "trajectory": {
        "id": str,
        "benchmark": str,
        "task_id": str,
        "split": str,
        "task": dict,
        "messages": "messages",
        "reward": _NUM,
        "success": bool,
        "steps": int,
        "config_hash": str,
    },
    "explore": {
        "id": str,
        "task_id": str,
        "t": int,
        "prefix": int,
        "agent_action": str,
        "continuation": "messages",
        "outcome_reward": _NUM,
        "config_hash": str,
    },
    "score": {
        "id": str,
        "task_id": str,
        "t": int,
        "who": ("agent", "expert"),
        "action": str,
        "samples": "numbers",
        "step_reward": _NUM,
        "config_hash": str,
    },
    "pair": {
        "id": str,
        "kind": ("step", "outcome"),
        "task_id": str,
        "t": int,
        "prompt": "messages",
        "chosen": "messages",
        "rejected": "messages",
        "chosen_reward": _NUM,
        "rejected_reward": _NUM,
        "chosen_step_reward": (*_NUM, type(None)),
        "rejected_step_reward": (*_NUM, type(None)),
        "config_hash": str,
    },
}
# One scored action with its history, for the step reward model (ipr/studies/reward_model.py):
# ``messages`` = expert prefix + the action as the last assistant message.
SCHEMAS["step_reward"] = {
    "id": str,
    "benchmark": str,
    "task_id": str,
    "t": int,
    "who": ("agent", "expert"),
    "scorer": str,
    "source": str,
    "messages": "messages",
    "samples": "numbers",
    "step_reward": _NUM,
    "config_hash": str,
}
# A pair with its reference log-probs (summed over the assistant tokens of each side, after the
# trainer's truncation), written by the reference pass and read by the trainer.
SCHEMAS["reference_pair"] = {
    **SCHEMAS["pair"],
    "ref_chosen_logp": _NUM,
    "ref_rejected_logp": _NUM,
    "ref_max_length": (int, type(None)),
}


def _check_messages(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"expected a list of messages, got {type(value).__name__}"
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            return f"message {i} is not an object"
        if message.get("role") not in ROLES:
            return f"message {i} has role {message.get('role')!r}, expected one of {ROLES}"
        if not isinstance(message.get("content"), str):
            return f"message {i} has no string 'content'"
    return None


def _check_field(spec: Any, value: Any) -> str | None:
    if spec == "messages":
        return _check_messages(value)
    if spec == "numbers":
        if not isinstance(value, list) or not all(
            isinstance(v, _NUM) and not isinstance(v, bool) for v in value
        ):
            return "expected a list of numbers"
        return None
    if isinstance(spec, tuple) and all(isinstance(s, str) for s in spec):
        return None if value in spec else f"expected one of {list(spec)}, got {value!r}"
    types = spec if isinstance(spec, tuple) else (spec,)
    # bool is a subclass of int: a boolean is never a valid number here.
    if isinstance(value, bool) and bool not in types:
        return f"expected {_type_names(types)}, got bool"
    if not isinstance(value, types):
        return f"expected {_type_names(types)}, got {type(value).__name__}"
    return None


def _type_names(types: tuple) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def validate(record: Any, kind: str, path: str | os.PathLike = "<record>", line: int = 0) -> dict:
    """Return ``record`` if it matches schema ``kind``; raise :class:`RecordError` otherwise."""
    if not isinstance(record, dict):
        raise RecordError(path, line, "<record>", f"expected a JSON object, got {type(record).__name__}")
    for field, spec in SCHEMAS[kind].items():
        if field not in record:
            raise RecordError(path, line, field, f"missing (required in {kind} records)")
        problem = _check_field(spec, record[field])
        if problem:
            raise RecordError(path, line, field, problem)
    return record


def read_jsonl(path: str | os.PathLike, kind: str | None = None) -> Iterator[dict]:
    """Yield the records of a JSONL file, validated against schema ``kind`` when given."""
    for _, record in read_numbered(path, kind):
        yield record


def read_numbered(path: str | os.PathLike, kind: str | None = None) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, record)`` of a JSONL file, so later checks can name the line."""
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                # Some of json's messages end in "at" ("Unterminated string starting at"): one "at".
                message = error.msg.removesuffix(" at")
                raise RecordError(path, line_no, "<json>", f"malformed JSON: {message} at column {error.colno}") from None
            yield line_no, (validate(record, kind, path, line_no) if kind else record)


def load_jsonl(path: str | os.PathLike, kind: str | None = None) -> list[dict]:
    return list(read_jsonl(path, kind))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_jsonl(path: str | os.PathLike, records: Iterable[dict], kind: str | None = None) -> int:
    """Validate and write ``records`` atomically; return how many were written."""
    count = 0
    with atomic_path(path) as tmp, jsonlines.open(tmp, mode="w", compact=True, sort_keys=True) as writer:
        for count, record in enumerate(records, start=1):
            if kind:
                validate(record, kind, path, count)
            writer.write(record)
    return count


class ResumableWriter:
    """Append records to ``<path>.partial`` and rename to ``path`` on :meth:`finish`.

    A shard killed half-way leaves its ``.partial`` file; the next run reads the ids already
    there (:attr:`done`), skips them, and ends with the same records as an uninterrupted run.
    A torn last line (the process died mid-write) is dropped on resume.

    The first line of a ``.partial`` is a header with ``source``: the hashes of everything that
    determines its records (settings, model, input files, seed). A run whose source differs from
    the header's, or a ``.partial`` without a valid header, starts over and logs one line saying
    so (:attr:`restart_reason`): it never appends to records of another run.
    """

    HEADER_KEY = "partial_source"

    def __init__(self, path: str | os.PathLike, kind: str, source: dict[str, Any] | None = None):
        self.path, self.kind = Path(path), kind
        self.source = dict(source or {})
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict] = {}
        self.restart_reason: str | None = None
        if self.partial.exists():
            self._resume()
        self._handle = open(self.partial, "w", encoding="utf-8")
        self._handle.write(json.dumps({self.HEADER_KEY: self.source}, sort_keys=True) + "\n")
        for record in self.records.values():  # rewrite without the torn tail
            self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()
        _OPEN_WRITERS.add(self)
        _CLAIMED.add(self.partial)

    def _resume(self) -> None:
        with open(self.partial, encoding="utf-8") as handle:
            try:
                header = json.loads(handle.readline())
                old_source = header[self.HEADER_KEY] if isinstance(header, dict) else None
            except (json.JSONDecodeError, KeyError):
                old_source = None
            if not isinstance(old_source, dict):
                self.restart_reason = "it has no source header (written by another version, or torn)"
            elif old_source != self.source:
                changed = sorted(k for k in set(old_source) | set(self.source)
                                 if old_source.get(k) != self.source.get(k))
                self.restart_reason = f"it was written from other inputs (changed: {', '.join(changed)})"
            else:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        break  # torn write at the end of a killed run
                    self.records[record["id"]] = record
        if self.restart_reason:
            _log.warning("restarting %s: %s; its records are discarded", self.partial, self.restart_reason)

    @property
    def done(self) -> set[str]:
        return set(self.records)

    def write(self, record: dict) -> None:
        validate(record, self.kind, self.partial, len(self.records) + 2)
        self.records[record["id"]] = record
        self._handle.write(json.dumps(record, sort_keys=True) + "\n")
        self._handle.flush()

    def finish(self, order: list[str] | None = None) -> None:
        """Write the final file with records in ``order`` (ids), so resumed runs match exactly."""
        self.close()
        ids = order if order is not None else sorted(self.records)
        write_jsonl(self.path, (self.records[i] for i in ids if i in self.records), self.kind)
        self.partial.unlink()

    def close(self) -> None:
        _OPEN_WRITERS.discard(self)
        if not self._handle.closed:
            self._handle.close()

    def discard(self) -> None:
        """Close and delete the ``.partial`` (after an input error, which a retry cannot fix)."""
        self.close()
        self.partial.unlink(missing_ok=True)


# Writers with an open .partial, and outputs whose .partial a stage will write, so that a stage
# stopping on an input error removes them (cli.run).
_OPEN_WRITERS: set[ResumableWriter] = set()
_CLAIMED: set[Path] = set()


def claim_partial(path: str | os.PathLike) -> None:
    """Mark ``<path>.partial`` as this process's: :func:`discard_open_partials` removes it."""
    path = Path(path)
    _CLAIMED.add(path.with_name(path.name + ".partial"))


def discard_open_partials() -> None:
    for writer in list(_OPEN_WRITERS):
        writer.discard()
    for partial in list(_CLAIMED):
        partial.unlink(missing_ok=True)
    _CLAIMED.clear()


def config_hash(settings: Any) -> str:
    """A short, stable hash of the settings that produced a record."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def gather_jsonl(shards: Iterable[str | os.PathLike], out: str | os.PathLike, kind: str) -> int:
    """Concatenate validated shard files into ``out`` (atomically); duplicate ids are an error."""
    seen: dict[str, str] = {}

    def records():
        for shard in shards:
            for line_no, record in enumerate(read_jsonl(shard, kind), start=1):
                if record["id"] in seen:
                    raise RecordError(shard, line_no, "id", f"duplicate id {record['id']!r} (also in {seen[record['id']]})")
                seen[record["id"]] = str(shard)
                yield record

    return write_jsonl(out, records(), kind)


# -- provenance ------------------------------------------------------------------------------
# Content hashes of what a stage's records depend on: its input files, its environment assets and
# the model that generates them. A resumable stage (``ResumableWriter``) stores them in the header of
# its ``.partial`` file; a rerun whose hashes differ (the config, the model or an input changed
# between the kill and the restart) starts over instead of appending to records of another run.

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


# ------------------------------------------------------------------ settings dataclasses

def help_field(text: str, default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING) -> Any:
    """A settings dataclass field with its one-line documentation in ``metadata["help"]`` (as TRL's
    configs do); ``factory`` makes a mutable default (a mapping, a list)."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": text})


def config_from(cls, settings: Mapping[str, Any], source: str, prefix: str = ""):
    """The frozen settings dataclass ``cls`` from ``settings`` (a mapping of the ``--settings`` JSON
    or of the config), every value checked and converted to its field's type. A key that is no
    field of ``cls``, a missing required field or a value of the wrong type raises one
    ``ConfigError`` line naming ``source`` and the field; ``prefix`` names a nested mapping in the
    messages (``lora.``). Each dataclass holds its defaults, so each default lives in one place."""
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{source}: field {prefix.rstrip('.')!r} must be a mapping, got {settings!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in settings:
        if key not in fields:
            raise ConfigError(f"{source}: unknown field {prefix + str(key)!r} (known: {', '.join(fields)})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        if name in settings:
            values[name] = _convert(settings[name], hints[name], source, prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing field {prefix + name!r}")
    return cls(**values)


def _convert(value: Any, kind: Any, source: str, name: str) -> Any:
    """``value`` as type ``kind``: int and float from any number (as the trainers always read them),
    a nested config from a mapping; null only where the field is optional."""
    if dataclasses.is_dataclass(kind):
        return config_from(kind, value, source, f"{name}.")
    args = typing.get_args(kind)
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{source}: field {name!r} must not be null")
    if isinstance(kind, types.UnionType):
        rest = [t for t in args if t is not type(None)]
        if len(rest) > 1:  # str | list[str]: taken as written
            return value
        kind = rest[0]
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: field {name!r} must be true or false, got {value!r}")
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise ConfigError(f"{source}: field {name!r} must be {'an integer' if kind is int else 'a number'}, "
                              f"got {value!r}")
        return kind(value)
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{source}: field {name!r} must be a string, got {value!r}")
    return value
