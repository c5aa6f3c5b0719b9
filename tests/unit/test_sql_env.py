"""The embedded SQL environment, its scripted expert and the benchmark generator."""

import hashlib
import sqlite3
from pathlib import Path

import pytest

from ipr.envs import ENVS, generate, header, make_env
from ipr.envs.sql.env import INVALID_ACTION, NO_OUTPUT, SqlEnv, extract_query
from ipr.envs.sql.expert import expert_actions, run_expert
from ipr.records import validate

SETTINGS = {"train_per_template": 4, "test_per_template": 2}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("sql_a")
    return out, generate("sql_embedded", out, seed=0, **SETTINGS)


@pytest.fixture()
def env(bench):
    return SqlEnv(bench[0], max_turns=10, rules="embedded")


def _task(bench, template="singer_count_country", split="train"):
    return next(r["task"] for r in bench[1][split] if r["task"]["template"] == template)


def sql(query):
    return f"```sql\n{query}\n```"


def test_reset_returns_task_text(bench, env):
    task = _task(bench)
    text = env.reset(task)
    assert text == f"Database: {task['db']}\nQuestion: {task['question']}"


def test_show_tables_and_desc(bench, env):
    env.reset(_task(bench))
    result = env.step(sql("SHOW TABLES"))
    assert result.observation == "[('concert',), ('singer',), ('singer_in_concert',), ('stadium',)]"
    assert not result.done and result.reward == 0.0
    desc = env.step(sql("desc singer;")).observation
    assert desc.startswith("[('singer_id', 'int', 'NO', 'PRI', None, ''), ('name', 'text', 'YES', '', None, '')")
    assert "('stadium_id', 'int', 'YES', 'MUL', None, '')" in env.step(sql("DESCRIBE concert")).observation
    assert env.step(sql("DESC nosuch")).observation.startswith("Error executing query:")


def test_query_error_no_output_truncation(bench, env):
    env.reset(_task(bench))
    assert env.step(sql("SELECT COUNT(*) FROM singer")).observation == "[(60,)]"
    assert env.step(sql("SELECT FROM")).observation.startswith("Error executing query: ")
    assert env.step(sql("SELECT name FROM singer WHERE age > 1000")).observation == NO_OUTPUT
    long = env.step(sql("SELECT name, country FROM singer")).observation
    assert len(long) == 353 and long.endswith("...")
    # case-insensitive text comparison (COLLATE NOCASE, like MySQL)
    upper = env.step(sql("SELECT COUNT(*) FROM singer WHERE country = 'FRANCE'")).observation
    lower = env.step(sql("SELECT COUNT(*) FROM singer WHERE country = 'france'")).observation
    assert upper == lower


def test_first_line_of_fence_and_raw_text():
    assert extract_query("```sql\nSELECT 1\nSELECT 2\n```") == "SELECT 1"
    assert extract_query("SELECT 3\nmore") == "SELECT 3"
    assert extract_query("```sql SELECT 4```") == "SELECT 4"


def test_use_database(bench, env):
    env.reset(_task(bench))
    assert env.step(sql("USE library")).observation == NO_OUTPUT
    assert env.step(sql("SHOW TABLES")).observation == "[('book',), ('loan',), ('member',)]"
    assert env.step(sql("USE nowhere")).observation.startswith("Error executing query:")


def test_submit_rewards(bench, env):
    task = _task(bench)
    env.reset(task)
    env.step(sql(task["gold"]))
    result = env.step("Submit now")
    assert result.done and result.reward == 1.0 and result.success
    # an error as the last observation gives 0
    env.reset(task)
    env.step(sql(task["gold"]))
    env.step(sql("SELECT nope FROM singer"))
    result = env.step("submit")
    assert result.done and result.reward == 0.0 and not result.success
    # no query at all gives 0
    env.reset(task)
    assert env.step("submit").reward == 0.0
    # a wrong answer gives partial or zero credit
    env.reset(task)
    env.step(sql("SELECT COUNT(*) + 1000 FROM singer"))
    assert env.step("submit").reward == 0.0


def test_invalid_action(bench, env):
    env.reset(_task(bench))
    result = env.step(None)
    assert result.observation == INVALID_ACTION and not result.done
    assert env.step("```sql\n\n```").observation == INVALID_ACTION


def test_max_turns(bench):
    env = SqlEnv(bench[0], max_turns=3, rules="embedded")
    task = _task(bench)
    env.reset(task)
    assert not env.step(sql(task["gold"])).done
    assert not env.step(sql(task["gold"])).done
    result = env.step(sql(task["gold"]))
    assert result.done and result.reward == 0.0 and not result.success
    assert env.step("submit").done


@pytest.mark.parametrize("statement", [
    "INSERT INTO singer VALUES (999, 'X', 'Y', 1)",
    "DROP TABLE singer",
    "UPDATE singer SET age = 0",
    "DELETE FROM singer",
    "CREATE TABLE t (a INT)",
    "ATTACH DATABASE 'x.sqlite' AS x",
    "PRAGMA writable_schema = 1",
])
def test_writes_are_impossible(bench, env, statement):
    path = bench[0] / "dbs" / "concert_singer.sqlite"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    env.reset(_task(bench))
    assert env.step(sql(statement)).observation.startswith("Error executing query:")
    assert env.step(sql("SELECT COUNT(*) FROM singer")).observation == "[(60,)]"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_runaway_query_is_interrupted(bench, env):
    env.reset(_task(bench))
    query = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"
    assert env.step(sql(query)).observation.startswith("Error executing query:")


