"""Generator of the embedded ALFWorld benchmark: seeded household games and expert trajectories.

A *layout* is a room (kitchen, living room, bedroom, bathroom) with a seeded number of receptacles
of each type; a *combination* is (task type, object type, target receptacle type). A game draws a
layout and a feasible combination, places the goal objects where the expert's search will find
them within the turn limit, and scatters distractors.

Splits, as ALFWorld's: ``train``; ``test_seen`` (valid_seen: train's layouts and combinations, new
games); ``test_unseen`` (valid_unseen: held-out layouts and held-out combinations). Both test splits
are written to the ``test`` file; each record's ``split`` names which one it belongs to. Everything
is deterministic for a seed (string-seeded ``random.Random``, sorted candidates, no set iteration).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from ipr.envs.alfworld.env import AlfworldEnv
from ipr.envs.alfworld.expert import expert_actions, run_expert, search_order
from ipr.envs.alfworld.world import (
    BATH, COOKWARE, DESK, DISHES, FOOD, LIVING, SPICES, UTENSILS, CAN_CONTAIN, COOLER, HEATER, LAMP,
    OBJECT_PROPERTIES, SINKS, TASK_TYPES, Household,
)
from ipr.records import config_hash, validate

BENCHMARK = "alfworld"
GENERATOR_VERSION = 1
SPLITS = ("train", "test_seen", "test_unseen")
LAMP_STANDS = ("desk", "dresser", "sidetable")
MAX_DISTRACTORS = 2  # per receptacle: observations stay short for a small model's context
UNSEEN_COMBINATION_FRACTION = 0.25
_ATTEMPTS = 200

# Room kind -> ({receptacle type: (min, max) count}, object types found there).
ROOMS: dict[str, tuple[dict[str, tuple[int, int]], tuple[str, ...]]] = {
    "kitchen": ({"cabinet": (2, 5), "countertop": (1, 2), "diningtable": (0, 1), "drawer": (1, 3),
                 "fridge": (1, 1), "garbagecan": (1, 1), "microwave": (1, 1), "shelf": (0, 2),
                 "sinkbasin": (1, 1), "stoveburner": (2, 4)},
                FOOD + DISHES + COOKWARE + UTENSILS + SPICES + ("dishsponge", "soapbottle")),
    "livingroom": ({"armchair": (0, 1), "cabinet": (0, 2), "coffeetable": (1, 1), "drawer": (1, 3),
                    "garbagecan": (1, 1), "shelf": (1, 2), "sidetable": (1, 2), "sofa": (1, 1)},
                   LIVING + ("cellphone",)),
    "bedroom": ({"bed": (1, 1), "desk": (0, 1), "drawer": (1, 3), "dresser": (0, 1), "garbagecan": (1, 1),
                 "safe": (0, 1), "shelf": (1, 2), "sidetable": (1, 2)},
                DESK + ("pillow", "laptop", "mug", "bowl", "cup")),
    "bathroom": ({"bathtubbasin": (0, 1), "cabinet": (1, 3), "countertop": (1, 1), "drawer": (0, 2),
                  "garbagecan": (1, 1), "shelf": (0, 1), "sinkbasin": (1, 1), "toilet": (1, 1),
                  "toiletpaperhanger": (1, 1), "towelholder": (0, 1)},
                 BATH),
}

# Two wordings per task type, as ALFWorld's templated goals.
GOAL_TEXTS: dict[str, tuple[str, str]] = {
    "pick_and_place_simple": ("put a {o} in {r}.", "put some {o} on {r}."),
    "look_at_obj_in_light": ("look at {o} under the desklamp.", "examine the {o} with the desklamp."),
    "pick_clean_then_place_in_recep": ("put a clean {o} in {r}.", "clean some {o} and put it in {r}."),
    "pick_heat_then_place_in_recep": ("put a hot {o} in {r}.", "heat some {o} and put it in {r}."),
    "pick_cool_then_place_in_recep": ("put a cool {o} in {r}.", "cool some {o} and put it in {r}."),
    "pick_two_obj_and_place": ("put two {o} in {r}.", "find two {o} and put them in {r}."),
}


def _appliances_ok(task_type: str, kind: str, receptacle_types: set[str]) -> bool:
    """Whether a room with ``receptacle_types`` supports ``task_type`` on objects of ``kind``."""
    cleanable, heatable, coolable = OBJECT_PROPERTIES[kind]
    if task_type == "look_at_obj_in_light":
        return bool(receptacle_types & set(LAMP_STANDS))
    if task_type == "pick_clean_then_place_in_recep":
        return cleanable and bool(receptacle_types & SINKS)
    if task_type == "pick_heat_then_place_in_recep":
        return heatable and HEATER in receptacle_types
    if task_type == "pick_cool_then_place_in_recep":
        return coolable and COOLER in receptacle_types
    return True


def combinations(room: str) -> list[tuple[str, str, str | None]]:
    """Every (task type, object type, target type) the room kind can host; target None for light."""
    pool, objects = ROOMS[room]
    types = set(pool)
    found = []
    for task_type in TASK_TYPES:
        for kind in sorted(set(objects)):
            if not _appliances_ok(task_type, kind, types):
                continue
            if task_type == "look_at_obj_in_light":
                found.append((task_type, kind, None))
                continue
            found += [(task_type, kind, target) for target in sorted(types) if kind in CAN_CONTAIN[target]]
    return found


def combination(game: dict) -> tuple[str, str, str, str | None]:
    """(room, task type, object type, target type) of a game."""
    return game["room"], game["task_type"], game["object"], game["target"]


def make_layouts(seed: int, per_room: int) -> dict[str, dict[str, int]]:
    """``per_room`` distinct seeded layouts per room kind: layout id -> {receptacle type: count}."""
    layouts = {}
    for room, (pool, _) in ROOMS.items():
        rng = random.Random(f"{seed}:layouts:{room}")
        made: list[dict[str, int]] = []
        for _ in range(_ATTEMPTS):
            counts = {kind: rng.randint(low, high) for kind, (low, high) in pool.items()}
            counts = {kind: n for kind, n in counts.items() if n > 0}
            if counts not in made:
                made.append(counts)
            if len(made) == per_room:
                break
        for index, counts in enumerate(made):
            layouts[f"{room}-{index}"] = counts
    return layouts


def split_plan(seed: int, per_room: int, unseen_per_room: int) -> dict[str, tuple[list[str], list[tuple]]]:
    """Layouts and combinations of each split: seen splits share train's, unseen holds the rest out."""
    layouts = make_layouts(seed, per_room)
    seen_layouts, unseen_layouts, seen_combos, unseen_combos = [], [], [], []
    for room in ROOMS:
        ids = [name for name in layouts if name.startswith(f"{room}-")]
        random.Random(f"{seed}:held-out-layouts:{room}").shuffle(ids)
        unseen_layouts += sorted(ids[:unseen_per_room])
        seen_layouts += sorted(ids[unseen_per_room:])
        combos = combinations(room)
        random.Random(f"{seed}:held-out-combinations:{room}").shuffle(combos)
        held = max(1, round(UNSEEN_COMBINATION_FRACTION * len(combos)))
        unseen_combos += [(room, *c) for c in combos[:held]]
        seen_combos += [(room, *c) for c in combos[held:]]
    seen = (seen_layouts, seen_combos)
    return {"train": seen, "test_seen": seen, "test_unseen": (unseen_layouts, unseen_combos)}


