"""InterCodeSQL turn by turn as InterCode's reference behaves (issue 20) and memory-bounded queries (issue 22).

Expected observation strings are InterCode's own: its recorded GPT-4 10-turn run on MySQL 8
(princeton-nlp/intercode data/results/sql/gpt-4/ic_sql_multiturn_gpt-4_10_turns.json) and IPR's
one-shot example (WeiminXiong/IPR eval_agent/prompt/icl_examples/intercode_sql_icl.json). Each
applies to both backends: the sqlite backend with MySQL semantics and a private MariaDB server.
Data as in tests/e2e/test_intercode_sql.py ($IPR_INTERCODE_DATA or ../shared/data/intercode_sql).
"""

import json
import os
from pathlib import Path

import pytest

from ipr.envs import generate
from ipr.envs.sql.backends import MysqlBackend, SqliteBackend
from ipr.envs.sql.dump import convert_dump
from ipr.envs.sql.env import IPR_NOT_UNDERSTOOD, SqlEnv

from intercode_data import DUMP, TASKS
MEMORY_ERROR = "Error executing query: the result needs more than 16 MB (memory limit); select fewer or shorter values"


pytestmark = pytest.mark.usefixtures("intercode_data")


def sql(query):
    return f"```sql\n{query}\n```"


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    out = tmp_path_factory.mktemp("icfid") / "dbs"
    convert_dump(DUMP, out)
    return out


@pytest.fixture(scope="module")
def backends(dbs, mariadb):
    return {"sqlite": SqliteBackend(dbs, mysql_semantics=True),
            "mysql": MysqlBackend(mariadb.connection_settings(), mariadb.databases)}


def _observe(backend, db, actions, rules="intercode", max_turns=50):
    env = SqlEnv(Path("."), max_turns, backend=backend, rules=rules)
    env.reset({"db": db, "question": "q", "gold": "SELECT 1"})
    return [env.step(action).observation for action in actions]


# (database, query, InterCode's observation)
REFERENCE = [
    # IPR's one-shot example (also in InterCode's recorded run): AVG of a float(10,2) column, SUM of ints
    ("world_1", "SELECT AVG(GNP), SUM(population) FROM country WHERE governmentform = 'US Territory'",
     "[(510.333333, Decimal('329000'))]"),
    ("world_1", "SELECT AVG(GNP), SUM(population) FROM nations WHERE government = 'US Territory'",
     "Error executing query: Table 'world_1.nations' doesn't exist"),
    # numbers and dates as mysql-connector returns them
    ("concert_singer", "SELECT AVG(Age) as Average_Age, MIN(Age) as Minimum_Age, MAX(Age) as Maximum_Age FROM singer "
     "WHERE Country = 'France'", "[(Decimal('34.5000'), 25, 43)]"),
    ("dog_kennels", "SELECT MAX(charge_amount) FROM charges", "[(Decimal('640.0000'),)]"),
    ("student_transcripts_tracking", "SELECT MAX(transcript_date) FROM transcripts",
     "[(datetime.datetime(2013, 6, 30, 13, 1, 40),)]"),
    ("concert_singer", "SELECT MAX(capacity) AS maximum_capacity, AVG(capacity) AS average_capacity FROM stadium",
     "[(52500, Decimal('10621.6667'))]"),
    # an empty result
    ("course_teach", "SELECT name FROM teacher GROUP BY name HAVING count(*) >= 2", "[]"),
    # SHOW COLUMNS and DESC: the type (and a set default) come back as bytes
    ("flight_2", "SHOW COLUMNS FROM airlines",
     "[('uid', b'int', 'NO', 'PRI', None, 'auto_increment'), ('Airline', b'text', 'YES', '', None, ''), "
     "('Abbreviation', b'text', 'YES', '', None, ''), ('Country', b'text', 'YES', '', None, '')]"),
    ("flight_2", "DESCRIBE airlines",
     "[('uid', b'int', 'NO', 'PRI', None, 'auto_increment'), ('Airline', b'text', 'YES', '', None, ''), "
     "('Abbreviation', b'text', 'YES', '', None, ''), ('Country', b'text', 'YES', '', None, '')]"),
    # error texts: the driver's message alone, MySQL 8's wording
    ("flight_2", "SELECT abbreviation FROM airlines WHERE name = 'Jetblue Airways'",
     "Error executing query: Unknown column 'name' in 'where clause'"),
    ("battle_death", "SELECT ship_id, name, SUM(injuries) as total_injuries FROM ship GROUP BY ship_id, name",
     "Error executing query: Unknown column 'ship_id' in 'field list'"),
    ("car_1", "SELECT c.CountryName FROM countries c JOIN continents ct ON c.Continent = ct.ContId JOIN car_makers cm "
     "ON cm.country_id = c.CountryId", "Error executing query: Unknown column 'cm.country_id' in 'on clause'"),
    ("battle_death", "SELECT id, name, SUM(injured) FROM death JOIN ship ON death.caused_by_ship_id = ship.id GROUP BY id",
     "Error executing query: Column 'id' in field list is ambiguous"),
    ("concert_singer", "SELEC count(*) FROM singer",
     "Error executing query: You have an error in your SQL syntax; check the manual that corresponds to your MySQL "
     "server version for the right syntax to use near 'SELEC count(*) FROM singer' at line 1"),
]


