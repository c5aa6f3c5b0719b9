"""Parity of the embedded simulator with the real engine on the project's own games.

Each game is written as a ``game.tw-pddl`` file, then the expert's actions are played in both
:class:`AlfworldEnv` and :class:`TextWorldAlfredEnv`; after every step the observation, reward,
done flag and the set of admissible commands must agree. Needs the real engine (``.venv-alfworld``).
"""

from __future__ import annotations

from pathlib import Path

from ipr.envs.alfworld.env import AlfworldEnv
from ipr.envs.alfworld.expert import expert_actions
from ipr.envs.alfworld.gamefile import write_game_file
from ipr.envs.alfworld.textworld_env import TextWorldAlfredEnv


def compare_game(game: dict, game_file: Path, max_turns: int = 20) -> dict:
    """Play the expert on ``game`` in both engines; return the real engine's ``won`` and every mismatch."""
    write_game_file(game, game_file)
    real, embedded = TextWorldAlfredEnv(max_turns), AlfworldEnv(max_turns)
    mismatches = []
    intro = (real.reset({"game_file": str(game_file)}), embedded.reset({"game": game}))
    if intro[0] != intro[1]:
        mismatches.append({"step": "reset", "real": intro[0], "embedded": intro[1]})
    result = None
    for _, action in expert_actions(game):
        result, mine = real.step(action), embedded.step(action)
        if result != mine:
            mismatches.append({"step": action, "real": repr(result), "embedded": repr(mine)})
        commands = set(real.admissible_commands()), set(embedded.admissible_commands())
        if commands[0] != commands[1]:
            mismatches.append({"step": action, "admissible_only_real": sorted(commands[0] - commands[1]),
                               "admissible_only_embedded": sorted(commands[1] - commands[0])})
    return {"task_type": game["task_type"], "won": bool(result and result.success), "mismatches": mismatches}


def check_parity(games: list[dict], out_dir: Path) -> list[dict]:
    """:func:`compare_game` for each game, its file written to ``out_dir/<index>/game.tw-pddl``."""
    return [compare_game(game, Path(out_dir) / f"{index:03d}" / "game.tw-pddl") for index, game in enumerate(games)]