def make_game(rng: random.Random, layout: dict[str, int], room: str, combo: tuple, max_steps: int) -> dict | None:
    """One game of ``combo`` in ``layout``, or None if it does not fit (missing appliance, too long)."""
    task_type, kind, target = combo
    types = set(layout)
    if not _appliances_ok(task_type, kind, types) or (target is not None and target not in types):
        return None
    receptacles = [f"{t} {i}" for t in sorted(layout) for i in range(1, layout[t] + 1)]
    objects: list[dict] = []
    numbers: dict[str, int] = {}

    def add(object_type: str, receptacle: str) -> None:
        numbers[object_type] = numbers.get(object_type, 0) + 1
        objects.append({"name": f"{object_type} {numbers[object_type]}", "type": object_type, "in": receptacle})

    game = {"task_type": task_type, "object": kind, "target": target, "room": room,
            "receptacles": [{"name": r, "type": r.rpartition(" ")[0]} for r in receptacles], "objects": objects}
    places = search_order(Household(game), kind, target)
    if not places:
        return None
    for _ in range(2 if task_type == "pick_two_obj_and_place" else 1):
        add(kind, rng.choice(places))
    if task_type == "look_at_obj_in_light" or rng.random() < 0.5:
        stands = [r for r in receptacles if r.rpartition(" ")[0] in LAMP_STANDS]
        if stands:
            add(LAMP, rng.choice(stands))
    distractors = sorted(set(ROOMS[room][1]) - {kind, LAMP})
    for receptacle in receptacles:
        fitting = [d for d in distractors if d in CAN_CONTAIN[receptacle.rpartition(" ")[0]]]
        for _ in range(rng.randint(0, MAX_DISTRACTORS) if fitting else 0):
            add(rng.choice(fitting), receptacle)
    template = rng.choice(GOAL_TEXTS[task_type])
    game["goal_text"] = template.format(o=kind, r=target)
    try:
        plan = expert_actions(game)
    except ValueError:
        return None
    return game if len(plan) <= max_steps else None


