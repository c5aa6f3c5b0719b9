"""The ReAct turn format every benchmark shares: an agent turn is "Thought: ... Action: <action>", and
an environment's answer comes back as the user message "Observation: <text>".

This module is the ground of the library: environments (their drills), the rollout engine, scoring
and the reward model all read turns through it, and it imports nothing of the project.
"""

from __future__ import annotations

import re

ACTION_PATTERN = re.compile(r"Action:\s*(.*)", re.DOTALL)


def parse_action(text: str) -> str | None:
    """The text after the first ``Action:`` in a model turn, or None if there is none."""
    match = ACTION_PATTERN.search(text)
    if not match:
        return None
    action = match.group(1).strip()
    return action or None


def observation_message(observation: str) -> dict:
    """The user message that carries an environment's observation to the agent."""
    return {"role": "user", "content": f"Observation: {observation}"}
