"""Copy drills: made-up values, train templates only, the question's values in the query."""

import re

import pytest

from ipr.react import parse_action
from ipr.envs import copy_drills, generate
from ipr.envs.sql import generate as sql_generate


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    return generate("sql_embedded", tmp_path_factory.mktemp("sql"), 0, train_per_template=2, test_per_template=2)


def test_drills_are_deterministic_and_cycle_over_train_value_templates(splits):
    drills = copy_drills("sql_embedded", splits["train"], 60, seed=0)
    assert len(drills) == 60
    assert drills == copy_drills("sql_embedded", splits["train"], 60, seed=0)
    assert drills != copy_drills("sql_embedded", splits["train"], 60, seed=1)
    train_templates = {r["task"]["template"] for r in splits["train"]}
    held_out = {t.name for t in sql_generate.TEMPLATES if t.held_out}
    used = set()
    for drill in drills:
        question = drill[0]["content"].split("Question: ", 1)[1]
        used |= {t.name for t in sql_generate.TEMPLATES if any(re.fullmatch(_pattern(w), question) for w in t.wordings)}
    assert used and used <= train_templates and not used & held_out


def _pattern(wording):
    """A regex for a template wording, each {param} matching any text."""
    parts = re.split(r"\{\w+\}", wording)
    return ".+".join(re.escape(p) for p in parts)


def test_drill_values_are_made_up_and_copied_into_the_query(splits):
    vocabulary = {str(v) for name in dir(sql_generate) if name.isupper()
                  for v in (getattr(sql_generate, name) if isinstance(getattr(sql_generate, name), tuple) else ())}
    for drill in copy_drills("sql_embedded", splits["train"], 40, seed=0):
        roles = [m["role"] for m in drill]
        assert roles[0] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles, roles[1:]))  # turns alternate
        query = parse_action(drill[-1]["content"])
        assert query.startswith("```sql\nSELECT") and query.endswith("```")
        quoted = re.findall(r"'([^']+)'", query)
        for value in quoted:  # every text value of the query is in the question and in no database
            assert value in drill[0]["content"]
            assert value not in vocabulary


def test_other_families_have_no_drills(splits):
    assert copy_drills("intercode_sql", splits["train"], 10, seed=0) == []


def test_question_only_drills_are_question_then_query(splits):
    full = copy_drills("sql_embedded", splits["train"], 20, seed=0)
    short = copy_drills("sql_embedded", splits["train"], 20, seed=0, question_only=True)
    assert all(len(d) == 2 and [m["role"] for m in d] == ["user", "assistant"] for d in short)
    assert all(len(d) > 2 for d in full)
    assert [d[0] for d in short] != [d[0] for d in full]  # their own values, not copies of the full drills
