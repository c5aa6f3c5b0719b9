"""Gold-query coverage, expert success and sqlite-vs-mysql fidelity on InterCode's real tasks.

Converts the dump to SQLite, starts a private MariaDB server loaded from the same dump, and prints
(and with --out writes as JSON):

* the figures of ipr.envs.sql.fidelity.measure (gold queries, expert, perturbed-query rewards);
* turn by turn, on every task: the scripted expert's episode and, with --trajectories, the agent
  episode InterCode recorded for that task (its results file, e.g. ic_sql_multiturn_gpt-4_10_turns.json
  from princeton-nlp/intercode data/results/sql/), replayed on both backends. For each episode:
  do the observations agree between the backends (per turn), and does the final reward (the last
  result scored, as InterCode's harness scores each turn) agree; for the recorded episodes, also how
  often each backend reproduces InterCode's recorded observation and reward.

The replay uses only SqlEnv's reset/step/snapshot/restore, so the same script measures an older
checkout (PYTHONPATH=<checkout>). Needs MariaDB (apt-get install mariadb-server) and the data
(default: $IPR_INTERCODE_DATA or ../shared/data/intercode_sql from the repository root).
"""

import argparse
import inspect
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from ipr.envs.sql.backends import MysqlBackend, SqliteBackend
from ipr.envs.sql.dump import convert_dump
from ipr.envs.sql.env import OBS_LIMIT, SqlEnv
from ipr.envs.sql.expert import expert_actions
from ipr.envs.sql.fidelity import PERTURBATIONS, measure
from ipr.envs.sql.intercode import load_tasks
from ipr.envs.sql.mariadb import MariaDBServer
from ipr.records import write_json

REPO = Path(__file__).resolve().parent.parent


def _sql(query: str) -> str:
    return f"```sql\n{query}\n```"


def _env(backend, max_turns: int, rules: str | None) -> SqlEnv:
    if rules and "rules" in inspect.signature(SqlEnv).parameters:
        return SqlEnv(Path("."), max_turns, backend=backend, rules=rules)
    return SqlEnv(Path("."), max_turns, backend=backend)


def _score_now(env: SqlEnv) -> float:
    """The reward a submit would give now, without ending the episode (InterCode scores every turn)."""
    snapshot = env.snapshot()
    reward = env.step("submit").reward
    env.restore(snapshot)
    return float(reward)


def _play(env: SqlEnv, task: dict, actions: list[str]) -> tuple[list[str], list[float]]:
    """Observations and per-turn scores of ``actions`` (the turn limit is never reached here)."""
    try:
        env.reset(task)
    except Exception:  # noqa: BLE001 - an older checkout refuses a task whose gold query fails
        return [], [0.0]
    observations, scores = [], []
    for action in actions:
        result = env.step(action)
        observations.append(result.observation)
        scores.append(float(result.reward) if result.done else _score_now(env))
        if result.done:
            break
    return observations, scores


def _env_turn(action, observation) -> bool:
    """A recorded turn that reached InterCode's env (not a policy retry message or a skip)."""
    if not isinstance(action, str) or action in ("skip", "blocked") or not isinstance(observation, str):
        return False
    return observation.startswith(("Error executing query", "[", "None")) or observation == ""


def _reference_text(observation: str) -> str:
    return observation[:OBS_LIMIT] + "..." if len(observation) > OBS_LIMIT else observation


