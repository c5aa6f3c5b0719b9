"""Prompts: one system message (instruction + one-shot example) before the stored messages.

The same header is used in every phase (SFT, exploration, Monte-Carlo scoring, evaluation and
DPO), unlike the reference code, whose prompts differ between phases (0-shot SFT data, hard-coded
1-shot exploration prompts). Writing the one-shot example as text inside the system message keeps
the header free of assistant turns, so assistant-only loss masks stay exact.
"""

from __future__ import annotations

import re

from ipr.envs import header

ACTION_PATTERN = re.compile(r"Action:\s*(.*)", re.DOTALL)


def with_header(env_name: str, messages: list[dict]) -> list[dict]:
    """Return the full conversation: the benchmark's system header, then ``messages``."""
    return [{"role": "system", "content": header(env_name)}, *messages]


def parse_action(text: str) -> str | None:
    """The text after the first ``Action:`` in a model turn, or None if there is none."""
    match = ACTION_PATTERN.search(text)
    if not match:
        return None
    action = match.group(1).strip()
    return action or None


def observation_message(observation: str) -> dict:
    return {"role": "user", "content": f"Observation: {observation}"}
