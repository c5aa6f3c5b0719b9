"""Importer of ALFWorld's real games (``$ALFWORLD_DATA/json_2.1.1``, from ``alfworld-download``).

Splits as the paper's: ``train`` from train, ``test_seen`` from valid_seen (140 games) and
``test_unseen`` from valid_unseen (134). A split's games are found as alfworld's own loader finds
them (a ``game.tw-pddl`` marked solvable, no movable-receptacle or sliced-object trials), in sorted
path order; a cap keeps the first N. Records are those of the embedded generator (both test splits
in ``test``, each record's ``split`` naming its own), with ``task["game_file"]`` relative to the data dir.

The real data ships no ReAct trajectories, so the train expert is TextWorld's planner, asked for its
next command after every step (re-planning, as alfworld's planner expert does), with a short
thought templated from the command; a game it does not win within ``max_expert_steps`` is skipped
and counted. Test records carry no trajectory: evaluation plays them from the start.

The engine runs in a server under ``engine_python`` (:mod:`remote`), so nothing here imports
textworld. ``engine.json`` in the assets dir names the interpreter and data dir for the stages.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm

from ipr.envs.alfworld.expert import run_expert
from ipr.envs.alfworld.remote import DEFAULT_ENGINE_PYTHON, ENGINE_FILE, RemoteAlfworldEnv
from ipr.records import InputError, config_hash, validate

log = logging.getLogger(__name__)

BENCHMARK = "alfworld_real"
IMPORTER_VERSION = 1
DATA_VERSION = "json_2.1.1"
SOURCES = {"train": "train", "test_seen": "valid_seen", "test_unseen": "valid_unseen"}
_UNSUPPORTED = ("movable", "Sliced")  # trial kinds alfworld's loader skips

# Planner command -> thought. The planner gives no reasons, so a thought restates the step.
_THOUGHTS = (
    (re.compile(r"go to (.+)"), "I need to go to {0}."),
    (re.compile(r"open (.+)"), "I need to open {0}."),
    (re.compile(r"take (.+) from (.+)"), "I take {0} from {1}."),
    (re.compile(r"put (.+) in/on (.+)"), "I put {0} in/on {1}."),
    (re.compile(r"(clean|heat|cool) (.+) with (.+)"), "I {0} {1} with {2}."),
    (re.compile(r"use (.+)"), "I turn on {0}."),
)


def planner_thought(command: str) -> str:
    for pattern, thought in _THOUGHTS:
        match = pattern.fullmatch(command)
        if match:
            return thought.format(*match.groups())
    return f"I {command}."


def planner_steps(env: RemoteAlfworldEnv) -> Iterator[tuple[str, str]]:
    """(thought, command) of the planner's next step from the env's current state, until it has no
    plan; lazy, so each step is planned after the caller (:func:`run_expert`) played the last one."""
    while commands := env.plan():
        yield planner_thought(commands[0]), commands[0]


def game_files(data_dir: Path, source: str, limit: int | None) -> list[Path]:
    """The first ``limit`` (None: all) playable games of a source split, in sorted path order."""
    root = data_dir / DATA_VERSION / source
    if not root.is_dir():
        raise InputError(f"{root}: no such folder (alfworld-download writes {DATA_VERSION}/ into $ALFWORLD_DATA)")
    found = []
    for path in sorted(root.glob("*/*/game.tw-pddl")):
        if limit is not None and len(found) == limit:
            break
        trial = path.parent.relative_to(root).as_posix()
        if not any(kind in trial for kind in _UNSUPPORTED) and json.loads(path.read_text()).get("solvable"):
            found.append(path)
    return found


def import_benchmark(out_dir: Path, data_dir: str | None = None, engine_python: str = DEFAULT_ENGINE_PYTHON,
                     train_games: int | None = None, test_seen_games: int | None = None,
                     test_unseen_games: int | None = None, max_expert_steps: int = 20) -> dict[str, list[dict]]:
    """Return ``{"train": [...], "test": [...]}`` records; write ``engine.json`` and ``import.json``
    (games found and skipped per split) into ``out_dir`` (the assets dir)."""
    data_dir = os.path.expandvars(data_dir or os.environ.get("ALFWORLD_DATA", ""))
    if not data_dir or "$" in data_dir:
        raise InputError(f"no ALFWorld data dir ({data_dir!r}): set generate.data_dir or $ALFWORLD_DATA")
    # Absolute paths, as the stages may run elsewhere; abspath keeps the venv's python symlink.
    data_dir = Path(os.path.abspath(os.path.expanduser(data_dir)))
    engine_python = os.path.abspath(os.path.expanduser(os.path.expandvars(engine_python)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ENGINE_FILE).write_text(json.dumps({"engine_python": engine_python, "data_dir": str(data_dir)},
                                                  indent=1) + "\n")
    caps = {"train": train_games, "test_seen": test_seen_games, "test_unseen": test_unseen_games}
    settings = {"benchmark": BENCHMARK, "version": IMPORTER_VERSION, **{f"{s}_games": n for s, n in caps.items()},
                "max_expert_steps": max_expert_steps}
    env = RemoteAlfworldEnv(max_expert_steps, engine_python, data_dir)
    records: dict[str, list[dict]] = {"train": [], "test": []}
    stats = {}
    for split, source in SOURCES.items():
        paths = game_files(data_dir, source, caps[split])
        skipped = []
        # The planner plays every train game: about a second each, an hour for ALFWorld's 3,553.
        for index, path in enumerate(tqdm(paths, desc=f"import {split}", unit="game", mininterval=2.0)):
            game_file = path.relative_to(data_dir).as_posix()
            task = {"game_file": game_file, "task_type": path.parent.parent.name.split("-")[0]}
            if split == "train":
                played = run_expert(env, task, planner_steps(env))
                if not played["success"]:
                    skipped.append(game_file)
                    continue
            else:
                played = {"messages": [], "reward": 0.0, "success": False, "steps": 0}
            task_id = f"{BENCHMARK}-{split}-{index:05d}"
            record = {"id": task_id, "benchmark": BENCHMARK, "task_id": task_id, "split": split, "task": task,
                      **played, "config_hash": config_hash(settings)}
            records["train" if split == "train" else "test"].append(validate(record, "trajectory"))
        stats[split] = {"source": f"{DATA_VERSION}/{source}", "games": len(paths) - len(skipped), "skipped": skipped}
        log.info("%s (%s): %d games, %d skipped (the planner did not win within %d steps)",
                 split, source, len(paths) - len(skipped), len(skipped), max_expert_steps)
    (out_dir / "import.json").write_text(json.dumps(stats, indent=1) + "\n")
    return records
