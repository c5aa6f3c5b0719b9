"""The scripted SQL expert: SHOW TABLES, DESC of the table(s) the gold query needs, the gold query, submit.

Thoughts are one short sentence each so that a tiny model can learn the trajectories. The stored
trajectory is produced by actually stepping the environment, so the observations are the real ones.
"""

from __future__ import annotations

import re

from ipr.envs.sql.env import SqlEnv

_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.IGNORECASE)
MAX_DESC = 2


def gold_tables(gold: str) -> list[str]:
    """Tables named after FROM/JOIN in ``gold``, in order of first appearance."""
    tables: list[str] = []
    for name in _TABLE.findall(gold):
        if name not in tables:
            tables.append(name)
    return tables


def _assistant(thought: str, action: str) -> dict:
    return {"role": "assistant", "content": f"Thought: {thought}\nAction: {action}"}


def _sql(query: str) -> str:
    return f"```sql\n{query}\n```"


def expert_actions(task: dict) -> list[tuple[str, str]]:
    """(thought, action) pairs of the expert for ``task``: it describes the first 1-2 gold tables."""
    actions = [("I should see which tables exist.", _sql("SHOW TABLES"))]
    for table in gold_tables(task["gold"])[:MAX_DESC]:
        actions.append((f"I need the columns of {table}.", _sql(f"DESC {table}")))
    actions.append(("Now I can write the query.", _sql(task["gold"])))
    actions.append(("The result answers the question.", "submit"))
    return actions


def run_expert(env: SqlEnv, task: dict) -> dict:
    """Play the expert in ``env``; return ``{"messages", "reward", "success", "steps"}``."""
    messages = [{"role": "user", "content": env.reset(task)}]
    result = None
    steps = 0
    for thought, action in expert_actions(task):
        if messages[-1]["role"] == "assistant":
            messages.append({"role": "user", "content": f"Observation: {result.observation}"})
        messages.append(_assistant(thought, action))
        result = env.step(action)
        steps += 1
        if result.done:
            break
    return {"messages": messages, "reward": float(result.reward), "success": bool(result.success), "steps": steps}
