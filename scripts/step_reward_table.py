"""Table 5: no step reward (ETO) vs reward model (ipr_rm) vs MC (ipr) per base model, with the
reward model's validation Spearman and each scorer's cost; methods not run are '-' cells."""

import argparse
from pathlib import Path

from ipr.cli import run
from ipr.studies.step_reward_report import markdown, write


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--evals", nargs="+", required=True, help="eval summary JSON files")
    p.add_argument("--rm-models", nargs="*", default=[], help="<benchmark>/<model>/reward_model/model directories")
    p.add_argument("--costs", nargs="*", default=[], help="<benchmark>/<model>/reward_model/cost.json")
    p.add_argument("--out-md", required=True, type=Path)
    p.add_argument("--out-csv", required=True, type=Path)
    args = p.parse_args()
    print(markdown(write(args.evals, args.rm_models, args.costs, args.out_md, args.out_csv)))


if __name__ == "__main__":
    run(main)
