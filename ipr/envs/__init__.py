"""Registry of environment families: construction, prompt header and benchmark generation."""

from __future__ import annotations

from pathlib import Path

from ipr.envs.base import Env, StepResult

ENVS = ("sql_embedded", "intercode_sql", "webshop", "alfworld", "alfworld_real")

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

# WebShop's own text mode, shortened: one short episode as the example (ASINs and pages as real ones).
_WEBSHOP_HEADER = """You are a shopping agent in WebShop. Each turn, write "Thought: <reason>", then "Action: " and either search[keywords] or click[x], where x is a button, product ID or option shown on the page. Buy the product that fits the instruction.
Example (pages shortened with ...):
WebShop [SEP] Instruction: [SEP] i need sugar free chocolate bar in mint flavor, and price lower than 20.00 dollars [SEP] Search
Thought: I should search for sugar free chocolate bar.
Action: search[sugar free chocolate bar]
Observation: ... [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] B0A1 [SEP] Vexa Sugar Free Chocolate Bar [SEP] $12.5 [SEP] ...
Thought: B0A1 matches what I need.
Action: click[B0A1]
Observation: ... [SEP] < Prev [SEP] flavor [SEP] dark [SEP] mint [SEP] Vexa Sugar Free Chocolate Bar [SEP] Price: $12.5 [SEP] Buy Now
Thought: I should choose mint.
Action: click[mint]
Observation: ... [SEP] Buy Now
Thought: Everything matches, so I will buy it.
Action: click[Buy Now]"""
_HEADERS = {"sql_embedded": _SQL_HEADER, "intercode_sql": _SQL_HEADER, "webshop": _WEBSHOP_HEADER}


_ALFWORLD_INSTRUCTION = """You are in a household. Each turn, write "Thought: <reason>", then "Action: <command>". Commands: go to X, open X, close X, take X from Y, put X in/on Y, clean X with Y, heat X with Y, cool X with Y, use X, examine X, look, inventory.
Example:"""


_SQL_TASK = {"db": str, "question": str, "gold": str}
# The fields of a trajectory record's ``task`` that each family's environment and reward read, with
# their JSON types: a task file is checked against them before any episode starts, so a missing
# field is one line naming it rather than a KeyError deep in a rollout.
TASK_FIELDS: dict[str, dict[str, type | tuple]] = {
    "sql_embedded": _SQL_TASK,
    "intercode_sql": _SQL_TASK,
    "webshop": {"asin": str, "query": str, "name": str, "product_category": str, "instruction_text": str,
                "attributes": list, "price_upper": (int, float), "goal_options": (list, dict)},
    "alfworld": {"game": dict},
    "alfworld_real": {"game_file": str},
}


def task_problem(env_name: str, task: dict) -> tuple[str, str] | None:
    """(field, problem) of the first field of ``task`` that family ``env_name`` cannot use, or None."""
    _check(env_name)
    for field, types in TASK_FIELDS[env_name].items():
        if field not in task:
            return field, f"missing (the {env_name} environment needs it)"
        value = task[field]
        types = types if isinstance(types, tuple) else (types,)
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            return field, f"expected {names}, got {type(value).__name__}"
    return None


def _check(env_name: str) -> None:
    if env_name not in ENVS:
        raise ValueError(f"unknown environment {env_name!r}; known: {', '.join(ENVS)}")


def make_env(env_name: str, assets_dir: str | Path, max_turns: int) -> Env:
    """A fresh environment of family ``env_name`` over the generated assets in ``assets_dir``."""
    _check(env_name)
    if env_name == "webshop":
        from ipr.envs.webshop.env import WebShopEnv

        return WebShopEnv(Path(assets_dir), max_turns)
    if env_name == "alfworld":
        from ipr.envs.alfworld.env import AlfworldEnv

        return AlfworldEnv(max_turns)
    if env_name == "alfworld_real":
        from ipr.envs.alfworld.remote import make_remote_env

        return make_remote_env(assets_dir, max_turns)
    if env_name == "intercode_sql":
        from ipr.envs.sql.intercode import make_intercode_env

        return make_intercode_env(Path(assets_dir), max_turns)
    from ipr.envs.sql.env import SqlEnv

    return SqlEnv(Path(assets_dir), max_turns, rules="embedded")  # the conventions its data was made with


def header(env_name: str) -> str:
    """The system message: instruction plus a one-shot example written as plain text.

    Both SQL families share one: the example's query and observation are the same on SQLite and on
    MySQL (an integer COUNT), so it holds for every backend. ALFWorld's example is the expert's run
    on a fixed tiny game, so its observations are the simulator's own; the real games share it, as
    the simulator answers those actions as the real engine does (tests/e2e/test_alfworld_engine.py).
    """
    _check(env_name)
    if env_name in ("alfworld", "alfworld_real"):
        from ipr.envs.alfworld.env import AlfworldEnv
        from ipr.envs.alfworld.expert import example_text

        return f"{_ALFWORLD_INSTRUCTION}\n{example_text(AlfworldEnv(max_turns=20))}"
    return _HEADERS[env_name]


def generate(env_name: str, out_dir: str | Path, seed: int, **settings) -> dict[str, list[dict]]:
    """Build the benchmark's assets under ``out_dir``; return ``{"train": [...], "test": [...]}`` records.

    A record's ``split`` may refine its file's split (ALFWorld's test holds test_seen and test_unseen).
    """
    _check(env_name)
    if env_name == "webshop":
        from ipr.envs.webshop.generate import generate_webshop

        return generate_webshop(Path(out_dir), seed, **settings)
    if env_name == "alfworld":
        from ipr.envs.alfworld.generate import generate_benchmark as generate_alfworld

        return generate_alfworld(Path(out_dir), seed, **settings)
    if env_name == "alfworld_real":  # the first N games in path order: no seed
        from ipr.envs.alfworld.real_data import import_benchmark

        return import_benchmark(Path(out_dir), **settings)
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


__all__ = ["ENVS", "TASK_FIELDS", "Env", "StepResult", "copy_drills", "generate", "header", "make_env", "task_problem"]
