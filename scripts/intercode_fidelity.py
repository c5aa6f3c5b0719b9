"""Gold-query coverage, expert success and sqlite-vs-mysql reward fidelity on InterCode's real tasks.

Converts the dump to SQLite, starts a private MariaDB server loaded from the same dump, and prints
(and with --out writes as JSON) the figures of ipr.envs.sql.fidelity.measure. Needs MariaDB
(apt-get install mariadb-server) and the data (default: $IPR_INTERCODE_DATA or
/work/shared/data/intercode_sql).
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from ipr.envs.sql.backends import MysqlBackend, SqliteBackend
from ipr.envs.sql.dump import convert_dump
from ipr.envs.sql.fidelity import PERTURBATIONS, measure
from ipr.envs.sql.intercode import load_tasks
from ipr.envs.sql.mariadb import MariaDBServer
from ipr.records import write_json


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("IPR_INTERCODE_DATA", "/work/shared/data/intercode_sql"))
    p.add_argument("--tasks", type=Path, default=data / "ic_spider_dev.json")
    p.add_argument("--dump", type=Path, default=data / "ic_spider_dbs.sql")
    p.add_argument("--limit", type=int, default=None, help="first N tasks only")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = p.parse_args()
    tasks = load_tasks(args.tasks)[: args.limit]
    raw = json.loads(args.tasks.read_text())
    tables = [raw[t["source_index"]].get("db_tables", {}) for t in tasks]
    with tempfile.TemporaryDirectory(prefix="ipr-fid-") as scratch:
        start = time.monotonic()
        convert_dump(args.dump, Path(scratch) / "dbs")
        converted = time.monotonic()
        with MariaDBServer() as server:
            started = time.monotonic()
            server.load_dump(args.dump)
            loaded = time.monotonic()
            backends = {"sqlite": SqliteBackend(Path(scratch) / "dbs"),
                        "mysql": MysqlBackend(server.connection_settings(), server.databases)}
            result = measure(tasks, tables, backends)
            measured = time.monotonic()
    result["seconds"] = {"convert_dump": round(converted - start, 2), "start_mariadb": round(started - converted, 2),
                         "load_dump": round(loaded - started, 2), "measure": round(measured - loaded, 2)}
    n = result["tasks"]
    print(f"tasks: {n}")
    for name, figures in result["backends"].items():
        print(f"{name}: gold query runs {figures['gold_runs']}/{n} ({100 * figures['gold_runs'] / n:.1f}%), "
              f"expert reward 1.0 {figures['expert_success']}/{n} ({100 * figures['expert_success'] / n:.1f}%)")
    print("perturbations applicable: " + ", ".join(f"{k} {result['applicable'].get(k, 0)}" for k in PERTURBATIONS))
    print(f"rewards agree sqlite vs mysql on {result['agree']}/{n} tasks ({100 * result['agree'] / n:.1f}%)")
    for kind, count in result["disagreement_kinds"].items():
        print(f"  {count:4d}  {kind}   e.g. tasks {result['examples'][kind]}")
    print("seconds: " + ", ".join(f"{k} {v}" for k, v in result["seconds"].items()))
    if args.out:
        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
