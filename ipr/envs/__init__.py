"""Registry of environment families: construction, prompt header and benchmark generation."""

from __future__ import annotations

from pathlib import Path

from ipr.envs.base import Env, StepResult

ENVS = ("sql_embedded", "intercode_sql", "alfworld")

# Kept short: it is in every prompt, and a tiny model pays for every token of it.
_SQL_HEADER = """You are a SQL agent. Each turn, write "Thought: <reason>", then "Action: " and either a ```sql block with one query, or submit when the last result answers the question. SHOW TABLES and DESC <table> show the schema.
Example:
Database: pet_clinic
Question: How many dogs are there?
Thought: Now I can write the query.
Action: ```sql
SELECT COUNT(*) FROM pet WHERE species = 'dog'
```
Observation: [(4,)]
Thought: The result answers the question.
Action: submit"""


_ALFWORLD_INSTRUCTION = """You are in a household. Each turn, write "Thought: <reason>", then "Action: <command>". Commands: go to X, open X, close X, take X from Y, put X in/on Y, clean X with Y, heat X with Y, cool X with Y, use X, examine X, look, inventory.
Example:"""


def _check(env_name: str) -> None:
    if env_name not in ENVS:
        raise ValueError(f"unknown environment {env_name!r}; known: {', '.join(ENVS)}")


def make_env(env_name: str, assets_dir: str | Path, max_turns: int) -> Env:
    """A fresh environment of family ``env_name`` over the generated assets in ``assets_dir``."""
    _check(env_name)
    if env_name == "alfworld":
        from ipr.envs.alfworld.env import AlfworldEnv

        return AlfworldEnv(max_turns)
    if env_name == "intercode_sql":
        from ipr.envs.sql.intercode import make_intercode_env

        return make_intercode_env(Path(assets_dir), max_turns)
    from ipr.envs.sql.env import SqlEnv

    return SqlEnv(Path(assets_dir), max_turns)


def header(env_name: str) -> str:
    """The system message: instruction plus a one-shot example written as plain text.

    Both SQL families share it: the example's query and observation are the same on SQLite and on
    MySQL (an integer COUNT), so it holds for every backend. ALFWorld's example is the expert's
    run on a fixed tiny game, so its observations are the simulator's own.
    """
    _check(env_name)
    if env_name == "alfworld":
        from ipr.envs.alfworld.env import AlfworldEnv
        from ipr.envs.alfworld.expert import example_text

        return f"{_ALFWORLD_INSTRUCTION}\n{example_text(AlfworldEnv(max_turns=20))}"
    return _SQL_HEADER


def generate(env_name: str, out_dir: str | Path, seed: int, **settings) -> dict[str, list[dict]]:
    """Build the benchmark's assets under ``out_dir``; return ``{"train": [...], "test": [...]}`` records.

    A record's ``split`` may refine its file's split (ALFWorld's test holds test_seen and test_unseen).
    """
    _check(env_name)
    if env_name == "alfworld":
        from ipr.envs.alfworld.generate import generate_benchmark as generate_alfworld

        return generate_alfworld(Path(out_dir), seed, **settings)
    if env_name == "intercode_sql":
        from ipr.envs.sql.intercode import generate_intercode

        return generate_intercode(Path(out_dir), seed, **settings)
    from ipr.envs.sql.generate import generate_benchmark

    return generate_benchmark(Path(out_dir), seed, **settings)


def copy_drills(env_name: str, records: list[dict], count: int, seed: int, question_only: bool = False) -> list[list[dict]]:
    """Synthetic pretraining conversations that teach copying values from the question (see
    ``ipr/envs/sql/drills.py``); empty for a family without question templates (intercode_sql)."""
    _check(env_name)
    if env_name != "sql_embedded":
        return []
    from ipr.envs.sql.drills import copy_drills as sql_copy_drills

    return sql_copy_drills(records, count, seed, question_only)


__all__ = ["ENVS", "Env", "StepResult", "copy_drills", "generate", "header", "make_env"]
