"""The paper's tables and figures from whatever results exist (missing cells are marked, not fatal).

Input: a *layout* (what the configuration would produce: benchmarks with their splits, model
instances -> (model, seed), methods, iterations, GPUs per rule), the eval summaries and step-reward
files that exist, and the benchmark TSVs of the planned jobs (Plan.cost_jobs) that exist. Output:
Table 2 (methods x benchmarks + average), Table 3 (base models x SFT/ETO/IPR), Table 4 (ablations;
iterations 1..N), Figure 4 (average MC step reward per test trajectory), and the training cost per
stage, each as Markdown, CSV and LaTeX (figures as PNG).

Conventions (as the paper): values are average final reward x 100 on a benchmark's split; an iterated
method is reported at its best iteration (and grid point), the one with the highest reward averaged
over the benchmark's splits (and over seeds), or over its validation split where it has one,
earliest on ties, among the iterations with every split and
seed present; the Average column is the mean over the table's columns (per seed, then over seeds),
missing when any column is. With several seeds a cell is "mean ± sd" (sample sd over seeds).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ipr.records import atomic_path, read_jsonl
from ipr.report.results import parse_summary_path, save_figure
from ipr.workflow.layout import EVAL_SUMMARY, RESULTS, parse, run_name

MISSING = "–"
LABELS = {"sft": "SFT", "ipr": "IPR", "eto": "ETO", "rft": "RFT", "ipr_no_odpo": "IPR w/o outcome DPO",
          "ipr_no_sdpo": "IPR w/o step DPO", "ipr_no_sft": "IPR w/o SFT loss", "ipr_rm": "IPR (reward model)"}
ABLATIONS = ["ipr", "ipr_no_odpo", "ipr_no_sdpo", "ipr_no_sft"]
TABLE3_METHODS = ["sft", "eto", "ipr"]


def label(method: str) -> str:
    return LABELS.get(method, method)


# --------------------------------------------------------------------------- layout and results


@dataclass
class Layout:
    benchmarks: dict  # name -> {"env": ..., "splits": [...]}
    models: dict  # instance -> [model, seed]
    methods: list  # config methods (table rows)
    iterations: int
    gpus: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)  # method -> {grid variant (a method that ran): its point}

    @classmethod
    def from_json(cls, text_or_path: str) -> "Layout":
        text = Path(text_or_path).read_text() if not text_or_path.lstrip().startswith("{") else text_or_path
        return cls(**json.loads(text))

    @property
    def base_models(self) -> list:
        return list(dict.fromkeys(m for m, _ in self.models.values()))

    def runs(self, method: str) -> list[str]:
        """The methods that ran for a config method: its grid variants, or itself."""
        return list(self.grid.get(method) or [method])

    def label(self, run: str) -> str:
        """A method's or grid variant's name in tables: "IPR (learning_rate=3e-06, beta=0.1)"."""
        for method, points in self.grid.items():
            if run in points:
                return f"{label(method)} (" + ", ".join(f"{k}={v}" for k, v in points[run].items()) + ")"
        return label(run)

    @property
    def all_methods(self) -> list[str]:
        return [v for m in self.methods for v in self.runs(m)]

    def instances(self, model: str) -> dict:
        """seed -> instance name of a base model."""
        return {seed: inst for inst, (m, seed) in self.models.items() if m == model}

    def benchmarks_select_on(self, benchmark: str) -> list[str]:
        """The splits the reported grid point and iteration of a benchmark are chosen on (none: its splits)."""
        return list(self.benchmarks[benchmark].get("select_on", []))

    def columns(self, benchmarks=None) -> list[tuple[str, str]]:
        return [(b, s) for b, e in self.benchmarks.items() if benchmarks is None or b in benchmarks
                for s in e["splits"]]

    def column_label(self, column: tuple[str, str]) -> str:
        b, split = column
        return b if len(self.benchmarks[b]["splits"]) == 1 else f"{b} {split.removeprefix('test_')}"


def load_rewards(summary_paths) -> dict:
    """(benchmark, instance, method, iteration, split) -> average reward of every existing summary."""
    out = {}
    for path in summary_paths:
        key = parse_summary_path(path)
        summary = json.loads(Path(path).read_text())
        out[(key["benchmark"], key["model"], key["method"], key["iteration"], key["split"])] = float(summary["reward"])
    return out


def mean_sd(values: list[float]) -> tuple[float, float | None]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def fmt(values: list[float] | None, scale: float = 100.0, digits: int = 1) -> str:
    if not values:
        return MISSING
    mean, sd = mean_sd([v * scale for v in values])
    return f"{mean:.{digits}f}" if sd is None else f"{mean:.{digits}f} ± {sd:.{digits}f}"


class Results:
    def __init__(self, layout: Layout, rewards: dict):
        self.layout, self.rewards = layout, rewards

    def per_seed(self, model: str, method: str, iteration: int, column) -> dict | None:
        """seed -> reward of one run on one column; None unless every seed is present."""
        b, split = column
        out = {}
        for seed, inst in self.layout.instances(model).items():
            key = (b, inst, method, iteration, split)
            if key not in self.rewards:
                return None
            out[seed] = self.rewards[key]
        return out

    def best_run(self, model: str, method: str, benchmark: str) -> tuple[str, int] | None:
        """(method or grid variant, iteration) reported for a benchmark: (sft, 0) for sft; else the run
        with the highest seed-mean reward, earliest grid point and iteration on ties, among runs with
        every split and seed present. The reward is that of the benchmark's `select_on` splits where
        it has them (a validation split: choosing on the test splits would select on test), else the
        mean over its splits."""
        if method == "sft":
            return "sft", 0
        columns = self.layout.columns([benchmark])
        chosen_on = [(benchmark, s) for s in self.layout.benchmarks_select_on(benchmark)] or columns
        best, best_value = None, None
        for run in self.layout.runs(method):
            for k in range(1, self.layout.iterations + 1):
                if any(self.per_seed(model, run, k, c) is None for c in columns):
                    continue
                cells = [self.per_seed(model, run, k, c) for c in chosen_on]
                value = sum(sum(c.values()) / len(c) for c in cells) / len(cells)
                if best_value is None or value > best_value:
                    best, best_value = (run, k), value
        return best

    def cell(self, model: str, method: str, column, iteration: int | None = None) -> dict | None:
        """seed -> reward of a run at the given iteration (default: the best grid point and iteration)."""
        if iteration is None:
            best = self.best_run(model, method, column[0])
            if best is None:
                return None
            method, iteration = best
        return self.per_seed(model, method, iteration, column)

    def grid_notes(self) -> list[str]:
        """The grid point each gridded method is reported at, per model and benchmark."""
        notes = []
        for model in self.layout.base_models:
            for method in [m for m in self.layout.methods if m in self.layout.grid]:
                for benchmark in self.layout.benchmarks:
                    best = self.best_run(model, method, benchmark)
                    if best:
                        notes.append(f"{label(method)} on {benchmark} ({model}): {self.layout.label(best[0])}, iteration {best[1]}.")
        return notes

    @staticmethod
    def average(cells: list[dict | None]) -> list[float] | None:
        """Per seed, the mean over the columns; None if any column is missing."""
        if not cells or any(c is None for c in cells):
            return None
        seeds = set(cells[0])
        return [sum(c[s] for c in cells) / len(cells) for s in sorted(seeds)]


# --------------------------------------------------------------------------- table output


@dataclass
class Table:
    name: str
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"# {self.title}", "", "| " + " | ".join(self.header) + " |",
                 "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.notes:
            lines += [""] + self.notes
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows([["" if c == MISSING else c for c in row] for row in self.rows])
        return buffer.getvalue()

    def latex(self) -> str:
        def esc(text: str) -> str:
            text = text.replace("\\", r"\textbackslash{}")
            for ch in "&%$#_{}":
                text = text.replace(ch, "\\" + ch)
            return text.replace("±", r"$\pm$").replace(MISSING, "--")

        lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{l" + "c" * (len(self.header) - 1) + "}",
                 r"\toprule", " & ".join(esc(h) for h in self.header) + r" \\", r"\midrule"]
        lines += [" & ".join(esc(c) for c in row) + r" \\" for row in self.rows]
        lines += [r"\bottomrule", r"\end{tabular}", r"\caption{" + esc(self.title) + "}", r"\end{table}"]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | Path) -> list[Path]:
        paths = []
        for ext, text in (("md", self.markdown()), ("csv", self.csv()), ("tex", self.latex())):
            path = Path(out_dir) / f"{self.name}.{ext}"
            with atomic_path(path) as tmp:
                tmp.write_text(text)
            paths.append(path)
        return paths


def _model_title(layout: Layout, model: str) -> str:
    seeds = sorted(layout.instances(model))
    return model if len(seeds) == 1 else f"{model}, mean ± sd over seeds {', '.join(map(str, seeds))}"


NOTE = ("Average final reward x 100; iterated methods at their best iteration (highest reward averaged over "
        f"the benchmark's splits, or on its validation split where it has one). {MISSING} = result missing.")


def table2(results: Results) -> Table:
    """Methods x benchmark columns + Average, one block per base model."""
    layout = results.layout
    columns = layout.columns()
    header = ["model", "method"] + [layout.column_label(c) for c in columns] + ["Average"]
    rows = []
    for model in layout.base_models:
        for method in layout.methods:
            cells = [results.cell(model, method, c) for c in columns]
            rows.append([_model_title(layout, model), label(method)]
                        + [fmt(list(c.values()) if c else None) for c in cells] + [fmt(results.average(cells))])
    return Table("table2", "Table 2: methods x benchmarks", header, rows, [NOTE] + results.grid_notes())


def table3(results: Results) -> Table:
    """Base models x (SFT, ETO, IPR) on the single-split benchmarks (WebShop, InterCodeSQL)."""
    layout = results.layout
    methods = [m for m in TABLE3_METHODS if m in layout.methods]
    columns = [c for c in layout.columns() if len(layout.benchmarks[c[0]]["splits"]) == 1]
    header = ["model"] + [f"{layout.column_label(c)} {label(m)}" for c in columns for m in methods]
    rows = []
    for model in layout.base_models:
        rows.append([_model_title(layout, model)] + [fmt(list(cell.values()) if (cell := results.cell(model, m, c)) else None)
                                                     for c in columns for m in methods])
    return Table("table3", "Table 3: base models x (SFT, ETO, IPR)", header, rows, [NOTE] + results.grid_notes())


def table4(results: Results) -> Table:
    """Ablations (best iteration) and every iteration 1..N of each iterated method; * marks the best."""
    layout = results.layout
    columns = layout.columns()
    header = ["model", "run"] + [layout.column_label(c) for c in columns] + ["Average"]
    rows = []
    for model in layout.base_models:
        title = _model_title(layout, model)
        for method in [m for m in ABLATIONS if m in layout.methods]:
            cells = [results.cell(model, method, c) for c in columns]
            rows.append([title, label(method)] + [fmt(list(c.values()) if c else None) for c in cells]
                        + [fmt(results.average(cells))])
        for method in [m for m in layout.methods if m != "sft"]:
            best = {b: results.best_run(model, method, b) for b in layout.benchmarks}
            for run in layout.runs(method):
                for k in range(1, layout.iterations + 1):
                    cells = [results.cell(model, run, c, k) for c in columns]
                    texts = [fmt(list(c.values()) if c else None) + ("*" if c and best[col[0]] == (run, k) else "")
                             for c, col in zip(cells, columns)]
                    rows.append([title, f"{layout.label(run)} iteration {k}"] + texts + [fmt(results.average(cells))])
    return Table("table4", "Table 4: ablations and iterations", header, rows,
                 [NOTE, "* = the run reported for that benchmark (best iteration and grid point)."])


# --------------------------------------------------------------------------- Figure 4: step rewards


def load_step_rewards(paths) -> dict:
    """(benchmark, instance, method, iteration, split) -> [average step reward of each trajectory]."""
    out = {}
    for path in paths:
        found = parse(path, "eval_step_rewards")
        per_task: dict[str, list[float]] = {}
        for record in read_jsonl(path, "score"):
            per_task.setdefault(record["task_id"], []).append(float(record["step_reward"]))
        key = (found["benchmark"], found["model"], found["method"], found["iteration"], found["split"])
        out[key] = [sum(v) / len(v) for _, v in sorted(per_task.items())]
    return out


def figure4(layout: Layout, step_rewards: dict, methods: list[str], png: str | Path) -> Table:
    """Average step reward per test trajectory (mean over trajectories and seeds; sd over seeds, or
    over trajectories with one seed) for SFT, ETO and IPR; bars per benchmark split and model."""
    columns = layout.columns()
    methods = [m for m in methods if m in layout.all_methods]
    header = ["model", "method"] + [layout.column_label(c) for c in columns]
    rows, bars = [], {}
    for model in layout.base_models:
        for method in methods:
            k = 0 if method == "sft" else layout.iterations
            row = [_model_title(layout, model), layout.label(method) + ("" if k == 0 else f" iteration {k}")]
            for column in columns:
                per_seed = [step_rewards.get((column[0], inst, method, k, column[1]))
                            for inst in layout.instances(model).values()]
                if any(v is None or not v for v in per_seed):
                    row.append(MISSING)
                    continue
                seed_means = [sum(v) / len(v) for v in per_seed]
                spread = seed_means if len(seed_means) > 1 else per_seed[0]
                mean, sd = mean_sd(spread)
                mean = sum(seed_means) / len(seed_means)
                bars[(model, method, column)] = (mean, sd or 0.0)
                row.append(f"{mean:.3f}" + (f" ± {sd:.3f}" if sd is not None else ""))
            rows.append(row)
    _bar_figure(layout, bars, methods, columns, png)
    return Table("figure4", "Figure 4: average MC step reward per test trajectory", header, rows,
                 ["Step rewards by the SFT scorer (N MC continuations, temperature of the score section) along the "
                  "agent's own test trajectories; iterated methods at their last iteration. "
                  f"{MISSING} = not scored."])


def _bar_figure(layout, bars, methods, columns, png) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = layout.base_models
    fig, axes = plt.subplots(1, len(models), figsize=(max(4.0, 1.6 * len(columns) * max(1, len(methods)) / 2) * len(models), 3.4),
                             squeeze=False)
    width = 0.8 / max(1, len(methods))
    for ax, model in zip(axes[0], models):
        for i, method in enumerate(methods):
            xs = [j + i * width for j in range(len(columns))]
            values = [bars.get((model, method, c), (math.nan, 0.0)) for c in columns]
            ax.bar(xs, [v[0] for v in values], width, yerr=[v[1] for v in values], capsize=3, label=layout.label(method))
        ax.set_xticks([j + width * (len(methods) - 1) / 2 for j in range(len(columns))])
        ax.set_xticklabels([layout.column_label(c) for c in columns], fontsize=8)
        ax.set_ylabel("avg step reward per trajectory")
        ax.set_title(model)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, png)


# --------------------------------------------------------------------------- training cost


def cost_table(layout: Layout, cost_jobs) -> Table:
    """Wall hours and GPU-hours (wall x the rule's GPUs in config gpus) per method and stage.

    cost_jobs: (method, rule, benchmark file) of each planned job (Plan.cost_jobs). Only these files
    are read, the last attempt's row of each, so a file of a job that is no longer planned is never
    counted; a planned job without a file (not run yet) or with an empty one is not counted either,
    and the notes say how many."""
    totals: dict[tuple[str, str], list[float]] = {}
    planned, unmeasured = 0, 0
    for method, rule, path in cost_jobs:
        planned += 1
        path = Path(path)
        rows = list(csv.DictReader(io.StringIO(path.read_text()), delimiter="\t")) if path.is_file() else []
        if not rows:
            unmeasured += 1
            continue
        entry = totals.setdefault((method, rule), [0, 0.0])
        entry[0] += 1
        entry[1] += float(rows[-1]["s"])
    header = ["method", "stage", "jobs", "wall hours", "GPUs per job", "GPU-hours"]
    rows = []
    order = {m: i for i, m in enumerate(["shared"] + layout.all_methods)}
    for (method, rule), (jobs, seconds) in sorted(totals.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0])):
        gpus = int(layout.gpus.get("score" if rule == "score_eval" else ("sft" if rule == "rft" else rule), 0))
        rows.append([method, rule, str(jobs), f"{seconds / 3600:.3f}", str(gpus), f"{seconds * gpus / 3600:.3f}"])
    return Table("cost", "Training cost per stage (appendix C)", header, rows,
                 ["From the benchmark files of the configuration's planned jobs (benchmarks/<job>.tsv, last "
                  "attempt; files of other jobs are not read); GPUs per job from config gpus (a cluster "
                  "profile's set-resources may differ); shared = stages every method uses.",
                  f"{unmeasured} of {planned} planned jobs have no benchmark file (not run yet) and are not "
                  "counted.",
                  "Iteration 1's explore and score jobs are shared by the methods that explore alike (same "
                  "step_pairs; scores: same scorer) and count under the one that ran them, the first in methods."])


# --------------------------------------------------------------------------- all of it


def write_paper_tables(layout: Layout, summary_paths, step_reward_paths, cost_jobs, out_dir, figures_dir,
                       step_reward_methods=("sft", "eto", "ipr")) -> list[Table]:
    """Every paper table and figure; cost_jobs: (method, rule, benchmark file) of the planned jobs."""
    results = Results(layout, load_rewards(summary_paths))
    tables = [table2(results), table3(results), table4(results),
              figure4(layout, load_step_rewards(step_reward_paths), list(step_reward_methods),
                      Path(figures_dir) / "figure4.png"),
              cost_table(layout, cost_jobs)]
    missing = [p for p in expected_summaries(layout) if p not in {_tail(s) for s in summary_paths}]
    for table in tables:
        if table.name in ("table2", "table3", "table4") and missing:
            table.notes.append(f"{len(missing)} of {len(expected_summaries(layout))} eval summaries missing.")
        table.write(out_dir)
    return tables


def _tail(path) -> str:
    parts = Path(path).as_posix().split("/")
    return "/".join(parts[parts.index(RESULTS) + 1:]) if RESULTS in parts else Path(path).as_posix()


def expected_summaries(layout: Layout) -> list[str]:
    """The eval summaries a layout produces, relative to results/ (as _tail gives them)."""
    runs = ["sft"] if "sft" in layout.methods else []
    runs += [run_name(m, k) for m in layout.all_methods if m != "sft" for k in range(1, layout.iterations + 1)]
    pattern = EVAL_SUMMARY.removeprefix(RESULTS + "/")
    return [pattern.format(benchmark=b, model=inst, run=run, split=split) for b, e in layout.benchmarks.items()
            for inst in layout.models for run in runs for split in e["splits"]]
