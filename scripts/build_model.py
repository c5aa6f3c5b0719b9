"""Build the embedded tiny base model offline: a BPE tokenizer trained on the benchmarks' own text,
a small Qwen2 config, and (optionally) causal-LM pretraining on the train conversations plus copy
drills (train questions with made-up values, so the model learns to copy values from the prompt)."""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from ipr.agent.prompts import with_header
from ipr.cli import parser, run, setup
from ipr.envs import copy_drills, header
from ipr.records import config_from, read_jsonl
from ipr.records import help_field as _help
from ipr.training.config import SFTConfig
from ipr.training.sft import train_sft
from ipr.training.templates import load_template
from ipr.training.tiny_model import build_tiny_model


def train_records(paths, envs):
    """(environment family, train records) of every benchmark, each file read once."""
    out = []
    for path in paths:
        records = list(read_jsonl(path, "trajectory"))
        if records:
            out.append((envs[records[0]["benchmark"]], records))
    return out


def conversations(benchmarks):
    """Every train trajectory with its benchmark's prompt header, as the agent will see it."""
    return [with_header(env_name, r["messages"]) for env_name, records in benchmarks for r in records]


# The families whose system headers train the tokenizer (the header is in every prompt). Fixed rather
# than ENVS: alfworld_real shares alfworld's header, and a header listed twice would change every
# tokenizer built since (and the models and results that come from them).
TOKENIZER_HEADERS = ("sql_embedded", "intercode_sql", "webshop", "alfworld")


def corpus(benchmarks):
    for env_name in TOKENIZER_HEADERS:
        yield header(env_name)
    for conversation in conversations(benchmarks):
        for message in conversation[1:]:
            yield message["content"]


@dataclass(frozen=True, kw_only=True)
class CopyDrills:
    """The keys of a model's ``pretrain`` section that shape the corpus; the rest is the trainer's
    SFTConfig."""

    copy_drills: int = _help("full expert trajectories repeated per benchmark", 0)
    question_copy_drills: int = _help("question-and-query exchanges per benchmark", 0)
    question_copy_drills_per_text: int = _help("exchanges packed under one prompt header", 1)

    @classmethod
    def from_pretrain(cls, pretrain: dict, source: str) -> CopyDrills:
        return config_from(cls, {k: v for k, v in pretrain.items() if k in DRILL_KEYS}, source)


DRILL_KEYS = tuple(f.name for f in dataclasses.fields(CopyDrills))


def drills(benchmarks, options: CopyDrills, seed):
    """Copy drills of every benchmark, with its prompt header: ``copy_drills`` full trajectories,
    and ``question_copy_drills`` question-and-query exchanges packed ``question_copy_drills_per_text``
    to one header (the header is most of a lone exchange's tokens, and the model has learned it
    long before the drills end)."""
    out = []
    per_text = options.question_copy_drills_per_text
    for env_name, records in benchmarks:
        out += [with_header(env_name, m) for m in copy_drills(env_name, records, options.copy_drills, seed)]
        exchanges = copy_drills(env_name, records, options.question_copy_drills, seed, question_only=True)
        for start in range(0, len(exchanges), per_text):
            out.append(with_header(env_name, [m for e in exchanges[start : start + per_text] for m in e]))
    return out


def main():
    p = parser(__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--corpus", nargs="+", required=True, type=Path, help="train.jsonl of every benchmark")
    p.add_argument("--chat-template", required=True, type=Path, help="the model's chat template (.jinja)")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    seed, model, envs = settings.seed, settings.section("model"), settings.section("envs")
    setup(seed)
    benchmarks = train_records(args.corpus, envs)
    chat_template = load_template(args.chat_template)
    if "pretrain" not in model:
        build_tiny_model(args.out, corpus(benchmarks), model, seed, chat_template)
        return
    initial = args.out.with_name(f".{args.out.name}.init")
    shutil.rmtree(initial, ignore_errors=True)
    build_tiny_model(initial, corpus(benchmarks), model, seed, chat_template)
    pretrain = model["pretrain"]
    config = SFTConfig.from_settings({**{k: v for k, v in pretrain.items() if k not in DRILL_KEYS}, "loss_on": "all"},
                                     source=f"model {args.model}: pretrain settings")
    options = CopyDrills.from_pretrain(pretrain, source=f"model {args.model}: pretrain settings")
    texts = conversations(benchmarks) + drills(benchmarks, options, seed)
    metrics = train_sft(initial, args.out, texts, config, seed)
    shutil.rmtree(initial)
    print(f"pretrained {metrics['steps']} steps, final token loss {metrics['final_loss']}")


if __name__ == "__main__":
    run(main)
