"""The InterCode-style SQL environment, over any backend of :mod:`ipr.envs.sql.backends`.

Actions (the text after ``Action:``): the first line inside a ```` ```sql ```` fence (or of the raw
text when there is no fence) is the statement; ``submit`` ends the episode and scores the last result.
MySQL shims: ``SHOW TABLES``, ``DESC``/``DESCRIBE <table>``, ``SHOW COLUMNS``/``SHOW FIELDS FROM
<table>`` (MySQL-8-shaped rows) and ``USE <db>``; the current database is part of the episode state,
so a snapshot is a small immutable tuple.

How an episode turns actions into observations and rewards is a :class:`SqlRules`; three are named
(``RULES``):

* ``intercode`` (the default): InterCode's ``SqlEnv`` with mysql-connector on MySQL 8, in the
  presentation of IPR's harness (first line of the fence, observations cut at 350 characters + ``...``).
  A result is its row list as a Python literal (``[]`` when empty), a statement without a result set
  (``USE``) shows ``None``, an error shows ``Error executing query: <driver message>``, ``DESC`` and
  ``SHOW COLUMNS`` show the type and default columns as bytes (``b'int'``), an action starting with ``submit``
  submits, the gold query runs in the session's current database (a failing gold query counts as
  ``[]``), and at the turn limit the last result is scored, as InterCode's harness scores every turn.
* ``ipr``: IPR's fork (``eval_agent/envs/intercode_sql_env.py``): any ``submit`` in the action submits,
  an action without a ```` ```sql ```` fence or with a statement that has no result set gets the fork's
  "I don't understand your input" text, errors without ``Unknown`` get a trailing newline, the type
  column of ``DESC`` is text (its one-shot example, an older connector), and the turn limit scores 0.
* ``embedded``: the conventions ``sql_embedded`` was generated with (``[Executed Successfully with No
  Output]`` for empty results and ``USE``, any word ``submit`` submits, gold in the task's database,
  the turn limit scores 0); used by that benchmark so that its data and results stay as they were.

Used by both env families: ``sql_embedded`` (the project's generated SQLite databases) and
``intercode_sql`` (InterCode's Spider-dev databases on the sqlite or mysql backend). The sandbox
(read-only, time, row and memory limits) lives in the backends.
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
# IPR's fork answers an action it cannot run with this text (eval_agent/envs/intercode_sql_env.py).
IPR_NOT_UNDERSTOOD = ("I don't understand your input.\n Your input shoud include the key world \"Action:\".\n If you want to "
                      "perform a query operation, please use the following format:\n Action: \n```sql\nthe mysql code\n```. "
                      "And the action should be executable and should not contain natural language.\n If you have got "
                      "the final answer, please use the following format:\n Action: submit. Remember your output should "
                      "contain only one \"Action:\" part.")
__all__ = ["RULES", "ROW_LIMIT", "TIME_LIMIT_S", "SqlEnv", "SqlRules", "extract_query", "format_rows", "gold_rows"]

_FENCE = re.compile(r"```[ \t]*(?:sql|mysql|sqlite)?[ \t]*\n?(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
_IPR_FENCE = re.compile(r"```sql(.*?)```", re.DOTALL)
_SHOW_TABLES = re.compile(r"^show\s+tables$", re.IGNORECASE)
_DESC = re.compile(r"^(?:desc|describe)\s+`?(\w+)`?$", re.IGNORECASE)
_SHOW_COLUMNS = re.compile(r"^show\s+(?:columns|fields)\s+(?:from|in)\s+`?(\w+)`?$", re.IGNORECASE)
_SUBMIT_WORD = re.compile(r"\bsubmit\b", re.IGNORECASE)
_USE = re.compile(r"^use\s+`?(\w+)`?$", re.IGNORECASE)


@dataclass(frozen=True)
class SqlRules:
    """How an episode turns actions into observations and rewards (see the module docstring)."""

    name: str
    empty_result: str  # the observation of a query that returns no rows
    no_result_set: str  # the observation of a statement without a result set (USE)
    submit: str  # "prefix": the statement starts with "submit" (InterCode); "anywhere": the fork's
    #              substring test; "word": the word submit anywhere, any case (sql_embedded)
    type_as_bytes: bool  # DESC / SHOW COLUMNS type column as b'int' (mysql-connector 8.x on MySQL 8)
    turn_limit: str  # "score": the last result is scored at the turn limit; "zero": reward 0
    gold_database: str  # "session": the gold query runs in the current database; "task": in the task's
    error_newline: bool = False  # the fork appends "\n" to errors without "Unknown"
    require_fence: bool = False  # the fork runs only a ```sql fence's first line


RULES = {
    "intercode": SqlRules("intercode", empty_result="[]", no_result_set="None", submit="prefix", type_as_bytes=True,
                          turn_limit="score", gold_database="session"),
    "ipr": SqlRules("ipr", empty_result="[]", no_result_set=IPR_NOT_UNDERSTOOD, submit="anywhere", type_as_bytes=False,
                    turn_limit="zero", gold_database="session", error_newline=True, require_fence=True),
    "embedded": SqlRules("embedded", empty_result=NO_OUTPUT, no_result_set=NO_OUTPUT, submit="word", type_as_bytes=False,
                         turn_limit="zero", gold_database="task"),
}

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


def format_rows(rows: list[tuple] | tuple | None, empty: str = NO_OUTPUT) -> str:
    """InterCode's observation text: the row list as a Python literal, truncated to 350 chars."""
    if not rows:
        return empty
    text = str(list(rows))
    return text[:OBS_LIMIT] + "..." if len(text) > OBS_LIMIT else text


