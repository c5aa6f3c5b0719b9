"""A private MariaDB server for the ``mysql`` backend: start, health-check, load the dump, stop.

The server runs from a fresh data directory in a scratch folder, listens only on a Unix socket
(``--skip-networking``), uses ``lower_case_table_names=1`` like InterCode's docker image, and is
loaded from InterCode's MySQL dump. The agent connects as a read-only user (SELECT and SHOW VIEW on
the benchmark databases only, ``MAX_STATEMENT_TIME`` as a resource limit). Nothing here needs root;
when run as root, the server is told ``--user=root`` (mariadbd otherwise refuses to start).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

READONLY_USER = "ipr_ro"

# MySQL-8-only versioned comments and the dump's own admin user: dropped before loading.
_MYSQL8_COMMENT = re.compile(r"/\*!80\d{3}.*?\*/", re.DOTALL)
_ADMIN_STATEMENT = re.compile(r"^(?:CREATE USER|GRANT|FLUSH PRIVILEGES)\b[^;]*;[ \t]*$", re.MULTILINE | re.IGNORECASE)
_DATABASE = re.compile(r"^CREATE DATABASE\s+(?:IF NOT EXISTS\s+)?`(\w+)`", re.MULTILINE | re.IGNORECASE)


def mariadb_dump_text(dump_text: str) -> str:
    """InterCode's MySQL 8 dump, made loadable by MariaDB without touching its data."""
    return _ADMIN_STATEMENT.sub("", _MYSQL8_COMMENT.sub("", dump_text))


def dump_databases(dump_text: str) -> list[str]:
    """The database names a dump creates, in order."""
    return _DATABASE.findall(dump_text)


def _binary(*names: str) -> str:
    for name in names:
        for folder in (None, "/usr/sbin", "/usr/bin"):
            found = shutil.which(name, path=folder)
            if found:
                return found
    raise RuntimeError(f"MariaDB is not installed: none of {', '.join(names)} found (apt-get install mariadb-server)")


class MariaDBServer:
    """One private server. Use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self, workdir: str | Path | None = None, time_limit_s: float = 2.0):
        self._owned = workdir is None
        # Unix socket paths are limited to ~107 bytes: keep the scratch folder short.
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ipr-mdb-", dir="/tmp"))
        self.datadir = self.workdir / "data"
        self.socket = str(self.workdir / "mysqld.sock")
        self.time_limit_s = time_limit_s
        self.password = secrets.token_hex(8)
        self.databases: list[str] = []
        self._process: subprocess.Popen | None = None

    # -- life cycle ---------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> MariaDBServer:
        # A private tmpdir too: concurrent bootstraps in a shared /tmp collide on temporary table names.
        tmpdir = self.workdir / "tmp"
        tmpdir.mkdir(parents=True, exist_ok=True)
        user = ["--user=root"] if os.geteuid() == 0 else []
        log = self.workdir / "install.log"
        with open(log, "w") as out:
            code = subprocess.call(
                [_binary("mariadb-install-db", "mysql_install_db"), "--no-defaults", f"--datadir={self.datadir}",
                 "--auth-root-authentication-method=socket", "--skip-test-db", f"--tmpdir={tmpdir}", *user],
                stdout=out, stderr=subprocess.STDOUT)
        if code != 0:
            raise RuntimeError(f"mariadb-install-db failed (exit {code}); see {log}")
        self._process = subprocess.Popen(
            [_binary("mariadbd", "mysqld"), "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
             "--skip-networking", "--lower-case-table-names=1", f"--tmpdir={tmpdir}", f"--pid-file={self.workdir / 'mysqld.pid'}",
             f"--log-error={self.workdir / 'error.log'}", "--innodb-buffer-pool-size=64M", "--skip-log-bin",
             # Plans, and so the rows kept under ORDER BY ... LIMIT ties, follow the table statistics:
             # computed once from every page (ANALYZE in load_dump), never re-sampled in the background.
             "--innodb-stats-auto-recalc=OFF", "--innodb-stats-persistent-sample-pages=1000000",
             "--innodb-stats-transient-sample-pages=1000000",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci", *user],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_healthy(timeout_s)
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        import pymysql

        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self._process.returncode}; see {self.workdir / 'error.log'}")
            try:
                self.admin().close()
                return
            except pymysql.MySQLError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"mariadbd did not answer on {self.socket} within {timeout_s:.0f} s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._owned:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MariaDBServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- connections and loading --------------------------------------------------------
    def admin(self):
        import pymysql

        return pymysql.connect(unix_socket=self.socket, user="root", autocommit=True, connect_timeout=5)

    def load_dump(self, dump_path: str | Path) -> list[str]:
        """Load InterCode's dump with the ``mariadb`` client; create the read-only user; return the databases."""
        text = mariadb_dump_text(Path(dump_path).read_text(encoding="utf-8"))
        client = _binary("mariadb", "mysql")
        result = subprocess.run([client, "--no-defaults", f"--socket={self.socket}", "-uroot"],
                                input=text, text=True, capture_output=True)
        if result.returncode != 0:
            raise RuntimeError(f"loading {dump_path} into MariaDB failed: {result.stderr.strip()}")
        self.databases = [name.lower() for name in dump_databases(text)]
        self._analyze()
        self._create_readonly_user()
        return self.databases

    def _analyze(self) -> None:
        """Settle the optimizer statistics now: InnoDB recomputes them in the background after a bulk
        load, and a plan that changes mid-run breaks ties differently (the same query, other rows).
        FLUSH TABLES afterwards: without it the first run of a query after loading kept other tie rows
        than every later run (tasks 50, 100, 129 of ic_spider_dev)."""
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                for name in self.databases:
                    cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (name,))
                    tables = [f"`{name}`.`{row[0]}`" for row in cur.fetchall()]
                    if tables:
                        cur.execute(f"ANALYZE TABLE {', '.join(tables)}")
                        cur.fetchall()
                cur.execute("FLUSH TABLES")
        finally:
            conn.close()

    def _create_readonly_user(self) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP USER IF EXISTS '{READONLY_USER}'@'localhost'")
                cur.execute(f"CREATE USER '{READONLY_USER}'@'localhost' IDENTIFIED BY %s "
                            f"WITH MAX_STATEMENT_TIME {float(self.time_limit_s)}", (self.password,))
                for name in self.databases:
                    cur.execute(f"GRANT SELECT, SHOW VIEW ON `{name}`.* TO '{READONLY_USER}'@'localhost'")
        finally:
            conn.close()

    def connection_settings(self) -> dict:
        """What :class:`ipr.envs.sql.backends.MysqlBackend` needs to connect as the read-only user."""
        return {"socket": self.socket, "user": READONLY_USER, "password": self.password}
