"""Build the embedded tiny base model offline: a BPE tokenizer trained on the benchmarks' own text."""

from pathlib import Path

from ipr.cli import parser, run, setup
from ipr.envs import ENVS, header
from ipr.records import read_jsonl
from ipr.training.tiny_model import build_tiny_model


def corpus(paths):
    for env_name in ENVS:  # the system header is in every prompt
        yield header(env_name)
    for path in paths:
        for record in read_jsonl(path, "trajectory"):
            for message in record["messages"]:
                yield message["content"]


def main():
    p = parser(__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--corpus", nargs="+", required=True, type=Path, help="train.jsonl of every benchmark")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    seed = args.settings.get("seed", 0)
    setup(seed)
    build_tiny_model(args.out, corpus(args.corpus), args.settings.section("model"), seed)


if __name__ == "__main__":
    run(main)
