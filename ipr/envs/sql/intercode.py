"""InterCodeSQL on the real data (env family ``intercode_sql``): import, split, backends, expert.

Sources: InterCode's task file ``ic_spider_dev.json`` (1,034 tasks ``{db, query, gold, hardness,
db_tables}``) and its MySQL dump of the 20 Spider-dev databases ``ic_spider_dbs.sql``; each is an
``http(s)://`` or ``file://`` URL (downloaded) or a local path (copied). Both are copied into the benchmark's assets,
the dump is converted to SQLite files (``assets/dbs``), and ``assets/backend.json`` records which
backend the environment uses:

* ``{"backend": "sqlite"}``: the converted files, embedded, no server;
* ``{"backend": "mysql", "server": "private"}``: every process that builds an env starts its own
  private MariaDB server (scratch data dir, Unix socket only), loads the dump, connects as a read-only
  user, and stops the server at exit;
* ``{"backend": "mysql", "server": "existing", "mysql": {host, port | socket, user, password}}``: a
  server that already holds the dump (e.g. on a cluster); the user should be read-only.

``backend.json`` also names the episode rules (``"rules"``: ``intercode``, the default, or ``ipr``,
IPR's fork; see :mod:`ipr.envs.sql.env`) and, for mysql, an optional session ``sql_mode``.
The sqlite backend answers with MySQL's functions, error texts and result types
(:mod:`ipr.envs.sql.mysql_compat`). A task whose gold query fails on the backend is kept (InterCode
scores it against no rows) and counted in ``split.json`` (``gold_fails``).

Train/test are split by database (no test database is seen in training); ``assets/split.json``
records the split. The paper's train split (Spider-train databases) is not public, so this is a
deviation: both splits here come from Spider-dev.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ipr.envs.sql.backends import MysqlBackend, QueryError, SqliteBackend
from ipr.envs.sql.dump import convert_dump
from ipr.envs.sql.env import RULES, SqlEnv
from ipr.envs.sql.expert import run_expert
from ipr.records import InputError, config_from, config_hash, validate
from ipr.records import help_field as _help

BENCHMARK = "intercode_sql"
IMPORTER_VERSION = 2  # 2: InterCode's episode rules, MySQL semantics on sqlite, no task dropped
UPSTREAM = "https://raw.githubusercontent.com/princeton-nlp/intercode/master/data/sql/spider"
DEFAULT_SOURCE = {"tasks": f"{UPSTREAM}/ic_spider_dev.json", "dump": f"{UPSTREAM}/ic_spider_dbs.sql"}
TASK_FIELDS = ("db", "query", "gold", "hardness")
TASKS_FILE, DUMP_FILE = "ic_spider_dev.json", "ic_spider_dbs.sql"


class IntercodeDataError(InputError):
    """Bad InterCode input: one line naming the file, the task and the field."""


def fetch(source: str, dest: Path) -> Path:
    """Download (URL) or copy (path) ``source`` to ``dest`` atomically."""
    partial = dest.with_name(dest.name + ".partial")
    if source.startswith(("http://", "https://", "file://")):
        try:
            with urllib.request.urlopen(source, timeout=120) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise IntercodeDataError(f"cannot download {source}: {error}") from None
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise IntercodeDataError(f"InterCode source file not found: {path}")
        shutil.copyfile(path, partial)
    partial.replace(dest)
    return dest


def load_tasks(path: str | Path) -> list[dict]:
    """InterCode's task list, checked field by field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise IntercodeDataError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    if not isinstance(data, list):
        raise IntercodeDataError(f"{path}: expected a JSON list of tasks, got {type(data).__name__}")
    tasks = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise IntercodeDataError(f"{path}: task {index}: expected an object, got {type(item).__name__}")
        for field in TASK_FIELDS:
            if not isinstance(item.get(field), str) or not item[field].strip():
                raise IntercodeDataError(f"{path}: task {index}: field {field!r} missing or not a non-empty string")
        tasks.append({"db": item["db"], "question": item["query"], "gold": item["gold"],
                      "hardness": item["hardness"], "source_index": index})
    return tasks


