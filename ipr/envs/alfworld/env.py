"""The embedded ALFWorld environment: one generated household game per episode.

Reward is ALFWorld's ``won`` (1.0 once the goal holds, which ends the episode); reaching
``max_turns`` first ends it with 0. Any action that is not an admissible command, including a
turn with no parsable action, is answered ``Nothing happens.`` as in the real engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipr.envs.alfworld.world import NOTHING_HAPPENS, Household, HouseholdState
from ipr.envs.base import StepResult, state_key_of

EPISODE_OVER = "The episode is over."


@dataclass(frozen=True)
class Episode:
    """An immutable episode state, so snapshots are cheap and independent."""

    household: Household
    state: HouseholdState
    turns: int = 0
    done: bool = False


class AlfworldEnv:
    """ALFWorld-style episodes on the pure-Python household simulator (``task["game"]``)."""

    def __init__(self, max_turns: int):
        self.max_turns = int(max_turns)
        self._episode: Episode | None = None

    def reset(self, task: dict) -> str:
        household = Household(task["game"])
        self._episode = Episode(household, household.initial_state())
        return household.intro()

    def step(self, action: str | None) -> StepResult:
        episode = self._episode
        if episode is None:
            raise RuntimeError("AlfworldEnv.step called before reset")
        won = episode.state.won
        if episode.done:
            return StepResult(EPISODE_OVER, float(won), True, won)
        if action is None:
            state, observation = episode.state, NOTHING_HAPPENS
        else:
            state, observation = episode.household.step(episode.state, action)
        turns = episode.turns + 1
        done = state.won or turns >= self.max_turns
        self._episode = Episode(episode.household, state, turns, done)
        return StepResult(observation, float(state.won), done, state.won)

    def admissible_commands(self) -> list[str]:
        """The commands the engine would accept now (sorted), as TextWorld's ``admissible_commands``."""
        return list(self._episode.household.admissible(self._episode.state))

    def snapshot(self) -> Episode:
        return self._episode

    def restore(self, snapshot: Episode) -> None:
        self._episode = snapshot

    def close(self) -> None:
        """Nothing to release: the game lives in this object alone."""

    def state_key(self) -> str:
        return state_key_of(self.snapshot())
