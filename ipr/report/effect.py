"""The method effect with its uncertainty: paired bootstrap CIs over seeds and tasks.

Input: per-task evaluation records (``.../eval/<split>.jsonl``, one reward per test task) of every
seed's SFT and of each method's reported iteration, all on the same test tasks. For a comparison
A - B (``ipr-sft``, ``ipr-eto``, ``eto-sft``) the paired difference of seed s on task i is
``d[s, i] = r_A(s, i) - r_B(s, i)``; both runs of a seed start from that seed's SFT, and the same
task is compared with itself, so seed and task effects shared by A and B cancel. The estimate is
the mean of ``d``. Its 95% CI is the percentile interval of a two-way bootstrap: every replicate
draws the seeds with replacement and, independently, the tasks with replacement, and averages
``d`` over the drawn seeds x tasks (so both the seed-to-seed spread of training and the finite
test split count). With one seed only the tasks are resampled.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ipr.records import atomic_path, read_jsonl
from ipr.report.results import csv_text, parse_summary_path, save_figure, titled_table

COMPARISONS = (("ipr", "sft"), ("ipr", "eto"), ("eto", "sft"))
COLUMNS = ["benchmark", "comparison", "mean", "ci_low", "ci_high", "seeds", "tasks", "commit", "model", "split",
           "iterations"]
DEFAULT_REPLICATES = 10_000
DEFAULT_SEED = 0


def paired_bootstrap(differences: Sequence[Sequence[float]], replicates: int = DEFAULT_REPLICATES,
                     seed: int = DEFAULT_SEED, level: float = 0.95) -> dict:
    """Mean of a seeds x tasks matrix of paired differences and its percentile bootstrap CI
    (seeds and tasks resampled independently, with replacement; deterministic for ``seed``)."""
    import numpy as np

    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"paired_bootstrap needs a non-empty seeds x tasks matrix, got shape {d.shape}")
    n_seeds, n_tasks = d.shape
    rng = np.random.default_rng(seed)
    means = np.empty(replicates)
    # Resampling as multinomial counts: a replicate's mean is (seed counts) . d . (task counts) / (S T).
    chunk = 1000
    for start in range(0, replicates, chunk):
        size = min(chunk, replicates - start)
        seed_counts = rng.multinomial(n_seeds, [1.0 / n_seeds] * n_seeds, size=size) if n_seeds > 1 \
            else np.ones((size, 1))
        task_counts = rng.multinomial(n_tasks, [1.0 / n_tasks] * n_tasks, size=size)
        means[start:start + size] = np.einsum("bs,st,bt->b", seed_counts, d, task_counts) / (n_seeds * n_tasks)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return {"mean": float(d.mean()), "ci_low": float(low), "ci_high": float(high), "seeds": n_seeds,
            "tasks": n_tasks}


def task_rewards(records_path: str | Path) -> dict[str, float]:
    """task_id -> reward of one gathered evaluation file."""
    return {r["task_id"]: float(r["reward"]) for r in read_jsonl(records_path, "trajectory")}


def eval_records_path(summary_path: str | Path) -> Path:
    """The per-task records next to an eval summary (both written by gather_eval)."""
    path = Path(summary_path)
    return path.with_name(path.name.removesuffix(".summary.json") + ".jsonl")


def collect_runs(summary_paths: Sequence[str]) -> dict:
    """(benchmark, instance, method, iteration, split) -> task_id -> reward, from the records beside
    every summary."""
    runs = {}
    for path in summary_paths:
        key = parse_summary_path(path)
        runs[(key["benchmark"], key["model"], key["method"], key["iteration"], key["split"])] = \
            task_rewards(eval_records_path(path))
    return runs


def _matrix(per_seed_a: list[dict], per_seed_b: list[dict], where: str) -> tuple[list[list[float]], int]:
    tasks = sorted(per_seed_a[0])
    for rewards in per_seed_a + per_seed_b:
        if sorted(rewards) != tasks:
            raise ValueError(f"{where}: the runs were not evaluated on the same tasks")
    return [[a[t] - b[t] for t in tasks] for a, b in zip(per_seed_a, per_seed_b)], len(tasks)


def effect_rows(runs: Mapping, instances: Mapping[str, Sequence], iterations: Mapping[str, int],
                splits: Mapping[str, Sequence[str]], commit: str, replicates: int = DEFAULT_REPLICATES,
                seed: int = DEFAULT_SEED) -> list[dict]:
    """The effect table: one row per benchmark x test split x base model x comparison whose runs
    exist for every seed of that model.

    ``runs``: ``collect_runs``; ``instances``: model instance -> (base model, seed); ``iterations``:
    method -> the iteration reported for it (fixed in advance, e.g. the last one; sft: 0);
    ``splits``: benchmark -> its test splits (a validation split is not a test split).
    """
    models: dict[str, list[str]] = {}
    for instance, (model, _) in sorted(instances.items(), key=lambda item: (item[1][0], item[1][1])):
        models.setdefault(model, []).append(instance)
    rows = []
    for benchmark, benchmark_splits in splits.items():
        for split in benchmark_splits:
            for model, members in models.items():
                for a, b in COMPARISONS:
                    if a not in iterations or b not in iterations:
                        continue
                    keys_a = [(benchmark, m, a, iterations[a], split) for m in members]
                    keys_b = [(benchmark, m, b, iterations[b], split) for m in members]
                    if not all(k in runs for k in keys_a + keys_b):
                        continue
                    where = f"{benchmark} {split} {model} {a}-{b}"
                    matrix, _ = _matrix([runs[k] for k in keys_a], [runs[k] for k in keys_b], where)
                    stats = paired_bootstrap(matrix, replicates, seed)
                    rows.append({"benchmark": benchmark if len(benchmark_splits) == 1 else f"{benchmark}:{split}",
                                 "comparison": f"{a}-{b}", **stats, "commit": commit, "model": model,
                                 "split": split, "iterations": f"{a}={iterations[a]} {b}={iterations[b]}"})
    return rows


def source_commit(repository: str | Path) -> str:
    """The commit the code ran on (``git rev-parse HEAD``), with ``-dirty`` if tracked files were
    changed; ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "-C", str(repository), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repository), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _number(value: float) -> str:
    return f"{value * 100:+.1f}"


