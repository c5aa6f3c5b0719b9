"""Write generated ALFWorld games as real game files and check the real engine against the simulator.

Runs under the interpreter that has the real engine (``.venv-alfworld/bin/python``); prints one
JSON line per game: task type, the real engine's ``won`` and any mismatch.
"""

import argparse
import json
from pathlib import Path

from ipr.envs.alfworld.generate import generate_benchmark
from ipr.envs.alfworld.parity import check_parity


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--games", type=int, default=12, help="train games to generate (task types in turn)")
    p.add_argument("--out-dir", required=True, type=Path, help="where the game files are written")
    args = p.parse_args()
    records = generate_benchmark(args.out_dir / "assets", args.seed, train_games=args.games, test_seen_games=1,
                                 test_unseen_games=1)["train"]
    for report in check_parity([r["task"]["game"] for r in records], args.out_dir / "games"):
        print(json.dumps(report))


if __name__ == "__main__":
    main()
