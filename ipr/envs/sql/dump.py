"""Convert InterCode's MySQL dump (``ic_spider_dbs.sql``) into one SQLite file per database.

Each database becomes ``<out_dir>/<db>.sqlite`` plus ``<out_dir>/<db>.mysql.json``, the MySQL view of its
schema (table names as ``SHOW TABLES`` lists them under ``lower_case_table_names=1``, and the rows
``DESC <table>`` gives on MySQL 8) for the SHOW TABLES / DESC shims of the sqlite backend.

Text columns (``char``, ``varchar``, ``text``) get ``COLLATE utf8mb4_general_ci``, a collation that
:class:`ipr.envs.sql.backends.SqliteBackend` registers (case and accents folded, trailing spaces
ignored, as MySQL compares them); other SQLite tools cannot query those columns without it. Keys, indexes, engines and charsets are dropped; rows are inserted in dump
order (the MySQL primary-key order). Bad input is one error naming the dump file, line and problem.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from ipr.envs.sql.backends import GENERAL_CI, general_ci
from ipr.records import InputError

_CREATE_DB = re.compile(r"^CREATE DATABASE\s+(?:IF NOT EXISTS\s+)?`([^`]+)`", re.IGNORECASE)
_USE = re.compile(r"^USE\s+`([^`]+)`\s*;", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^CREATE TABLE\s+`([^`]+)`\s*\(\s*$", re.IGNORECASE)
_INSERT = re.compile(r"^INSERT INTO\s+`([^`]+)`\s+VALUES\s*", re.IGNORECASE)
_COLUMN = re.compile(r"^`([^`]+)`\s+(\w+(?:\([^)]*\))?(?:\s+unsigned)?)(.*)$", re.IGNORECASE)
_DEFAULT = re.compile(r"\bDEFAULT\s+('(?:[^'\\]|\\.|'')*'|NULL|CURRENT_TIMESTAMP|-?[\d.]+)", re.IGNORECASE)
_PRIMARY = re.compile(r"^PRIMARY KEY\s*\(([^)]*)\)", re.IGNORECASE)
_UNIQUE = re.compile(r"^UNIQUE KEY\s+`[^`]*`\s*\(([^)]*)\)", re.IGNORECASE)
_KEY = re.compile(r"^KEY\s+`[^`]*`\s*\(([^)]*)\)", re.IGNORECASE)
_TEXT_TYPES = ("char", "varchar", "text", "tinytext", "mediumtext", "longtext")
_INT_TYPES = ("int", "integer", "tinyint", "smallint", "mediumint", "bigint")

_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^'\\]|\\.|'')*')|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<null>NULL)|(?P<p>[(),;]))""")
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


class DumpError(InputError):
    pass


def _unquote(literal: str) -> str:
    body = literal[1:-1].replace("''", "'")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body, flags=re.DOTALL)


def parse_values(text: str) -> list[tuple]:
    """The row tuples of an ``INSERT ... VALUES (..),(..);`` tail (MySQL literal syntax)."""
    rows, row, pos, depth = [], None, 0, 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip() == "":
                break
            raise DumpError(f"cannot parse a value at {text[pos:pos + 30]!r}")
        pos = match.end()
        if match.group("p") == "(":
            row, depth = [], depth + 1
        elif match.group("p") == ")":
            rows.append(tuple(row))
            depth -= 1
        elif match.group("p") in (",", ";"):
            continue
        elif match.group("str") is not None:
            row.append(_unquote(match.group("str")))
        elif match.group("num") is not None:
            num = match.group("num")
            row.append(int(num) if re.fullmatch(r"-?\d+", num) else float(num))
        else:
            row.append(None)
    if depth:
        raise DumpError("unbalanced parentheses in VALUES")
    return rows


def _names(column_list: str) -> list[str]:
    return re.findall(r"`([^`]+)`", column_list)


def _mysql8_type(declared: str) -> str:
    """The type as MySQL 8 shows it in DESC: integer display widths are gone."""
    declared = declared.lower()
    base = declared.split("(")[0]
    return base + (" unsigned" if "unsigned" in declared else "") if base in _INT_TYPES else declared


