"""Validation splits carved out of train, as test is carved: disjoint from train and test by the
unit each benchmark holds out (SQL: template values; WebShop: products; ALFWorld: games)."""

import pytest

from ipr.envs import generate


def question_key(record):
    task = record["task"]
    return task["template"], task["gold"]


def test_sql_validation_values_are_neither_train_nor_test_values(tmp_path):
    plain = generate("sql_embedded", tmp_path / "plain", 0, train_per_template=2, test_per_template=1)
    carved = generate("sql_embedded", tmp_path / "carved", 0, train_per_template=2, test_per_template=1,
                      valid_per_template=2)
    assert set(plain) == {"train", "test"} and set(carved) == {"train", "test", "valid"}
    valid, train, test = carved["valid"], carved["train"], carved["test"]
    assert valid and all(r["split"] == "valid" and r["task_id"].startswith("sql-valid-") for r in valid)
    assert all(r["reward"] == 1.0 for r in valid)  # the expert solves them, as train and test
    # Validation asks about train templates only, with gold queries (values) train and test never use.
    assert {r["task"]["template"] for r in valid} <= {r["task"]["template"] for r in train}
    golds = {split: {question_key(r) for r in records} for split, records in carved.items()}
    assert not golds["valid"] & golds["train"] and not golds["valid"] & golds["test"]
    # Train keeps its size per template; it draws from fewer values.
    assert len(train) == len(plain["train"])


def test_webshop_validation_goals_are_on_products_of_neither_split(tmp_path):
    settings = dict(catalog="embedded", num_products=60, num_train_tasks=None, num_test_tasks=None)
    plain = generate("webshop", tmp_path / "plain", 0, **settings)
    carved = generate("webshop", tmp_path / "carved", 0, valid_fraction=0.25, **settings)
    products = {split: {r["task"]["asin"] for r in records} for split, records in carved.items()}
    assert carved["valid"] and not products["valid"] & products["train"] and not products["valid"] & products["test"]
    assert [r["id"] for r in carved["test"]] == [r["id"] for r in plain["test"]]  # test does not move
    # The validation goals were train goals (train keeps expert runs of reward >= 0.7 only).
    plain_train = {r["task"]["session"] for r in plain["train"]}
    assert {r["task"]["session"] for r in carved["train"]} <= plain_train
    assert len(carved["train"]) < len(plain["train"])


def test_alfworld_validation_games_leave_train_and_test_unchanged(tmp_path):
    settings = dict(train_games=12, test_seen_games=6, test_unseen_games=6)
    plain = generate("alfworld", tmp_path / "plain", 0, **settings)
    carved = generate("alfworld", tmp_path / "carved", 0, valid_games=6, **settings)
    for split in ("train", "test"):
        assert [r["task"] for r in carved[split]] == [r["task"] for r in plain[split]]
    valid = carved["valid"]
    assert len(valid) == 6 and all(r["success"] for r in valid)
    seen_layouts = {r["task"]["layout"] for r in carved["train"]}
    assert {r["task"]["layout"] for r in valid} <= seen_layouts  # drawn as test_seen is
    games = [r["task"]["game"] for split in ("train", "test") for r in carved[split]]
    assert not any(r["task"]["game"] in games for r in valid)


def test_select_split_names_the_missing_validation_split(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = next(p for p in Path(__file__).resolve().parents if (p / "Snakefile").is_file())
    script = root / "scripts/select_split.py"
    proc = subprocess.run([sys.executable, str(script), "--tasks", str(tmp_path / "assets/splits/valid.jsonl"),
                           "--split", "valid", "--out", str(tmp_path / "valid.jsonl")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: bad input: ")
    assert "no validation split" in proc.stderr and not (tmp_path / "valid.jsonl").exists()


