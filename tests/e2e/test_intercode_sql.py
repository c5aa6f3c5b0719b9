"""InterCodeSQL on the real data: importer, both backends, sandbox, observation fidelity.

Data: $IPR_INTERCODE_DATA (default ../shared/data/intercode_sql beside the repository) with InterCode's
ic_spider_dev.json and ic_spider_dbs.sql; never copied into the repository. The mysql tests start
their own private MariaDB server (Debian package mariadb-server, see system-packages.txt) once per
test session and stop it afterwards.
"""

import json
import shutil
from pathlib import Path

import pytest

from ipr.envs import generate, make_env
from ipr.envs.sql.backends import ROW_LIMIT, MysqlBackend, SqliteBackend
from ipr.envs.sql.env import SqlEnv, extract_query
from ipr.envs.sql.expert import run_expert
from ipr.envs.sql.intercode import IntercodeDataError, load_tasks, split_databases
from ipr.records import validate

from intercode_data import DUMP, TASKS
# Gold queries that are not valid MySQL (they fail on InterCode's MySQL 8 too): a table named with
# the reserved word SHOW, `COUNT (*)` with a space, a derived table without an alias.
INVALID_MYSQL_GOLD = {164, 178, 225, 531, 638, 802}


pytestmark = pytest.mark.usefixtures("intercode_data")


def sql(query):
    return f"```sql\n{query}\n```"


@pytest.fixture(scope="session")
def imported(tmp_path_factory):
    """The full import on the sqlite backend: (assets dir, records)."""
    out = tmp_path_factory.mktemp("icsql") / "assets"
    records = generate("intercode_sql", out, 0, source={"tasks": str(TASKS), "dump": str(DUMP)})
    return out, records


@pytest.fixture(scope="session")
def tasks():
    return load_tasks(TASKS)


@pytest.fixture(scope="session")
def backends(imported, mariadb):
    return {"sqlite": SqliteBackend(imported[0] / "dbs", mysql_semantics=True),
            "mysql": MysqlBackend(mariadb.connection_settings(), mariadb.databases)}


# -- import and split ----------------------------------------------------------------------
def test_import_splits_by_database(imported, tasks):
    assets, records = imported
    train_dbs = {r["task"]["db"] for r in records["train"]}
    test_dbs = {r["task"]["db"] for r in records["test"]}
    assert train_dbs and test_dbs and not train_dbs & test_dbs
    assert len(records["train"]) + len(records["test"]) == len(tasks) == 1034
    split = json.loads((assets / "split.json").read_text())
    assert set(split["test"]["databases"]) == test_dbs and set(split["train"]["databases"]) == train_dbs
    assert all(r["reward"] == 1.0 and r["success"] for r in records["train"])  # reward-1.0 experts only
    for record in records["train"][:20] + records["test"][:20]:
        validate(record, "trajectory")
    assert json.loads((assets / "backend.json").read_text()) == {"backend": "sqlite", "rules": "intercode"}


def test_split_names_and_limits(tasks, tmp_path):
    split = split_databases(tasks, 0, 0.2, ["singer", "world_1"])
    assert split["test"] == ["singer", "world_1"] and "singer" not in split["train"]
    with pytest.raises(IntercodeDataError, match="unknown database"):
        split_databases(tasks, 0, 0.2, ["no_such_db"])
    small = generate("intercode_sql", tmp_path / "a", 1, source={"tasks": TASKS.as_uri(), "dump": str(DUMP)},
                     num_train_tasks=5, num_test_tasks=3)
    assert (len(small["train"]), len(small["test"])) == (5, 3)


def test_bad_task_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "tasks.json"
    bad.write_text(json.dumps([{"db": "singer", "query": "q", "gold": "SELECT 1", "hardness": "easy"},
                               {"db": "singer", "query": "q", "hardness": "easy"}]))
    with pytest.raises(IntercodeDataError, match=r"tasks.json: task 1: field 'gold'"):
        load_tasks(bad)
    with pytest.raises(IntercodeDataError, match="not found"):
        generate("intercode_sql", tmp_path / "x", 0, source={"tasks": str(tmp_path / "nope.json"), "dump": str(DUMP)})


# -- gold queries and the expert on both backends --------------------------------------------
def test_every_gold_query_runs(backends, tasks):
    failing = {}
    for name, backend in backends.items():
        failing[name] = set()
        for task in tasks:
            try:
                backend.execute(task["db"], task["gold"])
            except Exception:  # noqa: BLE001 - counted, not raised
                failing[name].add(task["source_index"])
    assert failing["sqlite"] == set()
    assert failing["mysql"] == INVALID_MYSQL_GOLD


