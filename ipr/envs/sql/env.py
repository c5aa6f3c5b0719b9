"""The embedded InterCode-style SQL environment over read-only SQLite databases.

Actions (the text after ``Action:``): ``submit`` ends the episode; anything else is a query: the
first line inside a ```` ```sql ```` fence (or of the raw text when there is no fence) is executed.
MySQL shims: ``SHOW TABLES``, ``DESC``/``DESCRIBE <table>`` (MySQL-shaped rows) and ``USE <db>``.

Safety: databases are opened with a ``mode=ro`` URI, an authorizer that only allows reads, a
progress-handler time limit and a row limit, so no statement can change a database.
Connections are cached per process and never part of a snapshot; a snapshot is a small tuple.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipr.envs.base import StepResult
from ipr.envs.sql.reward import intercode_reward

TIME_LIMIT_S = 2.0
ROW_LIMIT = 1000
OBS_LIMIT = 350
NO_OUTPUT = "[Executed Successfully with No Output]"
INVALID_ACTION = "Invalid action: write 'Action: ' followed by a ```sql block or submit."
EPISODE_OVER = "The episode is over."

_FENCE = re.compile(r"```[ \t]*(?:sql|mysql|sqlite)?[ \t]*\n?(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
_SHOW_TABLES = re.compile(r"^show\s+tables$", re.IGNORECASE)
_DESC = re.compile(r"^(?:desc|describe)\s+`?(\w+)`?$", re.IGNORECASE)
_USE = re.compile(r"^use\s+`?(\w+)`?$", re.IGNORECASE)

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


def _authorizer(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


def _mysql_type(declared: str) -> str:
    declared = declared.upper()
    if "INT" in declared:
        return "int"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "double"
    return "text"


class _Database:
    """One read-only connection plus the schema facts the MySQL shims need (read once)."""

    def __init__(self, path: Path):
        self.path = path
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.tables: dict[str, str] = {}  # lower-case name -> name
        self.desc: dict[str, list[tuple]] = {}
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for name in names:
            foreign = {r[3] for r in conn.execute(f"PRAGMA foreign_key_list('{name}')")}
            rows = []
            for _, column, declared, notnull, default, pk in conn.execute(f"PRAGMA table_info('{name}')"):
                key = "PRI" if pk else ("MUL" if column in foreign else "")
                null = "NO" if (notnull or pk) else "YES"
                rows.append((column, _mysql_type(declared), null, key, default, ""))
            self.tables[name.lower()] = name
            self.desc[name.lower()] = rows
        self.table_rows = [(name,) for name in names]
        self._deadline = 0.0
        conn.set_progress_handler(self._check_time, 1000)
        conn.set_authorizer(_authorizer)
        self.conn = conn

    def _check_time(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def execute(self, query: str) -> list[tuple]:
        """Run one read-only query; raise sqlite3.Error on failure."""
        self._deadline = time.monotonic() + TIME_LIMIT_S
        cursor = self.conn.cursor()
        try:
            cursor.execute(query)
            if cursor.description is None:
                return []
            return [tuple(row) for row in cursor.fetchmany(ROW_LIMIT)]
        finally:
            cursor.close()


_DATABASES: dict[tuple, _Database] = {}
_GOLD: dict[tuple, tuple] = {}


def _database(assets_dir: Path, db: str) -> _Database:
    path = (Path(assets_dir) / "dbs" / f"{db}.sqlite").resolve()
    stat = path.stat()  # FileNotFoundError for an unknown database
    key = (os.getpid(), str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    database = _DATABASES.get(key)
    if database is None:
        database = _DATABASES[key] = _Database(path)
    return database


def gold_rows(assets_dir: Path, db: str, gold: str) -> tuple:
    """The gold query's rows, computed once per process (and file version)."""
    database = _database(assets_dir, db)
    key = (str(database.path), os.stat(database.path).st_mtime_ns, gold)
    if key not in _GOLD:
        _GOLD[key] = tuple(database.execute(gold))
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
    """An InterCode-style SQL episode over the SQLite files in ``assets_dir/dbs``."""

    def __init__(self, assets_dir: Path, max_turns: int):
        self.assets_dir = Path(assets_dir)
        self.max_turns = int(max_turns)
        self._state = _State(None, None, None, 0, False, 0.0, False)

    # -- Env protocol ---------------------------------------------------------------------
    def reset(self, task: dict) -> str:
        gold_rows(self.assets_dir, task["db"], task["gold"])  # fail early on a broken task
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
        if text.lower().startswith("submit"):
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

    # -- helpers --------------------------------------------------------------------------
    def _reward(self, state: _State) -> float:
        if state.last_rows is None:
            return 0.0
        return float(intercode_reward(state.last_rows, gold_rows(self.assets_dir, state.task["db"], state.task["gold"])))

    def _run(self, db: str, query: str) -> tuple[str, tuple | None, str]:
        """Execute ``query`` on ``db``: (current db, rows or None, observation)."""
        statement = query.strip().rstrip(";").strip()
        try:
            database = _database(self.assets_dir, db)
            if _SHOW_TABLES.match(statement):
                rows = tuple(database.table_rows)
            elif match := _DESC.match(statement):
                table = match.group(1).lower()
                if table not in database.desc:
                    return db, None, f"Error executing query: Table '{db}.{match.group(1)}' doesn't exist"
                rows = tuple(database.desc[table])
            elif match := _USE.match(statement):
                name = match.group(1)
                if not re.fullmatch(r"\w+", name) or not (self.assets_dir / "dbs" / f"{name}.sqlite").is_file():
                    return db, None, f"Error executing query: Unknown database '{name}'"
                return name, None, NO_OUTPUT
            else:
                rows = tuple(database.execute(query))
        except sqlite3.Error as error:
            return db, None, f"Error executing query: {error}"
        return db, rows, format_rows(rows)
