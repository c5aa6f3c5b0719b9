"""The environment protocol every benchmark implements.

An environment plays one task at a time. The agent runtime extracts the text after
``Action:`` from the model output and hands it to :meth:`Env.step`; text that holds no
action is stepped as ``None`` and answered with an invalid-action observation, never a crash.
``snapshot``/``restore`` let exploration and Monte-Carlo scoring branch many episodes from
the state after an expert prefix without replaying it from reset each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class StepResult:
    observation: str  # shown to the agent as "Observation: <observation>"
    reward: float  # the outcome reward; meaningful once done
    done: bool
    success: bool = False


class Env(Protocol):
    max_turns: int

    def reset(self, task: dict) -> str:
        """Start ``task`` (a data record's ``task`` field); return the first user message."""

    def step(self, action: str | None) -> StepResult:
        """Apply one action (the text after ``Action:``, or None when none parsed)."""

    def snapshot(self) -> Any:
        """An opaque, independent copy of the episode state."""

    def restore(self, snapshot: Any) -> None:
        """Return to a state from :meth:`snapshot` (of this env or another of the same benchmark)."""
