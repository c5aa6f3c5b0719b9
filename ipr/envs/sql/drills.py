"""Copy drills for pretraining a from-scratch model: train questions with made-up values.

A real base model arrives able to copy a name or a number from its prompt into its answer; a tiny
model trained from scratch on a few hundred trajectories does not learn that, and instead writes the
values it memorised (it answers "students from Austin" with ``hometown = 'Seattle'``). A drill is a
train trajectory of a value template with its parameters replaced by made-up values (pseudo-words
and numbers that occur nowhere in the databases), up to and including the query: the schema turns
and their real observations stay, the result of a made-up value would be empty, so the drill stops
before it. Only train templates are used, so nothing of the test split (held-out templates, test
values) enters pretraining.
"""

from __future__ import annotations

import random

from ipr.react import parse_action
from ipr.envs.sql.generate import TEMPLATES, Template

# Parameters that are cell values (a template whose parameters are all here copies values);
# numbers get ranges wider than the data's, text gets pseudo-words.
NUMBER_RANGES = {"age": (10, 99), "year": (1900, 2099), "n": (1, 9), "price": (5, 500), "grade": (10, 99)}
TEXT_VALUES = {"author", "category", "city", "country", "course", "customer", "genre", "product", "stadium"}
SYLLABLES = ("ba", "cor", "dun", "el", "fen", "gar", "hol", "ix", "jun", "kel", "lom", "mer", "nax", "ob", "pru",
             "quin", "ros", "sul", "tor", "ur", "vel", "wyn", "xan", "yor", "zel")


def _copies_values(template: Template) -> bool:
    return all(name in NUMBER_RANGES or name in TEXT_VALUES for name in template.names)


def _made_up(rng: random.Random, name: str):
    if name in NUMBER_RANGES:
        return rng.randint(*NUMBER_RANGES[name])
    words = ("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))) for _ in range(rng.randint(1, 2)))
    return " ".join(word.capitalize() for word in words)


def _query_turn(messages: list[dict]) -> int:
    """Index of the expert's query: the last assistant turn whose action is not ``submit``."""
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"
             and (parse_action(m["content"]) or "").strip().lower() != "submit"]
    return turns[-1]


def copy_drills(records: list[dict], count: int, seed: int, question_only: bool = False) -> list[list[dict]]:
    """``count`` drill conversations (messages without the system header), cycling over the value
    templates present in the train ``records``; deterministic for ``seed``. ``question_only`` drills
    are the question and the query alone (no schema turns): about a fifth of the tokens, so many
    more copies fit in the same pretraining time."""
    skeletons: dict[str, dict] = {}
    for record in sorted(records, key=lambda r: r["task_id"]):
        skeletons.setdefault(record["task"].get("template"), record)
    templates = [t for t in TEMPLATES if t.name in skeletons and not t.held_out and _copies_values(t)]
    if count and not templates:
        return []
    rng = random.Random(f"{seed}:copy-drills:{'question-only' if question_only else 'full'}")
    drills = []
    for index in range(count):
        template = templates[index % len(templates)]
        params = {name: _made_up(rng, name) for name in template.names}
        skeleton = skeletons[template.name]["messages"]
        query = _query_turn(skeleton)
        thought = skeleton[query]["content"].split("\nAction:", 1)[0]
        schema_turns = [] if question_only else [dict(m) for m in skeleton[1:query]]
        drills.append([
            {"role": "user", "content": f"Database: {template.db}\nQuestion: "
                                        f"{rng.choice(template.wordings).format(**params)}"},
            *schema_turns,
            {"role": "assistant", "content": f"{thought}\nAction: ```sql\n{template.gold.format(**params)}\n```"},
        ])
    return drills
