"""MySQL semantics on SQLite: the functions, error texts and result types InterCode's MySQL 8 gives.

InterCode runs every query on MySQL 8 through mysql-connector; the sqlite backend runs the same
queries on the converted dump. Three things differ unless the backend translates them:

* **functions**: MySQL-only functions (``CONCAT``, ``YEAR``, ``IF``, ``DATE_FORMAT``, ``REGEXP`` ...)
  are unknown to SQLite; :func:`register_functions` adds them with MySQL's semantics;
* **error texts**: :func:`mysql_error` turns SQLite's message for the common error classes
  (unknown table or column, syntax error, ambiguous column, misused aggregate, unknown function)
  into MySQL's wording, so the agent reads what InterCode shows;
* **result types**: MySQL returns ``SUM`` of integers and ``AVG`` of integers or decimals as
  ``Decimal`` (``AVG`` with 4 more decimals), ``decimal(p,s)`` columns as ``Decimal`` with ``s``
  decimals and ``datetime``/``date`` columns as ``datetime``/``date`` objects; :class:`ResultTypes`
  reads the select list against the schema and converts SQLite's values the same way.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# -- functions -------------------------------------------------------------------------------


def _date(value):
    """A MySQL date/datetime argument as a datetime (None when it is not one)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(int(value))
        for fmt in ("%Y%m%d%H%M%S", "%Y%m%d"):
            try:
                return _dt.datetime.strptime(text, fmt)
            except ValueError:
                pass
        return None
    text = str(value).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%d"):
        try:
            return _dt.datetime.strptime(text, fmt)
        except ValueError:
            pass
    return None


def _part(attribute):
    def get(value):
        moment = _date(value)
        return None if moment is None else getattr(moment, attribute)
    return get


# MySQL DATE_FORMAT / STR_TO_DATE specifiers that differ from strftime's.
_MYSQL_FORMAT = {"%i": "%M", "%s": "%S", "%S": "%S", "%h": "%I", "%W": "%A", "%a": "%a", "%M": "%B",
                 "%b": "%b", "%c": "%-m", "%e": "%-d", "%k": "%-H", "%l": "%-I", "%r": "%I:%M:%S %p",
                 "%T": "%H:%M:%S", "%y": "%y", "%Y": "%Y", "%m": "%m", "%d": "%d", "%H": "%H",
                 "%p": "%p", "%j": "%j", "%f": "%f", "%%": "%%", "%D": "%-d"}


def _strftime_format(mysql_format: str) -> str:
    return re.sub(r"%.", lambda m: _MYSQL_FORMAT.get(m.group(), m.group()[1:]), mysql_format)


def _date_format(value, fmt):
    moment = _date(value)
    if moment is None or fmt is None:
        return None
    return moment.strftime(_strftime_format(str(fmt)))


def _str_to_date(text, fmt):
    if text is None or fmt is None:
        return None
    strptime_fmt = _strftime_format(str(fmt)).replace("%-", "%")
    try:
        moment = _dt.datetime.strptime(str(text), strptime_fmt)
    except ValueError:
        return None
    has_time = any(spec in str(fmt) for spec in ("%H", "%i", "%s", "%S", "%T", "%r", "%k", "%h", "%l"))
    return moment.strftime("%Y-%m-%d %H:%M:%S" if has_time else "%Y-%m-%d")


def _from_unixtime(seconds, fmt=None):
    if seconds is None:
        return None
    moment = _dt.datetime.fromtimestamp(float(seconds), _dt.timezone.utc).replace(tzinfo=None)
    if fmt is not None:
        return moment.strftime(_strftime_format(str(fmt)))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _concat(*args):
    return None if any(a is None for a in args) else "".join(_text(a) for a in args)


def _concat_ws(separator, *args):
    if separator is None:
        return None
    return _text(separator).join(_text(a) for a in args if a is not None)


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def _truthy(value) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        match = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value)
        return bool(match) and float(match.group()) != 0
    return value != 0


def _regexp(pattern, text):
    """SQLite calls ``regexp(pattern, text)`` for ``text REGEXP pattern``; MySQL matches case-insensitively
    on the utf8mb4_general_ci columns of the dump."""
    if pattern is None or text is None:
        return None
    try:
        return 1 if re.search(str(pattern), _text(text), re.IGNORECASE) else 0
    except re.error:
        return None


