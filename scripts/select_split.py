"""Write the records of one finer split (a record's ``split``, e.g. test_seen) of a task file; also the
validation split (``valid``) out of the benchmark's assets."""

import argparse
from pathlib import Path

from ipr.cli import run
from ipr.records import InputError, load_jsonl, write_jsonl


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tasks", required=True, type=Path, help="a task file of prepare_data (test.jsonl)")
    p.add_argument("--split", required=True, help="the records' split to keep")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    if not args.tasks.exists() and args.split == "valid":
        raise InputError(f"{args.tasks}: this benchmark has no validation split (set its generate.valid_per_template, "
                         "valid_fraction or valid_games)")
    records = [r for r in load_jsonl(args.tasks, "trajectory") if r["split"] == args.split]
    if not records:
        raise InputError(f"{args.tasks} has no records of split {args.split!r} (this benchmark has no such split)")
    print(f"{args.out}: {write_jsonl(args.out, records, 'trajectory')} records")


if __name__ == "__main__":
    run(main)
