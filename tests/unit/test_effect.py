"""Paired bootstrap CIs of the method effect on synthetic data whose answer is known."""

import json
import math
import random

import pytest

from ipr.report.effect import effect_rows, paired_bootstrap, write_effect
from ipr.records import write_jsonl


def test_constant_difference_has_a_zero_width_interval():
    stats = paired_bootstrap([[0.25] * 7] * 3, replicates=500)
    assert stats == {"mean": 0.25, "ci_low": pytest.approx(0.25), "ci_high": pytest.approx(0.25), "seeds": 3,
                     "tasks": 7}


def test_one_seed_matches_the_normal_interval_of_a_mean():
    # 400 tasks, half of them +1 and half 0: mean 0.5, standard error sqrt(0.25 / 400) = 0.025.
    d = [[1.0] * 200 + [0.0] * 200]
    stats = paired_bootstrap(d, replicates=20_000, seed=1)
    assert stats["mean"] == 0.5
    assert stats["ci_low"] == pytest.approx(0.5 - 1.96 * 0.025, abs=0.004)
    assert stats["ci_high"] == pytest.approx(0.5 + 1.96 * 0.025, abs=0.004)


def test_seed_spread_widens_the_interval_and_is_resampled():
    # Seed effects 0..4 (population variance 2), no task noise: the resampled mean over 5 seeds has
    # standard error sqrt(2 / 5) = 0.632 around 2; resampling tasks alone would give width 0.
    d = [[float(s)] * 50 for s in range(5)]
    stats = paired_bootstrap(d, replicates=20_000, seed=2)
    assert stats["mean"] == 2.0
    assert stats["ci_low"] == pytest.approx(2 - 1.96 * math.sqrt(2 / 5), abs=0.15)
    assert stats["ci_high"] == pytest.approx(2 + 1.96 * math.sqrt(2 / 5), abs=0.15)


def test_same_seed_same_interval_and_shape_errors():
    rng = random.Random(0)
    d = [[rng.random() - 0.4 for _ in range(30)] for _ in range(5)]
    assert paired_bootstrap(d, replicates=2000, seed=3) == paired_bootstrap(d, replicates=2000, seed=3)
    with pytest.raises(ValueError, match="seeds x tasks"):
        paired_bootstrap([], replicates=10)


def synthetic_runs(effect_ipr=0.10, effect_eto=0.05, seeds=5, tasks=200, seed=0):
    """Rewards with a task difficulty and a seed offset shared by every method of a seed, plus a
    known method effect and noise."""
    rng = random.Random(seed)
    difficulty = [rng.random() * 0.5 for _ in range(tasks)]
    runs, instances = {}, {}
    for s in range(seeds):
        instance = f"tiny-seed{s}"
        instances[instance] = ("tiny", s)
        offset = rng.gauss(0, 0.05)
        for method, iteration, effect in (("sft", 0, 0.0), ("eto", 2, effect_eto), ("ipr", 2, effect_ipr)):
            runs[("sql", instance, method, iteration, "test")] = {
                f"t{i:03d}": difficulty[i] + offset + effect + rng.gauss(0, 0.02) for i in range(tasks)}
    return runs, instances


def test_effect_rows_recover_known_effects():
    runs, instances = synthetic_runs()
    rows = effect_rows(runs, instances, {"sft": 0, "eto": 2, "ipr": 2}, {"sql": ["test"]}, "abc", replicates=4000)
    by = {r["comparison"]: r for r in rows}
    assert list(by) == ["ipr-sft", "ipr-eto", "eto-sft"]
    for comparison, expected in (("ipr-sft", 0.10), ("ipr-eto", 0.05), ("eto-sft", 0.05)):
        row = by[comparison]
        assert row["ci_low"] < expected < row["ci_high"]
        assert row["ci_high"] - row["ci_low"] < 0.02  # the shared offsets cancel in the pairing
        assert (row["seeds"], row["tasks"], row["commit"], row["benchmark"]) == (5, 200, "abc", "sql")


def test_a_comparison_needs_every_seed_and_the_same_tasks():
    runs, instances = synthetic_runs(seeds=3, tasks=10)
    del runs[("sql", "tiny-seed2", "eto", 2, "test")]
    rows = effect_rows(runs, instances, {"sft": 0, "eto": 2, "ipr": 2}, {"sql": ["test"]}, "abc", replicates=100)
    assert [r["comparison"] for r in rows] == ["ipr-sft"]
    runs[("sql", "tiny-seed1", "ipr", 2, "test")].pop("t000")
    with pytest.raises(ValueError, match="same tasks"):
        effect_rows(runs, instances, {"sft": 0, "ipr": 2}, {"sql": ["test"]}, "abc", replicates=100)


def test_write_effect_from_eval_files(tmp_path):
    runs, instances = synthetic_runs(seeds=2, tasks=12)
    summaries = []
    for (benchmark, instance, method, iteration, split), rewards in runs.items():
        run_dir = "sft" if method == "sft" else f"{method}/iter{iteration}"
        base = tmp_path / "results" / benchmark / instance / run_dir / "eval"
        base.mkdir(parents=True, exist_ok=True)
        records = [{"id": t, "benchmark": benchmark, "task_id": t, "split": split, "task": {}, "messages": [],
                    "reward": r, "success": r >= 1.0, "steps": 1, "config_hash": "h"} for t, r in rewards.items()]
        write_jsonl(base / f"{split}.jsonl", records, "trajectory")
        (base / f"{split}.summary.json").write_text(json.dumps({"n": len(records)}))
        summaries.append(str(base / f"{split}.summary.json"))
    rows = write_effect(summaries, instances, {"sft": 0, "eto": 2, "ipr": 2}, {"sql": ["test"]}, "abc",
                        tmp_path / "tables", tmp_path / "effect.png", replicates=200)
    assert len(rows) == 3
    csv_lines = (tmp_path / "tables" / "effect.csv").read_text().splitlines()
    assert csv_lines[0].startswith("benchmark,comparison,mean,ci_low,ci_high,seeds,tasks,commit")
    assert csv_lines[1].startswith("sql,ipr-sft,")
    markdown = (tmp_path / "tables" / "effect.md").read_text()
    assert "| sql | tiny | ipr-sft |" in markdown
    sft = [sum(runs[("sql", f"tiny-seed{s}", "sft", 0, "test")].values()) / 12 * 100 for s in (0, 1)]
    assert f"| sql | test | tiny | 2 | {sft[0]:.1f}, {sft[1]:.1f} |" in markdown  # the noise floor
    assert (tmp_path / "effect.png").stat().st_size > 0
