"""WebShop benchmark generation: catalog + search index, goals, splits and expert trajectories.

``catalog: embedded`` writes a seeded catalog in the real data's format (``catalog.py``) and loads
it like the real files; ``catalog: real`` loads WebShop's own files from ``data_dir``. Splits are IPR's
goal-index files when given, else a seeded split by product (no test goal's product is a train
goal's). Train keeps the expert trajectories with reward >= ``min_expert_reward`` (0.7, as ETO/IPR
kept GPT-4 explorations); test keeps every goal.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from ipr.envs.webshop.catalog import write_embedded_files
from ipr.envs.webshop.env import RESULTS_PER_PAGE, SETTINGS_FILE, WebShopEnv
from ipr.envs.webshop.expert import run_expert
from ipr.envs.webshop.real_data import human_goals, iter_products, load_indices, load_mapping
from ipr.envs.webshop.store import CATALOG_FILE, write_store
from ipr.records import config_hash, validate

BENCHMARK = "webshop"
GENERATOR_VERSION = 2  # 2: the reference-faithful reward, pages and page scores (docs/fidelity/webshop.md)
EXPERT_MAX_TURNS = 20  # generous: the benchmark's own max_turns applies when agents play
REAL_FILES = {"products": "items_shuffle_1000.json", "attributes": "items_ins_v2_1000.json",
              "human_goals": "items_human_ins.json"}
_GOAL_FIELDS = ("asin", "price", "category", "query", "name", "product_category")


def _keep_goal_fields(products: Iterable[dict], wanted: set[str], kept: list[dict]) -> Iterator[dict]:
    """Pass products through, keeping the few fields goals need of those in ``wanted`` (the full
    catalog is streamed into the index, never held in memory)."""
    for product in products:
        if product["asin"] in wanted:
            kept.append({field: product[field] for field in _GOAL_FIELDS})
        yield product


def _split(goals: list[dict], seed: int, test_fraction: float, indices: dict[str, Path | None],
           valid_fraction: float = 0.0) -> dict[str, list[dict]]:
    if indices["train"] or indices["test"]:
        splits = {split: [goals[i] for i in sorted(load_indices(path, len(goals)))] if path else []
                  for split, path in indices.items()}
        return _carve_valid(splits, seed, valid_fraction) if valid_fraction else splits
    asins = sorted({goal["asin"] for goal in goals})
    random.Random(f"{seed}:webshop-split").shuffle(asins)
    n_test = max(1, round(test_fraction * len(asins)))
    test_asins = set(asins[:n_test])
    splits = {"train": [g for g in goals if g["asin"] not in test_asins],
              "test": [g for g in goals if g["asin"] in test_asins]}
    return _carve_valid(splits, seed, valid_fraction) if valid_fraction else splits


def _carve_valid(splits: dict[str, list[dict]], seed: int, valid_fraction: float) -> dict[str, list[dict]]:
    """Move the goals of a seeded ``valid_fraction`` of train's products to a validation split, as
    test is split off: by product, so no validation goal's product is a train goal's."""
    asins = sorted({goal["asin"] for goal in splits["train"]})
    random.Random(f"{seed}:webshop-valid-split").shuffle(asins)
    valid_asins = set(asins[: max(1, round(valid_fraction * len(asins)))])
    return {"train": [g for g in splits["train"] if g["asin"] not in valid_asins], "test": splits["test"],
            "valid": [g for g in splits["train"] if g["asin"] in valid_asins]}


def generate_webshop(out_dir: Path, seed: int, catalog: str = "embedded", num_products: int | None = None,
                     data_dir: str | None = None, files: dict | None = None, train_indices: str | None = None,
                     test_indices: str | None = None, test_fraction: float = 0.2,
                     num_train_tasks: int | None = None, num_test_tasks: int | None = None,
                     results_per_page: int = RESULTS_PER_PAGE, min_expert_reward: float = 0.7,
                     page_score: str = "ipr", turn_limit_reward: str = "zero",
                     fuzzy_matcher: str = "original", valid_fraction: float = 0.0,
                     num_valid_tasks: int | None = None) -> dict[str, list[dict]]:
    """Write ``out_dir/catalog.sqlite`` and ``webshop.json``; return ``{"train", "test"}`` trajectory records,
    plus ``"valid"`` when ``valid_fraction`` > 0 (the goals of that share of train's products, at most
    ``num_valid_tasks``, taken out of train; every goal kept, as test keeps them)."""
    out_dir = Path(out_dir)
    settings = {"benchmark": BENCHMARK, "version": GENERATOR_VERSION, "seed": seed, "catalog": catalog,
                "num_products": num_products, "data_dir": data_dir, "files": files, "train_indices": train_indices,
                "test_indices": test_indices, "test_fraction": test_fraction, "num_train_tasks": num_train_tasks,
                "num_test_tasks": num_test_tasks, "results_per_page": results_per_page,
                "min_expert_reward": min_expert_reward, "page_score": page_score,
                "turn_limit_reward": turn_limit_reward, "fuzzy_matcher": fuzzy_matcher}
    if valid_fraction:
        settings.update(valid_fraction=valid_fraction, num_valid_tasks=num_valid_tasks)
    if catalog == "embedded":
        paths = write_embedded_files(out_dir / "source", seed, num_products or 300)
    elif catalog == "real":
        if not data_dir:
            raise ValueError("webshop catalog 'real' needs generate.data_dir (the folder of WebShop's data files)")
        paths = {key: Path(data_dir) / name for key, name in {**REAL_FILES, **(files or {})}.items()}
    else:
        raise ValueError(f"unknown webshop catalog {catalog!r}; known: embedded, real")

    attributes, instructions = load_mapping(paths["attributes"]), load_mapping(paths["human_goals"])
    goal_products: list[dict] = []
    products = iter_products(paths["products"], attributes, seed, None if catalog == "embedded" else num_products)
    write_store(out_dir / CATALOG_FILE, _keep_goal_fields(products, set(instructions), goal_products))
    # The environment reads its page rules from here, so every stage that opens the assets agrees.
    (out_dir / SETTINGS_FILE).write_text(json.dumps({"results_per_page": results_per_page, "page_score": page_score,
                                                     "turn_limit_reward": turn_limit_reward,
                                                     "fuzzy_matcher": fuzzy_matcher}) + "\n")
    goals = human_goals(goal_products, instructions, seed, paths["human_goals"])
    splits = _split(goals, seed, test_fraction, {"train": train_indices and Path(train_indices),
                                                 "test": test_indices and Path(test_indices)}, valid_fraction)

    env = WebShopEnv(out_dir, EXPERT_MAX_TURNS)
    chash = config_hash(settings)
    records: dict[str, list[dict]] = {}
    limits = {"train": num_train_tasks, "test": num_test_tasks, "valid": num_valid_tasks}
    for split, limit in ((split, limits[split]) for split in splits):
        records[split] = []
        for goal in splits[split]:
            if limit is not None and len(records[split]) >= limit:
                break
            played = run_expert(env, goal)
            if split == "train" and played["reward"] < min_expert_reward:
                continue
            task_id = f"webshop-{split}-{goal['session']:05d}"
            records[split].append(validate({
                "id": task_id, "task_id": task_id, "benchmark": BENCHMARK, "split": split, "task": goal,
                "messages": played["messages"], "reward": played["reward"], "success": played["success"],
                "steps": played["steps"], "config_hash": chash}, "trajectory"))
    return records
