"""Concatenate shard files into one validated JSONL file (duplicate ids are an error)."""

import argparse
from pathlib import Path

from ipr.cli import run
from ipr.records import SCHEMAS, gather_jsonl


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kind", required=True, choices=sorted(SCHEMAS))
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("shards", nargs="+", type=Path)
    args = p.parse_args()
    print(f"{args.out}: {gather_jsonl(args.shards, args.out, args.kind)} records")


if __name__ == "__main__":
    run(main)