def noise_floor(runs: Mapping, instances: Mapping[str, Sequence], splits: Mapping[str, Sequence[str]]) -> list[dict]:
    """Per benchmark split and base model: the SFT test reward of each seed, its mean and sample SD
    over seeds (the seed-to-seed spread any method effect has to stand out from)."""
    import statistics

    out = []
    for benchmark, benchmark_splits in splits.items():
        for split in benchmark_splits:
            for model in sorted({m for m, _ in instances.values()}):
                members = sorted((i for i, (m, _) in instances.items() if m == model), key=lambda i: instances[i][1])
                rewards = [sum(r.values()) / len(r) for i in members if (r := runs.get((benchmark, i, "sft", 0, split)))]
                if rewards:
                    out.append({"benchmark": benchmark, "split": split, "model": model, "rewards": rewards,
                                "mean": statistics.fmean(rewards),
                                "sd": statistics.stdev(rewards) if len(rewards) > 1 else None})
    return out


def effect_markdown(rows: list[dict], floors: Sequence[dict] = ()) -> str:
    intro = ("Mean paired difference of average test reward (x 100) and its 95% paired bootstrap CI over "
             "seeds and tasks (10,000 replicates, seeds and tasks resampled independently). Each method "
             "starts from its seed's SFT; the reported iteration is fixed in advance (column iterations). "
             "A CI that contains 0 shows no effect at this size.")
    header = ["benchmark", "model", "comparison", "mean", "95% CI", "seeds", "tasks", "iterations"]
    cells = [[r["benchmark"], r["model"], r["comparison"], _number(r["mean"]),
              f"[{_number(r['ci_low'])}, {_number(r['ci_high'])}]", str(r["seeds"]), str(r["tasks"]), str(r["iterations"])]
             for r in rows]
    lines = titled_table("Method effect", intro, header, cells, "(no comparison has its runs for every seed)")
    if floors:
        lines += ["", "Noise floor: SFT test reward (x 100) of each seed, mean and SD over seeds.", "",
                  "| benchmark | split | model | seeds | per seed | mean | SD |", "|---|---|---|---|---|---|---|"]
        for f in floors:
            sd = "-" if f["sd"] is None else f"{f['sd'] * 100:.1f}"
            lines.append(f"| {f['benchmark']} | {f['split']} | {f['model']} | {len(f['rewards'])} | "
                         + ", ".join(f"{r * 100:.1f}" for r in f["rewards"]) + f" | {f['mean'] * 100:.1f} | {sd} |")
    commits = sorted({r["commit"] for r in rows})
    if commits:
        lines += ["", f"Commit: {', '.join(commits)}."]
    return "\n".join(lines) + "\n"


