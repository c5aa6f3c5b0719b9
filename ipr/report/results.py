"""Result tables and figures from eval summaries and pair files.

Runs are identified by their artifact paths (DESIGN.md section 2):
``results/{benchmark}/{model}/sft/eval/{split}.summary.json`` and
``results/{benchmark}/{model}/{method}/iter{k}/eval/{split}.summary.json``.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

from ipr.records import atomic_path, read_jsonl
from ipr.workflow import layout

COLUMNS = ["benchmark", "model", "method", "iteration", "split", "n", "reward", "success_rate",
           "step_pairs", "outcome_pairs"]


def parse_summary_path(path: str | Path) -> dict:
    """benchmark, model, method ("sft" for the SFT policy), iteration (0 for SFT) and split of an
    eval summary path (ipr.workflow.layout.EVAL_SUMMARY)."""
    found = layout.parse(path, "eval_summary")
    return {k: found[k] for k in ("benchmark", "model", "method", "iteration", "split")}


def collect_rows(summary_paths: list[str], pairs_paths: list[str]) -> list[dict]:
    pair_counts = {}
    for path in pairs_paths:
        found = layout.parse(path, "pairs")
        key = (found["benchmark"], found["model"], found["method"], found["iteration"])
        pair_counts[key] = Counter(p["kind"] for p in read_jsonl(path, "pair"))
    rows = []
    for path in summary_paths:
        row = parse_summary_path(path)
        summary = json.loads(Path(path).read_text())
        counts = pair_counts.get((row["benchmark"], row["model"], row["method"], row["iteration"]), Counter())
        row.update(n=summary["n"], reward=summary["reward"], success_rate=summary["success_rate"],
                   step_pairs=counts["step"], outcome_pairs=counts["outcome"])
        rows.append(row)
    return sorted(rows, key=lambda r: (r["benchmark"], r["model"], r["split"], r["method"] != "sft",
                                       r["method"], r["iteration"]))


def run_label(row: dict) -> str:
    return "SFT" if row["method"] == "sft" else f"{row['method'].upper()} it{row['iteration']}"


def markdown_table(rows: list[dict]) -> str:
    """Wide table: one line per (benchmark, model, split); one column per run: reward / success."""
    labels = list(dict.fromkeys(run_label(r) for r in rows))
    groups: dict[tuple, dict] = {}
    for row in rows:
        groups.setdefault((row["benchmark"], row["model"], row["split"]), {})[run_label(row)] = row
    lines = [
        "# Results",
        "",
        "Average final reward / success rate on each split (greedy decoding).",
        "",
        "| benchmark | model | split | " + " | ".join(labels) + " |",
        "|---|---|---|" + "---|" * len(labels),
    ]
    for (benchmark, model, split), runs in groups.items():
        cells = [f"{runs[label]['reward']:.3f} / {runs[label]['success_rate']:.3f}" if label in runs else "-"
                 for label in labels]
        lines.append(f"| {benchmark} | {model} | {split} | " + " | ".join(cells) + " |")
    lines += split_columns(rows)
    pair_rows = [r for r in rows if r["method"] != "sft"]
    if pair_rows:
        lines += ["", "Preference pairs built for each iteration's training.", "",
                  "| benchmark | model | method | iteration | step pairs | outcome pairs |", "|---|---|---|---|---|---|"]
        seen = set()
        for r in pair_rows:
            key = (r["benchmark"], r["model"], r["method"], r["iteration"])
            if key not in seen:
                seen.add(key)
                lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {r['step_pairs']} | {r['outcome_pairs']} |")
    return "\n".join(lines) + "\n"


def split_columns(rows: list[dict]) -> list[str]:
    """Markdown lines of a table with one column per split (ALFWorld's seen and unseen, as in the
    paper), for benchmarks evaluated on more than one split; none otherwise."""
    multi = {b for b in {r["benchmark"] for r in rows} if len({r["split"] for r in rows if r["benchmark"] == b}) > 1}
    if not multi:
        return []
    splits = list(dict.fromkeys(r["split"] for r in rows if r["benchmark"] in multi))
    cells: dict[tuple, dict] = {}
    for row in rows:
        if row["benchmark"] in multi:
            cells.setdefault((row["benchmark"], row["model"], run_label(row)), {})[row["split"]] = row
    lines = ["", "Average final reward / success rate per split.", "",
             "| benchmark | model | run | " + " | ".join(splits) + " |", "|---|---|---|" + "---|" * len(splits)]
    for (benchmark, model, label), by_split in cells.items():
        values = [f"{by_split[s]['reward']:.3f} / {by_split[s]['success_rate']:.3f}" if s in by_split else "-"
                  for s in splits]
        lines.append(f"| {benchmark} | {model} | {label} | " + " | ".join(values) + " |")
    return lines


def csv_text(rows: list[dict], columns: list[str]) -> str:
    """``rows`` as CSV with ``columns`` (other keys ignored, None as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return buffer.getvalue()


def csv_table(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{row[k]:.4f}" if isinstance(row[k], float) else row[k]) for k in COLUMNS})
    return buffer.getvalue()



def save_figure(fig, path: str | Path, dpi: int = 120) -> None:
    """Write a matplotlib figure as PNG, atomically and without the software stamp (so the same
    figure gives the same bytes), and release it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)


def reward_figure(rows: list[dict], path: str | Path) -> None:
    """Reward against iteration (SFT = iteration 0), one panel per benchmark, one line per model x method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmarks = sorted({r["benchmark"] for r in rows})
    if not benchmarks:  # nothing evaluated yet: an empty panel, so the figure still exists
        fig, ax = plt.subplots(figsize=(4.5, 3.4))
        ax.text(0.5, 0.5, "no results yet", ha="center", va="center")
        save_figure(fig, path)
        return
    fig, axes = plt.subplots(1, len(benchmarks), figsize=(4.5 * len(benchmarks), 3.4), squeeze=False)
    for ax, benchmark in zip(axes[0], benchmarks):
        # One split per panel: test, else the first one (ALFWorld: test_seen).
        splits = sorted({r["split"] for r in rows if r["benchmark"] == benchmark}, key=lambda s: (s != "test", s))
        mine = [r for r in rows if r["benchmark"] == benchmark and r["split"] == splits[0]]
        for model in sorted({r["model"] for r in mine}):
            sft = [r for r in mine if r["model"] == model and r["method"] == "sft"]
            for method in sorted({r["method"] for r in mine if r["method"] != "sft"}) or ["sft"]:
                points = sft + [r for r in mine if r["model"] == model and r["method"] == method and method != "sft"]
                points.sort(key=lambda r: r["iteration"])
                ax.plot([p["iteration"] for p in points], [p["reward"] for p in points], marker="o",
                        label=f"{model} {method}")
        ax.set_xticks(sorted({r["iteration"] for r in mine}))
        ax.set_title(benchmark)
        ax.set_xlabel("iteration (0 = SFT)")
        ax.set_ylabel("average reward")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


PAIR_COLUMNS = ["benchmark", "iteration", "step_pairs", "step_pairs_not_outcome", "first_diff_turn_mean",
                "mc_reward_gap_mean", "share_not_outcome", "outcome_pairs", "outcome_first_diff_turn_mean",
                "model", "method"]


def pair_diagnostic_rows(pairs_paths: list[str]) -> list[dict]:
    """One row per pairs file (benchmark, model, method, iteration): ``ipr.method.pairs.pair_diagnostic``."""
    from ipr.method.pairs import pair_diagnostic

    rows = []
    for path in pairs_paths:
        found = layout.parse(path, "pairs")
        row = {"benchmark": found["benchmark"], "model": found["model"], "method": found["method"],
               "iteration": found["iteration"]}
        row.update(pair_diagnostic(list(read_jsonl(path, "pair"))))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["benchmark"], r["model"], r["method"], r["iteration"]))


