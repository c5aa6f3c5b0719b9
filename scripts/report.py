"""Result tables (Markdown, CSV, LaTeX) and figures from the results that exist: the main table and the
reward-per-iteration figure, and the paper's Table 2, 3, 4, Figure 4 and training cost (ipr.report.tables)."""

import argparse
import dataclasses
import json
from pathlib import Path

import yaml

from ipr.cli import run
from ipr.report.effect import source_commit, write_effect
from ipr.records import atomic_path
from ipr.report.results import markdown_table, write_report
from ipr.report.tables import Layout, write_paper_tables
from ipr.workflow.plan import Plan

VALIDATION_SPLIT = "valid"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--layout", required=True, help="JSON: benchmarks, models, methods, iterations, gpus")
    p.add_argument("--evals", nargs="*", default=[], help="eval summary JSON files (the ones that exist)")
    p.add_argument("--pairs", nargs="*", default=[], help="pairs.jsonl of every iteration")
    p.add_argument("--heldout", nargs="*", default=[], help="heldout_pairs.json of every trained policy")
    p.add_argument("--step-rewards", nargs="*", default=[], help="<run>/eval/<split>.step_rewards.jsonl files")
    p.add_argument("--step-reward-methods", nargs="*", default=["sft", "eto", "ipr"])
    p.add_argument("--config-json", required=True,
                   help="the run's config: its plan names the jobs whose benchmark TSVs the cost table reads "
                        "(relative to the working directory); written next to the tables as config.yaml")
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--figures", required=True, type=Path)
    args = p.parse_args()
    config = json.loads(args.config_json)
    # The cost table reads the benchmark files of this config's jobs only, never a folder's leftovers.
    cost_jobs = Plan.from_config(config, Path(__file__).resolve().parents[1]).cost_jobs()
    rows = write_report(args.evals, args.pairs, args.out_dir, args.figures, args.heldout)
    layout = Layout.from_json(args.layout)
    # The paper's tables are test tables: a validation split stays out of their columns (main.md lists
    # it) and is what their reported grid point and iteration are chosen on.
    test_layout = dataclasses.replace(layout, benchmarks={
        b: dict(e, splits=[s for s in e["splits"] if s != VALIDATION_SPLIT] or e["splits"],
                select_on=[s for s in e["splits"] if s == VALIDATION_SPLIT])
        for b, e in layout.benchmarks.items()})
    tables = write_paper_tables(test_layout, args.evals, args.step_rewards, cost_jobs,
                                args.out_dir, args.figures, args.step_reward_methods)
    # The effect table compares each method at the last iteration (fixed before the run, as the
    # protocol asks; the best iteration on test would be chosen on the test set), on the test splits.
    iterations = {m: (0 if m == "sft" else layout.iterations) for m in layout.methods}
    test_splits = {b: [s for s in e["splits"] if s != VALIDATION_SPLIT] for b, e in layout.benchmarks.items()}
    effect = write_effect(args.evals, layout.models, iterations, test_splits,
                          source_commit(Path(__file__).resolve().parents[1]), args.out_dir,
                          args.figures / "effect.png")
    with atomic_path(args.out_dir / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    print(markdown_table(rows))
    print((args.out_dir / "pairs.md").read_text())
    print((args.out_dir / "heldout.md").read_text())
    print((args.out_dir / "effect.md").read_text())
    print(f"{len(effect)} effect rows")
    for table in tables:
        print(table.markdown())


if __name__ == "__main__":
    run(main)
