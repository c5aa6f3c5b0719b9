"""The InterCode-style SQL environment, over any backend of :mod:`ipr.envs.sql.backends`.

Actions (the text after ``Action:``): ``submit`` ends the episode; anything else is a query: the
first line inside a ```` ```sql ```` fence (or of the raw text when there is no fence) is executed.
MySQL shims: ``SHOW TABLES``, ``DESC``/``DESCRIBE <table>`` (MySQL-shaped rows) and ``USE <db>``;
the current database is part of the episode state, so a snapshot is a small immutable tuple.

Used by both env families: ``sql_embedded`` (the project's generated SQLite databases) and
``intercode_sql`` (InterCode's Spider-dev databases on the sqlite or mysql backend). The sandbox
(read-only, time limit, row limit) lives in the backends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ipr.envs.base import StepResult, state_key_of
from ipr.envs.sql.backends import ROW_LIMIT, TIME_LIMIT_S, QueryError, SqliteBackend
from ipr.envs.sql.reward import intercode_reward

OBS_LIMIT = 350
NO_OUTPUT = "[Executed Successfully with No Output]"
INVALID_ACTION = "Invalid action: write 'Action: ' followed by a ```sql block or submit."
EPISODE_OVER = "The episode is over."
__all__ = ["ROW_LIMIT", "TIME_LIMIT_S", "SqlEnv", "extract_query", "format_rows", "gold_rows"]

_FENCE = re.compile(r"```[ \t]*(?:sql|mysql|sqlite)?[ \t]*\n?(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
_SHOW_TABLES = re.compile(r"^show\s+tables$", re.IGNORECASE)
_DESC = re.compile(r"^(?:desc|describe)\s+`?(\w+)`?$", re.IGNORECASE)
_SUBMIT = re.compile(r"\bsubmit\b", re.IGNORECASE)
_USE = re.compile(r"^use\s+`?(\w+)`?$", re.IGNORECASE)

_GOLD: dict[tuple, tuple] = {}


def gold_rows(backend, db: str, gold: str) -> tuple:
    """The gold query's rows on ``backend``, computed once per process (and database version).

    A server backend (``cache_gold = False``) runs the gold query anew each time, right after the
    agent's query in the same session, as InterCode does at submit: MySQL breaks ties under
    ``ORDER BY ... LIMIT`` differently from one session or plan to the next.
    """
    if not getattr(backend, "cache_gold", True):
        return backend.execute(db, gold)
    key = (type(backend).__name__, backend.version(), db, gold)
    if key not in _GOLD:
        _GOLD[key] = backend.execute(db, gold)
    return _GOLD[key]


def format_rows(rows: list[tuple] | tuple | None) -> str:
    """InterCode's observation text: the row list as a Python literal, truncated to 350 chars."""
    if not rows:
        return NO_OUTPUT
    text = str(list(rows))
    return text[:OBS_LIMIT] + "..." if len(text) > OBS_LIMIT else text


def extract_query(action: str) -> str:
    """The first line inside the first SQL fence, or the first line of the raw text."""
    match = _FENCE.search(action)
    body = match.group(1) if match else action
    for line in body.splitlines():
        if line.strip():
            return line.strip()
    return ""


def task_text(task: dict) -> str:
    return f"Database: {task['db']}\nQuestion: {task['question']}"


@dataclass(frozen=True)
class _State:
    task: dict | None
    db: str | None
    last_rows: tuple | None  # None: the last observation was no result (error, USE, invalid)
    turns: int
    done: bool
    reward: float
    success: bool


class SqlEnv:
    """An InterCode-style SQL episode. ``backend`` defaults to the SQLite files in ``assets_dir/dbs``."""

    def __init__(self, assets_dir: Path, max_turns: int, backend=None):
        self.assets_dir = Path(assets_dir)
        self.max_turns = int(max_turns)
        self.backend = backend if backend is not None else SqliteBackend(self.assets_dir / "dbs")
        self._state = _State(None, None, None, 0, False, 0.0, False)

    # -- Env protocol ---------------------------------------------------------------------
    def reset(self, task: dict) -> str:
        reset_session = getattr(self.backend, "reset_session", None)
        if reset_session is not None:
            reset_session()
        gold_rows(self.backend, task["db"], task["gold"])  # fail early on a broken task
        self._state = _State(task, task["db"], None, 0, False, 0.0, False)
        return task_text(task)

    def step(self, action: str | None) -> StepResult:
        state = self._state
        if state.task is None:
            raise RuntimeError("SqlEnv.step called before reset")
        if state.done:
            return StepResult(EPISODE_OVER, state.reward, True, state.success)
        turns = state.turns + 1
        text = (action or "").strip()
        if _SUBMIT.search(text):  # as the reference harness: any "submit" submits
            reward = self._reward(state)
            self._state = _State(state.task, state.db, state.last_rows, turns, True, reward, reward == 1.0)
            return StepResult(format_rows(state.last_rows), reward, True, reward == 1.0)
        query = extract_query(text) if text else ""
        db, rows = state.db, None
        if not query:
            observation = INVALID_ACTION
        else:
            db, rows, observation = self._run(state.db, query)
        done = turns >= self.max_turns
        self._state = _State(state.task, db, rows, turns, done, 0.0, False)
        return StepResult(observation, 0.0, done, False)

    def snapshot(self) -> _State:
        return self._state

    def restore(self, snapshot: _State) -> None:
        self._state = snapshot

    def state_key(self) -> str:
        return state_key_of(self.snapshot())

    # -- helpers --------------------------------------------------------------------------
    def _reward(self, state: _State) -> float:
        if state.last_rows is None:
            return 0.0
        return float(intercode_reward(state.last_rows, gold_rows(self.backend, state.task["db"], state.task["gold"])))

    def _run(self, db: str, query: str) -> tuple[str, tuple | None, str]:
        """Execute ``query`` on ``db``: (current db, rows or None, observation)."""
        statement = query.strip().rstrip(";").strip()
        try:
            if _SHOW_TABLES.match(statement):
                rows = self.backend.show_tables(db)
            elif match := _DESC.match(statement):
                rows = self.backend.describe(db, match.group(1))
            elif match := _USE.match(statement):
                name = match.group(1)
                if not self.backend.has_database(name):
                    return db, None, f"Error executing query: Unknown database '{name}'"
                return name.lower() if self.backend.name == "mysql" else name, None, NO_OUTPUT
            else:
                rows = self.backend.execute(db, statement)
        except QueryError as error:
            return db, None, f"Error executing query: {error}"
        return db, rows, format_rows(rows)
