"""The environment protocol every benchmark implements.

An environment plays one task at a time. The agent runtime extracts the text after
``Action:`` from the model output and hands it to :meth:`Env.step`; text that holds no
action is stepped as ``None`` and answered with an invalid-action observation, never a crash.
``snapshot``/``restore`` let exploration and Monte-Carlo scoring branch many episodes from
the state after an expert prefix without replaying it from reset each time. Every environment here
is deterministic given its task and action history, so ``state_key`` names a state: equal keys,
equal futures for equal actions (Monte-Carlo scoring reuses estimates on it, ipr/method/scoring.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Protocol

dataclass = dataclasses.dataclass


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data with a fixed order (dataclasses by field, sets sorted)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    # Database values (Decimal, dates, bytes) have exact reprs; an object without one shows its
    # address, which only makes its key unique (no reuse), never equal to another state's.
    return f"{type(value).__name__}:{value!r}"


def state_key_of(state: Any) -> str:
    """A stable hash of an environment state made of dataclasses, containers and plain values."""
    text = json.dumps(_plain(state), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


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

    def state_key(self) -> str:
        """A name of the current state: equal for two episodes exactly when every action gives both
        the same observation, reward and next state (e.g. a hash of the state or of the task and
        action history)."""

    def close(self) -> None:
        """Release what this episode holds (the engine's copy of the game); servers shared by every
        episode are not this env's to stop (``ipr.envs.env_services``). The env is not used after."""
