"""Where the InterCodeSQL tests find InterCode's Spider-dev tasks and MySQL dump: $IPR_INTERCODE_DATA,
else ../shared/data/intercode_sql beside the repository."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("IPR_INTERCODE_DATA", REPO.parent / "shared" / "data" / "intercode_sql"))
TASKS = DATA / "ic_spider_dev.json"
DUMP = DATA / "ic_spider_dbs.sql"
