"""Registry of environment families: construction, prompt header and benchmark generation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from ipr.envs.base import Env, StepResult

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


_ALFWORLD_INSTRUCTION = """You are in a household. Each turn, write "Thought: <reason>", then "Action: <command>". Commands: go to X, open X, close X, take X from Y, put X in/on Y, clean X with Y, heat X with Y, cool X with Y, use X, examine X, look, inventory.
Example:"""


# The fields of a trajectory record's ``task`` that a family's environment and reward read, with
# their JSON types (``EnvFamily.task_fields``): a task file is checked against them before any episode
# starts, so a missing field is one line naming it rather than a KeyError deep in a rollout.
_SQL_TASK = {"db": str, "question": str, "gold": str}
_WEBSHOP_TASK = {"asin": str, "query": str, "name": str, "product_category": str, "instruction_text": str,
                 "attributes": list, "price_upper": (int, float), "goal_options": (list, dict)}


def task_problem(env_name: str, task: dict) -> tuple[str, str] | None:
    """(field, problem) of the first field of ``task`` that family ``env_name`` cannot use, or None."""
    for field, types in family(env_name).task_fields.items():
        if field not in task:
            return field, f"missing (the {env_name} environment needs it)"
        value = task[field]
        types = types if isinstance(types, tuple) else (types,)
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            return field, f"expected {names}, got {type(value).__name__}"
    return None


# -- the families ---------------------------------------------------------------------------
# Each family's modules are imported when it is first used: the ALFWorld engine, spaCy (WebShop) and
# the MySQL driver are heavy or optional, and a SQL stage must not need them.


def _make_sql_embedded(assets_dir: Path, max_turns: int) -> Env:
    from ipr.envs.sql.env import SqlEnv

    return SqlEnv(assets_dir, max_turns, rules="embedded")  # the conventions its data was made with


def _make_intercode(assets_dir: Path, max_turns: int) -> Env:
    from ipr.envs.sql.intercode import make_intercode_env

    return make_intercode_env(assets_dir, max_turns)


def _make_webshop(assets_dir: Path, max_turns: int) -> Env:
    from ipr.envs.webshop.env import WebShopEnv

    return WebShopEnv(assets_dir, max_turns)


def _make_alfworld(assets_dir: Path, max_turns: int) -> Env:
    from ipr.envs.alfworld.env import AlfworldEnv

    return AlfworldEnv(max_turns)


def _make_alfworld_real(assets_dir: Path, max_turns: int) -> Env:
    from ipr.envs.alfworld.remote import make_remote_env

    return make_remote_env(assets_dir, max_turns)


def _generate_sql_embedded(out_dir: Path, seed: int, **settings) -> dict[str, list[dict]]:
    from ipr.envs.sql.generate import generate_benchmark

    return generate_benchmark(out_dir, seed, **settings)


def _generate_intercode(out_dir: Path, seed: int, **settings) -> dict[str, list[dict]]:
    from ipr.envs.sql.intercode import generate_intercode

    return generate_intercode(out_dir, seed, **settings)


def _generate_webshop(out_dir: Path, seed: int, **settings) -> dict[str, list[dict]]:
    from ipr.envs.webshop.generate import generate_webshop

    return generate_webshop(out_dir, seed, **settings)


def _generate_alfworld(out_dir: Path, seed: int, **settings) -> dict[str, list[dict]]:
    from ipr.envs.alfworld.generate import generate_benchmark

    return generate_benchmark(out_dir, seed, **settings)


def _generate_alfworld_real(out_dir: Path, seed: int, **settings) -> dict[str, list[dict]]:
    from ipr.envs.alfworld.real_data import import_benchmark

    return import_benchmark(out_dir, **settings)  # the first N games in path order: no seed


def _alfworld_header() -> str:
    from ipr.envs.alfworld.env import AlfworldEnv
    from ipr.envs.alfworld.expert import example_text

    return f"{_ALFWORLD_INSTRUCTION}\n{example_text(AlfworldEnv(max_turns=20))}"


def _sql_drills(records: list[dict], count: int, seed: int, question_only: bool) -> list[list[dict]]:
    from ipr.envs.sql.drills import copy_drills as sql_copy_drills

    return sql_copy_drills(records, count, seed, question_only)


@contextmanager
def _intercode_servers() -> Iterator[None]:
    try:
        yield
    finally:
        from ipr.envs.sql.intercode import stop_servers

        stop_servers()


@contextmanager
def _alfworld_engines() -> Iterator[None]:
    try:
        yield
    finally:
        from ipr.envs.alfworld.remote import stop_engines

        stop_engines()


@dataclass(frozen=True)
class EnvFamily:
    """One benchmark family: what its tasks hold, how its episodes and data are made, its prompt."""

    name: str
    task_fields: dict[str, type | tuple]  # fields of a record's ``task`` the env and reward read
    make: Callable[[Path, int], Env]  # (assets_dir, max_turns) -> a fresh environment
    generate: Callable[..., dict[str, list[dict]]]  # (out_dir, seed, **settings) -> records by split
    header: Callable[[], str]  # the system message: instruction and a one-shot example
    # Synthetic pretraining conversations that teach copying values from the question, or None.
    drills: Callable[[list[dict], int, int, bool], list[list[dict]]] | None = None
    # The lifetime of the servers its episodes start on first use (a MariaDB, the ALFWorld engine):
    # they stop when this context ends. Families without servers have nothing to stop.
    services: Callable[[], AbstractContextManager] = nullcontext


FAMILIES: dict[str, EnvFamily] = {f.name: f for f in (
    EnvFamily("sql_embedded", _SQL_TASK, _make_sql_embedded, _generate_sql_embedded,
              lambda: _SQL_HEADER, drills=_sql_drills),
    EnvFamily("intercode_sql", _SQL_TASK, _make_intercode, _generate_intercode, lambda: _SQL_HEADER,
              services=_intercode_servers),
    EnvFamily("webshop", _WEBSHOP_TASK, _make_webshop, _generate_webshop, lambda: _WEBSHOP_HEADER),
    EnvFamily("alfworld", {"game": dict}, _make_alfworld, _generate_alfworld, _alfworld_header),
    # The real games share the simulator's header: it answers those actions as the real engine does.
    EnvFamily("alfworld_real", {"game_file": str}, _make_alfworld_real, _generate_alfworld_real,
              _alfworld_header, services=_alfworld_engines),
)}
ENVS = tuple(FAMILIES)


def family(env_name: str) -> EnvFamily:
    try:
        return FAMILIES[env_name]
    except KeyError:
        raise ValueError(f"unknown environment {env_name!r}; known: {', '.join(ENVS)}") from None


def make_env(env_name: str, assets_dir: str | Path, max_turns: int) -> Env:
    """A fresh environment of family ``env_name`` over the generated assets in ``assets_dir``."""
    return family(env_name).make(Path(assets_dir), max_turns)


def header(env_name: str) -> str:
    """The system message: instruction plus a one-shot example written as plain text.

    Both SQL families share one: the example's query and observation are the same on SQLite and on
    MySQL (an integer COUNT), so it holds for every backend. ALFWorld's example is the expert's run
    on a fixed tiny game, so its observations are the simulator's own; the real games share it, as
    the simulator answers those actions as the real engine does (tests/e2e/test_alfworld_engine.py).
    """
    return family(env_name).header()


def generate(env_name: str, out_dir: str | Path, seed: int, **settings) -> dict[str, list[dict]]:
    """Build the benchmark's assets under ``out_dir``; return ``{"train": [...], "test": [...]}`` records.

    A record's ``split`` may refine its file's split (ALFWorld's test holds test_seen and test_unseen).
    """
    return family(env_name).generate(Path(out_dir), seed, **settings)


def copy_drills(env_name: str, records: list[dict], count: int, seed: int, question_only: bool = False) -> list[list[dict]]:
    """Synthetic pretraining conversations that teach copying values from the question (see
    ``ipr/envs/sql/drills.py``); empty for a family without question templates (intercode_sql)."""
    drills = family(env_name).drills
    return drills(records, count, seed, question_only) if drills else []


@contextmanager
def env_services() -> Iterator[None]:
    """The lifetime of every server an environment starts in this process: the servers stop when
    the block ends, normally or by an error. Every stage runs inside one (``ipr.cli.run``); code that
    makes environments outside any block (a Python shell) has its servers stopped at exit instead."""
    with ExitStack() as stack:
        for fam in FAMILIES.values():
            stack.enter_context(fam.services())
        yield


__all__ = ["ENVS", "FAMILIES", "Env", "EnvFamily", "StepResult", "copy_drills", "env_services",
           "family", "generate", "header", "make_env", "task_problem"]