def _datediff(a, b):
    first, second = _date(a), _date(b)
    if first is None or second is None:
        return None
    return (first.date() - second.date()).days


def _substring_index(text, delimiter, count):
    if text is None or delimiter is None or count is None:
        return None
    text, delimiter, count = _text(text), _text(delimiter), int(count)
    if not delimiter or count == 0:
        return ""
    parts = text.split(delimiter)
    return delimiter.join(parts[:count]) if count > 0 else delimiter.join(parts[count:])


def _left(text, count):
    return None if text is None or count is None else _text(text)[:max(int(count), 0)]


def _right(text, count):
    if text is None or count is None:
        return None
    count = int(count)
    return _text(text)[-count:] if count > 0 else ""


def _pow(base, exponent):
    if base is None or exponent is None:
        return None
    try:
        return float(math.pow(float(base), float(exponent)))
    except (OverflowError, ValueError):
        return None


def _isnull(value):
    return 1 if value is None else 0


def _if(condition, then, otherwise):
    return then if _truthy(condition) else otherwise


def register_functions(conn, current_db) -> None:
    """MySQL-only functions on a SQLite connection (``current_db()`` names the session's database)."""
    now = lambda: _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    functions = {
        ("concat", -1): _concat,
        ("concat_ws", -1): _concat_ws,
        ("if", 3): _if,
        ("year", 1): _part("year"),
        ("month", 1): _part("month"),
        ("day", 1): _part("day"),
        ("dayofmonth", 1): _part("day"),
        ("hour", 1): _part("hour"),
        ("minute", 1): _part("minute"),
        ("second", 1): _part("second"),
        ("curdate", 0): lambda: _dt.date.today().isoformat(),
        ("current_date", 0): lambda: _dt.date.today().isoformat(),
        ("now", 0): now,
        ("date_format", 2): _date_format,
        ("str_to_date", 2): _str_to_date,
        ("from_unixtime", 1): _from_unixtime,
        ("from_unixtime", 2): _from_unixtime,
        ("datediff", 2): _datediff,
        ("regexp", 2): _regexp,
        ("substring_index", 3): _substring_index,
        ("left", 2): _left,
        ("right", 2): _right,
        ("pow", 2): _pow,
        ("power", 2): _pow,
        ("isnull", 1): _isnull,
        ("lcase", 1): lambda s: None if s is None else _text(s).lower(),
        ("ucase", 1): lambda s: None if s is None else _text(s).upper(),
        ("char_length", 1): lambda s: None if s is None else len(_text(s)),
        ("database", 0): lambda: current_db(),
        ("version", 0): lambda: "8.0.32",
    }
    for (name, arity), function in functions.items():
        conn.create_function(name, arity, function, deterministic=name not in ("now", "curdate", "current_date"))


_RLIKE = re.compile(r"\bRLIKE\b", re.IGNORECASE)


def rewrite_query(query: str) -> str:
    """MySQL operators SQLite does not parse, spelled as SQLite does (``RLIKE`` is ``REGEXP``)."""
    return _RLIKE.sub("REGEXP", query) if "rlike" in query.lower() else query


# -- error texts -------------------------------------------------------------------------------
SYNTAX = ("You have an error in your SQL syntax; check the manual that corresponds to your MySQL server "
          "version for the right syntax to use near '{near}' at line {line}")

_CLAUSES = [(re.compile(r"\bORDER\s+BY\b", re.I), "order clause"), (re.compile(r"\bGROUP\s+BY\b", re.I), "group statement"),
            (re.compile(r"\bHAVING\b", re.I), "having clause"), (re.compile(r"\bWHERE\b", re.I), "where clause"),
            (re.compile(r"\bON\b", re.I), "on clause"), (re.compile(r"\bSELECT\b", re.I), "field list"),
            (re.compile(r"\bFROM\b", re.I), "from clause")]


def _mask_strings(query: str) -> str:
    """The query with string literals blanked (same length), so keyword searches skip them."""
    return re.sub(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"", lambda m: " " * len(m.group()), query)


def _find_name(query: str, name: str) -> int:
    """Offset of ``name`` (maybe ``t.c``) as an identifier in ``query`` outside strings, else -1."""
    masked = _mask_strings(query)
    parts = [re.escape(p) for p in name.split(".")]
    pattern = r"\s*\.\s*".join(rf"`?{p}`?" for p in parts)
    match = re.search(rf"(?<![\w.`]){pattern}(?![\w`])", masked, re.IGNORECASE)
    return match.start() if match else -1