def test_row_limit(bench, env):
    env.reset(_task(bench))
    query = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 20000) SELECT x FROM c"
    observation = env.step(sql(query)).observation
    assert observation.startswith("Error executing query:") and "row limit" in observation
    assert env.snapshot().last_rows is None


def test_snapshot_restore_matches_replay(bench):
    task = _task(bench, "concerts_at_stadium")
    actions = [a for _, a in expert_actions(task)]
    env = SqlEnv(bench[0], max_turns=10, rules="embedded")
    env.reset(task)
    env.step(actions[0])
    snap = env.snapshot()
    branch = [env.step(a) for a in actions[1:]]
    other = SqlEnv(bench[0], max_turns=10, rules="embedded")
    other.reset(_task(bench, "books_by_author"))
    other.step(sql("SELECT 1"))
    other.restore(snap)
    restored = [other.step(a) for a in actions[1:]]
    replay_env = SqlEnv(bench[0], max_turns=10, rules="embedded")
    replay_env.reset(task)
    replay = [replay_env.step(a) for a in actions]
    assert restored == branch == replay[1:]
    assert restored[-1].reward == 1.0
    # restoring a snapshot taken before a wrong query undoes it
    env.restore(snap)
    env.step(sql("SELECT 1"))
    env.restore(snap)
    assert env.step("submit").reward == 0.0  # the SHOW TABLES rows are not the answer


def test_expert_gets_full_reward_everywhere(bench):
    env = SqlEnv(bench[0], max_turns=10, rules="embedded")
    for split in ("train", "test"):
        for record in bench[1][split]:
            validate(record, "trajectory")
            assert record["reward"] == 1.0 and record["success"]
            played = run_expert(env, record["task"])
            assert played["reward"] == 1.0 and played["messages"] == record["messages"]
            assert 3 <= record["steps"] <= 5
            messages = record["messages"]
            assert messages[0]["role"] == "user" and messages[-1]["role"] == "assistant"
            assert messages[-1]["content"].endswith("Action: submit")
            assert all(m["content"].startswith("Observation: ") for m in messages[2::2])
            assert not any("Observation: Observation:" in m["content"] for m in messages)


def test_splits(bench):
    records = bench[1]
    train_ids = {r["id"] for r in records["train"]}
    test_ids = {r["id"] for r in records["test"]}
    assert not train_ids & test_ids
    assert all(r["id"] == r["task_id"] and r["split"] == s for s in records for r in records[s])
    train_templates = {r["task"]["template"] for r in records["train"]}
    held_out = [r for r in records["test"] if r["task"]["template"] not in train_templates]
    assert 0.15 <= len(held_out) / len(records["test"]) <= 0.35  # 6 of 29 templates are held out
    train_questions = {r["task"]["question"] for r in records["train"]}
    assert not any(r["task"]["question"] in train_questions for r in records["test"])
    assert {r["task"]["hardness"] for r in records["test"]} == {"easy", "medium", "hard"}


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_generation_is_deterministic(bench, tmp_path):
    again = generate("sql_embedded", tmp_path, seed=0, **SETTINGS)
    assert again == bench[1]
    for path in sorted((bench[0] / "dbs").glob("*.sqlite")):
        copy = tmp_path / "dbs" / path.name
        assert _dump(copy) == _dump(path)
        assert copy.read_bytes() == path.read_bytes()
    other_seed = generate("sql_embedded", tmp_path / "s1", seed=1, **SETTINGS)
    assert other_seed["train"] != bench[1]["train"]


def test_registry(bench):
    assert ENVS == ("sql_embedded", "intercode_sql", "webshop", "alfworld", "alfworld_real")
    assert isinstance(make_env("sql_embedded", bench[0], 10), SqlEnv)
    text = header("sql_embedded")
    assert "Example:" in text and "Action: submit" in text and len(text.split()) < 160
    test_dbs = {r["task"]["db"] for r in bench[1]["test"]}
    assert not any(f"Database: {db}" in text for db in test_dbs)
    for call in (lambda: make_env("nope", bench[0], 3), lambda: header("nope"),
                 lambda: generate("nope", bench[0], 0)):
        with pytest.raises(ValueError, match="sql_embedded"):
            call()


def test_the_registry_names_each_family_once_and_refuses_others_in_one_line():
    from ipr.envs import FAMILIES, family

    assert tuple(FAMILIES) == ENVS and all(FAMILIES[name].name == name for name in ENVS)
    assert family("intercode_sql").header() == family("sql_embedded").header() == header("sql_embedded")
    with pytest.raises(ValueError, match=r"^unknown environment 'sql'; known: sql_embedded, intercode_sql, "):
        make_env("sql", ".", 3)