def test_expert_reaches_reward_one(backends, tasks):
    for name, backend in backends.items():
        env = SqlEnv(Path("."), 10, backend=backend)
        runnable = [t for t in tasks if t["source_index"] not in INVALID_MYSQL_GOLD]
        wins = sum(run_expert(env, t)["reward"] == 1.0 for t in runnable)
        assert wins >= 0.99 * len(tasks), (name, wins)


# -- observations and actions ----------------------------------------------------------------
def test_show_tables_and_desc_match_mariadb(backends, imported):
    envs = {name: SqlEnv(Path("."), 100, backend=b) for name, b in backends.items()}
    schemas = sorted((imported[0] / "dbs").glob("*.mysql.json"))
    assert len(schemas) == 20
    checked = 0
    for schema in schemas:
        db = schema.name.split(".")[0]
        tables = json.loads(schema.read_text())["tables"]
        task = {"db": db, "question": "q", "gold": "SELECT 1"}
        for env in envs.values():
            env.reset(task)
        for action in ["SHOW TABLES", "SHOW TABLES;", "show tables"] + [f"DESC {t}" for t in tables] + [
                f"DESCRIBE {t.upper()}" for t in tables[:1]]:
            observations = {name: env.step(sql(action)).observation for name, env in envs.items()}
            assert observations["sqlite"] == observations["mysql"], (db, action)
            assert not observations["sqlite"].startswith("Error"), (db, action)
            checked += 1
    assert checked > 80


def test_observation_strings_and_actions(backends):
    for backend in backends.values():
        env = SqlEnv(Path("."), 10, backend=backend)
        env.reset({"db": "concert_singer", "question": "q", "gold": "SELECT count(*) FROM singer"})
        assert env.step(sql("SELECT count(*) FROM singer\nSELECT 1")).observation == "[(6,)]"  # first line only
        assert env.step(sql("SELECT Name FROM singer WHERE Name = 'nobody'")).observation == "[]"
        env.step(sql("USE world_1"))
        long = env.step(sql("SELECT Name FROM city")).observation
        assert len(long) == 353 and long.endswith("...")
        env.step(sql("USE concert_singer"))
        assert env.step(sql("SELECT nope FROM singer")).observation.startswith("Error executing query: ")
        assert env.step("submit").reward == 0.0  # the last result was an error
        env.reset({"db": "concert_singer", "question": "q", "gold": "SELECT count(*) FROM singer"})
        env.step(sql("SELECT count(*) FROM singer"))
        result = env.step("submit.")  # an action that starts with submit submits (IPR's one-shot example)
        assert result.done and result.reward == 1.0 and result.success
    assert extract_query("```sql\nSELECT 1\nSELECT 2\n```") == "SELECT 1"


def test_text_comparison_is_case_insensitive_like_mysql(backends):
    for name, backend in backends.items():
        # Spider data has trailing spaces ('Alton '); MySQL's PAD SPACE collation ignores them.
        assert backend.execute("flight_2", 'SELECT City FROM airports WHERE AirportName = "alton"'), name
        assert backend.execute("world_1", "SELECT count(*) FROM country WHERE Name = 'FRANCE'") == ((1,),), name


def test_use_switches_database(backends):
    for backend in backends.values():
        env = SqlEnv(Path("."), 10, backend=backend)
        env.reset({"db": "concert_singer", "question": "q", "gold": "SELECT 1"})
        assert env.step(sql("USE world_1")).observation == "None"  # InterCode: no result set
        assert env.step(sql("SELECT count(*) FROM country")).observation == "[(239,)]"
        assert env.step(sql("USE no_such_db")).observation == "Error executing query: Unknown database 'no_such_db'"


# -- sandbox -----------------------------------------------------------------------------------
REFUSED = [
    "DROP TABLE singer",
    "DELETE FROM singer",
    "UPDATE singer SET Age = 0",
    "INSERT INTO singer (Singer_ID, Name) VALUES (999, 'x')",
    "CREATE TABLE t (a INT)",
    "ATTACH DATABASE '/tmp/ipr-x.sqlite' AS x",
    "PRAGMA writable_schema = 1",
    "SET GLOBAL max_connections = 1",
    "SET SESSION sql_select_limit = 100000000",
    "SELECT @x := 1",
    # a per-statement time limit: 6.8e10 combinations
    "SELECT count(*) FROM world_1.city a, world_1.city b, world_1.city c",
    # a 16.6-million-row cross join (4,079^2): more rows than the cap
    "SELECT a.ID, b.ID FROM world_1.city a, world_1.city b",
]