def _clause_at(query: str, offset: int) -> str:
    """The clause (as MySQL names it) in force at ``offset``: the last keyword before it at its depth."""
    masked = _mask_strings(query)[:offset]
    best, label = -1, "field list"
    for pattern, name in _CLAUSES:
        for match in pattern.finditer(masked):
            if match.start() > best:
                best, label = match.start(), name
    if label == "from clause":  # a FROM-clause name outside ON is a table, not a column: MySQL says field list
        label = "field list"
    return label


def _near(query: str, token: str) -> str:
    if token:
        match = re.search(rf"(?<![\w]){re.escape(token)}", _mask_strings(query), re.IGNORECASE) if token[0].isalnum() or token[0] == "_" \
            else None
        offset = match.start() if match else _mask_strings(query).find(token)
        if offset < 0:
            offset = query.find(token)
        rest = query[offset:] if offset >= 0 else token
    else:
        rest = ""
    line = query[:query.find(rest)].count("\n") + 1 if rest else query.count("\n") + 1
    return SYNTAX.format(near=rest[:80], line=line)


def mysql_error(message: str, query: str, db: str) -> str:
    """SQLite's error ``message`` for ``query`` on ``db`` in MySQL 8's words (unchanged when unknown)."""
    if match := re.fullmatch(r"no such table: (\S+)", message):
        name = match.group(1)
        qualified = name if "." in name else f"{db}.{name}"
        return f"Table '{qualified.lower()}' doesn't exist"
    if match := re.fullmatch(r"no such column: (.+)", message):
        name = match.group(1)
        offset = _find_name(query, name)
        return f"Unknown column '{name}' in '{_clause_at(query, offset) if offset >= 0 else 'field list'}'"
    if match := re.fullmatch(r"ambiguous column name: (.+)", message):
        name = match.group(1)
        offset = _find_name(query, name)
        return f"Column '{name}' in {_clause_at(query, offset) if offset >= 0 else 'field list'} is ambiguous"
    if match := re.fullmatch(r'near "(.*)": syntax error', message, re.DOTALL):
        return _near(query, match.group(1))
    if message in ("incomplete input", "unrecognized token: \"'\""):
        return SYNTAX.format(near="", line=query.count("\n") + 1)
    if match := re.fullmatch(r"unrecognized token: \"(.*)\"", message, re.DOTALL):
        return _near(query, match.group(1))
    if re.match(r"misuse of (?:aggregate|window) function|misuse of aggregate:", message):
        return "Invalid use of group function"
    if match := re.fullmatch(r"no such function: (\w+)", message):
        return f"FUNCTION {db}.{match.group(1)} does not exist"
    if match := re.fullmatch(r"wrong number of arguments to function (\w+)\(\)", message):
        return f"Incorrect parameter count in the call to native function '{match.group(1)}'"
    if re.fullmatch(r"(?:sub-select|row value) (?:returns \d+ columns - expected 1|misused)", message):
        return "Operand should contain 1 column(s)"
    if "do not have the same number of result columns" in message:
        return "The used SELECT statements have a different number of columns"
    if match := re.fullmatch(r"\d+\w\w ORDER BY term out of range - should be between 1 and \d+", message):
        return "Unknown column in 'order clause'"
    if match := re.fullmatch(r"\d+\w\w GROUP BY term out of range - should be between 1 and \d+", message):
        return "Unknown column in 'group statement'"
    return message


# MariaDB 10.11 names the clause of an unknown or ambiguous column by its keyword; MySQL 8 by these words.
_MARIADB_CLAUSES = {"SELECT": "field list", "WHERE": "where clause", "ON": "on clause", "ORDER BY": "order clause",
                    "GROUP BY": "group statement", "HAVING": "having clause"}


def mysql_server_error(message: str) -> str:
    """A MariaDB server message in MySQL 8's words (the syntax-error text names the server; the clause
    of an unknown or ambiguous column is named differently)."""
    message = message.replace("corresponds to your MariaDB server version", "corresponds to your MySQL server version")
    if match := re.fullmatch(r"(Unknown column '.*' in ')([A-Z ]+)(')", message, re.DOTALL):
        return match.group(1) + _MARIADB_CLAUSES.get(match.group(2), match.group(2)) + match.group(3)
    if match := re.fullmatch(r"(Column '.*' in )([A-Z ]+)( is ambiguous)", message, re.DOTALL):
        return match.group(1) + _MARIADB_CLAUSES.get(match.group(2), match.group(2)) + match.group(3)
    return message