def _truncate(text: str) -> str:
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
    last_text: str | None = None  # the last observation (InterCode's submit shows it again)


class SqlEnv:
    """An InterCode-style SQL episode. ``backend`` defaults to the SQLite files in ``assets_dir/dbs``;
    ``rules`` is a :class:`SqlRules` or the name of one in ``RULES``."""

    def __init__(self, assets_dir: Path, max_turns: int, backend=None, rules: SqlRules | str = "intercode"):
        self.assets_dir = Path(assets_dir)
        self.max_turns = int(max_turns)
        if isinstance(rules, str):
            if rules not in RULES:
                raise ValueError(f"unknown SQL rules {rules!r}; known: {', '.join(RULES)}")
            rules = RULES[rules]
        self.rules = rules
        self.backend = backend if backend is not None else SqliteBackend(self.assets_dir / "dbs")
        self._state = _State(None, None, None, 0, False, 0.0, False)

    # -- Env protocol ---------------------------------------------------------------------
    def reset(self, task: dict) -> str:
        reset_session = getattr(self.backend, "reset_session", None)
        if reset_session is not None:
            reset_session()
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
        query = self._statement(text)
        if self._submits(text, query):
            reward = self._reward(state)
            self._state = _State(state.task, state.db, state.last_rows, turns, True, reward, reward == 1.0)
            return StepResult(self._render(state.last_rows) if state.last_rows is not None else self._last_text(state),
                              reward, True, reward == 1.0)
        db, rows = state.db, None
        if query is None:
            observation = INVALID_ACTION if self.rules.name != "ipr" else IPR_NOT_UNDERSTOOD
            last_text = observation
            if self.rules.name != "embedded":  # the action never reaches InterCode's env: its last result stands
                rows, last_text = state.last_rows, state.last_text
        else:
            db, rows, observation = self._run(state.db, query)
            last_text = observation
        done = turns >= self.max_turns
        reward = 0.0
        if done and self.rules.turn_limit == "score":  # InterCode's harness scores the latest result every turn
            reward = self._reward(_State(state.task, db, rows, turns, False, 0.0, False))
        self._state = _State(state.task, db, rows, turns, done, reward, reward == 1.0, last_text)
        return StepResult(observation, reward, done, reward == 1.0)

    def snapshot(self) -> _State:
        return self._state

    def restore(self, snapshot: _State) -> None:
        self._state = snapshot

    def close(self) -> None:
        """Nothing to release: its backend (and any server) is shared by every env of the benchmark."""

    def state_key(self) -> str:
        return state_key_of(self.snapshot())

    # -- helpers --------------------------------------------------------------------------
    def _statement(self, text: str) -> str | None:
        """The statement an action runs (None: no statement)."""
        if not text:
            return None
        if self.rules.require_fence:
            blocks = _IPR_FENCE.findall(text)
            statement = blocks[0].strip().split("\n")[0] if blocks else ""
            return statement or None
        return extract_query(text) or None

    def _submits(self, text: str, query: str | None) -> bool:
        if self.rules.submit == "word":
            return bool(_SUBMIT_WORD.search(text))
        if self.rules.submit == "anywhere":
            return "submit" in text
        # InterCode's env submits on an action that starts with "submit" (the statement it is given)
        return text.startswith("submit") or (query or "").startswith("submit")

    def _last_text(self, state: _State) -> str:
        """What submit shows when the last observation was no result: InterCode returns it unchanged."""
        if self.rules.name == "embedded":
            return NO_OUTPUT
        return state.last_text if state.last_text is not None else state.task["question"]

    def _render(self, rows) -> str:
        return format_rows(rows, self.rules.empty_result)

    def _reward(self, state: _State) -> float:
        if state.last_rows is None:
            return 0.0
        task = state.task
        if self.rules.gold_database == "task":
            return float(intercode_reward(state.last_rows, gold_rows(self.backend, task["db"], task["gold"])))
        try:  # InterCode runs the gold query on the agent's cursor: in the session's database
            gold = gold_rows(self.backend, state.db, task["gold"])
        except QueryError:  # ... and a gold query that fails there counts as no rows
            gold = ()
        return float(intercode_reward(state.last_rows, gold))

    def _error(self, message: str) -> str:
        text = f"Error executing query: {message}"
        if self.rules.error_newline and "Unknown" not in text:
            text += "\n"
        return _truncate(text)

    def _run(self, db: str, query: str) -> tuple[str, tuple | None, str]:
        """Execute ``query`` on ``db``: (current db, rows or None, observation)."""
        statement = query.strip().rstrip(";").strip()
        try:
            if _SHOW_TABLES.match(statement):
                rows = self.backend.show_tables(db)
            elif match := (_DESC.match(statement) or _SHOW_COLUMNS.match(statement)):
                rows = self.backend.describe(db, match.group(1))
                if self.rules.type_as_bytes:  # mysql-connector 8 returns Type and a set Default as bytes
                    rows = tuple((row[0], str(row[1]).encode(), row[2], row[3],
                                  row[4] if row[4] is None else str(row[4]).encode(), *row[5:]) for row in rows)
            elif match := _USE.match(statement):
                name = match.group(1)
                if not self.backend.has_database(name):
                    return db, None, self._error(f"Unknown database '{name}'")
                return name.lower() if self.backend.name == "mysql" else name, None, self.rules.no_result_set
            else:
                rows = self.backend.execute(db, statement)
        except QueryError as error:
            return db, None, self._error(str(error))
        return db, rows, self._render(rows)
