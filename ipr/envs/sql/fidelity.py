"""How faithfully the sqlite backend reproduces the mysql one on InterCode's real tasks.

For every task: does the gold query run on each backend; does the scripted expert reach reward 1.0;
and the InterCode reward of the gold query against itself and against three perturbed queries
(wrong column, missing row, reversed ORDER BY), on each backend. A task *agrees* when every reward
that applies to it is the same (within 0.01) on both backends; disagreements are classified.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ipr.envs.sql.backends import QueryError
from ipr.envs.sql.env import SqlEnv
from ipr.envs.sql.expert import run_expert
from ipr.envs.sql.reward import intercode_reward

PERTURBATIONS = ("self", "wrong_column", "missing_row", "reversed_order")
_FROM = re.compile(r"\bFROM\s+`?(\w+)`?(?:\s+(?:AS\s+)?(?!JOIN\b|WHERE\b|GROUP\b|ORDER\b|LIMIT\b|ON\b)(\w+))?", re.IGNORECASE)
_LIMIT = re.compile(r"\s+LIMIT\s+(\d+)\s*;?\s*$", re.IGNORECASE)


def _top_level(query: str, pattern: str) -> list[int]:
    """Start offsets of ``pattern`` (a keyword regex) outside parentheses and string literals."""
    hits, depth, i, quote = [], 0, 0, None
    regex = re.compile(pattern, re.IGNORECASE)
    while i < len(query):
        ch = query[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and regex.match(query, i) and (i == 0 or not query[i - 1].isalnum()):
            hits.append(i)
        i += 1
    return hits


def wrong_column(query: str, db_tables: dict) -> str | None:
    """The gold query selecting one column of its first FROM table that it does not select first."""
    froms = _top_level(query, r"FROM\b")
    if not query.lstrip().upper().startswith("SELECT") or not froms:
        return None
    match = _FROM.match(query, froms[0])
    if not match:
        return None
    table, alias = match.group(1), match.group(2)
    columns = next((cols for name, cols in db_tables.items() if name.lower() == table.lower()), None)
    if not columns:
        return None
    selected = query[:froms[0]].lower()
    for column in columns:
        if column.lower() not in selected:
            prefix = f"{alias or table}."
            return f"SELECT {prefix}{column} " + query[froms[0]:]
    return None


def missing_row(query: str, n_rows: int) -> str | None:
    """The gold query returning one row fewer: its final LIMIT lowered by one, or a LIMIT n-1 added."""
    if n_rows < 1:
        return None
    final = _top_level(query, r"LIMIT\s+\d+\s*;?\s*$")
    if final:
        k = int(re.search(r"\d+", query[final[-1]:]).group())
        return query[:final[-1]] + f"LIMIT {max(k - 1, 0)}"
    if _top_level(query, r"LIMIT\b"):
        return None
    return query.rstrip().rstrip(";") + f" LIMIT {n_rows - 1}"


def reversed_order(query: str) -> str | None:
    """The gold query with every top-level ORDER BY key's direction flipped (None without ORDER BY)."""
    orders = _top_level(query, r"ORDER\s+BY\b")
    if not orders:
        return None
    start = orders[-1]
    head = query[:start]
    clause = query[start:]
    limit = _LIMIT.search(clause)
    body, rest = (clause[:limit.start()], clause[limit.start():]) if limit else (clause.rstrip().rstrip(";"), "")
    keys_text = re.sub(r"^ORDER\s+BY\s+", "", body, flags=re.IGNORECASE)
    keys = [k.strip() for k in _split_commas(keys_text)]
    flipped = []
    for key in keys:
        if re.search(r"\s+DESC$", key, re.IGNORECASE):
            flipped.append(re.sub(r"\s+DESC$", " ASC", key, flags=re.IGNORECASE))
        elif re.search(r"\s+ASC$", key, re.IGNORECASE):
            flipped.append(re.sub(r"\s+ASC$", " DESC", key, flags=re.IGNORECASE))
        else:
            flipped.append(f"{key} DESC")
    return f"{head}ORDER BY {' , '.join(flipped)}{rest}"


def _split_commas(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _rows(backend, db: str, query: str):
    try:
        return backend.execute(db, query), None
    except QueryError as error:
        return None, str(error)


def perturbed_queries(task: dict, n_gold_rows: int, db_tables: dict) -> dict[str, str | None]:
    gold = task["gold"]
    return {"self": gold, "wrong_column": wrong_column(gold, db_tables),
            "missing_row": missing_row(gold, n_gold_rows), "reversed_order": reversed_order(gold)}


def measure(tasks: list[dict], db_tables: list[dict], backends: dict, max_turns: int = 10) -> dict:
    """Per-task and summary figures for ``backends`` (``{"sqlite": ..., "mysql": ...}``)."""
    names = list(backends)
    summary = {name: {"gold_runs": 0, "expert_success": 0} for name in names}
    applicable = Counter()
    agree = 0
    kinds: Counter = Counter()
    examples: dict[str, list] = {}
    envs = {name: SqlEnv(Path("."), max_turns, backend=backend) for name, backend in backends.items()}
    for task, tables in zip(tasks, db_tables):
        gold = {name: _rows(backend, task["db"], task["gold"]) for name, backend in backends.items()}
        for name in names:
            if gold[name][1] is None:
                summary[name]["gold_runs"] += 1
                summary[name]["expert_success"] += run_expert(envs[name], task)["reward"] == 1.0
        reference_rows = gold[names[0]][0]
        queries = perturbed_queries(task, len(reference_rows) if reference_rows is not None else 0, tables)
        task_kinds = []
        for kind, query in queries.items():
            if query is None:
                continue
            applicable[kind] += 1
            rewards, errors, results = {}, {}, {}
            for name, backend in backends.items():
                rows, error = _rows(backend, task["db"], query)
                errors[name], results[name] = error, rows
                rewards[name] = intercode_reward(rows, gold[name][0]) if error is None and gold[name][1] is None else 0.0
            if max(rewards.values()) - min(rewards.values()) > 0.01:
                task_kinds.append(_classify(kind, errors, gold, results))
        if not task_kinds:
            agree += 1
        for label in set(task_kinds):
            kinds[label] += 1
            examples.setdefault(label, []).append(task.get("source_index", task["gold"]))
    return {"tasks": len(tasks), "backends": summary, "applicable": dict(applicable), "agree": agree,
            "disagreement_kinds": dict(kinds.most_common()), "examples": {k: v[:10] for k, v in examples.items()}}


def _bag(rows) -> list[str]:
    return sorted(str(row) for row in rows)


def _classify(kind: str, errors: dict, gold: dict, results: dict) -> str:
    failing = [name for name, (_, error) in gold.items() if error is not None]
    if failing:
        return f"gold query fails on {'+'.join(failing)} only"
    failing = [name for name, error in errors.items() if error is not None]
    if failing:
        return f"{kind}: perturbed query fails on {'+'.join(failing)} only"
    golds = [rows for rows, _ in gold.values()]
    outs = list(results.values())
    if all(_bag(r) == _bag(golds[0]) for r in golds) and all(_bag(r) == _bag(outs[0]) for r in outs):
        return f"{kind}: same rows, different order (ties under ORDER BY/LIMIT, GROUP BY order)"
    if any(_bag(r) != _bag(golds[0]) for r in golds):
        return f"{kind}: gold results differ (values or tie-broken LIMIT rows)"
    return f"{kind}: perturbed results differ (values or tie-broken LIMIT rows)"