def _fingerprint(name, backend, imported, mariadb):
    if name == "sqlite":
        return sorted((p.name, p.read_bytes()) for p in (imported[0] / "dbs").glob("*.sqlite"))
    conn = mariadb.admin()
    with conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE concert_singer.singer, world_1.city")
        sums = cur.fetchall()
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'concert_singer'")
        sums += cur.fetchall()
        cur.execute("SELECT @@GLOBAL.max_connections")
        sums += cur.fetchall()
    conn.close()
    return sums


def test_sandbox_refuses_and_nothing_changes(backends, imported, mariadb):
    for name, backend in backends.items():
        before = _fingerprint(name, backend, imported, mariadb)
        env = SqlEnv(Path("."), 100, backend=backend)
        env.reset({"db": "concert_singer", "question": "q", "gold": "SELECT count(*) FROM singer"})
        for statement in REFUSED:
            if name == "sqlite" and "world_1." in statement:
                env.step(sql("USE world_1"))
                statement = statement.replace("world_1.", "")
            observation = env.step(sql(statement)).observation
            assert observation.startswith("Error executing query: "), (name, statement, observation)
            env.step(sql("USE concert_singer"))
            assert env.step(sql("SELECT count(*) FROM singer")).observation == "[(6,)]", (name, statement)
        assert _fingerprint(name, backend, imported, mariadb) == before, name
    cap = backends["sqlite"].execute("world_1", "SELECT ID FROM city")
    assert len(cap) <= ROW_LIMIT


def test_no_state_leaks_between_episodes(backends):
    backend = backends["mysql"]
    env = SqlEnv(Path("."), 10, backend=backend)
    env.reset({"db": "concert_singer", "question": "q", "gold": "SELECT 1"})
    env.step(sql("USE world_1"))
    env.reset({"db": "concert_singer", "question": "q", "gold": "SELECT 1"})
    assert env.step(sql("SELECT count(*) FROM singer")).observation == "[(6,)]"  # back on the task's db


def test_make_env_on_an_existing_server(imported, mariadb, tmp_path):
    assets = tmp_path / "assets"
    shutil.copytree(imported[0] / "dbs", assets / "dbs")
    (assets / "backend.json").write_text(json.dumps(
        {"backend": "mysql", "server": "existing", "mysql": mariadb.connection_settings()}))
    env = make_env("intercode_sql", assets, 10)
    task = imported[1]["test"][0]["task"]
    assert run_expert(env, task)["reward"] == 1.0


def test_import_on_a_private_mariadb(tmp_path):
    """backend: mysql without a server named: the process starts its own, which stops when the
    env_services() block around the episodes ends (every stage runs in one)."""
    if not (shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")):
        pytest.skip("MariaDB is not installed (apt-get install mariadb-server; see system-packages.txt)")
    from ipr.envs import env_services
    from ipr.envs.sql import intercode

    with env_services():
        records = generate("intercode_sql", tmp_path / "assets", 0, source={"tasks": str(TASKS), "dump": str(DUMP)},
                           backend="mysql", num_train_tasks=3, num_test_tasks=2)
        assert json.loads((tmp_path / "assets" / "backend.json").read_text()) == {
            "backend": "mysql", "rules": "intercode", "server": "private"}
        assert (len(records["train"]), len(records["test"])) == (3, 2)
        assert all(r["reward"] == 1.0 for r in records["train"])
        env = make_env("intercode_sql", tmp_path / "assets", 10)
        assert env.backend.name == "mysql"
        assert run_expert(env, records["test"][0]["task"])["reward"] == 1.0
        [server] = intercode._SERVERS.values()
        process = server._process
        assert process.poll() is None
    assert process.poll() is not None and intercode._SERVERS == {}


def test_bad_dump_names_file_and_line(tmp_path):
    dump = tmp_path / "d.sql"
    dump.write_text("CREATE DATABASE `a`;\nUSE `a`;\nCREATE TABLE `t` (\n  `x` int\n) ENGINE=InnoDB;\n"
                    "INSERT INTO `t` VALUES (1,'oops);\n")
    with pytest.raises(IntercodeDataError, match=rf"^{dump}:6: cannot parse a value"):
        generate("intercode_sql", tmp_path / "x", 0, source={"tasks": str(TASKS), "dump": str(dump)})
