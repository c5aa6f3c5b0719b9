"""What the InterCodeSQL tests share: the check that InterCode's data is there (intercode_data.py
says where) and one private MariaDB server loaded with its dump for the whole session."""

import shutil

import pytest
from intercode_data import DATA, DUMP, TASKS


@pytest.fixture
def intercode_data():
    """The data belongs to the test set-up: without it the tests fail rather than skip, so a wrong
    path cannot pass unnoticed."""
    if not (TASKS.is_file() and DUMP.is_file()):
        pytest.fail(f"InterCode data not found in {DATA} (set IPR_DATA)", pytrace=False)


@pytest.fixture(scope="session")
def mariadb():
    """A private MariaDB server with InterCode's dump loaded."""
    if not (shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")):
        pytest.skip("MariaDB is not installed (apt-get install mariadb-server; see system-packages.txt)")
    from ipr.envs.sql.mariadb import MariaDBServer

    server = MariaDBServer().start()
    try:
        server.load_dump(DUMP)
        yield server
    finally:
        server.stop()
