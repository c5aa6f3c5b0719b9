"""Generate (or import) a benchmark: train/test task files with expert trajectories, plus env assets."""

import shutil
from pathlib import Path

from ipr.cli import parser, run, setup
from ipr.envs import generate
from ipr.records import write_jsonl


def main():
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True, help="benchmark name (a key of config 'benchmarks')")
    p.add_argument("--out-dir", required=True, type=Path)
    args = p.parse_args()
    settings = args.settings
    benchmark = settings.benchmark
    setup(settings.seed)
    assets, staging = args.out_dir / "assets", args.out_dir / ".assets.staging"
    shutil.rmtree(staging, ignore_errors=True)
    splits = generate(benchmark.require_env(), staging, settings.seed, **benchmark.generate)
    for split, records in splits.items():
        for record in records:
            record["benchmark"] = args.benchmark
        # train and test are the rule's outputs; a validation split, when configured, travels in the
        # assets (rule validation_split writes it out), so benchmarks without one keep their outputs.
        where = args.out_dir if split in ("train", "test") else staging / "splits"
        where.mkdir(parents=True, exist_ok=True)
        write_jsonl(where / f"{split}.jsonl", records, "trajectory")
        print(f"{split}: {len(records)} tasks")
    shutil.rmtree(assets, ignore_errors=True)
    staging.rename(assets)


if __name__ == "__main__":
    run(main)
