"""Adapter over the real engine: TextWorld's PDDL environment on ALFWorld game files.

Needs ``textworld[pddl]==1.7.0`` (its planner, fast-downward, is GPL-3.0: an optional dependency of
this adapter, never vendored) and ``alfworld==0.3.4`` installed with ``--no-deps``; ``make
install-alfworld`` builds ``.venv-alfworld`` with both. One game per episode (stock TextWorld has no
IPR-style ``reset_states``); entities are named by alfworld's ``Demangler`` as its
``AlfredDemangler`` wrapper does (that wrapper's module imports THOR, so it is not imported here).
Observations are processed as IPR's harness does, reward is ``won``.

A task names its game file: ``task["game_file"]``, absolute or relative to ``$ALFWORLD_DATA``
(e.g. ``json_2.1.1/valid_seen/<trial>/game.tw-pddl``). An env keeps its engine between episodes:
each engine loads a private copy of the planner's shared library, and loading a game costs far more
than resetting it, so a reset (or restore) on the game already loaded only resets its state.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ipr.envs.base import StepResult

EPISODE_OVER = "The episode is over."
_ARRIVAL = re.compile(r"^You arrive at loc \d+\. ")


def game_path(task: dict, data_dir: str | Path | None = None) -> Path:
    """The task's game file; a relative one is under ``data_dir`` (default ``$ALFWORLD_DATA``)."""
    path = Path(os.path.expandvars(task["game_file"]))
    if not path.is_absolute():
        path = Path(data_dir if data_dir is not None else os.environ.get("ALFWORLD_DATA", ".")) / path
    return path


def process_intro(feedback: str) -> str:
    """Drop the ``-= Welcome to TextWorld, ALFRED! =-`` banner and the blank lines, as IPR does."""
    return "\n".join(feedback.split("\n\n")[1:])


def process_observation(feedback: str) -> str:
    """Drop the ``You arrive at loc N.`` prefix, as IPR does."""
    return _ARRIVAL.sub("", feedback)


@dataclass(frozen=True)
class TextWorldSnapshot:
    """The engine's state cannot be copied: a snapshot is the game and the commands since reset."""

    task: dict
    commands: tuple[str, ...]


class TextWorldAlfredEnv:
    """An ALFWorld episode on the real engine (one TextWorld PDDL game per episode)."""

    def __init__(self, max_turns: int):
        self.max_turns = int(max_turns)
        self.game: Path | None = None  # the game file loaded in the engine
        self._task: dict | None = None
        self._commands: tuple[str, ...] = ()
        self._engine = None
        self._state = None

    def _load(self, path: Path) -> None:
        import textworld
        from alfworld.agents.utils.misc import Demangler
        from textworld.envs.pddl import PddlEnv

        if self._engine is None:
            self._engine = PddlEnv(textworld.EnvInfos(won=True, admissible_commands=True, feedback=True))
        self.game = None  # until the load succeeds: a failed one may leave the engine half loaded
        self._engine.load(str(path))
        demangler = Demangler(game_infos=self._engine._entity_infos)
        for info in self._engine._entity_infos.values():  # what alfworld's AlfredDemangler wrapper does on load
            info.name = demangler.demangle_alfred_name(info.id)
        self.game = path

    def reset(self, task: dict) -> str:
        path = game_path(task)
        if path != self.game:
            self._load(path)
        self._task, self._commands = task, ()
        self._state = self._engine.reset()
        return process_intro(self._state.feedback)

    def step(self, action: str | None) -> StepResult:
        if self._engine is None:
            raise RuntimeError("TextWorldAlfredEnv.step called before reset")
        won = bool(self._state["won"])
        if won or len(self._commands) >= self.max_turns:
            return StepResult(EPISODE_OVER, float(won), True, won)
        command = (action or "").strip()
        self._state, _, _ = self._engine.step(command)
        self._commands += (command,)
        won = bool(self._state["won"])
        done = won or len(self._commands) >= self.max_turns
        return StepResult(process_observation(self._state.feedback), float(won), done, won)

    def admissible_commands(self) -> list[str]:
        return list(self._state["admissible_commands"])

    def plan(self) -> list[str]:
        """The planner's commands from the current state to the goal (empty if it finds none).

        What ``EnvInfos(policy_commands=True)`` reports, asked for on demand: that info would run
        the planner after every step (``PddlEnv._gather_infos`` calls the same ``replan``).
        """
        return list(self._engine._pddl_state.replan(self._engine._entity_infos))

    def snapshot(self) -> TextWorldSnapshot:
        return TextWorldSnapshot(self._task, self._commands)

    def restore(self, snapshot: TextWorldSnapshot) -> None:
        """Replay the snapshot's commands from reset (the engine is deterministic)."""
        self.reset(snapshot.task)
        for command in snapshot.commands:
            self.step(command)