def replay(tasks: list[dict], backends: dict, trajectories: dict | None, rules: str | None, max_turns: int) -> dict:
    names = list(backends)
    envs = {name: _env(backend, max(max_turns, 50), rules) for name, backend in backends.items()}
    figures, differences = {}, {}
    episodes = {"expert": [(task, [_sql(a) if a != "submit" else a for _, a in expert_actions(task)], None)
                           for task in tasks]}
    if trajectories is not None:
        recorded = []
        for task in tasks:
            episode = trajectories.get(str(task["source_index"]))
            if episode is None:
                continue
            history = episode["turn_history"]
            turns = [(a, o, r) for a, o, r in zip(history["actions"], history["observations"], history["rewards"])
                     if _env_turn(a, o)]
            if turns:
                recorded.append((task, [_sql(a) for a, _, _ in turns], turns))
        episodes["recorded"] = recorded
    for kind, items in episodes.items():
        turns = turns_agree = rewards_agree = 0
        reference = {name: {"turns": 0, "observation_agree": 0, "final_reward_agree": 0} for name in names}
        for task, actions, recorded_turns in items:
            played = {name: _play(envs[name], task, actions) for name in names}
            observations = [played[name][0] for name in names]
            n = min(len(o) for o in observations)
            turns += n
            turns_agree += sum(len({o[i] for o in observations}) == 1 for i in range(n))
            for i in range(n):
                reference_text = _reference_text(recorded_turns[i][1]) if recorded_turns else None
                if len({o[i] for o in observations} | ({reference_text} if reference_text else set())) > 1 \
                        and len(differences.setdefault(kind, [])) < 400:
                    differences[kind].append({"task": task["source_index"], "action": actions[i],
                                              **{name: o[i] for name, o in zip(names, observations)},
                                              "reference": reference_text})
            finals = [played[name][1][-1] for name in names]
            rewards_agree += max(finals) - min(finals) <= 0.01
            if recorded_turns:
                for name in names:
                    obs, scores = played[name]
                    ref = reference[name]
                    ref["turns"] += len(recorded_turns)
                    ref["observation_agree"] += sum(o == _reference_text(r[1]) for o, r in zip(obs, recorded_turns))
                    ref["final_reward_agree"] += abs(scores[-1] - float(recorded_turns[-1][2])) <= 0.01
        figures[kind] = {"episodes": len(items), "turns": turns, "observation_agree": turns_agree,
                         "final_reward_agree": rewards_agree}
        if kind == "recorded":
            figures[kind]["vs_reference"] = reference
        figures[kind]["differences"] = differences.get(kind, [])
    return figures


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("IPR_INTERCODE_DATA", REPO.parent / "shared" / "data" / "intercode_sql"))
    p.add_argument("--tasks", type=Path, default=data / "ic_spider_dev.json")
    p.add_argument("--dump", type=Path, default=data / "ic_spider_dbs.sql")
    p.add_argument("--trajectories", type=Path, help="InterCode's recorded results (a data/results/sql/*.json file)")
    p.add_argument("--rules", default="intercode", help="episode rules (intercode, ipr; ignored by checkouts without them)")
    p.add_argument("--sql-mode", default=None, help="session sql_mode on MariaDB (default: the server's)")
    p.add_argument("--max-turns", type=int, default=10)
    p.add_argument("--limit", type=int, default=None, help="first N tasks only")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = p.parse_args()
    tasks = load_tasks(args.tasks)[: args.limit]
    raw = json.loads(args.tasks.read_text())
    tables = [raw[t["source_index"]].get("db_tables", {}) for t in tasks]
    trajectories = json.loads(args.trajectories.read_text()) if args.trajectories else None
    sqlite_kwargs = {"mysql_semantics": True} if "mysql_semantics" in inspect.signature(SqliteBackend).parameters else {}
    with tempfile.TemporaryDirectory(prefix="ipr-fid-") as scratch:
        start = time.monotonic()
        convert_dump(args.dump, Path(scratch) / "dbs")
        converted = time.monotonic()
        with MariaDBServer() as server:
            started = time.monotonic()
            server.load_dump(args.dump)
            loaded = time.monotonic()
            settings = server.connection_settings()
            if args.sql_mode is not None:
                settings["sql_mode"] = args.sql_mode
            backends = {"sqlite": SqliteBackend(Path(scratch) / "dbs", **sqlite_kwargs),
                        "mysql": MysqlBackend(settings, server.databases)}
            result = measure(tasks, tables, backends)
            measured = time.monotonic()
            result["episodes"] = replay(tasks, backends, trajectories, args.rules, args.max_turns)
            replayed = time.monotonic()
    result["seconds"] = {"convert_dump": round(converted - start, 2), "start_mariadb": round(started - converted, 2),
                         "load_dump": round(loaded - started, 2), "measure": round(measured - loaded, 2),
                         "replay": round(replayed - measured, 2)}
    n = result["tasks"]
    print(f"tasks: {n}")
    for name, figures in result["backends"].items():
        print(f"{name}: gold query runs {figures['gold_runs']}/{n} ({100 * figures['gold_runs'] / n:.1f}%), "
              f"expert reward 1.0 {figures['expert_success']}/{n} ({100 * figures['expert_success'] / n:.1f}%)")
    print("perturbations applicable: " + ", ".join(f"{k} {result['applicable'].get(k, 0)}" for k in PERTURBATIONS))
    print(f"perturbed-query rewards agree sqlite vs mysql on {result['agree']}/{n} tasks ({100 * result['agree'] / n:.1f}%)")
    for kind, count in result["disagreement_kinds"].items():
        print(f"  {count:4d}  {kind}   e.g. tasks {result['examples'][kind]}")
    for kind, f in result["episodes"].items():
        print(f"{kind} episodes: {f['episodes']}; observations agree sqlite vs mysql on {f['observation_agree']}/{f['turns']} "
              f"turns ({100 * f['observation_agree'] / max(f['turns'], 1):.1f}%); final reward agrees on "
              f"{f['final_reward_agree']}/{f['episodes']} ({100 * f['final_reward_agree'] / max(f['episodes'], 1):.1f}%)")
        for name, ref in f.get("vs_reference", {}).items():
            print(f"  {name} vs InterCode's recorded run: observations {ref['observation_agree']}/{ref['turns']} "
                  f"({100 * ref['observation_agree'] / max(ref['turns'], 1):.1f}%), final reward "
                  f"{ref['final_reward_agree']}/{f['episodes']} ({100 * ref['final_reward_agree'] / max(f['episodes'], 1):.1f}%)")
    print("seconds: " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))
    if args.out:
        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
