"""Result tables (markdown + CSV) and the reward-per-iteration figure."""

import argparse
from pathlib import Path

from ipr.cli import run
from ipr.report import markdown_table, write_report


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--evals", nargs="+", required=True, help="eval summary JSON files")
    p.add_argument("--pairs", nargs="*", default=[], help="pairs.jsonl of every iteration")
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--figures", required=True, type=Path)
    args = p.parse_args()
    rows = write_report(args.evals, args.pairs, args.out_dir, args.figures)
    print(markdown_table(rows))


if __name__ == "__main__":
    run(main)