@pytest.mark.parametrize("db,query,expected", REFERENCE, ids=[q[:40] for _, q, _ in REFERENCE])
def test_observations_are_intercodes(backends, db, query, expected):
    for name, backend in backends.items():
        assert _observe(backend, db, [sql(query)])[0] == expected, name


def test_ipr_rules_show_text_types_and_the_forks_messages(backends):
    """IPR's fork: DESC types as text (its one-shot example), USE and unfenced actions get its message."""
    for name, backend in backends.items():
        desc, use, unfenced = _observe(backend, "orchestra", [sql("DESC conductor"), sql("USE world_1"), "SHOW TABLES"],
                                       rules="ipr")
        assert desc == ("[('Conductor_ID', 'int', 'NO', 'PRI', None, 'auto_increment'), ('Name', 'text', 'YES', '', None, ''), "
                        "('Age', 'int', 'YES', '', None, ''), ('Nationality', 'text', 'YES', '', None, ''), "
                        "('Year_of_Work', 'int', 'YES', '', None, '')]"), name
        assert use == unfenced == IPR_NOT_UNDERSTOOD, name
        error = _observe(backend, "orchestra", [sql("SELEC 1")], rules="ipr")[0]
        assert error.startswith("Error executing query: You have an error") and error.endswith("at line 1\n"), name


def test_mysql_functions_on_sqlite_match_the_server(backends):
    queries = [
        "SELECT CONCAT(Name, ' (', Country, ')') FROM singer ORDER BY Singer_ID LIMIT 2",
        "SELECT IF(Age > 40, 'old', 'young'), Name FROM singer ORDER BY Singer_ID",
        "SELECT Name FROM singer WHERE Name REGEXP '^jo' ORDER BY Name",
        "SELECT YEAR('2019-03-04 10:00:00'), MONTH('2019-03-04'), DAY('2019-03-04')",
        "SELECT STR_TO_DATE('04/03/2019', '%d/%m/%Y'), DATE_FORMAT('2019-03-04 10:05:00', '%Y/%m/%d %H:%i')",
        "SELECT FROM_UNIXTIME(0), CONCAT_WS('-', 'a', NULL, 'b'), CURDATE() = CURDATE()",
    ]
    for query in queries:
        observed = {name: _observe(backend, "concert_singer", [sql(query)])[0] for name, backend in backends.items()}
        assert observed["sqlite"] == observed["mysql"], (query, observed)
        assert not observed["sqlite"].startswith("Error"), (query, observed)


def test_turn_limit_scores_the_last_result(backends):
    task = {"db": "concert_singer", "question": "q", "gold": "SELECT count(*) FROM singer"}
    for name, backend in backends.items():
        for rules, expected in (("intercode", 1.0), ("ipr", 0.0)):
            env = SqlEnv(Path("."), 2, backend=backend, rules=rules)
            env.reset(task)
            assert not env.step(sql("SHOW TABLES")).done
            last = env.step(sql("SELECT count(*) FROM singer"))
            assert last.done and last.reward == expected and last.success == (expected == 1.0), (name, rules)


