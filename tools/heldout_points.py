"""The held-out pair diagnostic of chosen policies of a finished run, outside the workflow.

    python tools/heldout_points.py --run-dir RUN --configfile config/config.yaml config/effect_search.yaml \
        --benchmark sql_embedded --model tiny-seed0 --iteration 1 --out heldout.csv METHOD [METHOD ...]

For a run made before the heldout_pairs stage existed: each method's (or grid variant's) settings come
from the plan of the run's config files, exactly as a heldout_pairs job would get them, and
scripts/heldout_pairs.py runs on the run's policies. Writes one CSV row per method (the report's
heldout.csv columns); the per-policy JSON files go next to it, and an existing one is reused.
"""

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ipr.report.results import HELDOUT_COLUMNS  # noqa: E402
from ipr.workflow import layout  # noqa: E402
from ipr.workflow.plan import BASELINE, HELDOUT_SPLIT, Plan, load_config  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True, type=Path, help="the run's working directory (holds results/)")
    p.add_argument("--configfile", required=True, nargs="+", type=Path, help="the run's config files, in order")
    p.add_argument("--benchmark", required=True)
    p.add_argument("--model", required=True, help="model instance, e.g. tiny-seed0")
    p.add_argument("--iteration", type=int, default=1)
    p.add_argument("--out", required=True, type=Path, help="CSV")
    p.add_argument("methods", nargs="+")
    args = p.parse_args()
    run_dir = args.run_dir.resolve()
    plan = Plan.from_config(load_config(args.configfile, ROOT / "config/schema.yaml"), run_dir)
    b, m, k = args.benchmark, args.model, args.iteration
    rows = []
    for method in args.methods:
        out = args.out.parent / f"{method}.iter{k}.json"
        if not out.exists():
            command = [sys.executable, str(ROOT / "scripts/heldout_pairs.py"), "--benchmark", b,
                       "--policy", layout.ITER_POLICY.format(benchmark=b, model=m, method=method, iter=k),
                       "--reference", plan.reference(b, m, method, k),
                       "--tasks", layout.DATA.format(benchmark=b, split=HELDOUT_SPLIT),
                       "--evals", layout.EVAL.format(benchmark=b, model=m, run=BASELINE, split=HELDOUT_SPLIT),
                       "--settings", json.dumps(plan.settings("heldout_pairs", b, m, method, k)),
                       "--out", str(out.resolve())]
            subprocess.run(command, cwd=run_dir, check=True)
        metrics = json.loads(out.read_text())
        rows.append({"benchmark": b, "model": m, "method": method, "iteration": k,
                     **{c: round(metrics[c], 4) if isinstance(metrics[c], float) else metrics[c]
                        for c in HELDOUT_COLUMNS[4:]}})
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HELDOUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
