"""Gather evaluation shards into one file plus a summary (average reward, success rate).

For WebShop the summary also names the noun extractor its reward used (``webshop_nouns``: the spaCy
pipeline, or ``fallback``); the shards ran in this stage's environment, so this process loads the same.
"""

import argparse
from pathlib import Path

from ipr.cli import run
from ipr.method.evaluation import summarize
from ipr.records import gather_jsonl, load_jsonl, write_json


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--summary", required=True, type=Path)
    p.add_argument("shards", nargs="+", type=Path)
    args = p.parse_args()
    gather_jsonl(args.shards, args.out, "trajectory")
    records = load_jsonl(args.out, "trajectory")
    summary = summarize(records)
    if any(r["benchmark"] == "webshop" for r in records):
        from ipr.envs.webshop.reward import noun_source

        summary["webshop_nouns"] = noun_source()
    write_json(args.summary, summary)
    print(summary)


if __name__ == "__main__":
    run(main)
