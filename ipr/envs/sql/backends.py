"""SQL execution backends behind one interface, with the sandbox each one needs.

A backend answers four questions for :class:`ipr.envs.sql.env.SqlEnv`: does a database exist, its
``SHOW TABLES`` rows, its ``DESC <table>`` rows, and the rows of one read-only query. Failures raise
:class:`QueryError`, whose text becomes ``Error executing query: <text>``.

Sandbox, on every backend: a statement that would write, drop, attach or change settings fails and
changes nothing; each statement has a time limit; a result with more than ``ROW_LIMIT`` rows, or
whose values take more than ``RESULT_BYTES_LIMIT`` bytes, is an error (so neither a runaway cross
join nor a memory bomb such as ``SELECT zeroblob(500000000)`` can take the worker down); no state
survives from one episode to the next.

* :class:`SqliteBackend`: read-only SQLite files (``mode=ro`` URI + an authorizer that allows only
  reads + a progress-handler deadline), with a ``utf8mb4_general_ci`` collation registered for the
  text columns of converted MySQL dumps (case- and accent-insensitive, trailing spaces ignored). ``SHOW TABLES``/``DESC`` come from a ``<db>.mysql.json``
  sidecar written by :mod:`ipr.envs.sql.dump` when present, else from SQLite's own schema. Memory:
  no string or blob over ``VALUE_BYTES_LIMIT`` bytes (``SQLITE_LIMIT_LENGTH``), SQLite's heap capped
  at ``SQLITE_HEAP_LIMIT`` bytes (``hard_heap_limit``), and the result's bytes counted as it is read.
  With ``mysql_semantics`` (InterCode's dump), :mod:`ipr.envs.sql.mysql_compat` adds MySQL's
  functions, error texts and result types.
* :class:`MysqlBackend`: a MySQL-compatible server reached as a read-only user (SELECT/SHOW VIEW
  grants only), ``max_statement_time``, ``max_session_mem_used`` and ``sql_select_limit`` per
  session, rows read one at a time with their bytes counted (an unbuffered cursor), and a statement guard
  that rejects everything but SELECT/WITH/SHOW/DESC/EXPLAIN and user-variable assignments (the only
  session state a read-only user could otherwise leave behind); text that starts with no statement
  word at all goes to the server, which answers with MySQL's syntax error as InterCode shows it.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ipr.records import config_from
from ipr.records import help_field as _help

TIME_LIMIT_S = 2.0
ROW_LIMIT = 10_000  # InterCode has no cap; the largest gold result on Spider-dev has 1,860 rows
# The largest value in InterCode's Spider-dev dump is a few kB and the largest gold result under 100 kB.
VALUE_BYTES_LIMIT = 1_000_000  # one string or blob (SQLite's SQLITE_LIMIT_LENGTH)
RESULT_BYTES_LIMIT = 16 * 2**20  # the values of one result, counted as they are read
SQLITE_HEAP_LIMIT = 256 * 2**20  # SQLite's own allocations, process-wide (PRAGMA hard_heap_limit)
SERVER_MEMORY_LIMIT = 256 * 2**20  # MariaDB's max_session_mem_used for the agent's session


class QueryError(Exception):
    """A query failed; ``str(error)`` is the message after ``Error executing query: ``."""


def row_limit_error() -> QueryError:
    return QueryError(f"the result has more than {ROW_LIMIT} rows (row limit); add a LIMIT or aggregate")


def memory_limit_error() -> QueryError:
    return QueryError(f"the result needs more than {RESULT_BYTES_LIMIT // 2**20} MB (memory limit); "
                      "select fewer or shorter values")


def value_bytes(value: Any) -> int:
    """The size a result value is counted at: its length for text and bytes, 8 for anything else."""
    return len(value) if isinstance(value, (str, bytes, bytearray)) else 8


# -- sqlite --------------------------------------------------------------------------------
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


def _authorizer(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


GENERAL_CI = "utf8mb4_general_ci"


@lru_cache(maxsize=65536)
def _general_ci_key(text: str) -> str:
    """MySQL's utf8mb4_general_ci, approximately: accents and case folded, trailing spaces ignored (PAD SPACE)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().rstrip(" ")