def split_databases(tasks: list[dict], seed: int, test_fraction: float, test_databases: list[str] | None) -> dict:
    """Databases of each split: the named ones, or a seeded draw holding >= ``test_fraction`` of the tasks."""
    names = sorted({t["db"] for t in tasks})
    if test_databases:
        unknown = sorted(set(test_databases) - set(names))
        if unknown:
            raise IntercodeDataError(f"test_databases names unknown database(s): {', '.join(unknown)}")
        test = sorted(test_databases)
    else:
        order = list(names)
        random.Random(f"{seed}:intercode-split").shuffle(order)
        counts = {n: sum(t["db"] == n for t in tasks) for n in names}
        test, held = [], 0
        for name in order:
            if held >= test_fraction * len(tasks):
                break
            test.append(name)
            held += counts[name]
        test.sort()
    if len(test) >= len(names):
        raise IntercodeDataError("the test split would hold every database; lower test_fraction")
    return {"train": [n for n in names if n not in test], "test": test}


# -- backends ------------------------------------------------------------------------------
# The servers and connections this process opened, by dump and by assets: every env of a benchmark
# shares them. Their lifetime is ``ipr.envs.env_services()`` (``stop_servers`` at its end); at exit
# for code that opened them outside one.
_SERVERS: dict[str, object] = {}
_MYSQL_BACKENDS: dict[tuple, MysqlBackend] = {}


def _private_server(dump: Path):
    from ipr.envs.sql.mariadb import MariaDBServer

    key = str(dump.resolve())
    server = _SERVERS.get(key)
    if server is None:
        server = MariaDBServer().start()
        _SERVERS[key] = server
        server.load_dump(dump)
    return server


@atexit.register
def stop_servers() -> None:
    """Close this process's MySQL connections and stop the MariaDB servers it started."""
    for backend in _MYSQL_BACKENDS.values():
        backend.reset_session()
    _MYSQL_BACKENDS.clear()
    for server in _SERVERS.values():
        server.stop()
    _SERVERS.clear()


@dataclass(frozen=True, kw_only=True)
class BackendSpec:
    """An asset folder's ``backend.json`` (the forms are in the module docstring)."""

    backend: str = _help("sqlite (the converted files) or mysql")
    rules: str = _help("episode rules: intercode or ipr", "intercode")
    server: str = _help("mysql: private (a server per process) or existing", "private")
    mysql: dict[str, Any] | None = _help("server existing: the connection (MysqlSettings' fields)", None)
    sql_mode: str | None = _help("mysql: the session's sql_mode; null: the server's default", None)

    @classmethod
    def read(cls, assets_dir: str | Path) -> BackendSpec:
        path = Path(assets_dir) / "backend.json"
        return config_from(cls, json.loads(path.read_text()), str(path))


def make_backend(assets_dir: str | Path):
    """The backend ``assets_dir/backend.json`` asks for (a private MariaDB server starts on first use).

    One MySQL connection per process and server, shared by every env: an episode's only session
    state is its current database, which the env tracks (the backend selects it per query)."""
    assets_dir = Path(assets_dir)
    spec = BackendSpec.read(assets_dir)
    if spec.backend == "sqlite":
        return SqliteBackend(assets_dir / "dbs", mysql_semantics=True)
    key = (os.getpid(), str(assets_dir.resolve()), json.dumps(asdict(spec), sort_keys=True))
    if key not in _MYSQL_BACKENDS:
        mode = {"sql_mode": spec.sql_mode} if spec.sql_mode is not None else {}
        if spec.server == "existing":
            _MYSQL_BACKENDS[key] = MysqlBackend({**(spec.mysql or {}), **mode})
        else:
            server = _private_server(assets_dir / DUMP_FILE)
            _MYSQL_BACKENDS[key] = MysqlBackend({**server.connection_settings(), **mode}, server.databases)
    return _MYSQL_BACKENDS[key]


def make_intercode_env(assets_dir: str | Path, max_turns: int) -> SqlEnv:
    rules = BackendSpec.read(assets_dir).rules
    return SqlEnv(Path(assets_dir), max_turns, backend=make_backend(assets_dir), rules=rules)


