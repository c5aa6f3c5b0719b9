"""Prompts: one system message (instruction + one-shot example) before the stored messages.

The same header is used in every phase (SFT, exploration, Monte-Carlo scoring, evaluation and
DPO), unlike the reference code, whose prompts differ between phases (0-shot SFT data, hard-coded
1-shot exploration prompts). Writing the one-shot example as text inside the system message keeps
the header free of assistant turns, so assistant-only loss masks stay exact.
"""

from __future__ import annotations

from ipr.envs import header


def with_header(env_name: str, messages: list[dict]) -> list[dict]:
    """Return the full conversation: the benchmark's system header, then ``messages``."""
    return [{"role": "system", "content": header(env_name)}, *messages]