def general_ci(a: str, b: str) -> int:
    """SQLite collation ``utf8mb4_general_ci`` (declared on the text columns of converted dumps)."""
    ka, kb = _general_ci_key(a), _general_ci_key(b)
    return (ka > kb) - (ka < kb)


def _mysql_type(declared: str) -> str:
    declared = declared.upper()
    if "INT" in declared:
        return "int"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "double"
    return "text"


_HEAP_LIMIT_SET = False


def _limit_sqlite_heap(conn) -> None:
    """Cap SQLite's heap once per process, unless something else already set a tighter cap."""
    global _HEAP_LIMIT_SET
    if _HEAP_LIMIT_SET:
        return
    current = conn.execute("PRAGMA hard_heap_limit").fetchone()[0]
    if current == 0 or current > SQLITE_HEAP_LIMIT:
        conn.execute(f"PRAGMA hard_heap_limit = {SQLITE_HEAP_LIMIT}")
    _HEAP_LIMIT_SET = True


class _SqliteDatabase:
    """One read-only connection plus the schema facts the MySQL shims need (read once)."""

    def __init__(self, path: Path, mysql_semantics: bool = False):
        self.path = path
        self.mysql_semantics = mysql_semantics
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        conn.create_collation(GENERAL_CI, general_ci)
        # SQLite 3.40's automatic partial indexes ignore a column's custom collation in their WHERE
        # (Spider task 73: 0 rows instead of 1); the databases are small enough to go without them.
        conn.execute("PRAGMA automatic_index = OFF")
        _limit_sqlite_heap(conn)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, VALUE_BYTES_LIMIT)
        sidecar = path.with_suffix(".mysql.json")
        if sidecar.is_file():
            schema = json.loads(sidecar.read_text())
            self.table_rows = [(name,) for name in schema["tables"]]
            self.desc = {table: [tuple(row) for row in rows] for table, rows in schema["desc"].items()}
        else:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            self.desc = {}
            for name in names:
                foreign = {r[3] for r in conn.execute(f"PRAGMA foreign_key_list('{name}')")}
                rows = []
                for _, column, declared, notnull, default, pk in conn.execute(f"PRAGMA table_info('{name}')"):
                    key = "PRI" if pk else ("MUL" if column in foreign else "")
                    null = "NO" if (notnull or pk) else "YES"
                    rows.append((column, _mysql_type(declared), null, key, default, ""))
                self.desc[name.lower()] = rows
            self.table_rows = [(name,) for name in names]
        self.types = None
        if mysql_semantics:
            from ipr.envs.sql import mysql_compat

            mysql_compat.register_functions(conn, lambda: path.stem)
            self.types = mysql_compat.ResultTypes(self.desc)
        self._deadline = 0.0
        conn.set_progress_handler(self._check_time, 1000)
        conn.set_authorizer(_authorizer)
        self.conn = conn

    def _check_time(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def _error(self, message: str, query: str) -> QueryError:
        if self.mysql_semantics:
            from ipr.envs.sql.mysql_compat import mysql_error

            message = mysql_error(message, query, self.path.stem)
        return QueryError(message)

    def execute(self, query: str) -> tuple:
        if self.mysql_semantics:
            from ipr.envs.sql.mysql_compat import rewrite_query

            query = rewrite_query(query)
        self._deadline = time.monotonic() + TIME_LIMIT_S
        cursor = self.conn.cursor()
        rows, size = [], 0
        try:
            cursor.execute(query)
            if cursor.description is None:
                return ()
            width = len(cursor.description)
            while len(rows) <= ROW_LIMIT:
                batch = cursor.fetchmany(64)
                if not batch:
                    break
                for row in batch:
                    size += sum(value_bytes(value) for value in row)
                if size > RESULT_BYTES_LIMIT:
                    raise memory_limit_error()
                rows.extend(batch)
        except MemoryError:  # SQLite's heap limit (SQLITE_NOMEM) surfaces as Python's MemoryError
            raise memory_limit_error() from None
        except sqlite3.OperationalError as error:
            if str(error) == "interrupted":
                raise QueryError(f"query interrupted after the {TIME_LIMIT_S:g} s time limit") from None
            raise self._error(str(error), query) from None
        except sqlite3.DataError as error:
            if "too big" in str(error):  # a value over SQLITE_LIMIT_LENGTH
                raise memory_limit_error() from None
            raise self._error(str(error), query) from None
        except sqlite3.Error as error:
            raise self._error(str(error), query) from None
        finally:
            cursor.close()
        if len(rows) > ROW_LIMIT:
            raise row_limit_error()
        if self.types is not None:
            converters = self.types.converters(query, width)
            if converters and any(converters):
                return tuple(tuple(value if convert is None else convert(value) for value, convert in zip(row, converters))
                             for row in rows)
        return tuple(tuple(row) for row in rows)


_SQLITE: dict[tuple, _SqliteDatabase] = {}


class SqliteBackend:
    """The SQLite files ``<dbs_dir>/<db>.sqlite``; connections are cached per process and file version.

    ``mysql_semantics``: answer as InterCode's MySQL 8 does (functions, error texts, result types;
    :mod:`ipr.envs.sql.mysql_compat`): on for InterCode's converted dump, off for the embedded benchmark.
    """

    name = "sqlite"

    def __init__(self, dbs_dir: str | Path, mysql_semantics: bool = False):
        self.dbs_dir = Path(dbs_dir)
        self.mysql_semantics = bool(mysql_semantics)

    def _file(self, db: str) -> Path:
        """The database file; names are case-insensitive like MySQL with lower_case_table_names=1."""
        path = self.dbs_dir / f"{db}.sqlite"
        return path if path.is_file() else self.dbs_dir / f"{db.lower()}.sqlite"

    def _database(self, db: str) -> _SqliteDatabase:
        path = self._file(db).resolve()
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise QueryError(f"Unknown database '{db}'") from None
        key = (os.getpid(), str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size, self.mysql_semantics)
        database = _SQLITE.get(key)
        if database is None:
            database = _SQLITE[key] = _SqliteDatabase(path, self.mysql_semantics)
        return database

    def has_database(self, db: str) -> bool:
        return bool(re.fullmatch(r"\w+", db)) and self._file(db).is_file()

    def show_tables(self, db: str) -> tuple:
        return tuple(self._database(db).table_rows)

    def describe(self, db: str, table: str) -> tuple:
        database = self._database(db)
        if table.lower() not in database.desc:
            name = f"{db}.{table}"
            raise QueryError(f"Table '{name.lower() if self.mysql_semantics else name}' doesn't exist")
        return tuple(database.desc[table.lower()])

    def execute(self, db: str, query: str) -> tuple:
        return self._database(db).execute(query)

    def version(self) -> tuple:
        """Changes whenever a database file changes (part of the gold-rows cache key)."""
        return (self.mysql_semantics,) + tuple(sorted((p.name, p.stat().st_mtime_ns) for p in self.dbs_dir.glob("*.sqlite")))


# -- mysql ---------------------------------------------------------------------------------
_READ_ONLY_START = re.compile(r"^\s*\(*\s*(?:SELECT|WITH|SHOW|DESC|DESCRIBE|EXPLAIN)\b", re.IGNORECASE)
_SESSION_STATE = re.compile(r":=|\bINTO\s+(?:@|OUTFILE|DUMPFILE)", re.IGNORECASE)
# Words a MySQL/MariaDB statement can start with: anything else cannot run and gets the server's syntax error.
_STATEMENT_WORDS = set("""ALTER ANALYZE BACKUP BEGIN BINLOG CACHE CALL CHANGE CHECK CHECKSUM COMMIT CREATE DEALLOCATE
CLONE DECLARE DELETE DESC DESCRIBE DO DROP EXECUTE EXPLAIN FLUSH GET GRANT HANDLER HELP IMPORT INSERT INSTALL KILL LOAD LOCK
OPTIMIZE RESTART
PREPARE PURGE RELEASE RENAME REPAIR REPLACE RESET RESIGNAL REVOKE ROLLBACK SAVEPOINT SELECT SET SHOW SHUTDOWN SIGNAL
START STOP TABLE TRUNCATE UNINSTALL UNLOCK UPDATE USE VALUES WITH XA""".split()) | {""}
_INT_WIDTH = re.compile(r"^((?:tiny|small|medium|big)?int)\(\d+\)", re.IGNORECASE)


def _strip_strings(query: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`[^`]*`", "''", query)


def mysql_desc_row(row: tuple) -> tuple:
    """A MariaDB ``DESC`` row as MySQL 8 shows it (InterCode's server): no integer display width,
    ``CURRENT_TIMESTAMP`` defaults marked ``DEFAULT_GENERATED``."""
    field, kind, null, key, default, extra = row
    if default == "current_timestamp()":  # MariaDB's spelling of MySQL 8's generated default
        default, extra = "CURRENT_TIMESTAMP", extra or "DEFAULT_GENERATED"
    return (field, _INT_WIDTH.sub(r"\1", kind), null, key, default, extra)


@dataclass(frozen=True, kw_only=True)
class MysqlSettings:
    """How a :class:`MysqlBackend` connects: a unix socket, or a host and port."""

    user: str = _help("the (read-only) user")
    password: str = _help("the user's password", "")
    socket: str | None = _help("unix socket of the server; null: host and port", None)
    host: str = _help("server host (without a socket)", "127.0.0.1")
    port: int = _help("server port (without a socket)", 3306)
    sql_mode: str | None = _help("the session's sql_mode; null: the server's default", None)


class MysqlBackend:
    """A MySQL-compatible server. ``settings``: :class:`MysqlSettings`' fields (a mapping)."""

    name = "mysql"
    cache_gold = False  # see ipr.envs.sql.env.gold_rows

    def __init__(self, settings: Mapping[str, Any], databases: list[str] | None = None):
        self.settings = config_from(MysqlSettings, settings, "mysql connection settings")
        self._conn = None
        self._db: str | None = None
        self._databases = {d.lower() for d in databases} if databases is not None else None

    def _connect(self):
        import pymysql

        if self._conn is None:
            s = self.settings
            where = {"unix_socket": s.socket} if s.socket else {"host": s.host, "port": s.port}
            conn = pymysql.connect(**where, user=s.user, password=s.password, autocommit=True,
                                   connect_timeout=10, charset="utf8mb4")
            with conn.cursor() as cur:
                cur.execute(f"SET SESSION sql_select_limit = {ROW_LIMIT + 1}")
                try:  # MariaDB (seconds); MySQL's max_execution_time (ms) is the fallback
                    cur.execute(f"SET SESSION max_statement_time = {TIME_LIMIT_S}")
                except pymysql.MySQLError:
                    cur.execute(f"SET SESSION max_execution_time = {int(TIME_LIMIT_S * 1000)}")
                try:  # MariaDB only: the session's server-side memory
                    cur.execute(f"SET SESSION max_session_mem_used = {SERVER_MEMORY_LIMIT}")
                except pymysql.MySQLError:
                    pass
                if s.sql_mode is not None:
                    cur.execute("SET SESSION sql_mode = %s", (s.sql_mode,))
                cur.execute("SET SESSION TRANSACTION READ ONLY")
            self._conn, self._db = conn, None
        return self._conn

    def reset_session(self) -> None:
        """Drop the connection; the next query opens a fresh session (no state carries over)."""
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - a dead connection is already gone
                pass
        self._conn, self._db = None, None

    def databases(self) -> set[str]:
        if self._databases is None:
            rows = self._run(None, "SHOW DATABASES")
            hidden = {"information_schema", "mysql", "performance_schema", "sys"}
            self._databases = {r[0].lower() for r in rows} - hidden
        return self._databases

    def has_database(self, db: str) -> bool:
        return db.lower() in self.databases()

    def show_tables(self, db: str) -> tuple:
        return self._run(db, "SHOW TABLES")

    def describe(self, db: str, table: str) -> tuple:
        if not re.fullmatch(r"\w+", table):
            raise QueryError(f"Table '{db}.{table}' doesn't exist")
        return tuple(mysql_desc_row(row) for row in self._run(db, f"DESC `{table}`"))

    def execute(self, db: str, query: str) -> tuple:
        bare = _strip_strings(query)
        first = re.match(r"\s*\(*\s*(\w*)", bare).group(1).upper()
        if first not in _STATEMENT_WORDS and not _SESSION_STATE.search(bare):
            return self._run(db, query)  # no statement starts so: the server answers with its syntax error
        if not _READ_ONLY_START.match(bare) or _SESSION_STATE.search(bare):
            raise QueryError("read-only sandbox: only SELECT, WITH, SHOW, DESC and EXPLAIN statements run")
        return self._run(db, query)

    def _fetch(self, conn, query: str) -> list:
        """The rows of ``query``, read one at a time (unbuffered) with their bytes counted: a result over
        ``RESULT_BYTES_LIMIT`` bytes or ``ROW_LIMIT`` rows drops the connection instead of reading on."""
        import pymysql.cursors

        cur = conn.cursor(pymysql.cursors.SSCursor)
        cur.execute(query)
        if cur.description is None:
            cur.close()
            return []
        rows, size = [], 0
        while True:
            row = cur.fetchone()
            if row is None:
                break
            size += sum(value_bytes(value) for value in row)
            rows.append(row)
            if size > RESULT_BYTES_LIMIT or len(rows) > ROW_LIMIT:
                result = getattr(cur, "_result", None)
                if result is not None:  # PyMySQL would drain the rest at garbage collection; the socket closes instead
                    result.unbuffered_active = False
                self.reset_session()  # closing the socket skips the unread rest of the result
                raise memory_limit_error() if size > RESULT_BYTES_LIMIT else row_limit_error()
        cur.close()
        return rows

    def _run(self, db: str | None, query: str) -> tuple:
        import pymysql

        for attempt in (0, 1):
            conn = self._connect()
            try:
                if db is not None and db != self._db:
                    conn.select_db(db)
                    self._db = db
                rows = self._fetch(conn, query)
                break
            except pymysql.err.InterfaceError:
                self.reset_session()
                if attempt:
                    raise QueryError("lost the connection to the MySQL server") from None
            except pymysql.err.OperationalError as error:
                if error.args and error.args[0] in (2006, 2013) and not attempt:  # server gone: reconnect once
                    self.reset_session()
                    continue
                raise QueryError(_mysql_message(error)) from None
            except pymysql.MySQLError as error:
                raise QueryError(_mysql_message(error)) from None
        if len(rows) > ROW_LIMIT:
            raise row_limit_error()
        return tuple(tuple(row) for row in rows)

    def version(self) -> tuple:
        return (self.settings.socket, self.settings.host, self.settings.port)


def _mysql_message(error: Exception) -> str:
    """The server's message alone, as InterCode shows it (``err.msg`` of mysql-connector: no error number,
    no SQLSTATE), in MySQL 8's words where MariaDB's differ."""
    from ipr.envs.sql.mysql_compat import mysql_server_error

    args = getattr(error, "args", ())
    if len(args) >= 2:
        return mysql_server_error(str(args[1]))
    return str(error)