# -- import --------------------------------------------------------------------------------
def generate_intercode(out_dir: Path, seed: int, source: dict | None = None, backend: str = "sqlite",
                       mysql: dict | None = None, test_fraction: float = 0.2, test_databases: list | None = None,
                       num_train_tasks: int | None = None, num_test_tasks: int | None = None,
                       max_turns: int = 10, rules: str = "intercode", sql_mode: str | None = None) -> dict[str, list[dict]]:
    """Import InterCodeSQL into ``out_dir`` (the assets dir); return ``{"train": [...], "test": [...]}``.

    Train records keep only expert trajectories with reward 1.0 (as the paper keeps only reward-1.0
    SQL experts); test records keep every task of the test databases (the expert's run is stored too),
    including those whose gold query fails on the backend (InterCode keeps and scores them; their
    count is in ``split.json``).
    """
    if rules not in RULES or rules == "embedded":
        raise IntercodeDataError(f"generate.rules: {rules!r} is not one of intercode, ipr")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = {**DEFAULT_SOURCE, **(source or {})}
    tasks_path = fetch(str(source["tasks"]), out_dir / TASKS_FILE)
    dump_path = fetch(str(source["dump"]), out_dir / DUMP_FILE)
    try:  # errors name the source, not our copy of it
        tasks = load_tasks(tasks_path)
        databases = convert_dump(dump_path, out_dir / "dbs")
    except InputError as error:
        message = str(error).replace(str(tasks_path), str(source["tasks"])).replace(str(dump_path), str(source["dump"]))
        raise IntercodeDataError(message) from None
    missing = sorted({t["db"] for t in tasks if t["db"].lower() not in databases})
    if missing:
        raise IntercodeDataError(f"{tasks_path}: tasks use database(s) not in {dump_path}: {', '.join(missing)}")
    spec = {"backend": backend, "rules": rules}
    if backend == "mysql":
        spec.update({"server": "existing", "mysql": mysql} if mysql else {"server": "private"})
        if sql_mode is not None:
            spec["sql_mode"] = sql_mode
    (out_dir / "backend.json").write_text(json.dumps(spec, indent=1) + "\n")
    split = split_databases(tasks, seed, test_fraction, test_databases)
    settings = {"benchmark": BENCHMARK, "version": IMPORTER_VERSION, "seed": seed, "backend": backend,
                "split": split, "num_train_tasks": num_train_tasks, "num_test_tasks": num_test_tasks,
                "rules": rules, "sql_mode": sql_mode}
    chash = config_hash(settings)

    env = make_intercode_env(out_dir, max_turns)
    records: dict[str, list[dict]] = {}
    stats = {}
    for name, limit in (("train", num_train_tasks), ("test", num_test_tasks)):
        chosen = [t for t in tasks if t["db"] in split[name]]
        random.Random(f"{seed}:order:{name}").shuffle(chosen)
        records[name], dropped, broken = [], 0, []
        for task in chosen:
            if limit is not None and len(records[name]) >= limit:
                break
            try:  # a gold query that fails on this backend (not valid MySQL) is kept and counted
                env.backend.execute(task["db"], task["gold"])
            except QueryError as error:
                broken.append({"source_index": task["source_index"], "error": str(error)})
            played = run_expert(env, task)
            if name == "train" and played["reward"] != 1.0:
                dropped += 1
                continue
            task_id = f"icsql-{name}-{task['source_index']:04d}"
            records[name].append(validate({
                "id": task_id, "task_id": task_id, "benchmark": BENCHMARK, "split": name, "task": task,
                "messages": played["messages"], "reward": played["reward"], "success": played["success"],
                "steps": played["steps"], "config_hash": chash}, "trajectory"))
        stats[name] = {"databases": split[name], "tasks": len(records[name]), "expert_dropped": dropped,
                       "gold_fails_count": len(broken), "gold_fails": broken}
    (out_dir / "split.json").write_text(json.dumps({**stats, "seed": seed, "test_fraction": test_fraction}, indent=1) + "\n")
    return records