# -- result types ------------------------------------------------------------------------------
_SELECT_LIST = re.compile(r"^\s*\(?\s*SELECT\s+(?:DISTINCT\s+|ALL\s+)?", re.IGNORECASE)
_AGG = re.compile(r"^(SUM|AVG|MAX|MIN|COUNT)\s*\(\s*(DISTINCT\s+)?(.*)\)$", re.IGNORECASE | re.DOTALL)
_COLUMN_REF = re.compile(r"^`?(\w+)`?(?:\s*\.\s*`?(\w+)`?)?$")
_ALIAS = re.compile(r"^(.*?)(?:\s+AS)?\s+(`[^`]+`|\"[^\"]+\"|'[^']+'|\w+)$", re.IGNORECASE | re.DOTALL)
_TABLE_REF = re.compile(r"(?:\bFROM|\bJOIN|,)\s+`?(\w+)`?(?:\s+(?:AS\s+)?(?!JOIN\b|WHERE\b|GROUP\b|ORDER\b|LIMIT\b|ON\b|"
                        r"INNER\b|LEFT\b|RIGHT\b|CROSS\b|NATURAL\b|HAVING\b|UNION\b|EXCEPT\b|INTERSECT\b|USING\b)(\w+))?", re.IGNORECASE)


def _split_top(text: str, sep: str = ",") -> list[str]:
    parts, depth, current, quote = [], 0, [], None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _top_level_keyword(text: str, keyword: str, start: int = 0) -> int:
    """Offset of the first ``keyword`` at parenthesis depth 0 outside strings, else -1."""
    masked = _mask_strings(text)
    depth = 0
    pattern = re.compile(rf"\b{keyword}\b", re.IGNORECASE)
    for i in range(start, len(masked)):
        ch = masked[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and pattern.match(masked, i) and (i == 0 or not (masked[i - 1].isalnum() or masked[i - 1] == "_")):
            return i
    return -1


class ResultTypes:
    """MySQL's result types for the select list of one query, read against a database's DESC rows."""

    def __init__(self, desc: dict[str, list]):
        # table -> [(column, mysql type)], names lower-case
        self.columns = {table.lower(): [(row[0], str(row[1]).lower()) for row in rows] for table, rows in desc.items()}

    def converters(self, query: str, n_columns: int):
        """One converter per result column (None: keep SQLite's value); None when the query is not understood."""
        head = _SELECT_LIST.match(query)
        if not head:
            return None
        start = head.end()
        end = _top_level_keyword(query, "FROM", start)
        if end < 0:  # SELECT without FROM: the select list runs to the end
            end = len(query.rstrip().rstrip(";"))
        tail = query[end:]
        for keyword in ("UNION", "EXCEPT", "INTERSECT"):
            if _top_level_keyword(tail, keyword) >= 0:
                return None
        tables = self._tables(tail)
        kinds: list[str | None] = []
        for item in _split_top(query[start:end]):
            item = item.strip()
            if item == "*":
                for table, _ in tables:
                    kinds.extend(kind for _, kind in self.columns.get(table, []))
                continue
            if match := re.fullmatch(r"`?(\w+)`?\s*\.\s*\*", item):
                table = self._resolve_table(match.group(1), tables)
                kinds.extend(kind for _, kind in self.columns.get(table, []))
                continue
            kinds.append(self._kind(self._strip_alias(item), tables))
        if len(kinds) != n_columns:
            return None
        return [_converter(kind) for kind in kinds]

    @staticmethod
    def _strip_alias(item: str) -> str:
        if _AGG.match(item) or _COLUMN_REF.match(item):
            return item
        match = _ALIAS.match(item)
        if match and (_AGG.match(match.group(1).strip()) or _COLUMN_REF.match(match.group(1).strip())):
            return match.group(1).strip()
        return item

    def _tables(self, tail: str) -> list[tuple[str, str]]:
        """(table, alias) of the outer FROM clause, in order (subquery tables excluded)."""
        depth_masked = []
        depth = 0
        for ch in _mask_strings(tail):
            if ch == "(":
                depth += 1
            depth_masked.append(ch if depth == 0 else " ")
            if ch == ")":
                depth -= 1
        flat = "".join(depth_masked)
        for keyword in ("WHERE", "GROUP", "ORDER", "HAVING", "LIMIT"):
            cut = re.search(rf"\b{keyword}\b", flat, re.IGNORECASE)
            if cut:
                flat = flat[:cut.start()]
        return [(m.group(1).lower(), (m.group(2) or m.group(1)).lower()) for m in _TABLE_REF.finditer(flat)
                if m.group(1).lower() in self.columns]

    @staticmethod
    def _resolve_table(name: str, tables: list[tuple[str, str]]) -> str | None:
        for table, alias in tables:
            if name.lower() in (alias, table):
                return table
        return None

    def _column_kind(self, expression: str, tables) -> str | None:
        match = _COLUMN_REF.match(expression.strip())
        if not match:
            return None
        qualifier, column = (match.group(1), match.group(2)) if match.group(2) else (None, match.group(1))
        candidates = [self._resolve_table(qualifier, tables)] if qualifier else [t for t, _ in tables]
        for table in candidates:
            for name, kind in self.columns.get(table, []):
                if name.lower() == column.lower():
                    return kind
        return None

    def _kind(self, expression: str, tables) -> str | None:
        if _MOMENT_FUNCTION.match(expression):
            return "moment"
        match = _AGG.match(expression)
        if not match:
            return self._column_kind(expression, tables)
        function, argument = match.group(1).upper(), match.group(3)
        if function == "COUNT":
            return None
        kind = self._column_kind(argument, tables)
        if kind is None:
            return None
        if function in ("MAX", "MIN"):
            return kind
        base = _base(kind)
        if function == "SUM":
            if base in _INTS:
                return "decimal(65,0)"
            return kind if base == "decimal" else None
        # AVG: integers and decimals give a decimal with 4 more digits (div_precision_increment)
        if base in _INTS:
            return "decimal(65,4)"
        if base == "decimal":
            return f"decimal(65,{_scale(kind) + 4})"
        if base in ("float", "double") and _scale(kind, None) is not None:
            return f"avgfloat({_scale(kind) + 4})"
        return None


_INTS = ("int", "integer", "tinyint", "smallint", "mediumint", "bigint")
# Functions whose MySQL result is a DATE or DATETIME (SQLite's stand-ins return text).
_MOMENT_FUNCTION = re.compile(r"^(?:STR_TO_DATE|CURDATE|CURRENT_DATE|NOW|FROM_UNIXTIME)\s*\((?:[^()]|\([^()]*\))*\)$",
                              re.IGNORECASE)


def _base(kind: str) -> str:
    return kind.split("(")[0].split()[0]


def _scale(kind: str, default=0):
    match = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", kind)
    return int(match.group(1)) if match else default


def _converter(kind: str | None):
    if kind is None:
        return None
    base = _base(kind)
    if base == "decimal":
        quantum = Decimal(1).scaleb(-_scale(kind))

        def to_decimal(value):
            if value is None or isinstance(value, (str, bytes)) and not _is_number(value):
                return value
            try:
                return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(quantum, ROUND_HALF_UP)
            except InvalidOperation:
                return value
        return to_decimal
    if base == "avgfloat":
        digits = _scale(f"x(0,{kind[len('avgfloat('):-1]})")
        return lambda value: round(value, digits) if isinstance(value, float) else value
    if base == "moment":
        return lambda value: _parse_moment(_parse_moment(value, "%Y-%m-%d %H:%M:%S", datetime=True), "%Y-%m-%d",
                                           datetime=False)
    if base in ("datetime", "timestamp"):
        return lambda value: _parse_moment(value, "%Y-%m-%d %H:%M:%S", datetime=True)
    if base == "date":
        return lambda value: _parse_moment(value, "%Y-%m-%d", datetime=False)
    return None


def _is_number(value) -> bool:
    try:
        Decimal(str(value))
        return True
    except InvalidOperation:
        return False


def _parse_moment(value, fmt: str, datetime: bool):
    if not isinstance(value, str):
        return value
    try:
        moment = _dt.datetime.strptime(value.strip(), fmt)
    except ValueError:
        return value
    return moment if datetime else moment.date()
