"""How repeatable MariaDB's rows are across fresh private servers, on InterCode's gold queries.

Starts --servers private MariaDB servers one after another, loads InterCode's dump into each, runs
every gold query and its reversed-ORDER-BY variant (ipr.envs.sql.fidelity.reversed_order), and
prints the queries whose result (rows in order) is not the same on every server: ties under
ORDER BY ... LIMIT kept differently. Data: $IPR_INTERCODE_DATA or ../shared/data/intercode_sql.
"""

import argparse
import os
import sys
from pathlib import Path

from ipr.envs.sql.backends import MysqlBackend, QueryError
from ipr.envs.sql.fidelity import reversed_order
from ipr.envs.sql.intercode import load_tasks
from ipr.envs.sql.mariadb import MariaDBServer

REPO = Path(__file__).resolve().parent.parent


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("IPR_INTERCODE_DATA", REPO.parent / "shared" / "data" / "intercode_sql"))
    p.add_argument("--tasks", type=Path, default=data / "ic_spider_dev.json")
    p.add_argument("--dump", type=Path, default=data / "ic_spider_dbs.sql")
    p.add_argument("--servers", type=int, default=3)
    args = p.parse_args()
    tasks = load_tasks(args.tasks)
    runs = []
    for _ in range(args.servers):
        with MariaDBServer() as server:
            server.load_dump(args.dump)
            backend = MysqlBackend(server.connection_settings(), server.databases)
            results = {}
            for task in tasks:
                for kind, query in (("gold", task["gold"]), ("reversed", reversed_order(task["gold"]))):
                    if query is None:
                        continue
                    try:
                        results[f"{task['source_index']}-{kind}"] = str(backend.execute(task["db"], query))
                    except QueryError as error:
                        results[f"{task['source_index']}-{kind}"] = str(error)
            runs.append(results)
    differ = [key for key in runs[0] if len({run[key] for run in runs}) > 1]
    print(f"{len(differ)} of {len(runs[0])} queries differ across {args.servers} fresh servers: {' '.join(differ)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
