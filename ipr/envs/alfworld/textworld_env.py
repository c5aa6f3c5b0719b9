"""Adapter over the real engine: TextWorld's PDDL environment on ALFWorld game files.

Needs ``textworld[pddl]==1.7.0`` (its planner, fast-downward, is GPL-3.0: an optional dependency of
this adapter, never vendored) and ``alfworld==0.3.4`` installed with ``--no-deps``; ``make
install-alfworld`` builds ``.venv-alfworld`` with both. One game per episode (stock TextWorld has no
IPR-style ``reset_states``); entities are named by alfworld's ``Demangler`` as its
``AlfredDemangler`` wrapper does (that wrapper's module imports THOR, so it is not imported here).
Observations are processed as IPR's harness does, reward is ``won``.

A task names its game file: ``task["game_file"]``, absolute or relative to ``$ALFWORLD_DATA``
(e.g. ``json_2.1.1/valid_seen/<trial>/game.tw-pddl``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ipr.envs.base import StepResult

EPISODE_OVER = "The episode is over."
_ARRIVAL = re.compile(r"^You arrive at loc \d+\. ")


def game_path(task: dict) -> Path:
    path = Path(os.path.expandvars(task["game_file"]))
    if not path.is_absolute():
        path = Path(os.environ.get("ALFWORLD_DATA", ".")) / path
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
        self._task: dict | None = None
        self._commands: tuple[str, ...] = ()
        self._engine = None
        self._state = None

    def _load(self, task: dict):
        import textworld
        from alfworld.agents.utils.misc import Demangler
        from textworld.envs.pddl import PddlEnv

        engine = PddlEnv(textworld.EnvInfos(won=True, admissible_commands=True, feedback=True))
        engine.load(str(game_path(task)))
        demangler = Demangler(game_infos=engine._entity_infos)
        for info in engine._entity_infos.values():  # what alfworld's AlfredDemangler wrapper does on load
            info.name = demangler.demangle_alfred_name(info.id)
        return engine

    def reset(self, task: dict) -> str:
        self._task, self._commands = task, ()
        self._engine = self._load(task)
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

    def snapshot(self) -> TextWorldSnapshot:
        return TextWorldSnapshot(self._task, self._commands)

    def restore(self, snapshot: TextWorldSnapshot) -> None:
        """Replay the snapshot's commands from reset (the engine is deterministic)."""
        self.reset(snapshot.task)
        for command in snapshot.commands:
            self.step(command)
