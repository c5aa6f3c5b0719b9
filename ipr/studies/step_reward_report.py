"""Table 5 (paper section 5.5): no step reward (ETO) vs a learned reward model (ipr_rm) vs MC (ipr).

One row per (benchmark, base model, split): the average final reward of each method's last
iteration (SFT beside them), the reward model's validation MSE and Spearman correlation, and the
cost of each scorer per 1,000 scored actions. A method that was not run is a ``-`` cell.
"""

from __future__ import annotations

import json
from pathlib import Path

from ipr.records import atomic_path
from ipr.report import results as report
from ipr.report.results import parse_summary_path
from ipr.workflow import layout

METHODS = [("sft", "SFT"), ("eto", "ETO (no step reward)"), ("ipr_rm", "IPR + reward model"), ("ipr", "IPR + MC")]
COLUMNS = ["benchmark", "model", "split", *[m for m, _ in METHODS], "rm_val_mse", "rm_val_constant_mse",
           "rm_val_spearman", "mc_cpu_s_per_1000", "rm_cpu_s_per_1000", "mc_wall_s_per_1000", "rm_wall_s_per_1000"]


def _key(path) -> tuple[str, str]:
    """(benchmark, model) of a reward-model directory or a scorer cost file."""
    kind = "scorer_cost" if Path(path).name == "cost.json" else "reward_model"
    found = layout.parse(path, kind)
    return found["benchmark"], found["model"]


def collect(summaries: list[str], rm_metrics: list[str], costs: list[str]) -> list[dict]:
    """Rows from eval summaries, reward-model directories (``.../reward_model/model``, with metrics.json)
    and cost files (``.../reward_model/cost.json``); missing ones leave ``None`` cells."""
    runs: dict[tuple, dict] = {}
    for path in summaries:
        info = parse_summary_path(path)
        key = (info["benchmark"], info["model"], info["split"])
        best = runs.setdefault(key, {})
        if info["method"] in dict(METHODS):
            previous = best.get(info["method"])
            if previous is None or info["iteration"] >= previous[0]:
                best[info["method"]] = (info["iteration"], json.loads(Path(path).read_text())["reward"])
    metrics = {_key(p): json.loads((Path(p) / "metrics.json").read_text())
               for p in rm_metrics if (Path(p) / "metrics.json").exists()}
    cost = {_key(p): json.loads(Path(p).read_text()) for p in costs if Path(p).exists()}
    rows = []
    for (benchmark, model, split), found in sorted(runs.items()):
        validation = metrics.get((benchmark, model), {}).get("validation", {})
        c = cost.get((benchmark, model), {})
        row = {"benchmark": benchmark, "model": model, "split": split,
               "rm_val_mse": validation.get("mse"), "rm_val_constant_mse": validation.get("constant_mse"),
               "rm_val_spearman": validation.get("spearman"),
               "mc_cpu_s_per_1000": c.get("mc", {}).get("cpu_s_per_1000"),
               "rm_cpu_s_per_1000": c.get("rm", {}).get("cpu_s_per_1000"),
               "mc_wall_s_per_1000": c.get("mc", {}).get("wall_s_per_1000"),
               "rm_wall_s_per_1000": c.get("rm", {}).get("wall_s_per_1000")}
        for method, _ in METHODS:
            row[method] = found[method][1] if method in found else None
            row[f"{method}_iteration"] = found[method][0] if method in found else None
        rows.append(row)
    return rows


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[dict]) -> str:
    lines = ["# Step rewards: none vs reward model vs Monte Carlo (paper Table 5)", "",
             "Average final reward of each method's last iteration (- = not run). RM: the reward model's "
             "validation MSE (constant predictor's MSE) and Spearman correlation with MC step rewards on held-out "
             "tasks. Cost: CPU- and wall-seconds per 1,000 scored actions (MC: N rollouts each; RM: one forward "
             "pass each).", "",
             "| benchmark | model | split | " + " | ".join(label for _, label in METHODS)
             + " | RM val MSE (const) | RM val Spearman | MC cost cpu-s/1k (wall) | RM cost cpu-s/1k (wall) |",
             "|---|---|---|" + "---|" * (len(METHODS) + 4)]
    for r in rows:
        cells = [_fmt(r[m]) for m, _ in METHODS]
        lines.append(f"| {r['benchmark']} | {r['model']} | {r['split']} | " + " | ".join(cells)
                     + f" | {_fmt(r['rm_val_mse'], 4)} ({_fmt(r['rm_val_constant_mse'], 4)})"
                     + f" | {_fmt(r['rm_val_spearman'])}"
                     + f" | {_fmt(r['mc_cpu_s_per_1000'], 1)} ({_fmt(r['mc_wall_s_per_1000'], 1)})"
                     + f" | {_fmt(r['rm_cpu_s_per_1000'], 1)} ({_fmt(r['rm_wall_s_per_1000'], 1)}) |")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict]) -> str:
    return report.csv_text(rows, COLUMNS)


def write(summaries: list[str], rm_metrics: list[str], costs: list[str], md_path, csv_path) -> list[dict]:
    rows = collect(summaries, rm_metrics, costs)
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown(rows))
    with atomic_path(csv_path) as tmp:
        tmp.write_text(csv_text(rows))
    return rows