def effect_csv(rows: list[dict]) -> str:
    return csv_text([{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()} for r in rows], COLUMNS)


def effect_figure(rows: list[dict], runs: Mapping, instances: Mapping[str, Sequence], path: str | Path) -> None:
    """Three panels per benchmark split: each seed's reward per method (reported iteration), the
    paired differences with their CIs, and the mean reward per iteration (over seeds; 0 = SFT)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys((r["benchmark"], r["split"], r["model"]) for r in rows))
    height = max(1, len(groups))
    fig, axes = plt.subplots(height, 3, figsize=(13, 3.4 * height), squeeze=False)
    if not groups:
        axes[0][1].text(0.5, 0.5, "no comparison has its runs for every seed", ha="center", va="center")
    for (label, split, model), ax_row in zip(groups, axes):
        benchmark = label.split(":", 1)[0]
        mine = [r for r in rows if (r["benchmark"], r["split"], r["model"]) == (label, split, model)]
        members = sorted((i for i, (m, _) in instances.items() if m == model), key=lambda i: instances[i][1])
        reported = {}
        for r in mine:
            for part in r["iterations"].split():
                method, iteration = part.split("=")
                reported[method] = int(iteration)
        ax = ax_row[0]
        for x, method in enumerate(sorted(reported, key=lambda m: (m != "sft", m))):
            values = [sum(runs[k].values()) / len(runs[k]) for m in members
                      if (k := (benchmark, m, method, reported[method], split)) in runs]
            ax.scatter([x] * len(values), values, alpha=0.7)
            if values:
                ax.hlines(sum(values) / len(values), x - 0.25, x + 0.25, color="black")
        ax.set_xticks(range(len(reported)), sorted(reported, key=lambda m: (m != "sft", m)))
        ax.set_ylabel("average test reward")
        ax.set_title(f"{label} ({model}): per seed")
        ax = ax_row[1]
        for y, r in enumerate(mine):
            ax.errorbar([r["mean"]], [y], xerr=[[r["mean"] - r["ci_low"]], [r["ci_high"] - r["mean"]]], fmt="o",
                        capsize=4)
        ax.axvline(0.0, color="grey", linestyle="--")
        ax.set_yticks(range(len(mine)), [r["comparison"] for r in mine])
        ax.set_xlabel("paired difference, 95% CI")
        ax.set_title(f"seeds {mine[0]['seeds']}, tasks {mine[0]['tasks']}" if mine else "")
        ax = ax_row[2]
        methods = sorted({k[2] for k in runs if k[0] == benchmark and k[1] in members and k[4] == split} - {"sft"})
        for method in methods:
            xs, ys = [], []
            for iteration in sorted({k[3] for k in runs if k[2] in (method, "sft")}):
                name = "sft" if iteration == 0 else method
                values = [sum(runs[k].values()) / len(runs[k]) for m in members
                          if (k := (benchmark, m, name, iteration, split)) in runs]
                if values:
                    xs.append(iteration)
                    ys.append(sum(values) / len(values))
            ax.plot(xs, ys, marker="o", label=method)
        ax.set_xticks(sorted({k[3] for k in runs if k[0] == benchmark and k[1] in members and k[4] == split}))
        ax.set_xlabel("iteration (0 = SFT)")
        ax.set_ylabel("mean reward over seeds")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def write_effect(summary_paths: Sequence[str], instances: Mapping[str, Sequence], iterations: Mapping[str, int],
                 splits: Mapping[str, Sequence[str]], commit: str, out_dir: str | Path, figure: str | Path,
                 replicates: int = DEFAULT_REPLICATES) -> list[dict]:
    """``effect.md``, ``effect.csv`` in ``out_dir`` and the figure; returns the rows."""
    runs = collect_runs(summary_paths)
    rows = effect_rows(runs, instances, iterations, splits, commit, replicates)
    out_dir = Path(out_dir)
    with atomic_path(out_dir / "effect.md") as tmp:
        tmp.write_text(effect_markdown(rows, noise_floor(runs, instances, splits)))
    with atomic_path(out_dir / "effect.csv") as tmp:
        tmp.write_text(effect_csv(rows))
    effect_figure(rows, runs, instances, figure)
    return rows