def generate_games(seed: int, split: str, count: int, plan: tuple[list[str], list[tuple]],
                   layouts: dict[str, dict[str, int]], max_steps: int, taken: set[str]) -> list[dict]:
    """``count`` distinct games of ``split``, none in ``taken`` (which it extends)."""
    layout_ids, combos = plan
    rng = random.Random(f"{seed}:games:{split}")
    games = []
    for index in range(count * _ATTEMPTS):
        if len(games) == count:
            break
        layout_id = rng.choice(layout_ids)
        room = layout_id.rsplit("-", 1)[0]
        # Task types in turn, so every split covers all six evenly.
        task_type = TASK_TYPES[len(games) % len(TASK_TYPES)]
        fitting = [c for c in combos if c[0] == room and c[1] == task_type]
        if not fitting:
            continue
        game = make_game(rng, layouts[layout_id], room, rng.choice(fitting)[1:], max_steps)
        if game is None:
            continue
        game["layout"] = layout_id
        key = json.dumps(game, sort_keys=True)
        if key not in taken:
            taken.add(key)
            games.append(game)
    if len(games) < count:
        raise ValueError(f"could only generate {len(games)} of {count} {split} games; lower the count")
    return games


def generate_benchmark(out_dir: Path, seed: int, train_games: int = 240, test_seen_games: int = 140,
                       test_unseen_games: int = 134, layouts_per_room: int = 6, unseen_layouts_per_room: int = 2,
                       max_expert_steps: int = 20, valid_games: int = 0) -> dict[str, list[dict]]:
    """Return ``{"train": [...], "test": [...]}`` trajectory records (test = seen + unseen games), plus
    ``"valid"`` when ``valid_games`` > 0: new games on train's layouts and combinations (as test_seen
    is drawn), distinct from every train and test game and drawn after them, so train and both test
    splits are the same with or without a validation split.

    The embedded games need no assets: each record's ``task["game"]`` is the whole game.
    ``out_dir`` is created empty so that the pipeline's assets directory exists.
    """
    settings = {"benchmark": BENCHMARK, "version": GENERATOR_VERSION, "seed": seed, "train_games": train_games,
                "test_seen_games": test_seen_games, "test_unseen_games": test_unseen_games,
                "layouts_per_room": layouts_per_room, "unseen_layouts_per_room": unseen_layouts_per_room,
                "max_expert_steps": max_expert_steps}
    if valid_games:
        settings["valid_games"] = valid_games
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    layouts = make_layouts(seed, layouts_per_room)
    plans = split_plan(seed, layouts_per_room, unseen_layouts_per_room)
    counts = {"train": train_games, "test_seen": test_seen_games, "test_unseen": test_unseen_games,
              "valid": valid_games}
    env = AlfworldEnv(max_turns=max_expert_steps)
    taken: set[str] = set()
    records: dict[str, list[dict]] = {"train": [], "test": []}
    if valid_games:
        records["valid"] = []
    for split in SPLITS + (("valid",) if valid_games else ()):
        if split == "valid":
            plans["valid"] = plans["test_seen"]
        games = generate_games(seed, split, counts[split], plans[split], layouts, max_expert_steps, taken)
        if split == "train":  # seen games use only layouts and combinations that train games did use
            plans["test_seen"] = (sorted({g["layout"] for g in games}), sorted({combination(g) for g in games}))
        for index, game in enumerate(games):
            task_id = f"alfworld-{split}-{index:05d}"
            task = {"game": game, "task_type": game["task_type"], "layout": game["layout"]}
            expert = run_expert(env, task)
            record = {"id": task_id, "benchmark": BENCHMARK, "task_id": task_id, "split": split, "task": task,
                      **expert, "config_hash": config_hash(settings)}
            records[split if split in ("train", "valid") else "test"].append(validate(record, "trajectory"))
    return records