def _cell(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def titled_table(title: str, intro: str, header: list[str], rows: list[list[str]], empty: str) -> list[str]:
    """The lines of a Markdown section: title, intro paragraph, a table of ``rows`` (cell texts), or a
    single row saying ``empty`` when there is none."""
    lines = [f"# {title}", "", intro, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    if not rows:
        lines.append(f"| {empty} " + "|" * len(header))
    return lines


def pair_diagnostic_markdown(rows: list[dict]) -> str:
    intro = ("Per pairs file: step pairs, how many of them are not a copy of an outcome pair of the same task "
             "(same two whole conversations, so the same DPO term), the mean action index where a pair's "
             "chosen and rejected first differ (step pairs; outcome pairs), and the mean Monte-Carlo "
             "step-reward gap of the step pairs. Without step pairs that differ from outcome pairs, IPR's "
             "step-level term repeats the outcome term.")
    header = ["benchmark", "model", "method", "iteration", "step pairs", "not outcome pairs", "share",
              "first diff turn (step)", "first diff turn (outcome)", "MC gap", "outcome pairs"]
    cells = [[r["benchmark"], r["model"], r["method"], str(r["iteration"]), str(r["step_pairs"]),
              str(r["step_pairs_not_outcome"]), _cell(r["share_not_outcome"], 2), _cell(r["first_diff_turn_mean"], 2),
              _cell(r["outcome_first_diff_turn_mean"], 2), _cell(r["mc_reward_gap_mean"]), str(r["outcome_pairs"])]
             for r in rows]
    return "\n".join(titled_table("Pair diagnostic", intro, header, cells, "(no pairs files)")) + "\n"


def pair_diagnostic_csv(rows: list[dict]) -> str:
    return csv_text([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
                    PAIR_COLUMNS)


HELDOUT_COLUMNS = ["benchmark", "model", "method", "iteration", "pairs", "chosen_logp_change",
                   "rejected_logp_change", "margin", "accuracy", "chosen_logp_fell"]


def heldout_rows(heldout_paths: list[str]) -> list[dict]:
    """One row per held-out pair diagnostic (benchmark, model, method, iteration): its metrics."""
    rows = []
    for path in heldout_paths:
        found = layout.parse(path, "heldout_pairs")
        metrics = json.loads(Path(path).read_text(encoding="utf-8"))
        rows.append({"benchmark": found["benchmark"], "model": found["model"], "method": found["method"],
                     "iteration": found["iteration"], **{k: metrics[k] for k in HELDOUT_COLUMNS[4:]}})
    return sorted(rows, key=lambda r: (r["benchmark"], r["model"], r["method"], r["iteration"]))


def heldout_markdown(rows: list[dict]) -> str:
    intro = ("Per trained policy, on outcome pairs of the validation split (the expert's trajectory chosen, the "
             "SFT policy's failed one rejected; no method trains on them): the mean change of the summed "
             "log-prob from the policy's DPO reference on the chosen and the rejected side, their difference "
             "(the margin), the share of pairs with a positive margin, and the share whose chosen log-prob "
             "fell. A positive margin with a falling chosen side is DPO's known failure: the expert's actions "
             "lose probability while the rejected ones lose more.")
    header = ["benchmark", "model", "method", "iteration", "pairs", "chosen change", "rejected change", "margin",
              "accuracy", "chosen fell"]
    cells = [[r["benchmark"], r["model"], r["method"], str(r["iteration"]), str(r["pairs"])]
             + [_cell(r[k], 2) for k in HELDOUT_COLUMNS[5:]] for r in rows]
    return "\n".join(titled_table("Held-out pairs", intro, header, cells,
                                  "(no held-out pairs: no benchmark is evaluated on the validation split)")) + "\n"


def write_report(summary_paths: list[str], pairs_paths: list[str], out_dir: str | Path, figures_dir: str | Path,
                 heldout_paths: list[str] = ()) -> list[dict]:
    rows = collect_rows(summary_paths, pairs_paths)
    out_dir, figures_dir = Path(out_dir), Path(figures_dir)
    diagnostic = pair_diagnostic_rows(pairs_paths)
    with atomic_path(out_dir / "pairs.md") as tmp:
        tmp.write_text(pair_diagnostic_markdown(diagnostic))
    with atomic_path(out_dir / "pairs.csv") as tmp:
        tmp.write_text(pair_diagnostic_csv(diagnostic))
    heldout = heldout_rows(list(heldout_paths))
    with atomic_path(out_dir / "heldout.md") as tmp:
        tmp.write_text(heldout_markdown(heldout))
    with atomic_path(out_dir / "heldout.csv") as tmp:
        tmp.write_text(csv_text([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                                 for r in heldout], HELDOUT_COLUMNS))
    with atomic_path(out_dir / "main.md") as tmp:
        tmp.write_text(markdown_table(rows))
    with atomic_path(out_dir / "main.csv") as tmp:
        tmp.write_text(csv_table(rows))
    reward_figure(rows, figures_dir / "rewards.png")
    return rows