class _Table:
    def __init__(self, name: str):
        self.name = name
        self.columns: list[tuple[str, str, str]] = []  # (name, declared type, attribute text)
        self.primary: list[str] = []
        self.unique: list[str] = []
        self.keyed: list[str] = []

    def sqlite_ddl(self) -> str:
        parts = []
        for column, declared, _ in self.columns:
            collate = f" COLLATE {GENERAL_CI}" if declared.lower().split("(")[0] in _TEXT_TYPES else ""
            parts.append(f'"{column}" {declared}{collate}')
        return f'CREATE TABLE "{self.name}" ({", ".join(parts)})'

    def desc_rows(self) -> list[list]:
        rows = []
        for column, declared, attrs in self.columns:
            not_null = "NOT NULL" in attrs.upper() or column in self.primary
            key = "PRI" if column in self.primary else "UNI" if column in self.unique else "MUL" if column in self.keyed else ""
            default = None
            if match := _DEFAULT.search(attrs):
                value = match.group(1)
                default = None if value.upper() == "NULL" else _unquote(value) if value.startswith("'") else value
            extra = "auto_increment" if "AUTO_INCREMENT" in attrs.upper() else ""
            if default and default.upper() == "CURRENT_TIMESTAMP":
                extra = "DEFAULT_GENERATED"
            rows.append([column, _mysql8_type(declared), "NO" if not_null else "YES", key, default, extra])
        return rows


def convert_dump(dump_path: str | Path, out_dir: str | Path) -> list[str]:
    """Write ``<out_dir>/<db>.sqlite`` and ``<db>.mysql.json`` for every database of the dump; return the names."""
    dump_path, out_dir = Path(dump_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    databases: dict[str, dict[str, _Table]] = {}
    rows: dict[tuple[str, str], list[tuple]] = {}
    current: str | None = None
    table: _Table | None = None
    with open(dump_path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            try:
                if table is not None:
                    if line.startswith(")"):
                        databases[current][table.name.lower()] = table
                        table = None
                    elif match := _COLUMN.match(line):
                        table.columns.append((match.group(1), match.group(2), match.group(3)))
                    elif match := _PRIMARY.match(line):
                        table.primary = _names(match.group(1))
                    elif match := _UNIQUE.match(line):
                        names = _names(match.group(1))
                        (table.unique if len(names) == 1 else table.keyed).append(names[0])
                    elif match := _KEY.match(line):
                        table.keyed.append(_names(match.group(1))[0])
                    elif not line.upper().startswith("CONSTRAINT"):
                        raise DumpError(f"unexpected table definition line {line[:60]!r}")
                elif match := _CREATE_DB.match(line):
                    databases.setdefault(match.group(1).lower(), {})
                elif match := _USE.match(line):
                    current = match.group(1).lower()
                    if current not in databases:
                        raise DumpError(f"USE of database {current!r} before its CREATE DATABASE")
                elif match := _CREATE_TABLE.match(line):
                    if current is None:
                        raise DumpError("CREATE TABLE before any USE")
                    table = _Table(match.group(1))
                elif match := _INSERT.match(line):
                    key = (current, match.group(1).lower())
                    if key[1] not in databases.get(current, {}):
                        raise DumpError(f"INSERT INTO unknown table {match.group(1)!r}")
                    rows.setdefault(key, []).extend(parse_values(line[match.end():]))
            except DumpError as error:
                raise DumpError(f"{dump_path}:{number}: {error}") from None
    if not databases:
        raise DumpError(f"{dump_path}: no CREATE DATABASE statement found; is this InterCode's MySQL dump?")
    for name, tables in databases.items():
        path = out_dir / f"{name}.sqlite"
        partial = path.with_suffix(".sqlite.partial")
        partial.unlink(missing_ok=True)
        conn = sqlite3.connect(partial)
        conn.create_collation(GENERAL_CI, general_ci)
        with conn:
            for key, tab in tables.items():
                conn.execute(tab.sqlite_ddl())
                data = rows.get((name, key), [])
                if data:
                    marks = ", ".join("?" * len(tab.columns))
                    conn.executemany(f'INSERT INTO "{tab.name}" VALUES ({marks})', data)
        conn.close()
        partial.replace(path)
        schema = {"tables": sorted(tables), "desc": {key: tab.desc_rows() for key, tab in tables.items()}}
        meta = out_dir / f"{name}.mysql.json"
        tmp = meta.with_suffix(".json.partial")
        tmp.write_text(json.dumps(schema, indent=1) + "\n")
        tmp.replace(meta)
    return list(databases)