def test_submit_is_the_action_itself(backends):
    task = {"db": "concert_singer", "question": "q", "gold": "SELECT count(*) FROM singer"}
    for name, backend in backends.items():
        env = SqlEnv(Path("."), 10, backend=backend)
        env.reset(task)
        env.step(sql("SELECT count(*) FROM singer"))
        talk = env.step("I think I should submit now")  # a query to InterCode's env, not a submit
        assert not talk.done and talk.observation == (
            "Error executing query: You have an error in your SQL syntax; check the manual that corresponds to your "
            "MySQL server version for the right syntax to use near 'I think I should submit now' at line 1"), name
        env.step(sql("SELECT count(*) FROM singer"))
        assert env.step("submit").reward == 1.0, name
        ipr = SqlEnv(Path("."), 10, backend=backend, rules="ipr")
        ipr.reset(task)
        ipr.step(sql("SELECT count(*) FROM singer"))
        assert ipr.step("I think I should submit now").done, name  # IPR's fork: any "submit" submits


def test_gold_runs_in_the_session_database(backends):
    """InterCode runs the gold query on the agent's cursor: after USE, in the other database, where a
    failing gold query counts as no rows."""
    task = {"db": "concert_singer", "question": "q", "gold": "SELECT count(*) FROM singer"}
    for name, backend in backends.items():
        env = SqlEnv(Path("."), 10, backend=backend)
        env.reset(task)
        env.step(sql("SELECT count(*) FROM concert_singer.singer"))
        env.step(sql("USE world_1"))
        env.step(sql("SELECT count(*) FROM concert_singer.singer"))
        assert env.step("submit").reward == 0.0, name  # gold fails in world_1: [] vs [(6,)]
        env.reset(task)
        env.step(sql("USE world_1"))
        env.step(sql("SELECT Name FROM city WHERE Name = 'nowhere'"))
        assert env.step("submit").reward == 1.0, name  # [] vs [] (InterCode's corrupt-gold case)


def test_no_task_is_dropped_silently(tmp_path):
    tasks = json.loads(TASKS.read_text())
    broken = dict(next(t for t in tasks if t["db"] == "singer"), gold="SELECT nope FROM singer")
    small = tmp_path / "tasks.json"
    small.write_text(json.dumps([t for t in tasks if t["db"] in ("singer", "concert_singer")][:40] + [broken]))
    records = generate("intercode_sql", tmp_path / "assets", 0, source={"tasks": str(small), "dump": str(DUMP)},
                       test_databases=[broken["db"]])
    split = json.loads((tmp_path / "assets" / "split.json").read_text())
    assert split["test"]["gold_fails_count"] == 1 and split["test"]["gold_fails"][0]["error"] == (
        "Unknown column 'nope' in 'field list'")
    kept = [r for r in records["test"] if r["task"]["gold"] == broken["gold"]]
    assert len(kept) == 1 and kept[0]["reward"] == 0.0


def _rss_mb():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20


def test_memory_bomb_is_an_error_observation_and_the_worker_lives(backends):
    bombs = {"sqlite": ["SELECT zeroblob(500000000)", "SELECT " + ", ".join(["zeroblob(999999)"] * 300),
                        "SELECT zeroblob(900000) FROM city"],
             "mysql": ["SELECT REPEAT('x', 1000000) FROM city", "SELECT REPEAT(Name, 200000) FROM city"]}
    for name, backend in backends.items():
        before = _rss_mb()
        env = SqlEnv(Path("."), 50, backend=backend)
        env.reset({"db": "world_1", "question": "q", "gold": "SELECT 1"})
        for bomb in bombs[name]:
            assert env.step(sql(bomb)).observation == MEMORY_ERROR, (name, bomb)
            assert env.step(sql("SELECT count(*) FROM city")).observation == "[(4079,)]", (name, bomb)
        assert _rss_mb() - before < 200, name
