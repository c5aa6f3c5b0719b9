"""What MySQL 8's default sql_mode (ONLY_FULL_GROUP_BY) would do on MariaDB to InterCode's gold queries.

Starts a private MariaDB server with InterCode's dump and runs every gold query under the server's
default sql_mode and under MySQL 8's default. With --trajectories (InterCode's recorded results, a
data/results/sql/*.json file), it also checks, for each gold query that only ONLY_FULL_GROUP_BY
rejects, whether InterCode's own run shows MySQL 8 accepting it: a recorded turn with reward 1.0
and a non-empty result is only possible when the gold query ran there (a failing gold query counts
as no rows). Data: $IPR_INTERCODE_DATA or ../shared/data/intercode_sql from the repository root.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from ipr.envs.sql.backends import MysqlBackend, QueryError
from ipr.envs.sql.intercode import load_tasks
from ipr.envs.sql.mariadb import MariaDBServer

REPO = Path(__file__).resolve().parent.parent
MYSQL8_SQL_MODE = ("ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                   "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION")


def failing(backend, tasks, rows: dict | None = None) -> dict[int, str]:
    out = {}
    for task in tasks:
        try:
            result = backend.execute(task["db"], task["gold"])
            if rows is not None:
                rows[task["source_index"]] = result
        except QueryError as error:
            out[task["source_index"]] = str(error)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("IPR_INTERCODE_DATA", REPO.parent / "shared" / "data" / "intercode_sql"))
    p.add_argument("--tasks", type=Path, default=data / "ic_spider_dev.json")
    p.add_argument("--dump", type=Path, default=data / "ic_spider_dbs.sql")
    p.add_argument("--trajectories", type=Path, help="InterCode's recorded results (a data/results/sql/*.json file)")
    args = p.parse_args()
    tasks = load_tasks(args.tasks)
    with MariaDBServer() as server:
        server.load_dump(args.dump)
        gold_rows = {}
        default = failing(MysqlBackend(server.connection_settings(), server.databases), tasks, gold_rows)
        strict = failing(MysqlBackend({**server.connection_settings(), "sql_mode": MYSQL8_SQL_MODE}, server.databases),
                         tasks)
    only_strict = sorted(set(strict) - set(default))
    print(f"gold queries failing on MariaDB: server default sql_mode {len(default)}, MySQL 8's default {len(strict)} "
          f"({len(only_strict)} only under ONLY_FULL_GROUP_BY)")
    if args.trajectories:
        recorded = json.loads(args.trajectories.read_text())
        accepted, rejected = [], []
        for index in only_strict:
            history = recorded.get(str(index), {}).get("turn_history", {})
            turns = list(zip(history.get("observations", []), history.get("rewards", [])))
            if any(r == 1 and o not in ("[]", "None") and not str(o).startswith("Error") for o, r in turns):
                accepted.append(index)
            elif gold_rows.get(index) and any(r == 1 and o == "[]" for o, r in turns):
                # [] scores 1.0 against a gold query with rows only when that query failed (no rows)
                rejected.append(index)
        print(f"of those {len(only_strict)}, InterCode's recorded run shows MySQL 8 running the gold query in "
              f"{len(accepted)} (a turn with reward 1.0 on a non-empty result) and rejecting it in {len(rejected)} "
              f"(reward 1.0 on an empty result); no evidence either way for {len(only_strict) - len(accepted) - len(rejected)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
